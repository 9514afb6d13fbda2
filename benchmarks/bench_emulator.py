"""The emulator under load: 10,000 PALs, 200 concurrent clients, requests per second.

The emulator runs in its own process (`pal-sync emulator --state`), the load in this one, so the
two do not share an interpreter lock.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks.common import body, pal_sync
from palsync.emulator import Store

KEY = "bench-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(pals: int = 10_000, clients: int = 200, seconds: float = 3.0) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.json"
        store = Store()
        ids = [store.create_pal(body(i), legacy=False)["pal_id"] for i in range(pals)]
        store.save(state)
        port = _free_port()
        server = subprocess.Popen(
            [*pal_sync(), "emulator", "--port", str(port), "--state", str(state)],
            stdout=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    httpx.get(f"{url}/_emulator/requests", headers={"x-api-key": KEY}, timeout=1)
                    break
                except httpx.TransportError:
                    if server.poll() is not None:
                        raise RuntimeError("the emulator exited before serving") from None
                    time.sleep(0.05)
            else:
                raise RuntimeError("the emulator did not answer within 30 s")
            done, errors = [0], [0]
            lock = threading.Lock()
            # the clients are made before the clock starts (an httpx.Client costs milliseconds of
            # CPU to build: 200 of them inside the window measured client set-up, not the server)
            pool = [
                httpx.Client(base_url=url, headers={"x-api-key": KEY}, timeout=60)
                for _ in range(clients)
            ]
            clock: list[float] = []

            def start_clock() -> None:
                now = time.monotonic()
                clock[:] = [now, now + seconds]

            ready = threading.Barrier(clients, action=start_clock)

            def worker(n: int) -> None:
                c, i = pool[n], n
                ready.wait()
                while time.monotonic() < clock[1]:
                    try:
                        ok = c.get(f"/v2/pals/{ids[i % pals]}").status_code == 200
                    except httpx.HTTPError:
                        ok = False  # a refused or dropped connection is an error too
                    with lock:
                        done[0] += 1
                        errors[0] += not ok
                    i += clients

            threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - clock[0]
            for c in pool:
                c.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    return {
        "pals": pals,
        "clients": clients,
        "requests": done[0],
        "errors": errors[0],
        "rps": done[0] / elapsed,
    }


def main(quick: bool = False) -> list[dict[str, float]]:
    return [measure(pals=1000 if quick else 10_000, seconds=1.0 if quick else 3.0)]
