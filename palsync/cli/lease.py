"""`pal-sync lease status|break`: who holds this account's apply lease, and freeing it."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from palsync.cli.common import confirm, notice, where
from palsync.errors import EXIT_OK
from palsync.pipeline.session import Where, open_client


def _client_options(fn: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--emulator", is_flag=True, help="The in-process emulator's account (.palsync/)."
            ),
            click.option(
                "--api-key-file",
                type=click.Path(dir_okay=False),
                help="Read the API key from this file instead of TAVUS_API_KEY.",
            ),
            click.option("-v", "--verbose", is_flag=True, help="Log every request (no secrets)."),
        ]
    ):
        fn = option(fn)
    return fn


def _account(emulator: bool, api_key_file: str | None, verbose: bool) -> Where:
    return where(emulator=emulator, api_key_file=api_key_file, verbose=verbose)


@click.group("lease")
def command() -> None:
    """The account lease that keeps two applies apart.

    Every `pal-sync apply` takes it (unless --no-lease) in the account itself, in a PAL named
    "pal-sync apply lease (do not use or delete)", and gives it back when it ends; a holder that
    dies stops renewing it and it expires after two minutes. `plan` and `validate` never take it.
    """


@command.command("status")
@_client_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def status_command(emulator: bool, api_key_file: str | None, verbose: bool, fmt: str) -> int:
    """Show who holds the lease, since when and until when."""
    from palsync.lease import status

    with open_client(_account(emulator, api_key_file, verbose), notice=notice) as client:
        pal, state = status(client)
    now = time.time()
    if fmt == "json":
        doc = {
            "lease_pal_id": pal.get("pal_id") if pal else None,
            "state": "free" if state.holder is None else "held" if state.held(now) else "expired",
            "holder": state.holder,
            "acquired": json.loads(state.encode())["acquired"],
            "expires": json.loads(state.encode())["expires"],
            "note": state.note,
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_OK
    where = f" (lease PAL {pal.get('pal_id')})" if pal else ""
    click.echo(f"Account lease{where}: {state.describe(now)}")
    if state.note and state.holder is not None:
        click.echo(f"  {state.note}")
    return EXIT_OK


@command.command("break")
@_client_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def break_command(emulator: bool, api_key_file: str | None, verbose: bool, yes: bool) -> int:
    """Free the lease whoever holds it (when its holder died and you cannot wait for expiry).

    Breaking the lease of a run that is still alive lets a second apply start beside it; the
    first notices at its next renewal and starts nothing new.
    """
    from palsync.lease import break_lease, status

    with open_client(_account(emulator, api_key_file, verbose), notice=notice) as client:
        pal, state = status(client)
        if pal is None or state.holder is None:
            click.echo("The account lease is not held; nothing to break.")
            return EXIT_OK
        click.echo(f"The account lease is {state.describe()}.")
        if not yes and not confirm(
            "Break it?",
            refusal="no terminal to confirm on; nothing was changed",
            hint="rerun with --yes once you are sure that run is dead",
        ):
            click.echo("Nothing changed.")
            return EXIT_OK
        pal_id, _ = break_lease(client, seen=pal)
    click.echo(f"Broke the lease held by {state.holder} (lease PAL {pal_id}).")
    return EXIT_OK
