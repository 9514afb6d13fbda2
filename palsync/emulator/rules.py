"""The emulated API's own knowledge of PAL fields: types, enums, legacy names, server defaults.

The emulator plays the server, so it keeps these rules itself instead of importing the client's
(`palsync.fields`, the schema): a client bug must not be hidden by sharing its assumptions.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

STR, BOOL, NUM, INT, LIST, OBJ, ANY = (
    "string",
    "boolean",
    "number",
    "integer",
    "array",
    "object",
    "any",
)

LMH = ("low", "medium", "high")
SENSITIVITY = ("high", "medium", "low", "verylow", "superlow")

#: a list of strings (`STR_LIST`), of non-empty strings (`IDS`); `OPEN`: an object whose known
#: members are checked and whose other members are always accepted (never "unknown")
STR_LIST, IDS = "string[]", "id[]"

TOP_LEVEL: dict[str, Any] = {
    "pal_name": STR,
    "system_prompt": STR,
    "pipeline_mode": ("full", "echo", "speech-to-speech"),
    "context": STR,
    "greeting": STR,
    "default_face_id": STR,
    "document_ids": STR_LIST,
    "document_tags": STR_LIST,
    "objectives_id": STR,
    "guardrail_ids": STR_LIST,
    "guardrail_tags": STR_LIST,
    "guardrails_id": STR,
    "tool_ids": IDS,
    "memories": STR_LIST,
    "is_template": BOOL,
    # in no Tavus source (tavus-api.md 11a): accepted, no constraint invented
    "languages": ANY,
    # written by PAL Maker, shapes unconfirmed: opaque values
    "disclosure_type": ANY,
    "verbal_disclosure": ANY,
    "visual_disclosure": ANY,
    "persona_description": ANY,
    "layers": OBJ,
}

#: Limits of list fields (tavus-api.md 2a, 11a).
LIST_LIMITS = {"guardrail_ids": 50, "guardrail_tags": 50, "tool_ids": 50}

#: Pipeline modes without an LLM prompt: `system_prompt` and `context` are refused (11a).
NO_PROMPT_MODES = ("echo", "speech-to-speech")

#: The three spellings of one stored field (11a): Tavus's CLI sends `face_interruptibility`,
#: PAL docs say `pal_interruptibility`, persona docs `replica_interruptibility`.
INTERRUPTIBILITY = ("pal_interruptibility", "face_interruptibility", "replica_interruptibility")
STORED_INTERRUPTIBILITY = "pal_interruptibility"

LAYERS: dict[str, dict[str, Any]] = {
    "perception": {
        "perception_model": ("raven-1", "off", "raven-0", "basic"),
        "visual_awareness_queries": STR_LIST,
        "audio_awareness_queries": STR_LIST,
        "perception_analysis_queries": STR_LIST,
        "visual_tool_prompt": STR,
        "visual_tools": LIST,
        "audio_tool_prompt": STR,
        "audio_tools": LIST,
        "ambient_awareness_queries": STR_LIST,
        "tool_prompt": STR,
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
        **dict.fromkeys(INTERRUPTIBILITY, LMH),
        "voice_isolation": STR,
        "idle_engagement": STR,
        "noise_cancellation": ANY,  # value shape unconfirmed
        "wake_phrase": STR,
        "sleep_phrase": STR,
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
        "default_query": OBJ,
        "disable_vision": BOOL,
        "enable_llm_proxy": BOOL,
        "model_name": STR,
        "is_custom": BOOL,
        "endpoint": STR,
        "tools": LIST,
    },
    "tts": {
        "tts_engine": ("cartesia", "elevenlabs", "azure", "playht", "tavus-auto"),
        "api_key": STR,
        "external_voice_id": STR,
        # (`voice_id` is in no Tavus source: an unknown field, 11a)
        "tts_model_name": STR,
        "tts_emotion_control": (True, False, "true", "false"),
        "voice_settings": OBJ,  # open: engine-specific keys
        "pronunciation_dictionary_id": STR,
        "playht_user_id": STR,
    },
    "conferencing": {"username": STR, "allowlist": STR_LIST, "whitelabel": BOOL},
    "transport": {"transport_type": ("livekit", "daily")},
    "capabilities": {
        "mcp_enabled": BOOL,
        "search_enabled": BOOL,
        "activity_log_enabled": BOOL,
        "search_results_prompt_injection_prevention_enabled": BOOL,
    },
    "knowledge_base": {
        "rag_score_threshold": NUM,
        "rag_n_chunks": INT,
        "rag_surrounding_chunk_radius": INT,
        "enable_rag_observability_app_messages": BOOL,
        "use_procedure_goalchain": BOOL,
    },
    "sts": {},
    "vqa": {"enable_vision": BOOL},
}

#: Layers whose members beyond the known ones are part of the API (11a: open objects), accepted
#: even by a server that rejects unknown fields.
OPEN_LAYERS = frozenset({"sts", "transport"})

#: Tools registry (tavus-api.md 1g, 11c): the name pattern, and the members of
#: `delivery.api.auth` that are secrets (shown as SECRET_MASK on every read)
TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
TOOL_AUTH_SECRETS = frozenset({"token", "password", "value", "secret", "client_secret"})

#: Server default of the LLM on create (11a), in `full` mode without a custom model.
DEFAULT_LLM_MODEL = "tavus-gemma-4"

#: Legacy names accepted on write (both surfaces) and returned by the /v2/personas surface.
LEGACY_TOP = {"persona_name": "pal_name", "default_replica_id": "default_face_id"}
LEGACY_FLOW = {name: STORED_INTERRUPTIBILITY for name in INTERRUPTIBILITY}
READ_ONLY = (
    "pal_id",
    "persona_id",
    "created_at",
    "updated_at",
    "conferencing_email",
    "pal_type",
    "persona_type",
)
#: Read-only extras the current API returns on reads (11a); refused in writes like the others.
READ_ONLY_EXTRAS = (
    "uuid",
    "owner_id",
    "session_id",
    "is_draft",
    "source_template_id",
    "registration_id",
    "pal_settings_id",
    "is_published",
)
ALL_READ_ONLY = frozenset(READ_ONLY + READ_ONLY_EXTRAS)
UNKNOWN_FIELDS = ("accept", "reject")

SECRET_MASK = "********"
USERNAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$")
RESERVED_USERNAME = re.compile(r"^bot\d+$", re.IGNORECASE)


#: the emulated account's owner (the `owner_id` of its PALs and tools)
OWNER_ID = 104729


def now() -> str:
    """A timestamp as the API writes `created_at` / `updated_at`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(prefix: str, hex_digits: int) -> str:
    return prefix + secrets.token_hex((hex_digits + 1) // 2)[:hex_digits]


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
    if rule == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if rule == LIST:
        return isinstance(value, list)
    if rule == STR_LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if rule == IDS:
        return isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    return isinstance(value, dict)


def _flow(section: dict[str, Any]) -> dict[str, Any]:
    """One stored interruptibility, whichever spelling was written; two spellings with
    different values in one document are refused."""
    spelled = {k: v for k, v in section.items() if k in INTERRUPTIBILITY}
    if len({json_key(v) for v in spelled.values()}) > 1:
        raise bad_request(
            "Conflicting values for "
            + " and ".join(f"'layers.conversational_flow.{k}'" for k in spelled)
        )
    out: dict[str, Any] = {}
    for key, value in section.items():
        out[LEGACY_FLOW.get(key, key)] = value
    return out


def json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def normalise_legacy(body: dict[str, Any]) -> dict[str, Any]:
    """Accept legacy names on write: the stored document always uses the current names."""
    out = {LEGACY_TOP.get(k, k): v for k, v in body.items()}
    layers = out.get("layers")
    if isinstance(layers, dict) and isinstance(layers.get("conversational_flow"), dict):
        out["layers"] = {**layers, "conversational_flow": _flow(layers["conversational_flow"])}
    return out


def check_fields(doc: dict[str, Any], unknown_fields: str = "accept") -> None:
    """Read-only fields, wrong types, bad enum values, broken limits → 400, like the real API.
    Unknown fields (top level, in a layer, unknown layers) are stored as written unless the
    server plays `unknown_fields="reject"`."""
    reject = unknown_fields == "reject"
    for key, value in doc.items():
        if key in ALL_READ_ONLY:
            raise bad_request(f"Field '{key}' is read-only")
        rule = TOP_LEVEL.get(key)
        if rule is None:
            if reject:
                raise bad_request(f"Unknown field '{key}'")
            continue
        if not _type_ok(value, rule):
            raise bad_request(f"Invalid value for '{key}'")
    for key, limit in LIST_LIMITS.items():
        if len(doc.get(key) or ()) > limit:
            raise bad_request(f"At most {limit} {key}")
    mode = doc.get("pipeline_mode", "full")
    if mode in NO_PROMPT_MODES:
        for key in ("system_prompt", "context"):
            if key in doc:
                raise bad_request(f"'{key}' is not allowed when pipeline_mode is {mode}")
    layers = doc.get("layers", {})
    for name, section in layers.items():
        spec = LAYERS.get(name)
        if spec is None:
            if reject:
                raise bad_request(f"Unknown layer 'layers.{name}'")
            continue
        if not isinstance(section, dict):
            raise bad_request(f"Invalid value for 'layers.{name}'")
        for key, value in section.items():
            rule = spec.get(key)
            if rule is None:
                if reject and name not in OPEN_LAYERS:
                    raise bad_request(f"Unknown field 'layers.{name}.{key}'")
                continue
            if not _type_ok(value, rule):
                raise bad_request(f"Invalid value for 'layers.{name}.{key}'")


def fill_defaults(doc: dict[str, Any], *, create: bool = False) -> None:
    """What the server writes on its own, stored (so a later `replace` finds it). On create, a
    `full` PAL without an LLM model gets the current default model (11a)."""
    doc.setdefault("pipeline_mode", "full")
    if create and doc["pipeline_mode"] == "full":
        layers = doc.get("layers")
        if layers is None:
            layers = doc["layers"] = {}
        if isinstance(layers, dict):
            llm = layers.get("llm")
            if llm is None:
                llm = layers["llm"] = {}
            if isinstance(llm, dict) and not llm.get("model") and not llm.get("base_url"):
                llm["model"] = DEFAULT_LLM_MODEL
    layers = doc.get("layers")
    if not isinstance(layers, dict):
        return
    flow = layers.get("conversational_flow")
    if isinstance(flow, dict) and flow:
        flow.setdefault("turn_detection_model", "sparrow-1")
        flow.setdefault("turn_taking_patience", "medium")
        flow.setdefault(STORED_INTERRUPTIBILITY, "medium")
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


def spell_interruptibility(doc: dict[str, Any], spelling: str) -> dict[str, Any]:
    """The stored interruptibility shown under `spelling` (a read)."""
    layers = doc.get("layers")
    if spelling == STORED_INTERRUPTIBILITY or not isinstance(layers, dict):
        return doc
    flow = layers.get("conversational_flow")
    if not isinstance(flow, dict) or STORED_INTERRUPTIBILITY not in flow:
        return doc
    flow = {(spelling if k == STORED_INTERRUPTIBILITY else k): v for k, v in flow.items()}
    return {**doc, "layers": {**layers, "conversational_flow": flow}}


def tool_secrets(tool: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(auth object, member) of every secret of a tool."""
    delivery = tool.get("delivery")
    api = delivery.get("api") if isinstance(delivery, dict) else None
    auth = api.get("auth") if isinstance(api, dict) else None
    if not isinstance(auth, dict):
        return []
    found = [(auth, k) for k in auth if k in TOOL_AUTH_SECRETS]
    for value in auth.values():  # {"bearer": {"token": ...}} as well as {"token": ...}
        if isinstance(value, dict):
            found += [(value, k) for k in value if k in TOOL_AUTH_SECRETS]
    return found


def masked_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A copy of `tool` as reads show it: every auth secret replaced by the mask."""
    out: dict[str, Any] = json.loads(json.dumps(tool))
    for holder, key in tool_secrets(out):
        if holder[key]:
            holder[key] = SECRET_MASK
    return out


def to_legacy(doc: dict[str, Any]) -> dict[str, Any]:
    """The /v2/personas surface returns persona-era names."""
    names = {
        "pal_id": "persona_id",
        "pal_name": "persona_name",
        "default_face_id": "default_replica_id",
        "pal_type": "persona_type",
    }
    out = {names.get(k, k): v for k, v in doc.items()}
    return spell_interruptibility(out, "replica_interruptibility")


def legacy_path(path: str) -> str:
    """A JSON Pointer in any spelling → the stored document's names. Both routes translate
    (11a: "the public route translates pal/face tokens in patch paths"): persona-era top-level
    names, and the three spellings of interruptibility."""
    parts = path.split("/")
    if len(parts) > 1:
        parts[1] = LEGACY_TOP.get(parts[1], parts[1])
    if len(parts) > 3 and parts[1] == "layers" and parts[2] == "conversational_flow":
        parts[3] = LEGACY_FLOW.get(parts[3], parts[3])
    return "/".join(parts)


#: the deepest a request body or a patched document may nest (the documents of the API nest a
#: handful of levels; a server that deep-copies what it stores must refuse more, not fail later)
MAX_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests containers more than `limit` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False
