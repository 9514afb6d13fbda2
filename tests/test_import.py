"""Lossless import (issue 11 item 4, DESIGN 8): every field that is not read-only, same-named
PALs, secrets recorded as unverified, `apply --resend-secrets`, and `import --md`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from palsync.lock import UNVERIFIED, is_unverified, secret_fingerprint
from tests.workflow import FACE, Workspace, pal_body

LLM_KEY = "sk-maker-llm-SECRET-0001"
TTS_KEY = "tts-maker-SECRET-0002"
HEADER = "hdr-maker-SECRET-0003"

#: what PAL Maker writes beyond the public docs (tavus-api.md 11a), and one field no version of
#: pal-sync knows, inside a layer
MAKER_FIELDS: dict[str, Any] = {
    "tool_ids": ["t0a1b2c3d4e5", "t0f6e5d4c3b2"],
    "verbal_disclosure": "I am an AI assistant.",
    "visual_disclosure": {"position": "bottom-left", "text": "AI"},
    "persona_description": "Answers questions about orders.",
}
MAKER_LAYERS: dict[str, Any] = {
    "knowledge_base": {"rag_score_threshold": 0.35, "rag_n_chunks": 4},
    "capabilities": {"mcp_enabled": False, "search_enabled": True},
}
READ_ONLY_EXTRAS: dict[str, Any] = {
    "uuid": "5b0e6c1e-0000-4000-8000-00000000c0de",
    "owner_id": "owner-42",
    "is_draft": False,
    "session_id": "s-1",
    "source_template_id": "tpl-9",
    "registration_id": "reg-1",
    "pal_settings_id": "ps-1",
    "is_published": True,
}


def maker_pal(ws: Workspace, name: str, prompt: str, **layers: Any) -> str:
    """A PAL as PAL Maker leaves it: created through the emulator's store, then given the
    fields PAL Maker writes straight into the account (no public validator sees them), the
    read-only extras reads return, and secrets (which reads show masked)."""
    store = ws.emulator.store
    body = pal_body(0, pal_name=name, system_prompt=prompt)
    body["layers"] = {
        "llm": {
            "model": "tavus-llama",
            "base_url": "https://llm.example.com/v1",
            "api_key": LLM_KEY,
            "headers": {"X-Token": HEADER},
        },
        "tts": {"tts_engine": "cartesia", "api_key": TTS_KEY},
        **layers,
    }
    created = store.create_pal(body, False)
    pal_id = str(created["pal_id"])
    doc = store.pals[pal_id]["doc"]
    doc.update(json.loads(json.dumps(MAKER_FIELDS)))
    doc["layers"].update(json.loads(json.dumps(MAKER_LAYERS)))
    doc["layers"]["llm"]["future_knob"] = 3  # no version of pal-sync knows it
    doc.update(READ_ONLY_EXTRAS)
    return pal_id


def variables_told(err: str) -> list[str]:
    """The variables import told the user to set, as it said them."""
    match = re.search(r"set these variables before planning: ([A-Z0-9_, ]+)", err)
    assert match, err
    return [v.strip() for v in match.group(1).split(",")]


def set_told(monkeypatch: pytest.MonkeyPatch, told: list[str]) -> None:
    """Set the variables as the user would: each to the secret its field held."""
    for name in told:
        if name.endswith("_LLM_API_KEY"):
            monkeypatch.setenv(name, LLM_KEY)
        elif name.endswith("_TTS_API_KEY"):
            monkeypatch.setenv(name, TTS_KEY)
        else:
            monkeypatch.setenv(name, HEADER)


def test_pal_maker_account_imports_validates_and_plans_clean(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acceptance (issue 11): PALs with tool_ids, knowledge_base and capabilities layers,
    disclosure fields, read-only extras, an unknown field inside a layer, two PALs with the
    same name, masked secrets: import --all, validate, then plan --detailed-exitcode exits 0
    with the secret variables set as import's output said."""
    first = maker_pal(ws, "Order helper", "You help with orders.\nBe brief.")
    second = maker_pal(ws, "Order helper", "You help with orders too.")
    other = maker_pal(ws, "Greeter", "You greet visitors.")
    shown = ws.emulator.store.render(first)
    assert shown["layers"]["llm"]["api_key"] != LLM_KEY, "the emulator masks secrets"

    result = ws.run("import", "--all")
    assert result.code == 0, result.err
    told = variables_told(result.err)
    assert len(told) == 9, told  # three secrets of each of three PALs
    assert "unverified" in result.err and "--resend-secrets" in result.err

    lock = ws.lock()["pals"]
    assert sorted(e["pal_id"] for e in lock.values()) == sorted([first, second, other])
    assert len(lock) == 3, "same-named PALs each get their own key and lock entry"
    for entry in lock.values():
        assert sorted(entry["secrets"]) == [
            "/layers/llm/api_key",
            "/layers/llm/headers/X-Token",
            "/layers/tts/api_key",
        ]
        assert all(is_unverified(v) for v in entry["secrets"].values())

    for key, entry in lock.items():
        doc = yaml.safe_load((ws.pals / f"{key}.yaml").read_text())
        for name, value in MAKER_FIELDS.items():
            assert doc[name] == value, (key, name)
        for layer, value in MAKER_LAYERS.items():
            assert doc["layers"][layer] == value, (key, layer)
        assert doc["layers"]["llm"]["future_knob"] == 3, "an unknown field is imported"
        assert not set(READ_ONLY_EXTRAS) & set(doc), "read-only fields are never imported"
        assert doc["layers"]["llm"]["api_key"].startswith("${PALSYNC_")
        pinned = doc.get("x-palsync", {}).get("pal_id")
        assert pinned == (entry["pal_id"] if entry["pal_id"] != other else None)
    text = "".join(p.read_text() for p in ws.pals.iterdir())
    for secret in (LLM_KEY, TTS_KEY, HEADER, "********"):
        assert secret not in text

    checked = ws.run("validate")
    assert checked.code == 0, checked.out + checked.err
    assert "future_knob" in checked.out, "an unknown field is a warning, not silence"

    set_told(monkeypatch, told)
    plan = ws.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err
    assert "No changes" in plan.out and "9 secret(s) unverified" in plan.out
    patches = [r for r in ws.emulator.requests() if r[0] in ("PATCH", "POST")]
    assert not patches, "plan never writes"


def secret_pal(ws: Workspace, i: int, name: str | None = None) -> str:
    body = pal_body(i, **({"pal_name": name} if name else {}))
    body["layers"] = {
        "llm": {"model": "m", "api_key": LLM_KEY, "headers": {"X-Token": HEADER}},
        "tts": {"tts_engine": "cartesia", "api_key": TTS_KEY},
    }
    return str(ws.emulator.store.create_pal(body, False)["pal_id"])


def patches_of(ws: Workspace, pal_id: str) -> list[Any]:
    return [r for r in ws.emulator.requests() if r[0] == "PATCH" and pal_id in r[1]]


def test_imported_secrets_are_unverified_until_resent(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan right after an import is clean and says how many secrets are unverified (text,
    JSON, Markdown); `apply --resend-secrets` sends them once and records scrypt fingerprints;
    then the plan is clean with none unverified."""
    pal_id = secret_pal(ws, 1)
    result = ws.run("import", "--all")
    assert result.code == 0, result.err
    told = variables_told(result.err)
    assert told == [
        "PALSYNC_PAL_001_LLM_API_KEY",
        "PALSYNC_PAL_001_LLM_HEADERS_X_TOKEN",
        "PALSYNC_PAL_001_TTS_API_KEY",
    ]
    monkeypatch.setenv("PALSYNC_PAL_001_LLM_API_KEY", LLM_KEY)
    monkeypatch.setenv("PALSYNC_PAL_001_LLM_HEADERS_X_TOKEN", HEADER)
    monkeypatch.setenv("PALSYNC_PAL_001_TTS_API_KEY", TTS_KEY + "-rotated")

    text = ws.run("plan", "--detailed-exitcode")
    assert text.code == 0, text.out + text.err
    assert "No changes" in text.out and "3 secret(s) unverified (pal-001)" in text.out
    assert "--resend-secrets" in text.out
    doc = json.loads(ws.run("plan", "--format", "json").out)
    assert doc["unverified_secrets"] == 3 and doc["summary"]["update"] == 0
    (change,) = doc["changes"]
    assert change["unverified_secrets"] == [
        "/layers/llm/api_key",
        "/layers/llm/headers/X-Token",
        "/layers/tts/api_key",
    ]
    markdown = ws.run("plan", "--format", "markdown").out
    assert "3 secret\\(s\\) unverified" in markdown and "**No changes.**" in markdown

    # another change to the PAL is applied without its unverified secrets, which stay so
    path = ws.pals / "pal-001.yaml"
    path.write_text(path.read_text().replace("You are PAL number 1.", "You are PAL one."))
    assert ws.run("apply", "--auto-approve").code == 0
    assert len(patches_of(ws, pal_id)) == 1
    stored = ws.emulator.store.pals[pal_id]["doc"]
    assert stored["system_prompt"] == "You are PAL one."
    assert stored["layers"]["tts"]["api_key"] == TTS_KEY, "an unverified secret is not sent"
    assert all(v == UNVERIFIED for v in ws.lock()["pals"]["pal-001"]["secrets"].values())

    planned = ws.run("plan", "--resend-secrets", "--detailed-exitcode")
    assert planned.code == 2 and "layers.llm.api_key: (sensitive)" in planned.out
    applied = ws.run("apply", "--auto-approve", "--resend-secrets")
    assert applied.code == 0, applied.out + applied.err
    assert len(patches_of(ws, pal_id)) == 2, "the secrets are sent once, in one PATCH"
    stored = ws.emulator.store.pals[pal_id]["doc"]["layers"]
    assert stored["tts"]["api_key"] == TTS_KEY + "-rotated"
    secrets = ws.lock()["pals"]["pal-001"]["secrets"]
    assert all(v.startswith("scrypt:") for v in secrets.values()), secrets
    after = ws.run("plan", "--detailed-exitcode")
    assert after.code == 0 and "unverified" not in after.out, after.out
    assert ws.run("apply", "--auto-approve", "--resend-secrets").code == 0
    assert len(patches_of(ws, pal_id)) == 2, "nothing unverified is left to resend"
    for output in (text.out, planned.out, applied.out, applied.err, after.out):
        assert LLM_KEY not in output and TTS_KEY not in output and HEADER not in output


def test_resend_secrets_through_a_plan_file(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    pal_id = secret_pal(ws, 1)
    told = variables_told(ws.run("import", "--all").err)
    for name in told:
        monkeypatch.setenv(name, "v-" + name.lower())
    assert ws.run("plan", "--resend-secrets", "--out", "plan.json").code == 0
    saved = json.loads((ws.root / "plan.json").read_text())
    assert saved["resend_secrets"] is True
    again = ws.run("apply", "plan.json", "--resend-secrets")
    assert again.code == 1 and "carries its own" in again.err
    assert ws.run("apply", "plan.json").code == 0
    assert len(patches_of(ws, pal_id)) == 1
    assert all(v.startswith("scrypt:") for v in ws.lock()["pals"]["pal-001"]["secrets"].values())


def test_unverified_marker_is_never_a_fingerprint() -> None:
    for value in ("", "unverified", UNVERIFIED, "x"):
        fp = secret_fingerprint("salt", "/layers/llm/api_key", value)
        assert fp.startswith("scrypt:") and not is_unverified(fp)
    assert is_unverified(UNVERIFIED) and not is_unverified(None)
    assert not is_unverified("sha256:" + "0" * 64)


def test_same_named_pals_each_get_a_key_a_pin_and_a_lock_entry(ws: Workspace) -> None:
    store = ws.emulator.store
    ids = [str(store.create_pal(pal_body(i, pal_name="Twin"), False)["pal_id"]) for i in range(3)]
    ws.emulator.store.create_pal(pal_body(9, pal_name="Solo"), False)
    result = ws.run("import", "--all")
    assert result.code == 0, result.err
    assert result.out.count("pinned by id") == 3
    lock = ws.lock()["pals"]
    assert sorted(lock) == ["solo", "twin", "twin-2", "twin-3"]
    assert sorted(lock[k]["pal_id"] for k in ("twin", "twin-2", "twin-3")) == sorted(ids)
    for key in ("twin", "twin-2", "twin-3"):
        doc = yaml.safe_load((ws.pals / f"{key}.yaml").read_text())
        assert doc["x-palsync"] == {"pal_id": lock[key]["pal_id"]}
    assert "x-palsync" not in (ws.pals / "solo.yaml").read_text()
    plan = ws.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err


LONG_PROMPT = "# Role\n\nYou are the support agent of ACME.\n\n- Be brief.\n- Costs are $5.\n"


def test_import_md_writes_long_prompts_as_markdown_and_round_trips(ws: Workspace) -> None:
    store = ws.emulator.store
    store.create_pal(pal_body(1, system_prompt=LONG_PROMPT), False)
    store.create_pal(pal_body(2, system_prompt="Short."), False)
    store.create_pal(pal_body(3, system_prompt="Ends with a carriage return\r"), False)
    result = ws.run("import", "--all", "--md")
    assert result.code == 0, result.err
    names = sorted(p.name for p in ws.pals.iterdir())
    assert names == ["pal-001.md", "pal-002.yaml", "pal-003.yaml", "palsync.lock"]
    text = (ws.pals / "pal-001.md").read_text()
    assert text.startswith("---\n") and "system_prompt" not in text
    assert text.endswith("\n---\n\n" + LONG_PROMPT.replace("$", "$$") + "\n")
    assert ws.run("validate").code == 0
    plan = ws.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err

    # a re-import in the other form replaces the file, never leaves both forms of one key
    (ws.pals / "palsync.lock").unlink()
    clash = ws.run("import", "--all")
    assert clash.code == 1 and "pal-001.md" in clash.err
    assert ws.run("import", "--all", "--force").code == 0
    assert sorted(p.name for p in ws.pals.glob("pal-001.*")) == ["pal-001.yaml"]
    assert ws.run("plan", "--detailed-exitcode").code == 0


def test_import_keeps_every_field_the_api_returns(ws: Workspace) -> None:
    """Fields pal-sync does not know, at the top level and in a layer, are written as they are;
    read-only and server fields are not."""
    pal_id = str(ws.emulator.store.create_pal(pal_body(1), False)["pal_id"])
    doc = ws.emulator.store.pals[pal_id]["doc"]
    doc["tomorrow_field"] = {"nested": [1, {"b": "$x"}]}
    doc.setdefault("layers", {})["brand_new_layer"] = {"knob": True}
    assert ws.run("import", "--all").code == 0
    written = yaml.safe_load((ws.pals / "pal-001.yaml").read_text())
    assert written["tomorrow_field"] == {"nested": [1, {"b": "$$x"}]}
    assert written["layers"]["brand_new_layer"] == {"knob": True}
    assert "pal_id" not in written and "created_at" not in written
    assert written["default_face_id"] == FACE


def test_plan_leaves_unverified_secrets_alone_unless_resent() -> None:
    """The pure core: a lock entry recording a secret as unverified plans as noop (the marker
    kept for the lock, the count reported); `resend_secrets` plans that secret as sent."""
    from palsync import render
    from palsync.lock import Lock, LockEntry
    from palsync.plan import Desired, build, prepare

    body = {**pal_body(1), "layers": {"llm": {"model": "m", "api_key": LLM_KEY}}}
    want = Desired("a", "pals/a.yaml", body)
    lock = Lock({}, "salt")
    prep = prepare(want, lock.salt)
    entry = LockEntry(
        "p000000000a1", prep.fingerprint, prep.managed, {"/layers/llm/api_key": UNVERIFIED}
    )
    lock = lock.with_entry("a", entry)
    live = [
        {
            "pal_id": "p000000000a1",
            **pal_body(1),
            "layers": {"llm": {"model": "m", "api_key": "********"}},
        }
    ]
    plan = build([want], live, lock)
    (change,) = plan.changes
    assert change.action == "noop" and change.unverified == ("/layers/llm/api_key",)
    assert dict(change.secret_fingerprints) == {"/layers/llm/api_key": UNVERIFIED}
    assert plan.unverified_secrets == 1 and plan.to_dict()["unverified_secrets"] == 1
    assert "1 secret(s) unverified (a)" in render.plan_text(plan)
    resent = build([want], live, lock, resend_secrets=True)
    (change,) = resent.changes
    assert change.action == "update" and not change.unverified
    assert [(f.path, f.sensitive) for f in change.fields] == [("/layers/llm/api_key", True)]
    assert change.secret_fingerprints["/layers/llm/api_key"].startswith("scrypt:")
    assert [op["path"] for op in change.ops if op["op"] != "test"] == ["/layers/llm/api_key"]
    assert LLM_KEY not in json.dumps(resent.to_dict())


def test_a_header_named_with_a_tilde_imports_and_plans_clean(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding: the importer built the lock's pointer from the raw header name, so
    `X~Tok` was recorded unescaped; the next plan sent the "unverified" secret and a remove op
    the server refused (422) on every apply."""
    import re

    ws.emulator.store.create_pal(
        {
            "pal_name": "Hdr",
            "system_prompt": "x",
            "default_face_id": "r90bbd427f71",
            "layers": {"llm": {"model": "m", "headers": {"X~Tok": "hv-SECRET-1"}}},
        },
        False,
    )
    result = ws.run("import", "--all")
    assert result.code == 0, result.out + result.err
    for name in set(re.findall(r"PALSYNC_[A-Z0-9_]+", result.out + result.err)):
        monkeypatch.setenv(name, "hv-SECRET-1")
    assert ws.run("validate").code == 0
    plan = ws.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err


def test_a_server_field_that_looks_like_a_typo_imports_and_validates(ws: Workspace) -> None:
    """Review finding: keys the server returned that are close to known ones (`pal_description`
    beside `persona_description`, `language` beside `languages`) made the imported directory
    fail validation. A field the server returned is no typo: import marks it
    `x-palsync.accept_unknown`, validate then warns instead of refusing."""
    created = ws.emulator.store.create_pal(
        {"pal_name": "Maker", "system_prompt": "x", "default_face_id": FACE}, False
    )
    doc = ws.emulator.store.pals[created["pal_id"]]["doc"]
    doc["pal_description"] = "Answers questions about orders."
    doc["language"] = "en"
    result = ws.run("import", "--all")
    assert result.code == 0, result.out + result.err
    (path,) = ws.pals.glob("*.yaml")
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert manifest["pal_description"] == "Answers questions about orders."
    assert sorted(manifest["x-palsync"]["accept_unknown"]) == ["/language", "/pal_description"]
    checked = ws.run("validate")
    assert checked.code == 0, checked.out
    assert "pal_description: not known to pal-sync" in checked.out
    assert ws.run("plan", "--detailed-exitcode").code == 0
    # the same key typed by hand, without the mark, stays an error
    ws.write("typed", {**pal_body(2), "pal_description": "typed"})
    assert ws.run("validate").code == 1
