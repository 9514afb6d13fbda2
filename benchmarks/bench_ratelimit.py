"""apply of 200 updates, --parallelism 8, against an emulator that allows 20 requests a second
(token bucket, burst 10) and answers 429 with Retry-After beyond: wall time against the floor
(requests needed / rate) and the share of requests answered 429 (issue 19).

Two servers: one that says nothing but 429 + Retry-After (`blind`: the client must find the
rate by itself), and one that also sends `RateLimit-Policy/-Remaining/-Reset` headers."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_plan import KEY, prepare
from benchmarks.common import compile_sources, pal_sync, run, write_manifests
from palsync.emulator import Emulator

PARALLELISM = 8
RATE = 20.0
BURST = 10
GOALS = {"ratio": 1.2, "limited_share": 0.05}


def measure(count: int = 200, headers: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, Emulator(api_key=KEY) as emu:
        folder = Path(tmp) / "pals"
        prepare(folder, emu, count)
        write_manifests(folder, count, context="changed by the rate-limit benchmark")
        emu.faults.set_rate_limit(RATE, BURST, headers=headers)
        env = {
            "TAVUS_API_URL": emu.url,
            "TAVUS_API_KEY": KEY,
            "PALSYNC_CACHE_DIR": str(Path(tmp) / "cache"),
        }
        result = run(
            [*pal_sync(), "apply", "--auto-approve", "--parallelism", str(PARALLELISM)],
            Path(tmp),
            env,
        )
        assert result.code == 0, result.out[-2000:]
        statuses = [status for _, _, status in emu.requests()]
    limited = statuses.count(429)
    needed = len(statuses) - limited  # every request that was answered, once
    floor = needed / RATE
    return {
        "server": "headers" if headers else "blind",
        "updates": count,
        "requests": len(statuses),
        "needed": needed,
        "limited": limited,
        "limited_share": limited / len(statuses),
        "wall_s": result.wall,
        "floor_s": floor,
        "ratio": result.wall / floor,
    }


def main(quick: bool = False) -> list[dict[str, Any]]:
    """The blind server first (the goals are checked on it); --quick measures only that one."""
    compile_sources()
    rows = [measure(200, headers=False)]
    if not quick:
        rows.append(measure(200, headers=True))
    return rows


if __name__ == "__main__":
    for row in main():
        print(row)
