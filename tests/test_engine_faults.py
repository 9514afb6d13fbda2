"""The resource engine under faults: Ctrl-C while the caller runs a call of its own batch, a
client closed under a waiter, reference ids that are empty, listings merged by every id."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from palsync.api import TavusClient
from palsync.errors import ApiError
from palsync.kinds import GUARDRAILS, OBJECTIVES

KEY = "test-key-0123456789abcdef"


def busy_client(**kw: Any) -> tuple[TavusClient, threading.Event]:
    """A client whose only worker is busy elsewhere: the waiting caller runs every call
    itself (what happens whenever the pool is saturated by other listings)."""
    client = TavusClient("http://127.0.0.1:9", KEY, concurrency=1, **kw)
    gate = threading.Event()
    client._pool.submit(gate.wait)
    return client, gate


def test_ctrl_c_in_a_call_the_caller_runs_is_raised_at_once() -> None:
    """Ctrl-C is delivered to the main thread; when it lands while the main thread is running
    a call of its own batch (caller helps), `_Task.run` stores it like an error and the
    main thread goes on running the remaining calls (more requests, more retries) before
    raising. Before, the main thread only ever waited, and Ctrl-C stopped the wait at once."""
    client, gate = busy_client()
    ran: list[int] = []

    def call(i: int) -> int:
        ran.append(i)
        if i == 0:
            raise KeyboardInterrupt  # SIGINT arriving during this call's request
        return i

    try:
        with pytest.raises(KeyboardInterrupt):
            client.map_concurrent(call, [0, 1, 2, 3])
        assert ran == [0], f"calls started after Ctrl-C: {ran[1:]}"
    finally:
        gate.set()
        client.close()


def test_ctrl_c_is_not_replaced_by_another_calls_error() -> None:
    """The first error *in item order* wins: a KeyboardInterrupt stored in a later call is
    dropped for an ApiError of an earlier one, so the CLI says `Error: ...` and exits 1
    instead of `Interrupted.` / 130."""
    client, gate = busy_client()

    def call(i: int) -> int:
        if i == 0:
            raise ApiError("GET", "/v2/pals", 503, "gave up after 6 attempts: 503")
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            client.map_concurrent(call, [0, 1])
    finally:
        gate.set()
        client.close()


def test_ctrl_c_during_a_paged_listing_sends_no_further_request() -> None:
    """The same through the real stack: an import of a 300-PAL account (the main thread waits
    for the page batch and helps with it)."""
    sent: list[tuple[int, bool]] = []
    interrupted = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        sent.append((page, interrupted.is_set()))
        if page == 2 and threading.current_thread() is threading.main_thread():
            interrupted.set()
            raise KeyboardInterrupt  # Ctrl-C while the main thread waits for page 2
        items = [{"pal_id": f"p{page:03d}{i:03d}", "pal_type": "user"} for i in range(100)]
        return httpx.Response(200, json={"data": items if page <= 3 else [], "total_count": 300})

    client, gate = busy_client(transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(KeyboardInterrupt):
            client.map_concurrent(lambda n: client._page("/v2/pals", {}, n), [1, 2, 3, 4])
        after = [page for page, late in sent if late]
        assert after == [], f"pages requested after Ctrl-C: {after}"
    finally:
        gate.set()
        client.close()


def test_start_after_close_is_not_an_internal_error() -> None:
    """`start` after `close` (or racing it: the second Ctrl-C of an apply closes the client
    while applier threads still look for a lost create) raises the executor's bare
    RuntimeError, reported as "Internal error ... This is a bug". With caller-helps the
    caller can simply run the calls itself."""
    client = TavusClient("http://127.0.0.1:9", KEY, concurrency=2)
    client.close()
    assert client.map_concurrent(lambda i: i * 2, [1, 2, 3]) == [2, 4, 6]


def test_guardrail_merge_keeps_every_id_the_listings_gave() -> None:
    """Old: individual + legacy listings concatenated, every id field of every item a valid
    reference. New: an item of the second listing whose *first* id equals one already seen is
    dropped with its other ids."""
    individual = [{"uuid": "g0000000001ab"}]
    legacy = [{"uuid": "g0000000001ab", "guardrails_id": "g00000abcd"}]

    def handler(request: httpx.Request) -> httpx.Response:
        legacy_list = request.url.params.get("legacy") == "true"
        page = int(request.url.params["page"])
        data = (legacy if legacy_list else individual) if page == 1 else []
        return httpx.Response(200, json={"data": data, "total_count": 1})

    with TavusClient("http://127.0.0.1:9", KEY, transport=httpx.MockTransport(handler)) as client:
        ids = GUARDRAILS.ids_in(client.list_kind(GUARDRAILS))
    assert "g00000abcd" in ids


def test_objectives_references_are_objectives_ids_only() -> None:
    """Old refs: objectives_id only (the only id tavus-api.md documents for a PAL's
    `objectives_id`); new: any `uuid` an objectives item carries passes the pre-check too."""
    assert OBJECTIVES.ids_in([{"objectives_id": "o1234", "uuid": "o9999"}]) == {"o1234"}


def test_an_empty_reference_id_still_blocks_the_pal(
    ws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old `_missing_refs` reported every entry of guardrail_ids / document_ids that the
    account lacks, "" included (a ${VAR} set to an empty string): the PAL was blocked before
    any write. `referenced_ids` now drops "" entries, so the plan is clean and the server
    refuses `guardrail_ids: [""]` at apply instead."""
    from tests.workflow import pal_body

    monkeypatch.setenv("GR", "")
    ws.write("a", pal_body(1, guardrail_ids=["${GR}"]))
    result = ws.run("plan")
    assert result.code == 1 and "guardrail  does not exist in the account" in result.out, (
        result.out + result.err
    )
