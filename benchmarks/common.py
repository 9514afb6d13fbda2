"""Shared pieces of the benchmarks: timing whole processes, generating manifests."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
FACE = "r90bbd427f71"


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    max_rss_mib: float
    code: int
    out: str


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """One whole process: wall time, CPU (user+sys) and peak RSS of the child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, after.ru_maxrss / 1024, proc.returncode, proc.stdout + proc.stderr)


def best(cmd: list[str], cwd: Path, repeat: int, env: dict[str, str] | None = None) -> Run:
    runs = [run(cmd, cwd, env) for _ in range(repeat)]
    return min(runs, key=lambda r: r.wall)


def pal_sync() -> list[str]:
    return [sys.executable, "-m", "palsync"]


def tool(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else name


def body(i: int, **extra: object) -> dict[str, object]:
    return {
        "pal_name": f"Bench PAL {i:05d}",
        "system_prompt": f"You are benchmark PAL {i}. Be concise and helpful.",
        "pipeline_mode": "full",
        "default_face_id": FACE,
        "layers": {
            "llm": {"model": "tavus-glm-4.7"},
            "conversational_flow": {"turn_taking_patience": "medium"},
        },
        **extra,
    }


def write_manifests(folder: Path, count: int, **extra: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        text = yaml.safe_dump(body(i, **extra), sort_keys=False)
        (folder / f"pal-{i:05d}.yaml").write_text(text, encoding="utf-8")


def compile_sources() -> None:
    """Installed packages have their bytecode; make ours comparable (PYTHONDONTWRITEBYTECODE)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "palsync")], check=True)
