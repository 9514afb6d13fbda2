"""The companion kinds' schemas (DESIGN 12, tavus-api.md §11c): valid 2020-12, documented, in the
PAL schema's conventions, a realistic manifest of each kind accepted and each broken one refused
for its own reason, and the committed files current with scripts/build_kind_schemas.py."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest

from palsync.kinds import PatchStyle
from palsync.schema import load_schema, schema_path

ROOT = Path(__file__).resolve().parent.parent

#: schema file -> (the kind's directory, its patch style in tavus-api.md §11c)
FILES = {
    "tool.schema.json": ("tools", "merge"),
    "objectives.schema.json": ("objectives", "json-patch"),
    "guardrail.schema.json": ("guardrails", "json-patch"),
    "dictionary.schema.json": ("dictionaries", "merge"),
    "document.schema.json": ("documents", "merge"),
}


def schema(file: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_path(file).read_text(encoding="utf-8"))
    return loaded


def subschemas(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object below `node` (not `node` itself), with its JSON path."""
    if not isinstance(node, dict):
        return
    for keyword in ("properties", "$defs"):
        for key, sub in node.get(keyword, {}).items():
            yield f"{path}/{keyword}/{key}", sub
            yield from subschemas(sub, f"{path}/{keyword}/{key}")
    for keyword in ("items", "additionalProperties", "not", "if", "then", "else", "propertyNames"):
        sub = node.get(keyword)
        if isinstance(sub, dict):
            yield f"{path}/{keyword}", sub
            yield from subschemas(sub, f"{path}/{keyword}")
    for keyword in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(node.get(keyword, [])):
            yield f"{path}/{keyword}/{i}", sub
            yield from subschemas(sub, f"{path}/{keyword}/{i}")


def fields(node: dict[str, Any], pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(JSON Pointer of the field in a manifest, `*` for list items, its schema) for every
    field a manifest can hold, the list items' members included."""
    for key, sub in node.get("properties", {}).items():
        yield f"{pointer}/{key}", sub
        yield from fields(sub, f"{pointer}/{key}")
        items = sub.get("items")
        if isinstance(items, dict):
            yield from fields(items, f"{pointer}/{key}/*")


# ------------------------------------------------------------------------------------------------
# the schemas as schemas


@pytest.mark.parametrize("file", FILES)
def test_each_schema_is_a_valid_2020_12_schema_in_the_pal_schemas_conventions(file: str) -> None:
    s, pal = schema(file), load_schema()
    jsonschema.Draft202012Validator.check_schema(s)
    assert s["$schema"] == pal["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["$id"] == pal["$id"].replace("pal.schema.json", file)
    assert s["type"] == "object" and s["title"].endswith("(pal-sync)")
    assert s["x-unknown-keys"] == pal["x-unknown-keys"] == "warn", "open world, as for PALs"


@pytest.mark.parametrize("file", FILES)
def test_every_property_and_item_has_a_description(file: str) -> None:
    s = schema(file)
    missing = [
        path
        for path, sub in subschemas(s)
        if re.search(r"/(properties/[^/]+|items|additionalProperties|propertyNames)$", path)
        and not re.search(r"/(not|if|then|else|allOf/\d+)(/|$)", path)  # rules, not fields
        and not sub.get("description")
    ]
    assert missing == []
    assert s["description"]


@pytest.mark.parametrize("file", FILES)
def test_x_palsync_is_the_pal_schemas_settings_with_an_id_pin(file: str) -> None:
    pal = load_schema()["properties"]["x-palsync"]
    mine = schema(file)["properties"]["x-palsync"]
    assert mine["additionalProperties"] is False
    assert set(mine["properties"]) == set(pal["properties"]) - {"pal_id"} | {"id"}
    for key in ("protected", "ignore", "accept_unknown"):
        theirs, ours = pal["properties"][key], mine["properties"][key]
        assert {k: v for k, v in ours.items() if k not in ("description", "items")} == {
            k: v for k, v in theirs.items() if k != "description" and k != "items"
        }
        if "items" in theirs:
            assert ours["items"]["pattern"] == theirs["items"]["pattern"]


def var_pattern(pattern: str) -> str:
    """The `${VAR}` alternative of an `^(?:...|VAR)$` pattern."""
    return pattern[pattern.index(r"|\$\{") + 1 : pattern.rindex(")")]


@pytest.mark.parametrize("file", FILES)
def test_the_id_pin_accepts_a_var_reference_as_the_pal_schemas_pin_does(file: str) -> None:
    pal_pin = load_schema()["properties"]["x-palsync"]["properties"]["pal_id"]["pattern"]
    pin = schema(file)["properties"]["x-palsync"]["properties"]["id"]
    assert var_pattern(pin["pattern"]) == var_pattern(pal_pin)
    assert re.match(pin["pattern"], pin["examples"][0])
    assert re.match(pin["pattern"], "${PIN_ID}") and re.match(pin["pattern"], "${PIN_ID:-x}")
    assert not re.match(pin["pattern"], "pcb7a34da5fe") or file == "document.schema.json"


@pytest.mark.parametrize("file", FILES)
def test_each_root_records_its_kinds_patch_style(file: str) -> None:
    assert schema(file)["x-palsync-patch"] == FILES[file][1]
    assert FILES[file][1] in get_args(PatchStyle), "a value the table of kinds knows"


@pytest.mark.parametrize("file", FILES)
def test_read_only_fields_are_listed_once_and_refused_by_name(file: str) -> None:
    s = schema(file)
    listed = s["$defs"]["read-only"]["properties"]
    assert listed and all(sub == {**sub, "readOnly": True} for sub in listed.values())
    assert sorted(listed) == s["propertyNames"]["not"]["enum"]
    assert not set(listed) & set(s["properties"]), "a read-only field is no property"
    elsewhere = [p for p, sub in subschemas(s) if sub.get("readOnly") and "/read-only/" not in p]
    assert elsewhere == []


def annotated(annotation: str) -> dict[str, dict[str, Any]]:
    """pointer (`tool:/delivery/api/auth/token`) -> the annotation's value, over every kind."""
    return {
        f"{file.split('.')[0]}:{pointer}": sub[annotation]
        for file in FILES
        for pointer, sub in fields(schema(file))
        if annotation in sub
    }


def test_the_secret_fields_are_the_tool_auth_credentials() -> None:
    auth = "tool:/delivery/api/auth/"
    assert annotated("x-palsync-secret") == {
        auth + key: True for key in ("token", "password", "value", "secret", "client_secret")
    }
    tool = schema("tool.schema.json")
    for pointer, sub in fields(tool):
        if sub.get("x-palsync-secret"):
            assert sub["writeOnly"] is True and sub["type"] == "string", pointer
            assert "must be a `${VAR}` reference" in sub["description"], pointer


def test_server_filled_members_carry_the_value_the_planner_fills() -> None:
    assert annotated("x-palsync-default") == {
        "objectives:/data/*/confirmation_mode": "auto",
        "objectives:/data/*/modality": "verbal",
        "dictionary:/rules/*/case_sensitive": False,
        "dictionary:/rules/*/word_boundaries": True,
        "tool:/delivery/api/timeout": 10,
        "tool:/delivery/api/auth/location": "header",
    }
    for file in FILES:
        for pointer, sub in fields(schema(file)):
            if "x-palsync-default" in sub:
                assert sub["default"] == sub["x-palsync-default"], pointer
                jsonschema.validate(sub["x-palsync-default"], sub)


def test_no_field_claims_to_reference_another_kind_without_a_fact_for_it() -> None:
    # `tool_call` (objectives, guardrails) has no documented shape: not a reference (yet)
    assert annotated("x-palsync-ref") == {}
    for file in ("objectives.schema.json", "guardrail.schema.json"):
        assert "tool_call" in json.dumps(schema(file))


# ------------------------------------------------------------------------------------------------
# realistic manifests, and broken ones

TOOL = {
    "name": "lookup_order",
    "description": "Look up an order by its number and return its status and delivery date.",
    "parameters": {
        "type": "object",
        "properties": {
            "order_id": {"type": "string", "description": "The order number, e.g. A-1042."},
            "include_items": {"type": "boolean"},
        },
        "required": ["order_id"],
    },
    "delivery": {
        "api": {
            "url": "https://api.example.com/orders/{order_id}",
            "method": "GET",
            "timeout": 8.5,
            "headers": {"Accept": "application/json", "X-Tenant": "${TENANT}"},
            "auth": {
                "type": "oauth2_client_credentials",
                "token_url": "https://auth.example.com/oauth/token",
                "client_id": "pal-sync-demo",
                "client_secret": "${ORDERS_CLIENT_SECRET}",
                "scope": "orders:read",
            },
            "query_params": {"include_items": "{include_items}"},
        }
    },
    "origin": "llm",
    "on_call": "static_filler",
    "static_filler": "One moment while I look that up.",
    "on_resolve": "generate_response",
    "tags": ["orders", "support"],
    "x-palsync": {"id": "t457be0aac29c", "protected": True, "ignore": ["/tags"]},
}
APP_MESSAGE_TOOL = {
    "name": "show_slide",
    "description": "Show a slide to the participant.",
    "parameters": {"type": "object", "properties": {"slide": {"type": "integer"}}},
    "delivery": {"app_message": True},
}
OBJECTIVES = {
    "name": "Qualify a lead",
    "allow_loops": False,
    "data": [
        {
            "objective_name": "collect_email",
            "objective_prompt": "Ask for the participant's work email address.",
            "output_variables": ["email"],
            "next_required_objective": "assess_need",
            # real payloads send the unused one empty: no conflict
            "next_conditional_objectives": {},
            "callback_url": "",
        },
        {
            "objective_name": "assess_need",
            "objective_prompt": "Find out what the participant wants to achieve.",
            "confirmation_mode": "manual",
            "modality": "verbal",
            "output_variables": ["goal", "timeline"],
            "next_conditional_objectives": {
                "book_demo": "the participant wants to see the product",
                "send_docs": "the participant prefers to read first",
            },
            "callback_url": "https://hooks.example.com/objectives",
        },
        {"objective_name": "book_demo", "objective_prompt": "Offer two demo slots."},
        {"objective_name": "send_docs", "objective_prompt": "Offer to email the docs."},
    ],
    "x-palsync": {"id": "${QUALIFY_OBJECTIVES_ID}"},
}
GUARDRAIL = {
    "guardrail_name": "no_medical_advice",
    "guardrail_prompt": "Never give medical advice; suggest speaking with a clinician instead.",
    "modality": "verbal",
    "callback_url": "https://hooks.example.com/guardrails",
    "app_message": True,
    "tags": ["compliance", "health-care", "tier 1"],
}
DICTIONARY = {
    "name": "Brand names",
    "rules": [
        {"text": "Tavus", "pronunciation": "TAH-vus", "type": "alias"},
        {
            "text": "bayou",
            "pronunciation": "ˈbɑju",
            "type": "ipa",
            "alphabet": "ipa",
            "case_sensitive": True,
            "word_boundaries": False,
        },
    ],
}
DOCUMENT = {
    "document_name": "Help centre",
    "document_url": "https://help.example.com/",
    "callback_url": "${DOCS_CALLBACK_URL}",
    "tags": ["faq", "support"],
    "crawl": {"depth": 2, "max_pages": 40},
    "x-palsync": {"id": "d8-5c71baca86fc"},
}
EXAMPLES = {
    "tool.schema.json": TOOL,
    "objectives.schema.json": OBJECTIVES,
    "guardrail.schema.json": GUARDRAIL,
    "dictionary.schema.json": DICTIONARY,
    "document.schema.json": DOCUMENT,
}


def errors(file: str, doc: Any) -> list[tuple[str, str]]:
    """(JSON Pointer of the value, the schema path of the keyword that refused it) of every
    error."""
    validator = jsonschema.Draft202012Validator(schema(file))
    return sorted(
        ("".join(f"/{p}" for p in e.absolute_path), "/".join(map(str, e.absolute_schema_path)))
        for e in validator.iter_errors(doc)
    )


def refused(found: list[tuple[str, str]], where: str, rule: str) -> bool:
    """Some error is at `where`, from a keyword whose schema path ends with `rule`
    (`pattern`, `allOf/1/then/not`...)."""
    return any(at == where and f"/{path}".endswith(f"/{rule}") for at, path in found)


@pytest.mark.parametrize(
    ("file", "doc"),
    [*EXAMPLES.items(), ("tool.schema.json", APP_MESSAGE_TOOL)],
    ids=[*EXAMPLES, "app-message-tool"],
)
def test_a_realistic_manifest_is_valid(file: str, doc: dict[str, Any]) -> None:
    assert errors(file, doc) == []


def test_a_minimal_manifest_of_each_kind_is_valid() -> None:
    assert errors("tool.schema.json", {"name": "t", "description": "d"}) == []
    assert errors("objectives.schema.json", {"data": [OBJECTIVES["data"][2]]}) == []
    assert errors("guardrail.schema.json", {"guardrail_name": "g", "guardrail_prompt": "p"}) == []
    assert errors("dictionary.schema.json", {"name": "n"}) == []
    assert errors("document.schema.json", {"document_url": "https://x.example/a.pdf"}) == []


Edit = Callable[[dict[str, Any]], None]


def put(pointer: str, value: Any) -> Edit:
    """Set (or, with DELETE, remove) the member at a pointer of the example."""

    def edit(doc: dict[str, Any]) -> None:
        *parents, last = pointer.strip("/").split("/")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return edit


DELETE = object()
API = "/delivery/api"
BROKEN: list[tuple[str, str, Edit, tuple[str, str]]] = [
    # (file, what is wrong, the edit, (where, the keyword that must refuse it))
    ("tool", "name starts with a digit", put("/name", "1lookup"), ("/name", "pattern")),
    ("tool", "name has a dash", put("/name", "lookup-order"), ("/name", "pattern")),
    ("tool", "name of 65 characters", put("/name", "a" * 65), ("/name", "maxLength")),
    ("tool", "empty description", put("/description", ""), ("/description", "minLength")),
    ("tool", "no description", put("/description", DELETE), ("", "required")),
    ("tool", "http url", put(f"{API}/url", "http://api.example.com/x"), (f"{API}/url", "pattern")),
    (
        "tool",
        "tavus_ parameter",
        put("/parameters/properties/tavus_user", {"type": "string"}),
        ("/parameters/properties", "propertyNames/not"),
    ),
    (
        "tool",
        "parameters not an object",
        put("/parameters/type", "array"),
        ("/parameters/type", "const"),
    ),
    (
        "tool",
        "app_message and api together",
        put("/delivery/app_message", True),
        ("/delivery/app_message", "then/properties/app_message/const"),
    ),
    ("tool", "no channel at all", put("/delivery", {}), ("/delivery", "else/required")),
    (
        "tool",
        "app_message false without api",
        put("/delivery", {"app_message": False}),
        ("/delivery/app_message", "else/properties/app_message/const"),
    ),
    ("tool", "unknown method", put(f"{API}/method", "FETCH"), (f"{API}/method", "enum")),
    ("tool", "timeout 0", put(f"{API}/timeout", 0), (f"{API}/timeout", "exclusiveMinimum")),
    ("tool", "timeout 61", put(f"{API}/timeout", 61), (f"{API}/timeout", "maximum")),
    ("tool", "timeout from ${VAR}", put(f"{API}/timeout", "${T}"), (f"{API}/timeout", "type")),
    ("tool", "no url", put(f"{API}/url", DELETE), (API, "required")),
    (
        "tool",
        "body with GET",
        put(f"{API}/body_template", {"id": "{order_id}"}),
        (API, "allOf/0/then/not"),
    ),
    ("tool", "unknown auth type", put(f"{API}/auth/type", "digest"), (f"{API}/auth/type", "enum")),
    (
        "tool",
        "auth without type",
        put(f"{API}/auth/type", DELETE),
        (f"{API}/auth", "auth/required"),
    ),
    (
        "tool",
        "bearer without token",
        put(f"{API}/auth", {"type": "bearer"}),
        (f"{API}/auth", "allOf/0/then/required"),
    ),
    (
        "tool",
        "basic without password",
        put(f"{API}/auth", {"type": "basic", "username": "u"}),
        (f"{API}/auth", "allOf/1/then/required"),
    ),
    (
        "tool",
        "api_key in a cookie",
        put(f"{API}/auth", {"type": "api_key", "name": "k", "value": "${K}", "location": "cookie"}),
        (f"{API}/auth/location", "enum"),
    ),
    (
        "tool",
        "hmac without secret",
        put(f"{API}/auth", {"type": "hmac"}),
        (f"{API}/auth", "allOf/3/then/required"),
    ),
    (
        "tool",
        "oauth2 token_url over http",
        put(f"{API}/auth/token_url", "http://auth.example.com/token"),
        (f"{API}/auth/token_url", "pattern"),
    ),
    (
        "tool",
        "oauth2 without client_secret",
        put(f"{API}/auth/client_secret", DELETE),
        (f"{API}/auth", "allOf/4/then/required"),
    ),
    ("tool", "unknown origin", put("/origin", "camera"), ("/origin", "enum")),
    ("tool", "on_call on a vision tool", put("/origin", "vision"), ("", "allOf/1/then/not")),
    (
        "tool",
        "post_call with an origin",
        put("/trigger_type", "post_call"),
        ("", "allOf/0/then/not"),
    ),
    ("tool", "unknown on_call", put("/on_call", "hum"), ("/on_call", "enum")),
    ("tool", "unknown on_resolve", put("/on_resolve", "ignore"), ("/on_resolve", "enum")),
    (
        "tool",
        "header value not a string",
        put(f"{API}/headers/X-Retries", 3),
        (f"{API}/headers/X-Retries", "type"),
    ),
    ("tool", "read-only tool_id", put("/tool_id", "t457be0aac29c"), ("", "propertyNames/not")),
    (
        "tool",
        "the PAL's pin name",
        put("/x-palsync/pal_id", "t457be0aac29c"),
        ("/x-palsync", "additionalProperties"),
    ),
    ("tool", "a PAL id pinned", put("/x-palsync/id", "pcb7a34da5fe"), ("/x-palsync/id", "pattern")),
    (
        "tool",
        "ignore not a pointer",
        put("/x-palsync/ignore", ["tags"]),
        ("/x-palsync/ignore/0", "pattern"),
    ),
    ("objectives", "no data", put("/data", DELETE), ("", "required")),
    ("objectives", "no objectives", put("/data", []), ("/data", "minItems")),
    (
        "objectives",
        "51 objectives",
        put("/data", [{"objective_name": f"o{i}", "objective_prompt": "p"} for i in range(51)]),
        ("/data", "maxItems"),
    ),
    ("objectives", "set name of 101", put("/name", "n" * 101), ("/name", "maxLength")),
    ("objectives", "allow_loops as text", put("/allow_loops", "no"), ("/allow_loops", "type")),
    (
        "objectives",
        "both next_* set",
        put("/data/0/next_conditional_objectives", {"send_docs": "they ask for docs"}),
        ("/data/0", "items/not"),
    ),
    (
        "objectives",
        "legacy list and conditionals",
        put("/data/1/next_required_objectives", ["book_demo"]),
        ("/data/1", "items/not"),
    ),
    (
        "objectives",
        "objective name with a space",
        put("/data/0/objective_name", "collect email"),
        ("/data/0/objective_name", "pattern"),
    ),
    (
        "objectives",
        "objective name of 101",
        put("/data/0/objective_name", "o" * 101),
        ("/data/0/objective_name", "maxLength"),
    ),
    (
        "objectives",
        "prompt of 10,001",
        put("/data/0/objective_prompt", "p" * 10001),
        ("/data/0/objective_prompt", "maxLength"),
    ),
    (
        "objectives",
        "no prompt",
        put("/data/2/objective_prompt", DELETE),
        ("/data/2", "required"),
    ),
    (
        "objectives",
        "51 output variables",
        put("/data/0/output_variables", [f"v{i}" for i in range(51)]),
        ("/data/0/output_variables", "maxItems"),
    ),
    (
        "objectives",
        "unknown modality",
        put("/data/0/modality", "smell"),
        ("/data/0/modality", "enum"),
    ),
    (
        "objectives",
        "unknown confirmation mode",
        put("/data/0/confirmation_mode", "ask"),
        ("/data/0/confirmation_mode", "enum"),
    ),
    (
        "objectives",
        "conditional target with a space",
        put("/data/1/next_conditional_objectives", {"book demo": "they want one"}),
        ("/data/1/next_conditional_objectives", "propertyNames/pattern"),
    ),
    (
        "objectives",
        "empty condition",
        put("/data/1/next_conditional_objectives/book_demo", ""),
        ("/data/1/next_conditional_objectives/book_demo", "minLength"),
    ),
    (
        "objectives",
        "callback url of 2049",
        put("/data/1/callback_url", "https://x.example/" + "a" * 2031),
        ("/data/1/callback_url", "maxLength"),
    ),
    (
        "objectives",
        "read-only objectives_id",
        put("/objectives_id", "o12345"),
        ("", "propertyNames/not"),
    ),
    ("guardrail", "33 tags", put("/tags", [f"t{i}" for i in range(33)]), ("/tags", "maxItems")),
    ("guardrail", "tag with a !", put("/tags", ["urgent!"]), ("/tags/0", "pattern")),
    ("guardrail", "tag of 65", put("/tags", ["t" * 65]), ("/tags/0", "maxLength")),
    ("guardrail", "a tag twice", put("/tags", ["a", "a"]), ("/tags", "uniqueItems")),
    (
        "guardrail",
        "name with a dash",
        put("/guardrail_name", "no-pii"),
        ("/guardrail_name", "pattern"),
    ),
    (
        "guardrail",
        "name of 101",
        put("/guardrail_name", "g" * 101),
        ("/guardrail_name", "maxLength"),
    ),
    (
        "guardrail",
        "prompt of 1001",
        put("/guardrail_prompt", "p" * 1001),
        ("/guardrail_prompt", "maxLength"),
    ),
    ("guardrail", "no prompt", put("/guardrail_prompt", DELETE), ("", "required")),
    ("guardrail", "unknown modality", put("/modality", "written"), ("/modality", "enum")),
    ("guardrail", "app_message as text", put("/app_message", "yes"), ("/app_message", "type")),
    (
        "guardrail",
        "ftp callback",
        put("/callback_url", "ftp://x.example/h"),
        ("/callback_url", "pattern"),
    ),
    ("guardrail", "read-only uuid", put("/uuid", "g1234567890ab"), ("", "propertyNames/not")),
    ("dictionary", "empty name", put("/name", ""), ("/name", "minLength")),
    ("dictionary", "name of 256", put("/name", "n" * 256), ("/name", "maxLength")),
    (
        "dictionary",
        "rule text of 201",
        put("/rules/0/text", "t" * 201),
        ("/rules/0/text", "maxLength"),
    ),
    ("dictionary", "empty rule text", put("/rules/0/text", ""), ("/rules/0/text", "minLength")),
    (
        "dictionary",
        "pronunciation of 501",
        put("/rules/0/pronunciation", "p" * 501),
        ("/rules/0/pronunciation", "maxLength"),
    ),
    ("dictionary", "unknown rule type", put("/rules/0/type", "phoneme"), ("/rules/0/type", "enum")),
    ("dictionary", "rule without type", put("/rules/0/type", DELETE), ("/rules/0", "required")),
    ("dictionary", "cmu alphabet", put("/rules/1/alphabet", "cmu"), ("/rules/1/alphabet", "enum")),
    (
        "dictionary",
        "case_sensitive as text",
        put("/rules/1/case_sensitive", "no"),
        ("/rules/1/case_sensitive", "type"),
    ),
    (
        "dictionary",
        "10,001 rules",
        put(
            "/rules",
            [{"text": f"w{i}", "pronunciation": "x", "type": "alias"} for i in range(10001)],
        ),
        ("/rules", "maxItems"),
    ),
    (
        "document",
        "http url",
        put("/document_url", "http://help.example.com/"),
        ("/document_url", "pattern"),
    ),
    ("document", "no url", put("/document_url", DELETE), ("", "required")),
    ("document", "crawl depth 0", put("/crawl/depth", 0), ("/crawl/depth", "minimum")),
    ("document", "max_pages as text", put("/crawl/max_pages", "40"), ("/crawl/max_pages", "type")),
    ("document", "a tag twice", put("/tags", ["faq", "faq"]), ("/tags", "uniqueItems")),
    ("document", "read-only status", put("/status", "ready"), ("", "propertyNames/not")),
    (
        "document",
        "unknown settings key",
        put("/x-palsync/pin", "d1"),
        ("/x-palsync", "additionalProperties"),
    ),
]


@pytest.mark.parametrize(
    ("kind", "edit", "expected"),
    [(kind, edit, expected) for kind, _, edit, expected in BROKEN],
    ids=[f"{kind}: {what}" for kind, what, _, _ in BROKEN],
)
def test_a_broken_manifest_is_refused_for_its_reason(
    kind: str, edit: Edit, expected: tuple[str, str]
) -> None:
    file = f"{kind}.schema.json"
    doc = copy.deepcopy(EXAMPLES[file])
    assert errors(file, doc) == []
    edit(doc)
    found = errors(file, doc)
    assert refused(found, *expected), found


def test_var_references_stand_in_for_urls_and_pins_not_for_names() -> None:
    tool = copy.deepcopy(TOOL)
    tool["delivery"]["api"]["url"] = "${ORDERS_URL}"
    tool["delivery"]["api"]["auth"]["token_url"] = "${TOKEN_URL:-https://auth.example.com/t}"
    tool["x-palsync"]["id"] = "${ORDER_TOOL_ID}"
    assert errors("tool.schema.json", tool) == []
    tool["name"] = "${TOOL_NAME}"
    assert errors("tool.schema.json", tool) == [("/name", "properties/name/pattern")]
    document = {**DOCUMENT, "document_url": "${HELP_URL}"}
    assert errors("document.schema.json", document) == []


def test_an_unknown_key_is_accepted_where_the_api_may_have_grown() -> None:
    """Open world: a field Tavus added after this release is sent as written (validate warns);
    pal-sync's own settings stay closed."""
    tool = copy.deepcopy(TOOL)
    tool["future_knob"] = 1
    tool["delivery"]["api"]["retries"] = 2
    assert errors("tool.schema.json", tool) == []
    guardrail = {**GUARDRAIL, "severity": "high"}
    assert errors("guardrail.schema.json", guardrail) == []


# ------------------------------------------------------------------------------------------------
# the generator


def test_committed_schemas_match_their_builder() -> None:
    """Compared, never written: a test must not rewrite a file of the working tree."""
    targets = [ROOT / "schemas" / file for file in FILES]
    before = [(t.read_bytes(), t.stat().st_mtime_ns) for t in targets]
    proc = subprocess.run(
        [sys.executable, "scripts/build_kind_schemas.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert [(t.read_bytes(), t.stat().st_mtime_ns) for t in targets] == before, "the check wrote"
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("change", ["edited", "missing"])
def test_the_check_fails_on_a_stale_schema_and_names_the_command(
    tmp_path: Path, change: str
) -> None:
    """The check can fail: a copy of the builder, run against an edited or missing schema."""
    (tmp_path / "scripts").mkdir()
    for script in ("build_kind_schemas.py", "schema_parts.py"):
        shutil.copy(ROOT / "scripts" / script, tmp_path / "scripts")
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    target = tmp_path / "schemas" / "guardrail.schema.json"
    if change == "edited":
        edited = json.loads(target.read_text(encoding="utf-8"))
        edited["properties"]["tags"]["maxItems"] = 33
        target.write_text(json.dumps(edited, indent=2, ensure_ascii=False) + "\n")
    else:
        target.unlink()
    before = target.read_bytes() if target.exists() else None
    proc = subprocess.run(
        [sys.executable, "scripts/build_kind_schemas.py", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "schemas/guardrail.schema.json differs" in proc.stdout
    assert "python scripts/build_kind_schemas.py" in proc.stdout
    assert "tool.schema.json" not in proc.stdout, "only the stale file is named"
    assert (target.read_bytes() if target.exists() else None) == before, "--check wrote"


def test_the_builder_writes_what_it_checks(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "schemas").mkdir()
    for script in ("build_kind_schemas.py", "schema_parts.py"):
        shutil.copy(ROOT / "scripts" / script, tmp_path / "scripts")
    script = [sys.executable, "scripts/build_kind_schemas.py"]
    subprocess.run(script, cwd=tmp_path, check=True, capture_output=True)
    assert sorted(p.name for p in (tmp_path / "schemas").iterdir()) == sorted(FILES)
    for file in FILES:
        assert (tmp_path / "schemas" / file).read_bytes() == (ROOT / "schemas" / file).read_bytes()
    assert subprocess.run([*script, "--check"], cwd=tmp_path, capture_output=True).returncode == 0


def test_the_schemas_ship_in_the_wheel_beside_the_pal_schema() -> None:
    """pyproject.toml maps `schemas/` to the package `palsync.schemas` with `*.json` as its data,
    which is how pal.schema.json gets into the wheel (.ci/run checks the built wheel)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    setuptools = config["setuptools"]
    assert "palsync.schemas" in setuptools["packages"]
    assert setuptools["package-dir"]["palsync.schemas"] == "schemas"
    patterns = setuptools["package-data"]["palsync.schemas"]
    for file in FILES:
        assert any(Path(file).match(p) for p in patterns), file
        assert schema_path(file).parent == schema_path().parent


@pytest.mark.parametrize(
    ("kind", "file"),
    [
        ("pal", "pal.schema.json"),
        ("tool", "tool.schema.json"),
        ("objectives", "objectives.schema.json"),
        ("guardrail", "guardrail.schema.json"),
        ("dictionary", "dictionary.schema.json"),
        ("document", "document.schema.json"),
    ],
)
def test_pal_sync_schema_prints_each_kinds_schema(kind: str, file: str) -> None:
    from click.testing import CliRunner

    from palsync.cli.schema import command

    result = CliRunner().invoke(command, ["--kind", kind], standalone_mode=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads((ROOT / "schemas" / file).read_text())
