"""What a new user hits (issue 10, items 17 and 18): each mistake is a clear message naming the
thing and what to do, exit 1, never a traceback or "Internal error"; Ctrl-C is always 130; a
stale plan says what actually changed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from palsync.emulator.faults import FaultRule, Faults
from tests.workflow import Result, Workspace, pal_body


def clean_failure(result: Result, *needles: str) -> None:
    text = result.out + result.err
    assert result.code == 1, (result.code, text)
    assert "Internal error" not in text and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, (needle, text)


# --- item 17: user mistakes ------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_emulator_port_in_use_is_a_clear_error(ws: Workspace, busy_port: int) -> None:
    result = ws.run("emulator", "--port", str(busy_port))
    clean_failure(result, f"port {busy_port} on 127.0.0.1 is already in use", "--port")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe not text", "cannot read it"),
        (b'{"rules": [', "not JSON (line 1"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"rulez": []}', "unknown key(s) 'rulez'"),
        (b'{"rules": {"kind": "status"}}', "rules must be a list"),
        (b'{"rules": [{"kind": "status", "times": "3"}]}', "rules[0].times must be int | None"),
        (b'{"rules": [{"kind": "status", "stauts": 503}]}', "unknown field(s) 'stauts'"),
        (b'{"rules": [{"kind": "sometimes"}]}', "unknown fault kind 'sometimes'"),
        (b'{"rules": [{"status": 503}]}', "`kind` is required"),
        (b'{"latency": "slow"}', "latency must be a number"),
    ],
)
def test_a_bad_faults_file_is_a_clear_error(
    ws: Workspace, busy_port: int, content: bytes, needle: str
) -> None:
    spec = ws.root / "faults.json"
    spec.write_bytes(content)
    # the spec is checked before the port is bound: the busy port is never reached
    result = ws.run("emulator", "--port", str(busy_port), "--faults", str(spec))
    clean_failure(result, f"--faults {spec}", needle)


def test_unknown_fault_spec_keys_are_refused_everywhere() -> None:
    faults = Faults()
    faults.configure({"rules": [{"kind": "status", "status": 503, "times": 1}]})
    with pytest.raises(ValueError, match="rulez"):
        faults.configure({"rulez": []})
    assert [r.kind for r in faults.rules] == ["status"]  # a refused spec changes nothing
    faults.configure({"rules": [{"kind": "delay", "seconds": 1, "path": "/v2/*"}]})
    assert faults.rules == [FaultRule(kind="delay", seconds=1, path="/v2/*")]


def test_admin_endpoint_refuses_an_unknown_fault_key(ws: Workspace) -> None:
    import httpx

    answer = httpx.post(
        f"{ws.emulator.url}/_emulator/faults",
        json={"rulez": []},
        headers={"x-api-key": ws.api_key},
        timeout=5,
    )
    assert answer.status_code == 400 and "rulez" in answer.text


def test_plan_out_into_a_missing_directory_fails_before_any_request(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    ws.emulator.log.clear()
    result = ws.run("plan", "--out", "no/such/dir/plan.json")
    clean_failure(result, "--out no/such/dir/plan.json", "no/such/dir does not exist", "mkdir -p")
    assert ws.emulator.requests() == []
    (ws.root / "adir").mkdir()
    clean_failure(ws.run("plan", "--out", "adir"), "is a directory")


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.update(changes=None), "`changes` must be list, not null"),
        (lambda d: d.pop("changes"), "`changes` is missing"),
        (lambda d: d.update(prune="yes"), "`prune` must be bool"),
        (lambda d: d.update(targets="a"), "`targets` must be list"),
        (lambda d: d["changes"][0].update(ops="x"), "`changes[0].ops` must be list"),
        (lambda d: d["changes"][0].pop("key"), "`changes[0].key` is missing"),
        (lambda d: d["changes"].append(7), "`changes[1]` must be an object"),
    ],
)
def test_a_damaged_plan_file_is_a_clear_error(ws: Workspace, edit: object, needle: str) -> None:
    ws.write("a", pal_body(1))
    assert ws.run("plan", "--out", "plan.json").code == 0
    doc = json.loads((ws.root / "plan.json").read_text())
    edit(doc)  # type: ignore[operator]
    (ws.root / "plan.json").write_text(json.dumps(doc))
    clean_failure(ws.run("apply", "plan.json"), "plan file plan.json is damaged", needle)
    assert ws.names() == []  # nothing was applied


# --- item 18: a stale plan says what changed ---------------------------------------------------


def secret_pal(ws: Workspace) -> None:
    llm = {"model": "m", "base_url": "https://llm.example.com", "api_key": "${ACME_LLM_API_KEY}"}
    ws.write("a", pal_body(1, layers={"llm": llm}))
    assert ws.run("apply", "--auto-approve").code == 0


def test_stale_plan_names_a_changed_secret_not_the_live_pal(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_pal(ws)
    assert ws.run("plan", "--out", "plan.json").code == 0  # nothing to do
    monkeypatch.setenv("ACME_LLM_API_KEY", "a-rotated-secret-value")
    result = ws.run("apply", "plan.json")
    clean_failure(result, "the value of a secret variable changed (layers.llm.api_key)")
    assert "live PAL" not in result.err and "differ now" not in result.err, result.err

    # a plan that already sends a secret, whose value changes again before apply
    assert ws.run("plan", "--out", "plan2.json").code == 0
    monkeypatch.setenv("ACME_LLM_API_KEY", "yet-another-secret-value")
    result = ws.run("apply", "plan2.json")
    clean_failure(result, "a: the value of a secret variable changed (layers.llm.api_key)")
    assert "live PAL" not in result.err and "planned as" not in result.err, result.err


def test_stale_plan_names_a_live_edit(ws: Workspace) -> None:
    secret_pal(ws)
    (ws.pals / "a.yaml").write_text((ws.pals / "a.yaml").read_text().replace("PAL 001", "PAL A"))
    assert ws.run("plan", "--out", "plan.json").code == 0
    (pal,) = ws.emulator.store.user_pals()
    ws.emulator.store.edit(pal["pal_id"], {**pal, "context": "edited in the dashboard"})
    result = ws.run("apply", "plan.json")
    clean_failure(result, f"a: the live PAL {pal['pal_id']} changed since the plan")
    assert "secret" not in result.err, result.err


# --- item 18: Ctrl-C during plan, or during apply's planning, exits 130 -----------------------


@pytest.mark.parametrize("command", [["plan"], ["apply", "--auto-approve"]])
def test_ctrl_c_while_planning_exits_130(ws: Workspace, command: list[str]) -> None:
    ws.write("a", pal_body(1))
    slow = ws.emulator.faults.add(
        FaultRule(kind="delay", method="GET", path="/v2/pals*", seconds=4)
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "palsync", *command],
        cwd=ws.root,
        env={**os.environ, **ws.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while slow.fired == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until the listing request is being answered (slowly)
    assert slow.fired >= 1, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "Interrupted." in err and "Aborted." not in err and "Traceback" not in err, err
    assert ws.names() == []
