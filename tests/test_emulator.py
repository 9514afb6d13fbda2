"""The emulator answers like the real API, unpleasant parts included (direct HTTP, no client)."""

from __future__ import annotations

import concurrent.futures
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from palsync.emulator import Emulator, FaultRule

FACE = "r90bbd427f71"


@pytest.fixture
def http(emulator: Emulator, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, headers={"x-api-key": api_key}) as client:
        yield client


def create(http: httpx.Client, **fields: Any) -> str:
    body = {"pal_name": "T", "system_prompt": "hi", "default_face_id": FACE, **fields}
    response = http.post("/v2/pals", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["pal_id"])


def get(http: httpx.Client, pal_id: str) -> dict[str, Any]:
    response = http.get(f"/v2/pals/{pal_id}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert isinstance(data, list) and len(data) == 1, "get-by-id wraps the PAL in data: [obj]"
    return dict(data[0])


def test_auth_is_required(emulator: Emulator) -> None:
    assert httpx.get(f"{emulator.url}/v2/pals").status_code == 401
    wrong = httpx.get(f"{emulator.url}/v2/pals", headers={"x-api-key": "nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"message": "Invalid access token"}


def test_create_requires_face_and_prompt(http: httpx.Client) -> None:
    no_face = http.post("/v2/pals", json={"pal_name": "x", "system_prompt": "hi"})
    assert no_face.status_code == 400 and "default_face_id" in no_face.json()["error"]
    no_prompt = http.post("/v2/pals", json={"pal_name": "x", "default_face_id": FACE})
    assert no_prompt.status_code == 400 and "system_prompt" in no_prompt.json()["error"]
    echo = http.post("/v2/pals", json={"pipeline_mode": "echo", "default_face_id": FACE})
    assert echo.status_code == 200


def test_create_rejects_bad_types_enums_limits_and_missing_references(http: httpx.Client) -> None:
    base = {"system_prompt": "hi", "default_face_id": FACE}
    cases: list[dict[str, Any]] = [
        {"pipeline_mode": "fast"},
        {"system_prompt": 3},
        {"layers": {"llm": {"speculative_inference": "yes"}}},
        {"layers": {"knowledge_base": {"rag_n_chunks": 2.5}}},
        {"memories": [{"text": "not a string"}]},
        {"tool_ids": [""]},
        {"tool_ids": [f"t{i:012x}" for i in range(51)]},
        {"guardrail_tags": [f"tag{i}" for i in range(51)]},
        {"default_face_id": "rdoesnotexist"},
        {"objectives_id": "o99999"},
        {"guardrail_ids": ["g000000000000"]},
        {"document_ids": ["d000000000"]},
        {"uuid": "0b6c2d7e-0000-4000-8000-000000000000"},  # read-only extras are refused
        {"is_published": True},
    ]
    for extra in cases:
        response = http.post("/v2/pals", json={**base, **extra})
        assert response.status_code == 400, extra


def test_unknown_fields_are_kept_by_default_and_refused_when_asked(
    http: httpx.Client, emulator: Emulator
) -> None:
    unknown = {"future_knob": {"a": 1}, "layers": {"llm": {"modle": "x"}, "new_layer": {"k": 1}}}
    pal_id = create(http, **unknown)
    pal = get(http, pal_id)
    assert pal["future_knob"] == {"a": 1}
    assert pal["layers"]["llm"]["modle"] == "x" and pal["layers"]["new_layer"] == {"k": 1}
    patched = http.patch(
        f"/v2/pals/{pal_id}", json=[{"op": "add", "path": "/layers/llm/knob", "value": 3}]
    )
    assert patched.status_code == 200 and get(http, pal_id)["layers"]["llm"]["knob"] == 3

    emulator.set_options(unknown_fields="reject")
    base = {"system_prompt": "hi", "default_face_id": FACE}
    unknown_cases: list[dict[str, Any]] = [
        {"sytem_prompt": "typo"},
        {"layers": {"llm": {"modle": "x"}}},
        {"layers": {"new_layer": {}}},
    ]
    for extra in unknown_cases:
        response = http.post("/v2/pals", json={**base, **extra})
        assert response.status_code == 400, extra
        assert "Unknown" in response.json()["error"]
    # open objects stay open: sts, transport, voice_settings
    open_ok = {
        "layers": {
            "sts": {"anything": 1},
            "transport": {"transport_type": "livekit", "room": "r1"},
            "tts": {"voice_settings": {"volume": 0.5, "speed": 1}},
        }
    }
    assert http.post("/v2/pals", json={**base, **open_ok}).status_code == 200


def test_legacy_persona_create_does_not_require_a_face(http: httpx.Client) -> None:
    response = http.post("/v2/personas", json={"persona_name": "Old", "system_prompt": "hi"})
    assert response.status_code == 200
    assert set(response.json()) >= {"persona_id", "persona_name"}


def test_server_fills_defaults_and_masks_secrets(http: httpx.Client, emulator: Emulator) -> None:
    pal_id = create(
        http,
        layers={
            "llm": {"model": "m", "api_key": "sk-real", "headers": {"Authorization": "Bearer t"}},
            "tts": {"tts_engine": "cartesia", "pronunciation_dictionary_id": "pd_abc"},
            "conversational_flow": {"turn_taking_patience": "high"},
            "conferencing": {"username": "Acme-Bot"},
        },
    )
    pal = get(http, pal_id)
    layers = pal["layers"]
    assert layers["llm"]["speculative_inference"] is True
    assert layers["llm"]["api_key"] != "sk-real"
    assert layers["llm"]["headers"]["Authorization"] != "Bearer t"
    assert layers["tts"]["tts_emotion_control"] is True
    assert layers["tts"]["voice_settings"]["pronunciation_dict_id"] == "pd_abc"
    assert layers["conversational_flow"] == {
        "turn_taking_patience": "high",
        "turn_detection_model": "sparrow-1",
        "pal_interruptibility": "medium",
    }
    assert layers["conferencing"]["username"] == "acme-bot"
    assert pal["conferencing_email"] == "acme-bot@tavusinvite.com"
    assert pal["pipeline_mode"] == "full" and pal["pal_type"] == "user"
    assert pal["created_at"] and pal["updated_at"]
    stored = emulator.store.get(pal_id)
    assert stored is not None and stored["layers"]["llm"]["api_key"] == "sk-real"


def test_list_paginates_one_based_caps_limit_and_filters(
    http: httpx.Client, emulator: Emulator
) -> None:
    for i in range(130):
        emulator.store.create_pal(
            {"pal_name": f"P{i}", "system_prompt": "x", "default_face_id": FACE}, legacy=False
        )
    page = http.get("/v2/pals", params={"pal_type": "user", "limit": 500, "page": 1}).json()
    assert page["total_count"] == 130 and len(page["data"]) == 100  # silently capped
    second = http.get("/v2/pals", params={"pal_type": "user", "limit": 100, "page": 2}).json()
    assert len(second["data"]) == 30
    assert http.get("/v2/pals", params={"limit": 10}).json()["total_count"] > 130  # stock mixed in
    stock = http.get("/v2/pals", params={"pal_type": "system", "limit": 100}).json()["data"]
    assert stock and all(p["pal_type"] == "system" for p in stock)
    assert "system_prompt" in page["data"][0], "list pages carry full objects"


def test_patch_semantics(http: httpx.Client) -> None:
    pal_id = create(http)
    same = http.patch(
        f"/v2/pals/{pal_id}", json=[{"op": "replace", "path": "/pal_name", "value": "T"}]
    )
    assert same.status_code == 304 and same.content == b""
    changed = http.patch(
        f"/v2/pals/{pal_id}", json=[{"op": "replace", "path": "/pal_name", "value": "U"}]
    )
    assert changed.status_code == 200 and get(http, pal_id)["pal_name"] == "U"
    missing_parent = http.patch(
        f"/v2/pals/{pal_id}", json=[{"op": "add", "path": "/layers/stt/hotwords", "value": "m"}]
    )
    assert missing_parent.status_code == 422
    not_array = http.patch(f"/v2/pals/{pal_id}", json={"pal_name": "V"})
    assert not_array.status_code == 422
    atomic = http.patch(
        f"/v2/pals/{pal_id}",
        json=[
            {"op": "replace", "path": "/pal_name", "value": "W"},
            {"op": "test", "path": "/system_prompt", "value": "not it"},
        ],
    )
    assert atomic.status_code == 422
    assert get(http, pal_id)["pal_name"] == "U", "a failed patch changes nothing"


def test_patch_errors_never_echo_secrets(http: httpx.Client) -> None:
    pal_id = create(http, layers={"llm": {"model": "m", "api_key": "sk-top-secret"}})
    response = http.patch(
        f"/v2/pals/{pal_id}", json=[{"op": "replace", "path": "/nope/deeper", "value": 1}]
    )
    assert response.status_code == 422
    assert "sk-top-secret" not in response.text


def test_conferencing_ops_travel_alone_and_stock_pals_are_refused(http: httpx.Client) -> None:
    pal_id = create(http)
    mixed = http.patch(
        f"/v2/pals/{pal_id}",
        json=[
            {"op": "replace", "path": "/pal_name", "value": "X"},
            {"op": "add", "path": "/layers", "value": {"conferencing": {"username": "zz-top"}}},
        ],
    )
    assert mixed.status_code == 200  # /layers itself is not a conferencing path
    both = http.patch(
        f"/v2/pals/{pal_id}",
        json=[
            {"op": "replace", "path": "/pal_name", "value": "Y"},
            {"op": "replace", "path": "/layers/conferencing/username", "value": "zz-bottom"},
        ],
    )
    assert both.status_code == 400
    assert (
        http.patch(
            "/v2/pals/pcb7a34da5fe", json=[{"op": "replace", "path": "/pal_name", "value": "mine"}]
        ).status_code
        == 400
    )
    assert http.delete("/v2/pals/pcb7a34da5fe").status_code == 400


def test_maker_draft_conflict_and_force(http: httpx.Client, emulator: Emulator) -> None:
    pal_id = create(http)
    emulator.store.set_maker_draft(pal_id)
    ops = [{"op": "replace", "path": "/pal_name", "value": "Z"}]
    refused = http.patch(f"/v2/pals/{pal_id}", json=ops)
    assert refused.status_code == 409 and refused.json()["conflict"] == "maker_changes"
    forced = http.patch(f"/v2/pals/{pal_id}", params={"force": "true"}, json=ops)
    assert forced.status_code == 200 and forced.json()["discarded_maker_changes"] is True


def test_personas_alias_returns_legacy_names(http: httpx.Client) -> None:
    pal_id = create(http, layers={"conversational_flow": {"pal_interruptibility": "low"}})
    persona = http.get(f"/v2/personas/{pal_id}").json()["data"][0]
    assert persona["persona_id"] == pal_id and persona["persona_name"] == "T"
    assert persona["default_replica_id"] == FACE
    assert persona["layers"]["conversational_flow"]["replica_interruptibility"] == "low"
    renamed = http.patch(
        f"/v2/personas/{pal_id}",
        json=[{"op": "replace", "path": "/persona_name", "value": "Legacy"}],
    )
    assert renamed.status_code == 200 and get(http, pal_id)["pal_name"] == "Legacy"


def test_delete_then_gone(http: httpx.Client) -> None:
    pal_id = create(http)
    assert http.delete(f"/v2/pals/{pal_id}").status_code == 204
    assert http.delete(f"/v2/pals/{pal_id}").status_code == 404
    assert http.get(f"/v2/pals/{pal_id}").status_code == 404


def test_reference_resources(http: httpx.Client) -> None:
    faces = http.get("/v2/faces", params={"verbose": "true", "limit": 100}).json()["data"]
    assert {"r90bbd427f71", "rf4e9d9790f0"} <= {f["face_id"] for f in faces}
    assert http.get("/v2/objectives/o12345").json()["data"]["objectives_id"] == "o12345"
    sets = http.get("/v2/guardrails").json()["data"]
    assert [s["guardrails_id"] for s in sets] == ["g12345"], "legacy=true is the default view"
    individual = http.get("/v2/guardrails", params={"legacy": "false"}).json()["data"]
    assert "g1234567890ab" in {g["uuid"] for g in individual}
    docs = http.get("/v2/documents", params={"page": 0}).json()
    assert docs["page"] == 0 and docs["data"][0]["document_id"] == "d1234567890"


def test_fault_status_429_with_retry_after(http: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add(FaultRule("status", path="/v2/pals", status=429, retry_after="2", times=1))
    limited = http.get("/v2/pals")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert http.get("/v2/pals").status_code == 200, "times=1 fires once"


def test_fault_drop_after_commit_loses_the_response_not_the_write(
    http: httpx.Client, emulator: Emulator
) -> None:
    emulator.faults.add(FaultRule("drop_after_commit", method="POST", path="/v2/pals", times=1))
    with pytest.raises(httpx.TransportError):
        http.post(
            "/v2/pals", json={"pal_name": "Lost", "system_prompt": "hi", "default_face_id": FACE}
        )
    assert len(emulator.store.pals_named("Lost")) == 1


def test_fault_after_skips_first_requests(http: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add(FaultRule("status", path="/v2/faces", status=503, after=2, times=1))
    statuses = [http.get("/v2/faces").status_code for _ in range(4)]
    assert statuses == [200, 200, 503, 200]


def test_request_counts_template_ids(http: httpx.Client, emulator: Emulator) -> None:
    pal_id = create(http)
    get(http, pal_id)
    get(http, pal_id)
    counts = emulator.request_counts()
    assert counts["POST /v2/pals"] == 1 and counts["GET /v2/pals/{id}"] == 2


def test_admin_endpoints_drive_faults_from_another_process(
    emulator: Emulator, api_key: str
) -> None:
    spec = {"rules": [{"kind": "status", "path": "/v2/faces", "status": 502, "times": 1}]}
    headers = {"x-api-key": api_key}
    url = f"{emulator.url}/_emulator/faults"
    assert httpx.post(url, json=spec, headers=headers).status_code == 204
    assert httpx.get(f"{emulator.url}/v2/faces", headers=headers).status_code == 502
    log = httpx.get(f"{emulator.url}/_emulator/requests", headers=headers).json()
    assert log["counts"]["GET /v2/faces"] == 1
    bad = httpx.post(url, json={"rules": [{"kind": "nope"}]}, headers=headers)
    assert bad.status_code == 400


def test_state_file_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator(state_file=state) as emu:
        emu.store.create_pal(
            {"pal_name": "Kept", "system_prompt": "x", "default_face_id": FACE}, legacy=False
        )
    with Emulator(state_file=state) as again:
        assert [p["pal_name"] for p in again.store.user_pals()] == ["Kept"]


def test_many_concurrent_requests(http: httpx.Client, emulator: Emulator, api_key: str) -> None:
    for i in range(300):
        emulator.store.create_pal(
            {"pal_name": f"C{i}", "system_prompt": "x", "default_face_id": FACE}, legacy=False
        )

    def one(i: int) -> int:
        with httpx.Client(base_url=emulator.url, headers={"x-api-key": api_key}) as c:
            return c.get(
                "/v2/pals", params={"pal_type": "user", "limit": 100, "page": i % 3 + 1}
            ).status_code

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        assert set(pool.map(one, range(200))) == {200}


def test_port_is_loopback_only(emulator: Emulator) -> None:
    host = emulator.url.split("//")[1].split(":")[0]
    assert host == "127.0.0.1"
    with socket.create_connection((host, int(emulator.url.rsplit(":", 1)[1])), timeout=1):
        pass
