"""Field knowledge lives in the schema: secret, read-only, compared member by member or whole,
legacy and current aliases, references and unverified fields are annotations in
scripts/build_schema.py, and every table of `palsync.fields` is derived from them
(`palsync.fieldspec`, written to palsync/_fields.py). Each test here walks the schema on its own,
so a derivation that drops or invents an entry fails."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from palsync import canonical, fields, fieldspec, validation
from palsync.fieldspec import FieldSpecError, FieldTables, derive, render
from palsync.schema import load_schema

ROOT = Path(__file__).resolve().parent.parent
FACE = {"default_face_id": "r90bbd427f71"}
TABLES = [f.name for f in dataclasses.fields(FieldTables)]


def walk(node: dict[str, Any], pointer: str = "") -> Iterator[tuple[str, dict[str, Any], str]]:
    """(pointer, schema, parent pointer) of every property below `node`."""
    for name, sub in node.get("properties", {}).items():
        child = pointer + "/" + name.replace("~", "~0").replace("/", "~1")
        yield child, sub, pointer
        yield from walk(sub, child)


def test_fields_exports_exactly_the_tables_derived_from_the_committed_schema() -> None:
    derived = derive(load_schema())
    for name in TABLES:
        assert getattr(fields, name) == getattr(derived, name), name
    generated = (ROOT / "palsync" / "_fields.py").read_text(encoding="utf-8")
    assert generated == render(derived)


def test_secret_annotations_and_secret_pointers_agree() -> None:
    schema = load_schema()
    annotated = {p for p, sub, _ in walk(schema) if sub.get("x-palsync-secret") is True}
    maps = {
        p
        for p, sub, _ in walk(schema)
        if isinstance(sub.get("additionalProperties"), dict)
        and sub["additionalProperties"].get("x-palsync-secret") is True
    }
    assert annotated == fields.SECRET_POINTERS
    assert maps == fields.SECRET_PARENTS
    assert {"/layers/llm/api_key", "/layers/tts/api_key"} <= annotated
    assert {"/layers/llm/headers"} <= maps
    # what the modules do with it: secret exactly there (and below a map of secrets), nowhere else
    for pointer, _, _ in walk(schema):
        assert fields.is_secret_pointer(pointer) == (pointer in annotated | maps), pointer
    assert fields.is_secret_pointer("/layers/llm/headers/X-Any")


def test_read_only_annotations_and_the_read_only_tables_agree() -> None:
    schema = load_schema()
    server = schema["$defs"]["read-only"]
    top = {name for name, sub in server["properties"].items() if sub.get("readOnly") is True}
    below = {p for p, sub, parent in walk(server) if sub.get("readOnly") is True and parent != ""}
    assert top == fields.READ_ONLY_TOP_LEVEL
    assert below == fields.SERVER_MANAGED_POINTERS
    assert {"pal_id", "uuid", "is_published"} <= top
    # refused in manifests by name, dropped from live documents, skipped in desired ones
    assert set(schema["propertyNames"]["not"]["enum"]) == top
    live = {name: "x" for name in top} | {"pal_name": "A"}
    assert canonical.normalise_live(live) == {"pal_name": "A"}
    body = {"layers": {"tts": {"voice_settings": {"speed": 1, "pronunciation_dict_id": "x"}}}}
    body["layers"]["tts"]["voice_settings"]["pronunciation_dictionary_locators"] = ["y"]
    flat, _ = canonical.desired_form(body)
    assert flat == {"/layers/tts/voice_settings/speed": 1}


def test_compare_annotations_decide_what_is_compared_member_by_member() -> None:
    schema = load_schema()
    members = {p for p, sub, _ in walk(schema) if sub.get("x-palsync-compare") == "members"}
    whole = {p for p, sub, _ in walk(schema) if sub.get("x-palsync-compare") == "whole"}
    assert members == fields.MEMBERWISE
    assert {"/layers/tts/voice_settings", "/layers/llm/headers"} <= members
    assert {"/layers/llm/extra_body", "/layers/llm/default_query"} <= whole
    for pointer in members:
        assert canonical.memberwise(pointer), pointer
    for pointer in whole:
        assert not canonical.memberwise(pointer), pointer
    # the derivation's rule for unannotated objects is canonical's own
    for pointer, sub, _ in walk(schema):
        if sub.get("type") == "object":
            expected = pointer in members or fieldspec.structurally_memberwise(pointer)
            assert canonical.memberwise(pointer) == expected, pointer
    flat = canonical.flatten({"layers": {"llm": {"extra_body": {"a": 1}, "headers": {"H": "v"}}}})
    assert flat == {"/layers/llm/extra_body": {"a": 1}, "/layers/llm/headers/H": "v"}


def test_alias_annotations_and_the_spelling_tables_agree() -> None:
    schema = load_schema()
    aliases = {
        p: (sub["x-palsync-alias-of"], sub.get("deprecated") is True)
        for p, sub, _ in walk(schema)
        if "x-palsync-alias-of" in sub
    }
    assert {
        "/persona_name": ("pal_name", True),
        "/default_replica_id": ("default_face_id", True),
        "/layers/conversational_flow/pal_interruptibility": ("face_interruptibility", False),
        "/layers/conversational_flow/replica_interruptibility": ("face_interruptibility", True),
    }.items() <= aliases.items()
    top = {p[1:]: new for p, (new, _) in aliases.items() if p.count("/") == 1}
    layer = {tuple(p.split("/")[2:]): new for p, (new, _) in aliases.items() if p.count("/") == 3}
    current = {tuple(p.split("/")[2:]) for p, (_, old) in aliases.items() if not old}
    assert top == fields.LEGACY_TOP_LEVEL
    assert layer == fields.LEGACY_LAYER
    assert list(fields.LEGACY_LAYER) == list(layer)  # schema order: the order spellings win in
    assert current == fields.CURRENT_SPELLINGS
    live = {"persona_name": "A", "layers": {"conversational_flow": {"pal_interruptibility": "low"}}}
    assert canonical.normalise_live(live) == {
        "pal_name": "A",
        "layers": {"conversational_flow": {"face_interruptibility": "low"}},
    }


def test_reference_annotations_and_references_agree() -> None:
    schema = load_schema()
    found = {}
    for pointer, sub, _ in walk(schema):
        for node in (sub, sub.get("items")):
            if isinstance(node, dict) and "x-palsync-ref" in node:
                found[pointer] = node["x-palsync-ref"]
    assert found == fields.REFERENCES
    assert {
        "/default_face_id": "faces",
        "/default_replica_id": "faces",
        "/document_ids": "documents",
        "/tool_ids": "tools",
        "/objectives_id": "objectives",
        "/guardrail_ids": "guardrails",
        "/guardrails_id": "guardrails",
        "/layers/tts/pronunciation_dictionary_id": "dictionaries",
    }.items() <= found.items()


def test_unverified_fields_are_named_at_the_root_and_keep_a_bare_schema() -> None:
    schema = load_schema()
    assert schema["x-palsync-unverified"] == fields.UNVERIFIED
    assert {"/languages", "/layers/tts/voice_id"} <= set(fields.UNVERIFIED)
    nodes = {p: sub for p, sub, _ in walk(schema)}
    for pointer in fields.UNVERIFIED:
        assert set(nodes[pointer]) == {"description"}, pointer


def test_the_annotations_change_nothing_for_json_schema_validation() -> None:
    """Unknown keywords are annotations: the same documents pass and fail without them."""
    stripped = _strip(load_schema())
    with_them = jsonschema.Draft202012Validator(load_schema())
    without = jsonschema.Draft202012Validator(stripped)
    docs: list[Any] = [
        {"pal_name": "A", "system_prompt": "x", "default_face_id": "r90bbd427f71"},
        {"pal_id": "p1", "system_prompt": "x", "default_face_id": "r90bbd427f71"},
        {"system_prompt": "x", "default_replica_id": "r90bbd427f71", "tool_ids": ["end_call"]},
        {**FACE, "system_prompt": "x", "layers": {"llm": {"headers": {"a": 1}}}},
    ]
    for doc in docs:
        assert with_them.is_valid(doc) == without.is_valid(doc), doc
    assert [with_them.is_valid(d) for d in docs] == [True, False, True, False]


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in fieldspec.ANNOTATIONS}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _added_field_schema() -> dict[str, Any]:
    """The committed schema with new fields, each annotated the way build_schema.py writes it."""
    schema = copy.deepcopy(load_schema())
    llm = schema["properties"]["layers"]["properties"]["llm"]["properties"]
    llm["vault_token"] = {"type": "string", "writeOnly": True, "x-palsync-secret": True}
    llm["extra_headers"] = {
        "type": "object",
        "additionalProperties": {"type": "string", "x-palsync-secret": True},
        "x-palsync-compare": "members",
    }
    llm["provider_options"] = {"type": "object", "x-palsync-compare": "whole"}
    llm["reasoning_effort"] = {"type": "string"}
    llm["thinking_effort"] = {
        "type": "string",
        "deprecated": True,
        "x-palsync-alias-of": "reasoning_effort",
    }
    llm["effort"] = {"type": "string", "x-palsync-alias-of": "reasoning_effort"}
    llm["mystery"] = {"description": "In no Tavus source."}
    top = schema["properties"]
    top["persona_greeting"] = {
        "type": "string",
        "deprecated": True,
        "x-palsync-alias-of": "greeting",
    }
    top["knowledge_base_id"] = {"type": "string", "x-palsync-ref": "knowledge_bases"}
    top["skill_ids"] = {"type": "array", "items": {"type": "string", "x-palsync-ref": "skills"}}
    read_only = schema["$defs"]["read-only"]["properties"]
    read_only["etag"] = {"readOnly": True}
    read_only["layers"]["properties"]["llm"] = {
        "properties": {"extra_headers": {"properties": {"x-served-by": {"readOnly": True}}}}
    }
    schema["x-palsync-unverified"]["/layers/llm/mystery"] = "in no Tavus source"
    return schema


#: what `_added_field_schema` adds to each table, and nothing else
ADDED: dict[str, Any] = {
    "LEGACY_TOP_LEVEL": {"persona_greeting": "greeting"},
    "LEGACY_LAYER": {
        ("llm", "thinking_effort"): "reasoning_effort",
        ("llm", "effort"): "reasoning_effort",
    },
    "CURRENT_SPELLINGS": {("llm", "effort")},
    "READ_ONLY_TOP_LEVEL": {"etag"},
    "SERVER_MANAGED_POINTERS": {"/layers/llm/extra_headers/x-served-by"},
    "MEMBERWISE": {"/layers/llm/extra_headers"},
    "SECRET_POINTERS": {"/layers/llm/vault_token"},
    "SECRET_PARENTS": {"/layers/llm/extra_headers"},
    "REFERENCES": {"/knowledge_base_id": "knowledge_bases", "/skill_ids": "skills"},
    "UNVERIFIED": {"/layers/llm/mystery": "in no Tavus source"},
}


def test_a_field_added_to_the_schema_shows_up_in_every_table() -> None:
    before = derive(load_schema())
    after = derive(_added_field_schema())
    assert set(ADDED) == set(TABLES), "every table gains an entry"
    for name in TABLES:
        old, new = getattr(before, name), getattr(after, name)
        if isinstance(new, dict):
            assert {k: v for k, v in new.items() if k not in old} == ADDED[name], name
            assert {k: new[k] for k in old} == old, name
        else:
            assert new - old == ADDED[name], name
            assert old <= new, name
    # the generated module carries them as written
    namespace: dict[str, Any] = {}
    exec(render(after), namespace)
    for name in TABLES:
        assert namespace[name] == getattr(after, name), name


def test_a_field_added_to_the_schema_is_treated_as_its_annotations_say(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The modules read the tables, not names of their own: with the derived tables in place,
    the new secret is secret, the new map compared member by member, the new alias renamed."""
    after = derive(_added_field_schema())
    for name in TABLES:
        monkeypatch.setattr(canonical, name, getattr(after, name), raising=False)
    monkeypatch.setattr(fields, "SECRET_POINTERS", after.SECRET_POINTERS)
    monkeypatch.setattr(fields, "SECRET_PARENTS", after.SECRET_PARENTS)
    monkeypatch.setattr(
        fields,
        "_SECRET_PREFIXES",
        tuple(p + "/" for p in sorted(after.SECRET_POINTERS | after.SECRET_PARENTS)),
    )
    canonical._pointer_kind.cache_clear()
    try:
        assert fields.is_secret_pointer("/layers/llm/vault_token")
        assert fields.is_secret_pointer("/layers/llm/extra_headers/X-Key")
        assert canonical.memberwise("/layers/llm/extra_headers")
        body = {"layers": {"llm": {"vault_token": "${T}", "extra_headers": {"X-Key": "${K}"}}}}
        flat, secret = canonical.desired_form(body)
        assert flat == {}
        assert set(secret) == {"/layers/llm/vault_token", "/layers/llm/extra_headers/X-Key"}
    finally:
        canonical._pointer_kind.cache_clear()


#: case -> (pointer, annotations added there, what the error says)
BROKEN: dict[str, tuple[str, dict[str, Any], str]] = {
    # a secret inside a value compared whole would be compared, and shown in plans
    "secret in a whole value": (
        "/layers/llm/extra_body",
        {"properties": {"k": {"type": "string", "x-palsync-secret": True}}},
        "x-palsync-secret here is read by no module",
    ),
    "members of a string": (
        "/layers/llm/model_name",
        {"x-palsync-compare": "members"},
        "only an object",
    ),
    "unknown compare mode": (
        "/layers/llm/extra_body",
        {"x-palsync-compare": "deep"},
        "`members` or `whole`",
    ),
    "a layer compared whole": (
        "/layers/llm",
        {"x-palsync-compare": "whole"},
        "a layer is always compared member by member",
    ),
    "alias of nothing": (
        "/layers/llm/endpoint",
        {"x-palsync-alias-of": "no_such_field"},
        "names a sibling",
    ),
    "current alias at the top": (
        "/context",
        {"x-palsync-alias-of": "system_prompt"},
        "a top-level alias is a legacy name",
    ),
    "alias below a layer": (
        "/layers/tts/voice_settings/volume",
        {"x-palsync-alias-of": "speed", "deprecated": True},
        "at the top level and in a layer only",
    ),
    "read-only property": ("/greeting", {"readOnly": True}, r"listed in \$defs/read-only"),
    "reference to no kind": (
        "/objectives_id",
        {"x-palsync-ref": "Objectives!"},
        "names a kind",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_an_annotation_no_module_would_honour_fails_the_derivation(case: str) -> None:
    pointer, extra, says = BROKEN[case]
    schema = copy.deepcopy(load_schema())
    node = schema
    for token in pointer.split("/")[1:]:
        node = node["properties"][token]
    node.update(extra)
    with pytest.raises(FieldSpecError, match=says):
        derive(schema)


def test_read_only_and_unverified_entries_must_name_real_places() -> None:
    schema = copy.deepcopy(load_schema())
    schema["$defs"]["read-only"]["properties"]["pal_name"] = {"readOnly": True}
    with pytest.raises(FieldSpecError, match="refused by name"):
        derive(schema)
    schema = copy.deepcopy(load_schema())
    schema["x-palsync-unverified"]["/layers/llm/nowhere"] = "nowhere"
    with pytest.raises(FieldSpecError, match="no property"):
        derive(schema)


def test_the_secret_message_names_the_secret_fields_of_the_tables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    words = validation._secret_fields()
    assert words.startswith("layers.llm.api_key, ")
    assert words.endswith(" or a layers.llm.headers value")
    for pointer in fields.SECRET_POINTERS:
        assert validation.dotted(pointer) in words
    secrets = {"/layers/llm/api_key", "/layers/llm/vault_token", "/layers/tts/api_key"}
    monkeypatch.setattr(validation, "SECRET_POINTERS", frozenset(secrets))
    monkeypatch.setattr(validation, "SECRET_PARENTS", frozenset({"/layers/llm/headers"}))
    assert validation._secret_fields() == (
        "layers.llm.api_key, layers.llm.vault_token, layers.tts.api_key or a "
        "layers.llm.headers value"
    )


def test_build_schema_check_fails_when_the_field_tables_are_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tables are a generated file like the schema: a hand edit is caught, nothing written."""
    script = ROOT / "scripts" / "build_schema.py"
    spec = importlib.util.spec_from_file_location("build_schema", script)
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "palsync").mkdir()
    for name in ("schemas/pal.schema.json", "palsync/_fields.py"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    monkeypatch.setattr(builder, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["build_schema.py", "--check"])
    assert builder.main() == 0
    stale = tmp_path / "palsync" / "_fields.py"
    stale.write_text(stale.read_text().replace('"/layers/tts/api_key",\n', ""))
    assert builder.main() == 1
    out = capsys.readouterr().out
    assert "palsync/_fields.py differs" in out and "python scripts/build_schema.py" in out
    assert "pal.schema.json" not in out
    assert '"/layers/tts/api_key"' not in stale.read_text()  # compared, not rewritten


def test_the_validation_cache_is_keyed_to_the_field_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field newly annotated secret (or legacy, or unverified) changes what validate says:
    files validated under the old tables must be checked again."""
    from palsync import cache

    package = Path(cache.__file__).parent
    for module in {*cache._VALIDATING_MODULES, "_fields"}:
        (tmp_path / f"{module}.py").write_bytes((package / f"{module}.py").read_bytes())
    monkeypatch.setattr(cache, "__file__", str(tmp_path / "cache.py"))
    before = cache.validator_id()
    assert before is not None
    tables = tmp_path / "_fields.py"
    tables.write_text(tables.read_text().replace('"/layers/tts/api_key",\n', ""))
    assert cache.validator_id() != before
