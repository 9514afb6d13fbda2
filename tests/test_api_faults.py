"""Issue 10 (client side): a misbehaving or hostile server, user mistakes in the client's
configuration, visible retries, and the adaptive rate limit; against the real emulator over
loopback (its fault kinds: total_count, redirect, body, huge, rate limit) and the real CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from palsync import api, redact
from palsync.api import TavusClient
from palsync.emulator import Emulator, FaultRule
from palsync.errors import ApiError, OutcomeUnknown, UsageError
from tests.workflow import FACE, Workspace, pal_body

KEY = "k-secret-api-key-42"


def real(emulator: Emulator, api_key: str, **kw: Any) -> TavusClient:
    kw.setdefault("backoff_base", 0.001)
    return TavusClient(emulator.url, api_key, **kw)


def seed(emulator: Emulator, count: int) -> None:
    for i in range(count):
        emulator.store.create_pal(
            {"pal_name": f"L{i}", "system_prompt": "x", "default_face_id": FACE}, legacy=False
        )


def pal_gets(emulator: Emulator) -> int:
    return emulator.request_counts().get("GET /v2/pals", 0)


# --------------------------------------------------------------------- item 3: lists


@pytest.mark.parametrize("expected", [0, 100])
def test_a_list_without_total_count_is_read_to_the_end(
    emulator: Emulator, api_key: str, expected: int
) -> None:
    seed(emulator, 150)
    emulator.faults.add(FaultRule("total_count", path="/v2/pals"))  # removed from every page
    with real(emulator, api_key) as client:
        assert len({p["pal_id"] for p in client.list_pals(expected)}) == 150


@pytest.mark.parametrize("value", [10**7, "150", 3.5, None, -4])
def test_a_lying_or_odd_total_count_costs_requests_never_items(
    emulator: Emulator, api_key: str, value: Any
) -> None:
    seed(emulator, 150)
    emulator.faults.add(FaultRule("total_count", path="/v2/pals", value=value))
    with real(emulator, api_key) as client:
        assert len(client.list_pals()) == 150
    assert pal_gets(emulator) <= 20, "a claim of 10^7 items must not make thousands of requests"


@pytest.mark.parametrize("offset", [1, -1])
def test_a_count_off_by_one_does_not_fail(emulator: Emulator, api_key: str, offset: int) -> None:
    seed(emulator, 150)  # e.g. a PAL deleted mid-listing: total_count says 150, 149 arrive
    emulator.faults.add(FaultRule("total_count", path="/v2/pals", offset=offset))
    with real(emulator, api_key) as client:
        assert len(client.list_pals()) == 150


def test_an_unchanged_account_is_still_one_round_trip(emulator: Emulator, api_key: str) -> None:
    seed(emulator, 200)
    with real(emulator, api_key) as client:
        assert len(client.list_pals(expected=200)) == 200
    # pages 1, 2 and 3 asked at once (the predicted pages and one more): one round trip, and
    # the empty page 3, not an agreement of counts that may both be wrong, ends the listing
    assert pal_gets(emulator) == 3
    emulator.log.clear()
    seed(emulator, 1)  # one more than the lock knows: the full page 2 is not taken as the end
    with real(emulator, api_key) as client:
        assert len(client.list_pals(expected=200)) == 201
    assert pal_gets(emulator) == 3


def test_the_other_lists_are_read_to_the_end_too(emulator: Emulator, api_key: str) -> None:
    emulator.faults.add(FaultRule("total_count", path="/v2/*"))
    with real(emulator, api_key) as client:
        assert FACE in {f["face_id"] for f in client.list_faces()}
        assert [o["objectives_id"] for o in client.list_objectives()] == ["o12345"]
        assert [d["document_id"] for d in client.list_documents()] == ["d1234567890"]
        assert len(client.list_guardrails()) >= 2


def _fake(handler: Any, **kw: Any) -> TavusClient:
    kw.setdefault("backoff_base", 0.001)
    return TavusClient("https://api.test", KEY, transport=httpx.MockTransport(handler), **kw)


def test_a_server_that_ignores_page_is_an_error_not_a_loop() -> None:
    calls: list[int] = []
    items = [{"pal_id": f"p{i:011x}", "pal_type": "user"} for i in range(100)]

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, json={"data": items, "total_count": 500})

    with _fake(handler) as client, pytest.raises(ApiError) as info:
        client.list_pals()
    assert "GET /v2/pals" in str(info.value) and "does not seem to honour `page`" in str(info.value)
    assert len(calls) < 40


def test_endless_full_pages_stop_at_the_page_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "MAX_PAGES", 30)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        calls.append(page)
        data = [{"pal_id": f"p{page:05x}{i:06x}", "pal_type": "user"} for i in range(100)]
        return httpx.Response(200, json={"data": data})

    with _fake(handler) as client, pytest.raises(ApiError) as info:
        client.list_pals()
    assert "GET /v2/pals" in str(info.value) and "after 30 pages" in str(info.value)
    assert len(calls) == 30


def test_a_zero_based_server_without_total_count_is_read_whole() -> None:
    items = [{"pal_id": f"p{i:011x}", "pal_type": "user"} for i in range(150)]

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])  # 0-based: page=1 is the second page
        return httpx.Response(200, json={"data": items[page * 100 : page * 100 + 100]})

    with _fake(handler) as client:
        assert len(client.list_pals()) == 150


def test_import_all_without_total_count_imports_every_pal(ws: Workspace) -> None:
    seed(ws.emulator, 150)
    ws.emulator.faults.add(FaultRule("total_count", path="/v2/pals"))
    result = ws.run("import", "--all")
    assert result.code == 0, result.err
    assert len(list(ws.pals.glob("*.yaml"))) + len(list(ws.pals.glob("*.md"))) == 150


def test_adopting_150_pals_without_total_count_creates_none(ws: Workspace) -> None:
    for i in range(150):
        ws.emulator.store.create_pal(pal_body(i), legacy=False)
        ws.write(f"p{i:03d}", pal_body(i))
    ws.emulator.faults.add(FaultRule("total_count", path="/v2/pals"))
    result = ws.run("plan", "--format", "json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)["summary"]
    assert summary["create"] == 0 and summary["adopt"] == 150, summary


# --------------------------------------------------------------------- item 6: not the API


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (dict(kind="redirect"), "answered 302, a redirect to https://login.example.com"),
        (dict(kind="body"), "answered 200 with text/html, not JSON"),
        (
            dict(kind="body", content_type="application/json", text="<html>"),
            "answered 200 with a body that is not valid JSON",
        ),
        (dict(kind="body", content_type="application/json", text="[1, 2]"), "not an object"),
    ],
)
def test_get_and_list_answers_that_are_not_the_apis_are_errors(
    emulator: Emulator, api_key: str, fault: dict[str, Any], said: str
) -> None:
    emulator.faults.add(FaultRule(path="/v2/pals*", method="GET", **fault))
    with real(emulator, api_key) as client:
        for call in (client.list_pals, lambda: client.get_pal("p123456789ab")):
            with pytest.raises(ApiError) as info:
                call()
            assert said in str(info.value) and str(info.value).startswith("GET /v2/pals")


def test_a_patch_answered_by_html_is_an_error_and_an_empty_200_is_success(
    emulator: Emulator, api_key: str
) -> None:
    ops = [{"op": "replace", "path": "/pal_name", "value": "B"}]
    with real(emulator, api_key) as client:
        pal_id = client.create_pal(
            {"pal_name": "A", "system_prompt": "y", "default_face_id": FACE}
        )["pal_id"]
        emulator.faults.add(FaultRule("body", method="PATCH", path="/v2/pals/*", times=1))
        with pytest.raises(ApiError) as info:
            client.patch_pal(pal_id, ops)
        assert f"PATCH /v2/pals/{pal_id}" in str(info.value)
        assert "answered 200 with text/html, not JSON" in str(info.value)
        emulator.faults.add(
            FaultRule("body", method="PATCH", path="/v2/pals/*", times=1, text="", status=204)
        )
        assert client.patch_pal(pal_id, ops).changed


def test_a_create_answered_by_html_is_outcome_unknown(emulator: Emulator, api_key: str) -> None:
    emulator.faults.add(FaultRule("body", method="POST", path="/v2/pals"))
    with real(emulator, api_key) as client, pytest.raises(OutcomeUnknown) as info:
        client.create_pal({"pal_name": "x", "system_prompt": "y", "default_face_id": FACE})
    assert "answered 200 with text/html, not JSON" in str(info.value)


@pytest.mark.parametrize(
    "fault",
    [
        dict(kind="redirect"),
        dict(kind="redirect", status=307),
        dict(kind="body"),
        dict(kind="body", status=202, content_type="application/json", text="{}"),
    ],
)
def test_a_delete_not_answered_by_the_api_keeps_the_lock_entry(
    ws: Workspace, fault: dict[str, Any]
) -> None:
    ws.write("keep", pal_body(1))
    ws.write("gone", pal_body(2))
    assert ws.run("apply", "--auto-approve").code == 0
    pal_id = ws.lock()["pals"]["gone"]["pal_id"]
    (ws.pals / "gone.yaml").unlink()
    ws.emulator.faults.add(FaultRule(method="DELETE", path="/v2/pals/*", **fault))
    result = ws.run("apply", "--auto-approve", "--prune")
    assert result.code == 1
    assert "Internal error" not in result.out + result.err
    assert f"DELETE /v2/pals/{pal_id}" in result.out + result.err
    assert ws.lock()["pals"]["gone"]["pal_id"] == pal_id, "the lock entry stays"
    assert ws.emulator.store.get(pal_id) is not None, "the PAL is still live"


def test_a_plan_against_a_login_page_is_a_clear_error(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    ws.emulator.faults.add(FaultRule("body", method="GET", path="/v2/*"))
    result = ws.run("plan")
    assert result.code == 1
    assert "answered 200 with text/html, not JSON" in result.err
    assert "Internal error" not in result.out + result.err and "Traceback" not in result.err


# --------------------------------------------------------------------- item 15: size cap


def test_a_huge_answer_is_abandoned_at_the_cap(emulator: Emulator, api_key: str) -> None:
    emulator.faults.add(FaultRule("huge", path="/v2/pals", size=8 * 1024 * 1024))
    with real(emulator, api_key, max_response_bytes=1024 * 1024) as client:
        with pytest.raises(ApiError) as info:
            client.list_pals()
        assert "more than 1 MiB" in str(info.value)
        emulator.faults.clear()
        assert client.list_pals() == [], "the client still works after abandoning an answer"


def test_the_default_cap_is_32_mib(emulator: Emulator, api_key: str) -> None:
    assert api.MAX_RESPONSE_BYTES == 32 * 1024 * 1024
    emulator.faults.add(FaultRule("huge", path="/v2/faces", size=48 * 1024 * 1024))
    with real(emulator, api_key) as client, pytest.raises(ApiError) as info:
        client.list_faces()
    assert "GET /v2/faces" in str(info.value) and "more than 32 MiB" in str(info.value)


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(10**9)}, content=b"{}")

    with _fake(handler, max_response_bytes=1000) as client, pytest.raises(ApiError) as info:
        client.list_faces()
    assert "more than" in str(info.value)


def test_an_answer_that_cannot_be_decoded_is_an_api_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return httpx.Response(200, headers=headers, content=b"this is not gzip")

    with _fake(handler) as client, pytest.raises(ApiError) as info:
        client.list_faces()
    assert "GET /v2/faces" in str(info.value) and "could not be read (DecodingError)" in str(
        info.value
    )


# --------------------------------------------------------------------- item 10: secrets


@pytest.mark.parametrize(
    "key", ["sk-live-first\nsk-live-second", "sk-live-\u00e9t\u00e9-9999", "sk-live\x07bell-9999"]
)
def test_a_key_that_cannot_be_sent_is_a_usage_error_that_never_shows_it(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    ws.write("a", pal_body(1))
    monkeypatch.setenv("TAVUS_API_KEY", key)
    result = ws.run("plan")
    assert result.code == 1
    text = result.out + result.err
    assert "API key from TAVUS_API_KEY contains" in text
    assert "Internal error" not in text
    for part in key.replace("\x07", "\n").split("\n"):
        assert part not in text
    assert "sk-live" not in text


def test_a_url_with_userinfo_is_refused_and_never_echoed(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write("a", pal_body(1))
    host = ws.emulator.url.split("://", 1)[1]
    monkeypatch.setenv("TAVUS_API_URL", f"http://admin:hunter2-pass@{host}/")
    result = ws.run("plan")
    assert result.code == 1
    text = result.out + result.err
    assert "user name or password" in text and f"http://{host}" in text
    assert "hunter2" not in text and "admin" not in text
    with pytest.raises(UsageError) as info:
        TavusClient("ftp://bob:secret-pw@example.com", KEY)
    assert "secret-pw" not in str(info.value) and "bob" not in str(info.value)


def test_an_error_body_that_echoes_the_key_is_scrubbed_and_cut() -> None:
    key = "sk-live-ECHOED-BY-THE-SERVER-123"
    echo = f"bad value for api_key {key} " + "x" * 2000 + "\x1b[31mred"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": echo})

    client = TavusClient("https://api.test", key, transport=httpx.MockTransport(handler))
    with client, pytest.raises(ApiError) as info:
        client.list_faces()
    message = str(info.value)
    assert key not in message and "(sensitive)" in message
    assert len(info.value.detail) <= api.DETAIL_LIMIT and "\x1b" not in message


def test_an_error_body_that_echoes_a_registered_secret_is_scrubbed(
    emulator: Emulator, api_key: str
) -> None:
    secret = "sk-llm-provider-key-777"
    redact.register(secret)
    emulator.faults.add(
        FaultRule(
            "body",
            status=200,
            path="/v2/faces",
            content_type="text/plain",
            text=f"llm key {secret}",
        )
    )
    with real(emulator, api_key) as client, pytest.raises(ApiError) as info:
        client.list_faces()
    assert secret not in str(info.value)


# --------------------------------------------------------------------- item 17: knobs


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("PALSYNC_TIMEOUT", "abc"),
        ("PALSYNC_TIMEOUT", "nan"),
        ("PALSYNC_MAX_RETRIES", "five"),
        ("PALSYNC_MAX_RETRIES", "2.5"),
        ("PALSYNC_BACKOFF_BASE", "-1"),
    ],
)
def test_a_bad_numeric_setting_is_a_usage_error_naming_it(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    ws.write("a", pal_body(1))
    monkeypatch.setenv(var, value)
    result = ws.run("plan")
    assert result.code == 1
    assert var in result.err and "Internal error" not in result.out + result.err


def test_an_unparseable_retry_after_falls_back_to_backoff() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            retry = "soon" if len(calls) == 1 else "Mon, 99 Foo 2026"
            return httpx.Response(429, headers={"Retry-After": retry}, json={"message": "slow"})
        return httpx.Response(200, json={"data": [], "total_count": 0})

    with _fake(handler) as client:  # (one list request; faces would also ask for stock ones)
        assert client.list_objectives() == []
    assert len(calls) == 3


# --------------------------------------------------------------------- item 18: visible


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_retries_are_shown_as_they_happen_without_verbose(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write("a", pal_body(1))
    monkeypatch.setenv("TAVUS_API_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("PALSYNC_MAX_RETRIES", "2")
    result = ws.run("plan")
    assert result.code == 1
    assert "GET /v2/pals" in result.err and "connection refused; retrying in" in result.err
    assert "(attempt 2 of 3)" in result.err and "(attempt 3 of 3)" in result.err
    assert "gave up after 3 attempts" in result.err


def test_an_api_url_ending_in_v2_is_normalised_and_said_once(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write("a", pal_body(1))
    monkeypatch.setenv("TAVUS_API_URL", ws.emulator.url + "/v2/")
    result = ws.run("plan")
    assert result.code == 0, result.err
    assert result.err.count("ends in /v2") == 1
    assert not any("/v2/v2" in target for _, target, _ in ws.emulator.requests())


# --------------------------------------------------------------------- item 19: rate limit


def test_the_emulator_token_bucket_answers_429_with_retry_after(api_key: str) -> None:
    with Emulator(api_key=api_key, rate_limit=2, burst=3, rate_limit_headers=True) as emu:
        headers = {"x-api-key": api_key}
        codes = [httpx.get(f"{emu.url}/v2/faces", headers=headers) for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    assert codes[3].headers["Retry-After"] == "1"
    assert codes[0].headers["RateLimit-Policy"].startswith("2;w=1")


def test_the_rate_limit_comes_from_the_fault_spec_too(emulator: Emulator) -> None:
    emulator.faults.configure({"rate_limit": {"rate": 5, "burst": 2}})
    assert emulator.faults.rate_limit is not None
    assert emulator.faults.rate_limit.public() == {"rate": 5.0, "burst": 2, "headers": False}
    with pytest.raises(ValueError):
        emulator.faults.configure({"rate_limit": {"rate": -1}})


def test_the_emulator_command_takes_a_rate_limit(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "palsync", "emulator", "--port", "0", "--rate-limit", "1"]
        + ["--burst", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" on ", 1)[1].strip()
        headers = {"x-api-key": "any-key-1234"}
        codes = [httpx.get(f"{url}/v2/faces", headers=headers).status_code for _ in range(3)]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # closes the pipes
    assert codes == [200, 200, 429]


def test_the_client_paces_itself_under_a_rate_limit(api_key: str) -> None:
    """Threads share one pace: after the first 429s the client stops spending requests on
    refusals (the timing goal itself is benchmarks/bench_ratelimit.py's)."""
    with Emulator(api_key=api_key, rate_limit=40, burst=5) as emu:  # 16 requests
        client = TavusClient(emu.url, api_key, backoff_base=0.001, concurrency=8)
        threads = [
            threading.Thread(target=lambda: [client.request("GET", "/v2/faces") for _ in range(2)])
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client.close()
        statuses = [status for _, _, status in emu.requests()]
    assert statuses.count(200) == 16
    assert client.governor.rate is not None, "a 429 made the client pace itself"
    assert statuses.count(429) <= 10, statuses


def test_rate_limit_headers_pace_before_any_429(api_key: str) -> None:
    with Emulator(api_key=api_key, rate_limit=50, burst=2, rate_limit_headers=True) as emu:
        with TavusClient(emu.url, api_key, backoff_base=0.001) as client:
            client.request("GET", "/v2/faces")  # the first answer tells the policy
            client.map_concurrent(lambda _: client.request("GET", "/v2/faces"), list(range(20)))
        statuses = [status for _, _, status in emu.requests()]
    assert statuses.count(200) == 21 and statuses.count(429) <= 2, statuses
    assert client.governor.policy is not None


def test_a_count_equal_to_the_locks_does_not_end_the_listing_early(
    emulator: Emulator, api_key: str
) -> None:
    # the lock knows 100 PALs, two more were made in the dashboard, and the server's count is
    # stale at 100 too: page 2 must still be read (review finding: a managed PAL on it was
    # planned as gone and created again)
    seed(emulator, 102)
    emulator.faults.add(FaultRule("total_count", method="GET", path="/v2/pals", value=100))
    with real(emulator, api_key) as client:
        assert len(client.list_pals(expected=100)) == 102
