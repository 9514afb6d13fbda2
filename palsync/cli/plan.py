"""`pal-sync plan`: what apply would change, in text, JSON or Markdown; optionally saved."""

from __future__ import annotations

import os
import sys

import click

from palsync.cli.common import common_options, notice, strict_given, strict_option, where
from palsync.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from palsync.pipeline.planfile import check_writable, save_plan


def use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


@click.command("plan")
@common_options
@strict_option
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="KEY",
    help="Limit the plan to these keys (globs; repeatable).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    help="Save the plan for `pal-sync apply PLANFILE`.",
)
@click.option("--prune", is_flag=True, help="Also delete PALs in the lock whose manifest is gone.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 with no changes, 1 on error, 2 when changes are pending.",
)
@click.option("--show-unchanged", is_flag=True, help="List unchanged PALs too (text format).")
@click.option(
    "--recreate",
    "recreate",
    multiple=True,
    metavar="KEY",
    help="Plan a new PAL for this manifest, whose pinned PAL (x-palsync.pal_id) no longer "
    "exists (repeatable).",
)
@click.option(
    "--resend-secrets",
    is_flag=True,
    help="Send the secrets the lock records as unverified (imported: the API never shows them) "
    "from the environment, once.",
)
def command(
    directory: str,
    lock_path: str | None,
    emulator: bool,
    api_key_file: str | None,
    verbose: bool,
    targets: tuple[str, ...],
    out: str | None,
    prune: bool,
    fmt: str,
    detailed_exitcode: bool,
    show_unchanged: bool,
    recreate: tuple[str, ...],
    resend_secrets: bool,
) -> int:
    """Show what `apply` would change in the live account.

    Each PAL is `create`, `update`, `adopt`, `delete` (--prune), `noop` or `blocked`; each change
    has a direction: `local` (the manifest changed), `drift` (the live PAL was edited outside
    pal-sync) or `conflict` (both). Nothing is written to the account.
    """
    from palsync import render
    from palsync.pipeline.planning import plan_directory

    if out:  # a typo in --out fails now, not after the plan was made
        check_writable(out, "--out")
    plan, binding = plan_directory(
        where(directory, lock_path, emulator, api_key_file, verbose),
        targets=targets,
        prune=prune,
        recreate=recreate,
        resend_secrets=resend_secrets,
        strict=strict_given(),
        notice=notice,
    )
    if fmt == "json":
        click.echo(render.plan_json(plan), nl=False)
    elif fmt == "markdown":
        click.echo(render.plan_markdown(plan), nl=False)
    else:
        click.echo(render.plan_text(plan, colour=use_colour(), show_noop=show_unchanged), nl=False)
    if out:
        save_plan(plan, out, directory, targets, prune, binding, resend_secrets)
        click.echo(f"Saved the plan to {out}; apply it with: pal-sync apply {out}", err=True)
    if plan.blocked:
        return EXIT_ERROR
    if detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK
