"""Where a run works: the manifest directory, its lock file, the account (a Tavus client, or
an emulator started in this process) and the guard that keeps two writers of one lock apart."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palsync.client import Client
from palsync.errors import LockError

EMULATOR_STATE = Path(".palsync") / "emulator.json"

#: a line for the user (the CLI writes it to stderr)
Notice = Callable[[str], None]


def ignore(*_said: Any) -> None:
    """The callback that hears nothing: the default of every pipeline callback."""


@dataclass(frozen=True)
class Where:
    """The options every command that reaches an account shares."""

    directory: str = "pals"
    lock_path: str | None = None
    emulator: bool = False
    api_key_file: str | None = None
    verbose: bool = False

    @property
    def lock_file(self) -> Path:
        return lock_file(self.directory, self.lock_path, self.emulator)


def lock_file(directory: str, lock_path: str | None, emulator: bool = False) -> Path:
    """--lock, else <dir>/palsync.lock; against the emulator the lock describes the emulated
    account, so it lives beside the emulator's state instead of beside the manifests."""
    if lock_path:
        return Path(lock_path)
    if emulator:
        return EMULATOR_STATE.with_name("emulator.lock")
    return Path(directory) / "palsync.lock"


def guard_file(lock: Path) -> Path:
    """Where apply and import take their cross-process lock for this lock file: in the user's
    cache directory, keyed by the lock's real path, so no stray file appears beside the
    manifests (the lock file itself cannot be flock'ed: it is replaced on every write). Beside
    the lock when the cache directory cannot be made."""
    from palsync.cache import cache_root

    where = os.path.realpath(lock)
    name = hashlib.sha256(where.encode()).hexdigest()[:24] + ".lck"
    try:
        folder = cache_root() / "locks"
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(str(lock) + ".lck")
    return folder / name


@contextlib.contextmanager
def exclusive(lock: Path, directory: str) -> Iterator[None]:
    """Hold the one-writer guard of this lock file (apply, import), or fail at once."""
    from filelock import FileLock, Timeout

    guard = FileLock(str(guard_file(lock)))
    try:
        guard.acquire(timeout=0)
    except Timeout:
        raise LockError(
            f"another pal-sync apply or import is running on {directory}/ (lock {lock})",
            hint=f"wait for it to finish; if none is running, delete {guard.lock_file}",
        ) from None
    try:
        yield
    finally:
        guard.release()


@contextlib.contextmanager
def open_client(
    where: Where, *, notice: Notice = ignore, concurrency: int = 16
) -> Iterator[Client]:
    """A TavusClient for the run; with `where.emulator`, one started in this process first.
    `notice` hears retries and rate limiting (and, with `where.verbose`, every request)."""
    from palsync.api import client_from_env

    log = notice if where.verbose else None
    if not where.emulator:
        from palsync import redact

        if where.api_key_file:  # TAVUS_API_KEY is registered by the entry point already
            with contextlib.suppress(OSError, UnicodeDecodeError):
                redact.register(Path(where.api_key_file).read_text(encoding="utf-8"))
        with client_from_env(
            api_key_file=where.api_key_file, log=log, notice=notice, concurrency=concurrency
        ) as client:
            yield client
        return
    from palsync.api import TavusClient
    from palsync.emulator import Emulator

    key = secrets.token_hex(16)
    with (
        Emulator(state_file=EMULATOR_STATE, api_key=key) as emu,
        TavusClient(emu.url, key, log=log, notice=notice, concurrency=concurrency) as client,
    ):
        yield client


def account_binding(client: Client, emulator: bool) -> dict[str, str]:
    """What a plan file is bound to: the API URL (without any user:password@ part) and a
    fingerprint of the account's API key (a one-way, truncated digest: it tells two keys apart
    and says nothing about either). The embedded emulator's key changes every run, so its
    account is named by the state file instead."""
    if emulator:
        where = os.path.realpath(EMULATOR_STATE)
        return {
            "api_url": "embedded emulator",
            "fingerprint": "emulator:" + hashlib.sha256(where.encode()).hexdigest()[:16],
        }
    return {"api_url": client.base_url, "fingerprint": client.account}
