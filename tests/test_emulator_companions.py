"""The emulator's companion kinds and skills (the "companions" issue, item 5): tools, objectives,
guardrails, pronunciation dictionaries and documents with their paging, patch styles, masking,
list-item defaults and reference checks, and a PAL's skills — over real loopback HTTP, no client.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from palsync.emulator import Emulator, FaultRule

FACE = "r90bbd427f71"
MASK = "********"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


@pytest.fixture
def http(emulator: Emulator, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, headers={"x-api-key": api_key}) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def refused(response: httpx.Response, status: int = 400) -> str:
    """The error message of a refusal with `status` (400s say `error`, 422s `message`)."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    return str(body.get("error") or body.get("message"))


def create_pal(http: httpx.Client, **fields: Any) -> str:
    body = {"pal_name": "C", "system_prompt": "hi", "default_face_id": FACE, **fields}
    return str(ok(http.post("/v2/pals", json=body))["pal_id"])


def pal(http: httpx.Client, pal_id: str) -> dict[str, Any]:
    return dict(ok(http.get(f"/v2/pals/{pal_id}"))["data"][0])


def tool_body(name: str = "lookup", **fields: Any) -> dict[str, Any]:
    return {"name": name, "description": "Look something up.", **fields}


def api_tool(name: str = "caller", **api: Any) -> dict[str, Any]:
    return tool_body(
        name,
        parameters={"type": "object", "properties": {"order": {"type": "string"}}},
        delivery={"api": {"url": "https://api.example.com/o/{order}", "method": "POST", **api}},
    )


def objective(name: str, **fields: Any) -> dict[str, Any]:
    return {"objective_name": name, "objective_prompt": f"Do {name}.", **fields}


# ------------------------------------------------------------------------------------ tools


def test_tool_crud_with_server_defaults(http: httpx.Client) -> None:
    created = ok(http.post("/v2/tools", json=tool_body()))
    tool_id = created["tool_id"]
    assert re.fullmatch(r"t[0-9a-f]{12}", tool_id)
    assert created["is_system_tool"] is False and isinstance(created["owner_id"], int)
    assert STAMP.match(created["created_at"]) and created["created_at"] == created["updated_at"]
    # the defaults tavus-api.md 1g documents, written by the server
    assert created["delivery"] == {"app_message": True}
    assert created["trigger_type"] == "in_call" and created["origin"] == "llm"
    assert created["on_call"] == "generate_filler"
    assert created["on_resolve"] == "fire_and_forget"
    assert ok(http.get(f"/v2/tools/{tool_id}")) == created
    with_api = ok(http.post("/v2/tools", json=api_tool()))
    assert with_api["delivery"]["api"]["timeout"] == 10, "the API timeout defaults to 10 s"
    post_call = ok(http.post("/v2/tools", json={**api_tool("after"), "trigger_type": "post_call"}))
    assert "origin" not in post_call and "on_call" not in post_call, "post_call: no origin"

    patched = ok(http.patch(f"/v2/tools/{tool_id}", json={"description": "Find it."}))
    assert patched["description"] == "Find it." and patched["name"] == "lookup"
    assert patched["updated_at"] > created["updated_at"]
    assert ok(http.get(f"/v2/tools/{tool_id}"))["description"] == "Find it."
    renamed = ok(http.patch(f"/v2/tools/{tool_id}", json={"name": "finder"}))
    assert renamed["name"] == "finder" and renamed["description"] == "Find it."
    assert refused(http.patch(f"/v2/tools/{tool_id}", json={"name": "caller"})).startswith(
        "A tool with this name"
    )
    assert "read-only" in refused(http.patch(f"/v2/tools/{tool_id}", json={"tool_id": "t1"}))

    assert http.delete(f"/v2/tools/{tool_id}").status_code == 204
    assert http.get(f"/v2/tools/{tool_id}").status_code == 404
    assert http.delete(f"/v2/tools/{tool_id}").status_code == 404
    assert http.patch(f"/v2/tools/{tool_id}", json={"description": "x"}).status_code == 404
    ok(http.post("/v2/tools", json=tool_body("finder")))  # a deleted tool frees its name


LONG = "x" * 10_000
PARAMS = {"type": "object", "properties": {"order": {"type": "string"}}}
API = {"url": "https://api.example.com/o/{order}", "method": "POST"}


def _with_api(**api: Any) -> dict[str, Any]:
    return {"parameters": PARAMS, "delivery": {"api": {**API, **api}}}


def test_tool_patch_is_a_plain_body_not_json_patch(http: httpx.Client, emulator: Emulator) -> None:
    tool_id = ok(http.post("/v2/tools", json=tool_body()))["tool_id"]
    before = json.dumps(emulator.store.tools[tool_id], sort_keys=True)
    ops = [{"op": "replace", "path": "/description", "value": "Patched."}]
    message = refused(http.patch(f"/v2/tools/{tool_id}", json=ops))
    assert "JSON object" in message and "not a JSON Patch" in message
    assert json.dumps(emulator.store.tools[tool_id], sort_keys=True) == before
    # fields replace whole: a new delivery drops what the old one said
    api = ok(http.patch(f"/v2/tools/{tool_id}", json=_with_api()))
    assert (
        api["delivery"]["api"]["url"].startswith("https://")
        and "app_message" not in (api["delivery"])
    )
    assert "{order}" in api["delivery"]["api"]["url"]
    back = ok(http.patch(f"/v2/tools/{tool_id}", json={"delivery": {"app_message": True}}))
    assert back["delivery"] == {"app_message": True}
    # null replaces too (it is not a merge): an optional member cleared, an enum refused
    cleared = ok(http.patch(f"/v2/tools/{tool_id}", json={"static_filler": None}))
    assert cleared["static_filler"] is None
    assert refused(http.patch(f"/v2/tools/{tool_id}", json={"description": None}))


BAD_TOOLS: list[tuple[str, dict[str, Any]]] = [
    ("name starts with a digit", {"name": "1tool"}),
    ("name with a dash", {"name": "my-tool"}),
    ("name of 65 characters", {"name": "a" * 65}),
    ("no description", {"description": None}),
    ("empty description", {"description": ""}),
    ("blank description", {"description": "   "}),
    ("parameters not an object", {"parameters": ["order"]}),
    ("parameters not an object schema", {"parameters": {"type": "string"}}),
    (
        "a reserved parameter name",
        {"parameters": {"type": "object", "properties": {"tavus_user": {"type": "string"}}}},
    ),
    (
        "a reserved name nested",
        {
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "object", "properties": {"tavus_x": {}}}},
            }
        },
    ),
    ("description + parameters over 10,000", {"description": LONG, "parameters": {}}),
    ("description alone over 10,000", {"description": LONG + "x"}),
    ("both channels", {"delivery": {"app_message": True, "api": API}}),
    ("no channel", {"delivery": {"app_message": False}}),
    ("app_message not a boolean", {"delivery": {"app_message": "yes"}}),
    ("plain http", _with_api(url="http://api.example.com/o/{order}")),
    ("no host", _with_api(url="https:///o")),
    ("a lower-case method", _with_api(method="post")),
    ("an unknown method", _with_api(method="TRACE")),
    ("timeout 0", _with_api(timeout=0)),
    ("timeout over 60", _with_api(timeout=60.5)),
    ("timeout a string", _with_api(timeout="10")),
    ("timeout a boolean", _with_api(timeout=True)),
    ("unknown auth kind", _with_api(auth={"type": "digest", "token": "t"})),
    ("auth without a kind", _with_api(auth={"token": "t", "password": "p"})),
    ("bearer without token", _with_api(auth={"type": "bearer"})),
    ("basic without password", _with_api(auth={"type": "basic", "username": "u"})),
    (
        "api_key in a cookie",
        _with_api(auth={"type": "api_key", "name": "k", "value": "v", "location": "cookie"}),
    ),
    ("hmac without secret", _with_api(auth={"hmac": {}})),
    (
        "oauth2 over http",
        _with_api(
            auth={
                "type": "oauth2_client_credentials",
                "token_url": "http://auth.example.com/token",
                "client_id": "c",
                "client_secret": "s",
            }
        ),
    ),
    ("body_template with GET", _with_api(method="GET", body_template='{"o": "{order}"}')),
    ("body_template with HEAD", _with_api(method="HEAD", body_template="x")),
    ("body_template with DELETE", _with_api(method="DELETE", body_template="x")),
    ("undeclared placeholder in the url", _with_api(url="https://x.example/{id}")),
    ("undeclared placeholder in the body", _with_api(body_template='{"n": "{name}"}')),
    ("undeclared placeholder in a query", _with_api(query_params={"q": "{term}"})),
    ("headers not an object", _with_api(headers=["X-A: 1"])),
    ("bad origin", {"origin": "text"}),
    ("bad trigger_type", {"trigger_type": "before_call"}),
    ("post_call with an origin", {**_with_api(), "trigger_type": "post_call", "origin": "llm"}),
    ("post_call without api", {"trigger_type": "post_call"}),
    ("on_call with a vision tool", {"origin": "vision", "on_call": "generate_filler"}),
    ("bad on_call", {"on_call": "wait"}),
    ("bad on_resolve", {"on_resolve": "ignore"}),
    ("tags not strings", {"tags": [1]}),
]


#: what each refusal's message names
TOOL_REASONS = {
    "name starts with a digit": "tool name",
    "name with a dash": "tool name",
    "name of 65 characters": "tool name",
    "no description": "description is required",
    "empty description": "description is required",
    "blank description": "description is required",
    "parameters not an object": "parameters",
    "parameters not an object schema": "parameters",
    "a reserved parameter name": "reserved",
    "a reserved name nested": "reserved",
    "description + parameters over 10,000": "exceed",
    "description alone over 10,000": "exceed",
    "both channels": "exactly one",
    "no channel": "exactly one",
    "app_message not a boolean": "delivery.app_message",
    "plain http": "delivery.api.url",
    "no host": "delivery.api.url",
    "a lower-case method": "delivery.api.method",
    "an unknown method": "delivery.api.method",
    "timeout 0": "delivery.api.timeout",
    "timeout over 60": "delivery.api.timeout",
    "timeout a string": "delivery.api.timeout",
    "timeout a boolean": "delivery.api.timeout",
    "unknown auth kind": "delivery.api.auth",
    "auth without a kind": "delivery.api.auth",
    "bearer without token": "needs token",
    "basic without password": "needs password",
    "api_key in a cookie": "delivery.api.auth.location",
    "hmac without secret": "needs secret",
    "oauth2 over http": "delivery.api.auth.token_url",
    "body_template with GET": "not allowed with method",
    "body_template with HEAD": "not allowed with method",
    "body_template with DELETE": "not allowed with method",
    "undeclared placeholder in the url": "names no declared",
    "undeclared placeholder in the body": "names no declared",
    "undeclared placeholder in a query": "names no declared",
    "headers not an object": "delivery.api.headers",
    "bad origin": "origin",
    "bad trigger_type": "trigger_type",
    "post_call with an origin": "must be omitted",
    "post_call without api": "needs delivery.api",
    "on_call with a vision tool": "must be omitted",
    "bad on_call": "on_call",
    "bad on_resolve": "on_resolve",
    "tags not strings": "tags",
}


@pytest.mark.parametrize(("case", "fields"), BAD_TOOLS, ids=[c for c, _ in BAD_TOOLS])
def test_tool_rules_refuse_with_400(http: httpx.Client, case: str, fields: dict[str, Any]) -> None:
    body = {k: v for k, v in {**tool_body(), **fields}.items() if v is not None}
    assert TOOL_REASONS[case] in refused(http.post("/v2/tools", json=body))
    # the same rules hold for the tool a PATCH would leave
    tool_id = ok(http.post("/v2/tools", json=tool_body("good")))["tool_id"]
    assert refused(http.patch(f"/v2/tools/{tool_id}", json=fields)), case


GOOD_TOOLS: list[tuple[str, dict[str, Any]]] = [
    ("description + parameters of exactly 10,000", {"description": "x" * (10_000 - 2)}),
    ("timeout 60", _with_api(timeout=60)),
    ("timeout 0.5", _with_api(timeout=0.5)),
    ("body_template with POST", _with_api(body_template='{"o": "{order}"}')),
    ("no auth", _with_api(auth={"type": "none"})),
    ("bearer, nested", _with_api(auth={"bearer": {"token": "t"}})),
    (
        "api_key in a query",
        _with_api(auth={"type": "api_key", "name": "k", "value": "v", "location": "query"}),
    ),
    (
        "oauth2 client credentials",
        _with_api(
            auth={
                "type": "oauth2_client_credentials",
                "token_url": "https://auth.example.com/token",
                "client_id": "c",
                "client_secret": "s",
                "scope": "orders",
            }
        ),
    ),
    ("a vision tool without on_call", {"origin": "vision"}),
    ("every on_resolve", {"on_resolve": "response_in_result", "on_call": "static_filler"}),
]


@pytest.mark.parametrize(("case", "fields"), GOOD_TOOLS, ids=[c for c, _ in GOOD_TOOLS])
def test_tool_rules_accept_the_limits(
    http: httpx.Client, case: str, fields: dict[str, Any]
) -> None:
    body = {**tool_body(), **fields}
    if case.startswith("description + parameters"):
        body["parameters"] = {}  # "{}" serializes to 2 characters
    ok(http.post("/v2/tools", json=body))


def test_vision_tools_get_no_on_call_default(http: httpx.Client) -> None:
    vision = ok(http.post("/v2/tools", json=tool_body(origin="vision")))
    assert vision["origin"] == "vision" and "on_call" not in vision


def test_tool_secrets_are_masked_on_every_read(http: httpx.Client, emulator: Emulator) -> None:
    auth = {"type": "bearer", "token": "tok-REAL-1"}
    created = ok(http.post("/v2/tools", json=api_tool(auth=auth)))
    tool_id = created["tool_id"]
    nested = ok(
        http.post(
            "/v2/tools",
            json=api_tool(
                "nested",
                auth={
                    "oauth2_client_credentials": {
                        "token_url": "https://a.example/t",
                        "client_id": "cid",
                        "client_secret": "cs-REAL",
                    }
                },
            ),
        )
    )
    reads = [
        created,
        ok(http.get(f"/v2/tools/{tool_id}")),
        *ok(http.get("/v2/tools"))["data"],
        *ok(http.get("/v2/tools", params={"type": "all", "limit": 100}))["data"],
        ok(http.patch(f"/v2/tools/{tool_id}", json={"description": "Again."})),
        nested,
    ]
    for read in reads:
        assert "REAL" not in json.dumps(read)
    assert created["delivery"]["api"]["auth"] == {"type": "bearer", "token": MASK}
    oauth = nested["delivery"]["api"]["auth"]["oauth2_client_credentials"]
    assert oauth["client_secret"] == MASK and oauth["client_id"] == "cid"
    assert emulator.store.tool_secrets_stored(tool_id) == {
        "/delivery/api/auth/token": "tok-REAL-1"
    }, "a PATCH that leaves the secret out keeps it"


def test_a_read_sent_back_stores_the_asterisks(
    http: httpx.Client, emulator: Emulator, api_key: str
) -> None:
    auth = {"type": "basic", "username": "u", "password": "pw-REAL"}
    tool_id = ok(http.post("/v2/tools", json=api_tool(auth=auth)))["tool_id"]
    read = ok(http.get(f"/v2/tools/{tool_id}"))
    # a new delivery of the same auth kind without the secret keeps it (omit to keep)
    omitted = json.loads(json.dumps(read["delivery"]))
    del omitted["api"]["auth"]["password"]
    ok(http.patch(f"/v2/tools/{tool_id}", json={"delivery": omitted}))
    assert emulator.store.tool_secrets_stored(tool_id) == {"/delivery/api/auth/password": "pw-REAL"}
    assert emulator.store.stored_masks() == []
    # the trap: the read, sent back, replaces the secret with eight asterisks
    ok(http.patch(f"/v2/tools/{tool_id}", json={"delivery": read["delivery"]}))
    assert emulator.store.tool_secrets_stored(tool_id) == {"/delivery/api/auth/password": MASK}
    recorded = [{"tool_id": tool_id, "pointer": "/delivery/api/auth/password"}]
    assert emulator.store.stored_masks() == recorded
    over_http = ok(http.get("/_emulator/stored-masks"))
    assert over_http == {"data": recorded} and "pw-REAL" not in json.dumps(over_http)
    # a create that carries the mask stores it as well
    sent = ok(http.post("/v2/tools", json=api_tool("copy", auth={"type": "bearer", "token": MASK})))
    assert {"tool_id": sent["tool_id"], "pointer": "/delivery/api/auth/token"} in (
        emulator.store.stored_masks()
    )
    # a real secret again clears the record; another auth kind keeps nothing of the old one
    fixed = {"api": {**read["delivery"]["api"], "auth": {**auth, "password": "pw-NEW"}}}
    ok(http.patch(f"/v2/tools/{tool_id}", json={"delivery": fixed}))
    assert emulator.store.tool_secrets_stored(tool_id) == {"/delivery/api/auth/password": "pw-NEW"}
    other_kind = {"api": {**read["delivery"]["api"], "auth": {"type": "bearer"}}}
    assert "needs token" in refused(
        http.patch(f"/v2/tools/{tool_id}", json={"delivery": other_kind})
    )


def test_tool_lists_page_from_one_by_type(http: httpx.Client, emulator: Emulator) -> None:
    for i in range(25):
        emulator.store.create_tool(tool_body(f"tool_{i:02d}"))

    def page(**params: Any) -> dict[str, Any]:
        return dict(ok(http.get("/v2/tools", params=params)))

    first, second, third = (page(limit=10, page=n) for n in (1, 2, 3))
    assert first["total_count"] == 26, "25 and the seeded order_lookup"
    assert [len(p["data"]) for p in (first, second, third)] == [10, 10, 6]
    ids = [t["tool_id"] for p in (first, second, third) for t in p["data"]]
    assert len(set(ids)) == 26 and "end_call" not in ids
    assert page(limit=10, page=4)["data"] == []
    assert page(limit=10, page=0)["data"] == first["data"], "page 0 is read as page 1"
    assert len(page(limit=500)["data"]) == 26, "limit capped at 100, silently"
    assert [t["tool_id"] for t in page(type="system")["data"]] == ["end_call"]
    assert page(type="all", limit=100)["total_count"] == 27
    assert "type must be" in refused(http.get("/v2/tools", params={"type": "mine"}))


# ------------------------------------------------------------------------------- objectives


def test_objectives_crud_fills_item_defaults(http: httpx.Client) -> None:
    body = {
        "name": "qualify",
        "allow_loops": False,
        "data": [
            objective("greet", next_required_objective="ask_budget"),
            objective(
                "ask_budget",
                confirmation_mode="manual",
                modality="audio",
                output_variables=["budget"],
                next_conditional_objectives={"close": "if the budget is enough"},
            ),
            objective("close"),
        ],
    }
    created = ok(http.post("/v2/objectives", json=body))
    oid = created["objectives_id"]
    assert re.fullmatch(r"o[0-9a-f]{10}", oid)
    assert created["status"] == "active" and created["objective_name"] == "qualify"
    assert STAMP.match(created["created_at"])
    stored = ok(http.get(f"/v2/objectives/{oid}"))["data"]
    assert isinstance(stored, dict), "get-by-id wraps one object (1d)"
    assert stored["name"] == "qualify" and stored["allow_loops"] is False
    items = {i["objective_name"]: i for i in stored["data"]}
    assert items["greet"]["confirmation_mode"] == "auto" and items["greet"]["modality"] == "verbal"
    assert items["close"]["confirmation_mode"] == "auto" and items["close"]["modality"] == "verbal"
    assert items["ask_budget"]["confirmation_mode"] == "manual"
    assert items["ask_budget"]["modality"] == "audio"
    assert [o["objective_name"] for o in stored["data"]] == ["greet", "ask_budget", "close"]
    assert STAMP.match(stored["created_at"]) and STAMP.match(stored["updated_at"])
    assert oid in {o["objectives_id"] for o in ok(http.get("/v2/objectives"))["data"]}

    ops = [{"op": "replace", "path": "/data/2/objective_prompt", "value": "Say goodbye."}]
    patched = ok(http.patch(f"/v2/objectives/{oid}", json=ops))
    assert patched["data"][2]["objective_prompt"] == "Say goodbye."
    assert patched["updated_at"] > stored["updated_at"]
    assert http.patch(f"/v2/objectives/{oid}", json=ops).status_code == 304
    # removing a defaulted member is no change: the server writes it back
    removal = [{"op": "remove", "path": "/data/0/modality"}]
    assert http.patch(f"/v2/objectives/{oid}", json=removal).status_code == 304

    assert http.delete(f"/v2/objectives/{oid}").status_code == 204
    assert http.get(f"/v2/objectives/{oid}").status_code == 404
    assert http.delete(f"/v2/objectives/{oid}").status_code == 404
    assert http.patch(f"/v2/objectives/{oid}", json=ops).status_code == 404


def test_objectives_patch_is_json_patch_and_atomic(http: httpx.Client) -> None:
    oid = ok(http.post("/v2/objectives", json={"data": [objective("a"), objective("b")]}))[
        "objectives_id"
    ]
    before = ok(http.get(f"/v2/objectives/{oid}"))["data"]
    assert "JSON patch" in refused(http.patch(f"/v2/objectives/{oid}", json={"name": "x"}), 422)
    half = [
        {"op": "replace", "path": "/data/0/objective_prompt", "value": "changed"},
        {"op": "test", "path": "/data/1/objective_prompt", "value": "not it"},
    ]
    assert "test failed" in refused(http.patch(f"/v2/objectives/{oid}", json=half), 422)
    dangling = [{"op": "add", "path": "/data/0/next_required_objective", "value": "zzz"}]
    assert "not in this set" in refused(http.patch(f"/v2/objectives/{oid}", json=dangling))
    read_only = [{"op": "replace", "path": "/objectives_id", "value": "o1"}]
    assert "read-only" in refused(http.patch(f"/v2/objectives/{oid}", json=read_only))
    assert ok(http.get(f"/v2/objectives/{oid}"))["data"] == before, "nothing was applied"
    add_item = [{"op": "add", "path": "/data/-", "value": objective("c")}]
    grown = ok(http.patch(f"/v2/objectives/{oid}", json=add_item))
    assert grown["data"][2] == {**objective("c"), "confirmation_mode": "auto", "modality": "verbal"}


def _items(n: int) -> list[dict[str, Any]]:
    return [objective(f"step_{i}") for i in range(n)]


BAD_OBJECTIVES: list[tuple[str, Any]] = [
    ("no items", {"data": []}),
    ("51 items", {"data": _items(51)}),
    ("data not a list", {"data": {"a": objective("a")}}),
    ("a name with a space", {"data": [objective("say hi")]}),
    ("a name with a dash", {"data": [objective("say-hi")]}),
    ("a name of 101", {"data": [objective("a" * 101)]}),
    ("no name", {"data": [{"objective_prompt": "x"}]}),
    ("duplicate names", {"data": [objective("a"), objective("a")]}),
    ("no prompt", {"data": [{"objective_name": "a"}]}),
    ("a prompt of 10,001", {"data": [objective("a", objective_prompt="x" * 10_001)]}),
    ("bad confirmation_mode", {"data": [objective("a", confirmation_mode="auto-ish")]}),
    ("bad modality", {"data": [objective("a", modality="written")]}),
    (
        "51 output variables",
        {"data": [objective("a", output_variables=[str(i) for i in range(51)])]},
    ),
    ("a callback of 2049", {"data": [objective("a", callback_url="https://x/" + "a" * 2039)]}),
    (
        "required and conditional both",
        {
            "data": [
                objective(
                    "a", next_required_objective="b", next_conditional_objectives={"c": "if"}
                ),
                objective("b"),
                objective("c"),
            ]
        },
    ),
    ("required names itself", {"data": [objective("a", next_required_objective="a")]}),
    (
        "conditional names itself",
        {"data": [objective("a", next_conditional_objectives={"a": "x"})]},
    ),
    ("required names a stranger", {"data": [objective("a", next_required_objective="b")]}),
    (
        "conditional names a stranger",
        {"data": [objective("a", next_conditional_objectives={"b": "x"})]},
    ),
    (
        "legacy required list names a stranger",
        {"data": [objective("a", next_required_objectives=["z"])]},
    ),
    ("a set name of 101", {"name": "n" * 101, "data": [objective("a")]}),
    ("allow_loops not a boolean", {"allow_loops": "yes", "data": [objective("a")]}),
    ("a read-only id", {"objectives_id": "o1", "data": [objective("a")]}),
]


OBJECTIVE_REASONS = {
    "no items": "list of 1–50",
    "51 items": "list of 1–50",
    "data not a list": "list of 1–50",
    "a name with a space": "data[0].objective_name",
    "a name with a dash": "data[0].objective_name",
    "a name of 101": "data[0].objective_name",
    "no name": "data[0].objective_name",
    "duplicate names": "Duplicate",
    "no prompt": "data[0].objective_prompt",
    "a prompt of 10,001": "data[0].objective_prompt",
    "bad confirmation_mode": "data[0].confirmation_mode",
    "bad modality": "data[0].modality",
    "51 output variables": "At most 50 data[0].output_variables",
    "a callback of 2049": "data[0].callback_url",
    "required and conditional both": "cannot both",
    "required names itself": "names itself",
    "conditional names itself": "names itself",
    "required names a stranger": "names 'b', which is not in this set",
    "conditional names a stranger": "names 'b', which is not in this set",
    "legacy required list names a stranger": "names 'z'",
    "a set name of 101": "'name'",
    "allow_loops not a boolean": "allow_loops",
    "a read-only id": "objectives_id",
}


@pytest.mark.parametrize(("case", "body"), BAD_OBJECTIVES, ids=[c for c, _ in BAD_OBJECTIVES])
def test_objectives_rules_refuse_with_400(http: httpx.Client, case: str, body: Any) -> None:
    count = ok(http.get("/v2/objectives"))["total_count"]
    assert OBJECTIVE_REASONS[case] in refused(http.post("/v2/objectives", json=body))
    verdict = ok(http.post("/v2/objectives/validate", json=body))
    assert verdict["valid"] is False and len(verdict["errors"]) == 1
    assert OBJECTIVE_REASONS[case] in verdict["errors"][0]
    assert ok(http.get("/v2/objectives"))["total_count"] == count, "nothing stored"


def test_objectives_accept_the_limits_and_older_shapes(http: httpx.Client) -> None:
    fifty = {"data": _items(50), "allow_loops": True}
    count = ok(http.get("/v2/objectives"))["total_count"]
    assert ok(http.post("/v2/objectives/validate", json=fifty)) == {"valid": True, "errors": []}
    assert ok(http.get("/v2/objectives"))["total_count"] == count, "validate stores nothing"
    ok(http.post("/v2/objectives", json=fifty))
    chain = [objective("a", next_required_objectives=["b"]), objective("b")]  # 1d's list form
    ok(http.post("/v2/objectives", json={"data": chain}))
    bare = ok(http.post("/v2/objectives", json=[objective("only")]))  # an older doc's bare array
    assert bare["objective_name"] == "only"
    long_name = {"name": "n" * 100, "data": [objective("a" * 100, objective_prompt="x" * 10_000)]}
    ok(http.post("/v2/objectives", json=long_name))


def test_objectives_list_pages_from_one(http: httpx.Client, emulator: Emulator) -> None:
    for i in range(12):
        emulator.store.create_objectives({"data": [objective(f"o{i}")]})
    first = ok(http.get("/v2/objectives", params={"limit": 10, "page": 1}))
    second = ok(http.get("/v2/objectives", params={"limit": 10, "page": 2}))
    assert first["total_count"] == 13 and len(first["data"]) == 10 and len(second["data"]) == 3
    ids = {o["objectives_id"] for o in first["data"] + second["data"]}
    assert len(ids) == 13 and "o12345" in ids


# ------------------------------------------------------------------------------- guardrails


def test_individual_guardrail_crud(http: httpx.Client) -> None:
    body = {"guardrail_name": "no_legal_advice", "guardrail_prompt": "Never give legal advice."}
    created = ok(http.post("/v2/guardrails", json=body))
    gid = created["uuid"]
    assert re.fullmatch(r"g[0-9a-f]{12}", gid)
    assert created["modality"] == "verbal" and created["tags"] == []
    assert created["app_message"] is True and created["callback_url"] == ""
    assert STAMP.match(created["created_at"]) and STAMP.match(created["updated_at"])
    assert ok(http.get(f"/v2/guardrails/{gid}")) == {"data": created}
    flat = ok(http.get("/v2/guardrails", params={"legacy": "false", "page": 0, "limit": 100}))
    assert gid in {g["uuid"] for g in flat["data"]}
    sets = ok(http.get("/v2/guardrails", params={"limit": 100}))["data"]
    assert [s["guardrails_id"] for s in sets] == ["g12345"], "legacy=true (default) lists sets"

    ops = [
        {"op": "add", "path": "/guardrail_prompt", "value": "No legal advice, ever."},
        {"op": "add", "path": "/tags", "value": ["legal", "safety-net", "two words"]},
    ]
    patched = ok(http.patch(f"/v2/guardrails/{gid}", json=ops))
    assert patched["guardrail_prompt"] == "No legal advice, ever." and patched["uuid"] == gid
    assert patched["tags"] == ["legal", "safety-net", "two words"]
    assert http.patch(f"/v2/guardrails/{gid}", json=ops).status_code == 304
    plain = http.patch(f"/v2/guardrails/{gid}", json={"guardrail_prompt": "x"})
    assert "JSON patch" in refused(plain, 422)
    uuid_op = [{"op": "replace", "path": "/uuid", "value": "g000000000000"}]
    assert "read-only" in refused(http.patch(f"/v2/guardrails/{gid}", json=uuid_op))
    bad = [{"op": "add", "path": "/modality", "value": "written"}]
    assert refused(http.patch(f"/v2/guardrails/{gid}", json=bad))
    assert ok(http.get(f"/v2/guardrails/{gid}"))["data"]["modality"] == "verbal"

    assert http.delete(f"/v2/guardrails/{gid}").status_code == 204
    assert http.get(f"/v2/guardrails/{gid}").status_code == 404
    assert http.delete(f"/v2/guardrails/{gid}").status_code == 404


BAD_GUARDRAILS: list[tuple[str, dict[str, Any]]] = [
    ("a name with a dash", {"guardrail_name": "no-pii"}),
    ("a name with a space", {"guardrail_name": "no pii"}),
    ("a name of 101", {"guardrail_name": "g" * 101}),
    ("no prompt", {"guardrail_prompt": None}),
    ("a prompt of 1001", {"guardrail_prompt": "x" * 1001}),
    ("bad modality", {"modality": "written"}),
    ("33 tags", {"tags": [f"t{i}" for i in range(33)]}),
    ("a tag of 65", {"tags": ["t" * 65]}),
    ("a tag with punctuation", {"tags": ["pii!"]}),
    ("tags not a list", {"tags": "pii"}),
    ("app_message not a boolean", {"app_message": "true"}),
    ("a callback of 2049", {"callback_url": "https://x/" + "a" * 2039}),
    ("a read-only uuid", {"uuid": "g000000000000"}),
]


GUARDRAIL_REASONS = {
    "a name with a dash": "guardrail_name",
    "a name with a space": "guardrail_name",
    "a name of 101": "guardrail_name",
    "no prompt": "guardrail_prompt",
    "a prompt of 1001": "guardrail_prompt",
    "bad modality": "modality",
    "33 tags": "At most 32 tags",
    "a tag of 65": "Invalid tag",
    "a tag with punctuation": "Invalid tag",
    "tags not a list": "tags",
    "app_message not a boolean": "app_message",
    "a callback of 2049": "callback_url",
    "a read-only uuid": "uuid",
}


@pytest.mark.parametrize(("case", "fields"), BAD_GUARDRAILS, ids=[c for c, _ in BAD_GUARDRAILS])
def test_guardrail_rules_refuse_with_400(
    http: httpx.Client, case: str, fields: dict[str, Any]
) -> None:
    body = {"guardrail_name": "ok_name", "guardrail_prompt": "Be kind.", **fields}
    sent = {k: v for k, v in body.items() if v is not None}
    assert GUARDRAIL_REASONS[case] in refused(http.post("/v2/guardrails", json=sent))


def test_guardrail_rules_accept_the_limits(http: httpx.Client) -> None:
    body = {
        "guardrail_name": "g" * 100,
        "guardrail_prompt": "x" * 1000,
        "modality": "audio",
        "tags": [f"tag {i}-x_y" for i in range(32)],
        "app_message": False,
        "callback_url": "https://x/" + "a" * 2038,
        "tool_call": {"tool_id": "t457be0aac29c"},
    }
    created = ok(http.post("/v2/guardrails", json=body))
    assert created["app_message"] is False and created["modality"] == "audio"


def test_legacy_sets_keep_working_beside_individual_guardrails(http: httpx.Client) -> None:
    body = {
        "name": "Support rules",
        "data": [
            {"guardrail_name": "no_refunds", "guardrail_prompt": "Never promise refunds."},
            {"guardrail_name": "no_pii", "guardrail_prompt": "Never ask for PII."},
        ],
    }
    created = ok(http.post("/v2/guardrails", json=body))
    sid = created["guardrails_id"]
    assert set(created) == {"guardrails_id", "guardrails_name", "status", "created_at"}
    assert created["guardrails_name"] == "Support rules" and created["status"] == "active"
    listed = ok(http.get("/v2/guardrails", params={"limit": 100}))["data"]
    the_set = next(s for s in listed if s["guardrails_id"] == sid)
    first, second = (item["uuid"] for item in the_set["data"])
    assert the_set["data"][0]["modality"] == "verbal"
    # every item is also an individual guardrail, addressable and listed by its uuid
    assert ok(http.get(f"/v2/guardrails/{first}"))["data"]["guardrail_name"] == "no_refunds"
    flat = ok(http.get("/v2/guardrails", params={"legacy": "false", "limit": 100}))["data"]
    assert {first, second} <= {g["uuid"] for g in flat}
    pal_id = create_pal(http, guardrails_id=sid, guardrail_ids=[first])

    # a field edit keeps the item's uuid; the individual view follows
    edit = [{"op": "replace", "path": "/data/0/guardrail_prompt", "value": "No refunds."}]
    edited = ok(http.patch(f"/v2/guardrails/{sid}", json=edit))
    assert edited["data"][0]["uuid"] == first
    assert ok(http.get(f"/v2/guardrails/{first}"))["data"]["guardrail_prompt"] == "No refunds."
    # an individual edit shows in the set
    ok(
        http.patch(
            f"/v2/guardrails/{second}",
            json=[{"op": "add", "path": "/guardrail_prompt", "value": "No PII at all."}],
        )
    )
    shown = ok(http.get(f"/v2/guardrails/{sid}"))["data"]["data"][1]
    assert shown["uuid"] == second and shown["guardrail_prompt"] == "No PII at all."
    # a whole-object replace of /data/<i> rotates that item's uuid: the old one is gone
    item = {"guardrail_name": "no_pii", "guardrail_prompt": "Never.", "uuid": second}
    replaced = ok(
        http.patch(
            f"/v2/guardrails/{sid}", json=[{"op": "replace", "path": "/data/1", "value": item}]
        )
    )
    rotated = replaced["data"][1]["uuid"]
    assert rotated not in (first, second) and replaced["data"][0]["uuid"] == first
    assert http.get(f"/v2/guardrails/{second}").status_code == 404
    assert ok(http.get(f"/v2/guardrails/{rotated}"))["data"]["guardrail_prompt"] == "Never."
    uuid_op = [{"op": "replace", "path": "/data/0/uuid", "value": "g000000000000"}]
    assert "read-only" in refused(http.patch(f"/v2/guardrails/{sid}", json=uuid_op))
    empty = [{"op": "replace", "path": "/data", "value": []}]
    assert refused(http.patch(f"/v2/guardrails/{sid}", json=empty))

    # deleting the set deletes its items and scrubs guardrails_id from PALs (1e)
    assert http.delete(f"/v2/guardrails/{sid}").status_code == 204
    for gid in (sid, first, rotated):
        assert http.get(f"/v2/guardrails/{gid}").status_code == 404
    assert "guardrails_id" not in pal(http, pal_id)
    assert pal(http, pal_id)["guardrail_ids"] == [first], "undocumented: left dangling"


def test_a_set_without_items_is_refused(http: httpx.Client) -> None:
    assert refused(http.post("/v2/guardrails", json={"name": "Empty", "data": []}))
    assert refused(http.post("/v2/guardrails", json={"name": "Nothing"}))
    bad_item = {"name": "Bad", "data": [{"guardrail_name": "has space", "guardrail_prompt": "x"}]}
    assert "data[0].guardrail_name" in refused(http.post("/v2/guardrails", json=bad_item))


def test_individual_guardrails_page_from_zero(http: httpx.Client, emulator: Emulator) -> None:
    for i in range(12):
        emulator.store.create_guardrail({"guardrail_name": f"rule_{i}", "guardrail_prompt": "x"})
    page0 = ok(http.get("/v2/guardrails", params={"legacy": "false", "limit": 10, "page": 0}))
    page1 = ok(http.get("/v2/guardrails", params={"legacy": "false", "limit": 10, "page": 1}))
    assert page0["total_count"] == 14 and len(page0["data"]) == 10 and len(page1["data"]) == 4
    assert len({g["uuid"] for g in page0["data"] + page1["data"]}) == 14


# ----------------------------------------------------------------- pronunciation dictionaries


def test_dictionary_crud_fills_rule_defaults(http: httpx.Client) -> None:
    body = {
        "name": "Brand",
        "rules": [
            {"text": "Tavus", "pronunciation": "TAH-vus", "type": "alias"},
            {
                "text": "GIF",
                "pronunciation": "dʒɪf",
                "type": "ipa",
                "alphabet": "ipa",
                "case_sensitive": True,
                "word_boundaries": False,
            },
        ],
    }
    created = ok(http.post("/v2/pronunciation-dictionaries", json=body))
    did = created["pronunciation_dictionary_id"]
    assert re.fullmatch(r"pd_[0-9a-f]{12}", did)
    assert STAMP.match(created["created_at"]) and created["name"] == "Brand"
    first, second = created["rules"]
    assert first["case_sensitive"] is False and first["word_boundaries"] is True
    assert second["case_sensitive"] is True and second["word_boundaries"] is False
    assert ok(http.get(f"/v2/pronunciation-dictionaries/{did}")) == created
    listed = ok(http.get("/v2/pronunciation-dictionaries", params={"limit": 100}))
    assert did in {d["pronunciation_dictionary_id"] for d in listed["data"]}

    renamed = ok(http.patch(f"/v2/pronunciation-dictionaries/{did}", json={"name": "Brand 2"}))
    assert renamed["name"] == "Brand 2" and renamed["rules"] == created["rules"]
    rules = [{"text": "SQL", "pronunciation": "sequel"}]
    replaced = ok(http.patch(f"/v2/pronunciation-dictionaries/{did}", json={"rules": rules}))
    assert replaced["rules"] == [{**rules[0], "case_sensitive": False, "word_boundaries": True}]
    ops = [{"op": "replace", "path": "/name", "value": "x"}]
    assert "not a JSON Patch" in refused(
        http.patch(f"/v2/pronunciation-dictionaries/{did}", json=ops)
    )
    read_only = {"pronunciation_dictionary_id": "pd_1"}
    assert "read-only" in refused(
        http.patch(f"/v2/pronunciation-dictionaries/{did}", json=read_only)
    )
    assert http.delete(f"/v2/pronunciation-dictionaries/{did}").status_code == 204
    assert http.get(f"/v2/pronunciation-dictionaries/{did}").status_code == 404
    assert http.delete(f"/v2/pronunciation-dictionaries/{did}").status_code == 404


def _rule(**fields: Any) -> dict[str, Any]:
    return {"text": "Tavus", "pronunciation": "TAH-vus", **fields}


BAD_DICTIONARIES: list[tuple[str, dict[str, Any]]] = [
    ("no name", {"name": None}),
    ("an empty name", {"name": ""}),
    ("a name of 256", {"name": "n" * 256}),
    ("rules not a list", {"rules": {"Tavus": "TAH-vus"}}),
    ("duplicate text", {"rules": [_rule(), _rule(pronunciation="tay-vus")]}),
    ("empty text", {"rules": [_rule(text="")]}),
    ("text of 201", {"rules": [_rule(text="t" * 201)]}),
    ("no pronunciation", {"rules": [{"text": "Tavus"}]}),
    ("pronunciation of 501", {"rules": [_rule(pronunciation="p" * 501)]}),
    ("bad type", {"rules": [_rule(type="phoneme")]}),
    ("bad alphabet", {"rules": [_rule(type="ipa", alphabet="x-sampa")]}),
    ("case_sensitive not a boolean", {"rules": [_rule(case_sensitive="no")]}),
    ("10,001 rules", {"rules": [_rule(text=f"w{i}") for i in range(10_001)]}),
]


DICTIONARY_REASONS = {
    "no name": "'name'",
    "an empty name": "'name'",
    "a name of 256": "'name'",
    "rules not a list": "at most 10000 rules",
    "duplicate text": "Duplicate",
    "empty text": "rules[0].text",
    "text of 201": "rules[0].text",
    "no pronunciation": "rules[0].pronunciation",
    "pronunciation of 501": "rules[0].pronunciation",
    "bad type": "rules[0].type",
    "bad alphabet": "rules[0].alphabet",
    "case_sensitive not a boolean": "rules[0].case_sensitive",
    "10,001 rules": "at most 10000 rules",
}


@pytest.mark.parametrize(("case", "fields"), BAD_DICTIONARIES, ids=[c for c, _ in BAD_DICTIONARIES])
def test_dictionary_rules_refuse_with_400(
    http: httpx.Client, case: str, fields: dict[str, Any]
) -> None:
    body = {k: v for k, v in {"name": "D", **fields}.items() if v is not None}
    assert DICTIONARY_REASONS[case] in refused(
        http.post("/v2/pronunciation-dictionaries", json=body)
    )


def test_dictionary_rules_accept_the_limits(http: httpx.Client) -> None:
    rules = [_rule(text=f"w{i}") for i in range(9_999)] + [
        _rule(text="t" * 200, pronunciation="p" * 500)
    ]
    created = ok(
        http.post("/v2/pronunciation-dictionaries", json={"name": "n" * 255, "rules": rules})
    )
    assert len(created["rules"]) == 10_000


def test_dictionary_list_pages_from_one(http: httpx.Client, emulator: Emulator) -> None:
    seeded = ok(http.get("/v2/pronunciation-dictionaries"))["total_count"]
    for i in range(11):
        emulator.store.create_dictionary({"name": f"D{i}"})
    first = ok(http.get("/v2/pronunciation-dictionaries", params={"limit": 10, "page": 1}))
    second = ok(http.get("/v2/pronunciation-dictionaries", params={"limit": 10, "page": 2}))
    assert first["total_count"] == seeded + 11
    assert len(first["data"]) + len(second["data"]) == seeded + 11 and len(first["data"]) == 10


# -------------------------------------------------------------------------------- documents


def test_document_crud_and_recrawl(http: httpx.Client, emulator: Emulator) -> None:
    body = {
        "document_url": "https://docs.example.com",
        "document_name": "Docs",
        "tags": ["a", "b"],
        "crawl": {"depth": 2, "max_pages": 20},
    }
    created = ok(http.post("/v2/documents", json=body))
    did = created["document_id"]
    assert created["status"] == "started" and created["tags"] == ["a", "b"]
    assert created["crawl_config"] == {"depth": 2, "max_pages": 20}
    assert created["crawl_count"] == 1 and STAMP.match(created["last_crawled_at"])
    assert ok(http.get(f"/v2/documents/{did}")) == created

    patched = ok(
        http.patch(f"/v2/documents/{did}", json={"document_name": "Docs 2", "tags": ["c"]})
    )
    assert patched["document_name"] == "Docs 2" and patched["tags"] == ["c"], "tags overwrite"
    assert patched["document_url"] == "https://docs.example.com"
    assert "cannot be updated" in refused(
        http.patch(f"/v2/documents/{did}", json={"document_url": "https://other.example"})
    )
    assert refused(http.patch(f"/v2/documents/{did}", json={"status": "ready"}))
    ops = [{"op": "replace", "path": "/document_name", "value": "x"}]
    assert "not a JSON Patch" in refused(http.patch(f"/v2/documents/{did}", json=ops))

    # one crawl an hour, the first counting from the create
    assert "an hour" in refused(http.post(f"/v2/documents/{did}/recrawl"))
    emulator.store.recrawl_cooldown = 0.0
    again = ok(http.post(f"/v2/documents/{did}/recrawl"))
    assert again["status"] == "recrawling" and again["crawl_count"] == 2
    emulator.store.recrawl_cooldown = 3600.0
    assert refused(http.post(f"/v2/documents/{did}/recrawl"))
    assert http.post("/v2/documents/d000000000/recrawl").status_code == 404

    assert http.delete(f"/v2/documents/{did}").status_code == 204
    assert http.get(f"/v2/documents/{did}").status_code == 404
    assert http.delete(f"/v2/documents/{did}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"document_url": ""},
        {"document_url": "ftp://files.example.com/a.pdf"},
        {"document_url": "not a url"},
        {"document_url": "https://x.example/a.pdf", "tags": "faq"},
        {"document_url": "https://x.example/a.pdf", "crawl": {"depth": "2"}},
        {"document_url": "https://x.example/a.pdf", "document_name": ""},
    ],
)
def test_document_rules_refuse_with_400(http: httpx.Client, body: dict[str, Any]) -> None:
    assert refused(http.post("/v2/documents", json=body))


def test_at_most_100_crawl_documents(http: httpx.Client, emulator: Emulator) -> None:
    for i in range(100):
        emulator.store.create_document({"document_url": f"https://s{i}.example", "crawl": {}})
    crawl = {"document_url": "https://one-more.example", "crawl": {"depth": 1}}
    assert "100 crawl documents" in refused(http.post("/v2/documents", json=crawl))
    ok(http.post("/v2/documents", json={"document_url": "https://x.example/file.pdf"}))


def test_document_list_pages_from_zero(http: httpx.Client, emulator: Emulator) -> None:
    for i in range(10):
        emulator.store.create_document({"document_url": f"https://x.example/{i}.pdf"})
    page0 = ok(http.get("/v2/documents", params={"limit": 10, "page": 0}))
    page1 = ok(http.get("/v2/documents", params={"limit": 10, "page": 1}))
    assert page0["total_count"] == 11 and (page0["page"], page1["page"]) == (0, 1)
    assert len(page0["data"]) == 10 and len(page1["data"]) == 1 and page1["limit"] == 10


# ------------------------------------------------------------------ references from PALs


def test_a_pal_naming_an_unknown_companion_is_refused(http: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tool_ids": ["t000000000000"]}, "tool_id"),
        ({"tool_ids": ["t457be0aac29c", "nope"]}, "tool_id"),
        ({"layers": {"tts": {"pronunciation_dictionary_id": "pd_000000000000"}}}, "dictionary"),
        ({"objectives_id": "o0000000000"}, "objectives_id"),
        ({"guardrail_ids": ["g000000000000"]}, "guardrail"),
        ({"guardrails_id": "g00000"}, "guardrails_id"),
        ({"document_ids": ["d00000000000"]}, "document_id"),
    ]
    for fields, word in cases:
        assert word in refused(
            http.post("/v2/pals", json={"system_prompt": "x", "default_face_id": FACE, **fields})
        ), fields
    tool = ok(http.post("/v2/tools", json=tool_body()))["tool_id"]
    dictionary = ok(http.post("/v2/pronunciation-dictionaries", json={"name": "D"}))
    pd = dictionary["pronunciation_dictionary_id"]
    pal_id = create_pal(
        http,
        tool_ids=[tool, "end_call"],  # a system tool is a known id
        layers={"tts": {"pronunciation_dictionary_id": pd}},
    )
    assert pal(http, pal_id)["tool_ids"] == [tool, "end_call"]
    # the same checks on PATCH, atomically
    for path, value in (
        ("/tool_ids", [tool, "t000000000000"]),
        ("/layers/tts/pronunciation_dictionary_id", "pd_000000000000"),
    ):
        assert refused(
            http.patch(f"/v2/pals/{pal_id}", json=[{"op": "replace", "path": path, "value": value}])
        )
    assert pal(http, pal_id)["layers"]["tts"]["pronunciation_dictionary_id"] == pd
    cleared = [{"op": "replace", "path": "/layers/tts/pronunciation_dictionary_id", "value": ""}]
    assert http.patch(f"/v2/pals/{pal_id}", json=cleared).status_code == 200, '"" removes it'


def test_deleting_a_companion_a_pal_names(http: httpx.Client) -> None:
    tool = ok(http.post("/v2/tools", json=tool_body()))["tool_id"]
    pd = ok(http.post("/v2/pronunciation-dictionaries", json={"name": "D"}))[
        "pronunciation_dictionary_id"
    ]
    oid = ok(http.post("/v2/objectives", json={"data": [objective("a")]}))["objectives_id"]
    pal_id = create_pal(
        http,
        tool_ids=[tool],
        objectives_id=oid,
        layers={"tts": {"pronunciation_dictionary_id": pd}},
    )
    # documented: a deleted tool is detached from every PAL (1g)
    assert http.delete(f"/v2/tools/{tool}").status_code == 204
    assert pal(http, pal_id)["tool_ids"] == []
    # undocumented: allowed, and the PAL keeps the dangling id
    assert http.delete(f"/v2/pronunciation-dictionaries/{pd}").status_code == 204
    assert http.delete(f"/v2/objectives/{oid}").status_code == 204
    shown = pal(http, pal_id)
    assert shown["objectives_id"] == oid
    assert shown["layers"]["tts"]["pronunciation_dictionary_id"] == pd
    # ... so its next patch is refused until the reference is fixed: every patch is checked whole
    rename = [{"op": "replace", "path": "/pal_name", "value": "Renamed"}]
    assert "objectives_id" in refused(http.patch(f"/v2/pals/{pal_id}", json=rename))
    fix = [*rename, {"op": "remove", "path": "/objectives_id"}]
    assert "pronunciation_dictionary_id" in refused(http.patch(f"/v2/pals/{pal_id}", json=fix))
    fix.append({"op": "remove", "path": "/layers/tts/pronunciation_dictionary_id"})
    assert http.patch(f"/v2/pals/{pal_id}", json=fix).status_code == 200


# ----------------------------------------------------------------------------------- skills


def test_skills_attach_merge_and_detach(http: httpx.Client) -> None:
    pal_id = create_pal(http)
    base = f"/v2/pals/{pal_id}/skills"
    assert ok(http.get(f"{base}/")) == {"data": {}}
    memory = ok(http.put(f"{base}/memory", json={}))
    assert memory["skill_id"] == "memory" and memory["config"] == {}
    assert STAMP.match(memory["attached_at"]) and memory["updated_at"] == memory["attached_at"]
    empty = ok(http.put(f"{base}/presentation"))  # no body at all: no config
    assert empty["config"] == {}
    config = {"max_results": 5, "sources": {"news": True, "web": True}}
    search = ok(http.put(f"{base}/internet_search", json=config))
    assert search["config"] == config, "the body is the config itself (11b)"
    listed = ok(http.get(f"{base}/"))["data"]
    assert set(listed) == {"memory", "presentation", "internet_search"}
    assert listed["internet_search"] == search

    merged = ok(
        http.patch(
            f"{base}/internet_search",
            json={"max_results": None, "sources": {"news": None, "video": True}, "lang": "en"},
        )
    )
    assert merged["config"] == {"sources": {"web": True, "video": True}, "lang": "en"}
    assert merged["attached_at"] == search["attached_at"]
    assert merged["updated_at"] > search["updated_at"]
    assert ok(http.get(f"{base}/internet_search")) == merged
    overwritten = ok(http.put(f"{base}/internet_search", json={"lang": "pt"}))
    assert overwritten["config"] == {"lang": "pt"}, "PUT replaces, PATCH merges"

    assert http.delete(f"{base}/memory").status_code == 204
    assert http.get(f"{base}/memory").status_code == 404
    assert "not attached" in refused(http.patch(f"{base}/memory", json={"a": 1}))
    assert "not attached" in refused(http.delete(f"{base}/memory"))
    assert set(ok(http.get(base))["data"]) == {"presentation", "internet_search"}


def test_skills_put_replaces_the_whole_set(http: httpx.Client) -> None:
    pal_id = create_pal(http)
    base = f"/v2/pals/{pal_id}/skills"
    kept = ok(http.put(f"{base}/presentation", json={"deck": "a"}))
    ok(http.put(f"{base}/memory", json={}))
    body = {"skills": ["internet_search", {"skill_id": "presentation", "config": {"deck": "b"}}]}
    answer = ok(http.put(f"{base}/", json=body))["data"]
    assert set(answer) == {"internet_search", "presentation"}, "memory is detached"
    assert answer["presentation"]["config"] == {"deck": "b"}
    assert answer["presentation"]["attached_at"] == kept["attached_at"]
    assert answer["internet_search"]["config"] == {}
    assert ok(http.get(base))["data"] == answer
    for bad in (
        {"skills": ["memory", "teleport"]},
        {"skills": [{"skill_id": "memory", "config": [1]}]},
        {"skills": ["memory", {"skill_id": "memory"}]},
        {"skills": {"memory": {}}},  # 1a's object form: 11b (newer) says a list
        {"skill": ["memory"]},
    ):
        assert refused(http.put(base, json=bad)), bad
    assert ok(http.get(base))["data"] == answer, "a refused replace changes nothing"
    assert ok(http.put(base, json={"skills": []})) == {"data": {}}


def test_skill_ids_pals_and_configs_are_checked(http: httpx.Client, emulator: Emulator) -> None:
    pal_id = create_pal(http)
    base = f"/v2/pals/{pal_id}/skills"
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        answer = http.request(
            method, f"{base}/teleport", json={} if method in ("PUT", "PATCH") else None
        )
        assert refused(answer, 404) == "Unknown skill 'teleport'", method
    assert "config" in refused(http.put(f"{base}/memory", json=[1, 2]))
    assert "config" in refused(http.put(f"{base}/memory", json="on"))
    assert http.get("/v2/pals/p000000000000/skills").status_code == 404
    assert http.put("/v2/pals/p000000000000/skills/memory", json={}).status_code == 404
    assert ok(http.get("/v2/pals/pcb7a34da5fe/skills")) == {"data": {}}
    assert "system" in refused(http.put("/v2/pals/pcb7a34da5fe/skills/memory", json={}))
    # a deleted PAL takes its skills with it
    ok(http.put(f"{base}/memory", json={}))
    assert http.delete(f"/v2/pals/{pal_id}").status_code == 204
    assert pal_id not in emulator.store.skills
    assert http.get(base).status_code == 404


# ------------------------------------------------------------- paging faults, state, threads


def test_companion_lists_take_the_fault_hooks(http: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add(
        FaultRule("status", path="/v2/pronunciation-dictionaries", status=503, times=1)
    )
    assert http.get("/v2/pronunciation-dictionaries").status_code == 503
    assert http.get("/v2/pronunciation-dictionaries").status_code == 200
    emulator.faults.add(FaultRule("total_count", path="/v2/tools"))
    assert "total_count" not in ok(http.get("/v2/tools"))
    emulator.faults.add(FaultRule("total_count", path="/v2/objectives", value=99))
    assert ok(http.get("/v2/objectives"))["total_count"] == 99
    counts = emulator.request_counts()
    assert counts["GET /v2/pronunciation-dictionaries"] == 2


def test_companions_persist_and_reload(tmp_path: Path, api_key: str) -> None:
    state = tmp_path / "state.json"
    with Emulator(state_file=state, api_key=api_key) as emu:
        s = emu.store
        kept = s.create_tool(api_tool(auth={"type": "bearer", "token": "tok-SECRET-9"}))
        trapped = s.create_tool(api_tool("trapped", auth={"type": "bearer", "token": "x-SECRET"}))
        s.patch_tool(trapped["tool_id"], {"delivery": trapped["delivery"]})  # the mask sent back
        oid = s.create_objectives({"name": "set", "data": [objective("a")]})["objectives_id"]
        gid = s.create_guardrail({"guardrail_name": "g", "guardrail_prompt": "p"})["uuid"]
        sid = s.create_guardrail(
            {"name": "S", "data": [{"guardrail_name": "i", "guardrail_prompt": "p"}]}
        )["guardrails_id"]
        pd = s.create_dictionary({"name": "D", "rules": [_rule()]})["pronunciation_dictionary_id"]
        did = s.create_document({"document_url": "https://x.example/a.pdf"})["document_id"]
        pal_id = s.create_pal(
            {
                "pal_name": "P",
                "system_prompt": "x",
                "default_face_id": FACE,
                "tool_ids": [kept["tool_id"]],
            },
            legacy=False,
        )["pal_id"]
        s.put_skill(pal_id, "memory", {"window": 3})
    text = state.read_text()
    assert "SECRET" not in text, "tool secrets are sealed in the state file"
    with Emulator(state_file=state, api_key=api_key) as again:
        t = again.store
        assert t.get_tool(kept["tool_id"])["delivery"]["api"]["auth"]["token"] == MASK
        assert t.stored_masks() == [
            {"tool_id": trapped["tool_id"], "pointer": "/delivery/api/auth/token"}
        ], "a stored mask is still one after a reload"
        assert t.get_objectives(oid)["data"][0]["modality"] == "verbal"
        assert t.get_guardrail(gid)["guardrail_name"] == "g"
        assert t.get_guardrail(sid)["guardrails_name"] == "S"
        assert t.get_dictionary(pd)["rules"][0]["word_boundaries"] is True
        assert t.get_document(did)["document_url"] == "https://x.example/a.pdf"
        assert t.get_skill(pal_id, "memory")["config"] == {"window": 3}
        with httpx.Client(base_url=again.url, headers={"x-api-key": api_key}) as http:
            assert ok(http.get(f"/v2/pals/{pal_id}/skills"))["data"]["memory"]["config"] == {
                "window": 3
            }


def test_a_state_file_from_before_sets_and_dictionaries_loads(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator(state_file=state) as emu:
        emu.store.create_pal(
            {"pal_name": "Old", "system_prompt": "x", "default_face_id": FACE}, legacy=False
        )
    data = json.loads(state.read_text())
    data["objectives"] = {
        "o99999": {
            "objectives_id": "o99999",
            "objective_name": "flat_one",
            "objective_prompt": "An objective stored before sets.",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
    }
    for key in ("dictionaries", "skills"):
        data.pop(key)
    state.write_text(json.dumps(data))
    with Emulator(state_file=state) as again:
        found = again.store.get_objectives("o99999")
        assert found["data"] == [
            {"objective_name": "flat_one", "objective_prompt": "An objective stored before sets."}
        ]
        assert "pd_abc123def456" in again.store.dictionaries and again.store.skills == {}


def test_concurrent_creates_keep_names_unique(emulator: Emulator, api_key: str) -> None:
    def post(i: int) -> tuple[int, int]:
        with httpx.Client(base_url=emulator.url, headers={"x-api-key": api_key}) as c:
            distinct = c.post("/v2/tools", json=tool_body(f"tool_{i}")).status_code
            same = c.post("/v2/tools", json=tool_body("contested")).status_code
            return distinct, same

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(post, range(64)))
    assert all(distinct == 200 for distinct, _ in results)
    assert sorted(same for _, same in results) == [200] + [400] * 63, "one name, one tool"
    assert len(emulator.store.list_tools("user")) == 1 + 64 + 1


def test_a_deleted_tool_is_detached_from_a_pal_that_is_still_committing(
    emulator: Emulator, http: httpx.Client
) -> None:
    """§1g: a deleted tool is detached from every PAL, a PAL still landing (slow commit)
    included: for the server it exists already."""
    tool_id = ok(http.post("/v2/tools", json=tool_body("doomed")))["tool_id"]
    emulator.store.commit_delay = 0.5
    pal_id = create_pal(http, tool_ids=[tool_id, "end_call"])
    assert http.get(f"/v2/pals/{pal_id}").status_code == 404, "still committing"
    assert http.delete(f"/v2/tools/{tool_id}").status_code == 204
    emulator.store.settle(wait=True)
    assert pal(http, pal_id)["tool_ids"] == ["end_call"]


def test_the_documents_list_honours_its_documented_filters(http: httpx.Client) -> None:
    """§1f: `status`, `name_or_uuid`, `tags=a,b`, `sort`; a filter narrows the count too."""
    made = [
        ok(http.post("/v2/documents", json={"document_url": url, "document_name": name, "tags": t}))
        for url, name, t in [
            ("https://a.example/faq.pdf", "Zebra handbook", ["zebra-public"]),
            ("https://b.example/price.pdf", "Quokka prices", ["quokka-internal"]),
        ]
    ]

    def listed(**params: str) -> list[str]:
        body = ok(http.get("/v2/documents", params={"limit": 100, **params}))
        assert body["total_count"] == len(body["data"])
        return [d["document_id"] for d in body["data"]]

    ids = [d["document_id"] for d in made]
    assert listed(name_or_uuid="ZEBRA") == [ids[0]]
    assert listed(name_or_uuid=ids[1]) == [ids[1]]
    assert set(listed(tags="quokka-internal,zebra-public")) == set(ids)
    assert listed(tags="quokka-internal") == [ids[1]]
    assert set(ids) <= set(listed(status="started"))
    assert listed(status="nonsense") == []
    everything = listed(sort="ascending")
    assert listed(sort="descending") == list(reversed(everything))
    refused(http.get("/v2/documents", params={"sort": "sideways"}))
