"""Positions in messages (file:line:col) come from the bytes that were read and validated, never
from reading the manifest again: a file edited (or removed) in between cannot move a message."""

from __future__ import annotations

import os
from pathlib import Path

from palsync.manifest import load_paths
from palsync.validation import check
from tests.workflow import FACE

VALIDATED = f"pal_name: A\ndefault_face_id: {FACE}\nsystem_prompt: hi\ncontext: 5\n"
#: what the file says by the time positions are asked for: `context` four lines lower
EDITED = "# edited after the run read it\n\n\n\n" + VALIDATED


def problems_after_edit(folder: Path, name: str, text: str, edited: str) -> dict[str, int]:
    """Load the file, rewrite it on disk, then check: message code -> line reported."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    manifests, found = load_paths([str(folder)])
    assert found == [] and len(manifests) == 1
    path.write_text(edited, encoding="utf-8")
    return {p.code: p.location.line for p in check(manifests, env={})}


def test_schema_and_semantic_messages_point_into_the_validated_bytes(tmp_path: Path) -> None:
    text = VALIDATED + "layers:\n  llm:\n    api_key: sk-literal\n"
    lines = problems_after_edit(tmp_path, "a.yaml", text, "# edited\n\n\n" + text)
    # `context: 5` is a schema error (not a string), the literal key a semantic one
    assert lines == {"type": 4, "literal-secret": 7}


def test_open_world_messages_point_into_the_validated_bytes(tmp_path: Path) -> None:
    lines = problems_after_edit(tmp_path, "a.yaml", VALIDATED + "contxt: x\n", EDITED)
    assert lines["unknown-key"] == 5
    assert lines["type"] == 4


def test_a_removed_file_still_gets_its_positions(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(VALIDATED, encoding="utf-8")
    (manifest,), _ = load_paths([str(tmp_path)])
    os.unlink(path)
    assert manifest.locate("/context").line == 4


def test_md_manifest_positions_come_from_the_validated_bytes(tmp_path: Path) -> None:
    front = f"---\npal_name: A\ndefault_face_id: {FACE}\ncontext: 5\n---\n\nThe prompt.\n"
    edited = "---\n\n\n\n" + front.removeprefix("---\n")
    lines = problems_after_edit(tmp_path, "a.md", front, edited)
    assert lines == {"type": 4}
    (manifest,), _ = load_paths([str(tmp_path)])  # the edited file, read again: its own lines
    assert manifest.locate("/context").line == 7
    assert manifest.locate("/system_prompt").line == 10
