"""A content-addressed cache of manifests that passed validation (plan and apply only).

Parsing and validating a manifest is most of the CPU a plan of unchanged PALs spends, and almost
every run sees the same files as the last one. An entry maps the SHA-256 of a file's bytes to the
document it parsed to, recorded only when the file had no error at all; a hit skips YAML and
validation for that file. Entries are only valid for the validator that checked them: the cache
carries a digest of pal-sync's version, the schema and the validating modules' sources, and any
difference empties it.

The cache lives in the user's cache directory (`$PALSYNC_CACHE_DIR`, else
`$XDG_CACHE_HOME/pal-sync`, else `~/.cache/pal-sync`), never in the repository: a cache checked
in by someone else must not be able to stand in for the manifests. There is one file per
manifest directory, holding the entries of that directory's last run only, so it stays as small
as the directory and costs a few milliseconds to read. It holds the documents as
written (`${VAR}` references unresolved), so never a resolved secret. `PALSYNC_NO_CACHE=1`
disables it; any unreadable or foreign cache file is ignored and replaced. Best effort: failing to
write it never fails a run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from palsync import __version__
from palsync.atomic import write_atomic

FORMAT = "palsync.manifest-cache/v1"
#: the modules whose code decides whether a manifest is valid (`_schema_fast` and `_fields` are
#: generated from the schema, so they stand for the schema and its field annotations too)
_VALIDATING_MODULES = (
    "manifest",
    "frontmatter",
    "yamldoc",
    "validation",
    "schema",
    "_schema_fast",
    "fields",
    "_fields",
    "errors",
)


def cache_dir() -> Path | None:
    """The manifest cache's directory, or None when PALSYNC_NO_CACHE turns it off."""
    if os.environ.get("PALSYNC_NO_CACHE", "") not in ("", "0"):
        return None
    return cache_root()


def cache_root() -> Path:
    """pal-sync's per-user directory: $PALSYNC_CACHE_DIR, else $XDG_CACHE_HOME/pal-sync, else
    ~/.cache/pal-sync."""
    explicit = os.environ.get("PALSYNC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pal-sync"


def validator_id() -> str | None:
    """Digest of everything that decides validity: pal-sync's version and validating sources
    (the schema through its generated validator), and which PyYAML parses (its version and
    whether libyaml is there: they accept slightly different input). None when that cannot be
    known (sources not installed as files): no cache then."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256(__version__.encode())
    try:
        for module in _VALIDATING_MODULES:
            h.update((here / f"{module}.py").read_bytes())
        h.update(_yaml_identity().encode())
    except (OSError, ValueError):
        return None
    return h.hexdigest()


def _yaml_identity() -> str:
    """PyYAML's distribution and compiled parts, from directory listings (not importing it)."""
    spec = importlib.util.find_spec("yaml")
    if spec is None or not spec.origin:
        raise ValueError("PyYAML not found")
    package = os.path.dirname(spec.origin)
    compiled = [n for n in os.listdir(package) if n.startswith("_yaml")]
    dists = [n for n in os.listdir(os.path.dirname(package)) if n.lower().startswith("pyyaml-")]
    return "\0".join([package, *sorted(compiled), *sorted(dists)])


def file_name(manifests: str) -> str:
    """The cache file of one manifest directory (by its absolute path)."""
    where = os.path.realpath(manifests)
    return f"manifests-{hashlib.sha256(where.encode()).hexdigest()[:16]}.json"


class ManifestCache:
    """digest of a file's bytes → its validated document, for one manifest directory."""

    def __init__(self, path: Path | None):
        self.validator = (validator_id() if path else None) or ""
        self.path = path if self.validator else None
        self._entries: dict[str, Any] = {}
        self._used: set[str] = set()
        self._added = False
        if self.path is not None:
            self._entries = self._read(self.path)

    @classmethod
    def for_directory(cls, manifests: str) -> ManifestCache:
        directory = cache_dir()
        return cls(directory / file_name(manifests) if directory else None)

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return {}
        if (
            not isinstance(doc, dict)
            or doc.get("format") != FORMAT
            or doc.get("validator") != self.validator
            or not isinstance(doc.get("entries"), dict)
        ):
            return {}
        entries: dict[str, Any] = doc["entries"]
        return entries

    def get(self, digest: str) -> dict[str, Any] | None:
        document = self._entries.get(digest)
        if not isinstance(document, dict):
            return None
        self._used.add(digest)
        return document

    def put(self, digest: str, document: dict[str, Any]) -> None:
        if self.path is None or digest in self._entries:
            return
        self._entries[digest] = document
        self._used.add(digest)
        self._added = True

    def __len__(self) -> int:
        return len(self._entries)

    def save(self) -> None:
        """Keep exactly the entries this run used (atomically; errors ignored); no write when
        that is what the file already holds."""
        if self.path is None or (not self._added and len(self._used) == len(self._entries)):
            return
        entries = {d: v for d, v in self._entries.items() if d in self._used}
        doc = {"format": FORMAT, "validator": self.validator, "entries": entries}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            # private (DESIGN: entries are trusted as written); not synced: a cache lost to a
            # crash costs one cold run, and a torn one is ignored
            write_atomic(self.path, text, mode=0o600, durable=False)
        except (OSError, ValueError):
            # a full disk, a read-only home, a value JSON cannot hold (an integer of more than
            # 4,300 digits): a cache that cannot be written only costs time next run
            pass
        self._added = False
