"""What the commands that reach an account share on the command line: their options, the
terminal's confirmation, and the lines the pipeline says (to stderr). The work itself is
`palsync.pipeline`'s."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from palsync.errors import UsageError
from palsync.pipeline.session import Where


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--dir",
            "directory",
            default="pals",
            show_default=True,
            type=click.Path(file_okay=False),
            help="Directory of manifests.",
        ),
        click.option(
            "--lock",
            "lock_path",
            type=click.Path(dir_okay=False),
            help="Lock file (default: <dir>/palsync.lock; .palsync/emulator.lock with --emulator).",
        ),
        click.option(
            "--emulator",
            is_flag=True,
            help="Run against an in-process emulator (state in .palsync/).",
        ),
        click.option(
            "--api-key-file",
            type=click.Path(dir_okay=False),
            help="Read the API key from this file instead of TAVUS_API_KEY.",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Log every request (no secrets)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def where(
    directory: str = "pals",
    lock_path: str | None = None,
    emulator: bool = False,
    api_key_file: str | None = None,
    verbose: bool = False,
) -> Where:
    """The common options as the pipeline takes them."""
    return Where(directory, lock_path, emulator, api_key_file, verbose)


def notice(line: str) -> None:
    """A line the pipeline says while it works (retries, the lease, -v requests): stderr."""
    click.echo(line, err=True)


def confirm(question: str, *, refusal: str, hint: str) -> bool:
    """Ask on a terminal; with no terminal, refuse (never a silent yes)."""
    if not sys.stdin.isatty():
        raise UsageError(refusal, hint=hint)
    return click.confirm(question, default=False)


#: `ctx.meta` key set by --strict (plan, apply)
STRICT = "palsync.strict"


def strict_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--strict` for the commands that load manifests; read back with `strict_given()`, so
    the commands need no parameter for it."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            ctx.meta[STRICT] = True
        return value

    return click.option(
        "--strict",
        is_flag=True,
        expose_value=False,
        callback=remember,
        help="Unknown keys and fields in no Tavus source are errors, not warnings (as "
        "`validate --strict`): nothing is sent.",
    )(fn)


def strict_given() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(STRICT))
