"""Plan + client → outcomes. The only code that writes to the API.

Creates, then updates (conferencing ops in their own request), then deletes, with bounded
parallelism. The lock is rewritten after every successful operation; a create is announced in the
lock before it is sent, so a crash between the server committing it and the lock recording it is
recovered by adoption, never by a second PAL. Lost responses are resolved by reading the account.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from palsync import lock as lockfile
from palsync.canonical import desired_form, fingerprint, live_form, lookup, normalise_live
from palsync.client import Client
from palsync.errors import ApiError, Interrupted, MakerConflict, OutcomeUnknown
from palsync.fields import STOCK_PAL_IDS
from palsync.kinds import PALS, Kind
from palsync.lock import Lock, LockEntry
from palsync.plan import Action, Change, Desired, Plan, build
from palsync.settings import env_number

ATTEMPTS = 3
#: how long after a create was sent (or an interrupted apply recorded its intent) a PAL it made
#: may still be invisible to list and get (a slow commit): about the client's timeout
CREATE_GRACE = 30.0
GRACE_VARIABLE = "PALSYNC_CREATE_GRACE"


def create_grace() -> float:
    """Seconds to keep listing the account for a create that may still be committing before a
    create is sent again (`PALSYNC_CREATE_GRACE`, default 30)."""
    value = env_number(GRACE_VARIABLE, low=0, high=3600)
    return CREATE_GRACE if value is None else value


def _epoch(stamp: str | None) -> float | None:
    """A lock time stamp (`2026-01-01T00:00:00Z`) as seconds since the epoch; None if unreadable."""
    from datetime import UTC, datetime

    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


#: what became of one change: done, failed (the API refused or the outcome stayed unknown),
#: blocked (not sendable as planned), conflict (edited outside pal-sync since the plan: nothing
#: of it written), skipped (not attempted: interrupted, lease lost, --on-error abort)
Result = Literal["ok", "failed", "blocked", "conflict", "skipped"]


@dataclass(frozen=True)
class Outcome:
    key: str
    action: Action
    pal_id: str | None
    result: Result
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.result in ("failed", "blocked", "conflict")


class LockWriter:
    """The current lock, rewritten atomically after each change; safe across worker threads."""

    def __init__(self, lock: Lock, path: Path):
        self._lock = lock
        self._path = path
        self._mutex = threading.Lock()
        # the writer exists only under the apply guard: nobody else is writing this lock now,
        # so temporary files of it are leftovers of a killed run (git would commit them)
        lockfile.clean_temp_files(path)

    @property
    def current(self) -> Lock:
        return self._lock

    def set(self, key: str, entry: LockEntry | None, *, drop: str | None = None) -> None:
        """Record `entry` under `key` (None: remove it), and remove `drop` in the same write
        (a renamed manifest's old key: never two keys owning one PAL, even after a crash)."""
        with self._mutex:
            lock = self._lock.with_entry(key, entry) if entry else self._lock.without(key)
            self._lock = lock.without(drop) if drop else lock
            lockfile.save(self._lock, self._path)


def _entry(change: Change, pal_id: str) -> LockEntry:
    return LockEntry(
        pal_id,
        change.fingerprint,
        change.managed,
        dict(change.secret_fingerprints),
        change.protected,
        replaces=change.replaces,
    )


class Applier:
    def __init__(
        self,
        plan: Plan,
        desired: Mapping[str, Desired],
        client: Client,
        writer: LockWriter,
        *,
        known_ids: Iterable[str],
        kind: Kind = PALS,
        parallelism: int = 4,
        abort_on_error: bool = False,
        force_maker: Iterable[str] = (),
        progress: Callable[[Outcome], None] | None = None,
    ):
        self.plan = plan
        self.desired = desired
        self.client = client
        self.kind = kind
        self.writer = writer
        self.known_ids = set(known_ids)
        self.parallelism = max(1, parallelism)
        self.abort_on_error = abort_on_error
        # protected means never forced (the CLI refuses it before any request; this is the
        # library's own guard)
        self.force_maker = {k for k in force_maker if not (k in desired and desired[k].protected)}
        self.progress = progress
        self.grace = create_grace()
        self._claiming = threading.Lock()
        self._stop = threading.Event()
        self._stop_reason = "not attempted (--on-error abort)"

    # ------------------------------------------------------------------ driver

    def run(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for change in self.plan.changes:
            if change.action == "noop":
                self._refresh_noop(change)
            elif change.action == "blocked":
                outcomes.append(
                    self._done(
                        Outcome(
                            change.key,
                            "blocked",
                            change.pal_id,
                            "blocked",
                            "; ".join(change.reasons),
                        )
                    )
                )
        phases: list[tuple[str, Callable[[Change], Outcome]]] = [
            ("create", self._create),
            ("update", self._update),
            ("adopt", self._update),
            ("delete", self._delete),
        ]
        pool = ThreadPoolExecutor(self.parallelism, thread_name_prefix="apply")
        try:
            for action, step in phases:
                batch = [c for c in self.plan.changes if c.action == action]
                outcomes += list(pool.map(lambda c, step=step: self._guard(c, step), batch))
        except KeyboardInterrupt:
            # like Terraform: start nothing new, let what is in flight finish (and reach the
            # lock); a second Ctrl-C stops waiting (the lock's intents still keep it safe)
            self._stop.set()
            self._stop_reason = "not attempted (interrupted)"
            pool.shutdown(wait=True, cancel_futures=True)
            raise Interrupted(
                "interrupted: no operation was started after Ctrl-C, those in flight finished "
                "and every completed one is in the lock",
                hint="run the same apply again to finish; it converges without duplicates",
            ) from None
        pool.shutdown(wait=True)
        changed = [o for o in outcomes if o.result == "ok" and o.action != "delete" and o.pal_id]
        return self._verify(outcomes, changed)

    def stop(self, reason: str) -> None:
        """Start nothing new from now on (operations in flight finish and reach the lock);
        what was not started is reported `skipped` with `reason`."""
        self._stop_reason = reason
        self._stop.set()

    def _done(self, outcome: Outcome) -> Outcome:
        if outcome.failed and self.abort_on_error:
            self._stop.set()
        if self.progress is not None:
            self.progress(outcome)
        return outcome

    def _guard(self, change: Change, step: Callable[[Change], Outcome]) -> Outcome:
        if self._stop.is_set():
            return self._done(
                Outcome(
                    change.key,
                    change.action,
                    change.pal_id,
                    "skipped",
                    self._stop_reason,
                )
            )
        try:
            outcome = step(change)
        except MakerConflict as err:
            if self.kind.conflict is None:
                outcome = Outcome(change.key, change.action, change.pal_id, "failed", err.message)
            else:
                reason = self.kind.conflict.format(key=change.key, id=change.pal_id)
                outcome = Outcome(change.key, change.action, change.pal_id, "blocked", reason)
        except ApiError as err:
            outcome = Outcome(change.key, change.action, change.pal_id, "failed", err.message)
        return self._done(outcome)

    def _refresh_noop(self, change: Change) -> None:
        """An unchanged PAL whose lock entry is stale (say a field left the manifest and was
        already absent live) gets its entry rewritten, without any request."""
        if change.pal_id is None or not change.fingerprint:
            return  # a protected PAL that --prune kept: its entry stays as it is
        fresh = _entry(change, change.pal_id)
        if self.writer.current.get(change.key) != fresh:
            self.writer.set(change.key, fresh)

    def _list(self) -> list[dict[str, Any]]:
        """The live items of this kind that pal-sync may manage (PALs: user PALs only)."""
        if self.kind is PALS:
            return self.client.list_pals()
        return self.client.list_kind(self.kind)

    # ------------------------------------------------------------------ steps

    def _create(self, change: Change) -> Outcome:
        if change.pending_since is not None:
            # an interrupted apply sent this create: its PAL may still be committing on the
            # server, invisible to the plan's listing; look again before sending another
            since = _epoch(change.pending_since)
            found = self._await_commit(change.pal_name, change.fingerprint, change.managed, since)
            if found is not None:
                self.writer.set(change.key, _entry(change, found))
                return Outcome(
                    change.key,
                    "create",
                    found,
                    "ok",
                    "created by the interrupted apply (its commit was late); found and adopted",
                )
            if self._stop.is_set():
                return Outcome(change.key, "create", None, "skipped", self._stop_reason)
        body = change.create_body or {}
        pending = {
            "fingerprint": change.fingerprint,
            "pal_name": change.pal_name,
            "managed": list(change.managed),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.writer.set(
            change.key,
            LockEntry(
                None, pending_create=pending, protected=change.protected, replaces=change.replaces
            ),
        )
        for _attempt in range(ATTEMPTS):
            sent = time.time()
            try:
                created = self.client.create(self.kind, body)
            except OutcomeUnknown:
                found = self._await_commit(
                    change.pal_name, change.fingerprint, change.managed, sent
                )
                if found is None:
                    if self._stop.is_set():
                        break
                    continue  # nothing appeared within the grace: sending again is safe
                self.writer.set(change.key, _entry(change, found))
                return Outcome(
                    change.key, "create", found, "ok", "created (response lost; found and adopted)"
                )
            except ApiError:
                self.writer.set(change.key, None)
                raise
            pal_id = str(self.kind.id_of(created))
            self.writer.set(change.key, _entry(change, pal_id))
            return Outcome(change.key, "create", pal_id, "ok", "created")
        if self._stop.is_set():  # the intent stays in the lock: the next run looks again
            return Outcome(change.key, "create", None, "skipped", self._stop_reason)
        return Outcome(
            change.key,
            "create",
            None,
            "failed",
            f"create outcome unknown after {ATTEMPTS} attempts; rerun to converge",
        )

    def _await_commit(
        self, name: str | None, fp: str, pointers: Sequence[str], since: float | None
    ) -> str | None:
        """The unclaimed PAL a create sent at `since` made, looking again with backoff until
        the grace period after `since` has passed (a commit can land after the answer was
        sent, or lost); None when nothing appeared. An unreadable `since` counts as now."""
        deadline = (since if since is not None else time.time()) + self.grace
        delay = 0.1
        while True:
            found = self._find_created(name, fp, pointers)
            remaining = deadline - time.time()
            if found is not None or remaining <= 0 or self._stop.is_set():
                return found
            self._stop.wait(min(delay, remaining))
            delay = min(delay * 2, 3.0)

    def _find_created(self, name: str | None, fp: str, pointers: Sequence[str]) -> str | None:
        """An unclaimed live PAL (not in the plan's snapshot, not in the lock) with this name or
        this fingerprint. Threads look one at a time, so two never take the same PAL."""
        with self._claiming:
            claimed = set(self.writer.current.claimed_ids())
            for pal in self._list():
                pal_id = self.kind.id_of(pal)
                if not pal_id or pal_id in self.known_ids or pal_id in claimed:
                    continue
                field = self.kind.name_field
                same_name = name and field is not None and pal.get(field) == name
                same_body = (
                    bool(fp) and fingerprint(live_form(normalise_live(pal), list(pointers))) == fp
                )
                if same_name or same_body:
                    self.known_ids.add(str(pal_id))  # taken: no other thread may adopt it
                    return str(pal_id)
        return None

    def _update(self, change: Change) -> Outcome:
        assert change.pal_id is not None
        force = change.key in self.force_maker
        notes: list[str] = []
        current = change
        for _attempt in range(ATTEMPTS):
            sent: list[tuple[dict[str, Any], ...]] = []  # the patches that went through
            ops: tuple[dict[str, Any], ...] = ()
            try:
                for ops in (current.ops, current.conferencing_ops):
                    if ops:
                        result = self.client.patch(self.kind, change.pal_id, list(ops), force=force)
                        sent.append(ops)
                        if result.discarded_maker_changes:
                            notes.append("discarded the unpublished PAL Maker draft (forced)")
                        if result.publish_url:
                            notes.append(f"draft-routed: publish at {result.publish_url}")
            except OutcomeUnknown:
                fresh = self._replan(change)
                if fresh is None:
                    return Outcome(
                        change.key,
                        change.action,
                        change.pal_id,
                        "failed",
                        "the PAL disappeared while it was being updated",
                    )
                current = fresh
                continue
            except ApiError as err:
                edited = self._edited_since_plan(change.pal_id, ops, err)
                if edited is None:
                    raise
                written = (
                    "the conferencing patch failed on its test ops and nothing of it was written "
                    "(the other fields were updated)"
                    if sent
                    else "the patch failed on its test ops and nothing of it was written"
                )
                return Outcome(
                    change.key,
                    change.action,
                    change.pal_id,
                    "conflict",
                    f"edited outside pal-sync since it was planned ({edited}); {written}; "
                    "run plan again",
                )
            self.writer.set(change.key, _entry(change, change.pal_id), drop=change.moved_from)
            verb = "adopted" if change.action == "adopt" else "updated"
            if not current.ops and not current.conferencing_ops:
                verb = "adopted" if change.action == "adopt" else "already up to date"
            if change.moved_from:
                verb += f" (moved from {change.moved_from})"
            return Outcome(
                change.key, change.action, change.pal_id, "ok", "; ".join([verb, *notes])
            )
        return Outcome(
            change.key,
            change.action,
            change.pal_id,
            "failed",
            f"update outcome unknown after {ATTEMPTS} attempts; rerun to converge",
        )

    def _edited_since_plan(
        self, pal_id: str, ops: Sequence[Mapping[str, Any]], err: ApiError
    ) -> str | None:
        """After a refused PATCH (`ops`) that carried `test` ops: the paths whose live value is
        no longer the one the plan saw (a dashboard edit in between), or None when the refusal
        has another cause (the error is then reported as it is)."""
        refused_test = err.status in (400, 409, 412, 422)
        if isinstance(err, MakerConflict | OutcomeUnknown) or not refused_test:
            return None
        tests = [op for op in ops if op["op"] == "test"]
        if not tests:
            return None
        pal = self.client.get(self.kind, pal_id)
        if pal is None:
            return "deleted"
        moved = [op["path"] for op in tests if lookup(pal, op["path"]) != op["value"]]
        return ", ".join(moved) if moved else None

    def _replan(self, change: Change) -> Change | None:
        """After a lost PATCH response: read the PAL again and compute what is still missing."""
        assert change.pal_id is not None  # an update's change always names its PAL
        pal = self.client.get(self.kind, change.pal_id)
        if pal is None:
            return None
        d = self.desired[change.key]
        lock = self.writer.current
        entry = lock.get(change.key)
        if entry is None or entry.pal_id != change.pal_id:
            lock = lock.with_entry(change.key, LockEntry(change.pal_id, "", (), {}))
        pinned = Desired(d.key, d.path, d.body, change.pal_id, d.protected, d.ignore)
        fresh = build([pinned], [pal], lock).changes[0]
        return fresh

    def _delete(self, change: Change) -> Outcome:
        if change.pal_id is None:
            return self._drop_intent(change)
        if (
            change.entry_only
            or change.pal_id not in self.known_ids
            or change.pal_id in STOCK_PAL_IDS
        ):
            # the plan did not see it live as a user PAL (gone, a template, a stock or system
            # PAL, or one a manifest still manages): only the lock entry goes, never a DELETE
            message = (
                "lock entry removed; the PAL was not deleted (not a live user PAL of this "
                "plan, or managed by another manifest)"
            )
        elif self.client.delete(self.kind, change.pal_id):
            message = "deleted"
        else:
            message = "was already gone; lock entry removed"
        self.writer.set(change.key, None)
        return Outcome(change.key, "delete", change.pal_id, "ok", message)

    def _drop_intent(self, change: Change) -> Outcome:
        """The lock entry of a create that was interrupted and whose manifest is gone, with no
        PAL found by the plan: look once more (within the grace), then drop the entry. A PAL
        that appears now is recorded, not deleted: the plan did not show it."""
        intent = dict(change.pending or {})
        pointers = intent.get("managed") if isinstance(intent.get("managed"), list) else []
        found = self._await_commit(
            change.pal_name,
            str(intent.get("fingerprint") or "") if pointers else "",
            pointers or [],
            _epoch(change.pending_since),
        )
        if found is not None:
            self.writer.set(
                change.key,
                LockEntry(found, str(intent.get("fingerprint") or ""), tuple(pointers or ())),
            )
            return Outcome(
                change.key,
                "delete",
                found,
                "ok",
                f"the interrupted create made PAL {found} after all; recorded in the lock, not "
                "deleted (the plan did not show it): apply --prune again to delete it",
            )
        if self._stop.is_set():
            return Outcome(change.key, "delete", None, "skipped", self._stop_reason)
        self.writer.set(change.key, None)
        return Outcome(change.key, "delete", None, "ok", "interrupted create's lock entry removed")

    # ------------------------------------------------------------------ verification

    def _verify(self, outcomes: list[Outcome], changed: Sequence[Outcome]) -> list[Outcome]:
        """Read back each changed PAL; a field the API did not keep fails that PAL."""
        if not changed:
            return outcomes
        ids = {o.pal_id for o in changed}
        if len(ids) > 10:
            live = {i: p for p in self._list() if (i := self.kind.id_of(p)) in ids}
        else:
            items = self.client.map_concurrent(
                lambda i: self.client.get(self.kind, i), sorted(i for i in ids if i)
            )
            live = {i: p for p in items if p and (i := self.kind.id_of(p))}
        result = []
        for outcome in outcomes:
            if outcome not in changed:
                result.append(outcome)
                continue
            d = self.desired[outcome.key]
            flat, _ = desired_form(d.body, d.ignore)
            pal = live.get(outcome.pal_id)
            if pal is None:
                result.append(replace(outcome, result="failed", message="not found when read back"))
                continue
            kept = live_form(normalise_live(pal), flat, d.ignore)
            lost = sorted(p for p in flat if kept.get(p, object()) != flat[p])
            message = "the API did not keep: " + ", ".join(lost)
            result.append(replace(outcome, result="failed", message=message) if lost else outcome)
        return result
