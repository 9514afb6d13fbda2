"""The account-level apply lease (DESIGN 14): two applies against one account, from different
machines or clones, never run at once.

The lease lives in the account itself, in one PAL of its own (`fields.LEASE_PAL_NAME`, so it is
visible and named in the dashboard) that no conversation uses and that plan, import, adoption and
prune never see. Its `context` holds the lease as JSON: holder, run id, acquired and expires
(UTC). It is taken, renewed, released and broken with JSON Patch `test` + `replace`, so of two
machines racing for it exactly one wins; a holder that dies stops renewing and its lease expires.
Whether the server honours `test` at all is checked once per run, harmlessly, before the lease
is trusted. Talks to the API only through the client; prints nothing (`notice` says what it is
waiting for).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from palsync.atomic import write_atomic
from palsync.client import Client
from palsync.errors import ApiError, LockError, MakerConflict, NotFound, OutcomeUnknown
from palsync.fields import LEASE_PAL_NAME, is_lease_pal

#: how long a lease lives without renewal; a holder renews it every third of that
DEFAULT_TTL = 120.0
#: how long an apply waits for a lease held by someone else before it refuses
DEFAULT_WAIT = 120.0
#: the face the lease PAL is created with (a stock face every account has, tavus-api.md §8);
#: the PAL is never used in a conversation, but POST /v2/pals requires a face
STOCK_FACE = "r90bbd427f71"
PROMPT = (
    "This PAL only holds pal-sync's apply lease for this account (see its context). Do not use "
    "it in conversations and do not edit or delete it; `pal-sync lease status` shows who holds "
    "the lease and `pal-sync lease break` frees it."
)
#: answers that mean "a test op failed" (the emulator says 422; other servers 409 or 412)
TEST_FAILED = (400, 409, 412, 422)


def _iso(epoch: float | None) -> str | None:
    """UTC with milliseconds (readable in the dashboard, precise enough for short test TTLs)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class LeaseState:
    holder: str | None = None
    run: str | None = None
    acquired: float | None = None
    expires: float | None = None
    note: str = ""
    host: str | None = None
    pid: int | None = None
    #: the kernel boot and pid namespace `pid` belongs to (see `this_node`)
    node: str | None = None

    def held(self, now: float | None = None) -> bool:
        """Held by someone and not yet expired."""
        now = time.time() if now is None else now
        return self.holder is not None and (self.expires or 0) > now

    def encode(self) -> str:
        doc = {
            "pal-sync-lease": 1,
            "holder": self.holder,
            "run": self.run,
            "acquired": _iso(self.acquired),
            "expires": _iso(self.expires),
            "note": self.note,
            "host": self.host,
            "pid": self.pid,
            "node": self.node,
        }
        return json.dumps(doc, ensure_ascii=False, separators=(", ", ": "))

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.holder is None:
            return "free" + (f" ({self.note})" if self.note else "")
        state = "held" if self.held(now) else "expired"
        return (
            f"{state} by {self.holder} since {_iso(self.acquired)}, "
            f"{'until' if state == 'held' else 'at'} {_iso(self.expires)}"
        )


def parse(context: Any) -> LeaseState:
    """The lease in a lease PAL's context; an unreadable one counts as free."""
    try:
        doc = json.loads(context) if isinstance(context, str) else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return LeaseState(note="unreadable lease record")
    holder = doc.get("holder")
    return LeaseState(
        holder=holder if isinstance(holder, str) and holder else None,
        run=doc.get("run") if isinstance(doc.get("run"), str) else None,
        acquired=_epoch(doc.get("acquired")),
        expires=_epoch(doc.get("expires")),
        note=str(doc.get("note") or ""),
        host=doc.get("host") if isinstance(doc.get("host"), str) else None,
        pid=doc.get("pid") if isinstance(doc.get("pid"), int) else None,
        node=doc.get("node") if isinstance(doc.get("node"), str) else None,
    )


def this_node() -> str | None:
    """Which kernel boot and pid namespace our pids belong to; None where that cannot be told
    (then no holder is ever judged dead by its pid: containers and CI runners share host names
    and pids with others)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}" if boot else None


def holder_is_dead(state: LeaseState) -> bool:
    """A holder on this very machine whose process is gone (kill -9, a crash) need not be
    waited for until its lease expires."""
    node = this_node()
    if node is None or state.node != node or not state.pid or state.pid == os.getpid():
        return False
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def this_holder() -> str:
    """Who we are, as others will see it: user@host, pid, and the CI run when there is one."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    who = f"{user}@{socket.gethostname()} pid {os.getpid()}"
    repo, run = os.environ.get("GITHUB_REPOSITORY"), os.environ.get("GITHUB_RUN_ID")
    return who + (f" (GitHub Actions {repo} run {run})" if repo and run else "")


class _Background:
    """One call on a thread of its own; `result()` waits for it and re-raises its error."""

    def __init__(self, fn: Callable[..., None], *args: Any):
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, *args), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as err:  # re-raised by result(), in the caller's thread
            self._error = err

    def result(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def lease_pal_body(note: str) -> dict[str, Any]:
    """What the lease PAL is created with."""
    return {
        "pal_name": LEASE_PAL_NAME,
        "pipeline_mode": "full",
        "system_prompt": PROMPT,
        "default_face_id": STOCK_FACE,
        "context": LeaseState(note=note).encode(),
    }


def canonical(pals: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Of several lease PALs (two machines created one each at once) the one everybody uses:
    the oldest, ties broken by id."""
    leases = [p for p in pals if is_lease_pal(p)]
    if not leases:
        return None
    return min(leases, key=lambda p: (str(p.get("created_at") or ""), str(p.get("pal_id"))))


class Lease:
    """Take with `acquire()`, give back with `release()` (or use as a context manager). While
    held, a daemon thread renews it; `lost` is set (and `on_lost` called) if someone broke it."""

    def __init__(
        self,
        client: Client,
        *,
        ttl: float = DEFAULT_TTL,
        wait: float = DEFAULT_WAIT,
        notice: Callable[[str], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
        hint_file: Path | None = None,
        holder: str | None = None,
    ):
        self.client = client
        self.ttl = ttl
        self.wait = wait
        self.notice = notice or (lambda _line: None)
        self.on_lost = on_lost
        self.hint_file = hint_file
        self.holder = holder or this_holder()
        self.run = secrets.token_hex(8)
        self.pal_id: str | None = None
        self.lost = threading.Event()
        self._context: str | None = None  # the context we last wrote (our test value)
        self._unconfirmed: str | None = None  # written, maybe: its answer and read-back failed
        self._refusal: ApiError | None = None
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # ------------------------------------------------------------------ finding the lease PAL

    def _hinted(self) -> dict[str, Any] | None:
        if self.hint_file is None:
            return None
        try:
            pal_id = self.hint_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        if not pal_id:
            return None
        try:
            pal = self.client.get_pal(pal_id)
        except ApiError:
            return None
        return pal if pal is not None and is_lease_pal(pal) else None

    def _remember(self, pal_id: str) -> None:
        if self.hint_file is None:
            return
        with contextlib.suppress(OSError):
            self.hint_file.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.hint_file, pal_id + "\n", durable=False)  # a hint: rebuilt if lost

    def locate(self, *, create: bool = True) -> dict[str, Any] | None:
        """The account's lease PAL (created when there is none and `create`)."""
        pal = self._hinted()
        if pal is not None:
            return pal
        found = canonical(self.client.list_pals(with_lease=True))
        if found is None and create:
            # another machine may create one at the same moment: the plan's own listing then
            # sees both, and `verify` stops whichever run finds the other's held
            body = lease_pal_body("created by " + self.holder)
            found = {**body, "pal_id": str(self.client.create_pal(body)["pal_id"])}
        if found is None:
            return None
        self._remember(str(found["pal_id"]))
        return dict(found)

    # ------------------------------------------------------------------ the test probe

    def check_test_honoured(self, pal_id: str) -> None:
        """Send a patch whose `test` op must fail and whose other op changes nothing; a server
        that accepts it does not honour `test`, so neither the lease nor the test-guarded
        updates can be trusted there."""
        probe = [
            {"op": "test", "path": "/pal_name", "value": "pal-sync probe " + secrets.token_hex(8)},
            {"op": "replace", "path": "/pal_name", "value": LEASE_PAL_NAME},
        ]
        try:
            self.client.patch_pal(pal_id, probe)
        except MakerConflict:
            raise
        except ApiError as err:
            if err.status in TEST_FAILED and not isinstance(err, OutcomeUnknown):
                return  # refused as it should be
            raise
        raise LockError(
            "this API accepted a JSON Patch whose `test` op fails: it does not honour `test`, so "
            "the account lease and the guarded updates of pal-sync cannot be trusted here",
            hint="rerun with --no-lease and make sure only one apply runs against this account at "
            "a time (in CI: one concurrency group per account)",
        )

    # ------------------------------------------------------------------ acquire / renew / release

    def _write(self, seen: str, state: LeaseState) -> bool:
        """Replace the lease record if it is still `seen`; False if someone changed it first."""
        assert self.pal_id is not None
        fresh = state.encode()
        ops = [
            {"op": "test", "path": "/context", "value": seen},
            {"op": "replace", "path": "/context", "value": fresh},
        ]
        try:
            self.client.patch_pal(self.pal_id, ops)
        except MakerConflict:
            raise LockError(
                f"the lease PAL {self.pal_id} has unpublished PAL Maker edits; discard them in "
                "PAL Maker (nobody should edit it)"
            ) from None
        except OutcomeUnknown:
            # the write may have landed: read it back to know
            try:
                pal = self.client.get_pal(self.pal_id)
            except ApiError:
                self._unconfirmed = fresh  # the server may hold it: the next write tries both
                raise
            if pal is None or pal.get("context") != fresh:
                return False
        except ApiError as err:
            if err.status in TEST_FAILED:
                self._refusal = err
                return False
            raise
        self._unconfirmed = None
        return True

    def _write_ours(self, state: LeaseState) -> bool:
        """Replace our own lease record: the one we know we wrote, or the one whose answer was
        lost (the server may hold either)."""
        assert self._context is not None
        unconfirmed = self._unconfirmed
        if self._write(self._context, state):
            return True
        return unconfirmed is not None and self._write(unconfirmed, state)

    def acquire(self, *, probe: bool = True) -> None:
        pal = self.locate()
        assert pal is not None
        self.pal_id = str(pal["pal_id"])
        # the probe runs beside the first attempt (one round trip, not two); its verdict is
        # waited for before the lease is trusted or waited for
        verdict = _Background(self.check_test_honoured, self.pal_id) if probe else None
        try:
            self._acquire(pal, verdict)
        except BaseException:
            if verdict is not None:
                verdict.result()  # a server that ignores `test` is the error worth reporting
            raise

    def _acquire(self, pal: dict[str, Any], verdict: _Background | None) -> None:
        deadline = time.monotonic() + self.wait
        told = ""
        while True:
            seen = pal.get("context") if isinstance(pal.get("context"), str) else ""
            current = parse(seen)
            now = time.time()
            dead = current.held(now) and holder_is_dead(current)
            if not current.held(now) or current.run == self.run or dead:
                gone = "a dead process's" if dead else "an expired"
                note = f"took over {gone} lease of {current.holder}" if current.holder else ""
                mine = self._state(now, note)
                if self._write(str(seen), mine):
                    self._context = mine.encode()
                    if verdict is not None:
                        try:
                            verdict.result()
                        except BaseException:
                            self.release()
                            raise
                    self._start_renewing()
                    return
                fresh = self.client.get_pal(self.pal_id) if self.pal_id else None
                if fresh is not None and fresh.get("context") == seen and self._refusal:
                    # the record did not change: the server refuses the write itself
                    raise LockError(
                        f"the API refused to write this account's lease (PAL {self.pal_id}): "
                        f"{self._refusal.message}",
                        hint="check the lease PAL with `pal-sync lease status`; on a server "
                        "that refuses JSON Patch test ops, use --no-lease",
                    )
                if time.monotonic() > deadline:
                    raise LockError(
                        f"could not take this account's lease (PAL {self.pal_id}): its record "
                        "changed on every attempt",
                        hint="look at it with `pal-sync lease status`",
                    )
                time.sleep(random.uniform(0.05, 0.5))  # lost a race: let the winner go first
            else:
                if verdict is not None:
                    verdict.result()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LockError(
                        f"another pal-sync apply holds this account's lease: {current.describe()} "
                        f"(lease PAL {self.pal_id})",
                        hint="wait for it to finish and rerun (or --lease-wait SECONDS); if that "
                        "run is dead, the lease expires by itself, or free it now with "
                        "`pal-sync lease break`",
                    )
                if current.describe() != told:
                    told = current.describe()
                    self.notice(
                        f"waiting for the account lease, {told} (up to {remaining:.0f} s more)"
                    )
                time.sleep(min(remaining, 1.0 + random.uniform(0, 1.0)))
            fresh = self.client.get_pal(self.pal_id) if self.pal_id else None
            if fresh is None or not is_lease_pal(fresh):  # deleted under us: start again
                fresh = self.locate()
                assert fresh is not None
                self.pal_id = str(fresh["pal_id"])
            pal = fresh

    def _state(self, now: float, note: str = "") -> LeaseState:
        return LeaseState(
            self.holder,
            self.run,
            now,
            now + self.ttl,
            note,
            socket.gethostname(),
            os.getpid(),
            this_node(),
        )

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="lease", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                with self._mutex:
                    if self._context is None:
                        return
                    now = time.time()
                    state = parse(self._context)
                    renewed = replace(self._state(now), acquired=state.acquired)
                    if self._write_ours(renewed):
                        self._context = renewed.encode()
                        continue
                    self._context = None
                self._lose("someone else took or broke this run's account lease")
                return
            except NotFound:
                with self._mutex:
                    self._context = None
                self._lose("the lease PAL was deleted while this run held the lease")
                return
            except (ApiError, LockError):
                # retried at the next tick, unless the lease would expire before that: then
                # another apply may take it, so this one stops first
                with self._mutex:
                    expires = parse(self._context).expires if self._context else None
                    giving_up = expires is None or time.time() + self.ttl / 2 >= expires
                    if giving_up:
                        self._context = None
                if giving_up:
                    self._lose("could not renew this run's account lease before it expired")
                    return

    def _lose(self, why: str) -> None:
        self.lost.set()
        if self.on_lost is not None:
            self.on_lost(why)

    def verify(self, pals: Sequence[Mapping[str, Any]]) -> None:
        """After acquiring, with the account's PALs as listed for the plan: another lease PAL
        held by someone else means two machines created one each at the same moment and both
        hold one; ours is given back and this run stops before it changes anything."""
        # every other lease PAL, with its record read once
        others = [
            (str(p["pal_id"]), parse(p.get("context")))
            for p in pals
            if is_lease_pal(p) and p.get("pal_id") != self.pal_id
        ]
        held = [state for _, state in others if state.held() and state.run != self.run]
        if held:
            self.release()
            raise LockError(
                f"two lease PALs exist in this account and another one is held by "
                f"{held[0].holder}; nothing was applied",
                hint="rerun when that apply has finished (pal-sync then removes the extra one)",
            )
        for pal_id, state in others:  # left over from such a race, and free: tidy up
            if not state.held():
                with contextlib.suppress(ApiError):
                    self.client.delete_pal(pal_id)

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        with self._mutex:
            if self._context is None or self.pal_id is None:
                return
            free = LeaseState(note=f"last released by {self.holder} at {_iso(time.time())}")
            with contextlib.suppress(ApiError, LockError):
                self._write_ours(free)
            self._context = None

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def status(client: Client) -> tuple[dict[str, Any] | None, LeaseState]:
    """(the lease PAL or None, its state) without creating or changing anything."""
    pal = canonical(client.list_pals(with_lease=True))
    if pal is None:
        return None, LeaseState(note="no apply has taken it in this account yet")
    return dict(pal), parse(pal.get("context"))


def break_lease(
    client: Client, breaker: str | None = None, seen: Mapping[str, Any] | None = None
) -> tuple[str | None, LeaseState]:
    """Free the lease; returns (lease PAL id, the state it had). With `seen` (the lease PAL as
    shown to the user), only that holder's lease is broken: if it changed since, nothing is."""
    pal: dict[str, Any] | None
    if seen is not None:
        pal, state = dict(seen), parse(seen.get("context"))
    else:
        pal, state = status(client)
    if pal is None or state.holder is None:
        return (str(pal["pal_id"]) if pal else None), state
    lease = Lease(client, holder=breaker)
    lease.pal_id = str(pal["pal_id"])
    note = f"broken by {lease.holder} at {_iso(time.time())} (was held by {state.holder})"
    if not lease._write(str(pal.get("context")), LeaseState(note=note)):
        raise LockError("the lease changed while it was being broken; look again with status")
    return lease.pal_id, state
