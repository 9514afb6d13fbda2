"""The schema file: valid 2020-12, documented everywhere, and its generated artefacts current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema

from palsync.schema import load_schema

ROOT = Path(__file__).resolve().parent.parent


def properties(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, sub in schema.get("properties", {}).items():
        out.append((f"{path}.{name}".lstrip("."), sub))
        out += properties(sub, f"{path}.{name}")
    return out


def test_schema_is_valid_2020_12() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_property_has_a_description() -> None:
    missing = [name for name, sub in properties(load_schema()) if not sub.get("description")]
    assert missing == []


def test_every_layer_of_the_api_is_described() -> None:
    layers = load_schema()["properties"]["layers"]["properties"]
    assert {
        "perception",
        "stt",
        "conversational_flow",
        "llm",
        "tts",
        "conferencing",
        "transport",
    } <= set(layers)


def test_committed_schema_matches_its_builder() -> None:
    """Compared, never written: a test must not rewrite a file of the working tree."""
    target = ROOT / "schemas" / "pal.schema.json"
    before = target.read_bytes(), target.stat().st_mtime_ns
    proc = subprocess.run(
        [sys.executable, "scripts/build_schema.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert (target.read_bytes(), target.stat().st_mtime_ns) == before, "the check wrote the file"
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_fails_on_a_hand_edit_and_names_the_command(tmp_path: Path) -> None:
    """The check can fail: a copy of the repository's builder, run against an edited schema."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "schemas").mkdir()
    script = tmp_path / "scripts" / "build_schema.py"
    script.write_text((ROOT / "scripts" / "build_schema.py").read_text())
    edited = json.loads((ROOT / "schemas" / "pal.schema.json").read_text())
    edited["description"] = "edited by hand"
    target = tmp_path / "schemas" / "pal.schema.json"
    target.write_text(json.dumps(edited, indent=2) + "\n")
    before = target.read_bytes()
    proc = subprocess.run(
        [sys.executable, str(script), "--check"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "python scripts/build_schema.py" in proc.stdout
    assert target.read_bytes() == before  # the hand edit is still there


def test_generated_fast_validator_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/gen_fast_validator.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_fast_validator_agrees_with_jsonschema_on_the_corpus() -> None:
    import yaml

    from palsync.schema import is_valid

    validator = jsonschema.Draft202012Validator(load_schema())
    checked = 0
    for file in sorted((ROOT / "tests" / "corpus").glob("*/*.yaml")) + sorted(
        (ROOT / "pals").glob("*.yaml")
    ):
        try:
            doc = yaml.safe_load(file.read_bytes())
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict):
            assert is_valid(doc) == validator.is_valid(doc), file.name
            checked += 1
    assert checked > 20
