"""The PAL surface as Tavus ships it (issue 11, items 1-3), against the real emulator.

For every field of tavus-api.md 11a: a PAL created through the API with it plans as no change
once adopted; changing the field in its manifest plans exactly that field and one op (after the
`test` ops that guard every update); apply, then plan, is clean. The open world: a field no
version of pal-sync knows is warned about, shown, sent, compared and kept. Interruptibility's
three spellings are one field whichever side spells it how. Read-only extras never count.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from palsync.canonical import lookup
from palsync.fields import split_pointer
from tests.test_emulator_surface import READ_ONLY_EXTRAS  # tavus-api.md 11a, listed once
from tests.workflow import FACE, Workspace

#: (JSON Pointer, value created through the API, value the manifest changes it to)
FIELDS: list[tuple[str, Any, Any]] = [
    ("/tool_ids", ["t457be0aac29c"], ["t457be0aac29c", "end_call"]),
    ("/pipeline_mode", "speech-to-speech", "echo"),
    ("/memories", ["likes tea"], ["likes tea", "prefers mornings"]),
    ("/verbal_disclosure", "I am an AI assistant.", "I am a virtual assistant."),
    ("/visual_disclosure", {"badge": True, "position": "top"}, {"badge": True, "position": "low"}),
    ("/persona_description", "A support agent.", "A sales agent."),
    ("/disclosure_type", "always", "on_request"),
    ("/guardrail_tags", [f"tag{i:02d}" for i in range(50)], [f"tag{i:02d}" for i in range(1, 51)]),
    ("/languages", ["en"], ["en", "ar"]),
    ("/layers/llm/default_query", {"api-version": "1"}, {"api-version": "2"}),
    ("/layers/llm/disable_vision", False, True),
    ("/layers/llm/enable_llm_proxy", True, False),
    ("/layers/llm/model_name", "my-model", "my-model-2"),
    ("/layers/llm/is_custom", False, True),
    ("/layers/llm/endpoint", "https://llm.example.com/a", "https://llm.example.com/b"),
    ("/layers/llm/extra_body", {"temperature": 0.2}, {"temperature": 0.2, "top_p": 0.9}),
    ("/layers/tts/tts_model_name", "sonic-2", "sonic-3"),
    ("/layers/tts/pronunciation_dictionary_id", "pd_abc123", "pd_def456"),
    ("/layers/tts/playht_user_id", "u-1", "u-2"),
    ("/layers/tts/tts_emotion_control", True, False),
    ("/layers/tts/voice_settings/volume", 1.0, 1.5),
    ("/layers/tts/voice_settings/engine_specific_knob", "a", "b"),
    ("/layers/tts/voice_id", "v1f73c4a86a76", "v2f73c4a86a76"),
    ("/layers/stt/hotwords", "Tavus", "Tavus, pal-sync"),
    ("/layers/stt/smart_turn_detection", False, True),
    ("/layers/perception/tool_prompt", "Use tools.", "Use the tools."),
    ("/layers/perception/perception_tool_prompt", "Old prompt.", "Older prompt."),
    ("/layers/perception/ambient_awareness_queries", ["Jacket?"], ["Jacket?", "Hat?"]),
    ("/layers/conversational_flow/face_interruptibility", "low", "high"),
    ("/layers/conversational_flow/wake_phrase", "hey pal", "hello pal"),
    ("/layers/conversational_flow/sleep_phrase", "pause", "sleep now"),
    ("/layers/conversational_flow/noise_cancellation", True, False),
    ("/layers/conversational_flow/voice_isolation", "near", "off"),
    ("/layers/conversational_flow/idle_engagement", "off", "gentle"),
    ("/layers/conferencing/whitelabel", False, True),
    ("/layers/capabilities/mcp_enabled", False, True),
    ("/layers/capabilities/search_enabled", True, False),
    ("/layers/capabilities/activity_log_enabled", False, True),
    ("/layers/capabilities/search_results_prompt_injection_prevention_enabled", True, False),
    ("/layers/knowledge_base/rag_score_threshold", 0.3, 0.45),
    ("/layers/knowledge_base/rag_n_chunks", 3, 5),
    ("/layers/knowledge_base/rag_surrounding_chunk_radius", 1, 2),
    ("/layers/knowledge_base/enable_rag_observability_app_messages", False, True),
    ("/layers/knowledge_base/use_procedure_goalchain", True, False),
    ("/layers/sts/voice", "warm", "bright"),
    ("/layers/transport/transport_type", "livekit", "daily"),
    ("/layers/transport/room_prefix", "a-", "b-"),
]
INTERRUPTIBILITY = ("face_interruptibility", "pal_interruptibility", "replica_interruptibility")


#: how the emulator's /v2/pals reads spell interruptibility unless a test says otherwise
FLOW = "/layers/conversational_flow/"
SHOWN = {FLOW + "face_interruptibility": FLOW + "pal_interruptibility"}


def set_at(doc: dict[str, Any], pointer: str, value: Any) -> None:
    tokens = split_pointer(pointer)
    node = doc
    for token in tokens[:-1]:
        node = node.setdefault(token, {})
    node[tokens[-1]] = copy.deepcopy(value)


def without(doc: dict[str, Any], pointer: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    tokens = split_pointer(pointer)
    node = out
    for token in tokens[:-1]:
        node = node[token]
    del node[tokens[-1]]
    return out


def body_with(i: int, pointer: str, value: Any, name: str = "") -> dict[str, Any]:
    """A PAL holding `pointer`, valid for the API (the pipeline and conferencing rules)."""
    body: dict[str, Any] = {
        "pal_name": name or f"Surface {i:02d}",
        "system_prompt": "You help.",
        "default_face_id": FACE,
    }
    if pointer == "/pipeline_mode":
        del body["system_prompt"]  # refused in speech-to-speech and echo
    if pointer.startswith("/layers/conferencing/"):
        body["layers"] = {"conferencing": {"username": f"surface-{i:02d}"}}
    set_at(body, pointer, value)
    return body


def api_create(ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    """POST the body to the emulator as any API client would."""
    answer = httpx.post(
        ws.emulator.url + "/v2/pals", json=body, headers={"x-api-key": ws.api_key}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created


def plan_json(ws: Workspace, *args: str) -> dict[str, Any]:
    result = ws.run("plan", "--format", "json", *args)
    assert result.code in (0, 2), result.out + result.err
    plan: dict[str, Any] = json.loads(result.out)
    return plan


def changes(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["key"]: c for c in plan["changes"]}


def assert_clean(ws: Workspace) -> None:
    result = ws.run("plan", "--detailed-exitcode")
    assert result.code == 0, result.out + result.err
    assert "No changes" in result.out


def changing_ops(change: dict[str, Any]) -> list[dict[str, Any]]:
    """The ops that change something, checking that the `test` ops guarding them (DESIGN 14)
    come first in each request."""
    out = []
    for request in (change["ops"], change["conferencing_ops"]):
        kinds = [op["op"] == "test" for op in request]
        assert kinds == sorted(kinds, reverse=True), request
        out += [op for op in request if op["op"] != "test"]
    return out


def test_every_new_field_created_through_the_api_plans_clean_and_changes_alone(
    ws: Workspace,
) -> None:
    for i, (pointer, before, _after) in enumerate(FIELDS):
        body = body_with(i, pointer, before)
        api_create(ws, body)
        ws.write(f"f{i:02d}", body)
    adopt = changes(plan_json(ws))
    for i, (pointer, _before, _after) in enumerate(FIELDS):
        change = adopt[f"f{i:02d}"]
        # adopted by name: nothing to change, whatever the server filled in or shows on reads
        assert change["action"] == "adopt", (pointer, change)
        assert change["fields"] == [] and change["ops"] == [], (pointer, change)
        assert change["conferencing_ops"] == [], (pointer, change)
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert_clean(ws)

    for i, (pointer, _before, after) in enumerate(FIELDS):
        ws.write(f"f{i:02d}", body_with(i, pointer, after))
    planned = changes(plan_json(ws))
    for i, (pointer, before, after) in enumerate(FIELDS):
        change = planned[f"f{i:02d}"]
        assert change["action"] == "update", (pointer, change)
        assert [(f["path"], f["before"], f["after"]) for f in change["fields"]] == [
            (pointer, before, after)
        ], pointer
        where = SHOWN.get(pointer, pointer)
        assert changing_ops(change) == [{"op": "replace", "path": where, "value": after}], pointer
        guards = change["ops"] + change["conferencing_ops"]
        assert {"op": "test", "path": where, "value": before} in guards, (pointer, guards)
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert_clean(ws)
    for i, (pointer, _before, after) in enumerate(FIELDS):
        (pal,) = ws.emulator.store.pals_named(f"Surface {i:02d}")
        assert lookup(pal, SHOWN.get(pointer, pointer)) == after, pointer


def test_each_new_field_added_then_removed_in_a_manifest_is_one_op(ws: Workspace) -> None:
    # the changed values: none of them is a default the server fills in on its own
    cases = [(i, p, v) for i, (p, _, v) in enumerate(FIELDS) if p != "/pipeline_mode"]
    for i, pointer, value in cases:
        ws.write(f"f{i:02d}", without(body_with(i, pointer, value), pointer))
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    for i, pointer, value in cases:
        ws.write(f"f{i:02d}", body_with(i, pointer, value))
    planned = changes(plan_json(ws))
    for i, pointer, value in cases:
        change = planned[f"f{i:02d}"]
        assert [(f["path"], f["after"]) for f in change["fields"]] == [(pointer, value)], pointer
        (op,) = changing_ops(change)
        # `replace` where the server filled a default in on its own (tts_emotion_control)
        assert op["op"] in ("add", "replace") and op["path"] == pointer, (pointer, op)
        assert op["value"] == value, pointer
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert_clean(ws)

    for i, pointer, value in cases:
        ws.write(f"f{i:02d}", without(body_with(i, pointer, value), pointer))
    planned = changes(plan_json(ws))
    for i, pointer, value in cases:
        change = planned[f"f{i:02d}"]
        assert [(f["path"], f["before"]) for f in change["fields"]] == [(pointer, value)]
        assert changing_ops(change) == [{"op": "remove", "path": SHOWN.get(pointer, pointer)}], (
            pointer
        )
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert_clean(ws)


def test_a_field_no_version_knows_is_warned_shown_sent_and_kept(ws: Workspace) -> None:
    body = {
        "pal_name": "Future",
        "system_prompt": "You help.",
        "default_face_id": FACE,
        "layers": {"llm": {"future_knob": 3}},
    }
    ws.write("future", body)
    checked = ws.run("validate")
    assert checked.code == 0, checked.out + checked.err
    assert (
        "pals/future.yaml:6:5: warning: layers.llm.future_knob: not known to pal-sync 0.1; "
        "sent as written"
    ) in checked.out

    strict = ws.run("validate", "--strict")
    assert strict.code == 1
    assert (
        "pals/future.yaml:6:5: error: layers.llm.future_knob: not known to pal-sync 0.1; sent "
        "as written (an error under --strict)"
    ) in strict.out
    assert "Traceback" not in strict.out + strict.err

    shown = ws.run("plan")
    assert shown.code == 0, shown.out + shown.err
    assert "layers.llm.future_knob" in shown.out
    created = changes(plan_json(ws))["future"]
    assert created["action"] == "create"
    assert {"path": "/layers/llm/future_knob", "before": None, "after": 3} in created["fields"]

    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    (pal,) = ws.emulator.store.pals_named("Future")
    assert pal["layers"]["llm"]["future_knob"] == 3  # sent as written
    assert_clean(ws)

    # compared and patched like a known field: a change is one op, a dashboard edit is drift
    body["layers"]["llm"]["future_knob"] = 4
    ws.write("future", body)
    change = changes(plan_json(ws))["future"]
    assert changing_ops(change) == [
        {"op": "replace", "path": "/layers/llm/future_knob", "value": 4}
    ]
    assert ws.run("apply", "--auto-approve").code == 0
    assert_clean(ws)
    (pal,) = ws.emulator.store.pals_named("Future")
    pal_id = pal.pop("pal_id")
    pal["layers"]["llm"]["future_knob"] = 5
    ws.emulator.store.edit(pal_id, pal)
    drift = changes(plan_json(ws))["future"]
    assert drift["direction"] == "drift"
    assert [(f["path"], f["before"], f["after"]) for f in drift["fields"]] == [
        ("/layers/llm/future_knob", 5, 4)
    ]


def test_strict_plan_and_apply_refuse_unknown_keys_before_any_request(ws: Workspace) -> None:
    ws.write(
        "future",
        {
            "pal_name": "Future",
            "system_prompt": "You help.",
            "default_face_id": FACE,
            "future_top_level": True,
        },
    )
    assert ws.run("plan").code == 0  # a warning (and the file is now in the manifest cache)
    for command in (("plan", "--strict"), ("apply", "--strict", "--auto-approve")):
        result = ws.run(*command)
        assert result.code == 1, (command, result.out + result.err)
        assert "future_top_level: not known to pal-sync" in result.out + result.err, command
        assert "Traceback" not in result.out + result.err
    assert ws.emulator.store.pals_named("Future") == []


def test_unknown_objects_compare_whole_and_unknown_layers_member_by_member(
    ws: Workspace,
) -> None:
    body = {
        "pal_name": "Objects",
        "system_prompt": "You help.",
        "default_face_id": FACE,
        "future_settings": {"a": 1, "b": {"c": [1, 2]}},
        "layers": {
            "llm": {"future_obj": {"x": 1, "y": 2}},
            "holograms": {"depth": 3, "colour": "blue"},
        },
    }
    ws.write("objects", body)
    assert ws.run("apply", "--auto-approve").code == 0
    assert_clean(ws)
    body["future_settings"]["b"]["c"] = [1, 2, 3]
    body["layers"]["llm"]["future_obj"].pop("y")
    body["layers"]["holograms"]["depth"] = 4
    ws.write("objects", body)
    change = changes(plan_json(ws))["objects"]
    assert [f["path"] for f in change["fields"]] == [
        "/future_settings",
        "/layers/holograms/depth",
        "/layers/llm/future_obj",
    ]
    assert sorted(changing_ops(change), key=lambda op: op["path"]) == [
        {"op": "replace", "path": "/future_settings", "value": {"a": 1, "b": {"c": [1, 2, 3]}}},
        {"op": "replace", "path": "/layers/holograms/depth", "value": 4},
        {"op": "replace", "path": "/layers/llm/future_obj", "value": {"x": 1}},
    ]
    assert ws.run("apply", "--auto-approve").code == 0
    (pal,) = ws.emulator.store.pals_named("Objects")
    assert pal["layers"]["llm"]["future_obj"] == {"x": 1}
    assert pal["future_settings"] == {"a": 1, "b": {"c": [1, 2, 3]}}
    assert_clean(ws)


@pytest.mark.parametrize("live", INTERRUPTIBILITY)
def test_interruptibility_is_one_field_in_any_spelling_on_either_side(
    ws: Workspace, live: str
) -> None:
    ws.emulator.store.interruptibility = live  # the spelling the server's reads show
    for i, written in enumerate(INTERRUPTIBILITY):
        for j, created in enumerate(INTERRUPTIBILITY):
            name = f"Spell {i}{j}"
            api_create(ws, body_with(0, f"/layers/conversational_flow/{created}", "low", name))
            ws.write(
                f"s{i}{j}", body_with(0, f"/layers/conversational_flow/{written}", "low", name)
            )
    adopt = changes(plan_json(ws))
    assert len(adopt) == 9 and {c["action"] for c in adopt.values()} == {"adopt"}
    assert all(c["fields"] == [] and c["ops"] == [] for c in adopt.values()), adopt
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert_clean(ws)

    for i, written in enumerate(INTERRUPTIBILITY):
        for j in range(3):
            name = f"Spell {i}{j}"
            ws.write(
                f"s{i}{j}", body_with(0, f"/layers/conversational_flow/{written}", "high", name)
            )
    where = f"/layers/conversational_flow/{live}"
    for key, change in changes(plan_json(ws)).items():
        assert [(f["path"], f["before"], f["after"]) for f in change["fields"]] == [
            ("/layers/conversational_flow/face_interruptibility", "low", "high")
        ], key
        # replaced (and tested) where the server showed it: the path exists as read
        assert changing_ops(change) == [{"op": "replace", "path": where, "value": "high"}], key
        assert {"op": "test", "path": where, "value": "low"} in change["ops"], key
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert_clean(ws)
    store = ws.emulator.store
    shown = [
        store.render(pal["pal_id"])["layers"]["conversational_flow"] for pal in store.user_pals()
    ]
    assert [flow[live] for flow in shown] == ["high"] * 9


def test_interruptibility_added_live_uses_the_spelling_tavus_cli_sends(ws: Workspace) -> None:
    ws.write("a", body_with(1, "/greeting", "Hi"))
    assert ws.run("apply", "--auto-approve").code == 0
    body = body_with(1, "/layers/conversational_flow/pal_interruptibility", "high")
    body["greeting"] = "Hi"
    ws.write("a", body)
    change = changes(plan_json(ws))["a"]
    assert changing_ops(change) == [
        {
            "op": "add",
            "path": "/layers/conversational_flow",
            "value": {"face_interruptibility": "high"},
        }
    ]
    assert ws.run("apply", "--auto-approve").code == 0
    assert_clean(ws)


def test_read_only_extras_are_never_compared_sent_or_accepted(ws: Workspace) -> None:
    body = body_with(1, "/greeting", "Hi")
    created = api_create(ws, body)
    read = httpx.get(
        f"{ws.emulator.url}/v2/pals/{created['pal_id']}",
        headers={"x-api-key": ws.api_key},
        timeout=10,
    ).json()["data"][0]
    assert all(name in read for name in READ_ONLY_EXTRAS)  # returned on reads, as by Tavus
    ws.write("a", body)
    change = changes(plan_json(ws))["a"]
    assert change["action"] == "adopt" and change["fields"] == [] and change["ops"] == []
    assert ws.run("apply", "--auto-approve").code == 0
    assert_clean(ws)
    body["greeting"] = "Hello"
    ws.write("a", body)
    change = changes(plan_json(ws))["a"]
    assert [op["path"] for op in change["ops"]] == ["/greeting", "/greeting"]

    ws.write("a", {**body, **{name: read[name] for name in READ_ONLY_EXTRAS}})
    checked = ws.run("validate")
    assert checked.code == 1
    for name in READ_ONLY_EXTRAS:
        assert f"error: {name}: read-only field set by the server; remove it" in checked.out


def test_same_named_manifests_are_an_error_unless_pinned_by_id(ws: Workspace) -> None:
    body = {"pal_name": "Twin", "system_prompt": "You help.", "default_face_id": FACE}
    ws.write("twin", body)
    ws.write("twin-2", body)
    checked = ws.run("validate")
    assert checked.code == 1
    assert "pals/twin-2.yaml:1:11: error: pal_name: 'Twin' is also used by pals/twin.yaml" in (
        checked.out
    )
    ws.write("twin-2", {**body, "x-palsync": {"pal_id": "p0123456789a"}})
    checked = ws.run("validate")
    assert checked.code == 0, checked.out  # told apart by the pin, as import writes them


# ------------------------------------------------------------------ the pure core, unit by unit


@pytest.mark.parametrize("shown", [(s,) for s in INTERRUPTIBILITY] + [INTERRUPTIBILITY])
def test_live_interruptibility_in_any_spelling_is_the_canonical_field(
    shown: tuple[str, ...],
) -> None:
    from palsync.canonical import normalise_live

    flow = {name: "low" for name in shown} | {"turn_taking_patience": "high"}
    live = normalise_live({"pal_id": "p1", "uuid": "u", "layers": {"conversational_flow": flow}})
    assert live == {
        "layers": {
            "conversational_flow": {"face_interruptibility": "low", "turn_taking_patience": "high"}
        }
    }


def test_unknown_objects_are_leaves_and_layers_are_walked() -> None:
    from palsync.canonical import desired_form

    flat, secrets = desired_form(
        {
            "future": {"a": {"b": 1}},
            "visual_disclosure": {"badge": True},
            "layers": {
                "llm": {"future_obj": {"x": 1}, "headers": {"X-Key": "k"}, "model": "m"},
                "holograms": {"depth": 3, "nested": {"n": 1}},
                "tts": {"voice_settings": {"speed": 1, "engine_knob": {"q": 2}}},
            },
        }
    )
    assert flat == {
        "/future": {"a": {"b": 1}},
        "/visual_disclosure": {"badge": True},
        "/layers/llm/future_obj": {"x": 1},
        "/layers/llm/model": "m",
        "/layers/holograms/depth": 3,
        "/layers/holograms/nested": {"n": 1},
        "/layers/tts/voice_settings/speed": 1,
        "/layers/tts/voice_settings/engine_knob": {"q": 2},
    }
    assert secrets == {"/layers/llm/headers/X-Key": "k"}


def test_ops_go_where_the_server_shows_the_field_and_objects_holding_it_are_not_tested() -> None:
    from palsync.diff import guard_ops

    seen = {"layers": {"conversational_flow": {"replica_interruptibility": "low"}}}
    ops = [
        {"op": "replace", "path": FLOW + "face_interruptibility", "value": "high"},
        {"op": "add", "path": FLOW + "wake_phrase", "value": "hey"},
    ]
    assert guard_ops(seen, ops) == [
        {"op": "test", "path": FLOW + "replica_interruptibility", "value": "low"},
        {"op": "replace", "path": FLOW + "replica_interruptibility", "value": "high"},
        {"op": "add", "path": FLOW + "wake_phrase", "value": "hey"},
    ]
    absent = {"layers": {"conversational_flow": {"wake_phrase": "hi"}}}
    add = [{"op": "add", "path": FLOW + "face_interruptibility", "value": "high"}]
    assert guard_ops(absent, add) == [
        {"op": "test", "path": FLOW.rstrip("/"), "value": {"wake_phrase": "hi"}},
        *add,
    ]


def test_an_ignore_pointer_may_name_any_spelling() -> None:
    from palsync.canonical import desired_form, project_live

    body = {"layers": {"conversational_flow": {"face_interruptibility": "low", "wake_phrase": "w"}}}
    for spelling in INTERRUPTIBILITY:
        ignore = [FLOW + spelling]
        flat, _ = desired_form(body, ignore)
        assert flat == {FLOW + "wake_phrase": "w"}, spelling
        assert project_live(body, [FLOW + "face_interruptibility"], ignore) == {}, spelling


def test_every_new_field_created_through_the_api_imports_back_and_plans_clean(
    ws: Workspace,
) -> None:
    """Import is lossless for every 11a field: the manifest it writes holds the value the PAL
    was created with, it validates, and the plan right after the import is clean."""
    import yaml

    for i, (pointer, before, _after) in enumerate(FIELDS):
        api_create(ws, body_with(i, pointer, before))
    result = ws.run("import", "--all")
    assert result.code == 0, result.out + result.err
    by_name = {}
    for path in ws.pals.glob("*.yaml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        by_name[doc["pal_name"]] = doc
    for i, (pointer, before, _after) in enumerate(FIELDS):
        doc = by_name[f"Surface {i:02d}"]
        # interruptibility comes back in the canonical spelling, whichever the server showed
        assert lookup(doc, pointer) == before, (pointer, doc)
    assert ws.run("validate").code == 0
    assert_clean(ws)
