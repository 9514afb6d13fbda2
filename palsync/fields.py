"""What pal-sync knows about PAL fields: legacy names, read-only and server-managed fields, secrets.

Shared by the schema checks, the canonical comparison and the importer (the emulator keeps its own
copy of the API's rules on purpose: it plays the server, not the client). The field tables are
not written here: each field says it beside its schema, in scripts/build_schema.py, and the tables
come from those annotations (`palsync.fieldspec`) through the generated `palsync._fields`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from palsync import _fields

#: Legacy top-level names -> current names (accepted in manifests, normalised, warned about).
#: From `x-palsync-alias-of` with `deprecated: true` on a top-level field.
LEGACY_TOP_LEVEL: dict[str, str] = _fields.LEGACY_TOP_LEVEL

#: Other spellings inside a layer: (layer, spelling) -> the canonical name. Accepted in
#: manifests and live documents, normalised before any comparison, warned about in manifests.
#: Interruptibility has three spellings of ONE field (tavus-api.md 11a): `face_interruptibility`
#: (what Tavus's CLI sends; canonical here), `pal_interruptibility` (PAL docs) and
#: `replica_interruptibility` (persona docs). When several are present, the first of
#: canonical, then this table's order (the schema's), wins. From `x-palsync-alias-of` on a
#: member of a layer.
LEGACY_LAYER: dict[tuple[str, str], str] = _fields.LEGACY_LAYER

#: Spellings of LEGACY_LAYER that are current, not legacy: accepted without a warning (an
#: `x-palsync-alias-of` without `deprecated`).
CURRENT_SPELLINGS: frozenset[tuple[str, str]] = _fields.CURRENT_SPELLINGS

#: canonical pointer -> its other spellings, in order of preference (reads and patches)
SPELLINGS: dict[str, tuple[str, ...]] = {}
for (_layer, _old), _new in LEGACY_LAYER.items():
    SPELLINGS.setdefault(f"/layers/{_layer}/{_new}", ())
    SPELLINGS[f"/layers/{_layer}/{_new}"] += (f"/layers/{_layer}/{_old}",)

#: Fields the server owns; never declared in manifests (an error there), dropped from every
#: live document before any comparison, never sent, never imported. The `readOnly` fields at
#: the top of the schema's `$defs/read-only` (tavus-api.md 2a, 11a).
READ_ONLY_TOP_LEVEL: frozenset[str] = _fields.READ_ONLY_TOP_LEVEL

#: Fields that appear in no Tavus source (tavus-api.md 11a): accepted without invented
#: constraints, sent as written, with a warning that says so (an error under --strict). From
#: the schema root's `x-palsync-unverified` (pointer -> where the field appears).
UNVERIFIED: dict[str, str] = _fields.UNVERIFIED

#: Codes of the open-world warnings that `--strict` turns into errors.
OPEN_WORLD_CODES: frozenset[str] = frozenset({"unknown-key", "unverified-field"})

#: Objects below a layer compared member by member (`x-palsync-compare: members`: the server
#: fills members of its own in `voice_settings`; each header is a secret of its own). Every layer
#: (`/layers/<name>`, known or not) is compared member by member too; any other object is one
#: value, compared and patched whole: free-form maps (`extra_body`, `default_query`, marked
#: `x-palsync-compare: whole`) and the value of any key pal-sync does not know.
MEMBERWISE: frozenset[str] = _fields.MEMBERWISE

#: JSON Pointers the server writes on its own (never diffed, never sent): the `readOnly` fields
#: below the top of `$defs/read-only`.
SERVER_MANAGED_POINTERS: frozenset[str] = _fields.SERVER_MANAGED_POINTERS

#: Secret (write-only) values: these exact pointers (`x-palsync-secret: true`), and every value
#: under these maps (`x-palsync-secret: true` on their `additionalProperties`).
SECRET_POINTERS: frozenset[str] = _fields.SECRET_POINTERS
SECRET_PARENTS: frozenset[str] = _fields.SECRET_PARENTS

#: Id fields -> the kind of resource they point at (`x-palsync-ref`): JSON Pointer of a field
#: holding one id, or of a list of ids (the annotation on its `items`) -> kind name. Legacy names
#: are listed too (`/default_replica_id`); a manifest body has them renamed already.
REFERENCES: dict[str, str] = _fields.REFERENCES

#: Conferencing ops must travel in their own PATCH request.
CONFERENCING_PREFIX = "/layers/conferencing"

#: Stock / template PALs from tavus-api.md section 8 (never matched, updated or deleted).
STOCK_PAL_IDS: frozenset[str] = frozenset(
    {
        "p1af207b8189",
        "paaee96e4f87",
        "pdac61133ac5",
        "pcb7a34da5fe",
        "pa5ad6596ef5",
        "pe13ed370726",
        "pdced222244b",
        "p24293d6",
        "pipecat-stream",
    }
)

INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def is_secret_pointer(pointer: str) -> bool:
    """True for a secret field (`/layers/llm/api_key`...), a map of secrets
    (`/layers/llm/headers`) and anything below them: a header of any name (empty, or escaped as
    `~1`/`~0`), and any value of an unexpected shape (an object where a string belongs) are
    secret as a whole."""
    if pointer in SECRET_POINTERS or pointer in SECRET_PARENTS:
        return True
    return pointer.startswith(_SECRET_PREFIXES)


_SECRET_PREFIXES = tuple(p + "/" for p in sorted(SECRET_POINTERS | SECRET_PARENTS))


#: The account-level apply lease (DESIGN 14) lives in a PAL of its own, named so in the dashboard,
#: that no conversation uses; its `context` holds the lease as JSON starting with this marker.
LEASE_PAL_NAME = "pal-sync apply lease (do not use or delete)"
LEASE_MARKER = '{"pal-sync-lease"'


def is_lease_pal(pal: Mapping[str, Any]) -> bool:
    """The PAL that holds pal-sync's account lease: never planned, imported, adopted or pruned."""
    context = pal.get("context")
    return (
        pal.get("pal_name", pal.get("persona_name")) == LEASE_PAL_NAME
        and isinstance(context, str)
        and context.startswith(LEASE_MARKER)
    )


def is_user_pal(pal: Mapping[str, Any]) -> bool:
    """Only `user` PALs that are not templates or stock ids are ever managed."""
    kind = pal.get("pal_type", pal.get("persona_type", "user"))
    pal_id = pal.get("pal_id", pal.get("persona_id"))
    return kind == "user" and not pal.get("is_template") and pal_id not in STOCK_PAL_IDS


def escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape_pointer_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def split_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON Pointer: {pointer!r}")
    return [unescape_pointer_token(t) for t in pointer[1:].split("/")]


def join_pointer(tokens: list[str] | tuple[str, ...]) -> str:
    return "".join("/" + escape_pointer_token(t) for t in tokens)
