"""Field knowledge read from the schema's annotations: the tables `palsync.fields` exports.

scripts/build_schema.py runs `derive` on the schema it writes and stores the result as
palsync/_fields.py (`render`), so `validate` never parses the schema to start; the tests run it on
edited schemas. Nothing here is imported at run time. An annotation placed where no module would
honour it raises `FieldSpecError` at build time instead of being ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

#: `true` on a field: a secret (must be a `${VAR}` reference, never compared, fingerprinted,
#: redacted). `true` on a map's `additionalProperties`: every member value is a secret, and so is
#: the map as a whole.
SECRET = "x-palsync-secret"
#: on an object: `members` (compared and patched member by member: members the server adds are
#: not drift) or `whole` (one value, the default for an object below a layer).
COMPARE = "x-palsync-compare"
#: on a field: the name of the sibling it is another spelling of. With the standard
#: `"deprecated": true` a legacy name (accepted, normalised, warned about); without it a current
#: spelling (accepted and normalised, no warning).
ALIAS_OF = "x-palsync-alias-of"
#: on an id field, or on the `items` of a list of ids: the kind of resource it points at.
REF = "x-palsync-ref"
#: at the root: {JSON Pointer of a property: where the field appears} for fields in no Tavus
#: source (their own schema stays a bare description: no constraint invented).
UNVERIFIED = "x-palsync-unverified"
#: the standard keyword, used in `$defs/read-only`: the fields the server writes on its own, in
#: the document's shape (the top-level ones are refused by `propertyNames`, so they cannot be
#: listed in `properties`).
READ_ONLY = "readOnly"
READ_ONLY_DEFS = "read-only"

ANNOTATIONS = (SECRET, COMPARE, ALIAS_OF, REF, UNVERIFIED, READ_ONLY)
_KIND = re.compile(r"^[a-z][a-z_]*$")

Path = tuple[str, ...]


class FieldSpecError(ValueError):
    """An annotation pal-sync's modules could not honour where it stands."""


@dataclass(frozen=True)
class FieldTables:
    """What the annotations say, in the shapes `palsync.fields` has always exported."""

    LEGACY_TOP_LEVEL: dict[str, str]
    LEGACY_LAYER: dict[tuple[str, str], str]
    CURRENT_SPELLINGS: frozenset[tuple[str, str]]
    READ_ONLY_TOP_LEVEL: frozenset[str]
    SERVER_MANAGED_POINTERS: frozenset[str]
    MEMBERWISE: frozenset[str]
    SECRET_POINTERS: frozenset[str]
    SECRET_PARENTS: frozenset[str]
    REFERENCES: dict[str, str]
    UNVERIFIED: dict[str, str]


def structurally_memberwise(pointer: str) -> bool:
    """The document, `/layers` and every layer (known or not) are compared member by member
    whatever the annotations say (`canonical.memberwise`)."""
    return pointer in ("", "/layers") or (
        pointer.startswith("/layers/") and pointer.count("/") == 2
    )


def _escape(token: str) -> str:
    # fields.escape_pointer_token's twin: palsync.fields imports the tables derived here, and
    # the builder must run even when they are broken
    return token.replace("~", "~0").replace("/", "~1")


def derive(schema: Mapping[str, Any]) -> FieldTables:
    """The field tables of a schema built by scripts/build_schema.py."""
    legacy_top: dict[str, str] = {}
    legacy_layer: dict[tuple[str, str], str] = {}
    current: set[tuple[str, str]] = set()
    memberwise: set[str] = set()
    secrets: set[str] = set()
    parents: set[str] = set()
    references: dict[str, str] = {}
    read: set[str] = set()
    server: set[str] = set()
    used: set[tuple[Path, str]] = set()

    def fail(where: Path, message: str) -> FieldSpecError:
        return FieldSpecError(f"#/{'/'.join(where)}: {message}")

    def walk(node: Mapping[str, Any], pointer: str, where: Path, members: bool) -> None:
        """`members`: pal-sync compares this object member by member, so its members are
        fields of their own (annotations on them can be honoured)."""
        if not members:
            return  # a value compared whole: the catch-all below reports annotations inside
        siblings = node.get("properties", {})
        for name, sub in siblings.items():
            child, at = pointer + "/" + _escape(name), (*where, "properties", name)
            compare = sub.get(COMPARE)
            if compare is not None:
                used.add((at, COMPARE))
                if compare == "members" and sub.get("type") == "object":
                    memberwise.add(child)
                elif compare == "members":
                    raise fail(at, "only an object (`type: object`) has members to compare")
                elif compare != "whole":
                    raise fail(at, f"{COMPARE} is `members` or `whole`, not {compare!r}")
                elif structurally_memberwise(child):
                    raise fail(at, "a layer is always compared member by member")
            if sub.get(SECRET) is not None:
                used.add((at, SECRET))
                if sub[SECRET] is not True:
                    raise fail(at, f"{SECRET} is `true` or absent")
                secrets.add(child)
            extra = sub.get("additionalProperties")
            if isinstance(extra, dict) and extra.get(SECRET) is not None:
                used.add(((*at, "additionalProperties"), SECRET))
                if extra[SECRET] is not True:
                    raise fail(at, f"{SECRET} is `true` or absent")
                parents.add(child)
            if ALIAS_OF in sub:
                used.add((at, ALIAS_OF))
                alias(name, sub, pointer, siblings, at)
            for ref_at, ref_node in ((at, sub), ((*at, "items"), sub.get("items"))):
                if isinstance(ref_node, dict) and REF in ref_node:
                    used.add((ref_at, REF))
                    kind = ref_node[REF]
                    if not isinstance(kind, str) or not _KIND.match(kind):
                        raise fail(ref_at, f"{REF} names a kind (`faces`, `tools`...)")
                    references[child] = kind
            walk(sub, child, at, child in memberwise or structurally_memberwise(child))

    def alias(
        name: str, sub: Mapping[str, Any], pointer: str, siblings: Mapping[str, Any], at: Path
    ) -> None:
        target = sub[ALIAS_OF]
        if target not in siblings or ALIAS_OF in siblings[target]:
            raise fail(at, f"{ALIAS_OF} names a sibling that is no alias itself, not {target!r}")
        legacy = sub.get("deprecated") is True
        if pointer == "":
            if not legacy:
                raise fail(at, "a top-level alias is a legacy name (`deprecated: true`)")
            legacy_top[name] = target
        elif pointer.startswith("/layers/") and pointer.count("/") == 2:
            layer = pointer[len("/layers/") :]
            legacy_layer[(layer, name)] = target
            if not legacy:
                current.add((layer, name))
        else:
            raise fail(at, "aliases are honoured at the top level and in a layer only")

    def walk_read_only(node: Mapping[str, Any], pointer: str, where: Path) -> None:
        for name, sub in node.get("properties", {}).items():
            child, at = pointer + "/" + _escape(name), (*where, "properties", name)
            if READ_ONLY not in sub:
                walk_read_only(sub, child, at)
                continue
            used.add((at, READ_ONLY))
            if sub[READ_ONLY] is not True:
                raise fail(at, f"{READ_ONLY} is `true` or absent")
            if pointer == "":
                if name in schema.get("properties", {}):
                    raise fail(at, "a read-only field is refused by name, not a property")
                read.add(name)
            elif pointer in memberwise or structurally_memberwise(pointer):
                server.add(child)
            else:
                raise fail(at, f"{pointer} is compared whole: its members are never seen")

    walk(schema, "", (), True)
    read_only_defs = schema.get("$defs", {}).get(READ_ONLY_DEFS)
    if isinstance(read_only_defs, dict):
        walk_read_only(read_only_defs, "", ("$defs", READ_ONLY_DEFS))
    unverified = dict(schema.get(UNVERIFIED, {}))
    if unverified:
        used.add(((), UNVERIFIED))
    for pointer in unverified:
        if _property_at(schema, pointer) is None:
            raise fail((UNVERIFIED,), f"{pointer} is no property of the schema")
    for at, key in _annotations(schema, ()):
        if (at, key) in used:
            continue
        if key == READ_ONLY:
            raise fail(at, f"a field the server writes is listed in $defs/{READ_ONLY_DEFS}")
        raise fail(at, f"{key} here is read by no module (inside a value compared whole?)")
    return FieldTables(
        LEGACY_TOP_LEVEL=legacy_top,
        LEGACY_LAYER=legacy_layer,
        CURRENT_SPELLINGS=frozenset(current),
        READ_ONLY_TOP_LEVEL=frozenset(read),
        SERVER_MANAGED_POINTERS=frozenset(server),
        MEMBERWISE=frozenset(memberwise),
        SECRET_POINTERS=frozenset(secrets),
        SECRET_PARENTS=frozenset(parents),
        REFERENCES=references,
        UNVERIFIED=unverified,
    )


def _property_at(schema: Mapping[str, Any], pointer: str) -> Any:
    node: Any = schema
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        node = node.get("properties", {}).get(token) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def _annotations(node: Any, where: Path) -> Iterator[tuple[Path, str]]:
    """(schema path, keyword) of every annotation anywhere in the schema."""
    if isinstance(node, dict):
        names = bool(where) and where[-1] in ("properties", "$defs", "patternProperties")
        for key, value in node.items():
            if key in ANNOTATIONS and not names:
                yield where, key
            if key not in _DATA or names:
                yield from _annotations(value, (*where, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _annotations(value, (*where, str(i)))


#: keywords whose values are data, not schemas
_DATA = frozenset({"enum", "const", "examples", "default", "description"})

HEADER = '''"""GENERATED by scripts/build_schema.py from the annotations of schemas/pal.schema.json.

Do not edit: edit the field in scripts/build_schema.py and run it. `palsync.fields` exports these
tables and says what each means; `palsync.fieldspec` derives them.
"""

from __future__ import annotations
'''


def render(tables: FieldTables) -> str:
    """palsync/_fields.py: the tables as Python literals, one entry a line (ruff's format), in
    a stable order: sets sorted, dicts in schema order (LEGACY_LAYER's order is the order in
    which spellings win)."""
    out = [HEADER]
    for field in fields(tables):
        value = getattr(tables, field.name)
        out.append(f"\n{field.name}: {field.type} = ")
        if isinstance(value, dict) and value:
            out.append("{\n")
            out += [f"    {_literal(k)}: {_literal(v)},\n" for k, v in value.items()]
            out.append("}\n")
        elif value:
            out.append("frozenset(\n    {\n")
            out += [f"        {_literal(v)},\n" for v in sorted(value)]
            out.append("    }\n)\n")
        else:
            out.append("{}\n" if isinstance(value, dict) else "frozenset()\n")
    return "".join(out)


def _literal(value: str | tuple[str, ...]) -> str:
    """A string or a tuple of strings as ruff would write it (double quotes)."""
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ")"
    return json.dumps(value, ensure_ascii=False)
