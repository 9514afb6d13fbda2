"""Manifest files → plain documents, with positions found on demand; `${VAR}` interpolation.

The only module that reads manifest files. Documents are plain dicts and lists (what the API and
deepdiff want); line/column positions come from re-reading the YAML node tree only when a message
needs one, so ten thousand loaded manifests cost no node trees in memory.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from palsync.errors import Location, Problem
from palsync.fields import (
    KEY_PATTERN,
    LEGACY_LAYER,
    LEGACY_TOP_LEVEL,
    join_pointer,
    split_pointer,
)

MAX_BYTES = 1024 * 1024
MAX_NODES = 20_000
MAX_DEPTH = 64
YAML11_BOOL_WORDS = frozenset({"yes", "no", "on", "off", "y", "n"})
_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader without YAML 1.1 timestamps: `2026-01-01` stays the string it looks like."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Settings:
    """pal-sync's own settings from the `x-palsync` key."""

    pal_id: str | None = None
    protected: bool = False
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    key: str
    path: str
    raw: dict[str, Any] = field(repr=False)
    body: dict[str, Any] = field(repr=False)
    settings: Settings
    digest: str
    #: normalised pointer prefix -> the pointer prefix as written (legacy names)
    aliases: tuple[tuple[str, str], ...] = ()
    #: whether the file contains a `$` at all (no `$`, nothing to interpolate)
    has_dollar: bool = True

    def raw_pointer(self, pointer: str) -> str:
        """Map a pointer into `body` (current names) to the same place in `raw`."""
        for new, old in self.aliases:
            if pointer == new or pointer.startswith(new + "/"):
                return old + pointer[len(new) :]
        return pointer

    def locate(self, pointer: str) -> Location:
        """Where `pointer` (into `raw` or `body`) is written; the nearest ancestor if absent."""
        return positions_for(self.path).locate(self.raw_pointer(pointer))


@dataclass(frozen=True)
class Parsed:
    document: Any
    problems: tuple[Problem, ...]


class Positions:
    """Pointer → (line, col) of a file's nodes, built from its YAML node tree when first asked."""

    def __init__(self, path: str, root: yaml.Node | None):
        self.path = path
        self._root = root

    @cached_property
    def _index(self) -> dict[str, tuple[int, int, int, int, str | None]]:
        index: dict[str, tuple[int, int, int, int, str | None]] = {}
        if self._root is None:
            return index

        def visit(node: yaml.Node, pointer: str, key_mark: Any, depth: int) -> None:
            if depth > 64 or pointer in index:
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
                        visit(v, pointer + "/" + _escape(str(k.value)), k.start_mark, depth + 1)
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


_positions_cache: dict[str, Positions] = {}


def positions_for(path: str) -> Positions:
    """Positions of a manifest file, parsed again on demand (only error paths need them)."""
    cached = _positions_cache.get(path)
    if cached is None:
        root: yaml.Node | None = None
        try:
            loader = _Loader(Path(path).read_bytes().decode("utf-8"))
            try:
                root = loader.get_single_node()
            finally:
                loader.dispose()
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            root = None
        cached = _positions_cache[path] = Positions(path, root)
    return cached


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# --------------------------------------------------------------------------------------------
# Parsing


def parse_bytes(path: str, data: bytes) -> tuple[Any, list[Problem], yaml.Node | None]:
    """Bytes → (document, problems, root node). The document is None when unusable."""
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
        return fail("empty manifest: a manifest is one YAML mapping describing one PAL")
    try:
        if "&" in text and _expanded_size(root, {}, 0) > MAX_NODES:  # no anchor, no alias
            return fail(f"document expands to more than {MAX_NODES:,} nodes (YAML alias bomb?)")
        document = _construct(root, "", path, problems, loader, 0)
    except _TooDeep:
        return fail(f"nested more than {MAX_DEPTH} levels deep; a PAL manifest never needs that")
    return document, problems, root


def _mark(err: yaml.MarkedYAMLError) -> tuple[int, int]:
    mark = err.problem_mark or err.context_mark
    if mark is None:
        return 1, 1
    return mark.line + 1, mark.column + 1


def _yaml_message(err: yaml.MarkedYAMLError) -> str:
    problem = err.problem or ""
    if "expected a single document" in problem or "but found another document" in problem:
        return "several YAML documents in one file; a manifest holds exactly one PAL"
    context = f"{err.context}: " if err.context else ""
    return f"invalid YAML: {context}{problem}".rstrip(": ")


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


_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


def _loc(path: str, node: yaml.Node) -> Location:
    return Location(path, node.start_mark.line + 1, node.start_mark.column + 1)


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
            message = f"{_dotted(pointer) or 'document'}: unsupported YAML tag {tag}"
            problems.append(Problem(_loc(path, node), message, pointer=pointer, code="tag"))
            return None
        value = loader.construct_object(node)
        if isinstance(value, float) and value != value:  # NaN has no JSON form
            message = f"{_dotted(pointer)}: NaN is not a valid value"
            problems.append(Problem(_loc(path, node), message, pointer=pointer, code="tag"))
        return value
    if kind is yaml.SequenceNode:
        return [
            _construct(item, f"{pointer}/{i}", path, problems, loader, depth + 1)
            for i, item in enumerate(node.value)
        ]
    if kind is not yaml.MappingNode:
        return None
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if key_node.__class__ is not yaml.ScalarNode or key_node.tag == _MERGE:
            message = (
                f"{_dotted(pointer) or 'document'}: only plain string keys are supported "
                "(no complex or merge keys)"
            )
            problems.append(Problem(_loc(path, key_node), message, pointer=pointer, code="key"))
            continue
        key = key_node.value
        child = pointer + "/" + (_escape(key) if "/" in key or "~" in key else key)
        if key_node.tag != _STR and not key_node.style:
            kind_name = key_node.tag.rsplit(":", 1)[-1]
            message = f"{_dotted(child)}: key is read as a {kind_name}, not a string; quote it"
            problems.append(Problem(_loc(path, key_node), message, pointer=pointer, code="key"))
        if key in result:
            first = next(k for k, _ in node.value if k.value == key)
            message = (
                f"{_dotted(child)}: duplicate key (first at line "
                f"{first.start_mark.line + 1}); YAML would silently keep only this last one"
            )
            problems.append(
                Problem(_loc(path, key_node), message, pointer=child, code="duplicate-key")
            )
        result[key] = _construct(value_node, child, path, problems, loader, depth + 1)
    return result


def _dotted(pointer: str) -> str:
    """`/layers/llm/model` → `layers.llm.model`; list indices as `[2]`."""
    out = ""
    for token in split_pointer(pointer):
        out += f"[{token}]" if token.isdigit() else (f".{token}" if out else token)
    return out


dotted = _dotted


# --------------------------------------------------------------------------------------------
# Loading


def _collect(paths: Sequence[str]) -> tuple[list[Path], list[Problem]]:
    files: list[Path] = []
    problems: list[Problem] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            files.extend(
                sorted(
                    f
                    for f in p.iterdir()
                    if f.suffix in (".yaml", ".yml") and not f.name.startswith(".") and f.is_file()
                )
            )
        elif p.is_file():
            files.append(p)
        else:
            problems.append(Problem(Location(str(given)), "no such file or directory", code="path"))
    return files, problems


def load_paths(paths: Sequence[str]) -> tuple[list[Manifest], list[Problem]]:
    """Load every manifest under `paths` (files, or directories of *.yaml/*.yml), sorted by key."""
    files, problems = _collect(paths)
    manifests: list[Manifest] = []
    seen: dict[str, str] = {}
    for file in files:
        shown = str(file)
        key = file.stem
        if not KEY_PATTERN.match(key):
            problems.append(
                Problem(
                    Location(shown, 1, 1),
                    f"file name {file.name!r}: the key (file stem) must match [a-z0-9][a-z0-9_-]* "
                    "(lower-case letters, digits, '-' and '_')",
                    code="key-name",
                )
            )
        if key in seen and seen[key] != shown:
            problems.append(
                Problem(
                    Location(shown, 1, 1),
                    f"key {key!r} is also defined by {seen[key]}; one file per key",
                    code="duplicate-manifest",
                )
            )
            continue
        seen[key] = shown
        try:
            data = file.read_bytes()
        except OSError as err:
            problems.append(Problem(Location(shown), f"cannot read: {err.strerror}", code="path"))
            continue
        manifest, file_problems = load_bytes(shown, key, data)
        problems.extend(file_problems)
        if manifest is not None:
            manifests.append(manifest)
    manifests.sort(key=lambda m: m.key)
    return manifests, problems


def load_bytes(path: str, key: str, data: bytes) -> tuple[Manifest | None, list[Problem]]:
    document, problems, root = parse_bytes(path, data)
    if problems and root is not None:  # keep the tree only where messages will need it
        _positions_cache[path] = Positions(path, root)
    if document is None:
        return None, problems
    if not isinstance(document, dict):
        kind = "a list" if isinstance(document, list) else f"a {type(document).__name__} scalar"
        problems.append(
            Problem(
                Location(path, 1, 1),
                f"the document is {kind}; a manifest must be a mapping of PAL "
                "fields (pal_name: ..., system_prompt: ...)",
                code="not-mapping",
            )
        )
        return None, problems
    body, aliases = normalise(document)
    settings = _settings(document.get("x-palsync"))
    digest = hashlib.sha256(data).hexdigest()
    manifest = Manifest(key, path, document, body, settings, digest, aliases, b"$" in data)
    return manifest, problems


def normalise(document: dict[str, Any]) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
    """The API body: legacy names → current names, `x-palsync` removed (values shared)."""
    aliases: list[tuple[str, str]] = []
    body: dict[str, Any] = {}
    for key, value in document.items():
        if key == "x-palsync":
            continue
        new = LEGACY_TOP_LEVEL.get(key)
        if new is not None:
            aliases.append(("/" + new, "/" + key))
            if new in document:
                continue  # both spellings: validation reports it; the current name wins
            key = new
        body[key] = value
    layers = body.get("layers")
    if isinstance(layers, dict) and any(
        isinstance(layers.get(layer), dict) and old in layers[layer] for layer, old in LEGACY_LAYER
    ):
        layers = dict(layers)
        for (layer, old), new in LEGACY_LAYER.items():
            section = layers.get(layer)
            if isinstance(section, dict) and old in section:
                aliases.append((f"/layers/{layer}/{new}", f"/layers/{layer}/{old}"))
                renamed = {
                    (new if k == old else k): v
                    for k, v in section.items()
                    if not (k == old and new in section)
                }
                layers[layer] = renamed
        body["layers"] = layers
    return body, tuple(aliases)


def _settings(value: Any) -> Settings:
    if not isinstance(value, dict):
        return Settings()
    pal_id = value.get("pal_id")
    ignore = value.get("ignore")
    return Settings(
        pal_id=pal_id if isinstance(pal_id, str) else None,
        protected=value.get("protected") is True,
        ignore=tuple(p for p in ignore if isinstance(p, str)) if isinstance(ignore, list) else (),
    )


# --------------------------------------------------------------------------------------------
# ${VAR} interpolation


@dataclass(frozen=True)
class Reference:
    pointer: str
    name: str | None  # None: malformed `${`
    default: str | None


def iter_strings(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """Every (pointer, string) in a document."""
    if isinstance(value, str):
        yield pointer, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_strings(v, pointer + "/" + _escape(str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_strings(v, f"{pointer}/{i}")


def references(text: str, pointer: str = "") -> list[Reference]:
    """The `${NAME}` / `${NAME:-default}` references in a string (`$$` escapes a `$`)."""
    if "$" not in text:
        return []
    found: list[Reference] = []
    for match in _REFERENCE.finditer(text):
        token = match.group(0)
        if token == "$$":
            continue
        found.append(Reference(pointer, match.group(1), match.group(2)))
    return found


def substitute(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Resolve references in `text`; returns the result and the names that were unset."""
    if "$" not in text:
        return text, []
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name is None:
            return token
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                missing.append(name)
                return ""
            return default
        return value

    return _REFERENCE.sub(replace, text), missing


def interpolate(
    m: Manifest, env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """The body with every `${VAR}` resolved; an unset variable without a default is an error."""
    if not m.has_dollar:
        return m.body, []
    environ = os.environ if env is None else env
    problems: list[Problem] = []

    def walk(value: Any, pointer: str) -> Any:
        if isinstance(value, str):
            if "$" not in value:
                return value
            result, missing = substitute(value, environ)
            for name in missing:
                problems.append(
                    Problem(
                        m.locate(pointer),
                        f"{_dotted(pointer)}: environment variable {name} is not set "
                        f"(set it, or give a default: ${{{name}:-...}})",
                        pointer=pointer,
                        code="unset-variable",
                    )
                )
            return result
        if isinstance(value, dict):
            return {k: walk(v, pointer + "/" + _escape(str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{pointer}/{i}") for i, v in enumerate(value)]
        return value

    return walk(m.body, ""), problems


def is_yaml11_bool(plain_text: str | None) -> bool:
    return plain_text is not None and plain_text.lower() in YAML11_BOOL_WORDS
