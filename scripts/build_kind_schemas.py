"""Builds the JSON Schemas of the companion kinds (DESIGN 12) from tavus-api.md §11c (fields and
limits), §1d-1g (the older tables) and §11b (behaviours):

    schemas/tool.schema.json        tools/<key>.yaml          POST /v2/tools
    schemas/objectives.schema.json  objectives/<key>.yaml     POST /v2/objectives (one set)
    schemas/guardrail.schema.json   guardrails/<key>.yaml     POST /v2/guardrails (individual)
    schemas/dictionary.schema.json  dictionaries/<key>.yaml   POST /v2/pronunciation-dictionaries
    schemas/document.schema.json    documents/<key>.yaml      POST /v2/documents (by URL)

The JSON files are the contract and are committed; this script is how they are kept consistent
(every property has a description, patterned strings that may be set from the environment accept a
`${VAR}` reference). It follows scripts/build_schema.py (the PAL schema): both build from
scripts/schema_parts.py, and the annotation names are palsync.fieldspec's. Run it after editing:
    python scripts/build_kind_schemas.py
`--check` only compares: it exits 1, writing nothing, when a file is not what it would write.

The annotations are the PAL schema's vocabulary (ignored by JSON Schema tools):
`x-palsync-secret: true` on a secret string (with the standard `writeOnly`), `x-palsync-default`
on a member the server fills inside a value compared whole (a list item), `x-palsync-patch` at the
root (how the kind is updated: `json-patch` or `merge`, a plain partial JSON body), `readOnly` in
`$defs/read-only` (what the server writes; refused by name at the top), `x-unknown-keys` (open
world, as in the PAL schema). `x-palsync-ref` is not used: no field of these kinds is documented as
an id of another kind (see `TOOL_CALL`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from schema_parts import (  # noqa: E402
    OPEN_WORLD,
    TAG,
    UNKNOWN,
    VAR,
    anything,
    b,
    closed,
    enum,
    obj,
    open_obj,
    s,
    secret,
    write_or_check,
)

from palsync.fieldspec import READ_ONLY, READ_ONLY_DEFS  # noqa: E402

DEFAULT = "x-palsync-default"
PATCH = "x-palsync-patch"

INTERPOLATION = (
    " `${VAR}` / `${VAR:-default}` in strings are read from the environment at plan/apply time "
    "(strings only: a number or a boolean is written as itself)."
)
POINTER = {"type": "string", "pattern": "^(/[^/]*)+$"}


# ------------------------------------------------------------------------------------------------
# helpers (the PAL builder's, plus the few these kinds need)


def integer(desc: str, **kw: Any) -> dict[str, Any]:
    return {"type": "integer", "description": desc, **kw}


def strings(desc: str, item: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"type": "array", "description": desc, "items": item, **kw}


def ident(desc: str, pattern: str, example: str) -> dict[str, Any]:
    """An id of the API, or a `${VAR}` reference to one."""
    return {
        "type": "string",
        "description": desc,
        "pattern": f"^(?:{pattern}|{VAR})$",
        "examples": [example],
    }


def name(desc: str, pattern: str, example: str, **kw: Any) -> dict[str, Any]:
    """A name the API restricts to a pattern: written as itself (no `${VAR}`; other fields and
    other files refer to it)."""
    return {"type": "string", "description": desc, "pattern": pattern, "examples": [example], **kw}


def https_url(desc: str, example: str, **kw: Any) -> dict[str, Any]:
    return s(
        desc + " `https://` only (or a `${VAR}` reference holding such a URL).",
        pattern=f"^(?:https://\\S+|{VAR})$",
        examples=[example],
        **kw,
    )


def callback_url(desc: str) -> dict[str, Any]:
    return s(
        desc + " At most 2048 characters; empty means none.",
        maxLength=2048,
        pattern=f"^(?:https?://\\S+|{VAR})?$",
        examples=["https://hooks.example.com/tavus"],
    )


def server_default(value: Any) -> dict[str, Any]:
    """A member the server fills when it is left out, inside a value compared whole (a list
    item): the planner fills it on the desired side, so leaving it out is no diff."""
    return {"default": value, DEFAULT: value}


def read_only(desc: str) -> dict[str, Any]:
    return {READ_ONLY: True, "description": desc}


def settings(noun: str, id_pattern: str, id_example: str) -> dict[str, Any]:
    """`x-palsync`: the PAL schema's shape, with the pin named `id` (not `pal_id`)."""
    return closed(
        "pal-sync's own settings (never sent to the API; an unknown key here is an error).",
        {
            "id": ident(
                f"Pin this manifest to an existing live {noun} id (instead of lock or adoption).",
                id_pattern,
                id_example,
            ),
            "protected": b(f"Never delete this {noun} (even with --prune).", default=False),
            "ignore": strings(
                "JSON Pointers excluded from diffs (e.g. `/tags`).",
                {**POINTER, "description": "A JSON Pointer into this manifest's body."},
                uniqueItems=True,
            ),
            "accept_unknown": strings(
                "JSON Pointers of keys that look like typos of known ones but are meant as written "
                "(a field the server returned, written here by import): a warning, not an error.",
                {**POINTER, "description": "A JSON Pointer to a key of this manifest's body."},
                uniqueItems=True,
            ),
        },
    )


def manifest(
    *,
    file: str,
    title: str,
    description: str,
    patch: str,
    properties: dict[str, Any],
    required: list[str],
    noun: str,
    id_pattern: str,
    id_example: str,
    server_written: dict[str, Any],
    rules: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    read_only_names = sorted(server_written)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://pal-sync.dev/schemas/{file}",
        "title": title,
        "description": description
        + " pal-sync's own settings go under `x-palsync`."
        + INTERPOLATION
        + " Fields the server sets ("
        + ", ".join(read_only_names)
        + ") are refused."
        + OPEN_WORLD,
        "type": "object",
        PATCH: patch,
        "properties": {**properties, "x-palsync": settings(noun, id_pattern, id_example)},
        "required": required,
        "propertyNames": {
            "description": "Read-only fields, set by the server: never written in a manifest.",
            "not": {"enum": read_only_names},
        },
        UNKNOWN: "warn",
    }
    if rules:
        schema["allOf"] = rules
    schema["$defs"] = {
        READ_ONLY_DEFS: {
            "description": "What the server writes on its own: never compared, sent or imported; "
            "refused by name at the top level (`propertyNames`). Not used by this schema: "
            "pal-sync's field tables read it.",
            "properties": server_written,
        }
    }
    return schema


PATCH_JSON = "json-patch"
PATCH_MERGE = "merge"
MERGE_TEXT = (
    " Updated with a plain partial JSON body (`PATCH`): a field that changes is sent whole."
)
JSON_PATCH_TEXT = " Updated with RFC 6902 JSON Patch operations (`PATCH`)."

#: `tool_call` on objectives and guardrails (§11c): listed by name only; no Tavus source gives its
#: type, so it is not typed and not a reference (`x-palsync-ref`) until one does
TOOL_CALL = anything(
    "A tool call made when this triggers (tavus-api.md §11c lists the field without its shape: "
    "accepted as any value and sent as written)."
)


# ------------------------------------------------------------------------------------------------
# tools: POST /v2/tools, PATCH plain partial (fields replace)

TOOL_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
RESERVED_PARAMETER = "^tavus_"
PLACEHOLDERS = (
    " `{name}` placeholders are filled from the call's arguments and must name parameters "
    "declared in `parameters` (`${VAR}` is pal-sync's, read from the environment before sending)."
)

parameters = open_obj(
    "The arguments the tool takes, as a JSON Schema of an object (the OpenAI function-calling "
    "shape: `type: object`, `properties`, `required`). Parameter names starting `tavus_` are "
    "reserved. `description` and `parameters` together, serialized, are at most 10,000 "
    "characters.",
    {
        "type": {"const": "object", "description": "Always `object`."},
        "properties": {
            "type": "object",
            "description": "One JSON Schema per parameter, by name. Names starting `tavus_` are "
            "reserved by Tavus.",
            "propertyNames": {
                "description": "A parameter name; `tavus_...` is reserved.",
                "not": {"pattern": RESERVED_PARAMETER},
            },
            "additionalProperties": {
                "type": "object",
                "description": "The JSON Schema of one parameter (`type`, `description`, "
                "`enum`...).",
            },
        },
        "required": strings(
            "The parameters the model must always supply.",
            {"type": "string", "description": "A parameter name."},
            uniqueItems=True,
        ),
    },
)

AUTH_TYPES = ["none", "bearer", "basic", "api_key", "hmac", "oauth2_client_credentials"]
#: the members each `auth.type` needs (tavus-api.md §11c; docs "Tool Authentication")
AUTH_FIELDS = {
    "bearer": ["token"],
    "basic": ["username", "password"],
    "api_key": ["name", "value"],
    "hmac": ["secret"],
    "oauth2_client_credentials": ["token_url", "client_id", "client_secret"],
}
auth = obj(
    "How Tavus authenticates to `url`: `type` and that type's members. Secret members come back "
    "from the API as `********` and are never compared; leaving one out of an update keeps it.",
    {
        "type": enum(
            "`none` (public API), `bearer` (`token`), `basic` (`username`, `password`), `api_key` "
            "(`name`, `value`, `location`), `hmac` (`secret`: Tavus signs the request), "
            "`oauth2_client_credentials` (`token_url`, `client_id`, `client_secret`, `scope`).",
            AUTH_TYPES,
        ),
        "token": secret("`bearer`: sent as `Authorization: Bearer <token>`."),
        "username": s("`basic`: the user name."),
        "password": secret("`basic`: the password."),
        "name": s("`api_key`: the header or query parameter name (e.g. `X-API-Key`)."),
        "value": secret("`api_key`: the key."),
        "location": enum(
            "`api_key`: where the key goes.", ["header", "query"], **server_default("header")
        ),
        "secret": secret("`hmac`: the shared secret the request signature is made with."),
        "token_url": https_url(
            "`oauth2_client_credentials`: the token endpoint.", "https://auth.example.com/token"
        ),
        "client_id": s("`oauth2_client_credentials`: the client id."),
        "client_secret": secret("`oauth2_client_credentials`: the client secret."),
        "scope": s("`oauth2_client_credentials`: the scope requested (space-separated)."),
    },
    required=["type"],
    allOf=[
        {
            "description": f"`type: {kind}` needs {', '.join(f'`{m}`' for m in members)}.",
            "if": {"required": ["type"], "properties": {"type": {"const": kind}}},
            "then": {"required": members},
        }
        for kind, members in AUTH_FIELDS.items()
    ],
)

NO_BODY = ["GET", "HEAD", "DELETE"]
api = obj(
    "Tavus calls this HTTPS endpoint itself when the tool is called.",
    {
        "url": https_url(
            "The endpoint." + PLACEHOLDERS, "https://api.example.com/orders/{order_id}"
        ),
        "method": enum(
            "HTTP method.", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"], examples=["POST"]
        ),
        "timeout": {
            "type": "number",
            "description": "Seconds Tavus waits for the response: more than 0, at most 60.",
            "exclusiveMinimum": 0,
            "maximum": 60,
            **server_default(10),
        },
        "headers": {
            "type": "object",
            "description": "Request headers (not secret: compared and shown in plans; put "
            "credentials in `auth`)." + PLACEHOLDERS,
            "additionalProperties": {"type": "string", "description": "A header value."},
        },
        "auth": auth,
        "body_template": anything(
            "The request body, as a template (not with GET, HEAD or DELETE)."
            + PLACEHOLDERS
            + " Its shape (text or JSON) is not fixed by the API facts: sent as written.",
        ),
        "query_params": {
            "type": "object",
            "description": "Query parameters added to `url`." + PLACEHOLDERS,
            "additionalProperties": {"type": "string", "description": "A query parameter value."},
        },
        "content_type": s("Content type of the body.", examples=["application/json"]),
    },
    required=["url"],
    allOf=[
        {
            "description": "GET, HEAD and DELETE requests take no `body_template`.",
            "if": {"required": ["method"], "properties": {"method": {"enum": NO_BODY}}},
            "then": {"not": {"required": ["body_template"]}},
        }
    ],
)

delivery = obj(
    "How a call reaches its handler: exactly one channel, `app_message: true` (the default: a "
    "`conversation.tool_call` event your app answers) or `api` (Tavus calls an HTTPS endpoint; "
    "`app_message` then absent or false).",
    {
        "app_message": b(
            "Deliver calls as `conversation.tool_call` app messages (true), or through `api`."
        ),
        "api": api,
    },
    default={"app_message": True},
    **{
        "if": {"required": ["api"]},
        "then": {
            "description": "With `api`, `app_message` is absent or false.",
            "properties": {"app_message": {"const": False}},
        },
        "else": {
            "description": "Without `api`, `app_message: true` is the channel.",
            "required": ["app_message"],
            "properties": {"app_message": {"const": True}},
        },
    },
)

TOOL = manifest(
    file="tool.schema.json",
    title="Tavus tool manifest (pal-sync)",
    description="One registry tool per file (tools/<key>.yaml; the file stem is the key), in the "
    "API's own field names (`/v2/tools`). PALs attach it as `tools/<key>` in `tool_ids`."
    + MERGE_TEXT,
    patch=PATCH_MERGE,
    noun="tool",
    id_pattern="t[0-9a-f]{4,16}",
    id_example="t457be0aac29c",
    properties={
        "name": name(
            "The function name the model calls: a letter or `_`, then letters, digits or `_`, at "
            "most 64 characters; unique in the account.",
            TOOL_NAME,
            "lookup_order",
            maxLength=64,
        ),
        "description": s(
            "What the tool does and when to call it (the model reads it). `description` and "
            "`parameters` together, serialized, are at most 10,000 characters.",
            minLength=1,
            maxLength=10000,
        ),
        "parameters": parameters,
        "delivery": delivery,
        "trigger_type": enum(
            "`in_call` (during the conversation) or `post_call` (after it ends: no `origin`, "
            "needs `delivery.api`).",
            ["in_call", "post_call"],
            default="in_call",
        ),
        "origin": enum(
            "Who calls it: the conversational LLM (`llm`), or Raven perception (`vision`, "
            "`audio`: needs raven-1; no `on_call`).",
            ["llm", "vision", "audio"],
            default="llm",
        ),
        "on_call": enum(
            "What the PAL says while the call runs: a generated filler, `static_filler`, nothing "
            "(`silent`), or `passthrough`. Not with `origin` vision or audio.",
            ["generate_filler", "static_filler", "silent", "passthrough"],
            default="generate_filler",
        ),
        "on_resolve": enum(
            "What happens with the result: the PAL answers from it (`generate_response`), it is "
            "the answer (`response_in_result`), it is added to the context (`add_to_context`), "
            "or it is not waited for (`fire_and_forget`).",
            ["generate_response", "response_in_result", "add_to_context", "fire_and_forget"],
            default="fire_and_forget",
        ),
        "static_filler": s("What the PAL says while the call runs, with `on_call: static_filler`."),
        "tags": strings(
            "Tags to organise tools.",
            {"type": "string", "minLength": 1, "description": "A tag."},
            uniqueItems=True,
        ),
    },
    required=["name", "description"],
    server_written={
        "tool_id": read_only(
            "The tool's id (`t` + hex; pin a manifest to it with `x-palsync.id`)."
        ),
        "owner_id": read_only("The owning account (an integer)."),
        "is_system_tool": read_only("True for Tavus's own tools (e.g. `end_call`)."),
        "created_at": read_only("When the tool was created."),
        "updated_at": read_only("When the tool was last changed."),
    },
    rules=[
        {
            "description": "A `post_call` tool has no `origin` and is delivered through "
            "`delivery.api`.",
            "if": {
                "required": ["trigger_type"],
                "properties": {"trigger_type": {"const": "post_call"}},
            },
            "then": {
                "not": {"required": ["origin"]},
                "required": ["delivery"],
                "properties": {"delivery": {"required": ["api"]}},
            },
        },
        {
            "description": "A perception tool (`origin` vision or audio) has no `on_call`.",
            "if": {
                "required": ["origin"],
                "properties": {"origin": {"enum": ["vision", "audio"]}},
            },
            "then": {"not": {"required": ["on_call"]}},
        },
    ],
)


# ------------------------------------------------------------------------------------------------
# objectives: POST /v2/objectives (one set), PATCH JSON Patch

OBJECTIVE_NAME = r"^[A-Za-z0-9_]+$"
objective_name = name(
    "The objective's name: letters, digits and `_` (no spaces), at most 100 characters; unique "
    "in the set.",
    OBJECTIVE_NAME,
    "collect_email",
    maxLength=100,
)
objective = obj(
    "One objective of the set. Next steps: `next_required_objective` or "
    "`next_conditional_objectives`, never both; never the objective itself; every name must be "
    "an objective of this set.",
    {
        "objective_name": objective_name,
        "objective_prompt": s(
            "What the PAL must achieve, in words; at most 10,000 characters.",
            minLength=1,
            maxLength=10000,
        ),
        "confirmation_mode": enum(
            "`auto`: the PAL decides the objective is done; `manual`: it is confirmed.",
            ["auto", "manual"],
            **server_default("auto"),
        ),
        "output_variables": strings(
            "Values the PAL collects while pursuing the objective; at most 50.",
            {"type": "string", "minLength": 1, "description": "A variable name."},
            maxItems=50,
        ),
        "modality": enum(
            "How completion is judged: from what is said (`verbal`), seen (`visual`) or heard "
            "(`audio`).",
            ["verbal", "visual", "audio"],
            **server_default("verbal"),
        ),
        "next_required_objective": {
            **objective_name,
            "description": "The objective that always comes next (an `objective_name` of this "
            "set, not this one). Not with `next_conditional_objectives`.",
        },
        "next_conditional_objectives": {
            "type": "object",
            "description": "The objectives that may come next, each with the condition (in "
            "words) that selects it: `{objective_name: condition}`. Not with "
            "`next_required_objective`.",
            "propertyNames": {
                "description": "An `objective_name` of this set.",
                "pattern": OBJECTIVE_NAME,
                "maxLength": 100,
            },
            "additionalProperties": {
                "type": "string",
                "minLength": 1,
                "description": "When to go to that objective.",
            },
        },
        "next_required_objectives": strings(
            "Older docs' list form of `next_required_objective` (tavus-api.md §1d); write "
            "`next_required_objective`.",
            {**objective_name, "description": "An `objective_name` of this set."},
            deprecated=True,
        ),
        "callback_url": callback_url("Called when the objective is completed."),
        "tool_call": TOOL_CALL,
    },
    required=["objective_name", "objective_prompt"],
    **{
        "not": {
            "description": "`next_required_objective` and `next_conditional_objectives` are "
            "never both set (an empty mapping counts as not set).",
            "required": ["next_conditional_objectives"],
            "properties": {"next_conditional_objectives": {"minProperties": 1}},
            "anyOf": [
                {"required": ["next_required_objective"]},
                {"required": ["next_required_objectives"]},
            ],
        }
    },
)

OBJECTIVES = manifest(
    file="objectives.schema.json",
    title="Tavus objectives manifest (pal-sync)",
    description="One objectives set per file (objectives/<key>.yaml; the file stem is the key), in "
    "the API's own field names (`/v2/objectives`): a name, its objectives (`data`) and whether "
    "they may loop. A PAL takes one set, as `objectives_id: objectives/<key>`." + JSON_PATCH_TEXT,
    patch=PATCH_JSON,
    noun="objectives set",
    id_pattern="o[0-9a-f]{4,16}",
    id_example="o12345",
    properties={
        "name": s("The set's name; at most 100 characters.", minLength=1, maxLength=100),
        "data": {
            "type": "array",
            "description": "The objectives, 1 to 50. Compared as one list: members the server "
            "fills in (`confirmation_mode: auto`, `modality: verbal`) are no diff when left out.",
            "items": objective,
            "minItems": 1,
            "maxItems": 50,
        },
        "allow_loops": b("Whether the objectives may form a loop (an objective reached again)."),
    },
    required=["data"],
    server_written={
        "objectives_id": read_only(
            "The set's id (`o...`; pin a manifest to it with `x-palsync.id`)."
        ),
        "uuid": read_only("The set's id under another name."),
        "status": read_only("`active`."),
        "created_at": read_only("When the set was created."),
        "updated_at": read_only("When the set was last changed."),
    },
)


# ------------------------------------------------------------------------------------------------
# guardrails: POST /v2/guardrails (one individual guardrail), PATCH JSON Patch

GUARDRAIL = manifest(
    file="guardrail.schema.json",
    title="Tavus guardrail manifest (pal-sync)",
    description="One individual guardrail per file (guardrails/<key>.yaml; the file stem is the "
    "key), in the API's own field names (`/v2/guardrails`). PALs attach it as "
    "`guardrails/<key>` in `guardrail_ids`, or by one of its `tags` in `guardrail_tags`. "
    "Legacy guardrail sets are not a manifest kind." + JSON_PATCH_TEXT,
    patch=PATCH_JSON,
    noun="guardrail",
    id_pattern="g[0-9a-f]{4,16}",
    id_example="g1234567890ab",
    properties={
        "guardrail_name": name(
            "The guardrail's name: letters, digits and `_`, at most 100 characters.",
            r"^[A-Za-z0-9_]+$",
            "no_medical_advice",
            maxLength=100,
        ),
        "guardrail_prompt": s(
            "The rule the PAL must keep, in words; at most 1000 characters.",
            minLength=1,
            maxLength=1000,
        ),
        "modality": enum(
            "How a breach is detected: from what is said (`verbal`), seen (`visual`) or heard "
            "(`audio`).",
            ["verbal", "visual", "audio"],
            default="verbal",
        ),
        "callback_url": callback_url("Called when the guardrail is triggered."),
        "tool_call": TOOL_CALL,
        "app_message": b(
            "Send an app message to the conversation when the guardrail is triggered.",
            default=True,
        ),
        "tags": strings(
            "Tags (at most 32; letters, digits, `_`, `-` and spaces, at most 64 characters "
            "each). A PAL's `guardrail_tags` attaches every guardrail carrying one of them.",
            {**TAG, "pattern": r"^[A-Za-z0-9_\- ]+$", "examples": ["compliance"]},
            maxItems=32,
            uniqueItems=True,
        ),
    },
    required=["guardrail_name", "guardrail_prompt"],
    server_written={
        "uuid": read_only("The guardrail's id (`g...`; pin a manifest to it with `x-palsync.id`)."),
        "guardrail_id": read_only("The guardrail's id under another name."),
        "created_at": read_only("When the guardrail was created."),
        "updated_at": read_only("When the guardrail was last changed."),
    },
)


# ------------------------------------------------------------------------------------------------
# pronunciation dictionaries: POST /v2/pronunciation-dictionaries, PATCH plain partial

rule = obj(
    "One rule: the `text` to match and how to say it.",
    {
        "text": s(
            "The word or phrase to match; 1 to 200 characters, unique in the dictionary.",
            minLength=1,
            maxLength=200,
        ),
        "pronunciation": s(
            "How to say it: a spoken replacement (`alias`) or IPA notation (`ipa`); 1 to 500 "
            "characters.",
            minLength=1,
            maxLength=500,
        ),
        "type": enum(
            "`alias` replaces the text with `pronunciation`; `ipa` reads `pronunciation` as IPA.",
            ["alias", "ipa"],
        ),
        "alphabet": enum("The phonetic alphabet of an `ipa` rule.", ["ipa"]),
        "case_sensitive": b("Match the text's case exactly.", **server_default(False)),
        "word_boundaries": b("Match whole words only.", **server_default(True)),
    },
    required=["text", "pronunciation", "type"],
)

DICTIONARY = manifest(
    file="dictionary.schema.json",
    title="Tavus pronunciation dictionary manifest (pal-sync)",
    description="One pronunciation dictionary per file (dictionaries/<key>.yaml; the file stem is "
    "the key), in the API's own field names (`/v2/pronunciation-dictionaries`). A PAL takes one, "
    "as `layers.tts.pronunciation_dictionary_id: dictionaries/<key>`; Tavus syncs its rules to "
    "the TTS provider." + MERGE_TEXT,
    patch=PATCH_MERGE,
    noun="pronunciation dictionary",
    id_pattern="pd_[0-9A-Za-z]+",
    id_example="pd_abc123def456",
    properties={
        "name": s("The dictionary's name; 1 to 255 characters.", minLength=1, maxLength=255),
        "rules": {
            "type": "array",
            "description": "The rules, at most 10,000; each `text` once. Compared as one list: "
            "members the server fills in (`case_sensitive: false`, `word_boundaries: true`) are "
            "no diff when left out.",
            "items": rule,
            "maxItems": 10000,
        },
    },
    required=["name"],
    server_written={
        "pronunciation_dictionary_id": read_only(
            "The dictionary's id (`pd_...`; pin a manifest to it with `x-palsync.id`)."
        ),
        "dictionary_id": read_only("The dictionary's id under another name."),
        "created_at": read_only("When the dictionary was created."),
        "updated_at": read_only("When the dictionary was last changed."),
    },
)


# ------------------------------------------------------------------------------------------------
# documents: POST /v2/documents by URL, PATCH plain partial (`document_name`, `tags` only)

CREATE_ONLY = (
    " Set on create only: the API's update takes `document_name` and `tags`, so a change here "
    "cannot be patched."
)
DOCUMENT = manifest(
    file="document.schema.json",
    title="Tavus knowledge-base document manifest (pal-sync)",
    description="One knowledge-base document per file (documents/<key>.yaml; the file stem is the "
    "key), added by URL, in the API's own field names (`/v2/documents`). PALs attach it as "
    "`documents/<key>` in `document_ids`, or by one of its `tags` in `document_tags`. Tavus "
    "processes it asynchronously (minutes); pdf, txt, docx, doc, png, jpg, pptx, csv, xlsx or a "
    "website, at most 50 MB, English only." + MERGE_TEXT,
    patch=PATCH_MERGE,
    noun="document",
    id_pattern="[0-9A-Za-z][0-9A-Za-z-]{3,63}",
    id_example="d8-5c71baca86fc",
    properties={
        "document_name": s("The document's display name."),
        "document_url": https_url(
            "Where Tavus fetches the document (a file, or a website to crawl)." + CREATE_ONLY,
            "https://example.com/faq.pdf",
        ),
        "callback_url": callback_url("Called when processing ends (ready or error)." + CREATE_ONLY),
        "tags": strings(
            "Tags; a PAL's `document_tags` attaches every document carrying one of them. An "
            "update replaces the whole list.",
            TAG,
            uniqueItems=True,
        ),
        "crawl": obj(
            "Crawl a website from `document_url`: how deep to follow links and how many pages "
            "to take (at most 100 crawled documents per account, 5 crawls at once, 1 hour "
            "between recrawls)." + CREATE_ONLY,
            {
                "depth": integer("How many links deep to follow from `document_url`.", minimum=1),
                "max_pages": integer("The most pages to take.", minimum=1),
            },
        ),
    },
    required=["document_url"],
    server_written={
        "document_id": read_only("The document's id (pin a manifest to it with `x-palsync.id`)."),
        "uuid": read_only("The document's id in older responses."),
        "status": read_only("started, processing, ready, error or recrawling."),
        "progress": read_only("Processing progress."),
        "error_message": read_only("Why processing failed."),
        "crawl_config": read_only("The crawl settings as the server records them (`crawl`)."),
        "crawled_urls": read_only("The pages a crawl took."),
        "last_crawled_at": read_only("When the website was last crawled."),
        "crawl_count": read_only("How many times the website was crawled."),
        "created_at": read_only("When the document was created."),
        "updated_at": read_only("When the document was last changed."),
    },
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "tool.schema.json": TOOL,
    "objectives.schema.json": OBJECTIVES,
    "guardrail.schema.json": GUARDRAIL,
    "dictionary.schema.json": DICTIONARY,
    "document.schema.json": DOCUMENT,
}


def outputs() -> dict[Path, str]:
    """file -> its text."""
    return {
        ROOT / "schemas" / file: json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        for file, schema in SCHEMAS.items()
    }


def main() -> int:
    """Write the schemas; with `--check`, only compare them with the files (exit 1 if one
    differs)."""
    return write_or_check(
        outputs(), ROOT, "scripts/build_kind_schemas.py", "`python scripts/build_kind_schemas.py`"
    )


if __name__ == "__main__":
    sys.exit(main())
