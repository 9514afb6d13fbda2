"""palsync.lock: round trip, one line per PAL, atomic writes, clear errors, no secret values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from palsync import lock as lockfile
from palsync.errors import LockError
from palsync.lock import LockEntry, secret_fingerprint


def sample() -> lockfile.Lock:
    lock = lockfile.new_lock()
    secret = secret_fingerprint(lock.salt, "/layers/llm/api_key", "sk-value")
    return lock.with_entry(
        "b", LockEntry("p0000000000b", "sha256:1", ("/z", "/a"), {"/layers/llm/api_key": secret})
    ).with_entry("a", LockEntry(None, pending_create={"fingerprint": "sha256:2", "pal_name": "A"}))


def test_round_trip_and_stable_text(tmp_path: Path) -> None:
    path = tmp_path / "palsync.lock"
    original = sample()
    lockfile.save(original, path)
    loaded = lockfile.load(path)
    assert loaded.to_json() == original.to_json()
    assert loaded.text() == path.read_text()
    assert json.loads(path.read_text())["pals"]["b"]["managed"] == ["/a", "/z"]
    assert [line.strip()[:4] for line in path.read_text().splitlines()[4:6]] == ['"a":', '"b":']
    assert list(tmp_path.iterdir()) == [path], "no temporary file left behind"
    assert loaded.digest() == original.digest(), "a loaded lock hashes as the one written"
    changed = loaded.with_entry("c", LockEntry("p0000000000c"))
    assert changed.digest() != loaded.digest()
    assert changed.without("c").digest() == original.digest()


def test_secret_values_never_stored(tmp_path: Path) -> None:
    path = tmp_path / "palsync.lock"
    lockfile.save(sample(), path)
    assert "sk-value" not in path.read_text()
    other_salt = secret_fingerprint("another-salt", "/layers/llm/api_key", "sk-value")
    assert other_salt not in path.read_text(), "fingerprints are salted per lock"


def test_missing_file_is_an_empty_lock(tmp_path: Path) -> None:
    lock = lockfile.load(tmp_path / "absent.lock")
    assert lock.entries == {} and len(lock.salt) == 32


@pytest.mark.parametrize(
    "text", ["{not json", "[]", '{"format": "other"}', '{"format": "palsync.lock/v1", "pals": {}}']
)
def test_corrupt_or_foreign_lock_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "palsync.lock"
    path.write_text(text)
    with pytest.raises(LockError) as info:
        lockfile.load(path)
    assert str(path) in info.value.message
    assert "git checkout" in info.value.hint


def test_two_keys_claiming_one_pal_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "palsync.lock"
    lockfile.save(
        lockfile.new_lock()
        .with_entry("a", LockEntry("p0000000000a"))
        .with_entry("b", LockEntry("p0000000000a")),
        path,
    )
    with pytest.raises(LockError) as info:
        lockfile.load(path)
    assert "'a' and 'b' both claim PAL p0000000000a" in info.value.message
    assert str(path) in info.value.message and "delete the other entry" in info.value.hint


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"pal_id": "p1", "managed": 5}, '"managed" must be a list'),
        ({"pal_id": "p1", "secrets": []}, '"secrets" must be an object'),
        ({"pal_id": 7}, '"pal_id" must be a string or null, not a number (7)'),
        ("p1", "must be an object, not a string"),
        ({"pal_id": "p1", "fingerprint": None}, '"fingerprint" must be a string'),
    ],
)
def test_malformed_entry_types_name_the_file_and_the_key(
    tmp_path: Path, entry: object, words: str
) -> None:
    path = tmp_path / "palsync.lock"
    doc = {"format": "palsync.lock/v1", "salt": "s", "pals": {"k": entry}}
    path.write_text(json.dumps(doc))
    with pytest.raises(LockError) as info:
        lockfile.load(path)
    assert str(path) in info.value.message and "entry 'k'" in info.value.message
    assert words in info.value.message


def test_leftover_temp_files_are_removed_by_the_first_save(tmp_path: Path) -> None:
    path = tmp_path / "palsync.lock"
    leftover = tmp_path / ".palsync.lock.abc123.tmp"
    leftover.write_text("half")
    unrelated = [tmp_path / ".other.lock.x.tmp", tmp_path / ".palsync.lock.tmp"]
    for file in unrelated:
        file.write_text("keep")
    lockfile.save(sample(), path)
    assert not leftover.exists()
    assert all(file.exists() for file in unrelated)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name, *(f.name for f in unrelated)]
    )
