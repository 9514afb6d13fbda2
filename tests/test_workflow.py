"""Acceptance: validate → plan → apply → plan, import, faults and safety, through the real CLI
against the real emulator over loopback HTTP."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from filelock import FileLock

from palsync.emulator import FaultRule
from palsync.pipeline.session import guard_file
from tests.workflow import FACE, Workspace, pal_body


def assert_converged(ws: Workspace) -> None:
    result = ws.run("plan", "--detailed-exitcode")
    assert result.code == 0, result.out + result.err
    assert "No changes" in result.out


def test_examples_apply_then_plan_shows_no_changes(ws: Workspace) -> None:
    ws.copy_examples()
    first = ws.run("apply", "--auto-approve")
    assert first.code == 0, first.out + first.err
    assert len(ws.names()) == 5
    assert_converged(ws)
    again = ws.run("apply", "--auto-approve")
    assert again.code == 0 and "No changes" in again.out
    assert len(ws.names()) == 5


TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Find an order",
        "parameters": {"type": "object", "properties": {}},
    },
}


def kitchen_sink(i: int) -> dict[str, Any]:
    """A PAL using a rotating selection of every schema field."""
    rng = random.Random(i)
    interruptibility = (
        "face_interruptibility",
        "pal_interruptibility",
        "replica_interruptibility",
    )[i % 3]
    layers: dict[str, Any] = {
        "perception": {
            "perception_model": rng.choice(["raven-1", "off", "raven-0"]),
            "visual_awareness_queries": ["Is anyone there?"],
            "audio_awareness_queries": ["Is it loud?"],
            "perception_analysis_queries": ["Summarise the mood"],
            "visual_tool_prompt": "Use tools",
            "audio_tool_prompt": "Listen",
            "ambient_awareness_queries": ["Jacket?"],
            "tool_prompt": "Use the vision tools",
            "emotion_recognition": "limited",
            "visual_tools": [TOOL],
            "audio_tools": [TOOL],
            "perception_tools": [TOOL],
            "perception_tool_prompt": "Legacy tools",
        },
        "stt": {
            "stt_engine": rng.choice(["tavus-auto", "tavus-parakeet", "tavus-soniox"]),
            "hotwords": "Tavus, pal-sync",
            "participant_pause_sensitivity": "low",
            "participant_interrupt_sensitivity": "high",
            "smart_turn_detection": True,
        },
        "conversational_flow": {
            "turn_detection_model": rng.choice(["sparrow-1", "time-based"]),
            "turn_taking_patience": rng.choice(["low", "high"]),
            "voice_isolation": "near",
            "idle_engagement": "off",
            interruptibility: "low",
            "wake_phrase": "hey pal",
            "sleep_phrase": "pause please",
            "noise_cancellation": rng.choice([True, "near"]),
            "turn_commitment": "high",
            "active_listening": "low",
        },
        "llm": {
            "model": "tavus-gpt-oss",
            "base_url": "https://llm.example.com/v1",
            "api_key": "${PAL_LLM_KEY}",
            "speculative_inference": rng.random() < 0.5,
            "headers": {"Authorization": "Bearer ${PAL_TOKEN}"},
            "extra_body": {"temperature": 0.5, "top_p": 1.0},
            "default_query": {"api-version": "2026-10-01"},
            "disable_vision": rng.random() < 0.5,
            "enable_llm_proxy": False,
            "model_name": "my-model",
            "is_custom": True,
            "endpoint": "https://llm.example.com/v1/chat",
            "tools": [TOOL],
        },
        "tts": {
            "tts_engine": rng.choice(["cartesia", "elevenlabs"]),
            "api_key": "${PAL_TTS_KEY}",
            "external_voice_id": "voice-1",
            "tts_model_name": "sonic-2",
            "voice_id": "v1",
            "playht_user_id": "u1",
            "tts_emotion_control": False,
            "pronunciation_dictionary_id": "pd_abc123",
            "voice_settings": {
                "speed": 0.5,
                "volume": 1.2,
                "emotion": ["curiosity:high"],
                "stability": 0.3,
                "similarity_boost": 0.7,
                "style": 0.1,
                "use_speaker_boost": True,
            },
        },
        "conferencing": {
            "username": f"Bot-Sink-{i}",
            "allowlist": [".*@acme\\.com"],
            "whitelabel": rng.random() < 0.5,
        },
        "transport": {"transport_type": "daily", "room": "open-object"},
        "capabilities": {
            "mcp_enabled": True,
            "search_enabled": rng.random() < 0.5,
            "activity_log_enabled": False,
            "search_results_prompt_injection_prevention_enabled": True,
        },
        "knowledge_base": {
            "rag_score_threshold": 0.35,
            "rag_n_chunks": rng.randint(1, 8),
            "rag_surrounding_chunk_radius": 1,
            "enable_rag_observability_app_messages": False,
            "use_procedure_goalchain": True,
        },
        "sts": {"voice": "warm", "settings": {"pitch": 1}},
        "vqa": {"enable_vision": True},
    }
    chosen = {k: v for k, v in layers.items() if rng.random() < 0.6 or i % 8 == 0}
    body = pal_body(
        i,
        pipeline_mode="full",
        context="Context",
        greeting="Hi!",
        document_ids=["d1234567890"],
        document_tags=["faq"],
        objectives_id="o12345",
        guardrail_ids=["g1234567890ab"],
        guardrail_tags=["safety"],
        guardrails_id="g12345",
        memories=["likes tea"],
        tool_ids=["t457be0aac29c", "end_call"],
        languages=["en", "ar"],
        disclosure_type="always",
        verbal_disclosure="I am an AI assistant.",
        visual_disclosure={"badge": True},
        persona_description="A helpful test PAL",
        is_template=False,
        layers=chosen,
    )
    if i % 3 == 0:
        body["layers"].pop("conferencing", None)
    if i % 5 == 1:  # legacy spellings
        body["persona_name"] = body.pop("pal_name")
        body["default_replica_id"] = body.pop("default_face_id")
    if i % 4 == 2:
        # a field close to a known one that the server holds, marked as meant (import does so)
        body["pal_description"] = f"Described {i}"
        body["x-palsync"] = {
            "protected": True,
            "ignore": ["/greeting"],
            "accept_unknown": ["/pal_description"],
        }
    return body


def schema_leaves(schema: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, sub in schema.get("properties", {}).items():
        pointer = f"{prefix}/{name}"
        out |= schema_leaves(sub, pointer) if "properties" in sub else {pointer}
    return out


def test_the_kitchen_sink_covers_every_schema_field() -> None:
    from palsync.canonical import leaves
    from palsync.schema import load_schema

    covered: set[str] = set()
    for i in range(200):
        covered |= {p for p, _ in leaves(kitchen_sink(i))}
    expected = schema_leaves(load_schema()) - {"/x-palsync/pal_id"}  # pins: tested apart
    missing = {f for f in expected if not any(c == f or c.startswith(f + "/") for c in covered)}
    assert missing == set()


def test_every_field_on_200_pals_apply_then_plan_is_empty(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PAL_LLM_KEY", "PAL_TOKEN", "PAL_TTS_KEY"):
        monkeypatch.setenv(name, f"secret-{name}")
    for i in range(200):
        ws.write(f"pal-{i:03d}", kitchen_sink(i))
    assert ws.run("validate").code == 0
    result = ws.run("apply", "--auto-approve", "--parallelism", "8")
    assert result.code == 0, result.out[-3000:] + result.err[-3000:]
    assert len(ws.names()) == 200
    assert_converged(ws)


def test_changes_are_minimal_patches_and_removed_fields_go(ws: Workspace) -> None:
    ws.write("a", pal_body(1, context="first", layers={"llm": {"model": "tavus-gpt-oss"}}))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("a", pal_body(1, layers={"llm": {"model": "tavus-glm-4.7"}}))
    plan = ws.run("plan", "--format", "json")
    change = json.loads(plan.out)["changes"][0]
    assert change["action"] == "update" and change["direction"] == "local"
    assert change["ops"] == [
        # what the plan saw, tested first: a dashboard edit in between fails the patch whole
        {"op": "test", "path": "/context", "value": "first"},
        {"op": "test", "path": "/layers/llm/model", "value": "tavus-gpt-oss"},
        {"op": "remove", "path": "/context"},
        {"op": "replace", "path": "/layers/llm/model", "value": "tavus-glm-4.7"},
    ]
    assert ws.run("apply", "--auto-approve").code == 0
    pal = ws.emulator.store.user_pals()[0]
    assert "context" not in pal and pal["layers"]["llm"]["model"] == "tavus-glm-4.7"
    assert_converged(ws)


def test_drift_is_detected_and_restored(ws: Workspace) -> None:
    ws.write("a", pal_body(1, context="ours"))
    assert ws.run("apply", "--auto-approve").code == 0
    pal = ws.emulator.store.user_pals()[0]
    ws.emulator.store.edit(pal.pop("pal_id"), {**pal, "context": "edited in the dashboard"})
    plan = ws.run("plan", "--detailed-exitcode", "--format", "json")
    assert plan.code == 2
    assert json.loads(plan.out)["changes"][0]["direction"] == "drift"
    assert ws.run("apply", "--auto-approve").code == 0
    assert_converged(ws)


def test_invalid_manifests_make_no_api_call(ws: Workspace) -> None:
    ws.write("a", {"pal_name": "x", "system_promt": "typo", "default_face_id": FACE})
    result = ws.run("plan")
    assert result.code == 1
    assert "did you mean `system_prompt`" in result.err
    assert ws.emulator.request_counts() == {}


def test_unset_variable_is_an_error_naming_file_and_line(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACME_LLM_API_KEY")
    ws.copy_examples()
    result = ws.run("plan")
    assert result.code == 1
    assert "pals/byo-llm.yaml:" in result.err and "ACME_LLM_API_KEY is not set" in result.err
    assert ws.emulator.request_counts() == {}


def test_renaming_a_manifest_moves_its_pal_instead_of_creating_another(ws: Workspace) -> None:
    ws.copy_examples()
    assert ws.run("apply", "--auto-approve").code == 0
    before = ws.names()
    (ws.pals / "interviewer.yaml").rename(ws.pals / "tech-interviewer.yaml")
    plan = ws.run("plan", "--prune")
    assert "> adopt   tech-interviewer" in plan.out and "(moved from interviewer)" in plan.out
    assert "delete" not in plan.out
    applied = ws.run("apply", "--auto-approve", "--prune")
    assert applied.code == 0, applied.out + applied.err
    assert ws.names() == before, "no second PAL, none deleted"
    assert "interviewer" not in ws.lock()["pals"] and "tech-interviewer" in ws.lock()["pals"]
    assert_converged(ws)


def test_a_target_that_names_nothing_is_refused_before_any_request(ws: Workspace) -> None:
    ws.write("support-agent", pal_body(1))
    ws.write("gone", pal_body(2))
    assert ws.run("apply", "--auto-approve").code == 0
    (ws.pals / "gone.yaml").unlink()
    ws.emulator.log.clear()
    typo = ws.run("plan", "--target", "suport-agent")
    assert typo.code == 1
    assert "--target suport-agent names no PAL of this plan" in typo.err
    assert "did you mean --target support-agent?" in typo.err
    assert ws.run("apply", "--auto-approve", "--target", "nothing*").code == 1
    force = ws.run("apply", "--auto-approve", "--force-maker", "support-*")
    assert force.code == 1 and "--force-maker support-* names no PAL" in force.err
    assert ws.emulator.request_counts() == {}
    # a glob, and a key only the lock still knows (for --prune), are targets
    assert ws.run("plan", "--target", "support-*").code == 0
    pruned = ws.run("apply", "--auto-approve", "--prune", "--target", "gone")
    assert pruned.code == 0, pruned.err
    assert ws.names() == ["PAL 001"]


def test_apply_without_tty_or_auto_approve_applies_nothing(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    result = ws.run("apply")
    assert result.code == 1 and "--auto-approve" in result.err
    assert ws.names() == []


def test_blocked_pal_exits_1_after_the_whole_plan(ws: Workspace) -> None:
    ws.write("a", pal_body(1, default_face_id="r000000000000"))
    ws.write("b", pal_body(2))
    result = ws.run("plan", "--detailed-exitcode")
    assert result.code == 1
    assert "blocked" in result.out and "+ create  b" in result.out


def test_saved_plan_applies_exactly_and_refuses_when_stale(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("a", pal_body(1, context="v2"))
    assert ws.run("plan", "--out", "plan.json").code == 0
    saved = (ws.root / "plan.json").read_text()
    assert "v2" in saved
    pal = ws.emulator.store.user_pals()[0]
    ws.emulator.store.edit(pal.pop("pal_id"), {**pal, "greeting": "sneaky"})
    stale = ws.run("apply", "plan.json")
    assert stale.code == 1 and "stale plan" in stale.err
    assert "context" not in ws.emulator.store.user_pals()[0]
    assert ws.run("plan", "--out", "plan.json").code == 0
    ws.write("a", pal_body(1, context="v3"))
    assert "the manifests changed" in ws.run("apply", "plan.json").err
    ws.write("a", pal_body(1, context="v2"))
    assert ws.run("apply", "plan.json").code == 0
    assert ws.emulator.store.user_pals()[0]["context"] == "v2"


def test_a_plan_saved_before_the_first_apply_applies(ws: Workspace) -> None:
    ws.copy_examples()  # secrets included: their fingerprints must match at apply time
    assert ws.run("plan", "--out", "plan.json").code == 0
    assert not (ws.pals / "palsync.lock").exists()
    assert "carries its own --target" in ws.run("apply", "plan.json", "--target", "x").err
    applied = ws.run("apply", "plan.json")
    assert applied.code == 0, applied.err
    assert_converged(ws)
    assert "sk-acme-demo-secret" not in (ws.root / "plan.json").read_text()


def test_maker_conflict_blocks_then_force_maker_overwrites(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    ws.write("b", pal_body(2))
    assert ws.run("apply", "--auto-approve").code == 0
    ids = {p["pal_name"]: p["pal_id"] for p in ws.emulator.store.user_pals()}
    ws.emulator.store.set_maker_draft(ids["PAL 001"])
    ws.write("a", pal_body(1, context="new"))
    ws.write("b", pal_body(2, context="new"))
    blocked = ws.run("apply", "--auto-approve")
    assert blocked.code == 1
    assert "unpublished edits in PAL Maker" in blocked.out and "--force-maker a" in blocked.out
    assert ws.emulator.store.get(ids["PAL 002"])["context"] == "new"  # type: ignore[index]
    forced = ws.run("apply", "--auto-approve", "--force-maker", "a")
    assert forced.code == 0 and "discarded the unpublished PAL Maker draft" in forced.out
    assert_converged(ws)


def test_prune_safety(ws: Workspace) -> None:
    ws.write("keep", pal_body(1, **{"x-palsync": {"protected": True}}))
    ws.write("drop", pal_body(2))
    assert ws.run("apply", "--auto-approve").code == 0
    system_before = len(ws.emulator.store.pals) - len(ws.emulator.store.user_ids)
    (ws.pals / "keep.yaml").unlink()
    (ws.pals / "drop.yaml").unlink()
    refused = ws.run("apply", "--auto-approve", "--prune")
    assert refused.code == 1 and "refusing to prune" in refused.err
    assert len(ws.names()) == 2
    ws.write("other", pal_body(3))
    pruned = ws.run("apply", "--auto-approve", "--prune")
    assert pruned.code == 0, pruned.out + pruned.err
    assert ws.names() == ["PAL 001", "PAL 003"]
    assert len(ws.emulator.store.pals) - len(ws.emulator.store.user_ids) == system_before
    assert "drop" not in ws.lock()["pals"]


def test_a_second_apply_is_refused_while_one_runs(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    with FileLock(str(guard_file(ws.pals / "palsync.lock"))):
        result = ws.run("apply", "--auto-approve")
        assert result.code == 1 and "another pal-sync apply or import is running" in result.err
        assert ws.run("import", "--all").code == 1
    assert ws.names() == []
    assert ws.run("apply", "--auto-approve").code == 0
    assert sorted(p.name for p in ws.pals.iterdir()) == ["a.yaml", "palsync.lock"]


def test_import_round_trip(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ws.emulator.store
    store.create_pal(
        pal_body(
            1,
            system_prompt="Line one.\nLine two costs $5.",
            layers={"llm": {"model": "m", "base_url": "https://x.example", "api_key": "sk-live"}},
        ),
        legacy=False,
    )
    store.create_pal(
        pal_body(
            2,
            layers={
                "conversational_flow": {"turn_taking_patience": "low"},
                "conferencing": {"username": "Imported-Bot"},
            },
        ),
        legacy=False,
    )
    monkeypatch.setenv("PALSYNC_PAL_001_LLM_API_KEY", "sk-live")
    result = ws.run("import", "--all")
    assert result.code == 0, result.err
    assert "PALSYNC_PAL_001_LLM_API_KEY" in result.err
    text = (ws.pals / "pal-001.yaml").read_text()
    assert "system_prompt: |" in text and "$$5" in text and "sk-live" not in text
    assert ws.run("validate").code == 0
    assert_converged(ws)
    again = ws.run("import", "--all")
    assert again.code == 0 and "already managed" in again.err
    (ws.pals / "palsync.lock").unlink()
    clash = ws.run("import", "--all")
    assert clash.code == 1 and "would overwrite" in clash.err
    assert not (ws.pals / "palsync.lock").exists(), "a refused import writes nothing"
    (ws.pals / "pal-001.yaml").write_text("pal_name: edited by hand\n")
    forced = ws.run("import", "--all", "--force")
    assert forced.code == 0, forced.err
    assert sorted(p.name for p in ws.pals.glob("*.yaml")) == ["pal-001.yaml", "pal-002.yaml"]
    assert "edited by hand" not in (ws.pals / "pal-001.yaml").read_text()
    assert_converged(ws)
    assert ws.run("import", "pcb7a34da5fe").code == 1  # a stock PAL


# --------------------------------------------------------------------------- fault matrix

FAULTS = [
    pytest.param(dict(kind="status", status=429, retry_after="0", times=6), id="429-burst"),
    pytest.param(dict(kind="status", status=503, times=2), id="503"),
    pytest.param(dict(kind="status", status=502, times=2), id="502"),
    pytest.param(dict(kind="drop_after_commit", times=2), id="drop-after-commit"),
    pytest.param(dict(kind="delay", seconds=2.5, times=1), id="timeout"),
]


def converge(ws: Workspace, *args: str) -> None:
    for _ in range(4):
        result = ws.run("apply", "--auto-approve", *args)
        if result.code == 0:
            break
        assert "Traceback" not in result.err
        assert "failed" in result.out or "Error" in result.err
    assert_converged(ws)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_fault_matrix_converges_without_duplicates(
    ws: Workspace, fault: dict[str, Any], method: str
) -> None:
    for i in range(6):
        ws.write(f"p{i}", pal_body(i))
    if method != "POST":
        assert ws.run("apply", "--auto-approve").code == 0
        for i in range(6):
            ws.write(f"p{i}", pal_body(i, context="changed"))
        if method == "DELETE":
            for i in range(3):
                (ws.pals / f"p{i}.yaml").unlink()
    rule = ws.emulator.faults.add(FaultRule(method=method, path="/v2/pals*", **fault))
    converge(ws, *(["--prune"] if method == "DELETE" else []))
    assert rule.fired >= 1, "the fault was injected"
    expected = [f"PAL {i:03d}" for i in range(3 if method == "DELETE" else 0, 6)]
    assert ws.names() == expected, "no duplicate and no lost PAL"


def test_a_field_the_api_did_not_keep_is_reported(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ws.emulator.store
    original = store.create_pal

    def forgetful(body: Any, legacy: bool) -> dict[str, Any]:
        created = original(body, legacy)
        store.pals[created["pal_id"]]["doc"].pop("greeting", None)  # the server drops it
        return created

    monkeypatch.setattr(store, "create_pal", forgetful)
    ws.write("a", pal_body(1, greeting="Hello!"))
    result = ws.run("apply", "--auto-approve")
    assert result.code == 1
    assert "the API did not keep: /greeting" in result.out


def test_on_error_abort_stops_scheduling_after_the_first_failure(ws: Workspace) -> None:
    for i in range(4):
        ws.write(f"p{i}", pal_body(i))
    ws.emulator.faults.add(FaultRule("status", method="POST", path="/v2/pals", status=400))
    result = ws.run("apply", "--auto-approve", "--parallelism", "1", "--on-error", "abort")
    assert result.code == 1
    assert result.out.count("not attempted (--on-error abort)") == 3
    assert ws.names() == []
    ws.emulator.faults.clear()
    converge(ws)
