"""What pal-sync knows about PAL fields: legacy names, read-only and server-managed fields, secrets.

Shared by the schema checks, the canonical comparison and the importer (the emulator keeps its own
copy of the API's rules on purpose: it plays the server, not the client).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: Legacy top-level names -> current names (accepted in manifests, normalised, warned about).
LEGACY_TOP_LEVEL: dict[str, str] = {
    "persona_name": "pal_name",
    "default_replica_id": "default_face_id",
}

#: Legacy names inside a layer: (layer, legacy) -> current.
#: Decision (tavus-api.md 9b leaves it open): `replica_interruptibility` is treated as the
#: persona-era spelling of `pal_interruptibility`.
LEGACY_LAYER: dict[tuple[str, str], str] = {
    ("conversational_flow", "replica_interruptibility"): "pal_interruptibility",
}

#: Fields the server owns; never declared in manifests, dropped before any comparison.
READ_ONLY_TOP_LEVEL: frozenset[str] = frozenset(
    {
        "pal_id",
        "persona_id",
        "created_at",
        "updated_at",
        "conferencing_email",
        "pal_type",
        "persona_type",
        "skills",
        "publish_url",
    }
)

#: JSON Pointers the server writes on its own (never diffed, never sent).
SERVER_MANAGED_POINTERS: frozenset[str] = frozenset(
    {
        "/layers/tts/voice_settings/pronunciation_dict_id",
        "/layers/tts/voice_settings/pronunciation_dictionary_locators",
    }
)

#: Secret (write-only) values: these exact pointers, and every value under the header map.
SECRET_POINTERS: frozenset[str] = frozenset({"/layers/llm/api_key", "/layers/tts/api_key"})
SECRET_PARENTS: frozenset[str] = frozenset({"/layers/llm/headers"})

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
    """True for `/layers/llm/api_key`, `/layers/tts/api_key`, `/layers/llm/headers` and anything
    below them: a header of any name (empty, or escaped as `~1`/`~0`), and any value of an
    unexpected shape (an object where a string belongs) are secret as a whole."""
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


def is_user_pal(pal: dict) -> bool:
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
