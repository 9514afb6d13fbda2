"""`pal-sync emulator`: serve the local Tavus API until interrupted."""

from __future__ import annotations

import ipaddress
import json
import threading
from pathlib import Path

import click

from palsync.errors import UsageError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 = any free).")
@click.option(
    "--state",
    "state",
    type=click.Path(dir_okay=False),
    help="JSON file that keeps the account between runs. Secrets (LLM and TTS keys, LLM "
    "header values) are stored in it only as salted scrypt digests, never in clear.",
)
@click.option(
    "--api-key-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Accept only the key in this file (default: any non-empty key).",
)
@click.option("--latency", type=float, default=0.0, help="Seconds added to every request.")
@click.option(
    "--faults",
    "faults_file",
    type=click.Path(exists=True, dir_okay=False),
    help='JSON fault spec: {"rules": [{"kind": "status", "status": 429, ...}]}.',
)
def command(
    host: str,
    port: int,
    state: str | None,
    api_key_file: str | None,
    latency: float,
    faults_file: str | None,
) -> int:
    """Serve a faithful local Tavus API on loopback (Ctrl-C to stop).

    Point pal-sync at it with TAVUS_API_URL=http://HOST:PORT and any TAVUS_API_KEY.
    Tests can change faults at run time: POST /_emulator/faults, GET /_emulator/requests.
    These admin endpoints need the API key too (x-api-key), and never return a secret:
    stored secrets are masked on every read, and --state keeps only one-way digests of them.
    """
    from palsync.emulator import Emulator

    if not _loopback(host):
        raise UsageError(
            f"--host {host} is not a loopback address; the emulator serves only "
            "this machine (127.0.0.1, ::1, localhost)"
        )
    key = Path(api_key_file).read_text(encoding="utf-8").strip() if api_key_file else None
    emulator = Emulator(state_file=state, api_key=key, latency=latency)
    if faults_file:
        spec = json.loads(Path(faults_file).read_text(encoding="utf-8"))
        emulator.faults.configure({"latency": latency, **spec})
    url = emulator.start(host, port)
    click.echo(f"Tavus API emulator on {url}")
    click.echo(f"  export TAVUS_API_URL={url} TAVUS_API_KEY=<any non-empty key>")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        emulator.stop()
    return 0
