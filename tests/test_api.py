"""The client: paging, retries, error mapping and secrecy; fakes first, then the real emulator."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from palsync.api import TavusClient, client_from_env
from palsync.emulator import Emulator, FaultRule
from palsync.errors import ApiError, MakerConflict, OutcomeUnknown, UsageError

FACE = "r90bbd427f71"
KEY = "k-secret-api-key-42"
Handler = Callable[[httpx.Request], httpx.Response]


def fake(handler: Handler, **kw: Any) -> TavusClient:
    kw.setdefault("backoff_base", 0.001)
    return TavusClient("https://api.test", KEY, transport=httpx.MockTransport(handler), **kw)


def pals_server(total: int, cap: int = 100, base: int = 1) -> tuple[Handler, list[str]]:
    seen: list[str] = []
    items = [
        {"pal_id": f"p{i:011x}", "pal_name": f"P{i}", "pal_type": "user"} for i in range(total)
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.params))
        limit = min(int(request.url.params["limit"]), cap)
        page = int(request.url.params["page"])
        start = (page - base) * limit
        data = items[start : start + limit] if page >= base else items[:limit]
        return httpx.Response(200, json={"data": data, "total_count": total})

    return handler, seen


def test_list_pals_fetches_every_page_once() -> None:
    handler, seen = pals_server(250)
    with fake(handler) as client:
        pals = client.list_pals()
    assert len(pals) == 250 and len({p["pal_id"] for p in pals}) == 250
    assert len(seen) == 3


def test_list_pals_pages_by_items_actually_returned() -> None:
    handler, seen = pals_server(120, cap=50)  # the server caps limit silently
    with fake(handler) as client:
        pals = client.list_pals()
    assert len(pals) == 120 and len(seen) == 3


def test_list_pals_falls_back_to_zero_based_pages() -> None:
    handler, _ = pals_server(150, base=0)  # page=1 is the *second* page on such a server
    with fake(handler) as client:
        pals = client.list_pals()
    assert len({p["pal_id"] for p in pals}) == 150


def test_list_pals_filters_stock_and_templates() -> None:
    data = [
        {"pal_id": "pcb7a34da5fe", "pal_type": "user"},
        {"pal_id": "p00000000001", "pal_type": "system"},
        {"pal_id": "p00000000002", "pal_type": "user", "is_template": True},
        {"pal_id": "p00000000003", "pal_type": "user"},
    ]
    with fake(lambda r: httpx.Response(200, json={"data": data, "total_count": 4})) as client:
        assert [p["pal_id"] for p in client.list_pals()] == ["p00000000003"]


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"pal_id": "p1", "pal_name": "A"}]},
        {"data": {"pal_id": "p1", "pal_name": "A"}},
        {"pal_id": "p1", "pal_name": "A"},
    ],
)
def test_get_pal_accepts_every_documented_shape(body: dict[str, Any]) -> None:
    with fake(lambda r: httpx.Response(200, json=body)) as client:
        assert client.get_pal("p1") == {"pal_id": "p1", "pal_name": "A"}


def test_get_pal_missing_is_none() -> None:
    with fake(lambda r: httpx.Response(400, json={"error": "Invalid persona_id"})) as client:
        assert client.get_pal("p1") is None


def test_retry_after_is_honoured_then_success() -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "0.3"}, json={"message": "slow"})
        return httpx.Response(200, json={"data": [], "total_count": 0})

    with fake(handler) as client:  # backoff alone would wait about a millisecond
        assert client.list_objectives() == []
    assert len(calls) == 2
    assert 0.3 <= calls[1] - calls[0] < 5.0, "the retry waited for Retry-After"


def test_gives_up_with_a_clear_message_when_the_budget_is_spent() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, headers={"Retry-After": "0.2"}, json={"message": "down"})

    client = fake(handler, max_retries=50, retry_budget=0.5)
    with client, pytest.raises(ApiError) as info:
        client.list_faces()
    assert len(calls) == 3, "two waits of 0.2 s fit in the 0.5 s budget, a third does not"
    assert info.value.status == 503
    assert "gave up after 3 attempts (the retry time budget of 0.5 s is spent): 503 down" in (
        info.value.message
    )


def test_gives_up_after_max_retries() -> None:
    client = fake(lambda r: httpx.Response(503, json={"message": "down"}), max_retries=3)
    with client, pytest.raises(ApiError) as info:
        client.list_faces()
    assert info.value.status == 503
    assert "gave up after 4 attempts: 503 down" in info.value.message


def test_a_refused_key_and_an_unreachable_api_each_say_what_to_check() -> None:
    refused = fake(lambda r: httpx.Response(401, json={"message": "Invalid access token"}))
    with refused, pytest.raises(ApiError) as info:
        refused.list_faces()
    assert info.value.status == 401 and "check TAVUS_API_KEY" in info.value.hint

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    unreachable = fake(down, max_retries=1)
    with unreachable, pytest.raises(ApiError) as info:
        unreachable.list_faces()
    assert "cannot connect to https://api.test; check TAVUS_API_URL" in info.value.hint


def test_create_is_never_blindly_retried_after_a_5xx() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502, json={"message": "bad gateway"})

    with fake(handler) as client, pytest.raises(OutcomeUnknown):
        client.create_pal({"pal_name": "x"})
    assert len(calls) == 1


def test_create_is_retried_on_429_and_connect_errors() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(calls) == 2:
            return httpx.Response(429, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"pal_id": "p123", "pal_name": "x"})

    with fake(handler) as client:
        assert client.create_pal({"pal_name": "x"})["pal_id"] == "p123"
    assert len(calls) == 3


def test_read_timeout_on_create_is_outcome_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with fake(handler) as client, pytest.raises(OutcomeUnknown):
        client.create_pal({"pal_name": "x"})


def test_errors_carry_method_path_status_and_message() -> None:
    client = fake(lambda r: httpx.Response(400, json={"error": "Invalid face_id"}))
    with client, pytest.raises(ApiError) as info:
        client.create_pal({"pal_name": "x"})
    assert (info.value.method, info.value.path, info.value.status) == ("POST", "/v2/pals", 400)
    assert "Invalid face_id" in str(info.value)


def test_plain_http_is_refused_except_loopback() -> None:
    with pytest.raises(UsageError):
        TavusClient("http://tavusapi.com", KEY)
    TavusClient("http://127.0.0.1:9", KEY).close()
    TavusClient("http://localhost:9", KEY).close()


def test_missing_key_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAVUS_API_KEY", raising=False)
    with pytest.raises(UsageError) as info:
        client_from_env()
    assert "TAVUS_API_KEY" in info.value.hint


# --------------------------------------------------------------------- against the emulator


def real(emulator: Emulator, api_key: str, **kw: Any) -> TavusClient:
    kw.setdefault("backoff_base", 0.001)
    return TavusClient(emulator.url, api_key, **kw)


def test_contract_create_get_patch_delete(emulator: Emulator, api_key: str) -> None:
    with real(emulator, api_key) as client:
        created = client.create_pal(
            {"pal_name": "C", "system_prompt": "hi", "default_face_id": FACE}
        )
        pal_id = created["pal_id"]
        assert client.get_pal(pal_id)["pal_name"] == "C"  # type: ignore[index]
        same = client.patch_pal(pal_id, [{"op": "replace", "path": "/pal_name", "value": "C"}])
        assert same.changed is False and same.status == 304
        done = client.patch_pal(pal_id, [{"op": "replace", "path": "/pal_name", "value": "D"}])
        assert done.changed and done.status == 200
        assert [p["pal_name"] for p in client.find_pals_by_name("D")] == ["D"]
        assert client.delete_pal(pal_id) is True
        assert client.delete_pal(pal_id) is False
        assert client.get_pal(pal_id) is None


def test_contract_references(emulator: Emulator, api_key: str) -> None:
    with real(emulator, api_key) as client:
        assert FACE in {f["face_id"] for f in client.list_faces()}
        assert {g.get("uuid") or g.get("guardrails_id") for g in client.list_guardrails()} >= {
            "g1234567890ab",
            "g12345",
        }
        assert [o["objectives_id"] for o in client.list_objectives()] == ["o12345"]
        assert [d["document_id"] for d in client.list_documents()] == ["d1234567890"]


def test_contract_list_pages_concurrently(emulator: Emulator, api_key: str) -> None:
    for i in range(230):
        emulator.store.create_pal(
            {"pal_name": f"L{i}", "system_prompt": "x", "default_face_id": FACE}, legacy=False
        )
    with real(emulator, api_key) as client:
        assert len(client.list_pals()) == 230
    assert emulator.request_counts()["GET /v2/pals"] == 3


def test_contract_maker_conflict_and_force(emulator: Emulator, api_key: str) -> None:
    with real(emulator, api_key) as client:
        pal_id = client.create_pal(
            {"pal_name": "M", "system_prompt": "hi", "default_face_id": FACE}
        )["pal_id"]
        emulator.store.set_maker_draft(pal_id)
        ops = [{"op": "replace", "path": "/pal_name", "value": "M2"}]
        with pytest.raises(MakerConflict):
            client.patch_pal(pal_id, ops)
        forced = client.patch_pal(pal_id, ops, force=True)
        assert forced.discarded_maker_changes


def test_contract_survives_429_bursts_and_5xx(emulator: Emulator, api_key: str) -> None:
    emulator.faults.add(FaultRule("status", path="/v2/pals", status=429, retry_after="0", times=3))
    emulator.faults.add(FaultRule("status", path="/v2/faces", status=503, times=2))
    with real(emulator, api_key) as client:
        assert client.list_pals() == []
        assert client.list_faces()
    assert emulator.request_counts()["GET /v2/pals"] == 4


def test_contract_dropped_create_is_outcome_unknown_and_the_pal_exists(
    emulator: Emulator, api_key: str
) -> None:
    emulator.faults.add(FaultRule("drop_after_commit", method="POST", path="/v2/pals", times=1))
    with real(emulator, api_key) as client, pytest.raises(OutcomeUnknown):
        client.create_pal({"pal_name": "Ghost", "system_prompt": "hi", "default_face_id": FACE})
    assert len(emulator.store.pals_named("Ghost")) == 1
    assert emulator.request_counts()["POST /v2/pals"] == 1, "never sent twice"


def test_contract_timeout_then_retry_for_reads(emulator: Emulator, api_key: str) -> None:
    emulator.faults.add(FaultRule("delay", path="/v2/faces", seconds=0.5, times=1))
    lines: list[str] = []
    with real(emulator, api_key, timeout=0.2, log=lines.append) as client:
        assert client.list_faces()
    attempts = [line for line in lines if line.startswith("GET /v2/faces") and " -> " in line]
    assert len(attempts) == 2 and "ReadTimeout" in attempts[0]


def test_contract_dropped_patch_is_outcome_unknown(emulator: Emulator, api_key: str) -> None:
    with real(emulator, api_key) as client:
        pal_id = client.create_pal(
            {"pal_name": "P", "system_prompt": "hi", "default_face_id": FACE}
        )["pal_id"]
        emulator.faults.add(
            FaultRule("drop_after_commit", method="PATCH", path="/v2/pals/*", times=1)
        )
        with pytest.raises(OutcomeUnknown):
            client.patch_pal(pal_id, [{"op": "remove", "path": "/pal_name"}])
    assert emulator.store.get(pal_id) is not None


def test_the_api_key_never_appears_in_logs_errors_or_reprs(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-live-NEVER-PRINT-ME-0123456789"
    emulator.api_key = key
    lines: list[str] = []
    texts: list[str] = []
    emulator.faults.add(FaultRule("status", path="/v2/faces", status=503))
    emulator.faults.add(FaultRule("drop_after_commit", method="POST", path="/v2/pals"))
    with caplog.at_level(logging.DEBUG):
        client = TavusClient(emulator.url, key, backoff_base=0.001, max_retries=2, log=lines.append)
        texts.append(repr(client))
        for call in (
            client.list_faces,
            lambda: client.create_pal(
                {"pal_name": "x", "system_prompt": "y", "default_face_id": FACE}
            ),
            lambda: client.patch_pal("pnope", [{"op": "bad"}]),
        ):
            try:
                call()
            except ApiError as err:
                texts += [str(err), repr(err), err.message, json.dumps(err.body or {})]
        client.close()
        wrong = TavusClient(emulator.url, "sk-wrong-KEY-also-secret", backoff_base=0.001)
        with pytest.raises(ApiError) as info:
            wrong.list_pals()
        texts.append(str(info.value))
        wrong.close()
    everything = "\n".join(lines + texts + [r.getMessage() for r in caplog.records])
    assert lines, "the request log was captured"
    assert key not in everything
    assert "sk-wrong-KEY-also-secret" not in everything


@pytest.mark.parametrize(
    ("total", "cap", "expected", "requests"),
    [(250, 100, 250, 3), (250, 100, 100, 3), (120, 50, 120, 3), (30, 100, 0, 1), (5, 100, 900, 10)],
)
def test_expected_count_fetches_all_pages_at_once_and_stays_correct(
    total: int, cap: int, expected: int, requests: int
) -> None:
    handler, seen = pals_server(total, cap=cap)
    with fake(handler) as client:
        pals = client.list_pals(expected=expected)
    assert len({p["pal_id"] for p in pals}) == total
    assert len(seen) == requests


def test_the_pace_climbs_back_fast_after_a_burst_of_429s() -> None:
    from palsync.api import RateGovernor

    now = [0.0]
    governor = RateGovernor(clock=lambda: now[0])
    headers = httpx.Headers()

    def step(ok: bool) -> None:
        sent = now[0]
        now[0] += 1 / governor.rate if governor.rate else 0.05
        if ok:
            governor.success(headers)
        else:
            governor.throttled(sent, headers, None)

    while now[0] < 2:
        step(True)
    while now[0] < 12:  # ten seconds of nothing but 429s: the pace falls far
        step(False)
    assert governor.rate is not None and governor.rate < 2
    started = now[0]
    while governor.rate < 15 and now[0] - started < 300:
        step(True)
    assert now[0] - started < 30, "back near the limit in seconds, not minutes"
