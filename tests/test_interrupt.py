"""kill -9 at many points during an apply of 100 PALs: every re-run converges, no duplicates,
no lost lock entries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from palsync.emulator import Emulator
from tests.workflow import pal_body

COUNT = 100
POINTS = 20


def start_apply(root: Path, url: str, key: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TAVUS_API_URL": url,
        "TAVUS_API_KEY": key,
        "PALSYNC_BACKOFF_BASE": "0.001",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "palsync", "apply", "--auto-approve", "--parallelism", "4"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def palsync(
    root: Path, env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m palsync ARGS` in `root` to the end."""
    return subprocess.run(
        [sys.executable, "-m", "palsync", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_pals(root: Path, count: int) -> Path:
    pals = root / "pals"
    pals.mkdir()
    for i in range(count):
        (pals / f"p{i:02d}.yaml").write_text(yaml.safe_dump(pal_body(i)), encoding="utf-8")
    return pals


@pytest.mark.slow
def test_kill_9_at_twenty_points_always_converges(tmp_path: Path, api_key: str) -> None:
    pals = tmp_path / "pals"
    pals.mkdir()
    for i in range(COUNT):
        body = pal_body(i, context=f"context {i}")
        (pals / f"p{i:03d}.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")
    lock = pals / "palsync.lock"

    # How long an uninterrupted apply takes here, to spread the kills over its whole length.
    with Emulator(api_key=api_key, latency=0.01) as emu:
        started = time.monotonic()
        assert start_apply(tmp_path, emu.url, api_key).wait(timeout=120) == 0
        duration = time.monotonic() - started
    lock.unlink()

    killed_mid_write = 0
    for point in range(POINTS):
        delay = 0.15 + duration * point / POINTS
        with Emulator(api_key=api_key, latency=0.01) as emu:
            proc = start_apply(tmp_path, emu.url, api_key)
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                killed_mid_write += 1
            proc.wait(timeout=30)
            partial = len(emu.store.user_pals())
            rerun = start_apply(tmp_path, emu.url, api_key)
            assert rerun.wait(timeout=120) == 0, f"re-run after a kill at {delay:.2f}s failed"
            names = [p["pal_name"] for p in emu.store.user_pals()]
            assert len(names) == COUNT and len(set(names)) == COUNT, (
                f"kill at {delay:.2f}s ({partial} PALs existed): duplicates or losses"
            )
            entries = json.loads(lock.read_text())["pals"]
            assert len(entries) == COUNT
            assert {e["pal_id"] for e in entries.values()} == {
                p["pal_id"] for p in emu.store.user_pals()
            }
            assert all("pending_create" not in e for e in entries.values())
        lock.unlink()
    assert killed_mid_write >= POINTS // 2, "most kills landed while the apply was running"


@pytest.mark.slow
def test_faults_at_scale_1000_pals_converge_without_duplicates(
    tmp_path: Path, api_key: str
) -> None:
    pals = tmp_path / "pals"
    pals.mkdir()
    for i in range(1000):
        (pals / f"p{i:04d}.yaml").write_text(yaml.safe_dump(pal_body(i)), encoding="utf-8")
    from palsync.emulator import FaultRule

    with Emulator(api_key=api_key) as emu:
        for kind, status, rate in (
            ("status", 429, 0.05),
            ("status", 503, 0.03),
            ("drop_after_commit", 0, 0.02),
        ):
            emu.faults.add(FaultRule(kind, path="/v2/pals*", status=status or 503, rate=rate))
        env = {
            **os.environ,
            "TAVUS_API_URL": emu.url,
            "TAVUS_API_KEY": api_key,
            "PALSYNC_BACKOFF_BASE": "0.001",
        }
        codes = []
        for _ in range(5):
            proc = palsync(
                tmp_path, env, "apply", "--auto-approve", "--parallelism", "8", timeout=300
            )
            codes.append(proc.returncode)
            assert "Traceback" not in proc.stderr
            if proc.returncode == 0:
                break
        assert codes[-1] == 0, codes
        names = [p["pal_name"] for p in emu.store.user_pals()]
        assert len(names) == 1000 and len(set(names)) == 1000
        assert sum(rule.fired for rule in emu.faults.rules) > 20, "faults were injected"
        emu.faults.clear()
        plan = palsync(tmp_path, env, "plan", "--detailed-exitcode", timeout=120)
        assert plan.returncode == 0, plan.stdout[-2000:]


def test_two_applies_at_once_never_corrupt_the_lock(tmp_path: Path, api_key: str) -> None:
    pals = write_pals(tmp_path, 40)
    with Emulator(api_key=api_key, latency=0.05) as emu:
        first = start_apply(tmp_path, emu.url, api_key)
        deadline = time.monotonic() + 30
        while not emu.store.user_pals() and time.monotonic() < deadline:
            time.sleep(0.02)  # the first apply is writing now
        env = {**os.environ, "TAVUS_API_URL": emu.url, "TAVUS_API_KEY": api_key}
        second = palsync(tmp_path, env, "apply", "--auto-approve")
        assert first.wait(timeout=60) == 0
        assert second.returncode == 1
        assert "another pal-sync apply or import is running" in second.stderr
        entries = json.loads((pals / "palsync.lock").read_text())["pals"]
        assert len(entries) == 40
        names = [p["pal_name"] for p in emu.store.user_pals()]
        assert len(names) == len(set(names)) == 40


def test_ctrl_c_starts_nothing_new_and_records_what_finished(tmp_path: Path, api_key: str) -> None:
    pals = write_pals(tmp_path, 40)
    with Emulator(api_key=api_key, latency=0.05) as emu:
        env = {
            **os.environ,
            "TAVUS_API_URL": emu.url,
            "TAVUS_API_KEY": api_key,
            "PALSYNC_BACKOFF_BASE": "0.001",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "palsync", "apply", "--auto-approve", "--parallelism", "2"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while len(emu.store.user_pals()) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted: no operation was started after Ctrl-C" in err
        assert "Traceback" not in err
        created = {p["pal_id"] for p in emu.store.user_pals()}
        time.sleep(0.3)
        assert {p["pal_id"] for p in emu.store.user_pals()} == created, "nothing runs on"
        assert 4 <= len(created) < 40, "it stopped early"
        entries = json.loads((pals / "palsync.lock").read_text())["pals"]
        assert {e["pal_id"] for e in entries.values()} == created
        rerun = palsync(tmp_path, env, "apply", "--auto-approve")
        assert rerun.returncode == 0, rerun.stderr
        names = [p["pal_name"] for p in emu.store.user_pals()]
        assert len(names) == len(set(names)) == 40
