"""The emulator under hostile requests (a review of its companion kinds): every bad request is a
4xx JSON answer, never a 500 or a dropped connection; no patch stores a document that breaks a
later read; a patch cannot rewrite read-only fields through the document root."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from palsync.emulator import Emulator

FACE = "r90bbd427f71"


@pytest.fixture
def http(emulator: Emulator, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, headers={"x-api-key": api_key}) as client:
        yield client


def nest(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    cur = root
    for _ in range(depth):
        cur["a"] = {}
        cur = cur["a"]
    return root


def is_4xx_json(response: httpx.Response) -> bool:
    return 400 <= response.status_code < 500 and isinstance(response.json(), dict)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v2/objectives", {"data": 5}),
        ("POST", "/v2/objectives", {"data": None}),
        ("PATCH", "/v2/objectives/o12345", [{"op": "replace", "path": "/data", "value": 5}]),
        ("POST", "/v2/pronunciation-dictionaries", {"name": "D", "rules": 5}),
        ("POST", "/v2/pronunciation-dictionaries", {"name": "D", "rules": True}),
        ("PATCH", "/v2/pronunciation-dictionaries/pd_abc", {"rules": 5}),
    ],
)
def test_a_list_member_of_the_wrong_type_is_a_400_not_a_500(
    http: httpx.Client, method: str, path: str, body: Any
) -> None:
    """fill_objective_defaults / fill_dictionary_defaults iterate before the check runs."""
    assert is_4xx_json(http.request(method, path, json=body))


@pytest.mark.parametrize(
    "path", ["/v2/objectives/o12345", "/v2/guardrails/g12345", "/v2/pals/pcb7a34da5fe"]
)
@pytest.mark.parametrize("op", [["add"], {"add": 1}])
def test_an_op_name_of_the_wrong_type_is_a_422_not_a_500(
    http: httpx.Client, path: str, op: Any
) -> None:
    """patching.check_patch_format: `op.get("op") in PATCH_OPS` on an unhashable value."""
    answer = http.patch(path, json=[{"op": op, "path": "/x", "value": 1}])
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v2/documents", {"document_url": "https://["}),
        ("/v2/documents", {"document_url": "https://exa\uff03mple.com/a.pdf"}),
        (
            "/v2/tools",
            {"name": "t", "description": "d", "delivery": {"api": {"url": "https://[::1/x"}}},
        ),
    ],
)
def test_a_url_urlsplit_refuses_is_a_400_not_a_500(
    http: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    """companion_rules.need_url: urlsplit raises ValueError (bad IPv6, NFKC netloc)."""
    assert is_4xx_json(http.post(path, json=body))


def test_deep_nesting_is_a_4xx_not_a_500(http: httpx.Client) -> None:
    """copy.deepcopy of the body hits the recursion limit at ~490 levels."""
    answer = http.post("/v2/pronunciation-dictionaries", json={"name": "D", "x": nest(600)})
    assert is_4xx_json(answer), answer.text


def test_a_patch_cannot_store_a_document_that_breaks_the_list(http: httpx.Client) -> None:
    """Each JSON Patch adds one level; every write answers 200 until the objectives list
    (deepcopy of the whole collection, one level deeper) answers 500 for good."""
    path = "/data/0/x"
    assert http.patch("/v2/objectives/o12345", json=[{"op": "add", "path": path, "value": {}}])
    for _ in range(600):
        path += "/a"
        answer = http.patch(
            "/v2/objectives/o12345", json=[{"op": "add", "path": path, "value": {}}]
        )
        if answer.status_code != 200:
            assert is_4xx_json(answer)
            break
        assert http.get("/v2/objectives").status_code == 200, "the list is poisoned"


def test_a_deeply_nested_body_gets_an_answer(emulator: Emulator, api_key: str) -> None:
    """_read_body catches ValueError only: json's RecursionError drops the connection
    (pre-existing, now on every new endpoint)."""
    raw = "[" * 100_000 + "]" * 100_000
    with httpx.Client(base_url=emulator.url, headers={"x-api-key": api_key}) as c:
        answer = c.post("/v2/tools", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v2/objectives", {"data": [{"objective_name": "abc\n", "objective_prompt": "p"}]}),
        ("/v2/guardrails", {"guardrail_name": "abc\n", "guardrail_prompt": "p"}),
        ("/v2/guardrails", {"guardrail_name": "abc", "guardrail_prompt": "p", "tags": ["x\n"]}),
        ("/v2/tools", {"name": "lookup\n", "description": "d"}),
    ],
)
def test_a_name_with_a_trailing_newline_is_refused(
    http: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    """`re.match` with `^…$`: `$` also matches before a final newline (use fullmatch)."""
    assert http.post(path, json=body).status_code == 400


def test_a_root_replace_cannot_rewrite_read_only_fields(http: httpx.Client) -> None:
    """refuse_read_only looks at the first token of a path: path "" passes."""
    value = {
        "objectives_id": "oHIJACKED",
        "created_at": "x",
        "data": [{"objective_name": "a", "objective_prompt": "b"}],
    }
    http.patch("/v2/objectives/o12345", json=[{"op": "replace", "path": "", "value": value}])
    shown = http.get("/v2/objectives/o12345").json()["data"]
    assert shown["objectives_id"] == "o12345" and shown["created_at"] != "x"
    bare = {"guardrail_name": "x", "guardrail_prompt": "y"}
    http.patch("/v2/guardrails/g1234567890ab", json=[{"op": "replace", "path": "", "value": bare}])
    assert http.get("/v2/guardrails/g1234567890ab").json()["data"].get("uuid") == "g1234567890ab"


def test_validating_objectives_of_the_wrong_type_answers_invalid_not_a_500(
    http: httpx.Client,
) -> None:
    answer = http.post("/v2/objectives/validate", json={"data": 5})
    assert answer.status_code == 200 and answer.json()["valid"] is False


def test_an_api_delivery_needs_a_url(http: httpx.Client) -> None:
    """1g / 11c: `api: {url, method, …}`."""
    body = {"name": "nourl", "description": "d", "delivery": {"api": {}}}
    assert http.post("/v2/tools", json=body).status_code == 400
