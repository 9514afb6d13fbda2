"""write_atomic: the one way pal-sync replaces its own files (lock, manifest cache, emulator
state): all or nothing, no temporary file left behind, permissions as asked."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from palsync import atomic
from palsync.atomic import write_atomic


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_text_and_bytes_replace_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    write_atomic(path, "première\n")
    assert path.read_bytes() == "première\n".encode()
    write_atomic(str(path), b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(tmp_path) == ["f.json"]


def test_permissions_as_a_plain_write_or_exactly_as_asked(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        new = tmp_path / "new"
        write_atomic(new, "x")
        assert mode_of(new) == 0o644, "0o666 less the umask, as open() gives"
        new.chmod(0o640)
        write_atomic(new, "y")
        assert mode_of(new) == 0o640, "a replaced file keeps its mode"
        private = tmp_path / "private"
        write_atomic(private, "z", mode=0o600)
        assert mode_of(private) == 0o600
        write_atomic(new, "w", mode=0o664)  # beyond what the umask lets open() give
        assert mode_of(new) == 0o664
    finally:
        os.umask(umask)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "palsync.lock"
    path.write_text("old")

    def refuse(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["palsync.lock"]


def test_durable_writes_sync_the_file_and_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    write_atomic(tmp_path / "lock", "x")
    assert len(synced) == 2
    write_atomic(tmp_path / "cache", "x", durable=False)
    assert len(synced) == 2


def test_temporary_files_are_named_for_their_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.<name>.<random>.tmp` beside the target: what `lock.clean_temp_files` sweeps."""
    seen: list[str] = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: seen.append(os.path.basename(a)) or real(a, b))
    write_atomic(tmp_path / "palsync.lock", "x")
    (name,) = seen
    assert name.startswith(atomic.temp_prefix("palsync.lock")) and name.endswith(".tmp")
