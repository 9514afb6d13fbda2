"""The cost of slow secret fingerprints (scrypt, issue 10 item 11) on `plan`.

N unchanged PALs that share one LLM key and one header value, created by a first apply in an
in-process emulator with LATENCY seconds per request; then `pal-sync plan` as a child process,
best and median of five. Each distinct (salt, pointer, value) costs one derivation per run, so
the figure should not grow with N. SRC=/path/to/another/checkout compares another version.

    python -m benchmarks.bench_secrets [N] [LATENCY]      # default 1000 0.05
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from palsync.emulator import Emulator

KEY = "bench-key-123456"


def main(count: int = 1000, latency: float = 0.05) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, Emulator(api_key=KEY) as emu:
        pals = Path(tmp) / "pals"
        pals.mkdir()
        for i in range(count):
            body = {
                "pal_name": f"PAL {i}",
                "system_prompt": "hi",
                "default_face_id": "r90bbd427f71",
                "layers": {
                    "llm": {
                        "model": "m",
                        "base_url": "https://llm.example.com",
                        "api_key": "${LLM_KEY}",
                        "headers": {"X-Token": "${HDR}"},
                    }
                },
            }
            (pals / f"p{i:04d}.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")
        env = {
            **os.environ,
            "TAVUS_API_URL": emu.url,
            "TAVUS_API_KEY": KEY,
            "LLM_KEY": "sk-shared-llm-key",
            "HDR": "hdr-shared-value",
            "PALSYNC_CACHE_DIR": str(Path(tmp) / "cache"),
        }
        if os.environ.get("SRC"):
            env["PYTHONPATH"] = os.environ["SRC"]
        cmd = [sys.executable, "-m", "palsync"]
        done = subprocess.run(
            [*cmd, "apply", "--auto-approve"], cwd=tmp, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        emu.faults.latency = latency
        times = []
        for _ in range(5):
            started = time.perf_counter()
            done = subprocess.run(
                [*cmd, "plan", "--detailed-exitcode"],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
            )
            times.append(time.perf_counter() - started)
            assert done.returncode == 0, done.stdout[-500:] + done.stderr[-2000:]
    times.sort()
    return {"pals": count, "latency_s": latency, "best_s": times[0], "median_s": times[2]}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    lat = float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
    r = main(n, lat)
    print(
        f"plan of {n} unchanged PALs sharing one LLM key and one header value, "
        f"{lat * 1000:.0f} ms latency: best {r['best_s'] * 1000:.0f} ms, "
        f"median {r['median_s'] * 1000:.0f} ms"
    )
