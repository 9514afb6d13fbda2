"""Canonical forms: desired and live PAL documents as flat `{JSON Pointer: value}` maps.

A manifest declares leaf pointers. The top level, `layers`, every layer (known or not) and the
few objects of `fields.MEMBERWISE` are compared member by member; every other value is a leaf,
compared and patched whole: scalars, lists, free-form objects (`extra_body`, `default_query`) and
the object value of any key pal-sync does not know (open world: its members are not PAL fields
pal-sync could reason about). The live document is projected onto the declared pointers plus the
ones pal-sync managed before, so server-filled siblings never show up as drift, while a field
removed from a manifest does. Read-only and server-managed fields are dropped, legacy names and
other spellings mapped, ignored pointers skipped, and secrets never compared (they are
fingerprinted against the lock instead).

The applied fingerprint recorded in the lock is `fingerprint(desired)`: after a successful apply,
the live document projected onto the lock's `managed` pointers has that same fingerprint, which is
how `plan` tells local changes from drift.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from palsync.fields import (
    LEGACY_LAYER,
    LEGACY_TOP_LEVEL,
    MEMBERWISE,
    READ_ONLY_TOP_LEVEL,
    SERVER_MANAGED_POINTERS,
    SPELLINGS,
    escape_pointer_token,
    is_secret_pointer,
    join_pointer,
    split_pointer,
)

USERNAME = "/layers/conferencing/username"
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<absent>"})()

Flat = dict[str, Any]


def _norm(value: Any) -> Any:
    """JSON-equal values compare equal: 1.0 is 1 (YAML and JSON disagree on number types)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def memberwise(pointer: str) -> bool:
    """True for an object compared member by member (see the module's docstring): the
    document, `/layers`, every `/layers/<name>` (known or not), `fields.MEMBERWISE`."""
    if pointer == "" or pointer == "/layers" or pointer in MEMBERWISE:
        return True
    return pointer.startswith("/layers/") and pointer.count("/") == 2


def normalise_live(pal: Mapping[str, Any]) -> dict[str, Any]:
    """A live PAL with legacy names and other spellings mapped to the canonical ones (the
    current name wins over a legacy one; of interruptibility's three spellings, the first of
    `fields.LEGACY_LAYER`'s order) and read-only fields dropped."""
    doc: dict[str, Any] = {}
    for key, value in pal.items():
        if key in READ_ONLY_TOP_LEVEL:
            continue
        current = LEGACY_TOP_LEVEL.get(key)
        if current is not None:
            if current in pal:
                continue  # both names: the current one wins
            key = current
        doc[key] = value
    layers = doc.get("layers")
    if isinstance(layers, dict):
        for (layer, old), new in LEGACY_LAYER.items():
            section = layers.get(layer)
            if isinstance(section, dict) and old in section:
                keep = new not in section
                layers = {
                    **layers,
                    layer: {
                        (new if k == old else k): v for k, v in section.items() if k != old or keep
                    },
                }
        doc["layers"] = layers
    return doc


def flatten(doc: Mapping[str, Any]) -> Flat:
    """{pointer: value} for every leaf (as `leaves`), built in one pass: the plan's hot path."""
    out: Flat = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            key = str(key)
            pointer = (
                prefix + "/" + (escape_pointer_token(key) if "/" in key or "~" in key else key)
            )
            if type(value) is dict and memberwise(pointer):
                walk(value, pointer)
            else:
                out[pointer] = value

    walk(doc, "")
    return out


def leaves(doc: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(pointer, value) for every declared leaf of a manifest (`x-palsync`'s settings too);
    empty objects declare nothing."""
    if isinstance(doc, dict) and (memberwise(prefix) or prefix == "/x-palsync"):
        for key, value in doc.items():
            yield from leaves(value, prefix + "/" + escape_pointer_token(str(key)))
    elif prefix:
        yield prefix, doc


def canonical_pointer(pointer: str) -> str:
    """`pointer` with another spelling of a field (`fields.SPELLINGS`) replaced by the
    canonical one: an `x-palsync.ignore` entry may name any spelling."""
    for canonical, others in SPELLINGS.items():
        for other in others:
            if pointer == other or pointer.startswith(other + "/"):
                return canonical + pointer[len(other) :]
    return pointer


def _ignored(ignore: Iterable[str]) -> tuple[str, ...]:
    return tuple(canonical_pointer(i) for i in ignore) if ignore else ()


def _skip(pointer: str, ignore: Iterable[str]) -> bool:
    if pointer in SERVER_MANAGED_POINTERS:
        return True
    return any(pointer == i or pointer.startswith(i + "/") for i in ignore)


_PLAIN, _SKIP, _SECRET, _USERNAME = range(4)


@functools.lru_cache(maxsize=8192)
def _pointer_kind(pointer: str) -> int:
    """What `desired_form` does with a leaf; pointers repeat across manifests, so this is asked
    once per distinct pointer (it was a tenth of a 1,000-PAL plan's CPU)."""
    if pointer in SERVER_MANAGED_POINTERS:
        return _SKIP
    if is_secret_pointer(pointer):
        return _SECRET
    return _USERNAME if pointer == USERNAME else _PLAIN


def desired_form(body: Mapping[str, Any], ignore: Iterable[str] = ()) -> tuple[Flat, Flat]:
    """(comparable leaves, secret leaves) of a resolved manifest body."""
    ignore = _ignored(ignore)
    flat: Flat = {}
    secret: Flat = {}
    for pointer, value in flatten(body).items():
        kind = _pointer_kind(pointer)
        if kind == _SKIP or (ignore and _skip(pointer, ignore)):
            continue
        if kind == _SECRET:
            secret[pointer] = value
            continue
        if kind == _USERNAME and isinstance(value, str):
            value = value.lower()  # the server stores usernames lower-case
        flat[pointer] = value if type(value) is str else _norm(value)
    return flat, secret


def lookup(doc: Any, pointer: str) -> Any:
    node = doc
    for token in split_pointer(pointer):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return MISSING
    return node


def live_form(live: Mapping[str, Any], pointers: Iterable[str], ignore: Iterable[str] = ()) -> Flat:
    """The live document projected onto `pointers` (absent ones left out)."""
    ignore = _ignored(ignore)
    flat: Flat = {}
    for pointer in pointers:
        if _skip(pointer, ignore) or is_secret_pointer(pointer):
            continue
        value = lookup(live, pointer)
        if value is MISSING:
            continue
        if pointer == USERNAME and isinstance(value, str):
            value = value.lower()
        flat[pointer] = _norm(value)
    return flat


def live_leaves(live: Mapping[str, Any]) -> Flat:
    """Every comparable leaf of a normalised live document, values normalised, secrets out."""
    flat: Flat = {}
    for pointer, value in flatten(live).items():
        if pointer in SERVER_MANAGED_POINTERS or is_secret_pointer(pointer):
            continue
        if pointer == USERNAME and isinstance(value, str):
            value = value.lower()
        flat[pointer] = value if type(value) is str else _norm(value)
    return flat


#: pointer → its tokens, or None for a pointer `live_leaves` never has (secret, server-managed,
#: or inside a value compared whole); the same few dozen pointers come back for every PAL
_TOKENS: dict[str, tuple[str, ...] | None] = {}


def _tokens(pointer: str) -> tuple[str, ...] | None:
    try:
        return _TOKENS[pointer]
    except KeyError:
        tokens = tuple(split_pointer(pointer))
        compared = (
            pointer not in SERVER_MANAGED_POINTERS
            and not is_secret_pointer(pointer)
            and all(memberwise(join_pointer(tokens[:depth])) for depth in range(len(tokens)))
        )
        _TOKENS[pointer] = tokens if compared else None
        return _TOKENS[pointer]


def project_live(
    live: Mapping[str, Any], pointers: Iterable[str], ignore: Iterable[str] = ()
) -> Flat:
    """`live_leaves(live)` restricted to `pointers`, minus ignored ones, without flattening the
    whole document: only the asked pointers are walked (the plan's per-PAL hot path)."""
    ignore = _ignored(ignore)
    flat: Flat = {}
    for pointer in pointers:
        tokens = _tokens(pointer)
        if tokens is None or (ignore and _skip(pointer, ignore)):
            continue
        node: Any = live
        for token in tokens:
            if type(node) is not dict or token not in node:
                break
            node = node[token]
        else:
            if type(node) is dict and memberwise(pointer):
                continue  # an object where a leaf was declared: `live_leaves` has no such leaf
            if pointer == USERNAME and isinstance(node, str):
                node = node.lower()
            flat[pointer] = node if type(node) is str else _norm(node)
    return flat


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=str)


def fingerprint(flat: Mapping[str, Any]) -> str:
    text = _ENCODER.encode(sorted(flat.items()))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def json_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """`fingerprint(a) == fingerprint(b)`, decided without encoding either in the common case:
    Python equality first, then exact types of the values (True == 1 and 1 == 1.0 in Python,
    not in JSON); only lists and objects are encoded to be sure."""
    if a != b:
        return False
    for key, value in b.items():
        other = a[key]
        kind = type(value)
        if kind is not type(other):
            return False
        if (kind is list or kind is dict) and _ENCODER.encode(value) != _ENCODER.encode(other):
            return False
    return True


def document_hash(doc: Any) -> str:
    text = _ENCODER.encode(doc)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
