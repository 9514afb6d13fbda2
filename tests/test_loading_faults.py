"""Writing files and reading manifests at their edges: a symlinked lock written through, no
descriptor or temporary file left behind, legacy names located and checked like current ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from palsync import lock as lockfile
from palsync.atomic import write_atomic
from palsync.validation import validate_paths

FACE = "r90bbd427f71"


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_a_symlinked_lock_is_written_through_not_replaced(tmp_path: Path) -> None:
    """`palsync.lock -> envs/prod.lock`: saving must update prod.lock and keep the link.
    os.replace(tmp, link) replaces the link: prod.lock goes stale, and session.guard_file
    (keyed by realpath) now names a different guard than a run that started before."""
    (tmp_path / "envs").mkdir()
    real = tmp_path / "envs" / "prod.lock"
    real.write_text("{}\n")
    link = tmp_path / "palsync.lock"
    link.symlink_to(Path("envs") / "prod.lock")
    write_atomic(link, "new\n", mode=0o600)
    assert link.is_symlink(), "the symlink was replaced by a regular file"
    assert real.read_text() == "new\n"


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_lock_save_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "envs").mkdir()
    real = tmp_path / "envs" / "prod.lock"
    link = tmp_path / "palsync.lock"
    link.symlink_to(Path("envs") / "prod.lock")
    lockfile.save(lockfile.Lock(), link)
    assert link.is_symlink() and real.exists()


def test_keyboard_interrupt_mid_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(passes: documented for the record)"""
    path = tmp_path / "palsync.lock"
    path.write_text("old")

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["palsync.lock"]


def test_fdopen_failure_does_not_leak_the_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[int] = []
    real_close = os.close
    monkeypatch.setattr(os, "close", lambda fd: closed.append(fd) or real_close(fd))

    def broken(fd: int, *a: object, **k: object) -> None:
        raise MemoryError

    monkeypatch.setattr(os, "fdopen", broken)
    with pytest.raises(MemoryError):
        write_atomic(tmp_path / "f", "x", durable=False)
    assert closed, "the temporary file's descriptor was never closed"
    assert os.listdir(tmp_path) == []


def test_messages_about_pal_name_point_at_pal_name_when_persona_name_is_also_set(
    tmp_path: Path,
) -> None:
    """Pre-existing (not from this merge): with both spellings, normalise() still records the
    alias /pal_name -> /persona_name, and m.locate maps every /pal_name message (the hidden
    character warning, a duplicate name) to persona_name's line."""
    (tmp_path / "a.yaml").write_text(
        f'pal_name: "x\\u202ey"\npersona_name: B\ndefault_face_id: {FACE}\nsystem_prompt: hi\n'
    )
    _, problems = validate_paths([str(tmp_path)], env={})
    hidden = [p for p in problems if p.code == "hidden-characters"]
    assert [p.location.line for p in hidden] == [1]


def test_a_zero_width_character_in_a_legacy_persona_name_is_flagged(tmp_path: Path) -> None:
    """Pre-existing: the name checks read raw['pal_name'] only; `persona_name` (a legacy name
    that becomes pal_name) escapes the zero-width and NFC checks."""
    (tmp_path / "a.yaml").write_text(
        f'persona_name: "Sup\\u200bport"\ndefault_face_id: {FACE}\nsystem_prompt: hi\n'
    )
    _, problems = validate_paths([str(tmp_path)], env={})
    assert any(p.code == "hidden-characters" for p in problems)


def test_a_symlinked_locks_leftover_temporary_files_are_swept_beside_its_target(
    tmp_path: Path,
) -> None:
    real = tmp_path / "envs" / "prod.lock"
    real.parent.mkdir()
    lockfile.save(lockfile.new_lock(), real)
    link = tmp_path / "palsync.lock"
    link.symlink_to(real)
    leftover = real.parent / ".prod.lock.deadbeef.tmp"
    leftover.write_text("{")
    assert lockfile.clean_temp_files(link) == [leftover]
    assert not leftover.exists() and link.is_symlink()
