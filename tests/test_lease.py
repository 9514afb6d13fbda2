"""DESIGN 14 through the real CLI and the emulator: the account lease, test-guarded updates and
plan files bound to their account (issue 10 items 2 and 12)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from palsync.emulator import Emulator
from palsync.fields import LEASE_PAL_NAME
from palsync.lease import LeaseState, parse
from tests.workflow import Workspace, pal_body


def lease_pal(ws: Workspace) -> dict[str, Any]:
    (pal,) = [
        p for p in ws.emulator.store.user_pals(with_lease=True) if p["pal_name"] == LEASE_PAL_NAME
    ]
    return pal


def hold_lease(ws: Workspace, state: LeaseState) -> None:
    """Someone else's lease, written behind the API's back."""
    pal = lease_pal(ws)
    pal_id = pal.pop("pal_id")
    ws.emulator.store.edit(pal_id, {**pal, "context": state.encode()})


def other_holder(expires_in: float) -> LeaseState:
    now = time.time()
    return LeaseState("ci@elsewhere pid 4242", "r1", now, now + expires_in, "", "elsewhere", 4242)


def test_plan_takes_no_lease_and_apply_gives_it_back(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    plan = ws.run("plan")
    assert plan.code == 0, plan.err
    assert not any(method == "PATCH" for method, _, _ in ws.emulator.requests())
    result = ws.run("apply", "--auto-approve")
    assert result.code == 0, result.out + result.err
    state = parse(lease_pal(ws)["context"])
    assert state.holder is None and "last released by" in state.note
    assert ws.names() == ["PAL 001"]  # the lease PAL is never planned, adopted or imported
    status = ws.run("lease", "status")
    assert status.code == 0 and "free" in status.out and lease_pal(ws)["pal_id"] in status.out


def test_the_first_apply_creates_the_lease_pal_named_clearly(
    tmp_path: Path, emulator: Emulator, api_key: str
) -> None:
    (tmp_path / "pals").mkdir()
    (tmp_path / "pals" / "a.yaml").write_text(yaml.safe_dump(pal_body(1)), encoding="utf-8")
    env = {
        **os.environ,
        "TAVUS_API_URL": emulator.url,
        "TAVUS_API_KEY": api_key,
        "PALSYNC_CACHE_DIR": str(tmp_path / "cache"),
    }
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-m", "palsync", "apply", "--auto-approve"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    leases = [
        p for p in emulator.store.user_pals(with_lease=True) if p["pal_name"] == LEASE_PAL_NAME
    ]
    assert len(leases) == 1, "one lease PAL per account, reused"
    assert "do not use or delete" in leases[0]["pal_name"]
    assert "lease" in leases[0]["system_prompt"]


def test_two_clones_applying_at_once_make_no_duplicate(ws: Workspace) -> None:
    clones = [ws.root / "clone-a", ws.root / "clone-b"]
    for clone in clones:
        (clone / "pals").mkdir(parents=True)
        for i in range(40):
            (clone / "pals" / f"p{i:02d}.yaml").write_text(
                yaml.safe_dump(pal_body(i)), encoding="utf-8"
            )
    ws.emulator.faults.set_latency(0.01)  # long enough for the two runs to overlap
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "palsync", "apply", "--auto-approve", "--lease-wait", "60"],
            cwd=clone,
            env={**os.environ, **ws.env, "PALSYNC_CACHE_DIR": str(clone / "cache")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone in clones
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    names = ws.names()
    assert len(names) == 40 and len(set(names)) == 40, "no PAL was created twice"
    assert any("waiting for the account lease" in err for _, err in results)
    ws.emulator.faults.set_latency(0)
    for clone in clones:  # each clone's lock now owns the same 40 PALs: both plans are clean
        proc = subprocess.run(
            [sys.executable, "-m", "palsync", "plan", "--detailed-exitcode"],
            cwd=clone,
            env={**os.environ, **ws.env, "PALSYNC_CACHE_DIR": str(clone / "cache")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0 and "No changes" in proc.stdout, proc.stdout + proc.stderr


def test_a_held_lease_makes_apply_wait_then_refuse(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    hold_lease(ws, other_holder(300))
    result = ws.run("apply", "--auto-approve", "--lease-wait", "0")
    assert result.code == 1
    assert "ci@elsewhere pid 4242" in result.err and "pal-sync lease break" in result.err
    assert ws.names() == []


def test_an_expired_lease_of_a_dead_holder_is_taken_over(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    hold_lease(ws, other_holder(1.5))
    started = time.monotonic()
    result = ws.run("apply", "--auto-approve", "--lease-wait", "30")
    assert result.code == 0, result.out + result.err
    assert time.monotonic() - started >= 1.0, "it waited for the expiry"
    assert "waiting for the account lease" in result.err
    assert ws.names() == ["PAL 001"]


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(ws: Workspace) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    pid = int(dead.stdout)
    now = time.time()
    host = socket.gethostname()
    hold_lease(ws, LeaseState(f"me@{host} pid {pid}", "r9", now, now + 600, "", host, pid))
    ws.write("a", pal_body(1))
    result = ws.run("apply", "--auto-approve", "--lease-wait", "0")
    assert result.code == 0, result.out + result.err
    assert ws.names() == ["PAL 001"]


def test_lease_status_and_break(ws: Workspace) -> None:
    hold_lease(ws, other_holder(300))
    status = ws.run("lease", "status")
    assert status.code == 0 and "held by ci@elsewhere pid 4242" in status.out
    refused = ws.run("lease", "break")  # no terminal, no --yes: nothing changes
    assert refused.code == 1 and "--yes" in refused.err
    assert parse(lease_pal(ws)["context"]).holder == "ci@elsewhere pid 4242"
    broke = ws.run("lease", "break", "--yes")
    assert broke.code == 0 and "ci@elsewhere pid 4242" in broke.out
    state = parse(lease_pal(ws)["context"])
    assert state.holder is None and "broken by" in state.note
    ws.write("a", pal_body(1))
    assert ws.run("apply", "--auto-approve", "--lease-wait", "0").code == 0


def test_a_server_that_ignores_test_ops_is_detected(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    ws.emulator.store.honour_test = False
    refused = ws.run("apply", "--auto-approve")
    assert refused.code == 1
    assert "does not honour" in refused.err and "--no-lease" in refused.err
    assert ws.names() == [], "nothing applied on a server where the lease cannot be trusted"
    applied = ws.run("apply", "--auto-approve", "--no-lease")
    assert applied.code == 0, applied.out + applied.err
    assert ws.names() == ["PAL 001"]


def test_a_broken_lease_stops_the_apply_starting_anything_new(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(30):
        ws.write(f"p{i:02d}", pal_body(i))
    monkeypatch.setenv("PALSYNC_LEASE_TTL", "0.6")  # renewed every 0.2 s
    ws.emulator.faults.set_latency(0.05)

    def break_it() -> None:
        time.sleep(0.8)
        hold_lease(ws, other_holder(300))

    breaker = threading.Thread(target=break_it)
    breaker.start()
    try:
        result = ws.run("apply", "--auto-approve", "--parallelism", "1")
    finally:
        breaker.join()
        ws.emulator.faults.set_latency(0)
    assert result.code == 1
    assert "not attempted (someone else took or broke this run's account lease)" in result.err
    assert 0 < len(ws.names()) < 30
    assert len(set(ws.names())) == len(ws.names())


def test_a_dashboard_edit_between_plan_and_patch_is_a_conflict(ws: Workspace) -> None:
    ws.write("a", pal_body(1, context="first"))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("a", pal_body(1, context="second"))
    assert ws.run("plan", "--out", "plan.json").code == 0
    store = ws.emulator.store
    patch = store.patch_pal
    edited: list[str] = []

    def edit_first(pal_id: str, ops: Any, force: bool, legacy: bool) -> Any:
        doc = dict(store.get(pal_id) or {})
        if not edited and doc.get("pal_name") == "PAL 001":
            doc.pop("pal_id")
            store.edit(pal_id, {**doc, "context": "edited in the dashboard"})
            edited.append(pal_id)
        return patch(pal_id, ops, force, legacy)

    store.patch_pal = edit_first  # type: ignore[method-assign]
    result = ws.run("apply", "plan.json")
    store.patch_pal = patch  # type: ignore[method-assign]
    assert edited, "the edit happened after apply checked the plan file"
    assert result.code == 1
    assert "conflict" in result.out and "/context" in result.out
    assert store.user_pals()[0]["context"] == "edited in the dashboard", "nothing overwritten"
    plan = ws.run("plan", "--format", "json")
    assert '"direction": "conflict"' in plan.out


def test_a_plan_file_applies_only_to_its_own_account(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write("a", pal_body(1))
    assert ws.run("plan", "--out", "plan.json").code == 0
    with Emulator() as other:  # accepts any key: only the binding can refuse
        monkeypatch.setenv("TAVUS_API_URL", other.url)
        elsewhere = ws.run("apply", "plan.json")
        assert elsewhere.code == 1 and "was made against" in elsewhere.err
        assert other.store.user_pals() == []
        assert ws.run("plan", "--out", "other.json").code == 0
        monkeypatch.setenv("TAVUS_API_KEY", "another-key-0000000000000000")
        other_key = ws.run("apply", "other.json")
        assert other_key.code == 1 and "another API key" in other_key.err
        assert "another-key-0000000000000000" not in other_key.err
        assert other.store.user_pals() == []
