"""desired + live + lock → Plan. Pure: no I/O here, so plan and apply compute it the same way.

Identity (DESIGN 4): `x-palsync.pal_id` pin → lock entry → a pending create recorded by an
interrupted apply → adoption of the one unclaimed live user PAL with the same `pal_name` → create.
Each change carries its direction (local, drift, conflict) judged from the lock's fingerprint.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from palsync import __version__
from palsync.canonical import (
    MISSING,
    Flat,
    desired_form,
    document_hash,
    fingerprint,
    live_form,
    lookup,
    normalise_live,
    project_live,
)
from palsync.diff import FieldChange, field_changes, guard_ops, patch_ops
from palsync.fields import is_secret_pointer
from palsync.lock import Lock, LockEntry, secret_fingerprint

ACTIONS = ("create", "update", "adopt", "delete", "noop", "blocked")
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


@dataclass(frozen=True)
class Refs:
    """What exists in the account; None = not looked up (nothing referenced it)."""

    faces: frozenset[str] | None = None
    objectives: frozenset[str] | None = None
    guardrails: frozenset[str] | None = None
    documents: frozenset[str] | None = None


@dataclass(frozen=True)
class Change:
    key: str
    action: str
    direction: str | None = None
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
        counts = dict.fromkeys(ACTIONS, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return any(c.is_change for c in self.changes)

    @property
    def blocked(self) -> list[Change]:
        return [c for c in self.changes if c.action == "blocked"]

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON form (`plan --format json` and plan files). No secret values."""
        return {
            "format_version": 1,
            "tool_version": __version__,
            "summary": self.summary(),
            "manifests_hash": self.manifests_hash,
            "lock_hash": self.lock_hash,
            "warnings": list(self.warnings),
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
                "after": SENSITIVE if f.sensitive else _show(f.after),
                **({"sensitive": True} if f.sensitive else {}),
            }
            for f in c.fields
        ],
        "ops": redact_ops(c.ops),
        "conferencing_ops": redact_ops(c.conferencing_ops),
        "reasons": list(c.reasons),
        "warnings": list(c.warnings),
        "moved_from": c.moved_from,
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
    refs: Refs = Refs(),
    *,
    targets: Sequence[str] = (),
    prune: bool = False,
    manifest_digests: Sequence[tuple[str, str]] = (),
    prepared: Mapping[str, Prepared] | None = None,
    manifest_keys: Collection[str] | None = None,
) -> Plan:
    """The plan; `prepared` (by key) is the desired side computed ahead, else computed here.
    `manifest_keys`: every manifest of the directory, when `desired` holds only the targeted."""
    live_by_id = {p["pal_id"]: p for p in live if p.get("pal_id")}
    claimed: dict[str, str] = lock.claimed_ids()
    for d in desired:
        if d.pal_id:
            claimed.setdefault(d.pal_id, d.key)
    keys = {d.key for d in desired}
    moves = _moves(desired, live_by_id, lock, set(manifest_keys or ()) | keys, claimed)
    changes: list[Change] = []
    warnings: list[str] = []
    for d in desired:
        if matches(d.key, targets):
            prep = prepared[d.key] if prepared is not None else prepare(d, lock.salt)
            old = moves.get(d.key)
            if old is None:
                changes.append(_plan_one(d, prep, live_by_id, lock, refs, claimed))
                continue
            view = lock.with_entry(d.key, lock.entries[old])
            moved = _plan_one(d, prep, live_by_id, view, refs, claimed)
            changes.append(
                replace(
                    moved,
                    action="adopt" if moved.action == "noop" else moved.action,
                    direction=moved.direction or "local",
                    moved_from=old,
                )
            )
    moved_keys = set(moves.values())
    for key, entry in sorted(lock.entries.items()):
        if key in keys or key in moved_keys or not matches(key, targets) or entry.pal_id is None:
            continue
        pal = live_by_id.get(entry.pal_id)
        if not prune:
            warnings.append(
                f"{key}: in the lock but has no manifest; `--prune` would delete "
                f"PAL {entry.pal_id}" + ("" if pal else " (already gone)")
            )
            continue
        changes.append(_plan_delete(key, entry, pal))
    return Plan(
        tuple(changes), tuple(warnings), manifests_hash(manifest_digests), lock.digest(), lock.salt
    )


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
    orphans: dict[str, list[str]] = {}
    for key, entry in lock.entries.items():
        pal = live_by_id.get(entry.pal_id or "")
        if key in manifest_keys or pal is None or entry.pal_id in pinned:
            continue
        if claimed.get(str(entry.pal_id)) != key:
            continue
        orphans.setdefault(str(pal.get("pal_name")), []).append(key)
    if not orphans:
        return {}
    moves = {}
    for d in desired:
        name = d.body.get("pal_name")
        if d.pal_id or lock.get(d.key) is not None or not isinstance(name, str):
            continue
        if len(orphans.get(name, ())) == 1:
            moves[d.key] = orphans[name][0]
    return moves


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
                "protected: not deleted; remove `protected` from the lock entry's manifest first",
            ),
        )
    warning = () if pal else ("already deleted outside pal-sync; only the lock entry goes",)
    return Change(
        key,
        "delete",
        "local",
        entry.pal_id,
        name,
        warnings=warning,
        live_hash=document_hash(pal) if pal else None,
    )


def _identify(
    d: Desired,
    flat: Flat,
    live_by_id: Mapping[str, Mapping[str, Any]],
    lock: Lock,
    claimed: Mapping[str, str],
) -> tuple[str, Mapping[str, Any] | None, list[str]]:
    """(how, live PAL or None, warnings); how ∈ pin, lock, pending, name, create, ambiguous."""
    entry = lock.get(d.key)
    notes: list[str] = []
    for how, pal_id in (("pin", d.pal_id), ("lock", entry.pal_id if entry else None)):
        if not pal_id:
            continue
        if pal_id in live_by_id:
            return how, live_by_id[pal_id], notes
        notes.append(
            f"PAL {pal_id} ({'pinned' if how == 'pin' else 'from the lock'}) no longer "
            "exists live (deleted by hand?); it will be created again"
        )
        if how == "pin":
            return "create", None, notes
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
    return "create", None, notes


def _missing_refs(body: Mapping[str, Any], refs: Refs) -> list[str]:
    reasons = []
    face = body.get("default_face_id")
    if refs.faces is not None and face and face not in refs.faces:
        reasons.append(f"default face {face} does not exist in the account")
    objective = body.get("objectives_id")
    if refs.objectives is not None and objective and objective not in refs.objectives:
        reasons.append(f"objectives {objective} do not exist in the account")
    if refs.guardrails is not None:
        wanted = list(body.get("guardrail_ids") or [])
        if body.get("guardrails_id"):
            wanted.append(body["guardrails_id"])
        reasons += [
            f"guardrail {g} does not exist in the account"
            for g in wanted
            if g not in refs.guardrails
        ]
    if refs.documents is not None:
        reasons += [
            f"document {doc} does not exist in the account"
            for doc in body.get("document_ids") or []
            if doc not in refs.documents
        ]
    return reasons


def _plan_one(
    d: Desired,
    prep: Prepared,
    live_by_id: Mapping[str, Mapping[str, Any]],
    lock: Lock,
    refs: Refs,
    claimed: Mapping[str, str],
) -> Change:
    flat, secrets, fp, secret_fps, managed = prep
    how, pal, notes = _identify(d, flat, live_by_id, lock, claimed)
    name = d.body.get("pal_name")
    base: dict[str, Any] = {
        "pal_name": name if isinstance(name, str) else None,
        "managed": managed,
        "fingerprint": fp,
        "secret_fingerprints": secret_fps,
        "protected": d.protected,
        "path": d.path,
        "warnings": tuple(notes),
    }
    if how == "ambiguous":
        return Change(
            d.key, "blocked", reasons=tuple(notes[-1:]), **{**base, "warnings": tuple(notes[:-1])}
        )
    missing = _missing_refs(d.body, refs)
    if pal is None:
        if missing:
            return Change(d.key, "blocked", "local", reasons=tuple(missing), **base)
        created = tuple(FieldChange(p, MISSING, v) for p, v in sorted(flat.items()))
        created += tuple(
            FieldChange(p, MISSING, SENSITIVE, sensitive=True) for p in sorted(secrets)
        )
        return Change(d.key, "create", "local", fields=created, create_body=d.body, **base)

    entry = lock.get(d.key)
    pal_id = str(pal["pal_id"])
    owned = entry is not None and entry.pal_id == pal_id and entry.pending_create is None
    live = normalise_live(pal)
    previous = set(entry.managed) if owned and entry else set()
    removed = sorted(
        p
        for p in previous - set(flat)
        if not any(p == i or p.startswith(i + "/") for i in d.ignore)
    )
    live_flat = project_live(live, [*flat, *removed], d.ignore)
    current = {p: v for p, v in live_flat.items() if p in flat}
    current_fp = fingerprint(current)
    old_secrets = entry.secrets if owned and entry else {}
    if (
        owned
        and entry is not None
        and current_fp == fp == entry.fingerprint
        and entry.managed == managed
        and old_secrets == secret_fps
        and not any(p in live_flat for p in removed)
        and not missing
    ):
        return Change(d.key, "noop", None, pal_id, **base)  # the common case: nothing to do
    fields: list[FieldChange] = []
    if current_fp != fp or any(p in live_flat for p in removed):
        fields = field_changes(live_flat, flat, removed)
    sets = {f.path: f.after for f in fields if not f.removed}
    for pointer, value in sorted(secrets.items()):
        if old_secrets.get(pointer) != secret_fps[pointer]:
            fields.append(FieldChange(pointer, SENSITIVE, SENSITIVE, sensitive=True))
            sets[pointer] = value
    removals = [f.path for f in fields if f.removed]
    removals += [p for p in old_secrets if p not in secrets and lookup(live, p) is not MISSING]
    ops, conf_ops = patch_ops(live, sets, removals) if sets or removals else ([], [])
    ops, conf_ops = guard_ops(pal, ops), guard_ops(pal, conf_ops)

    direction: str | None = "local"
    if owned and entry:
        local = fp != entry.fingerprint or any(old_secrets.get(p) != secret_fps[p] for p in secrets)
        drift = fingerprint(project_live(live, entry.managed, d.ignore)) != entry.fingerprint
        direction = "conflict" if local and drift else "drift" if drift else "local"
    action = "adopt" if not owned else ("update" if ops or conf_ops else "noop")
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
