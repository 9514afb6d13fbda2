"""Canonical pair → field changes (deepdiff) and minimal RFC 6902 ops against the live document.

Ops: `replace` where the path exists live, `add` where it does not (a whole missing parent object
is added rather than a child of a missing parent), `remove` for a managed path that left the
manifest and still exists live. Lists are whole values. Conferencing ops come back separately:
the API wants them in their own request. The only deepdiff user, imported lazily.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from palsync.canonical import MISSING, lookup
from palsync.fields import (
    CONFERENCING_PREFIX,
    SPELLINGS,
    is_secret_pointer,
    join_pointer,
    split_pointer,
)


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any
    sensitive: bool = False

    @property
    def removed(self) -> bool:
        return self.after is MISSING

    @property
    def added(self) -> bool:
        return self.before is MISSING


def field_changes(
    live: Mapping[str, Any], desired: Mapping[str, Any], removed: list[str]
) -> list[FieldChange]:
    """Changed pointers between two flat forms (desired wins); `removed` pointers go away."""
    from deepdiff import DeepDiff

    report = DeepDiff(dict(live), dict(desired), view="tree", verbose_level=2)
    changed: set[str] = set()
    for level in report.values():
        for item in level:
            path = item.path(output_format="list")
            if path:
                changed.add(str(path[0]))
    changes = [
        FieldChange(p, live.get(p, MISSING), desired[p]) for p in sorted(changed) if p in desired
    ]
    changes += [FieldChange(p, live[p], MISSING) for p in sorted(removed) if p in live]
    return changes


def _is_conferencing(pointer: str) -> bool:
    return pointer == CONFERENCING_PREFIX or pointer.startswith(CONFERENCING_PREFIX + "/")


def _set(doc: dict[str, Any], tokens: list[str], value: Any) -> None:
    node = doc
    for token in tokens[:-1]:
        nxt = node.get(token)
        if not isinstance(nxt, dict):
            nxt = node[token] = {}
        node = nxt
    node[tokens[-1]] = value


def _apply(doc: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    """Our own ops (add/replace/remove on object members) applied to a scratch copy."""
    for op in ops:
        tokens = split_pointer(op["path"])
        if op["op"] == "remove":
            parent = lookup(doc, join_pointer(tokens[:-1]))
            if isinstance(parent, dict):
                parent.pop(tokens[-1], None)
        else:
            _set(doc, tokens, copy.deepcopy(op["value"]))


def _ops_for(live: dict[str, Any], sets: Mapping[str, Any]) -> list[dict[str, Any]]:
    """add/replace ops that give every pointer in `sets` its value, parents added whole."""
    ops: list[dict[str, Any]] = []
    grouped: dict[str, dict[str, Any]] = {}  # missing ancestor pointer -> object to add
    order: list[str] = []
    for pointer, value in sets.items():
        tokens = split_pointer(pointer)
        if lookup(live, pointer) is not MISSING:
            ops.append({"op": "replace", "path": pointer, "value": value})
            continue
        depth = len(tokens) - 1
        while depth > 0 and not isinstance(lookup(live, join_pointer(tokens[:depth])), dict):
            depth -= 1
        anchor = join_pointer(tokens[: depth + 1])
        if depth + 1 == len(tokens):
            ops.append({"op": "add", "path": pointer, "value": value})
            continue
        if anchor not in grouped:
            grouped[anchor] = {}
            order.append(anchor)
        _set(grouped[anchor], tokens[depth + 1 :], value)
    for anchor in order:
        existing = lookup(live, anchor)
        kind = "replace" if existing is not MISSING else "add"  # a non-object in the way
        ops.append({"op": kind, "path": anchor, "value": grouped[anchor]})
    return ops


def patch_ops(
    live: Mapping[str, Any], sets: Mapping[str, Any], removals: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(ops, conferencing ops) turning `live` into a document with `sets` and without `removals`.

    `sets` maps pointers to their desired values (changed ones only; secrets included);
    `removals` are pointers to delete when present. Conferencing ops are computed against the
    document as it will be after the main ops, since they are sent afterwards.
    """
    scratch = copy.deepcopy(dict(live))
    main_sets = {p: v for p, v in sets.items() if not _is_conferencing(p)}
    conf_sets = {p: v for p, v in sets.items() if _is_conferencing(p)}
    removes = sorted(
        {p for p in removals if lookup(live, p) is not MISSING}, key=lambda p: (-p.count("/"), p)
    )
    main = [{"op": "remove", "path": p} for p in removes if not _is_conferencing(p)]
    conf = [{"op": "remove", "path": p} for p in removes if _is_conferencing(p)]
    _apply(scratch, main)
    main_adds = _ops_for(scratch, main_sets)
    _apply(scratch, main_adds)
    if conf_sets and not isinstance(lookup(scratch, "/layers"), dict):
        # conferencing ops must stay under /layers/conferencing, so /layers comes first
        layers = {"op": "add", "path": "/layers", "value": {}}
        main_adds.append(layers)
        _apply(scratch, [layers])
    main += main_adds
    conf_scratch = scratch
    _apply(conf_scratch, conf)
    conf += _ops_for(conf_scratch, conf_sets)
    return main, conf


def _holds_secret(pointer: str, value: Any) -> bool:
    """True when `pointer` or anything under it is write-only (the server shows it masked, so a
    `test` of it would compare the mask with the real value and always fail)."""
    if is_secret_pointer(pointer):
        return True
    if isinstance(value, dict):
        return any(
            _holds_secret(f"{pointer}/{escape}", v)
            for escape, v in (
                (k.replace("~", "~0").replace("/", "~1"), v) for k, v in value.items()
            )
        )
    return False


def respell(seen: Mapping[str, Any], ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ops written against canonical names, addressed to the server at the spelling it showed.

    A field with several spellings (`fields.SPELLINGS`: interruptibility's three) that the
    live document holds under another one is replaced, removed and tested at that spelling:
    the path exists in the document as read, which RFC 6902 requires, whether or not the
    server translates spellings in patch paths. A field absent live is added under the
    canonical spelling, the one Tavus's own CLI sends (tavus-api.md 11a)."""
    out = []
    for op in ops:
        path = op["path"]
        for canonical, others in SPELLINGS.items():
            if path != canonical and not path.startswith(canonical + "/"):
                continue
            if lookup(seen, canonical) is MISSING:
                shown = next((o for o in others if lookup(seen, o) is not MISSING), None)
                if shown is not None:
                    op = {**op, "path": shown + path[len(canonical) :]}
            break
        out.append(op)
    return out


#: every spelling of every field that has several (canonical ones included)
_SPELLED = tuple(p for canonical, others in SPELLINGS.items() for p in (canonical, *others))


def _holds_spelled(seen: Mapping[str, Any], pointer: str) -> bool:
    """True when the object at `pointer` holds a field of several spellings."""
    prefix = pointer + "/"
    return any(p.startswith(prefix) and lookup(seen, p) is not MISSING for p in _SPELLED)


def guard_ops(
    seen: Mapping[str, Any], ops: list[dict[str, Any]], *, within: str = ""
) -> list[dict[str, Any]]:
    """`ops` (respelled as `respell` does) preceded by RFC 6902 `test` ops for the values the
    plan saw (DESIGN 14): an edit made outside pal-sync between plan and apply at a path the
    patch changes makes the whole patch fail atomically instead of being overwritten.

    `seen` is the live document exactly as the server returned it (paths as the server spells
    them). A `replace` or `remove` tests its own path; an `add` of an absent member tests its
    parent object (RFC 6902 cannot test absence), except the document root. Values holding a
    secret are never tested (they are read back masked), nor objects holding a field of
    several spellings (the server may keep it under another spelling than it shows, and a
    test compares whole objects; the field itself is tested at its own path, which the
    server translates). `within`: test only under this pointer (the conferencing patch goes
    out after another PATCH that may have changed everything else)."""
    ops = respell(seen, ops)
    tests: list[dict[str, Any]] = []
    tested: set[str] = set()
    for op in ops:
        pointer = op["path"]
        if op["op"] == "add":
            pointer = join_pointer(split_pointer(pointer)[:-1])
            if not pointer:
                continue
        if within and not (pointer == within or pointer.startswith(within + "/")):
            continue
        value = lookup(seen, pointer)
        if value is MISSING or pointer in tested or _holds_secret(pointer, value):
            continue
        if type(value) is dict and _holds_spelled(seen, pointer):
            continue
        tested.add(pointer)
        tests.append({"op": "test", "path": pointer, "value": copy.deepcopy(value)})
    return tests + ops if ops else ops
