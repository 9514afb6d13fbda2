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
from palsync.lease import LeaseState, parse, this_node
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


def start_apply(ws: Workspace, cwd: Path, parallelism: int) -> subprocess.Popen[str]:
    """`pal-sync apply` in a process of its own (its own cache directory: another clone)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "palsync",
            "apply",
            "--auto-approve",
            "--parallelism",
            str(parallelism),
        ],
        cwd=cwd,
        env={**os.environ, **ws.env, "PALSYNC_CACHE_DIR": str(cwd / "cache")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_held(ws: Workspace) -> None:
    deadline = time.monotonic() + 30
    while parse(lease_pal(ws)["context"]).holder is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert parse(lease_pal(ws)["context"]).held(), "an apply holds the lease"


def test_the_lease_pal_is_recognised_as_one() -> None:
    from palsync.fields import is_lease_pal
    from palsync.lease import lease_pal_body

    body = lease_pal_body("created")
    assert is_lease_pal(body), "the record's encoding starts with the marker fields looks for"
    assert not is_lease_pal({**body, "context": "a prompt"})


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
    ws.emulator.faults.set_latency(0.05)  # the first apply holds the lease for a second or two
    procs = [start_apply(ws, clones[0], 2)]
    wait_until_held(ws)  # the second starts while the first holds the lease
    procs.append(start_apply(ws, clones[1], 2))
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    names = ws.names()
    assert len(names) == 40 and len(set(names)) == 40, "no PAL was created twice"
    assert "waiting for the account lease" in results[1][1], "the second waited for the first"
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
    node = this_node()
    assert node, "this test needs /proc (Linux)"
    dead_here = LeaseState(f"me@{host} pid {pid}", "r9", now, now + 600, "", host, pid, node)
    # the same host name and pid in another pid namespace or boot (a container, another CI
    # runner called the same) is not known to be dead: it is waited for
    elsewhere = LeaseState(f"me@{host} pid {pid}", "r9", now, now + 600, "", host, pid, "x/1")
    ws.write("a", pal_body(1))
    hold_lease(ws, elsewhere)
    refused = ws.run("apply", "--auto-approve", "--lease-wait", "0")
    assert refused.code == 1 and f"me@{host} pid {pid}" in refused.err
    hold_lease(ws, dead_here)
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


# ---------------------------------------------------------------- found by review


def client_for(ws: Workspace) -> Any:
    from palsync.api import TavusClient

    return TavusClient(ws.emulator.url, ws.api_key, backoff_base=0.001)


def test_conferencing_added_with_another_layers_change_is_no_conflict(ws: Workspace) -> None:
    ws.write("a", pal_body(1, layers={"llm": {"model": "tavus-gpt-oss"}}))
    assert ws.run("apply", "--auto-approve").code == 0
    layers = {"llm": {"model": "tavus-glm-4.7"}, "conferencing": {"username": "acme-bot"}}
    ws.write("a", pal_body(1, layers=layers))
    result = ws.run("apply", "--auto-approve")
    assert result.code == 0, result.out + result.err
    live = ws.emulator.store.user_pals()[0]["layers"]
    assert live["llm"]["model"] == "tavus-glm-4.7"
    assert live["conferencing"]["username"] == "acme-bot"


def test_a_lease_lost_while_planning_applies_nothing(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import palsync.pipeline.applying as cli_apply

    for i in range(5):
        ws.write(f"p{i}", pal_body(i))
    monkeypatch.setenv("PALSYNC_LEASE_TTL", "0.6")  # renewed every 0.2 s
    real = cli_apply.make_plan

    def plan_then_lose(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        hold_lease(ws, other_holder(300))  # broken and taken while the plan was read
        time.sleep(0.6)
        return out

    monkeypatch.setattr(cli_apply, "make_plan", plan_then_lose)
    result = ws.run("apply", "--auto-approve")
    assert result.code == 1 and "lost the account lease" in result.err
    assert ws.names() == []


def test_a_legacy_spelling_on_reads_does_not_fail_the_guarded_patch(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ws.emulator.store
    real_render = store.render

    def render(pal_id: str, legacy: bool = False) -> dict[str, Any]:
        out = real_render(pal_id, legacy)
        flow = out.get("layers", {}).get("conversational_flow")
        if isinstance(flow, dict):  # this server shows the persona-era name on reads
            for name in ("pal_interruptibility", "face_interruptibility"):
                if name in flow:
                    flow["replica_interruptibility"] = flow.pop(name)
        return out

    monkeypatch.setattr(store, "render", render)
    flow = {"pal_interruptibility": "low"}
    ws.write("a", pal_body(1, layers={"conversational_flow": flow}))
    assert ws.run("apply", "--auto-approve").code == 0
    flow = {"pal_interruptibility": "low", "turn_taking_patience": "high"}
    ws.write("a", pal_body(1, layers={"conversational_flow": flow}))
    result = ws.run("apply", "--auto-approve")
    assert result.code == 0, result.out + result.err


def test_a_lease_pal_deleted_mid_run_is_noticed(ws: Workspace) -> None:
    from palsync.lease import Lease

    with client_for(ws) as client:
        lease = Lease(client, ttl=0.6, wait=0)
        lease.acquire()
        assert lease.pal_id is not None
        ws.emulator.store.delete_pal(lease.pal_id)  # deleted in the dashboard
        assert lease.lost.wait(2.0), "the holder stops starting anything new"
        lease.release()


def test_a_holder_that_cannot_renew_gives_up_before_its_lease_expires(ws: Workspace) -> None:
    from palsync.emulator.faults import FaultRule
    from palsync.lease import Lease

    with client_for(ws) as client:
        lease = Lease(client, ttl=0.9, wait=0)
        lease.acquire()
        started = time.monotonic()
        path = f"/v2/pals/{lease.pal_id}"
        ws.emulator.faults.add(FaultRule("status", method="PATCH", path=path, status=500))
        assert lease.lost.wait(2.0)
        # given up before another apply could take the expired lease over
        assert time.monotonic() - started < 0.9
        ws.emulator.faults.clear()
        lease.release()


def test_a_server_refusing_lease_writes_is_an_error_not_a_request_storm(ws: Workspace) -> None:
    from palsync.emulator.faults import FaultRule
    from palsync.errors import LockError
    from palsync.lease import Lease

    path = f"/v2/pals/{lease_pal(ws)['pal_id']}"
    ws.emulator.faults.add(FaultRule("status", method="PATCH", path=path, status=422))
    before = len(ws.emulator.requests())
    with client_for(ws) as client, pytest.raises(LockError, match="refused to write"):
        Lease(client, wait=3).acquire()
    assert len(ws.emulator.requests()) - before < 10


def test_lease_break_breaks_only_the_holder_it_showed(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import palsync.cli.lease as cli_lease

    hold_lease(ws, other_holder(300))
    alice = LeaseState("alice@laptop pid 7", "r2", time.time(), time.time() + 300, "", "laptop", 7)

    def yes_but_meanwhile(*args: Any, **kwargs: Any) -> bool:
        hold_lease(ws, alice)  # while the question was read, that run ended and another began
        return True

    monkeypatch.setattr(cli_lease, "confirm", yes_but_meanwhile)
    result = ws.run("lease", "break")
    assert result.code == 1 and "changed while it was being broken" in result.err
    assert parse(lease_pal(ws)["context"]).holder == "alice@laptop pid 7"


def test_a_renewal_whose_answer_and_read_back_were_lost_keeps_the_lease(ws: Workspace) -> None:
    from palsync.emulator.faults import FaultRule
    from palsync.lease import Lease

    with client_for(ws) as client:
        lease = Lease(client, ttl=0.9, wait=0)
        lease.acquire()
        path = f"/v2/pals/{lease.pal_id}"
        ws.emulator.faults.add(FaultRule("drop_after_commit", method="PATCH", path=path, times=1))
        ws.emulator.faults.add(FaultRule("status", method="GET", path=path, status=500, times=1))
        time.sleep(1.2)  # several renewals: the lost one, then ones that must still pass
        assert not lease.lost.is_set()
        assert parse(lease_pal(ws)["context"]).run == lease.run
        lease.release()
    assert parse(lease_pal(ws)["context"]).holder is None


def test_a_bad_lease_ttl_is_a_clear_error(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.write("a", pal_body(1))
    for value in ("nan", "inf", "0", "-5", "soon"):
        monkeypatch.setenv("PALSYNC_LEASE_TTL", value)
        result = ws.run("apply", "--auto-approve")
        assert result.code == 1 and "PALSYNC_LEASE_TTL" in result.err, value
        assert "Internal error" not in result.err
    assert ws.names() == []


def test_a_killed_lease_holder_is_taken_over(ws: Workspace) -> None:
    import signal

    for i in range(20):
        ws.write(f"p{i:02d}", pal_body(i))
    ws.emulator.faults.set_latency(0.1)
    holder = start_apply(ws, ws.root, 1)
    wait_until_held(ws)
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=10)  # reaped, its pipes closed
    assert parse(lease_pal(ws)["context"]).held(), "a killed holder cannot release it"
    ws.emulator.faults.set_latency(0)
    result = ws.run("apply", "--auto-approve", "--lease-wait", "0")
    assert result.code == 0, result.out + result.err
    assert len(ws.names()) == 20 and len(set(ws.names())) == 20
