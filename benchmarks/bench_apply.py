"""apply of 200 updates against the emulator with injected latency, against the floor
ceil(200 / parallelism) × latency plus the plan's and the read-back's round trips."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from benchmarks.bench_plan import KEY, LATENCY, prepare
from benchmarks.common import compile_sources, pal_sync, run, write_manifests
from palsync.emulator import Emulator

PARALLELISM = 4
GOAL = 2.0  # wall at most twice the floor


def measure(count: int = 200) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, Emulator(api_key=KEY) as emu:
        folder = Path(tmp) / "pals"
        prepare(folder, emu, count)
        write_manifests(folder, count, context="changed by the benchmark")
        emu.faults.set_latency(LATENCY)
        env = {"TAVUS_API_URL": emu.url, "TAVUS_API_KEY": KEY}
        result = run(
            [*pal_sync(), "apply", "--auto-approve", "--parallelism", str(PARALLELISM)],
            Path(tmp),
            env,
        )
        assert result.code == 0, result.out[-2000:]
        patches = emu.request_counts().get("PATCH /v2/pals/{id}", 0)
    pages = math.ceil(count / 100)
    # plan: 2 sequential round trips (page 1, the rest); read-back: the same again
    floor = math.ceil(count / PARALLELISM) * LATENCY + 4 * LATENCY
    return {
        "updates": count,
        "patches": patches,
        "wall_s": result.wall,
        "floor_s": floor,
        "ratio": result.wall / floor,
        "goal": GOAL,
        "pages": pages,
    }


def main(quick: bool = False) -> list[dict[str, float]]:
    compile_sources()
    return [measure(200)]
