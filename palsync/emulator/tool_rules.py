"""The emulated API's own rules for registry tools (tavus-api.md §1g, §11c): name, description and
parameters, the one delivery channel and its API call (https, method, timeout, auth, body
template, `{ident}` placeholders), origin and trigger, and the defaults the server writes.

Pure functions: a broken rule raises a 400. Secrets and masking are `rules`' (`tool_secrets`,
`masked_tool`), names taken are the store's.
"""

from __future__ import annotations

import json
from typing import Any

from palsync.emulator.companion_rules import (
    PLACEHOLDER,
    given,
    need_enum,
    need_object,
    need_string,
    need_strings,
    need_url,
)
from palsync.emulator.rules import TOOL_NAME, bad_request

TOOL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
#: methods that take no `body_template`
BODYLESS_METHODS = ("GET", "HEAD", "DELETE")
TOOL_ORIGINS = ("llm", "vision", "audio")
TRIGGER_TYPES = ("in_call", "post_call")
ON_CALL = ("generate_filler", "static_filler", "silent", "passthrough")
ON_RESOLVE = ("generate_response", "response_in_result", "add_to_context", "fire_and_forget")
#: `delivery.api.auth` kinds and the members each one requires (§11c)
AUTH_KINDS: dict[str, tuple[str, ...]] = {
    "none": (),
    "bearer": ("token",),
    "basic": ("username", "password"),
    "api_key": ("name", "value", "location"),
    "hmac": ("secret",),
    "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
}
API_KEY_LOCATIONS = ("header", "query")
#: description + serialized parameters, in characters
TOOL_TEXT_LIMIT = 10_000
MAX_TIMEOUT = 60
DEFAULT_TIMEOUT = 10
RESERVED_PARAMETER_PREFIX = "tavus_"
TOOL_READ_ONLY = frozenset({"tool_id", "owner_id", "is_system_tool", "created_at", "updated_at"})


def check_tool(tool: dict[str, Any]) -> None:
    """A whole tool document (a create body, or a stored tool with a PATCH applied; read-only
    fields are the caller's to refuse in bodies)."""
    name = tool.get("name")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise bad_request(
            "Invalid tool name: 1–64 letters, digits and underscores, not starting with a digit"
        )
    description = tool.get("description")
    if not isinstance(description, str) or not description.strip():
        raise bad_request("description is required")
    parameters = tool.get("parameters")
    declared: set[str] = set()
    if given(parameters):
        declared = _check_parameters(parameters)
    serialized = len(description) + (len(json.dumps(parameters)) if given(parameters) else 0)
    if serialized > TOOL_TEXT_LIMIT:
        raise bad_request(
            f"description and parameters together exceed {TOOL_TEXT_LIMIT} characters "
            f"({serialized})"
        )
    trigger = tool.get("trigger_type")
    if given(trigger):
        need_enum(trigger, TRIGGER_TYPES, "trigger_type")
    origin = tool.get("origin")
    if given(origin):
        if trigger == "post_call":
            raise bad_request("origin must be omitted when trigger_type is post_call")
        need_enum(origin, TOOL_ORIGINS, "origin")
    if given(tool.get("on_call")):
        need_enum(tool["on_call"], ON_CALL, "on_call")
        if origin in ("vision", "audio"):
            raise bad_request(f"on_call must be omitted when origin is {origin}")
    if given(tool.get("on_resolve")):
        need_enum(tool["on_resolve"], ON_RESOLVE, "on_resolve")
    if given(tool.get("static_filler")):
        need_string(tool["static_filler"], "static_filler")
    if given(tool.get("tags")):
        need_strings(tool["tags"], "tags")
    _check_delivery(tool.get("delivery"), declared, post_call=trigger == "post_call")


def _check_parameters(parameters: Any) -> set[str]:
    """The declared parameter names of a JSON Schema object; reserved names refused."""
    schema = need_object(parameters, "parameters")
    if given(schema.get("type")) and schema["type"] != "object":
        raise bad_request("Invalid value for 'parameters': the schema's type must be object")
    _refuse_reserved(schema, "parameters")
    properties = schema.get("properties")
    return set(properties) if isinstance(properties, dict) else set()


def _refuse_reserved(schema: Any, where: str) -> None:
    if isinstance(schema, dict):
        properties = schema.get("properties")
        if given(properties):
            for name in need_object(properties, f"{where}.properties"):
                if name.startswith(RESERVED_PARAMETER_PREFIX):
                    raise bad_request(
                        f"Parameter name '{name}' is reserved (names starting with "
                        f"'{RESERVED_PARAMETER_PREFIX}' belong to Tavus)"
                    )
        for key, value in schema.items():
            _refuse_reserved(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for value in schema:
            _refuse_reserved(value, where)


def _check_delivery(delivery: Any, declared: set[str], *, post_call: bool) -> None:
    if not given(delivery):
        delivery = {"app_message": True}
    delivery = need_object(delivery, "delivery")
    app_message = delivery.get("app_message")
    if given(app_message) and not isinstance(app_message, bool):
        raise bad_request("Invalid value for 'delivery.app_message': expected a boolean")
    api = delivery.get("api")
    if (app_message is True) + given(api) != 1:
        raise bad_request("delivery needs exactly one of app_message: true or api")
    if post_call and not given(api):
        raise bad_request("a post_call tool needs delivery.api")
    if given(api):
        _check_api(need_object(api, "delivery.api"), declared)


def _check_api(api: dict[str, Any], declared: set[str]) -> None:
    # 1g / 11c: `api: {url, method, …}`: an API delivery goes somewhere
    need_url(api.get("url"), "delivery.api.url")
    method = api.get("method")
    if given(method):
        need_enum(method, TOOL_METHODS, "delivery.api.method")
    timeout = api.get("timeout")
    if given(timeout) and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise bad_request(f"Invalid value for 'delivery.api.timeout': expected (0, {MAX_TIMEOUT}]")
    for key in ("headers", "query_params"):
        if given(api.get(key)):
            need_object(api[key], f"delivery.api.{key}")
    if given(api.get("content_type")):
        need_string(api["content_type"], "delivery.api.content_type")
    if given(api.get("body_template")) and method in BODYLESS_METHODS:
        raise bad_request(f"delivery.api.body_template is not allowed with method {method}")
    if given(api.get("auth")):
        _check_auth(api["auth"])
    for where in ("url", "body_template", "query_params", "headers"):
        for ident in _placeholders(api.get(where)):
            if ident not in declared:
                raise bad_request(
                    f"Placeholder '{{{ident}}}' in delivery.api.{where} names no declared parameter"
                )


def _placeholders(value: Any) -> list[str]:
    if isinstance(value, str):
        return PLACEHOLDER.findall(value)
    if isinstance(value, dict):
        return [p for v in value.values() for p in _placeholders(v)]
    if isinstance(value, list):
        return [p for v in value for p in _placeholders(v)]
    return []


def auth_kind(auth: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(kind, members) of an auth object written flat (`{"type": "bearer", "token": …}`) or
    nested (`{"bearer": {"token": …}}`); (None, auth) when it is neither."""
    if "type" in auth:
        return (auth["type"] if isinstance(auth["type"], str) else None), auth
    if len(auth) == 1:
        ((kind, members),) = auth.items()
        if isinstance(members, dict):
            return kind, members
    return None, auth


def _check_auth(auth: Any) -> None:
    kind, members = auth_kind(need_object(auth, "delivery.api.auth"))
    if kind not in AUTH_KINDS:
        raise bad_request(
            "Invalid value for 'delivery.api.auth': expected one of "
            + ", ".join(AUTH_KINDS)
            + " (as {'type': kind, …} or {kind: {…}})"
        )
    for member in AUTH_KINDS[kind]:
        value = members.get(member)
        if not isinstance(value, str) or not value:
            raise bad_request(f"delivery.api.auth ({kind}) needs {member}")
    if kind == "api_key":
        need_enum(members["location"], API_KEY_LOCATIONS, "delivery.api.auth.location")
    if kind == "oauth2_client_credentials":
        need_url(members["token_url"], "delivery.api.auth.token_url")
        if given(members.get("scope")):
            need_string(members["scope"], "delivery.api.auth.scope")


def fill_tool_defaults(tool: dict[str, Any]) -> None:
    """What the server writes into a tool on its own (§1g, §11c): app-message delivery, a 10 s
    API timeout, an in-call LLM tool that generates a filler and fires and forgets. Only where
    the member is absent: a member set to null stays null."""
    tool.setdefault("delivery", {"app_message": True})
    tool.setdefault("trigger_type", "in_call")
    if tool["trigger_type"] == "in_call":
        tool.setdefault("origin", "llm")
    if tool["trigger_type"] == "in_call" and tool.get("origin") == "llm":
        tool.setdefault("on_call", "generate_filler")
    tool.setdefault("on_resolve", "fire_and_forget")
    delivery = tool["delivery"]
    api = delivery.get("api") if isinstance(delivery, dict) else None
    if isinstance(api, dict):
        api.setdefault("timeout", DEFAULT_TIMEOUT)
