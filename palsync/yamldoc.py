"""YAML text → plain documents, with the problems YAML would hide, and node positions.

The only module that imports PyYAML for reading (libyaml's C parser when available). It imports
no other part of the manifest model: `manifest` loads it only when a file must be parsed (or a
message needs a position), so a plan whose manifests all come from the validation cache never
pays for PyYAML's import.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import yaml

from palsync.errors import Location, Problem, dotted
from palsync.fields import escape_pointer_token, join_pointer, split_pointer
from palsync.frontmatter import FrontMatter, FrontMatterError, is_markdown, split_front_matter

MAX_BYTES = 1024 * 1024
MAX_NODES = 20_000
MAX_DEPTH = 64
YAML11_BOOL_WORDS = frozenset({"yes", "no", "on", "off", "y", "n"})

_dotted = dotted

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


#: (kind, value, implicit) → tag: the C parser asks the (Python) resolver about every node, and
#: manifests repeat the same keys and values; short values only, and a bounded number of them
_RESOLVED: dict[tuple[Any, Any, Any], str] = {}
_RESOLVED_MAX = 50_000


class _Loader(_BaseLoader):  # type: ignore[misc]
    """Safe loader without YAML 1.1 timestamps: `2026-01-01` stays the string it looks like."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        # exact to memoise: with no path resolvers the tag depends on these arguments only
        key = (kind, value, implicit)
        tag = _RESOLVED.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_RESOLVED) < _RESOLVED_MAX and (value is None or len(value) <= 64):
                _RESOLVED[key] = tag
        return tag

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """No path resolvers: nothing to track (PyYAML calls this for every node)."""

    def ascend_resolver(self) -> None:
        """No path resolvers: nothing to track."""


assert not _Loader.yaml_path_resolvers, "resolve() memoisation assumes no path resolvers"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


class Positions:
    """Pointer → (line, col) of a file's nodes, built from its YAML node tree when first asked.
    `extra`: pointers written outside the YAML (a `.md` manifest's body: `/system_prompt`)."""

    def __init__(
        self, path: str, root: yaml.Node | None, extra: dict[str, tuple[int, int]] | None = None
    ):
        self.path = path
        self._root = root
        self._extra = extra or {}

    @cached_property
    def _index(self) -> dict[str, tuple[int, int, int, int, str | None]]:
        index: dict[str, tuple[int, int, int, int, str | None]] = {
            pointer: (line, col, line, col, None) for pointer, (line, col) in self._extra.items()
        }
        if self._root is None:
            return index

        def visit(node: yaml.Node, pointer: str, key_mark: Any, depth: int) -> None:
            if depth > 64 or (pointer in index and pointer not in self._extra):
                return
            text = node.value if isinstance(node, yaml.ScalarNode) and not node.style else None
            km = key_mark or node.start_mark
            index[pointer] = (
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                km.line + 1,
                km.column + 1,
                text,
            )
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode):
                        visit(
                            v,
                            pointer + "/" + escape_pointer_token(str(k.value)),
                            k.start_mark,
                            depth + 1,
                        )
            elif isinstance(node, yaml.SequenceNode):
                for i, item in enumerate(node.value):
                    visit(item, f"{pointer}/{i}", None, depth + 1)

        visit(self._root, "", None, 0)
        return index

    def locate(self, pointer: str, *, at_key: bool = False) -> Location:
        tokens = split_pointer(pointer) if pointer else []
        while True:
            candidate = join_pointer(tokens)
            entry = self._index.get(candidate)
            if entry is not None:
                line, col = (entry[2], entry[3]) if at_key else (entry[0], entry[1])
                return Location(self.path, line, col)
            if not tokens:
                return Location(self.path, 1, 1)
            tokens.pop()

    def plain_text(self, pointer: str) -> str | None:
        """The unquoted source text of a plain scalar (to explain YAML 1.1 booleans)."""
        entry = self._index.get(pointer)
        return entry[4] if entry else None


def positions_of(path: str, data: bytes) -> Positions:
    """Positions of a manifest file's nodes, parsed from `data`: the bytes that were read and
    validated (never the file again: it may have changed since). Only messages need them."""
    root: yaml.Node | None = None
    body_line: int | None = None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
        if is_markdown(path):
            split = split_front_matter(text)
            if isinstance(split, FrontMatterError):
                text = ""
            else:
                text, body_line = split.yaml_text, split.body_line
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except (UnicodeDecodeError, yaml.YAMLError):
        root = None
    extra = {"/system_prompt": (body_line, 1)} if body_line is not None else None
    return Positions(path, root, extra)


# --------------------------------------------------------------------------------------------
# Parsing


def parse_bytes(path: str, data: bytes) -> tuple[Any, list[Problem], yaml.Node | None]:
    """Bytes → (document, problems, root node). The document is None when unusable.

    A `.md` file is YAML front matter and a Markdown body (its `system_prompt`)."""
    problems: list[Problem] = []

    def fail(message: str, line: int = 1, col: int = 1) -> tuple[Any, list[Problem], None]:
        problems.append(Problem(Location(path, line, col), message, code="yaml"))
        return None, problems, None

    if len(data) > MAX_BYTES:
        return fail(f"file is {len(data):,} bytes; manifests are limited to {MAX_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = before.count(b"\n") + 1
        col = err.start - (before.rfind(b"\n") + 1) + 1
        return fail(
            f"not valid UTF-8 (byte 0x{data[err.start]:02x}); save the file as UTF-8", line, col
        )
    text = text.removeprefix("\ufeff")
    front: FrontMatter | None = None
    if is_markdown(path):
        split = split_front_matter(text)
        if isinstance(split, FrontMatterError):
            return fail(split.message, split.line)
        front, text = split, split.yaml_text
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        line, col = _mark(err)
        lines = text.splitlines()
        source_line = lines[line - 1] if 0 < line <= len(lines) else ""
        if "\t" in source_line[: max(col, 1)] and "cannot start any token" in (err.problem or ""):
            return fail(
                "tab character in indentation; YAML indents with spaces only",
                line,
                source_line.index("\t") + 1,
            )
        return fail(_yaml_message(err), line, col)
    except yaml.YAMLError as err:
        return fail(f"invalid YAML: {err}")
    finally:
        loader.dispose()
    if root is None:
        if front is not None:
            return fail(
                "empty front matter: between the `---` lines go the PAL's fields "
                "(pal_name, default_face_id, ...)",
                2,
            )
        return fail("empty manifest: a manifest is one YAML mapping describing one PAL")
    try:
        if "&" in text and _expanded_size(root, {}, 0) > MAX_NODES:  # no anchor, no alias
            return fail(f"document expands to more than {MAX_NODES:,} nodes (YAML alias bomb?)")
        document = _construct(root, "", path, problems, loader, 0)
    except _TooDeep:
        return fail(TOO_DEEP)
    if any(p.code == "tag" for p in problems):
        # values YAML could not give (a tag, NaN): checking the rest would only report the
        # holes they leave, so, as for a syntax error, these are the file's only messages
        return None, problems, root
    if front is not None and isinstance(document, dict):
        document = _with_body(path, document, front, root, problems)
    return document, problems, root


def _with_body(
    path: str,
    document: dict[str, Any],
    front: FrontMatter,
    root: yaml.Node,
    problems: list[Problem],
) -> dict[str, Any]:
    """The front matter's document with the Markdown body as its `system_prompt`."""
    if "system_prompt" in document:
        where = Positions(path, root).locate("/system_prompt", at_key=True)
        problems.append(
            Problem(
                where,
                "system_prompt: set in the front matter of a .md manifest, whose Markdown body "
                f"(line {front.body_line}) is the system prompt; keep only one of them",
                pointer="/system_prompt",
                code="md-system-prompt",
            )
        )
    if front.body is None:
        return document
    return {**document, "system_prompt": front.body}


def _mark(err: yaml.MarkedYAMLError) -> tuple[int, int]:
    mark = err.problem_mark or err.context_mark
    if mark is None:
        return 1, 1
    return mark.line + 1, mark.column + 1


def _yaml_message(err: yaml.MarkedYAMLError) -> str:
    problem = err.problem or ""
    if "expected a single document" in problem or "but found another document" in problem:
        return "several YAML documents in one file; a manifest holds exactly one PAL"
    if "maximum nesting depth" in problem:  # libyaml 0.2.5+ stops before our own walk does
        return TOO_DEEP
    context = f"{err.context}: " if err.context else ""
    return f"invalid YAML: {context}{problem}".rstrip(": ")


TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep; a PAL manifest never needs that"


def is_yaml11_bool(plain_text: str | None) -> bool:
    """Whether a plain scalar's text is a YAML 1.1 boolean word (`yes`, `off`...): read as a
    boolean where a string was probably meant."""
    return plain_text is not None and plain_text.lower() in YAML11_BOOL_WORDS


class _TooDeep(Exception):
    """Raised from the recursive walks below before they could exhaust the stack."""


def _expanded_size(node: yaml.Node, memo: dict[int, int], depth: int) -> int:
    """Node count with aliases expanded, memoised so a bomb is measured without expanding it."""
    known = memo.get(id(node))
    if known is not None:
        return known
    if depth > MAX_DEPTH:
        raise _TooDeep
    memo[id(node)] = MAX_NODES + 1  # a cycle counts as too big
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(
            _expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1)
            for k, v in node.value
        )
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, memo, depth + 1) for item in node.value)
    else:
        size = 1
    memo[id(node)] = min(size, MAX_NODES + 1)
    return memo[id(node)]


_JSON_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


_COLLECTION_TAGS = {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
_STR = "tag:yaml.org,2002:str"
_SCALAR = yaml.ScalarNode
_MERGE = "tag:yaml.org,2002:merge"


def _loc(path: str, node: yaml.Node) -> Location:
    return Location(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _tag_message(pointer: str, tag: str) -> str:
    shown = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag
    return (
        f"{_dotted(pointer) or 'document'}: unsupported YAML tag {shown}; a manifest holds only "
        "strings, numbers, booleans, null, lists and mappings"
    )


def _construct(
    node: yaml.Node, pointer: str, path: str, problems: list[Problem], loader: Any, depth: int
) -> Any:
    """Nodes → plain JSON values, reporting what YAML would hide (hot path: keep it lean)."""
    if depth > MAX_DEPTH:
        raise _TooDeep
    kind = node.__class__
    if kind is yaml.ScalarNode:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag not in _JSON_TAGS:
            message = _tag_message(pointer, tag)
            problems.append(Problem(_loc(path, node), message, pointer=pointer, code="tag"))
            return None
        value = loader.construct_object(node)
        if isinstance(value, float) and value != value:  # NaN has no JSON form
            message = f"{_dotted(pointer)}: NaN is not a valid value"
            problems.append(Problem(_loc(path, node), message, pointer=pointer, code="tag"))
        return value
    if node.tag not in _COLLECTION_TAGS:  # !!set, !!omap, !!python/...
        message = _tag_message(pointer, node.tag)
        problems.append(Problem(_loc(path, node), message, pointer=pointer, code="tag"))
        return None
    # a plain string child (most nodes) is taken here, without a call or its pointer; not at
    # the depth limit, where the call reports it
    inline = depth < MAX_DEPTH
    if kind is yaml.SequenceNode:
        return [
            item.value
            if inline and item.__class__ is _SCALAR and item.tag == _STR
            else _construct(item, f"{pointer}/{i}", path, problems, loader, depth + 1)
            for i, item in enumerate(node.value)
        ]
    if kind is not yaml.MappingNode:
        return None
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if key_node.__class__ is not _SCALAR or key_node.tag == _MERGE:
            message = (
                f"{_dotted(pointer) or 'document'}: only plain string keys are supported "
                "(no complex or merge keys)"
            )
            problems.append(Problem(_loc(path, key_node), message, pointer=pointer, code="key"))
            continue
        key = key_node.value
        if key_node.tag != _STR and not key_node.style:
            kind_name = key_node.tag.rsplit(":", 1)[-1]
            message = (
                f"{_dotted(_child(pointer, key))}: key is read as a {kind_name}, not a string; "
                "quote it"
            )
            problems.append(Problem(_loc(path, key_node), message, pointer=pointer, code="key"))
        if key in result:
            child = _child(pointer, key)
            first = next(k for k, _ in node.value if k.value == key)
            message = (
                f"{_dotted(child)}: duplicate key (first at line "
                f"{first.start_mark.line + 1}); YAML would silently keep only this last one"
            )
            problems.append(
                Problem(_loc(path, key_node), message, pointer=child, code="duplicate-key")
            )
        if inline and value_node.__class__ is _SCALAR and value_node.tag == _STR:
            result[key] = value_node.value
        else:
            child = _child(pointer, key)
            result[key] = _construct(value_node, child, path, problems, loader, depth + 1)
    return result


def _child(pointer: str, key: str) -> str:
    return pointer + "/" + (escape_pointer_token(key) if "/" in key or "~" in key else key)
