"""The cache of validated manifests: a hit skips YAML and validation, and nothing else changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from palsync import cache as cachemod
from palsync import yamldoc
from tests.workflow import FACE, Workspace, pal_body


def cache_file(ws: Workspace) -> Path:
    return ws.root / "cache" / cachemod.file_name(str(ws.pals))


def no_parsing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    original = yamldoc.parse_bytes

    def spy(path: str, data: bytes) -> Any:
        parsed.append(path)
        return original(path, data)

    monkeypatch.setattr(yamldoc, "parse_bytes", spy)
    return parsed


def test_second_plan_parses_nothing_and_plans_the_same(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.copy_examples()
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("new", pal_body(1))
    first = ws.run("plan", "--format", "json")
    assert first.code == 0, first.err
    assert [c["action"] for c in json.loads(first.out)["changes"]].count("create") == 1
    assert cache_file(ws).is_file()
    parsed = no_parsing(monkeypatch)
    second = ws.run("plan", "--format", "json")
    assert second.code == 0, second.err
    assert parsed == [], "every file came from the cache"
    assert json.loads(second.out) == json.loads(first.out)


def test_invalid_and_changed_files_are_checked_every_time(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write("good", pal_body(1))
    bad = ws.write("bad", {"pal_name": "x", "system_promt": "typo", "default_face_id": FACE})
    assert ws.run("plan").code == 1
    parsed = no_parsing(monkeypatch)
    again = ws.run("plan")
    assert again.code == 1 and "did you mean `system_prompt`" in again.err
    assert parsed == [str(Path("pals") / "bad.yaml")], "the valid file came from the cache"
    bad.unlink()
    good = ws.pals / "good.yaml"
    good.write_text(good.read_text().replace("default_face_id", "default_face"), "utf-8")
    changed = ws.run("plan")
    assert changed.code == 1 and "default_face" in changed.err, "new bytes, new check"


def test_corrupt_foreign_or_disabled_cache_is_ignored(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write("a", pal_body(1))
    path = cache_file(ws)
    path.parent.mkdir(parents=True)
    for text in ("{not json", json.dumps({"format": "other"}), "[]"):
        path.write_text(text, "utf-8")
        result = ws.run("plan")
        assert result.code == 0, result.err
        assert json.loads(path.read_text())["format"] == cachemod.FORMAT, "replaced"
    doc = json.loads(path.read_text())
    doc["validator"] = "another version"
    doc["entries"] = {digest: {"pal_name": "forged"} for digest in doc["entries"]}
    path.write_text(json.dumps(doc), "utf-8")
    result = ws.run("plan", "--format", "json")
    assert json.loads(result.out)["changes"][0]["pal_name"] == "PAL 001", "entries not trusted"
    monkeypatch.setenv("PALSYNC_NO_CACHE", "1")
    path.unlink()
    assert ws.run("plan").code == 0
    assert not path.exists()


def test_cache_holds_references_never_resolved_secrets(ws: Workspace) -> None:
    ws.copy_examples()
    assert ws.run("apply", "--auto-approve").code == 0
    text = cache_file(ws).read_text()
    assert "${ACME_LLM_API_KEY}" in text
    assert ws.env["ACME_LLM_API_KEY"] not in text


def test_cache_keeps_only_what_the_last_run_used(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    store = cachemod.ManifestCache(path)
    for i in range(3):
        store.put(f"d{i}", {"i": i})
    store.save()
    reread = cachemod.ManifestCache(path)
    assert len(reread) == 3
    assert reread.get("d2") == {"i": 2}
    reread.put("d9", {"i": 9})
    reread.save()
    last = cachemod.ManifestCache(path)
    assert len(last) == 2 and last.get("d0") is None and last.get("d9") == {"i": 9}
    mtime = path.stat().st_mtime_ns
    assert last.get("d2") and last.get("d9")
    last.save()
    assert path.stat().st_mtime_ns == mtime, "nothing changed, nothing written"


def test_each_manifest_directory_has_its_own_cache(tmp_path: Path) -> None:
    assert cachemod.file_name(str(tmp_path / "a")) != cachemod.file_name(str(tmp_path / "b"))
    assert cachemod.file_name(str(tmp_path / "a")) == cachemod.file_name(f"{tmp_path}/x/../a")


def test_messages_about_cached_files_still_name_the_line(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.copy_examples()
    assert ws.run("plan").code == 0
    ws.emulator.log.clear()
    parsed = no_parsing(monkeypatch)
    monkeypatch.delenv("ACME_LLM_API_KEY")
    result = ws.run("plan")
    assert result.code == 1
    assert "pals/byo-llm.yaml:13:14: error: layers.llm.api_key: environment variable" in result.err
    assert parsed == [], "the document came from the cache; only the position was looked up"
    assert ws.emulator.request_counts() == {}


def test_a_value_json_cannot_hold_or_an_unknown_validator_only_costs_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.json"
    store = cachemod.ManifestCache(path)
    store.put("big", {"n": 10**5000})  # more digits than Python will turn into text
    store.save()
    assert list(tmp_path.iterdir()) == [], "nothing written, no temporary file left"
    monkeypatch.setattr(cachemod, "_VALIDATING_MODULES", ("no_such_module",))
    assert cachemod.validator_id() is None
    blind = cachemod.ManifestCache(path)
    blind.put("d", {"a": 1})
    blind.save()
    assert blind.path is None and not path.exists()


def test_the_cache_file_is_private(ws: Workspace) -> None:
    """Entries are trusted as written (docs/decisions.md): the file is created 0600."""
    ws.write("a", pal_body(1))
    assert ws.run("plan").code == 0
    assert cache_file(ws).stat().st_mode & 0o777 == 0o600
