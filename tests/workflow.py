"""Helpers for the acceptance tests: run the real CLI against the real emulator over loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from palsync.cli import main
from palsync.emulator import Emulator
from palsync.lease import lease_pal_body

ROOT = Path(__file__).resolve().parent.parent
FACE = "r90bbd427f71"


@dataclass
class Result:
    code: int
    out: str
    err: str


class Workspace:
    """A temporary project: pals/ manifests, env pointing at the emulator, the CLI in-process."""

    def __init__(
        self,
        root: Path,
        emulator: Emulator,
        api_key: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ):
        self.root = root
        self.pals = root / "pals"
        self.pals.mkdir(exist_ok=True)
        self.emulator = emulator
        self.api_key = api_key
        self.capsys = capsys
        self.env = {
            "TAVUS_API_URL": emulator.url,
            "TAVUS_API_KEY": api_key,
            "PALSYNC_BACKOFF_BASE": "0.001",
            "PALSYNC_TIMEOUT": "2",
            "ACME_LLM_API_KEY": "sk-acme-demo-secret",
            "PALSYNC_CACHE_DIR": str(root / "cache"),
        }
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        # the account lease PAL an earlier apply left (as in any account pal-sync has applied
        # to), so that faults a test injects on POST /v2/pals hit the PALs it means
        emulator.store.create_pal(lease_pal_body("created by the test workspace"), False)
        monkeypatch.chdir(root)

    def write(self, key: str, body: dict[str, Any]) -> Path:
        path = self.pals / f"{key}.yaml"
        path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
        return path

    def copy_examples(self) -> None:
        for file in (ROOT / "pals").glob("*.yaml"):
            shutil.copy(file, self.pals / file.name)

    def run(self, *args: str) -> Result:
        self.capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def run_process(self, *args: str, timeout: float = 60) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "palsync", *args],
            cwd=self.root,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def lock(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.pals / "palsync.lock").read_text())
        return data

    def names(self) -> list[str]:
        return sorted(str(p.get("pal_name")) for p in self.emulator.store.user_pals())


def pal_body(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "pal_name": f"PAL {i:03d}",
        "system_prompt": f"You are PAL number {i}.",
        "default_face_id": FACE,
        **extra,
    }
