"""`pal-sync apply`: make the live account match the manifests (or a saved plan)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import click

from palsync.cli.common import (
    account_binding,
    check_binding,
    check_keys,
    common_options,
    confirm,
    exclusive,
    load_desired,
    load_plan,
    lock_file,
    make_plan,
    open_client,
    strict_option,
)
from palsync.errors import EXIT_ERROR, EXIT_OK, StalePlanError, UsageError
from palsync.lease import DEFAULT_TTL, DEFAULT_WAIT, Lease
from palsync.plan import Plan, change_to_dict
from palsync.settings import env_number
from palsync.textsafe import visible


def take_lease(client: Any, emulator: bool, wait: float) -> Lease:
    """Take this account's apply lease (DESIGN 14), after checking that the server honours
    JSON Patch `test`; waits up to `wait` seconds for another holder."""
    import hashlib

    from palsync.cache import cache_root

    binding = account_binding(client, emulator)
    name = hashlib.sha256(json.dumps(binding, sort_keys=True).encode()).hexdigest()[:24]
    try:
        hint = cache_root() / "leases" / name
    except OSError:
        hint = None
    ttl = env_number("PALSYNC_LEASE_TTL", low=0.5, high=86400)
    lease = Lease(
        client,
        ttl=DEFAULT_TTL if ttl is None else ttl,
        wait=wait,
        notice=lambda line: click.echo(line, err=True),
        hint_file=hint,
    )
    lease.acquire()
    return lease


def _stale_reasons(saved: dict[str, Any], plan: Plan) -> list[str]:
    """Why a saved plan no longer holds, each reason naming what actually changed."""
    from palsync.manifest import dotted
    from palsync.plan import SENSITIVE

    def _plain_ops(ops: list[Any]) -> list[Any]:
        # the ops that carry no secret: a secret's op changes with its value, reported apart
        return [op for op in ops if SENSITIVE not in json.dumps(op, ensure_ascii=False)]

    reasons = []
    if saved.get("manifests_hash") != plan.manifests_hash:
        reasons.append("the manifests changed")
    if saved.get("lock_hash") != plan.lock_hash:
        reasons.append("the lock file changed")
    fresh = {c.key: change_to_dict(c) for c in plan.changes}
    old = {c["key"]: c for c in saved.get("changes", [])}
    for key in sorted(set(fresh) | set(old)):
        a, b = old.get(key), fresh.get(key)
        if a is None or b is None:
            reasons.append(f"{key}: now {'absent from' if b is None else 'in'} the plan")
            continue
        said: list[str] = []
        # an unchanged PAL carries no live hash (not computed): compare only two real ones
        live_known = bool(a.get("live_hash")) and bool(b.get("live_hash"))
        live_changed = live_known and a.get("live_hash") != b.get("live_hash")
        if live_changed:
            said.append(f"the live PAL {b.get('pal_id')} changed since the plan")
        secrets_a, secrets_b = a.get("secret_fingerprints") or {}, b["secret_fingerprints"]
        if secrets_a != secrets_b:
            pointers = sorted(
                p for p in set(secrets_a) | set(secrets_b) if secrets_a.get(p) != secrets_b.get(p)
            )
            said.append(
                "the value of a secret variable changed ("
                + ", ".join(dotted(p) for p in pointers)
                + ")"
            )
        ops_a = _plain_ops([*(a.get("ops") or []), *(a.get("conferencing_ops") or [])])
        ops_b = _plain_ops([*b["ops"], *b["conferencing_ops"]])
        if ops_a != ops_b and not live_changed:
            cause = (
                "an environment variable changed"
                if live_known
                else "an environment variable changed or the live PAL was edited"
            )
            said.append(f"the planned field changes differ now ({cause})")
        if a.get("action") != b["action"]:
            said.append(f"it was planned as {a.get('action')}, now it is {b['action']}")
        if said:
            reasons.append(f"{key}: " + "; ".join(said))
    return reasons


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
    from palsync import lock as lockfile
    from palsync import render
    from palsync.apply import Applier, LockWriter, Outcome

    if planfile and (targets or prune or recreate or resend_secrets):
        raise UsageError(
            "a saved plan carries its own --target, --prune, --recreate and --resend-secrets; "
            "they cannot be given again",
            hint=f"apply {planfile} as it is, or make a new plan with the options you want",
        )
    saved = load_plan(planfile) if planfile else None
    if saved is not None:
        directory = saved.get("dir", directory)
        targets = tuple(saved.get("targets", ()))
        prune = bool(saved.get("prune", False))
        resend_secrets = bool(saved.get("resend_secrets", False))
        # the plan's re-creations of missing pinned PALs (`plan --recreate KEY`)
        recreate = tuple(
            str(c.get("key"))
            for c in saved.get("changes") or ()
            if isinstance(c, dict) and c.get("action") == "create" and c.get("replaces")
        )
    path = lock_file(directory, lock_path, emulator)
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(path, directory):
        manifests, desired = load_desired(directory, targets)
        lock = lockfile.load(path)
        if saved is not None and not path.exists() and saved.get("lock_salt"):
            lock = lockfile.new_lock(str(saved["lock_salt"]))
        check_keys("--force-maker", force_maker, [d.key for d in desired], globs=False)
        for d in desired:
            if d.key in force_maker and d.protected:
                raise UsageError(
                    f"--force-maker {d.key}: {d.key} is protected (x-palsync.protected), and a "
                    "protected PAL is never forced; nothing was sent",
                    hint=f"publish or discard its PAL Maker draft, or remove `protected` from "
                    f"{d.path} first",
                )
        with (
            open_client(
                emulator=emulator,
                api_key_file=api_key_file,
                verbose=verbose,
                concurrency=max(16, parallelism),
            ) as client,
            contextlib.ExitStack() as stack,
        ):
            if saved is not None:
                check_binding(saved, account_binding(client, emulator), str(planfile))
            # a typo in --target is refused before any request, the lease's included
            check_keys("--target", targets, [m.key for m in manifests] + list(lock.entries))
            lease = None if no_lease else take_lease(client, emulator, lease_wait)
            if lease is not None:
                stack.callback(lease.release)
            plan, live = make_plan(
                client,
                manifests,
                desired,
                lock,
                targets=targets,
                prune=prune,
                lease=lease,
                recreate=recreate,
                resend_secrets=resend_secrets,
            )
            live_ids = {str(p["pal_id"]) for p in live if p.get("pal_id")}
            if saved is not None:
                reasons = _stale_reasons(saved, plan)
                if reasons:
                    raise StalePlanError(
                        f"stale plan {planfile}: " + "; ".join(reasons) + "; nothing was applied",
                        hint="run pal-sync plan again",
                    )
            if fmt == "text":
                click.echo(render.plan_text(plan), nl=False)
            if (
                plan.has_changes
                and saved is None
                and not auto_approve
                and not confirm(
                    "Apply these changes?",
                    refusal="no terminal to confirm on and no --auto-approve; nothing was applied",
                    hint="review `pal-sync plan`, then rerun with --auto-approve",
                )
            ):
                click.echo("Nothing applied.")
                return EXIT_OK
            total = sum(c.is_change or c.action == "blocked" for c in plan.changes)
            done = [0]

            def progress(outcome: Outcome) -> None:
                done[0] += 1
                if fmt == "text":
                    line = (
                        f"[{done[0]}/{total}] {outcome.result:<7} {outcome.action} "
                        f"{outcome.key} {outcome.pal_id or ''} {outcome.message}"
                    )
                    # messages quote servers and manifests: no hidden or bidi characters raw
                    click.echo(visible(line.rstrip()), err=True)

            by_key = {d.key: d for d in desired}
            applier = Applier(
                plan,
                by_key,
                client,
                LockWriter(lock, path),
                known_ids=live_ids,
                parallelism=parallelism,
                abort_on_error=on_error == "abort",
                force_maker=force_maker,
                progress=progress,
            )
            if lease is not None:
                lease.on_lost = lambda why: applier.stop(f"not attempted ({why})")
                if lease.lost.is_set():  # lost while planning, or at the prompt
                    applier.stop("not attempted (this run lost the account lease before applying)")
            outcomes = applier.run()
    # not attempted (the lease was lost, --on-error abort) is not done: exit 1 as well
    failed = [o for o in outcomes if o.failed or o.result == "skipped"]
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
