"""palsync.lock: which live PAL each key owns, what was last applied, which secrets were sent.

JSON with a stable key order (diff-friendly, committed beside the manifests), written atomically
(temporary file, fsync, rename) so an interrupted apply never leaves half a file. Never holds a
secret value: secrets are recorded as salted scrypt fingerprints (`secret_fingerprint`), or as
`UNVERIFIED` when import could not read them back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from palsync.atomic import TEMP_SUFFIX, temp_prefix, write_atomic
from palsync.errors import LockError

FORMAT = "palsync.lock/v1"


@dataclass(frozen=True)
class LockEntry:
    pal_id: str | None
    fingerprint: str = ""
    managed: tuple[str, ...] = ()
    secrets: dict[str, str] = field(default_factory=dict)
    protected: bool = False
    #: set before a create is sent, cleared when it is known; lets a re-run after a crash adopt
    #: the PAL the lost response was about instead of creating a second one.
    pending_create: dict[str, Any] | None = None
    #: the pinned `x-palsync.pal_id` this entry's PAL replaced (`--recreate KEY`): while the
    #: manifest still pins that missing PAL, the entry's PAL is used (no create loop)
    replaces: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pal_id": self.pal_id,
            "fingerprint": self.fingerprint,
            "managed": sorted(self.managed),
            "secrets": dict(sorted(self.secrets.items())),
        }
        if self.protected:
            out["protected"] = True
        if self.pending_create is not None:
            out["pending_create"] = self.pending_create
        if self.replaces is not None:
            out["replaces"] = self.replaces
        return out

    @cached_property
    def line(self) -> str:
        """This entry as one line of JSON: a changed PAL is a one-line diff, and an apply that
        rewrites the lock after every operation re-encodes only the entries that changed."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(", ", ": "))


@dataclass(frozen=True)
class Lock:
    entries: dict[str, LockEntry] = field(default_factory=dict)
    salt: str = ""
    #: the file's text when this lock was read and not changed since (its digest is then the
    #: file's, with no need to encode every entry again)
    source_text: str | None = field(default=None, compare=False, repr=False)

    def get(self, key: str) -> LockEntry | None:
        return self.entries.get(key)

    def with_entry(self, key: str, entry: LockEntry) -> Lock:
        return replace(self, entries={**self.entries, key: entry}, source_text=None)

    def without(self, key: str) -> Lock:
        entries = {k: v for k, v in self.entries.items() if k != key}
        return replace(self, entries=entries, source_text=None)

    def claimed_ids(self) -> dict[str, str]:
        """pal_id → key, for every entry that owns a PAL."""
        return {e.pal_id: k for k, e in self.entries.items() if e.pal_id}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "salt": self.salt,
            "pals": {k: self.entries[k].to_json() for k in sorted(self.entries)},
        }

    def text(self) -> str:
        entries = ",\n".join(
            f"    {json.dumps(key, ensure_ascii=False)}: {self.entries[key].line}"
            for key in sorted(self.entries)
        )
        body = f"{{\n{entries}\n  }}" if entries else "{}"
        return (
            f'{{\n  "format": "{FORMAT}",\n  "salt": {json.dumps(self.salt)},\n'
            f'  "pals": {body}\n}}\n'
        )

    def digest(self) -> str:
        text = self.source_text if self.source_text is not None else self.text()
        return hashlib.sha256(text.encode()).hexdigest()


def new_lock(salt: str | None = None) -> Lock:
    """The lock of a directory that has none yet. Its digest is the same on every run (the
    digest of no file), so a plan saved before the first apply is not stale for want of a
    lock; `salt` lets that apply use the salt the plan fingerprinted secrets with."""
    return Lock({}, salt or secrets.token_hex(16), source_text="")


#: scrypt cost (RFC 7914): N=2^14, r=8, p=1 is 16 MiB of memory and about 50 ms of CPU per
#: guess (the scrypt paper's setting for interactive use, and the most the standard library
#: allows without raising its 32 MiB `maxmem`): each guess against a committed lock costs
#: about 100,000 times more than with salted SHA-256, and memory-hardness blunts GPUs.
#: A change of these parameters takes a new prefix.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SECRET_FP_PREFIX = "scrypt:"
#: the lock's record of a secret `pal-sync import` could not read back (the API shows it masked):
#: not a fingerprint (every fingerprint starts with a hash name and `:`, this has no `:`), so it
#: never equals one. The plan does not send such a secret (it may well be right live) and says
#: how many there are; `apply --resend-secrets` sends them and records real fingerprints.
UNVERIFIED = "unverified"


def is_unverified(recorded: str | None) -> bool:
    """Whether a lock's secret record is the import's unverified marker (not a fingerprint)."""
    return recorded == UNVERIFIED


#: (salt, pointer, value) → fingerprint, for this process: a thousand PALs that share one key
#: cost one derivation per run
_fingerprints: dict[tuple[str, str, str], str] = {}


def secret_fingerprint(salt: str, pointer: str, value: str) -> str:
    """`scrypt:<hex>`, a deliberately slow, memory-hard derivation of the secret, salted with
    the lock's random salt and the field's pointer, so the lock (committed to git) does not let
    anyone test guesses of a secret cheaply. Fingerprints of older versions (`sha256:...`)
    never equal it: the secret is then sent once more and recorded in this form."""
    key = (salt, pointer, value)
    found = _fingerprints.get(key)
    if found is None:
        digest = hashlib.scrypt(
            value.encode("utf-8", "surrogatepass"),
            salt=f"palsync\0{salt}\0{pointer}".encode("utf-8", "surrogatepass"),
            n=SCRYPT_N,
            r=SCRYPT_R,
            p=SCRYPT_P,
            dklen=32,
        )
        found = _fingerprints[key] = SECRET_FP_PREFIX + digest.hex()
    return found


def load(path: str | Path) -> Lock:
    """The lock at `path`; a new empty lock when the file does not exist."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return new_lock()
    except (OSError, UnicodeDecodeError) as err:
        raise LockError(f"cannot read lock file {file}: {err}") from None
    fix = (
        f"restore it from git (git checkout -- {file}) or delete it; pal-sync will then "
        "re-adopt live PALs by name"
    )
    try:
        data = json.loads(text)
    except ValueError as err:
        raise LockError(f"lock file {file} is corrupt (not JSON: {err})", hint=fix) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LockError(
            f'{file} is not a pal-sync lock file (expected "format": "{FORMAT}")', hint=fix
        )
    pals = data.get("pals")
    salt = data.get("salt")
    if not isinstance(pals, dict) or not isinstance(salt, str) or not salt:
        raise LockError(f"lock file {file} is corrupt (missing pals or salt)", hint=fix)
    entries = {key: _entry(file, key, raw, fix) for key, raw in pals.items()}
    owners: dict[str, str] = {}
    for key, entry in sorted(entries.items()):
        if entry.pal_id is None:
            continue
        other = owners.setdefault(entry.pal_id, key)
        if other != key:
            # a plausible result of merging two branches: pruning either key would delete a PAL
            # the other one's manifest still manages
            raise LockError(
                f"lock file {file}: keys {other!r} and {key!r} both claim PAL {entry.pal_id}",
                hint=f"edit {file} so that only the key whose manifest manages that PAL keeps "
                "it (delete the other entry; a manifest without an entry is adopted again by "
                "its pal_name), then plan again",
            )
    return Lock(entries, salt, source_text=text)


#: the members of a plain entry (no flags, no intent): `_entry`'s fast path
_PLAIN_ENTRY = frozenset({"pal_id", "fingerprint", "managed", "secrets"})


def _entry(file: Path, key: Any, raw: Any, fix: str) -> LockEntry:
    """One entry of the file, its types checked: a hand edit or a bad merge is a clear error
    naming the key, never a crash later on."""
    if type(raw) is dict and type(key) is str and key and raw.keys() <= _PLAIN_ENTRY:
        # the common entry, checked in one expression (a 1,000-PAL lock is read on every plan)
        pal_id = raw.get("pal_id")
        fingerprint = raw.get("fingerprint", "")
        managed = raw.get("managed", [])
        secrets_ = raw.get("secrets", {})
        if (
            type(pal_id) is str
            and pal_id
            and type(fingerprint) is str
            and type(managed) is list
            and type(secrets_) is dict
            and all(type(p) is str for p in managed)
            and all(type(v) is str for v in secrets_.values())
        ):
            return LockEntry(pal_id, fingerprint, tuple(managed), secrets_)
    return _checked_entry(file, key, raw, fix)


def _checked_entry(file: Path, key: Any, raw: Any, fix: str) -> LockEntry:
    """`_entry` for every other entry, one check at a time, each with its own message."""

    def bad(what: str) -> LockError:
        return LockError(f"lock file {file} is corrupt (entry {key!r}: {what})", hint=fix)

    if not isinstance(key, str) or not key:
        raise bad("the key must be a non-empty string")
    if not isinstance(raw, dict):
        raise bad(f"must be an object, not {_kind(raw)}")
    pal_id = raw.get("pal_id")
    if pal_id is not None and (not isinstance(pal_id, str) or not pal_id):
        raise bad(f'"pal_id" must be a string or null, not {_kind(pal_id)}')
    fingerprint = raw.get("fingerprint", "")
    if not isinstance(fingerprint, str):
        raise bad(f'"fingerprint" must be a string, not {_kind(fingerprint)}')
    managed = raw.get("managed", [])
    if not isinstance(managed, list) or not all(isinstance(p, str) for p in managed):
        raise bad(f'"managed" must be a list of JSON Pointer strings, not {_kind(managed)}')
    secrets_ = raw.get("secrets", {})
    if not isinstance(secrets_, dict) or not all(isinstance(v, str) for v in secrets_.values()):
        raise bad(f'"secrets" must be an object of fingerprint strings, not {_kind(secrets_)}')
    protected = raw.get("protected", False)
    if not isinstance(protected, bool):
        raise bad(f'"protected" must be true or false, not {_kind(protected)}')
    pending = raw.get("pending_create")
    if pending is not None and not isinstance(pending, dict):
        raise bad(f'"pending_create" must be an object or absent, not {_kind(pending)}')
    replaces = raw.get("replaces")
    if replaces is not None and (not isinstance(replaces, str) or not replaces):
        raise bad(f'"replaces" must be a PAL id string, not {_kind(replaces)}')
    return LockEntry(
        pal_id=pal_id,
        fingerprint=fingerprint,
        managed=tuple(managed),
        secrets=dict(secrets_),
        protected=protected,
        pending_create=pending,
        replaces=replaces,
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else "a value"


#: lock files whose leftover temporary files this process has already removed
_swept: set[str] = set()


def clean_temp_files(path: str | Path) -> list[Path]:
    """Remove the temporary files a writer of this lock left when it was killed mid-write
    (`.palsync.lock.XXXX.tmp`, which `git add pals/` would otherwise commit). Only for a
    caller that holds the apply guard of this lock (apply, import, `save`): nobody else can be
    writing one of them then. Returns what was removed. A symlinked lock's temporary files are
    beside the file it links to (the atomic writer writes through the link)."""
    file = Path(os.path.realpath(path))
    prefix = temp_prefix(file.name)
    removed = []
    try:
        with os.scandir(file.parent) as entries:
            names = [e.name for e in entries if e.name.startswith(prefix) and e.is_file()]
    except OSError:
        return []
    for name in names:
        if name.endswith(TEMP_SUFFIX) and len(name) > len(prefix) + len(TEMP_SUFFIX):
            with contextlib.suppress(OSError):
                os.unlink(file.parent / name)
                removed.append(file.parent / name)
    _swept.add(os.path.realpath(file))
    return removed


def save(lock: Lock, path: str | Path) -> None:
    """Write atomically: a reader (or a crash) sees the old file or the new one, never half.
    The first save of a run also removes temporary files a killed writer left behind."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    if os.path.realpath(file) not in _swept:
        clean_temp_files(file)
    write_atomic(file, lock.text(), mode=0o600)  # 0o600: as the lock has always been written
