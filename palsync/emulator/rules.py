"""The emulated API's own knowledge of PAL fields: types, enums, legacy names, server defaults.

The emulator plays the server, so it keeps these rules itself instead of importing the client's
(`palsync.fields`, the schema): a client bug must not be hidden by sharing its assumptions.
"""

from __future__ import annotations

import re
from typing import Any

STR, BOOL, NUM, LIST, OBJ, ANY = "string", "boolean", "number", "array", "object", "any"

LMH = ("low", "medium", "high")
SENSITIVITY = ("high", "medium", "low", "verylow", "superlow")

TOP_LEVEL: dict[str, Any] = {
    "pal_name": STR,
    "system_prompt": STR,
    "pipeline_mode": ("full", "echo"),
    "context": STR,
    "greeting": STR,
    "default_face_id": STR,
    "document_ids": LIST,
    "document_tags": LIST,
    "objectives_id": STR,
    "guardrail_ids": LIST,
    "guardrail_tags": LIST,
    "guardrails_id": STR,
    "memories": ANY,
    "is_template": BOOL,
    "languages": LIST,
    "disclosure_type": STR,
    "layers": OBJ,
}

LAYERS: dict[str, dict[str, Any]] = {
    "perception": {
        "perception_model": ("raven-1", "off", "raven-0", "basic"),
        "visual_awareness_queries": LIST,
        "audio_awareness_queries": LIST,
        "perception_analysis_queries": LIST,
        "visual_tool_prompt": STR,
        "visual_tools": LIST,
        "audio_tool_prompt": STR,
        "audio_tools": LIST,
        "ambient_awareness_queries": LIST,
        "perception_tool_prompt": STR,
        "perception_tools": LIST,
        "emotion_recognition": STR,
    },
    "stt": {
        "stt_engine": (
            "tavus-auto",
            "tavus-parakeet",
            "tavus-soniox",
            "tavus-whisper",
            "tavus-deepgram-medical",
            "tavus-advanced",
            "tavus-turbo",
        ),
        "hotwords": STR,
        "participant_pause_sensitivity": SENSITIVITY,
        "participant_interrupt_sensitivity": SENSITIVITY,
        "smart_turn_detection": BOOL,
    },
    "conversational_flow": {
        "turn_detection_model": ("sparrow-1", "sparrow-0", "time-based", "timebased"),
        "turn_taking_patience": LMH,
        "pal_interruptibility": LMH,
        "voice_isolation": STR,
        "idle_engagement": STR,
        "turn_commitment": LMH,
        "active_listening": LMH,
    },
    "llm": {
        "model": STR,
        "base_url": STR,
        "api_key": STR,
        "speculative_inference": BOOL,
        "headers": OBJ,
        "extra_body": OBJ,
        "tools": LIST,
    },
    "tts": {
        "tts_engine": ("cartesia", "elevenlabs", "azure", "playht", "tavus-auto"),
        "api_key": STR,
        "external_voice_id": STR,
        "voice_id": STR,
        "tts_model_name": STR,
        "tts_emotion_control": (True, False, "true", "false"),
        "voice_settings": OBJ,
        "pronunciation_dictionary_id": STR,
        "playht_user_id": STR,
    },
    "conferencing": {"username": STR, "allowlist": LIST},
    "transport": {"transport_type": ("livekit", "daily")},
    "vqa": {"enable_vision": BOOL},
}

#: Legacy names accepted on write (both surfaces) and returned by the /v2/personas surface.
LEGACY_TOP = {"persona_name": "pal_name", "default_replica_id": "default_face_id"}
LEGACY_FLOW = {"replica_interruptibility": "pal_interruptibility"}
READ_ONLY = (
    "pal_id",
    "persona_id",
    "created_at",
    "updated_at",
    "conferencing_email",
    "pal_type",
    "persona_type",
)

SECRET_MASK = "********"
USERNAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$")
RESERVED_USERNAME = re.compile(r"^bot\d+$", re.IGNORECASE)


class ApiFailure(Exception):
    """An HTTP error answer: status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any] | None = None):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def bad_request(message: str) -> ApiFailure:
    return ApiFailure(400, {"error": message})


def _type_ok(value: Any, rule: Any) -> bool:
    if isinstance(rule, tuple):
        return any(value == v and type(value) is type(v) for v in rule)
    if rule == ANY:
        return True
    if rule == STR:
        return isinstance(value, str)
    if rule == BOOL:
        return isinstance(value, bool)
    if rule == NUM:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if rule == LIST:
        return isinstance(value, list)
    return isinstance(value, dict)


def normalise_legacy(body: dict[str, Any]) -> dict[str, Any]:
    """Accept legacy names on write: the stored document always uses the current names."""
    out = {LEGACY_TOP.get(k, k): v for k, v in body.items()}
    layers = out.get("layers")
    if isinstance(layers, dict) and isinstance(layers.get("conversational_flow"), dict):
        flow = {LEGACY_FLOW.get(k, k): v for k, v in layers["conversational_flow"].items()}
        out["layers"] = {**layers, "conversational_flow": flow}
    return out


def check_fields(doc: dict[str, Any]) -> None:
    """Unknown fields, wrong types and bad enum values → 400, like the real API."""
    for key, value in doc.items():
        if key in READ_ONLY:
            raise bad_request(f"Field '{key}' is read-only")
        rule = TOP_LEVEL.get(key)
        if rule is None:
            raise bad_request(f"Unknown field '{key}'")
        if not _type_ok(value, rule):
            raise bad_request(f"Invalid value for '{key}'")
    layers = doc.get("layers", {})
    for name, section in layers.items():
        spec = LAYERS.get(name)
        if spec is None:
            raise bad_request(f"Unknown layer 'layers.{name}'")
        if not isinstance(section, dict):
            raise bad_request(f"Invalid value for 'layers.{name}'")
        for key, value in section.items():
            rule = spec.get(key)
            if rule is None:
                raise bad_request(f"Unknown field 'layers.{name}.{key}'")
            if not _type_ok(value, rule):
                raise bad_request(f"Invalid value for 'layers.{name}.{key}'")
    for key in ("document_ids", "document_tags", "guardrail_ids", "guardrail_tags", "languages"):
        if key in doc and not all(isinstance(v, str) for v in doc[key]):
            raise bad_request(f"Invalid value for '{key}'")
    if len(doc.get("guardrail_ids", [])) > 50:
        raise bad_request("At most 50 guardrail_ids")


def fill_defaults(doc: dict[str, Any]) -> None:
    """What the server writes on its own, stored (so a later `replace` finds it)."""
    doc.setdefault("pipeline_mode", "full")
    layers = doc.get("layers")
    if not isinstance(layers, dict):
        return
    flow = layers.get("conversational_flow")
    if isinstance(flow, dict) and flow:
        flow.setdefault("turn_detection_model", "sparrow-1")
        flow.setdefault("turn_taking_patience", "medium")
        flow.setdefault("pal_interruptibility", "medium")
    llm = layers.get("llm")
    if isinstance(llm, dict):
        llm.setdefault("speculative_inference", True)
    tts = layers.get("tts")
    if isinstance(tts, dict):
        tts.setdefault("tts_emotion_control", True)
        settings = tts.get("voice_settings")
        settings = dict(settings) if isinstance(settings, dict) else {}
        settings.pop("pronunciation_dict_id", None)
        settings.pop("pronunciation_dictionary_locators", None)
        dictionary = tts.get("pronunciation_dictionary_id")
        if dictionary:
            if tts.get("tts_engine") == "elevenlabs":
                settings["pronunciation_dictionary_locators"] = [
                    {"pronunciation_dictionary_id": dictionary, "version_id": "v1"}
                ]
            else:
                settings["pronunciation_dict_id"] = dictionary
        if settings or "voice_settings" in tts:
            tts["voice_settings"] = settings
    conferencing = layers.get("conferencing")
    if isinstance(conferencing, dict) and isinstance(conferencing.get("username"), str):
        conferencing["username"] = conferencing["username"].lower()


def mask_secrets(doc: dict[str, Any]) -> None:
    """Secrets are write-only: reads return a fixed mask, never the stored value."""
    layers = doc.get("layers")
    if not isinstance(layers, dict):
        return
    for name in ("llm", "tts"):
        section = layers.get(name)
        if isinstance(section, dict) and section.get("api_key"):
            section["api_key"] = SECRET_MASK
    llm = layers.get("llm")
    if isinstance(llm, dict) and isinstance(llm.get("headers"), dict):
        llm["headers"] = {k: SECRET_MASK for k in llm["headers"]}


def to_legacy(doc: dict[str, Any]) -> dict[str, Any]:
    """The /v2/personas surface returns persona-era names."""
    names = {
        "pal_id": "persona_id",
        "pal_name": "persona_name",
        "default_face_id": "default_replica_id",
        "pal_type": "persona_type",
    }
    out = {names.get(k, k): v for k, v in doc.items()}
    layers = out.get("layers")
    if isinstance(layers, dict) and isinstance(layers.get("conversational_flow"), dict):
        flow = layers["conversational_flow"]
        if "pal_interruptibility" in flow:
            flow = {
                ("replica_interruptibility" if k == "pal_interruptibility" else k): v
                for k, v in flow.items()
            }
            out["layers"] = {**layers, "conversational_flow": flow}
    return out


def legacy_path(path: str) -> str:
    """A JSON Pointer written against persona-era names → the stored document's names."""
    parts = path.split("/")
    if len(parts) > 1:
        parts[1] = {"persona_name": "pal_name", "default_replica_id": "default_face_id"}.get(
            parts[1], parts[1]
        )
    if len(parts) > 3 and parts[1] == "layers" and parts[2] == "conversational_flow":
        parts[3] = LEGACY_FLOW.get(parts[3], parts[3])
    return "/".join(parts)
