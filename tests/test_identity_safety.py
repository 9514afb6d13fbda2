"""Identity, duplicates and prune safety (issue 10 items 1, 4, 5, 7, 8, parts of 17 and 18):
the real CLI against the real emulator over loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from palsync import lock as lockfile
from palsync.emulator import FaultRule
from palsync.fields import LEASE_PAL_NAME
from palsync.lock import LockEntry
from tests.workflow import FACE, Workspace, pal_body

MISSING_PIN = "p0000000dead"
TEMPLATE_STOCK = "pe13ed370726"  # "AI Interviewer", a stock template PAL of the emulator


def lock_path(ws: Workspace) -> Path:
    return ws.pals / "palsync.lock"


def edit_lock(ws: Workspace, **entries: LockEntry | None) -> None:
    lock = lockfile.load(lock_path(ws))
    for key, entry in entries.items():
        lock = lock.without(key) if entry is None else lock.with_entry(key, entry)
    lockfile.save(lock, lock_path(ws))


def now_stamp(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def requests(ws: Workspace) -> dict[str, int]:
    return ws.emulator.request_counts()


def writes(ws: Workspace) -> list[str]:
    """Writes to PALs other than pal-sync's own lease PAL (apply takes the account lease)."""
    lease = {
        p["pal_id"]
        for p in ws.emulator.store.user_pals(with_lease=True)
        if p.get("pal_name") == LEASE_PAL_NAME
    }
    return [
        f"{method} {target}"
        for method, target, _ in ws.emulator.requests()
        if method in ("POST", "PATCH", "DELETE") and not any(i in target for i in lease)
    ]


# ------------------------------------------------------------------ item 1: pin to a missing PAL


def test_a_pin_to_a_missing_pal_is_blocked_never_a_create_loop(ws: Workspace) -> None:
    ws.write("a", {**pal_body(1), "x-palsync": {"pal_id": MISSING_PIN}})
    for _ in range(3):
        result = ws.run("apply", "--auto-approve")
        assert result.code == 1, result.out + result.err
    assert ws.names() == [], "nothing was created"
    plan = ws.run("plan", "--format", "json")
    assert plan.code == 1
    doc = json.loads(plan.out)
    assert doc["summary"]["create"] == 0 and doc["summary"]["blocked"] == 1
    (change,) = doc["changes"]
    reason = " ".join(change["reasons"])
    assert MISSING_PIN in reason and "remove the pin" in reason and "--recreate a" in reason
    text = ws.run("plan")
    assert "1 to create" not in text.out and "blocked" in text.out


def test_recreate_makes_one_new_pal_and_the_next_runs_use_it(ws: Workspace) -> None:
    ws.write("a", {**pal_body(1), "x-palsync": {"pal_id": MISSING_PIN}})
    ws.write("b", pal_body(2))
    assert ws.run("apply", "--auto-approve", "--target", "b").code == 0
    # --recreate names only a manifest pinned to a missing PAL, before any write
    ws.emulator.log.clear()
    for bad in ("b", "nope"):
        refused = ws.run("plan", "--recreate", bad)
        assert refused.code == 1 and f"--recreate {bad}" in refused.err, refused.err
    assert writes(ws) == []

    first = ws.run("apply", "--auto-approve", "--recreate", "a")
    assert first.code == 0, first.out + first.err
    assert ws.names() == ["PAL 001", "PAL 002"]
    entry = ws.lock()["pals"]["a"]
    new_id = entry["pal_id"]
    assert entry["replaces"] == MISSING_PIN and new_id != MISSING_PIN
    for _ in range(2):  # the pin still names the missing PAL: no loop, no block
        again = ws.run("apply", "--auto-approve")
        assert again.code == 0, again.out + again.err
        assert f"update the pin to {new_id}" in again.out
    plan = ws.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out
    assert ws.names() == ["PAL 001", "PAL 002"], "three applies, one PAL"
    # with the pin updated, everything is as before
    ws.write("a", {**pal_body(1), "x-palsync": {"pal_id": new_id}})
    assert ws.run("plan", "--detailed-exitcode").code == 0


def test_a_saved_plan_carries_its_recreate(ws: Workspace) -> None:
    ws.write("a", {**pal_body(1), "x-palsync": {"pal_id": MISSING_PIN}})
    assert ws.run("plan", "--recreate", "a", "--out", "plan.json").code == 0
    refused = ws.run("apply", "plan.json", "--recreate", "a")
    assert refused.code == 1 and "cannot be given again" in refused.err
    applied = ws.run("apply", "plan.json")
    assert applied.code == 0, applied.out + applied.err
    assert ws.names() == ["PAL 001"]
    assert ws.lock()["pals"]["a"]["replaces"] == MISSING_PIN


# ------------------------------------------------------------------ item 4: slow commits


def test_a_lost_create_answer_whose_commit_lands_late_is_adopted_not_duplicated(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PALSYNC_CREATE_GRACE", "5")
    ws.emulator.store.commit_delay = 1.0
    ws.emulator.store.lose_create_answers = 1
    ws.write("a", pal_body(1))
    started = time.monotonic()
    result = ws.run("apply", "--auto-approve")
    assert result.code == 0, result.out + result.err
    assert "found and adopted" in result.out
    assert time.monotonic() - started < 5, "it stops looking once the PAL appeared"
    ws.emulator.store.settle(wait=True)
    assert ws.names() == ["PAL 001"], "one PAL, not two"
    assert ws.run("plan", "--detailed-exitcode").code == 0


def test_a_rerun_during_a_killed_runs_slow_commit_waits_for_it(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a `kill -9` right after the POST leaves: the intent in the lock, and the server
    still committing the PAL (invisible to list and get for a while)."""
    monkeypatch.setenv("PALSYNC_CREATE_GRACE", "5")
    ws.write("a", pal_body(1))
    assert ws.run("plan").code == 0  # the lock's salt and nothing else
    edit_lock(
        ws,
        a=LockEntry(None, pending_create={"pal_name": "PAL 001", "since": now_stamp()}),
    )
    store = ws.emulator.store
    store.commit_delay = 1.2
    store.create_pal(pal_body(1), legacy=False)  # the killed run's create, not yet visible
    plan = ws.run("plan")
    assert "lists the account again" in plan.out, plan.out
    result = ws.run("apply", "--auto-approve")
    assert result.code == 0, result.out + result.err
    assert "found and adopted" in result.out
    store.settle(wait=True)
    assert ws.names() == ["PAL 001"], "the late commit was adopted, not duplicated"
    assert "pending_create" not in ws.lock()["pals"]["a"]


def test_kill_9_while_a_create_is_committing_then_rerun_makes_no_duplicate(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `kill -9` of an apply whose POST the server is still processing: the server
    commits after the client died and the PAL stays invisible a while longer (slow commit).
    The re-run, started at once, must wait for it instead of creating a second PAL."""
    ws.write("b", pal_body(2))
    assert ws.run("apply", "--auto-approve", "--no-lease").code == 0
    ws.write("a", pal_body(1))
    ws.emulator.store.commit_delay = 1.5
    ws.emulator.faults.add(FaultRule("delay", method="POST", path="/v2/pals", seconds=1.0, times=1))
    monkeypatch.setenv("PALSYNC_CREATE_GRACE", "8")
    env = {**os.environ, **ws.env, "PALSYNC_CREATE_GRACE": "8"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "palsync", "apply", "--auto-approve", "--no-lease"],
        cwd=ws.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while "pending_create" not in lock_path(ws).read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # the POST is on the server now, not yet committed
    proc.kill()
    proc.wait(timeout=10)
    assert "pending_create" in lock_path(ws).read_text(), "killed before the create finished"
    rerun = ws.run("apply", "--auto-approve", "--no-lease")
    assert rerun.code == 0, rerun.out + rerun.err
    assert "lists the account again" in rerun.out
    assert "found and adopted" in rerun.out
    ws.emulator.store.settle(wait=True)
    assert ws.names() == ["PAL 001", "PAL 002"], "no duplicate"


def test_an_old_intent_with_nothing_live_creates_without_waiting(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PALSYNC_CREATE_GRACE", "20")
    ws.write("a", pal_body(1))
    assert ws.run("plan").code == 0
    edit_lock(
        ws,
        a=LockEntry(None, pending_create={"pal_name": "PAL 001", "since": now_stamp(-60)}),
    )
    started = time.monotonic()
    assert ws.run("apply", "--auto-approve").code == 0
    assert time.monotonic() - started < 5, "the grace had passed: one look, then create"
    assert ws.names() == ["PAL 001"]


def test_a_bad_grace_variable_is_a_clear_error(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write("a", pal_body(1))
    monkeypatch.setenv("PALSYNC_CREATE_GRACE", "soon")
    result = ws.run("apply", "--auto-approve")
    assert result.code == 1 and "PALSYNC_CREATE_GRACE" in result.err
    assert "Internal error" not in result.err and ws.names() == []


def test_two_nameless_manifests_with_one_body_are_refused(ws: Workspace) -> None:
    body = {"system_prompt": "Same.", "default_face_id": FACE}
    ws.write("one", body)
    ws.write("two", body)
    ws.write("three", pal_body(3))
    result = ws.run("apply", "--auto-approve")
    assert result.code == 1
    assert "pals/one.yaml and pals/two.yaml" in result.out
    assert "pals/two.yaml and pals/one.yaml" in result.out
    assert "give each a distinct pal_name" in result.out
    assert ws.names() == ["PAL 003"], "neither twin was created"
    ws.write("two", {**body, "pal_name": "Two"})
    assert ws.run("apply", "--auto-approve").code == 0
    assert ws.names() == ["None", "PAL 003", "Two"]


# ------------------------------------------------------------------ item 5: prune safety


def test_two_keys_claiming_one_pal_is_an_error_and_nothing_is_deleted(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    ws.write("b", pal_body(2))
    assert ws.run("apply", "--auto-approve").code == 0
    pals = ws.lock()["pals"]
    # a merge of two branches: "old" kept PAL a's id although a still manages it
    edit_lock(ws, old=LockEntry(pals["a"]["pal_id"], "sha256:x"))
    ws.emulator.log.clear()
    for args in (("plan", "--prune"), ("apply", "--auto-approve", "--prune")):
        result = ws.run(*args)
        assert result.code == 1
        assert "'a' and 'old' both claim PAL " + pals["a"]["pal_id"] in result.err
        assert "Internal error" not in result.err
    assert writes(ws) == [] and ws.names() == ["PAL 001", "PAL 002"]


def test_prune_never_deletes_a_pal_a_manifest_pins(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    ws.write("keep", pal_body(2))
    assert ws.run("apply", "--auto-approve").code == 0
    pal_id = ws.lock()["pals"]["a"]["pal_id"]
    # the manifest is renamed by hand and pinned to the PAL; the old key stays in the lock
    (ws.pals / "a.yaml").unlink()
    ws.write("b", {**pal_body(1), "x-palsync": {"pal_id": pal_id}})
    plan = ws.run("plan", "--prune")
    assert "(moved from a)" in plan.out, plan.out  # the pinned manifest takes the entry over
    ws.emulator.log.clear()
    result = ws.run("apply", "--auto-approve", "--prune")
    assert result.code == 0, result.out + result.err
    assert not any(r.startswith("DELETE") for r in writes(ws))
    assert ws.names() == ["PAL 001", "PAL 002"]
    assert set(ws.lock()["pals"]) == {"b", "keep"}


@pytest.mark.parametrize("kind", ["template", "stock"])
def test_prune_of_a_template_or_stock_entry_drops_the_entry_without_delete(
    ws: Workspace, kind: str
) -> None:
    ws.write("keep", pal_body(1))
    assert ws.run("apply", "--auto-approve").code == 0
    if kind == "template":
        made = ws.emulator.store.create_pal({**pal_body(9), "is_template": True}, legacy=False)
        target = made["pal_id"]
    else:
        target = TEMPLATE_STOCK
    edit_lock(ws, tmpl=LockEntry(target, "sha256:x"))
    plan = ws.run("plan", "--prune")
    assert "only the lock entry goes, no DELETE is sent" in plan.out, plan.out
    ws.emulator.log.clear()
    result = ws.run("apply", "--auto-approve", "--prune")
    assert result.code == 0, result.out + result.err
    assert not any(r.startswith("DELETE") for r in writes(ws)), writes(ws)
    assert ws.emulator.store.get(target) is not None
    assert "tmpl" not in ws.lock()["pals"]


@pytest.mark.parametrize("kind", ["dangling-symlink", "upper-case-extension", "subdirectory"])
def test_a_file_pal_sync_would_skip_is_an_error_and_prune_deletes_nothing(
    ws: Workspace, kind: str
) -> None:
    ws.write("keep", pal_body(1))
    ws.write("gone", pal_body(2))
    assert ws.run("apply", "--auto-approve").code == 0
    (ws.pals / "gone.yaml").unlink()
    if kind == "dangling-symlink":
        (ws.pals / "gone.yaml").symlink_to(ws.root / "elsewhere" / "gone.yaml")
        shown, words = "pals/gone.yaml", "dangling symlink"
    elif kind == "upper-case-extension":
        ws.write("gone", pal_body(2)).rename(ws.pals / "gone.YAML")
        shown, words = "pals/gone.YAML", "rename it to gone.yaml"
    else:
        (ws.pals / "team").mkdir()
        ws.write("gone", pal_body(2)).rename(ws.pals / "team" / "gone.yaml")
        shown, words = "pals/team/gone.yaml", "subdirectories of pals/ are not loaded"
    validate = ws.run("validate", "pals")
    assert validate.code == 1 and shown in validate.out + validate.err
    assert words in validate.out + validate.err
    ws.emulator.log.clear()
    result = ws.run("apply", "--auto-approve", "--prune")
    assert result.code == 1 and words in result.out + result.err
    assert writes(ws) == [] and ws.names() == ["PAL 001", "PAL 002"]


# ------------------------------------------------------------------ item 7: orphaned intents


def test_an_orphaned_intent_finds_its_pal_and_prune_deletes_it(ws: Workspace) -> None:
    ws.write("keep", pal_body(1))
    assert ws.run("apply", "--auto-approve").code == 0
    # killed while creating "gone" (the PAL was made, the lock not updated), then the manifest
    # was deleted before the re-run
    ws.emulator.store.create_pal(pal_body(2), legacy=False)
    edit_lock(
        ws, gone=LockEntry(None, pending_create={"pal_name": "PAL 002", "since": now_stamp()})
    )
    plan = ws.run("plan")
    assert "an interrupted apply created PAL" in plan.out and "--prune" in plan.out
    pruned = ws.run("plan", "--prune", "--format", "json")
    change = next(c for c in json.loads(pruned.out)["changes"] if c["key"] == "gone")
    assert change["action"] == "delete" and change["pal_name"] == "PAL 002"
    result = ws.run("apply", "--auto-approve", "--prune")
    assert result.code == 0, result.out + result.err
    assert ws.names() == ["PAL 001"]
    assert set(ws.lock()["pals"]) == {"keep"}


def test_an_orphaned_intent_with_nothing_created_is_dropped_by_prune(ws: Workspace) -> None:
    ws.write("keep", pal_body(1))
    assert ws.run("apply", "--auto-approve").code == 0
    edit_lock(ws, gone=LockEntry(None, pending_create={"pal_name": "Gone", "since": now_stamp()}))
    assert "no PAL found; `--prune` removes the lock entry" in ws.run("plan").out
    plan = ws.run("plan", "--prune")
    assert "delete" in plan.out and "only the lock entry goes" in plan.out, plan.out
    ws.emulator.log.clear()
    result = ws.run("apply", "--auto-approve", "--prune")
    assert result.code == 0, result.out + result.err
    assert set(ws.lock()["pals"]) == {"keep"}
    assert writes(ws) == []
    assert ws.run("plan", "--prune", "--detailed-exitcode").code == 0


def test_temp_files_of_a_lock_write_killed_midway_are_removed_by_the_next_apply(
    ws: Workspace,
) -> None:
    ws.write("a", pal_body(1))
    assert ws.run("apply", "--auto-approve").code == 0
    leftover = ws.pals / ".palsync.lock.k1ll3d.tmp"
    leftover.write_text('{"format": "palsync.lock/v1", "sal')  # half a file
    other = ws.pals / ".notes.tmp"
    other.write_text("not ours")
    assert ws.run("plan").code == 0 and leftover.exists(), "plan takes no guard, writes nothing"
    assert ws.run("apply", "--auto-approve").code == 0  # nothing to change: still cleaned
    assert not leftover.exists() and other.exists()


def test_a_kill_during_a_lock_write_leaves_no_temp_file_after_the_rerun(
    ws: Workspace, tmp_path: Path
) -> None:
    """A real SIGKILL at the write (`os.replace` never reached): the child dies holding the
    temporary file; the next apply removes it and the lock is whole."""
    ws.write("a", pal_body(1))
    script = (
        "import os, signal\n"
        "from palsync import lock\n"
        "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        "lock.save(lock.new_lock(), 'pals/palsync.lock')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ws.root, env=os.environ.copy())
    assert proc.returncode == -9
    assert [p.name for p in ws.pals.glob(".palsync.lock.*.tmp")], "the kill left a temp file"
    assert ws.run("apply", "--auto-approve").code == 0
    assert list(ws.pals.glob(".palsync.lock.*.tmp")) == []
    assert ws.lock()["pals"]["a"]["pal_id"]


# ------------------------------------------------------------------ item 8: protected, forced


def test_force_maker_on_a_protected_pal_is_refused_before_any_request(ws: Workspace) -> None:
    ws.write("a", {**pal_body(1), "x-palsync": {"protected": True}})
    assert ws.run("apply", "--auto-approve").code == 0
    pal_id = ws.lock()["pals"]["a"]["pal_id"]
    ws.emulator.store.set_maker_draft(pal_id)
    ws.write("a", {**pal_body(1, context="v2"), "x-palsync": {"protected": True}})
    ws.emulator.log.clear()
    result = ws.run("apply", "--auto-approve", "--force-maker", "a")
    assert result.code == 1
    assert "--force-maker a" in result.err and "protected" in result.err
    assert requests(ws) == {}, "refused before any request"
    assert pal_id in ws.emulator.store.maker_drafts, "the draft is kept"


# ------------------------------------------------------------------ item 18: plan text


def test_removing_a_secret_shows_a_sensitive_removal_line(ws: Workspace) -> None:
    llm = {"model": "gpt-4o", "base_url": "https://llm.example.com/v1"}
    ws.write("a", {**pal_body(1), "layers": {"llm": {**llm, "api_key": "${ACME_LLM_API_KEY}"}}})
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("a", {**pal_body(1), "layers": {"llm": llm}})
    text = ws.run("plan")
    assert "- layers.llm.api_key: (sensitive)" in text.out, text.out
    doc = json.loads(ws.run("plan", "--format", "json").out)
    (change,) = doc["changes"]
    assert change["action"] == "update"
    assert {k: v for k, v in change["fields"][0].items() if k != "sensitive"} == {
        "path": "/layers/llm/api_key",
        "before": "(sensitive)",
        "after": None,
    }
    assert any(op["op"] == "remove" for op in change["ops"])
    assert ws.run("apply", "--auto-approve").code == 0
    assert "api_key" not in ws.emulator.store.user_pals()[0]["layers"]["llm"]


def test_the_protected_prune_hint_says_how_to_really_unprotect(ws: Workspace) -> None:
    ws.write("a", {**pal_body(1), "x-palsync": {"protected": True}})
    ws.write("keep", pal_body(2))
    assert ws.run("apply", "--auto-approve").code == 0
    (ws.pals / "a.yaml").unlink()
    plan = ws.run("plan", "--prune")
    assert "manifest first" not in plan.out
    assert '"protected": true' in plan.out and "entry 'a' of the lock file" in plan.out


def test_no_hint_names_a_command_that_does_not_exist(ws: Workspace) -> None:
    result = ws.run("apply", "--auto-approve", "--prune")
    assert result.code == 1 and "refusing to prune" in result.err
    assert "one by one" not in result.err
    from palsync.cli import COMMANDS

    assert not re.search(r"pal-sync (delete|remove|destroy)\b", result.err), result.err
    assert "delete" not in COMMANDS


# ------------------------------------------------------------------ item 17: lock entry types


@pytest.mark.parametrize(
    "entry",
    [
        {"pal_id": "p0000000000a", "managed": 5},
        {"pal_id": "p0000000000a", "secrets": []},
        {"pal_id": 7},
        "p0000000000a",
        {"pal_id": "p0000000000a", "protected": "yes"},
        {"pal_id": None, "pending_create": [1]},
    ],
)
def test_malformed_lock_entry_types_are_a_clear_error(ws: Workspace, entry: Any) -> None:
    ws.write("a", pal_body(1))
    lock_path(ws).write_text(
        json.dumps({"format": "palsync.lock/v1", "salt": "s" * 32, "pals": {"a": entry}})
    )
    for args in (("plan",), ("apply", "--auto-approve")):
        result = ws.run(*args)
        assert result.code == 1
        assert "Internal error" not in result.err
        assert "palsync.lock" in result.err and "entry 'a'" in result.err, result.err
    assert ws.names() == []


# ---------------------------------------------------------------- found by review


def test_a_create_answered_500_after_it_committed_makes_no_duplicate(ws: Workspace) -> None:
    ws.write("a", {"system_prompt": "Nameless.", "default_face_id": FACE})
    store = ws.emulator.store
    real = store.create_pal

    def commit_then_fail(body: Any, legacy: bool) -> Any:
        real(body, legacy)
        raise RuntimeError("boom after commit")  # the emulator answers 500

    store.create_pal = commit_then_fail  # type: ignore[method-assign]
    try:
        ws.run("apply", "--auto-approve")
    finally:
        store.create_pal = real  # type: ignore[method-assign]
    result = ws.run("apply", "--auto-approve")
    assert result.code == 0, result.out + result.err
    assert len(store.user_pals()) == 1, "the committed PAL was found, not created again"


def test_recreate_is_refused_while_the_lock_maps_the_key_to_a_live_pal(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("a", {**pal_body(1), "x-palsync": {"pal_id": MISSING_PIN}})  # a mistyped pin
    result = ws.run("apply", "--auto-approve", "--recreate", "a")
    assert result.code == 1 and "pin that instead" in result.out + result.err
    assert ws.names() == ["PAL 001"], "no second PAL, and the lock entry is kept"
    assert ws.lock()["pals"]["a"]["pal_id"]


def test_two_manifests_pinning_one_pal_are_refused(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    assert ws.run("apply", "--auto-approve").code == 0
    pal_id = ws.lock()["pals"]["a"]["pal_id"]
    ws.write("b", {**pal_body(2), "x-palsync": {"pal_id": pal_id}})
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 1 and "a PAL has one manifest" in applied.out + applied.err
    assert ws.run("plan").code == 1, "still blocked, never a lock every command refuses"
    ws.write("c", {**pal_body(3), "x-palsync": {"pal_id": pal_id}})
    (ws.pals / "a.yaml").unlink()
    checked = ws.run("validate")
    assert checked.code == 1 and "is also pinned by" in checked.out
