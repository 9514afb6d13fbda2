"""Issue 11, items 5 and 6: the PAL surface as Tavus ships it today (tavus-api.md 11a, 11b).

The emulator over loopback HTTP (no client) for what the server does, then the client against
it (and against hand-written answers) for what pal-sync does with those answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from palsync.api import MASKED_SECRET, TavusClient, masked_secrets
from palsync.emulator import Emulator, FaultRule
from palsync.errors import ApiError, NotFound
from tests.workflow import Workspace, pal_body

FACE = "r90bbd427f71"
STOCK_FACES = {"r90bbd427f71", "rfe12d8b9597", "r8495a788aa1", "rbb3d627a705", "r5f0577fc829"}
USER_FACES = {"rf4e9d9790f0", "r5dc7c7d0bcb"}
READ_ONLY_EXTRAS = {
    "uuid",
    "owner_id",
    "session_id",
    "is_draft",
    "source_template_id",
    "registration_id",
    "pal_settings_id",
    "is_published",
}

#: every field of tavus-api.md 11a, with a value of its documented type
SURFACE: dict[str, Any] = {
    "tool_ids": ["t457be0aac29c", "end_call"],
    "memories": ["Prefers email.", "Lives in Lisbon."],
    "verbal_disclosure": "I am an AI assistant.",
    "visual_disclosure": {"badge": "AI", "position": "top-left"},
    "persona_description": "A friendly concierge.",
    "disclosure_type": "always",
    "guardrail_tags": [f"tag-{i}" for i in range(50)],
    "languages": ["en", "pt"],
    "layers": {
        "llm": {
            "model": "tavus-gpt-oss",
            "default_query": {"api-version": "2024-06-01"},
            "disable_vision": True,
            "enable_llm_proxy": False,
            "model_name": "my-model",
            "is_custom": True,
            "endpoint": "https://llm.example.com/v1",
            "extra_body": {"temperature": 0.2},
        },
        "tts": {
            "tts_engine": "cartesia",
            "tts_model_name": "sonic-3",
            "pronunciation_dictionary_id": "pd_abc123def456",
            "playht_user_id": "u1",
            "tts_emotion_control": False,
            "external_voice_id": "voice-1",
            "voice_settings": {"speed": 0.2, "volume": 0.8, "engine_knob": "x"},
        },
        "stt": {"hotwords": "Tavus, pal-sync", "smart_turn_detection": True},
        "perception": {
            "perception_model": "raven-1",
            "tool_prompt": "Use tools wisely.",
            "perception_tool_prompt": "Legacy prompt.",
            "ambient_awareness_queries": ["Is anyone else in the room?"],
        },
        "conversational_flow": {
            "face_interruptibility": "high",
            "wake_phrase": "hey pal",
            "sleep_phrase": "goodbye pal",
            "noise_cancellation": "on",
            "voice_isolation": "near",
            "idle_engagement": "off",
        },
        "conferencing": {"username": "surface-bot", "whitelabel": True},
        "capabilities": {
            "mcp_enabled": True,
            "search_enabled": False,
            "activity_log_enabled": True,
            "search_results_prompt_injection_prevention_enabled": True,
        },
        "knowledge_base": {
            "rag_score_threshold": 0.35,
            "rag_n_chunks": 4,
            "rag_surrounding_chunk_radius": 1,
            "enable_rag_observability_app_messages": False,
            "use_procedure_goalchain": True,
        },
        "sts": {"model": "sts-1", "anything": {"nested": [1, 2]}},
        "transport": {"transport_type": "livekit", "room_prefix": "pal-"},
    },
}


@pytest.fixture
def http(emulator: Emulator, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, headers={"x-api-key": api_key}) as client:
        yield client


def create(http: httpx.Client, route: str = "pals", **fields: Any) -> str:
    body = {"pal_name": "S", "system_prompt": "hi", "default_face_id": FACE, **fields}
    response = http.post(f"/v2/{route}", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    return str(answer.get("pal_id") or answer["persona_id"])


def get(http: httpx.Client, pal_id: str, route: str = "pals") -> dict[str, Any]:
    response = http.get(f"/v2/{route}/{pal_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"][0])


def patch(http: httpx.Client, pal_id: str, ops: list[dict[str, Any]], route: str = "pals") -> Any:
    return http.patch(f"/v2/{route}/{pal_id}", json=ops)


def real(emulator: Emulator, api_key: str, **kw: Any) -> TavusClient:
    kw.setdefault("backoff_base", 0.001)
    return TavusClient(emulator.url, api_key, **kw)


# ----------------------------------------------------------------------- item 6: the emulator


def test_every_11a_field_is_accepted_and_returned(http: httpx.Client) -> None:
    pal_id = create(http, **SURFACE)
    pal = get(http, pal_id)
    for key in SURFACE:
        if key != "layers":
            assert pal[key] == SURFACE[key], key
    layers = pal["layers"]
    for name, section in SURFACE["layers"].items():
        for key, value in section.items():
            if name == "conversational_flow" and key == "face_interruptibility":
                continue  # one field in three spellings: below
            if name == "tts" and key == "voice_settings":
                assert layers[name][key] == {**value, "pronunciation_dict_id": "pd_abc123def456"}
                continue
            assert layers[name][key] == value, f"layers.{name}.{key}"
    assert layers["conversational_flow"]["pal_interruptibility"] == "high"
    assert "face_interruptibility" not in layers["conversational_flow"]


def test_server_defaults_on_create(http: httpx.Client) -> None:
    plain = get(http, create(http))
    assert plain["pipeline_mode"] == "full"
    assert plain["layers"]["llm"] == {"model": "tavus-gemma-4", "speculative_inference": True}
    custom = get(http, create(http, layers={"llm": {"base_url": "https://x.example/v1"}}))
    assert "model" not in custom["layers"]["llm"], "a custom LLM gets no hosted model"
    assert custom["layers"]["llm"]["speculative_inference"] is True
    chosen = get(http, create(http, layers={"llm": {"model": "tavus-gpt-oss"}}))
    assert chosen["layers"]["llm"]["model"] == "tavus-gpt-oss"
    flow = get(http, create(http, layers={"conversational_flow": {"wake_phrase": "hi"}}))
    assert flow["layers"]["conversational_flow"] == {
        "wake_phrase": "hi",
        "turn_detection_model": "sparrow-1",
        "turn_taking_patience": "medium",
        "pal_interruptibility": "medium",
    }
    echo = http.post("/v2/pals", json={"pipeline_mode": "echo", "default_face_id": FACE})
    assert "layers" not in get(http, echo.json()["pal_id"]), "no LLM default without an LLM"
    # a patch is not a create: removing the LLM layer leaves it removed
    pal_id = create(http)
    assert patch(http, pal_id, [{"op": "remove", "path": "/layers/llm"}]).status_code == 200
    assert get(http, pal_id)["layers"] == {}


@pytest.mark.parametrize("mode", ["echo", "speech-to-speech"])
def test_modes_without_a_prompt_refuse_system_prompt_and_context(
    http: httpx.Client, mode: str
) -> None:
    base = {"pipeline_mode": mode, "default_face_id": FACE}
    for extra in ({"system_prompt": "hi"}, {"context": "ctx"}):
        refused = http.post("/v2/pals", json={**base, **extra})
        assert refused.status_code == 400 and mode in refused.json()["error"]
    ok = http.post("/v2/pals", json={**base, "layers": {"sts": {"voice": "v"}}})
    assert ok.status_code == 200
    pal_id = ok.json()["pal_id"]
    assert get(http, pal_id)["pipeline_mode"] == mode
    # switching a full PAL to this mode must drop the prompt in the same patch
    full = create(http)
    to_mode = [{"op": "replace", "path": "/pipeline_mode", "value": mode}]
    assert patch(http, full, to_mode).status_code == 400
    with_removal = [*to_mode, {"op": "remove", "path": "/system_prompt"}]
    assert patch(http, full, with_removal).status_code == 200


def test_read_only_extras_on_every_read_refused_on_writes(http: httpx.Client) -> None:
    pal_id = create(http)
    pal = get(http, pal_id)
    assert set(pal) >= READ_ONLY_EXTRAS
    assert isinstance(pal["owner_id"], int) and pal["is_published"] is True
    assert pal["is_draft"] is False and isinstance(pal["uuid"], str)
    assert get(http, pal_id) == pal, "stable between reads"
    listed = http.get("/v2/pals", params={"pal_type": "user"}).json()["data"]
    assert set(listed[0]) >= READ_ONLY_EXTRAS
    assert set(get(http, pal_id, "personas")) >= READ_ONLY_EXTRAS
    for key in sorted(READ_ONLY_EXTRAS):
        created = http.post(
            "/v2/pals",
            json={"system_prompt": "x", "default_face_id": FACE, key: pal[key]},
        )
        assert created.status_code == 400 and "read-only" in created.json()["error"], key
        for op in ("add", "replace", "test"):
            answer = patch(http, pal_id, [{"op": op, "path": f"/{key}", "value": pal[key]}])
            assert answer.status_code == 400 and "read-only" in answer.json()["error"], (key, op)


@pytest.mark.parametrize(
    "spelling", ["face_interruptibility", "pal_interruptibility", "replica_interruptibility"]
)
def test_interruptibility_is_one_field_in_three_spellings(
    http: httpx.Client, emulator: Emulator, spelling: str
) -> None:
    pal_id = create(http, layers={"conversational_flow": {spelling: "low"}})
    flow = get(http, pal_id)["layers"]["conversational_flow"]
    assert flow["pal_interruptibility"] == "low"
    assert not {"face_interruptibility", "replica_interruptibility"} & set(flow)
    legacy_flow = get(http, pal_id, "personas")["layers"]["conversational_flow"]
    assert legacy_flow["replica_interruptibility"] == "low" and "pal_interruptibility" not in (
        legacy_flow
    )
    # a patch path in any spelling, on either route, reaches the one stored field
    for route, other in (
        ("pals", "face_interruptibility"),
        ("pals", "replica_interruptibility"),
        ("personas", "pal_interruptibility"),
        ("personas", "face_interruptibility"),
    ):
        path = f"/layers/conversational_flow/{other}"
        tested = [{"op": "test", "path": path, "value": "low"}]
        replaced = [{"op": "replace", "path": path, "value": "high"}]
        assert patch(http, pal_id, tested + replaced, route).status_code == 200, (route, other)
        flow = get(http, pal_id)["layers"]["conversational_flow"]
        assert flow["pal_interruptibility"] == "high" and len(flow) == 3
        back = [{"op": "replace", "path": path, "value": "low"}]
        assert patch(http, pal_id, back, route).status_code == 200
    same = [{"op": "replace", "path": f"/layers/conversational_flow/{spelling}", "value": "low"}]
    assert patch(http, pal_id, same).status_code == 304
    # the spelling /v2/pals reads show is a server setting
    emulator.set_options(interruptibility="face_interruptibility")
    shown = get(http, pal_id)["layers"]["conversational_flow"]
    assert shown["face_interruptibility"] == "low" and "pal_interruptibility" not in shown


def test_two_spellings_agreeing_are_one_value_disagreeing_are_refused(http: httpx.Client) -> None:
    both = {"pal_interruptibility": "low", "face_interruptibility": "low"}
    pal_id = create(http, layers={"conversational_flow": both})
    assert get(http, pal_id)["layers"]["conversational_flow"]["pal_interruptibility"] == "low"
    clash = {"pal_interruptibility": "low", "replica_interruptibility": "high"}
    refused = http.post(
        "/v2/pals",
        json={
            "system_prompt": "x",
            "default_face_id": FACE,
            "layers": {"conversational_flow": clash},
        },
    )
    assert refused.status_code == 400 and "Conflicting" in refused.json()["error"]


def test_individual_guardrails_page_from_zero_sets_from_one(
    http: httpx.Client, emulator: Emulator
) -> None:
    first = http.get("/v2/guardrails", params={"legacy": "false", "page": 0}).json()
    assert {g["uuid"] for g in first["data"]} == {"g1234567890ab", "g0a1b2c3d4e5f"}
    default = http.get("/v2/guardrails", params={"legacy": "false"}).json()
    assert default["data"] == first["data"], "page defaults to 0"
    second = http.get("/v2/guardrails", params={"legacy": "false", "page": 1})
    assert second.status_code == 200, "page 1 is answered (the second page), not refused"
    assert second.json() == {"data": [], "total_count": 2}
    sets = http.get("/v2/guardrails", params={"page": 1}).json()["data"]
    assert [s["guardrails_id"] for s in sets] == ["g12345"], "sets still page from 1"


def test_stock_faces_only_with_the_query_that_returns_them(http: httpx.Client) -> None:
    def ids(**params: str) -> set[str]:
        answer = http.get("/v2/faces", params={"limit": 100, **params})
        assert answer.status_code == 200
        return {f["face_id"] for f in answer.json()["data"]}

    assert ids() == USER_FACES, "the list is the faces created by the account"
    assert ids(face_type="user") == USER_FACES
    assert ids(face_type="system") == STOCK_FACES
    assert ids(verbose="true") == USER_FACES | STOCK_FACES
    assert ids(replica_type="system") == STOCK_FACES
    stock = http.get(f"/v2/faces/{FACE}")
    assert stock.status_code == 200 and stock.json()["face_type"] == "system"
    create(http)  # and a stock face is a valid default_face_id


def test_patch_of_an_unknown_pal_is_400_invalid_persona_id(http: httpx.Client) -> None:
    ops = [{"op": "replace", "path": "/pal_name", "value": "x"}]
    for route in ("pals", "personas"):
        answer = patch(http, "p000000000000", ops, route)
        assert answer.status_code == 400 and answer.json() == {"error": "Invalid persona_id"}
    assert http.delete("/v2/personas/p000000000000").status_code == 400
    assert http.delete("/v2/pals/p000000000000").status_code == 404


def test_patch_answers_can_be_empty(http: httpx.Client, emulator: Emulator) -> None:
    pal_id = create(http)
    emulator.set_options(empty_patch_answers=True)
    answer = patch(http, pal_id, [{"op": "replace", "path": "/pal_name", "value": "E"}])
    assert answer.status_code == 200 and answer.content == b""
    assert get(http, pal_id)["pal_name"] == "E"


def test_options_over_http_and_reset_keeps_them(
    http: httpx.Client, emulator: Emulator, api_key: str
) -> None:
    assert http.post("/_emulator/options", json={"unknown_fields": "reject"}).status_code == 204
    assert http.post("/_emulator/options", json={"unknown_fields": "maybe"}).status_code == 400
    assert http.post("/_emulator/options", json={"nope": 1}).status_code == 400
    assert http.post("/_emulator/reset").status_code == 204
    body = {"system_prompt": "x", "default_face_id": FACE, "future": 1}
    assert http.post("/v2/pals", json=body).status_code == 400
    assert http.post("/_emulator/options", json={"unknown_fields": "accept"}).status_code == 204
    assert http.post("/v2/pals", json=body).status_code == 200
    with pytest.raises(ValueError, match="unknown_fields"):
        Emulator(unknown_fields="sometimes")


def test_cli_flags_reach_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    from palsync.cli import emulator as command_module

    made: list[dict[str, Any]] = []

    class Stub:
        def __init__(self, **kw: Any) -> None:
            made.append(kw)
            raise ValueError("stop here")

    monkeypatch.setattr("palsync.emulator.Emulator", Stub)
    result = CliRunner().invoke(
        command_module.command,
        ["--unknown-fields", "reject", "--interruptibility", "face_interruptibility"],
    )
    assert result.exit_code != 0
    assert made == [
        {
            "state_file": None,
            "api_key": None,
            "latency": 0.0,
            "unknown_fields": "reject",
            "interruptibility": "face_interruptibility",
        }
    ]
    bad = CliRunner().invoke(command_module.command, ["--unknown-fields", "maybe"])
    assert bad.exit_code == 2 and "maybe" in bad.output


# ----------------------------------------------------------------------- item 5: the client


def test_client_sees_stock_and_account_faces(emulator: Emulator, api_key: str) -> None:
    with real(emulator, api_key) as client:
        faces = {f["face_id"] for f in client.list_faces()}
    assert faces == USER_FACES | STOCK_FACES
    assert emulator.request_counts()["GET /v2/faces"] == 1, "verbose=true brought the stock ones"


def test_client_asks_for_system_faces_when_verbose_does_not_show_them() -> None:
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        if params.get("page") not in ("1", None):
            return httpx.Response(200, json={"data": [], "total_count": 1})
        if params.get("face_type") == "system":
            face = {"face_id": FACE, "face_type": "system"}
        else:
            face = {"face_id": "rmine0000000", "face_type": "user"}
        return httpx.Response(200, json={"data": [face], "total_count": 1})

    with TavusClient("https://api.test", "k", transport=httpx.MockTransport(handler)) as client:
        faces = {f["face_id"] for f in client.list_faces()}
    assert faces == {"rmine0000000", FACE}
    assert any(p.get("face_type") == "system" for p in asked)


def test_client_faces_from_a_server_without_the_face_type_filter() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("face_type"):
            return httpx.Response(400, json={"error": "Invalid face_type"})
        page = request.url.params.get("page")
        data = [{"face_id": "rmine0000000"}] if page == "1" else []
        return httpx.Response(200, json={"data": data, "total_count": 1})

    with TavusClient("https://api.test", "k", transport=httpx.MockTransport(handler)) as client:
        assert [f["face_id"] for f in client.list_faces()] == ["rmine0000000"]


def test_client_lists_individual_guardrails_from_a_zero_based_server(
    emulator: Emulator, api_key: str
) -> None:
    for i in range(150):
        emulator.store.guardrails[f"g{i:012x}"] = {"uuid": f"g{i:012x}", "guardrail_name": f"r{i}"}
    expected = set(emulator.store.guardrails) | set(emulator.store.guardrail_sets)
    with real(emulator, api_key) as client:
        assert {g.get("uuid") or g.get("guardrails_id") for g in client.list_guardrails()} == (
            expected
        )
    # without total_count, an empty or short page 1 still is not taken for the end
    emulator.faults.add(FaultRule("total_count", path="/v2/guardrails"))
    with real(emulator, api_key) as client:
        listed = client.list_guardrails()
    assert {g.get("uuid") or g.get("guardrails_id") for g in listed} == expected
    assert len(listed) == len(expected), "each once"


def test_client_small_account_guardrails_behind_an_empty_page_one(
    emulator: Emulator, api_key: str
) -> None:
    emulator.faults.add(FaultRule("total_count", path="/v2/guardrails"))
    with real(emulator, api_key) as client:
        uuids = {g.get("uuid") for g in client.list_guardrails()}
    assert {"g1234567890ab", "g0a1b2c3d4e5f"} <= uuids


def test_client_invalid_persona_id_is_not_found(emulator: Emulator, api_key: str) -> None:
    ops = [{"op": "replace", "path": "/pal_name", "value": "x"}]
    with real(emulator, api_key) as client:
        with pytest.raises(NotFound) as info:
            client.patch_pal("p000000000000", ops)
        assert info.value.status == 400
        assert client.get_pal("p000000000000") is None
        assert client.delete_pal("p000000000000") is False


def test_client_patch_200_without_a_body_is_success(emulator: Emulator, api_key: str) -> None:
    emulator.set_options(empty_patch_answers=True)
    with real(emulator, api_key) as client:
        pal_id = client.create_pal(
            {"pal_name": "A", "system_prompt": "x", "default_face_id": FACE}
        )["pal_id"]
        result = client.patch_pal(pal_id, [{"op": "replace", "path": "/pal_name", "value": "B"}])
    assert result.changed and result.status == 200 and result.body is None


def test_apply_converges_when_patch_answers_are_empty(ws: Workspace) -> None:
    ws.emulator.set_options(empty_patch_answers=True)
    ws.write("a", pal_body(1, context="one"))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("a", pal_body(1, context="two"))
    result = ws.run("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert ws.emulator.store.user_pals()[0]["context"] == "two"
    assert ws.run("plan", "--detailed-exitcode").code == 0


def test_plan_sees_a_stock_default_face_and_blocks_an_unknown_one(ws: Workspace) -> None:
    ws.write("stock", pal_body(1, default_face_id=FACE))
    ws.write("mine", pal_body(2, default_face_id="rf4e9d9790f0"))
    ws.write("ghost", pal_body(3, default_face_id="r000000000000"))
    plan = ws.run("plan", "--format", "json")
    actions = {c["key"]: c["action"] for c in json.loads(plan.out)["changes"]}
    assert actions == {"stock": "create", "mine": "create", "ghost": "blocked"}


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("/layers/llm/api_key", MASKED_SECRET),
        ("/layers/tts/api_key", MASKED_SECRET),
        ("/layers/llm/headers/Authorization", MASKED_SECRET),
        ("/layers/llm", {"model": "m", "api_key": MASKED_SECRET}),
        ("/layers", {"llm": {"headers": {"X-Key": MASKED_SECRET}}}),
        ("/future/delivery/api/auth/token", MASKED_SECRET),
        ("/layers/new/client_secret", MASKED_SECRET),
    ],
)
def test_the_secret_mask_is_never_sent_back(
    emulator: Emulator, api_key: str, pointer: str, value: Any
) -> None:
    with real(emulator, api_key) as client:
        pal_id = client.create_pal(
            {"pal_name": "M", "system_prompt": "x", "default_face_id": FACE}
        )["pal_id"]
        before = emulator.request_counts()
        for op in ("add", "replace"):
            with pytest.raises(ApiError, match="mask") as info:
                client.patch_pal(pal_id, [{"op": op, "path": pointer, "value": value}])
            assert info.value.status is None and "(sensitive)" not in info.value.message
        body: dict[str, Any] = {"pal_name": "N", "system_prompt": "x", "default_face_id": FACE}
        target = body
        tokens = pointer.split("/")[1:]
        for token in tokens[:-1]:
            target = target.setdefault(token, {})
        target[tokens[-1]] = value
        with pytest.raises(ApiError, match="mask"):
            client.create_pal(body)
    assert emulator.request_counts() == before, "nothing was sent"


def test_the_mask_elsewhere_and_in_test_ops_is_sent() -> None:
    assert masked_secrets({"system_prompt": MASKED_SECRET, "layers": {"llm": {"model": "m"}}}) == []
    assert masked_secrets({"layers": {"llm": {"api_key": "${KEY}"}}}) == []
    assert masked_secrets([{"auth": {"token": MASKED_SECRET}}], "/x") == ["/x/0/auth/token"]
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(304)

    with TavusClient("https://api.test", "k", transport=httpx.MockTransport(handler)) as client:
        ops = [
            {"op": "test", "path": "/layers/llm/api_key", "value": MASKED_SECRET},
            {"op": "replace", "path": "/system_prompt", "value": MASKED_SECRET},
        ]
        assert client.patch_pal("p1", ops).changed is False
    assert sent == [ops]


# ------------------------------------------------------- the minimal tools registry (11b, 11c)


def test_tools_registry_masks_secrets_and_stores_a_mask_sent_back(
    http: httpx.Client, emulator: Emulator
) -> None:
    user = http.get("/v2/tools").json()["data"]
    assert [t["tool_id"] for t in user] == ["t457be0aac29c"]
    assert user[0]["delivery"]["api"]["auth"]["token"] == MASKED_SECRET
    system = http.get("/v2/tools", params={"type": "system"}).json()["data"]
    assert [t["tool_id"] for t in system] == ["end_call"]
    assert len(http.get("/v2/tools", params={"type": "all"}).json()["data"]) == 2
    one = http.get("/v2/tools/t457be0aac29c").json()
    assert one["delivery"]["api"]["auth"]["token"] == MASKED_SECRET
    # omitting the secret keeps it
    kept = http.patch("/v2/tools/t457be0aac29c", json={"description": "Orders."})
    assert kept.status_code == 200
    assert emulator.store.tools["t457be0aac29c"]["delivery"]["api"]["auth"]["token"] == (
        "tool-token-seeded"
    )
    # sending the read back replaces the secret with the asterisks (the documented trap)
    trap = http.patch("/v2/tools/t457be0aac29c", json={"delivery": one["delivery"]})
    assert trap.status_code == 200
    stored = emulator.store.tools["t457be0aac29c"]["delivery"]["api"]["auth"]["token"]
    assert stored == MASKED_SECRET


def test_tools_registry_writes(http: httpx.Client, emulator: Emulator, tmp_path: Path) -> None:
    bad = [
        {"name": "1bad", "description": "x"},
        {"name": "order_lookup", "description": "taken"},
        {"name": "ok_name", "description": ""},
        {"name": "ok_name", "description": "x", "delivery": {"app_message": False}},
    ]
    for body in bad:
        assert http.post("/v2/tools", json=body).status_code == 400, body
    auth = {"type": "basic", "username": "u", "password": "pw-secret-1"}
    created = http.post(
        "/v2/tools",
        json={
            "name": "notify",
            "description": "Notify.",
            "delivery": {"api": {"url": "https://x.example", "method": "POST", "auth": auth}},
        },
    )
    assert created.status_code == 200
    tool = created.json()
    assert tool["tool_id"].startswith("t") and tool["is_system_tool"] is False
    assert tool["delivery"]["api"]["auth"]["password"] == MASKED_SECRET
    pal_id = create(http, tool_ids=[tool["tool_id"], "end_call"])
    assert http.delete("/v2/tools/end_call").status_code == 400
    assert http.patch("/v2/tools/end_call", json={"description": "y"}).status_code == 400
    assert http.delete(f"/v2/tools/{tool['tool_id']}").status_code == 204
    assert http.get(f"/v2/tools/{tool['tool_id']}").status_code == 404
    assert get(http, pal_id)["tool_ids"] == ["end_call"], "a deleted tool is detached"
    # a state file keeps tool secrets only sealed
    state = tmp_path / "state.json"
    with Emulator(state_file=state) as emu:
        emu.store.create_tool(
            {
                "name": "keep",
                "description": "k",
                "delivery": {"api": {"url": "https://x.example", "auth": auth}},
            }
        )
    text = state.read_text()
    assert "pw-secret-1" not in text and "tool-token-seeded" not in text
    with Emulator(state_file=state) as again:
        names = {t["name"] for t in again.store.list_tools("user")}
    assert names == {"order_lookup", "keep"}


def test_client_with_one_request_slot_lists_many_pages_of_guardrails(
    emulator: Emulator, api_key: str
) -> None:
    """A listing that fans out again (two listings of guardrails, each of several pages) on a
    client with one request slot: every call runs once, on whoever takes it first, so nested
    fan-out never waits for a call nobody will run (it hung until a timeout before)."""
    import threading

    for i in range(350):
        emulator.store.guardrails[f"g{i:012x}"] = {"uuid": f"g{i:012x}", "guardrail_name": f"r{i}"}
    expected = set(emulator.store.guardrails) | set(emulator.store.guardrail_sets)
    listed: list[Any] = []
    with TavusClient(emulator.url, api_key, concurrency=1, timeout=5.0) as client:
        worker = threading.Thread(target=lambda: listed.extend(client.list_guardrails()))
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), "the listing deadlocked"
    assert {g.get("uuid") or g.get("guardrails_id") for g in listed} == expected
