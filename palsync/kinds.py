"""The table of resource kinds: what pal-sync knows about each kind of thing in a Tavus account.

A kind declares its endpoints, the fields that hold its id and its name, how its list pages
(which page comes first, which listings make up the whole), how it is patched (JSON Patch or a
plain partial JSON body, tavus-api.md §11c), and which fields of its documents reference other
kinds (a PAL's secret fields are the schema's annotations, `fields.SECRET_POINTERS`; a kind gets
a field of its own for them when a second writable kind has secrets). The planner, the applier,
the client and the reference checks work through this table; what only one kind does is that
kind's own small hook (for PALs: the conferencing fields go in a request of their own, and a 409
means unpublished PAL Maker edits).

Today one kind is managed (PALs); faces, objectives, guardrails, documents, tools and
pronunciation dictionaries are read-only entries: pal-sync lists them (only when a manifest
names one) to check that the ids a PAL names exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal

from palsync.fields import CONFERENCING_PREFIX, REFERENCES, split_pointer

PatchStyle = Literal["json-patch", "merge"]


@dataclass(frozen=True)
class Reference:
    """A field of a kind's documents that holds the id (or a list of ids) of another kind."""

    pointer: str
    kind: str

    @cached_property
    def tokens(self) -> tuple[str, ...]:
        return tuple(split_pointer(self.pointer))

    def value_in(self, body: Mapping[str, Any]) -> Any:
        """The field's value in `body`, or None when absent (a plain walk of mappings: this
        runs for every reference of every document of a plan)."""
        node: Any = body
        for token in self.tokens:
            if not isinstance(node, Mapping):
                return None
            node = node.get(token)
        return node


@dataclass(frozen=True)
class Kind:
    #: the table's key: also the manifest directory and the plan's group for managed kinds
    name: str
    #: the word for one of them in messages ("PAL", "guardrail")
    noun: str
    #: the collection endpoint; an item is `{path}/{id}`
    path: str
    #: the fields that may hold an item's id, the current one first (then legacy spellings)
    ids: tuple[str, ...]
    #: the field adoption by name reads (None: this kind is never adopted by name)
    name_field: str | None = None
    patch: PatchStyle = "json-patch"
    #: the query of each listing that together make up the whole list (guardrails: two)
    listings: tuple[Mapping[str, str], ...] = ({},)
    #: the number of the first page (tavus-api.md 4: some lists page from 0)
    first_page: int = 1
    #: the client method that lists this kind when plain paging is not enough (faces: stock
    #: faces come only with another filter); it is called with no arguments
    lister: str | None = None
    #: fields that reference other kinds, in the order their problems are reported
    references: tuple[Reference, ...] = ()
    #: the reason a reference to a missing item blocks its referrer ({id} is replaced)
    missing: str = "{noun} {id} does not exist in the account"
    #: PAL hook: fields below this pointer are patched in a request of their own
    own_request: str | None = None
    #: PAL hook: the reason a 409 refusal is reported with (unpublished PAL Maker edits)
    conflict: str | None = None

    def id_of(self, item: Mapping[str, Any]) -> str | None:
        """The item's id, under whichever of this kind's id fields holds it."""
        for name in self.ids:
            value = item.get(name)
            if value:
                return str(value)
        return None

    def ids_in(self, items: Iterable[Mapping[str, Any]]) -> frozenset[str]:
        """Every id these items can be referenced by (any id field each one holds)."""
        return frozenset(str(item[n]) for item in items for n in self.ids if item.get(n))

    def missing_reason(self, item_id: Any) -> str:
        return self.missing.format(noun=self.noun, id=item_id)


PALS = Kind(
    name="pals",
    noun="PAL",
    path="/v2/pals",
    ids=("pal_id", "persona_id"),
    name_field="pal_name",
    listings=({"pal_type": "user"},),
    references=(),  # set below, once the table knows which kinds exist
    own_request=CONFERENCING_PREFIX,
    conflict=(
        "someone has unpublished edits in PAL Maker for {key} ({id}); publish or discard "
        "them, or rerun with --force-maker {key}"
    ),
)

FACES = Kind(
    name="faces",
    noun="face",
    path="/v2/faces",
    ids=("face_id", "replica_id"),
    listings=({"verbose": "true"},),
    lister="list_faces",
    missing="default face {id} does not exist in the account",
)

OBJECTIVES = Kind(
    name="objectives",
    noun="objectives",
    path="/v2/objectives",
    ids=("objectives_id",),
    missing="objectives {id} do not exist in the account",
)

GUARDRAILS = Kind(
    name="guardrails",
    noun="guardrail",
    path="/v2/guardrails",
    ids=("uuid", "guardrails_id", "guardrail_id"),
    # individual guardrails and legacy sets are two listings of one endpoint (tavus-api.md 11b)
    listings=({"legacy": "false"}, {"legacy": "true"}),
)

DOCUMENTS = Kind(
    name="documents",
    noun="document",
    path="/v2/documents",
    ids=("document_id", "uuid"),
    first_page=0,
)

TOOLS = Kind(
    name="tools",
    noun="tool",
    path="/v2/tools",
    ids=("tool_id",),
    # system tools (`end_call`, id = name) are valid `tool_ids` too: the list of all of them
    listings=({"type": "all"},),
)

DICTIONARIES = Kind(
    name="dictionaries",
    noun="pronunciation dictionary",
    path="/v2/pronunciation-dictionaries",
    ids=("pronunciation_dictionary_id", "dictionary_id"),
)

#: every kind, by name; managed kinds first, in the order their creates run
KINDS: dict[str, Kind] = {
    k.name: k for k in (PALS, FACES, OBJECTIVES, GUARDRAILS, DOCUMENTS, TOOLS, DICTIONARIES)
}


def _references(table: dict[str, str]) -> tuple[Reference, ...]:
    """A document's references (`fields.REFERENCES`, from the schema's `x-palsync-ref`) to the
    kinds this table lists, in the table's order of kinds (the order a PAL's missing
    references are reported in); a reference to a kind the table does not list is not
    checked."""
    order = list(KINDS)
    known = [(p, k) for p, k in table.items() if k in KINDS]
    return tuple(Reference(p, k) for p, k in sorted(known, key=lambda r: (order.index(r[1]), r[0])))


PALS = replace(PALS, references=_references(REFERENCES))
KINDS["pals"] = PALS


def referenced_kinds(kind: Kind, bodies: Iterable[Mapping[str, Any]]) -> list[Kind]:
    """The kinds some of these documents of `kind` reference: the listings a plan needs."""
    docs = list(bodies)
    wanted: list[Kind] = []
    for ref in kind.references:
        target = KINDS[ref.kind]
        if target in wanted:
            continue
        if any(ref.value_in(body) not in (None, "", []) for body in docs):
            wanted.append(target)
    return wanted


def referenced_ids(ref: Reference, body: Mapping[str, Any]) -> list[Any]:
    """The ids one document names in one reference field (none, one, or a list)."""
    value = ref.value_in(body)
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None]  # "" is an id the account lacks too
    return [value]
