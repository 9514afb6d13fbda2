"""`pal-sync emulator`: serve the local Tavus API until interrupted."""

from __future__ import annotations

import errno
import ipaddress
import json
import threading
from pathlib import Path
from typing import Any

import click

from palsync.errors import UsageError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read(path: str, option: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise UsageError(f"{option} {path}: cannot read it ({reason})") from None


def _fault_spec(path: str) -> dict[str, Any]:
    try:
        spec = json.loads(_read(path, "--faults"))
    except json.JSONDecodeError as err:
        raise UsageError(
            f"--faults {path}: not JSON (line {err.lineno}, column {err.colno}: {err.msg})",
            hint='a fault spec looks like {"rules": [{"kind": "status", "status": 503}]}',
        ) from None
    if not isinstance(spec, dict):
        raise UsageError(
            f'--faults {path}: must be a JSON object such as {{"rules": [...]}}, '
            f"not {type(spec).__name__}"
        )
    return spec


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
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    help="Answer 429 (with Retry-After) above this many requests a second (token bucket).",
)
@click.option(
    "--burst",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Requests allowed at once under --rate-limit.",
)
@click.option(
    "--faults",
    "faults_file",
    type=click.Path(exists=True, dir_okay=False),
    help='JSON fault spec: {"rules": [{"kind": "status", "status": 429, ...}]}.',
)
@click.option(
    "--unknown-fields",
    type=click.Choice(["accept", "reject"]),
    default="accept",
    show_default=True,
    help="Fields the emulator does not know: stored and returned as written (as the real API "
    "does for PAL Maker's fields), or refused with 400 naming the field.",
)
@click.option(
    "--interruptibility",
    type=click.Choice(
        ["pal_interruptibility", "face_interruptibility", "replica_interruptibility"]
    ),
    default="pal_interruptibility",
    show_default=True,
    help="Spelling of the one interruptibility field in /v2/pals reads (writes accept all three; "
    "/v2/personas reads show replica_interruptibility).",
)
def command(
    host: str,
    port: int,
    state: str | None,
    api_key_file: str | None,
    latency: float,
    rate_limit: float | None,
    burst: int,
    faults_file: str | None,
    unknown_fields: str,
    interruptibility: str,
) -> int:
    """Serve a faithful local Tavus API on loopback (Ctrl-C to stop).

    Point pal-sync at it with TAVUS_API_URL=http://HOST:PORT and any TAVUS_API_KEY.
    Tests can change faults at run time: POST /_emulator/faults, GET /_emulator/requests,
    and behaviours with POST /_emulator/options ({"unknown_fields": "reject"},
    {"interruptibility": "face_interruptibility"}, {"empty_patch_answers": true}).
    These admin endpoints need the API key too (x-api-key), and never return a secret:
    stored secrets are masked on every read, and --state keeps only one-way digests of them.
    """
    from palsync.emulator import Emulator

    if not _loopback(host):
        raise UsageError(
            f"--host {host} is not a loopback address; the emulator serves only "
            "this machine (127.0.0.1, ::1, localhost)"
        )
    key = _read(api_key_file, "--api-key-file").strip() if api_key_file else None
    spec = _fault_spec(faults_file) if faults_file else None
    try:
        emulator = Emulator(
            state_file=state,
            api_key=key,
            latency=latency,
            unknown_fields=unknown_fields,
            interruptibility=interruptibility,
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(
            f"--state {state}: cannot load the emulated account ({type(err).__name__}: {err})",
            hint="point --state at a file this emulator wrote, or at a new path",
        ) from None
    if spec is not None:
        try:
            emulator.faults.configure({"latency": latency, **spec})
        except (TypeError, ValueError) as err:
            raise UsageError(f"--faults {faults_file}: {err}") from None
    if rate_limit is not None:
        emulator.faults.set_rate_limit(rate_limit, burst)
    try:
        url = emulator.start(host, port)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is already in use",
                hint="stop what is listening there, or choose another --port (0 picks a free one)",
            ) from None
        raise UsageError(f"cannot serve on {host}:{port}: {err.strerror or err}") from None
    click.echo(f"Tavus API emulator on {url}")
    click.echo(f"  export TAVUS_API_URL={url} TAVUS_API_KEY=<any non-empty key>")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        emulator.stop()
    return 0
