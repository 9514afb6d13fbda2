"""Shared fixtures: a real emulator on a free loopback port, and its API key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from palsync.emulator import Emulator
from tests.workflow import Workspace

API_KEY = "test-key-0123456789abcdef"


@pytest.fixture(autouse=True, scope="session")
def _private_manifest_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Never touch the user's ~/.cache; child processes inherit the variable."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PALSYNC_CACHE_DIR", str(tmp_path_factory.mktemp("manifest-cache")))
        # how long apply keeps looking for a create that may still be committing before it
        # creates again (30 s by default): short, so tests of lost creates stay fast
        patch.setenv("PALSYNC_CREATE_GRACE", "0.5")
        yield


@pytest.fixture(autouse=True)
def _forget_secret_values() -> Iterator[None]:
    """The registry of secret values to redact is process-wide (palsync.redact): each test
    starts with an empty one, as each pal-sync process does."""
    from palsync import redact

    redact.reset()
    yield
    redact.reset()


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(api_key=API_KEY)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def emulator_url(emulator: Emulator) -> str:
    return emulator.url


@pytest.fixture
def ws(
    tmp_path: Path,
    emulator: Emulator,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Workspace]:
    """A temporary project wired to a fresh emulator (see tests/workflow.py)."""
    yield Workspace(tmp_path, emulator, api_key, monkeypatch, capsys)
