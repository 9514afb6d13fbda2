"""Manifest files → plain documents, with positions found on demand; `${VAR}` interpolation.

The only module that reads manifest files. Documents are plain dicts and lists (what the API and
deepdiff want); a manifest keeps the bytes it was read from, and line/column positions come from
parsing those again only when a message needs one, so ten thousand loaded manifests cost no node
trees in memory. YAML itself is `yamldoc`'s (imported only when a file must be parsed).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from palsync.errors import Location, Problem, dotted
from palsync.fields import (
    KEY_PATTERN,
    LEGACY_LAYER,
    LEGACY_TOP_LEVEL,
    escape_pointer_token,
)
from palsync.frontmatter import front_matter_delimiter, is_markdown

if TYPE_CHECKING:
    from palsync.cache import ManifestCache
    from palsync.yamldoc import Positions

_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


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
    #: whether any string may contain a `$` (`may_hold_dollar`); False: nothing to interpolate
    has_dollar: bool = True
    #: loaded from the cache of validated manifests (its checks passed before, unchanged)
    validated: bool = False
    #: the file's bytes as read (and validated): where positions are found, never the file again
    source: bytes = field(default=b"", repr=False, compare=False)

    def raw_pointer(self, pointer: str) -> str:
        """Map a pointer into `body` (current names) to the same place in `raw`."""
        for new, old in self.aliases:
            if pointer == new or pointer.startswith(new + "/"):
                return old + pointer[len(new) :]
        return pointer

    @property
    def ascii_only(self) -> bool:
        """Whether every key and string is plain ASCII: the file's bytes are, and hold no
        backslash (a double-quoted YAML escape such as `\\u200b` is the only other way to
        write a character)."""
        return bool(self.source) and self.source.isascii() and b"\\" not in self.source

    @cached_property
    def positions(self) -> Positions:
        """Where each node of `source` is written (parsed when a message first needs it)."""
        from palsync.yamldoc import positions_of

        return positions_of(self.path, self.source)

    def locate(self, pointer: str) -> Location:
        """Where `pointer` (into `raw` or `body`) is written; the nearest ancestor if absent."""
        return self.positions.locate(self.raw_pointer(pointer))


_dotted = dotted


# --------------------------------------------------------------------------------------------
# Loading


def starts_with_front_matter(path: str) -> bool:
    """Whether a file's first line is `---` (a Markdown file that is meant as a manifest)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    return front_matter_delimiter(first.decode("utf-8", "replace"))


def is_plain_markdown(path: str, name: str) -> bool:
    """A Markdown file that is not a manifest and is ignored: its stem cannot be a key (or its
    extension is not `.md` in lower case) and it has no front matter: `README.md`, `NOTES.MD`.
    A `.md` whose name could be a manifest's is always loaded (its front matter missing is an
    error): skipped, a manifest whose front matter was broken would look deleted to --prune."""
    stem, _, ext = name.rpartition(".")
    if ext == "md" and KEY_PATTERN.match(stem):
        return False
    return not starts_with_front_matter(path)


def _collect(paths: Sequence[str]) -> tuple[list[tuple[str, str]], list[Problem]]:
    """(path as shown, file name) of every manifest under `paths` (plain strings: this runs for
    every file of every plan, and pathlib's objects cost more than the YAML of a small file).

    A directory is read non-recursively, `*.yaml`, `*.yml` and `*.md` only (a `.md` that is not
    a manifest, see `is_plain_markdown`, is ignored). What looks like a manifest but would not
    be loaded (a dangling symlink, `.YAML`, a manifest in a subdirectory) is an error: skipped
    without a word, its PAL would look deleted to `--prune`."""
    files: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for given in paths:
        base = str(Path(given))
        if os.path.isdir(base):
            names = []
            with os.scandir(base) as entries:
                for e in entries:
                    if e.name.startswith("."):
                        continue
                    if e.name.endswith((".yaml", ".yml")) and e.is_file():
                        names.append(e.name)
                    elif e.name.lower().endswith(".md") and e.is_file():
                        shown = e.name if base == "." else os.path.join(base, e.name)
                        if e.name.endswith(".md") and not is_plain_markdown(shown, e.name):
                            names.append(e.name)
                        elif not is_plain_markdown(shown, e.name):  # `.MD` with front matter
                            problems.extend(_skipped(base, e))
                    else:
                        problems.extend(_skipped(base, e))
            names.sort()
            files.extend((n if base == "." else os.path.join(base, n), n) for n in names)
        elif os.path.isfile(base):
            name = os.path.basename(base)
            if is_markdown(name) and is_plain_markdown(base, name):
                continue  # README.md given by the pre-commit hook: not a manifest
            files.append((base, name))
        else:
            problems.append(Problem(Location(str(given)), "no such file or directory", code="path"))
    return files, problems


def _looks_like_manifest(name: str, path: str | None = None) -> bool:
    if name.startswith("."):
        return False
    if name.lower().endswith((".yaml", ".yml")):
        return True
    if not is_markdown(name):
        return False
    # a Markdown file is a manifest when its name could be one's (a dangling `x.md` symlink),
    # or when it has front matter (`X.MD`, `sub/x.md`); README.md and notes are not
    stem, _, ext = name.rpartition(".")
    if path is None or not os.path.exists(path):
        return ext == "md" and KEY_PATTERN.match(stem) is not None
    return starts_with_front_matter(path)


def _skipped(base: str, entry: os.DirEntry[str]) -> list[Problem]:
    """Problems for a directory entry that is not loaded but looks like (or holds) a manifest."""
    shown = entry.name if base == "." else os.path.join(base, entry.name)
    if _looks_like_manifest(entry.name, shown):
        if entry.name.endswith((".yaml", ".yml", ".md")):  # not a regular file
            what = (
                "a dangling symlink (its target does not exist)"
                if entry.is_symlink() and not os.path.exists(shown)
                else "not a regular file"
            )
            fix = "fix or remove it"
        else:
            what = "not loaded: manifest names end in lower-case .yaml, .yml or .md"
            stem = entry.name.rpartition(".")[0]
            fix = f"rename it to {stem}{entry.name[len(stem) :].lower()}"
        return [
            Problem(
                Location(shown),
                f"{what}; {fix} (a PAL in the lock whose manifest is skipped would look "
                "deleted to --prune)",
                code="skipped-file",
            )
        ]
    if not entry.is_dir():
        return []
    found = []
    for root, dirs, names in os.walk(shown):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            os.path.join(root, n)
            for n in sorted(names)
            if _looks_like_manifest(n, os.path.join(root, n))
        ]
    return [
        Problem(
            Location(path),
            f"manifests in subdirectories of {base}/ are not loaded; move it into {base}/ "
            f"or out of it (a PAL in the lock whose manifest is skipped would look deleted "
            "to --prune)",
            code="skipped-file",
        )
        for path in found
    ]


def load_paths(
    paths: Sequence[str], cache: ManifestCache | None = None
) -> tuple[list[Manifest], list[Problem]]:
    """Load every manifest under `paths` (files, or directories of *.yaml/*.yml), sorted by key.

    With a `cache`, a file whose bytes validated before is taken from it, not parsed again."""
    files, problems = _collect(paths)
    manifests: list[Manifest] = []
    seen: dict[str, str] = {}
    for shown, name in files:
        key = name.rpartition(".")[0] or name
        if not KEY_PATTERN.match(key):
            problems.append(
                Problem(
                    Location(shown, 1, 1),
                    f"file name {name!r}: the key (file stem) must match [a-z0-9][a-z0-9_-]* "
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
            data = read_file(shown)
        except OSError as err:
            problems.append(Problem(Location(shown), f"cannot read: {err.strerror}", code="path"))
            continue
        digest = file_digest(name, data)
        known = cache.get(digest) if cache is not None else None
        if known is not None:
            manifests.append(_manifest(shown, key, known, data, digest, validated=True))
            continue
        manifest, file_problems = load_bytes(shown, key, data, digest)
        problems.extend(file_problems)
        if manifest is not None:
            manifests.append(manifest)
    manifests.sort(key=lambda m: m.key)
    return manifests, problems


def read_file(path: str) -> bytes:
    """A file's bytes with plain system calls (a buffered file object per manifest costs more
    than reading a small one: 1,000 manifests 4.7 → 1.9 ms)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def load_bytes(
    path: str, key: str, data: bytes, digest: str | None = None
) -> tuple[Manifest | None, list[Problem]]:
    from palsync import yamldoc

    document, problems, _ = yamldoc.parse_bytes(path, data)
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
    digest = digest or file_digest(path, data)
    return _manifest(path, key, document, data, digest), problems


def file_digest(name: str, data: bytes) -> str:
    """SHA-256 of a manifest file's bytes; a `.md` file's is salted with its kind, so that the
    cache never takes the same bytes read as YAML for the Markdown form (or back)."""
    if is_markdown(name):
        return hashlib.sha256(b"palsync-md\0" + data).hexdigest()
    return hashlib.sha256(data).hexdigest()


def _manifest(
    path: str, key: str, document: dict[str, Any], data: bytes, digest: str, validated: bool = False
) -> Manifest:
    body, aliases = normalise(document)
    settings = _settings(document.get("x-palsync"))
    return Manifest(
        key,
        path,
        document,
        body,
        settings,
        digest,
        aliases,
        may_hold_dollar(data),
        validated,
        data,
    )


#: the ways a YAML file can spell `$`: itself, or a double-quoted escape (\x24, \u0024, \U...)
_DOLLAR_SPELLINGS = (b"$", b"\\x24", b"\\u0024", b"\\U00000024")


def may_hold_dollar(data: bytes) -> bool:
    """False only when no string of the document can contain a `$` (nothing to interpolate)."""
    return any(spelling in data for spelling in _DOLLAR_SPELLINGS)


def normalise(document: dict[str, Any]) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
    """The API body: legacy names → current names, `x-palsync` removed (values shared)."""
    aliases: list[tuple[str, str]] = []
    body: dict[str, Any] = {}
    for key, value in document.items():
        if key == "x-palsync":
            continue
        new = LEGACY_TOP_LEVEL.get(key)
        if new is not None:
            if new in document:
                continue  # both spellings: validation reports it; the current name wins
            aliases.append(("/" + new, "/" + key))
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
                if new not in section:  # the current spelling wins and is where it is said
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
            return {
                k: walk(v, pointer + "/" + escape_pointer_token(str(k))) for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v, f"{pointer}/{i}") for i, v in enumerate(value)]
        return value

    return walk(m.body, ""), problems
