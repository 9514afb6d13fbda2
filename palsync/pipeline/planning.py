"""Desired documents + the live account + the lock → a `Plan`. The live state is read
concurrently (every PAL page the lock predicts at once, and the lists of the kinds the
manifests reference beside it) while the desired side of every comparison is computed."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from palsync.client import Client
from palsync.errors import UsageError
from palsync.kinds import PALS, Kind, referenced_kinds
from palsync.lock import Lock
from palsync.manifest import Manifest
from palsync.pipeline.session import Notice, Where, ignore
from palsync.plan import Desired, Plan, Refs, build, matches, missing_pins, prepare

if TYPE_CHECKING:
    from palsync.lease import Lease

Live = list[dict[str, Any]]


def start_fetch(
    client: Client, desired: list[Desired], expected: int = 0, *, with_lease: bool = False
) -> Callable[[], tuple[Live, Refs]]:
    """Start reading the live PALs and the lists of the kinds the manifests reference, all
    concurrently; returns the function that waits for them.

    `expected` (PALs in the lock) lets every page of the PAL list go out at once; `with_lease`
    keeps the account's lease PAL(s) in the list (apply checks them, the plan never sees them)."""
    kinds: list[Kind | None] = [None, *referenced_kinds(PALS, (d.body for d in desired))]

    def read(kind: Kind | None) -> Live:
        if kind is None:
            return client.list_pals(expected, with_lease=with_lease)
        return client.list_kind(kind)

    waiting = client.start(read, kinds)

    def wait() -> tuple[Live, Refs]:
        pals, *lists = waiting()
        known = {
            kind.name: kind.ids_in(items)
            for kind, items in zip(kinds[1:], lists, strict=True)
            if kind is not None
        }
        return pals, Refs(**known)

    return wait


def make_plan(
    client: Client,
    manifests: list[Manifest],
    desired: list[Desired],
    lock: Lock,
    *,
    targets: tuple[str, ...],
    prune: bool,
    lease: Lease | None = None,
    recreate: tuple[str, ...] = (),
    resend_secrets: bool = False,
) -> tuple[Plan, Live]:
    """The plan, and the live user PALs it was computed from. With the account `lease` held,
    the same listing also checks that nobody else holds a second one (DESIGN 14)."""
    if prune and not manifests:
        raise UsageError(
            "refusing to prune: no manifests were found, which would delete every PAL in the lock",
            hint="check --dir; pal-sync deletes a PAL only when its manifest is removed and "
            "others remain (apply --prune); to remove them all, delete them in the Tavus "
            "dashboard, then delete the lock file",
        )
    check_keys("--target", targets, [m.key for m in manifests] + list(lock.entries))
    pinned = [d.key for d in desired if d.pal_id and matches(d.key, targets)]
    check_keys("--recreate", recreate, pinned, globs=False)
    owned = sum(1 for e in lock.entries.values() if e.pal_id)
    wait = start_fetch(
        client, desired, expected=owned + (lease is not None), with_lease=bool(lease)
    )
    # the desired side of every comparison, computed while the requests are in flight
    prepared = {d.key: prepare(d, lock.salt) for d in desired if matches(d.key, targets)}
    live, refs = wait()
    if lease is not None:
        from palsync.fields import is_lease_pal

        lease.verify(live)
        live = [p for p in live if not is_lease_pal(p)]
    digests = [(m.key, m.digest) for m in manifests if matches(m.key, targets)]
    plan = build(
        desired,
        live,
        lock,
        refs,
        targets=targets,
        prune=prune,
        manifest_digests=digests,
        prepared=prepared,
        manifest_keys=[m.key for m in manifests],
        recreate=recreate,
        resend_secrets=resend_secrets,
    )
    check_recreate(recreate, desired, live)
    return plan, live


def check_recreate(recreate: tuple[str, ...], desired: list[Desired], live: Live) -> None:
    """`--recreate KEY` is only for a manifest pinned to a PAL that no longer exists; naming
    another is refused (before any write) rather than ignored."""
    missing = set(missing_pins(desired, live))
    pins = {d.key: d.pal_id for d in desired}
    for key in recreate:
        if key not in missing:
            raise UsageError(
                f"--recreate {key}: its pinned PAL {pins.get(key)} exists in the account; "
                "there is nothing to re-create",
                hint="--recreate is only for a manifest pinned (x-palsync.pal_id) to a PAL "
                "that no longer exists",
            )


def check_keys(
    option: str, patterns: tuple[str, ...], keys: list[str], *, globs: bool = True
) -> None:
    """A --target or --force-maker that names nothing is a typo, not an empty plan (which would
    read as "all good"); it is refused before any request. `keys`: what the option may name."""
    for pattern in patterns:
        if pattern in keys or (globs and any(matches(key, (pattern,)) for key in keys)):
            continue
        close = difflib.get_close_matches(pattern, sorted(set(keys)), n=1)
        what = "a manifest key (its file stem)" + (
            " or a glob such as 'support-*'" if globs else ""
        )
        raise UsageError(
            f"{option} {pattern} names no PAL of this plan",
            hint=f"did you mean {option} {close[0]}?" if close else f"give {what}",
        )


def plan_directory(
    where: Where,
    *,
    targets: tuple[str, ...] = (),
    prune: bool = False,
    recreate: tuple[str, ...] = (),
    resend_secrets: bool = False,
    strict: bool = False,
    notice: Notice = ignore,
) -> tuple[Plan, dict[str, str]]:
    """The whole of `plan`: load and validate the manifests, read the account, plan. Returns
    the plan and the account it was made against (for a plan file). Writes nothing."""
    from palsync import lock as lockfile
    from palsync.pipeline.loading import load_desired
    from palsync.pipeline.session import account_binding, open_client

    manifests, desired = load_desired(where.directory, targets, strict=strict)
    lock = lockfile.load(where.lock_file)
    with open_client(where, notice=notice) as client:
        plan, _ = make_plan(
            client,
            manifests,
            desired,
            lock,
            targets=targets,
            prune=prune,
            recreate=recreate,
            resend_secrets=resend_secrets,
        )
        return plan, account_binding(client, where.emulator)
