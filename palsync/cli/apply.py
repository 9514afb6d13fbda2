"""`pal-sync apply`: make the live account match the manifests (or a saved plan)."""

from __future__ import annotations

import json

import click

from palsync.cli.common import (
    common_options,
    confirm,
    notice,
    strict_given,
    strict_option,
    where,
)
from palsync.errors import EXIT_ERROR, EXIT_OK
from palsync.lease import DEFAULT_WAIT
from palsync.textsafe import visible


@click.command("apply")
@click.argument("planfile", required=False, type=click.Path(dir_okay=False))
@common_options
@strict_option
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="KEY",
    help="Limit to these keys (globs; repeatable).",
)
@click.option("--prune", is_flag=True, help="Delete PALs in the lock whose manifest is gone.")
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for CI).")
@click.option(
    "--parallelism",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Operations in flight at once.",
)
@click.option(
    "--on-error",
    type=click.Choice(["continue", "abort"]),
    default="continue",
    show_default=True,
    help="After a PAL fails: go on with the others, or stop.",
)
@click.option(
    "--force-maker",
    "force_maker",
    multiple=True,
    metavar="KEY",
    help="Overwrite unpublished PAL Maker edits of this PAL (repeatable; never a protected one).",
)
@click.option(
    "--recreate",
    "recreate",
    multiple=True,
    metavar="KEY",
    help="Create a new PAL for this manifest, whose pinned PAL (x-palsync.pal_id) no longer "
    "exists (repeatable).",
)
@click.option(
    "--lease-wait",
    default=DEFAULT_WAIT,
    show_default=True,
    type=click.FloatRange(0, 86400),
    metavar="SECONDS",
    help="How long to wait for the account lease another apply holds before giving up.",
)
@click.option(
    "--no-lease",
    is_flag=True,
    help="Take no account lease (for servers that do not honour JSON Patch test; then make "
    "sure only one apply runs per account, e.g. with a CI concurrency group).",
)
@click.option(
    "--resend-secrets",
    is_flag=True,
    help="Send the secrets the lock records as unverified (imported: the API never shows them) "
    "from the environment, once; their fingerprints are recorded then.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def command(
    planfile: str | None,
    directory: str,
    lock_path: str | None,
    emulator: bool,
    api_key_file: str | None,
    verbose: bool,
    targets: tuple[str, ...],
    prune: bool,
    auto_approve: bool,
    parallelism: int,
    on_error: str,
    force_maker: tuple[str, ...],
    recreate: tuple[str, ...],
    lease_wait: float,
    no_lease: bool,
    resend_secrets: bool,
    fmt: str,
) -> int:
    """Make the live account match the manifests.

    Without PLANFILE: plan, show the plan, ask for confirmation (--auto-approve in CI). With a
    PLANFILE from `pal-sync plan --out`: apply exactly that plan, or refuse if anything it was
    based on changed since. The lock is written after every successful operation, so a re-run
    after any failure or interruption converges without duplicates.

    Another apply against the same account (another clone, another machine) is kept out by the
    account lease (`pal-sync lease status`); this one waits for it up to --lease-wait seconds.
    """
    from palsync import render
    from palsync.pipeline.applying import ApplyRequest, Outcome, Plan, run_apply

    def show_plan(plan: Plan) -> None:
        if fmt == "text":
            click.echo(render.plan_text(plan), nl=False)

    def approve(_plan: Plan) -> bool:
        return confirm(
            "Apply these changes?",
            refusal="no terminal to confirm on and no --auto-approve; nothing was applied",
            hint="review `pal-sync plan`, then rerun with --auto-approve",
        )

    done = [0]

    def progress(outcome: Outcome) -> None:
        done[0] += 1
        if fmt == "text":
            line = (
                f"[{done[0]}/{total[0]}] {outcome.result:<7} {outcome.action} "
                f"{outcome.key} {outcome.pal_id or ''} {outcome.message}"
            )
            # messages quote servers and manifests: no hidden or bidi characters raw
            click.echo(visible(line.rstrip()), err=True)

    total = [0]

    def shown(plan: Plan) -> None:
        total[0] = sum(c.is_change or c.action == "blocked" for c in plan.changes)
        show_plan(plan)

    request = ApplyRequest(
        where(directory, lock_path, emulator, api_key_file, verbose),
        planfile=planfile,
        targets=targets,
        prune=prune,
        recreate=recreate,
        resend_secrets=resend_secrets,
        strict=strict_given(),
        force_maker=force_maker,
        parallelism=parallelism,
        abort_on_error=on_error == "abort",
        lease=not no_lease,
        lease_wait=lease_wait,
        auto_approve=auto_approve,
    )
    result = run_apply(request, approve=approve, show_plan=shown, progress=progress, notice=notice)
    if not result.approved:
        click.echo("Nothing applied.")
        return EXIT_OK
    plan, outcomes, failed = result.plan, result.outcomes, result.failed
    if fmt == "json":
        doc = {
            "format_version": 1,
            "plan": plan.to_dict(),
            "outcomes": [o.__dict__ for o in outcomes],
            "failed": len(failed),
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    elif outcomes:
        click.echo("")
        rows = [(o.key, o.action, o.pal_id or "-", o.result, o.message) for o in outcomes]
        click.echo(render.outcomes_text(rows), nl=False)
        ok = sum(o.result == "ok" for o in outcomes)
        click.echo(
            f"Apply complete: {ok} succeeded, {len(failed)} failed, blocked or not attempted."
        )
    return EXIT_ERROR if failed else EXIT_OK
