"""The whole of `apply`, without a terminal: take the account lease, plan (or check a saved
plan still holds), show the plan, ask for approval, run the `Applier`, return the outcomes.
How the plan is shown and approval asked for is the caller's (callbacks)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from palsync import lock as lockfile
from palsync.apply import Applier, LockWriter, Outcome
from palsync.client import Client
from palsync.errors import StalePlanError, UsageError
from palsync.lease import DEFAULT_TTL, DEFAULT_WAIT, Lease
from palsync.pipeline.loading import load_desired
from palsync.pipeline.planfile import check_binding, load_plan, saved_options, stale_reasons
from palsync.pipeline.planning import check_keys, make_plan
from palsync.pipeline.session import Notice, Where, account_binding, exclusive, ignore, open_client
from palsync.plan import Plan
from palsync.settings import env_number

__all__ = ["ApplyRequest", "ApplyResult", "Outcome", "Plan", "run_apply", "take_lease"]


@dataclass(frozen=True)
class ApplyRequest:
    """What to apply: the manifests of `where` (or the saved plan `planfile`) and how."""

    where: Where
    planfile: str | None = None
    targets: tuple[str, ...] = ()
    prune: bool = False
    recreate: tuple[str, ...] = ()
    resend_secrets: bool = False
    strict: bool = False
    force_maker: tuple[str, ...] = ()
    parallelism: int = 4
    abort_on_error: bool = False
    #: take the account lease (DESIGN 14); False only for servers that ignore `test` ops
    lease: bool = True
    lease_wait: float = DEFAULT_WAIT
    auto_approve: bool = False


@dataclass
class ApplyResult:
    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    #: False when the plan had changes and approval was refused (nothing applied)
    approved: bool = True

    @property
    def failed(self) -> list[Outcome]:
        """Failed, blocked, conflicting, and not attempted (the lease was lost, --on-error
        abort): none of them is done."""
        return [o for o in self.outcomes if o.failed or o.result == "skipped"]


def run_apply(
    request: ApplyRequest,
    *,
    approve: Callable[[Plan], bool],
    show_plan: Callable[[Plan], None] = ignore,
    progress: Callable[[Outcome], None] = ignore,
    notice: Notice = ignore,
) -> ApplyResult:
    """Apply `request`. `show_plan` sees the plan before anything is written; `approve` is
    asked (unless `auto_approve`, or a saved plan, which was reviewed when it was made) when
    the plan has changes; `progress` hears each outcome as it happens."""
    r = request
    if r.planfile and (r.targets or r.prune or r.recreate or r.resend_secrets):
        raise UsageError(
            "a saved plan carries its own --target, --prune, --recreate and --resend-secrets; "
            "they cannot be given again",
            hint=f"apply {r.planfile} as it is, or make a new plan with the options you want",
        )
    saved = load_plan(r.planfile) if r.planfile else None
    where, targets, prune, recreate = r.where, r.targets, r.prune, r.recreate
    resend = r.resend_secrets
    if saved is not None:
        directory, targets, prune, resend, recreate = saved_options(saved)
        if directory is not None:
            where = replace(where, directory=directory)
    path = where.lock_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(path, where.directory):
        manifests, desired = load_desired(where.directory, targets, strict=r.strict)
        lock = lockfile.load(path)
        if saved is not None and not path.exists() and saved.get("lock_salt"):
            lock = lockfile.new_lock(str(saved["lock_salt"]))
        check_keys("--force-maker", r.force_maker, [d.key for d in desired], globs=False)
        for d in desired:
            if d.key in r.force_maker and d.protected:
                raise UsageError(
                    f"--force-maker {d.key}: {d.key} is protected (x-palsync.protected), and a "
                    "protected PAL is never forced; nothing was sent",
                    hint=f"publish or discard its PAL Maker draft, or remove `protected` from "
                    f"{d.path} first",
                )
        with (
            open_client(where, notice=notice, concurrency=max(16, r.parallelism)) as client,
            contextlib.ExitStack() as stack,
        ):
            if saved is not None:
                check_binding(saved, account_binding(client, where.emulator), str(r.planfile))
            # a typo in --target is refused before any request, the lease's included
            check_keys("--target", targets, [m.key for m in manifests] + list(lock.entries))
            lease = take_lease(client, where.emulator, r.lease_wait, notice) if r.lease else None
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
                resend_secrets=resend,
            )
            live_ids = {str(p["pal_id"]) for p in live if p.get("pal_id")}
            if saved is not None:
                reasons = stale_reasons(saved, plan)
                if reasons:
                    raise StalePlanError(
                        f"stale plan {r.planfile}: " + "; ".join(reasons) + "; nothing was applied",
                        hint="run pal-sync plan again",
                    )
            show_plan(plan)
            if plan.has_changes and saved is None and not r.auto_approve and not approve(plan):
                return ApplyResult(plan, approved=False)
            applier = Applier(
                plan,
                {d.key: d for d in desired},
                client,
                LockWriter(lock, path),
                known_ids=live_ids,
                parallelism=r.parallelism,
                abort_on_error=r.abort_on_error,
                force_maker=r.force_maker,
                progress=progress,
            )
            if lease is not None:
                lease.on_lost = lambda why: applier.stop(f"not attempted ({why})")
                if lease.lost.is_set():  # lost while planning, or at the prompt
                    applier.stop("not attempted (this run lost the account lease before applying)")
            return ApplyResult(plan, applier.run())


def take_lease(client: Client, emulator: bool, wait: float, notice: Notice = ignore) -> Lease:
    """Take this account's apply lease (DESIGN 14), after checking that the server honours
    JSON Patch `test`; waits up to `wait` seconds for another holder."""
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
        notice=notice,
        hint_file=hint,
    )
    lease.acquire()
    return lease
