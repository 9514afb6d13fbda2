"""The schema file: valid 2020-12, documented everywhere, and its generated artefacts current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

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
    parts = ROOT / "scripts" / "schema_parts.py"
    (tmp_path / "scripts" / "schema_parts.py").write_text(parts.read_text())
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


def schema_at(pointer: str) -> dict[str, Any]:
    node = load_schema()
    for token in pointer.strip("/").split("/"):
        node = node["properties"][token]
    return node


#: tavus-api.md 11a: pointer -> what its schema must say
SECTION_11A: dict[str, dict[str, Any]] = {
    "/tool_ids": {"type": "array", "maxItems": 50},
    "/memories": {"type": "array"},
    "/guardrail_tags": {"type": "array", "maxItems": 50},
    "/verbal_disclosure": {},
    "/visual_disclosure": {},
    "/persona_description": {},
    "/disclosure_type": {},
    "/languages": {},
    "/layers/llm/default_query": {"type": "object"},
    "/layers/llm/disable_vision": {"type": "boolean"},
    "/layers/llm/enable_llm_proxy": {"type": "boolean"},
    "/layers/llm/model_name": {"type": "string"},
    "/layers/llm/is_custom": {"type": "boolean"},
    "/layers/llm/endpoint": {"type": "string"},
    "/layers/llm/extra_body": {"type": "object"},
    "/layers/tts/tts_model_name": {},
    "/layers/tts/pronunciation_dictionary_id": {"type": "string"},
    "/layers/tts/playht_user_id": {"type": "string"},
    "/layers/tts/tts_emotion_control": {},
    "/layers/tts/voice_settings": {"type": "object", "x-unknown-keys": "accept"},
    "/layers/tts/voice_id": {},
    "/layers/stt/hotwords": {"type": "string"},
    "/layers/stt/smart_turn_detection": {"type": "boolean"},
    "/layers/perception/tool_prompt": {"type": "string"},
    "/layers/perception/perception_tool_prompt": {"type": "string"},
    "/layers/perception/ambient_awareness_queries": {"type": "array"},
    "/layers/conversational_flow/face_interruptibility": {"enum": ["low", "medium", "high"]},
    "/layers/conversational_flow/pal_interruptibility": {"enum": ["low", "medium", "high"]},
    "/layers/conversational_flow/replica_interruptibility": {"enum": ["low", "medium", "high"]},
    "/layers/conversational_flow/wake_phrase": {"type": "string"},
    "/layers/conversational_flow/sleep_phrase": {"type": "string"},
    "/layers/conversational_flow/noise_cancellation": {},
    "/layers/conversational_flow/voice_isolation": {},
    "/layers/conversational_flow/idle_engagement": {},
    "/layers/conferencing/whitelabel": {"type": "boolean"},
    "/layers/capabilities/mcp_enabled": {"type": "boolean"},
    "/layers/capabilities/search_enabled": {"type": "boolean"},
    "/layers/capabilities/activity_log_enabled": {"type": "boolean"},
    "/layers/capabilities/search_results_prompt_injection_prevention_enabled": {"type": "boolean"},
    "/layers/knowledge_base/rag_score_threshold": {"type": "number"},
    "/layers/knowledge_base/rag_n_chunks": {"type": "integer"},
    "/layers/knowledge_base/rag_surrounding_chunk_radius": {"type": "integer"},
    "/layers/knowledge_base/enable_rag_observability_app_messages": {"type": "boolean"},
    "/layers/knowledge_base/use_procedure_goalchain": {"type": "boolean"},
    "/layers/sts": {"type": "object", "x-unknown-keys": "accept"},
    "/layers/transport": {"type": "object", "x-unknown-keys": "accept"},
}


def test_every_field_of_section_11a_is_in_the_schema() -> None:
    for pointer, expected in SECTION_11A.items():
        node = schema_at(pointer)
        assert node.get("description"), pointer
        for keyword, value in expected.items():
            assert node.get(keyword) == value, (pointer, keyword, node.get(keyword))
    assert "speech-to-speech" in schema_at("/pipeline_mode")["enum"]
    assert schema_at("/tool_ids")["items"]["minLength"] == 1
    assert schema_at("/memories")["items"]["type"] == "string"
    # fields in no Tavus source, opaque ones: no constraint was invented
    for pointer in ("/languages", "/layers/tts/voice_id", "/verbal_disclosure"):
        assert set(schema_at(pointer)) == {"description"}, pointer


def test_read_only_fields_are_refused_by_name() -> None:
    from palsync.fields import READ_ONLY_TOP_LEVEL

    schema = load_schema()
    assert set(schema["propertyNames"]["not"]["enum"]) == READ_ONLY_TOP_LEVEL
    assert not READ_ONLY_TOP_LEVEL & set(schema["properties"])


def test_every_mapping_of_the_api_is_open_world_and_says_so() -> None:
    """The editor schema never rejects a key `validate` only warns about (DESIGN 2)."""
    mappings = [(name, sub) for name, sub in properties(load_schema()) if "properties" in sub]
    mappings.append(("tool", load_schema()["$defs"]["tool"]))
    for name, sub in mappings:
        if name == "x-palsync":  # pal-sync's own settings: closed
            assert sub["additionalProperties"] is False
            continue
        assert "additionalProperties" not in sub, name
        assert sub["x-unknown-keys"] in ("warn", "accept"), name
        if sub["x-unknown-keys"] == "warn":
            assert "did you mean" in sub["description"], name
    assert "additionalProperties" not in load_schema()


def test_what_the_schema_rejects_validate_reports_as_an_error() -> None:
    """Editor and CLI agree: a document the schema refuses is never valid for `validate`
    (the converse does not hold for typos of known keys and for two interruptibility spellings
    with different values, which are `validate`'s alone; the cross-field rules are tested
    both ways below)."""
    import yaml

    from palsync.validation import validate_paths

    validator = jsonschema.Draft202012Validator(load_schema())
    checked = 0
    for file in sorted((ROOT / "tests" / "corpus").glob("*/*.yaml")):
        try:
            doc = yaml.safe_load(file.read_bytes())
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if not isinstance(doc, dict):
            continue
        _, problems = validate_paths([str(file)], env={})
        errors = [p for p in problems if p.is_error]
        if not validator.is_valid(doc):
            assert errors, file.name
        warned = [p for p in problems if p.code in ("unknown-key", "unverified-field")]
        if warned and not errors:
            assert validator.is_valid(doc), file.name  # warnings only: the schema agrees
        checked += 1
    assert checked > 25


#: documents that break one cross-field rule of `validate` (review: the editor showed them clean)
FACE = {"default_face_id": "r90bbd427f71"}
CROSS_FIELD = {
    "no face": {"pal_name": "A", "system_prompt": "x"},
    "full without a prompt": {"pal_name": "A", **FACE},
    "full with an empty prompt": {"pal_name": "A", "system_prompt": "", **FACE},
    "echo with a prompt": {"pipeline_mode": "echo", "system_prompt": "x", **FACE},
    "speech-to-speech with context": {"pipeline_mode": "speech-to-speech", "context": "x", **FACE},
    "echo with conferencing": {
        "pipeline_mode": "echo",
        "layers": {"conferencing": {"username": "bot-a"}},
        **FACE,
    },
    "both names": {"pal_name": "A", "persona_name": "A", "system_prompt": "x", **FACE},
    "both faces": {"system_prompt": "x", "default_replica_id": "r90bbd427f71", **FACE},
    "a template": {"system_prompt": "x", "is_template": True, **FACE},
}
FINE = {
    "legacy face": {"system_prompt": "x", "default_replica_id": "r90bbd427f71"},
    "echo": {"pipeline_mode": "echo", **FACE},
    "not a template": {"system_prompt": "x", "is_template": False, **FACE},
}


@pytest.mark.parametrize("case", sorted(CROSS_FIELD) + sorted(FINE))
def test_the_schema_and_validate_agree_on_cross_field_rules(case: str, tmp_path: Path) -> None:
    import yaml

    from palsync.schema import is_valid
    from palsync.validation import validate_paths

    doc = CROSS_FIELD.get(case) or FINE[case]
    file = tmp_path / "a.yaml"
    file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    _, problems = validate_paths([str(file)], env={})
    errors = [p for p in problems if p.is_error]
    schema_ok = jsonschema.Draft202012Validator(load_schema()).is_valid(doc)
    assert is_valid(doc) == schema_ok, "the generated validator agrees with jsonschema"
    assert schema_ok == (not errors), (case, [p.message for p in errors])
    # validate reports the rule once, in its own words (not again as a schema error)
    assert len(errors) == (0 if case in FINE else 1), [p.message for p in errors]


ABSENT = object()
#: the values each cross-field rule of the schema root looks at (ABSENT: the key is not there)
ROOT_RULE_INPUTS: dict[str, tuple[Any, ...]] = {
    "pipeline_mode": (ABSENT, "full", "echo", "speech-to-speech", 5),
    "system_prompt": (ABSENT, "", "x"),
    "context": (ABSENT, "c"),
    "layers": (ABSENT, {}, {"conferencing": {}}),
    "default_face_id": (ABSENT, "", "r90bbd427f71"),
    "default_replica_id": (ABSENT, "r90bbd427f71"),
    "persona_name": (ABSENT, "x"),
    "is_template": (ABSENT, True, 1),
    "pal_id": (ABSENT, "p1234567"),  # read-only: refused by name (propertyNames)
}


def test_the_generated_root_rules_agree_with_jsonschema_on_every_combination() -> None:
    """The root's allOf and propertyNames are compiled to plain expressions (not by
    fastjsonschema): every combination of the values they look at is judged as jsonschema
    judges it."""
    import itertools

    from palsync.schema import is_valid

    validator = jsonschema.Draft202012Validator(load_schema())
    verdicts = set()
    for values in itertools.product(*ROOT_RULE_INPUTS.values()):
        doc = {"pal_name": "n"}
        doc.update((k, v) for k, v in zip(ROOT_RULE_INPUTS, values, strict=True) if v is not ABSENT)
        expected = validator.is_valid(doc)
        assert is_valid(doc) == expected, doc
        verdicts.add(expected)
    assert verdicts == {True, False}


def test_a_root_rule_the_expression_compiler_does_not_know_stays_with_fastjsonschema() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_fast_validator.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    schema = {
        "type": "object",
        "allOf": [{"required": ["a"]}, {"properties": {"a": {"type": "string"}}}],
        "propertyNames": {"pattern": "^[a-z]+$"},
    }
    rest, expressions, _ = gen.split_root_rules(schema)
    assert rest == {
        "type": "object",
        "allOf": [{"properties": {"a": {"type": "string"}}}],  # `type`: not compiled here
        "propertyNames": {"pattern": "^[a-z]+$"},
    }
    assert expressions == ["((not isinstance(data, dict) or ('a' in data)))"]
