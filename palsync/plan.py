"""desired + live + lock → Plan. Pure: no I/O here, so plan and apply compute it the same way.

Identity (DESIGN 4): `x-palsync.pal_id` pin → lock entry → a pending create recorded by an
interrupted apply → adoption of the one unclaimed live user PAL with the same `pal_name` → create.
Each change carries its direction (local, drift, conflict) judged from the lock's fingerprint.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

from palsync import __version__
from palsync.canonical import (
    MISSING,
    Flat,
    desired_form,
    document_hash,
    fingerprint,
    json_equal,
    live_form,
    lookup,
    normalise_live,
    project_live,
)
from palsync.diff import FieldChange, field_changes, guard_ops, patch_ops
from palsync.fields import STOCK_PAL_IDS, is_secret_pointer
from palsync.kinds import KINDS, PALS, Kind, referenced_ids
from palsync.lock import UNVERIFIED, Lock, LockEntry, is_unverified, secret_fingerprint

#: what a plan does with one resource
Action = Literal["create", "update", "adopt", "delete", "noop", "blocked"]
ACTIONS: tuple[Action, ...] = ("create", "update", "adopt", "delete", "noop", "blocked")
#: which side changed since the last apply: the manifest, the live resource, or both
Direction = Literal["local", "drift", "conflict"]
SENSITIVE = "(sensitive)"


@dataclass(frozen=True)
class Desired:
    """One manifest, resolved: its body has `${VAR}` substituted (secrets included)."""

    key: str
    path: str
    body: dict[str, Any]
    pal_id: str | None = None
    protected: bool = False
    ignore: tuple[str, ...] = ()


class Prepared(NamedTuple):
    """The desired side of one PAL's comparison. It needs no live data, so a plan computes it
    while the live PALs are still being fetched."""

    flat: Flat
    secrets: Flat
    fingerprint: str
    secret_fingerprints: dict[str, str]
    managed: tuple[str, ...]


def prepare(d: Desired, salt: str) -> Prepared:
    flat, secrets = desired_form(d.body, d.ignore)
    secret_fps = {p: secret_fingerprint(salt, p, str(v)) for p, v in secrets.items()}
    return Prepared(flat, secrets, fingerprint(flat), secret_fps, tuple(sorted(flat)))


class Refs(Mapping[str, frozenset[str]]):
    """What exists in the account, by kind name (`Refs(faces=ids)`); a kind that is absent
    was not looked up (nothing referenced it), and references to it are not checked."""

    def __init__(self, **known: frozenset[str] | None) -> None:
        self._known = {kind: ids for kind, ids in known.items() if ids is not None}

    def __getitem__(self, kind: str) -> frozenset[str]:
        return self._known[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


@dataclass(frozen=True)
class Change:
    key: str
    action: Action
    direction: Direction | None = None
    pal_id: str | None = None
    pal_name: str | None = None
    fields: tuple[FieldChange, ...] = ()
    ops: tuple[dict[str, Any], ...] = ()
    conferencing_ops: tuple[dict[str, Any], ...] = ()
    create_body: dict[str, Any] | None = None
    managed: tuple[str, ...] = ()
    fingerprint: str = ""
    secret_fingerprints: Mapping[str, str] = field(default_factory=dict)
    live_hash: str | None = None
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    protected: bool = False
    path: str = ""
    #: the lock key this PAL was recorded under before its manifest was renamed
    moved_from: str | None = None
    #: the missing pinned PAL this one replaces (`--recreate KEY`), kept in the lock entry
    replaces: str | None = None
    #: an interrupted apply's create intent (its `since`): apply lists the account again,
    #: for a grace period after it, before creating (a slow commit is not yet visible)
    pending_since: str | None = None
    #: the intent itself (name, fingerprint, pointers), for a lock entry with no manifest
    pending: Mapping[str, Any] | None = None
    #: a delete that only drops the lock entry: apply sends no DELETE
    entry_only: bool = False
    #: secret pointers recorded `unverified` by import and not sent by this plan (they stay
    #: so in the lock; `--resend-secrets` sends them)
    unverified: tuple[str, ...] = ()

    @property
    def is_change(self) -> bool:
        return self.action in ("create", "update", "adopt", "delete")


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    warnings: tuple[str, ...] = ()
    manifests_hash: str = ""
    lock_hash: str = ""
    lock_salt: str = ""

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return any(c.is_change for c in self.changes)

    @property
    def blocked(self) -> list[Change]:
        return [c for c in self.changes if c.action == "blocked"]

    @property
    def unverified_secrets(self) -> int:
        """Secrets import recorded as unverified that this plan does not send."""
        return sum(len(c.unverified) for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON form (`plan --format json` and plan files). No secret values."""
        return {
            "format_version": 1,
            "tool_version": __version__,
            "summary": self.summary(),
            "manifests_hash": self.manifests_hash,
            "lock_hash": self.lock_hash,
            "warnings": list(self.warnings),
            "unverified_secrets": self.unverified_secrets,
            "changes": [change_to_dict(c) for c in self.changes],
        }


def redact_ops(ops: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [_redact_op(op) for op in ops]


def _redact_op(op: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(op)
    if "value" in out:
        out["value"] = _redact(out["path"], out["value"])
    return out


def _redact(pointer: str, value: Any) -> Any:
    if is_secret_pointer(pointer):
        return SENSITIVE
    if isinstance(value, dict):
        # the child's pointer escaped as RFC 6901 says: a header named `a/b` is `.../a~1b`
        return {
            k: _redact(pointer + "/" + str(k).replace("~", "~0").replace("/", "~1"), v)
            for k, v in value.items()
        }
    return value


def _show(value: Any) -> Any:
    return None if value is MISSING else value


def change_to_dict(c: Change) -> dict[str, Any]:
    return {
        "key": c.key,
        "action": c.action,
        "direction": c.direction,
        "pal_id": c.pal_id,
        "pal_name": c.pal_name,
        "fields": [
            {
                "path": f.path,
                "before": SENSITIVE if f.sensitive else _show(f.before),
                "after": SENSITIVE if f.sensitive and not f.removed else _show(f.after),
                **({"sensitive": True} if f.sensitive else {}),
            }
            for f in c.fields
        ],
        "ops": redact_ops(c.ops),
        "conferencing_ops": redact_ops(c.conferencing_ops),
        "reasons": list(c.reasons),
        "warnings": list(c.warnings),
        "moved_from": c.moved_from,
        **({"replaces": c.replaces} if c.replaces else {}),
        **({"pending_since": c.pending_since} if c.pending_since else {}),
        **({"entry_only": True} if c.entry_only else {}),
        **({"unverified_secrets": list(c.unverified)} if c.unverified else {}),
        "live_hash": c.live_hash,
        "fingerprint": c.fingerprint,
        "secret_fingerprints": dict(c.secret_fingerprints),
    }


def manifests_hash(items: Sequence[tuple[str, str]]) -> str:
    """Hash of (key, file digest) pairs of the manifests a plan was built from."""
    text = "\n".join(f"{k}\0{d}" for k, d in sorted(items))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def matches(key: str, targets: Sequence[str]) -> bool:
    return not targets or any(fnmatch.fnmatchcase(key, t) for t in targets)


# ------------------------------------------------------------------------------------------


def build(
    desired: Sequence[Desired],
    live: Sequence[Mapping[str, Any]],
    lock: Lock,
    refs: Refs | None = None,
    *,
    targets: Sequence[str] = (),
    prune: bool = False,
    manifest_digests: Sequence[tuple[str, str]] = (),
    prepared: Mapping[str, Prepared] | None = None,
    manifest_keys: Collection[str] | None = None,
    recreate: Collection[str] = (),
    resend_secrets: bool = False,
) -> Plan:
    """The plan; `prepared` (by key) is the desired side computed ahead, else computed here.
    `manifest_keys`: every manifest of the directory, when `desired` holds only the targeted.
    `recreate`: keys whose pinned PAL no longer exists and may be created anew (`--recreate`).
    `resend_secrets`: send the secrets the lock records as unverified (`--resend-secrets`)."""
    refs = Refs() if refs is None else refs
    live_by_id = {p["pal_id"]: p for p in live if p.get("pal_id")}
    claimed: dict[str, str] = lock.claimed_ids()
    for d in desired:
        if d.pal_id:
            claimed.setdefault(d.pal_id, d.key)
    keys = {d.key for d in desired}
    all_keys = set(manifest_keys or ()) | keys
    moves = _moves(desired, live_by_id, lock, all_keys, claimed)
    changes: list[Change] = []
    warnings: list[str] = []
    chosen = [d for d in desired if matches(d.key, targets)]
    preps = {
        d.key: prepared[d.key] if prepared is not None else prepare(d, lock.salt) for d in chosen
    }
    twins = _nameless_twins(chosen, preps)
    conflicts = _pin_conflicts(desired, lock, all_keys)
    for d in chosen:
        prep = preps[d.key]
        if d.key in twins:
            changes.append(_blocked_twin(d, prep, twins[d.key]))
            continue
        if d.key in conflicts:
            changes.append(_blocked(d, prep, conflicts[d.key]))
            continue
        old = moves.get(d.key)
        if old is None:
            changes.append(
                _plan_one(d, prep, live_by_id, lock, refs, claimed, recreate, resend_secrets)
            )
            continue
        view = lock.with_entry(d.key, lock.entries[old])
        moved = _plan_one(d, prep, live_by_id, view, refs, claimed, recreate, resend_secrets)
        changes.append(
            replace(
                moved,
                action="adopt" if moved.action == "noop" else moved.action,
                direction=moved.direction or "local",
                moved_from=old,
            )
        )
    moved_keys = set(moves.values())
    # every PAL a manifest maps to (identified in this plan, pinned, or owned by the lock entry
    # of a manifest outside --target): prune never deletes one of these, whatever the lock says
    in_use: dict[str, str] = {}
    for c in changes:
        if c.pal_id:
            in_use.setdefault(c.pal_id, c.key)
    for d in desired:
        if d.pal_id:
            in_use.setdefault(d.pal_id, d.key)
    for key in sorted(all_keys | moved_keys):
        owner = lock.get(key)
        if owner is not None and owner.pal_id:
            in_use.setdefault(owner.pal_id, moves_back(moves, key))
    for key, entry in sorted(lock.entries.items()):
        if key in keys or key in moved_keys or key in all_keys or not matches(key, targets):
            continue
        if entry.pal_id is None:
            found = _orphan_intent(key, entry, live_by_id, claimed, in_use, prune, warnings)
            if found is not None:
                changes.append(found)
            continue
        pal = live_by_id.get(entry.pal_id)
        user = in_use.get(entry.pal_id)
        if user is not None:
            what = (
                f"{key}: in the lock but has no manifest; its PAL {entry.pal_id} is managed by "
                f"{user}, so only the lock entry goes"
            )
            if prune:
                changes.append(
                    Change(
                        key,
                        "delete",
                        "local",
                        entry.pal_id,
                        warnings=(what + " (no DELETE is sent)",),
                        entry_only=True,
                    )
                )
            else:
                warnings.append(what + " with `--prune`")
            continue
        if not prune:
            gone = ""
            if pal is None:
                gone = " (not live: only the lock entry would go)"
            warnings.append(
                f"{key}: in the lock but has no manifest; `--prune` would delete "
                f"PAL {entry.pal_id}" + gone
            )
            continue
        changes.append(_plan_delete(key, entry, pal))
    return Plan(
        tuple(changes), tuple(warnings), manifests_hash(manifest_digests), lock.digest(), lock.salt
    )


def missing_pins(desired: Sequence[Desired], live: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keys of the manifests pinned to a PAL that is not live: what `--recreate` may name."""
    ids = {p.get("pal_id") for p in live}
    return sorted(d.key for d in desired if d.pal_id and d.pal_id not in ids)


def _pin_conflicts(
    desired: Sequence[Desired], lock: Lock, manifest_keys: Collection[str]
) -> dict[str, str]:
    """key → why it is blocked, for a pin that cannot be right: two manifests pinning one PAL,
    or a pin to the PAL the lock entry of another manifest owns (one PAL, one manifest: either
    would overwrite the other's body, and the lock could not record both)."""
    by_pin: dict[str, list[str]] = {}
    for d in desired:
        if d.pal_id:
            by_pin.setdefault(d.pal_id, []).append(d.key)
    owners = lock.claimed_ids()
    reasons: dict[str, str] = {}
    for pal_id, keys in by_pin.items():
        if len(keys) > 1:
            for key in keys:
                others = ", ".join(k for k in keys if k != key)
                reasons[key] = (
                    f"x-palsync.pal_id {pal_id} is pinned by {others} too; a PAL has one "
                    "manifest: remove all pins but one"
                )
            continue
        (key,) = keys
        owner = owners.get(pal_id)
        if owner is not None and owner != key and owner in manifest_keys:
            reasons[key] = (
                f"x-palsync.pal_id {pal_id} is the PAL of manifest {owner} (its lock entry); a "
                f"PAL has one manifest: remove the pin, or the manifest {owner}"
            )
    return reasons


def _moves(
    desired: Sequence[Desired],
    live_by_id: Mapping[str, Mapping[str, Any]],
    lock: Lock,
    manifest_keys: set[str],
    claimed: Mapping[str, str],
) -> dict[str, str]:
    """new key → old key, for manifests renamed since the last apply: a manifest with no lock
    entry and no pin whose `pal_name` is that of the live PAL of exactly one lock entry whose
    manifest is gone. Without this a renamed file would create a second PAL of the same name
    (and `--prune` would then delete the first)."""
    pinned = {d.pal_id for d in desired if d.pal_id}
    owners = lock.claimed_ids()
    moves: dict[str, str] = {}
    for d in desired:
        # a pin to the PAL of a lock entry whose manifest is gone (a renamed file that was also
        # pinned): it takes that entry over, in one lock write, never two keys on one PAL
        old = owners.get(d.pal_id or "")
        taken_over = old is not None and old != d.key and old not in manifest_keys
        if taken_over and lock.get(d.key) is None and d.pal_id in live_by_id:
            moves[d.key] = str(old)
    orphans: dict[str, list[str]] = {}
    for key, entry in lock.entries.items():
        pal = live_by_id.get(entry.pal_id or "")
        if key in manifest_keys or pal is None or entry.pal_id in pinned:
            continue
        if claimed.get(str(entry.pal_id)) != key:
            continue
        orphans.setdefault(str(pal.get("pal_name")), []).append(key)
    if not orphans:
        return moves
    for d in desired:
        name = d.body.get("pal_name")
        if d.pal_id or lock.get(d.key) is not None or not isinstance(name, str):
            continue
        if len(orphans.get(name, ())) == 1:
            moves[d.key] = orphans[name][0]
    return moves


def moves_back(moves: Mapping[str, str], key: str) -> str:
    """The manifest key that now owns lock key `key` (itself, or the key it moved to)."""
    return next((new for new, old in moves.items() if old == key), key)


def _plan_delete(key: str, entry: LockEntry, pal: Mapping[str, Any] | None) -> Change:
    name = pal.get("pal_name") if pal else None
    if entry.protected:
        return Change(
            key,
            "noop",
            pal_id=entry.pal_id,
            pal_name=name,
            protected=True,
            warnings=(
                f"protected: not deleted. Its manifest is gone, so the protection is the lock "
                f'entry\'s "protected": true: to delete PAL {entry.pal_id}, remove that from '
                f"entry {key!r} of the lock file and apply --prune again; to stop managing it "
                f"and keep the PAL, delete entry {key!r} from the lock file",
            ),
        )
    if pal is None:
        # not among the live user PALs: deleted outside pal-sync, or a stock, template or system
        # PAL (those are never listed). Apply drops the entry and never sends a DELETE.
        why = (
            "a stock PAL (never deleted)"
            if entry.pal_id in STOCK_PAL_IDS
            else "not a live user PAL (deleted outside pal-sync, or a template or system PAL)"
        )
        return Change(
            key,
            "delete",
            "local",
            entry.pal_id,
            warnings=(f"{why}: only the lock entry goes, no DELETE is sent",),
            entry_only=True,
        )
    return Change(key, "delete", "local", entry.pal_id, name, live_hash=document_hash(pal))


def _orphan_intent(
    key: str,
    entry: LockEntry,
    live_by_id: Mapping[str, Mapping[str, Any]],
    claimed: Mapping[str, str],
    in_use: Mapping[str, str],
    prune: bool,
    warnings: list[str],
) -> Change | None:
    """A lock entry with no PAL id whose manifest is gone: an apply was killed while creating
    it (a `pending_create` intent). The PAL that create made, if any, is found as recovery finds
    it (unclaimed, same name or same fingerprint, not older than the intent) and deleted with
    `--prune`; with nothing found `--prune` drops the entry (apply checks once more first)."""
    intent = dict(entry.pending_create or {})
    candidates = [
        p
        for i, p in live_by_id.items()
        if i not in claimed and i not in in_use and _made_by(intent, p)
    ]
    since = intent.get("since") if isinstance(intent.get("since"), str) else None
    if len(candidates) > 1:
        ids = ", ".join(sorted(str(p["pal_id"]) for p in candidates))
        warnings.append(
            f"{key}: an interrupted create with no manifest; several live PALs could be what it "
            f"created ({ids}), so none is deleted; delete the ones you do not want in the "
            f"dashboard and entry {key!r} from the lock file"
        )
        return None
    if len(candidates) == 1:
        pal = candidates[0]
        pal_id = str(pal["pal_id"])
        if not prune:
            warnings.append(
                f"{key}: an interrupted apply created PAL {pal_id} and its manifest is gone; "
                "`--prune` would delete it"
            )
            return None
        return Change(
            key,
            "delete",
            "local",
            pal_id,
            pal.get("pal_name") if isinstance(pal.get("pal_name"), str) else None,
            warnings=("created by an interrupted apply whose manifest is gone",),
            live_hash=document_hash(pal),
            pending=intent,
        )
    if not prune:
        warnings.append(
            f"{key}: an interrupted create with no manifest and no PAL found; `--prune` "
            "removes the lock entry"
        )
        return None
    return Change(
        key,
        "delete",
        "local",
        None,
        intent.get("pal_name") if isinstance(intent.get("pal_name"), str) else None,
        warnings=(
            "an interrupted create whose manifest is gone; no PAL it made is visible, so only "
            "the lock entry goes (apply lists the account once more first)",
        ),
        entry_only=True,
        pending_since=since or "",
        pending=intent,
    )


def _made_by(intent: Mapping[str, Any], pal: Mapping[str, Any]) -> bool:
    """Whether `pal` may be what the create `intent` made: same name or same fingerprint (over
    the intent's pointers), and not created before the intent (10 minutes of clock skew)."""
    name = intent.get("pal_name")
    same = bool(name) and pal.get("pal_name") == name
    pointers = intent.get("managed")
    fp = intent.get("fingerprint")
    if not same and fp and isinstance(pointers, list):
        same = fingerprint(live_form(normalise_live(pal), pointers)) == fp
    if not same:
        return False
    since, created = _epoch(intent.get("since")), _epoch(pal.get("created_at"))
    return since is None or created is None or created >= since - 600


def _epoch(stamp: Any) -> float | None:
    """Seconds since the epoch of an ISO-8601 UTC time stamp, or None."""
    from datetime import datetime

    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _nameless_twins(
    chosen: Sequence[Desired], preps: Mapping[str, Prepared]
) -> dict[str, list[Desired]]:
    """key → the other manifests with the same body, among manifests without a `pal_name`: after
    an interrupted create nothing could tell their PALs apart (recovery finds a PAL by name or
    by fingerprint), so they are refused (DESIGN decision, issue 10 item 4)."""
    groups: dict[str, list[Desired]] = {}
    for d in chosen:
        name = d.body.get("pal_name")
        if not (isinstance(name, str) and name):
            groups.setdefault(preps[d.key].fingerprint, []).append(d)
    return {
        d.key: [o for o in group if o.key != d.key]
        for group in groups.values()
        if len(group) > 1
        for d in group
    }


def _blocked_twin(d: Desired, prep: Prepared, others: Sequence[Desired]) -> Change:
    files = ", ".join(o.path for o in others)
    return _blocked(
        d,
        prep,
        f"{d.path} and {files} have no pal_name and the same body: after an interrupted "
        "apply pal-sync could not tell their PALs apart (a duplicate risk); give each a "
        "distinct pal_name",
    )


def _blocked(d: Desired, prep: Prepared, reason: str) -> Change:
    return Change(
        d.key,
        "blocked",
        reasons=(reason,),
        managed=prep.managed,
        fingerprint=prep.fingerprint,
        protected=d.protected,
        path=d.path,
    )


def _identify(
    d: Desired,
    flat: Flat,
    live_by_id: Mapping[str, Mapping[str, Any]],
    lock: Lock,
    claimed: Mapping[str, str],
    recreate: Collection[str] = (),
) -> tuple[str, Mapping[str, Any] | None, list[str]]:
    """(how, live PAL or None, warnings); how ∈ pin, lock, pending, name, create, ambiguous,
    pin-missing (blocked: the pinned PAL does not exist), recheck (create, but an interrupted
    apply's create may still be committing: apply lists the account again first)."""
    entry = lock.get(d.key)
    notes: list[str] = []
    if d.pal_id:
        if d.pal_id in live_by_id:
            return "pin", live_by_id[d.pal_id], notes
        if entry is not None and entry.replaces == d.pal_id:
            # `--recreate` made (or is making) a new PAL in place of the missing pinned one
            new = f"PAL {entry.pal_id}" if entry.pal_id else "a new PAL"
            notes.append(
                f"x-palsync.pal_id pins {d.pal_id}, which no longer exists and was replaced by "
                f"{new} (--recreate); update the pin"
                + (f" to {entry.pal_id}" if entry.pal_id else "")
            )
        elif d.key in recreate and not (entry is not None and entry.pal_id in live_by_id):
            notes.append(
                f"pinned PAL {d.pal_id} no longer exists; --recreate {d.key}: a new PAL is "
                "created (update x-palsync.pal_id to its id afterwards)"
            )
            return "create", None, notes
        else:
            held = entry.pal_id if entry is not None and entry.pal_id in live_by_id else None
            also = f"; the lock maps {d.key} to live PAL {held}: pin that instead" if held else ""
            notes.append(
                f"pinned PAL {d.pal_id} (x-palsync.pal_id) does not exist in the account "
                "(deleted in the dashboard, or a typo); remove the pin to create a new PAL or "
                f"adopt one by name, or rerun with --recreate {d.key} to create a new PAL in "
                f"its place{also}"
            )
            return "pin-missing", None, notes
    if entry is not None and entry.pal_id:
        if entry.pal_id in live_by_id:
            return "lock", live_by_id[entry.pal_id], notes
        notes.append(
            f"PAL {entry.pal_id} (from the lock) no longer exists live (deleted by hand?); it "
            "will be created again"
        )
    name = d.body.get("pal_name")
    unclaimed = [p for i, p in live_by_id.items() if i not in claimed]
    if entry is not None and entry.pending_create is not None:
        fp = entry.pending_create.get("fingerprint")
        found = [
            p
            for p in unclaimed
            if (name and p.get("pal_name") == name)
            or (fp and fingerprint(live_form(normalise_live(p), flat)) == fp)
        ]
        if len(found) == 1:
            notes.append("found the PAL an interrupted apply created; adopting it")
            return "pending", found[0], notes
        if len(found) > 1:
            ids = ", ".join(sorted(str(p["pal_id"]) for p in found))
            notes.append(
                f"an interrupted apply was creating this PAL and {len(found)} live PALs match "
                f"it ({ids}); pin the right one with x-palsync.pal_id and delete the others"
            )
            return "ambiguous", None, notes
        notes.append(
            "an interrupted apply was creating this PAL and it is not visible yet; apply lists "
            "the account again (for a grace period) before creating it, so a slow commit does "
            "not become a duplicate"
        )
        if not (isinstance(name, str) and name):
            return "recheck", None, notes
    if isinstance(name, str) and name:
        same = [p for p in unclaimed if p.get("pal_name") == name]
        if len(same) == 1:
            return "name", same[0], notes
        if len(same) > 1:
            ids = ", ".join(sorted(str(p["pal_id"]) for p in same))
            notes.append(
                f"{len(same)} live PALs are named {name!r} ({ids}); pin one with x-palsync.pal_id"
            )
            return "ambiguous", None, notes
    if entry is not None and entry.pending_create is not None:
        return "recheck", None, notes
    return "create", None, notes


def _missing_refs(kind: Kind, body: Mapping[str, Any], refs: Refs) -> list[str]:
    """Why this document cannot be sent: each id it names that its kind's list lacks."""
    reasons = []
    for ref in kind.references:
        known = refs.get(ref.kind)
        if known is None:
            continue
        target = KINDS[ref.kind]
        reasons += [target.missing_reason(i) for i in referenced_ids(ref, body) if i not in known]
    return reasons


def _plan_one(
    d: Desired,
    prep: Prepared,
    live_by_id: Mapping[str, Mapping[str, Any]],
    lock: Lock,
    refs: Refs,
    claimed: Mapping[str, str],
    recreate: Collection[str] = (),
    resend_secrets: bool = False,
) -> Change:
    flat, secrets, fp, secret_fps, managed = prep
    how, pal, notes = _identify(d, flat, live_by_id, lock, claimed, recreate)
    name = d.body.get("pal_name")
    entry = lock.get(d.key)
    replaces = None
    if d.pal_id and d.pal_id not in live_by_id and how != "pin-missing":
        replaces = d.pal_id  # --recreate, now or in an earlier run
    base: dict[str, Any] = {
        "replaces": replaces,
        "pal_name": name if isinstance(name, str) else None,
        "managed": managed,
        "fingerprint": fp,
        "secret_fingerprints": secret_fps,
        "protected": d.protected,
        "path": d.path,
        "warnings": tuple(notes),
    }
    if how == "pin-missing":
        return Change(d.key, "blocked", "local", reasons=tuple(notes), **{**base, "warnings": ()})
    if how == "ambiguous":
        return Change(
            d.key, "blocked", reasons=tuple(notes[-1:]), **{**base, "warnings": tuple(notes[:-1])}
        )
    missing = _missing_refs(PALS, d.body, refs)
    if pal is None:
        if missing:
            return Change(d.key, "blocked", "local", reasons=tuple(missing), **base)
        created = tuple(FieldChange(p, MISSING, v) for p, v in sorted(flat.items()))
        created += tuple(
            FieldChange(p, MISSING, SENSITIVE, sensitive=True) for p in sorted(secrets)
        )
        since = None
        if how == "recheck" and entry is not None and entry.pending_create is not None:
            stamp = entry.pending_create.get("since")
            since = stamp if isinstance(stamp, str) else ""
        return Change(
            d.key,
            "create",
            "local",
            fields=created,
            create_body=d.body,
            pending_since=since,
            **base,
        )

    pal_id = str(pal["pal_id"])
    owned = entry is not None and entry.pal_id == pal_id and entry.pending_create is None
    unverified: tuple[str, ...] = ()
    if owned and entry is not None and not resend_secrets:
        # secrets import could not read back: not sent (nothing says they differ live), and
        # still recorded as unverified, until `--resend-secrets` sends them
        unverified = tuple(p for p in sorted(secrets) if is_unverified(entry.secrets.get(p)))
        if unverified:
            secret_fps = {**secret_fps, **dict.fromkeys(unverified, UNVERIFIED)}
            base = {**base, "secret_fingerprints": secret_fps, "unverified": unverified}
    live = normalise_live(pal)
    previous = set(entry.managed) if owned and entry else set()
    removed = sorted(
        p
        for p in previous - set(flat)
        if not any(p == i or p.startswith(i + "/") for i in d.ignore)
    )
    live_flat = project_live(live, [*flat, *removed], d.ignore)
    current = {p: v for p, v in live_flat.items() if p in flat}
    unchanged = json_equal(current, flat)  # fingerprint(current) == fp, without encoding
    old_secrets = entry.secrets if owned and entry else {}
    if (
        owned
        and entry is not None
        and unchanged
        and fp == entry.fingerprint
        and entry.managed == managed
        and old_secrets == secret_fps
        and not any(p in live_flat for p in removed)
        and not missing
    ):
        return Change(d.key, "noop", None, pal_id, **base)  # the common case: nothing to do
    fields: list[FieldChange] = []
    if not unchanged or any(p in live_flat for p in removed):
        fields = field_changes(live_flat, flat, removed)
    sets = {f.path: f.after for f in fields if not f.removed}
    for pointer, value in sorted(secrets.items()):
        if old_secrets.get(pointer) != secret_fps[pointer]:
            fields.append(FieldChange(pointer, SENSITIVE, SENSITIVE, sensitive=True))
            sets[pointer] = value
    # a secret pal-sync sent before and the manifest no longer has: removed live, and shown
    fields += [
        FieldChange(p, SENSITIVE, MISSING, sensitive=True)
        for p in sorted(old_secrets)
        if p not in secrets and lookup(live, p) is not MISSING
    ]
    removals = [f.path for f in fields if f.removed]
    ops, conf_ops = patch_ops(live, sets, removals) if sets or removals else ([], [])
    ops = guard_ops(pal, ops)
    conf_ops = guard_ops(pal, conf_ops, within=PALS.own_request or "")

    direction: Direction | None = "local"
    if owned and entry:
        local = fp != entry.fingerprint or any(old_secrets.get(p) != secret_fps[p] for p in secrets)
        drift = fingerprint(project_live(live, entry.managed, d.ignore)) != entry.fingerprint
        direction = "conflict" if local and drift else "drift" if drift else "local"
    action: Action = "adopt" if not owned else ("update" if ops or conf_ops else "noop")
    if action == "noop":
        direction = None
    if missing and action != "noop":
        return Change(
            d.key,
            "blocked",
            direction,
            pal_id,
            reasons=tuple(missing),
            fields=tuple(fields),
            live_hash=document_hash(pal),
            **base,
        )
    return Change(
        d.key,
        action,
        direction,
        pal_id,
        fields=tuple(fields),
        ops=tuple(ops),
        conferencing_ops=tuple(conf_ops),
        live_hash=document_hash(pal),
        **base,
    )
