"""Builds schemas/pal.schema.json from the field tables of tavus-api.md (section 2).

The JSON file is the contract and is committed; this script is how it is kept consistent (every
property gets a description, id patterns accept `${VAR}` references). Run it after editing:
    python scripts/build_schema.py && python scripts/gen_fast_validator.py
`--check` only compares: it exits 1, writing nothing, when the file is not what it would write.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REF = r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}"


def s(desc: str, **kw: Any) -> dict[str, Any]:
    return {"type": "string", "description": desc, **kw}


def b(desc: str, **kw: Any) -> dict[str, Any]:
    return {"type": "boolean", "description": desc, **kw}


def ident(desc: str, pattern: str, example: str) -> dict[str, Any]:
    return {
        "type": "string",
        "description": desc,
        "pattern": f"^(?:{pattern}|{REF})$",
        "examples": [example],
    }


def strings(desc: str, item: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return {"type": "array", "description": desc, "items": item or {"type": "string"}, **kw}


def enum(desc: str, values: list[str], **kw: Any) -> dict[str, Any]:
    return {"type": "string", "description": desc, "enum": values, **kw}


def open_enum(desc: str, values: list[str], **kw: Any) -> dict[str, Any]:
    # Completion for the known values, any string accepted (custom models etc.).
    return {"description": desc, "anyOf": [{"enum": values}, {"type": "string"}], **kw}


def obj(desc: str, props: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "description": desc,
        "properties": props,
        "additionalProperties": False,
        **kw,
    }


def legacy(schema: dict[str, Any], new: str) -> dict[str, Any]:
    return {
        **schema,
        "description": f"Legacy name of `{new}` (accepted, normalised, warned about). "
        + schema["description"],
        "deprecated": True,
    }


SECRET = (
    "Secret (write-only): must be a `${VAR}` reference, read from the environment at plan/apply "
    "time; never compared with what the API returns, sent when its fingerprint changes."
)
BOOL_STRING = {"enum": ["true", "false"]}

FACE_ID = ident(
    "Face (formerly replica) used by default in conversations. Required on create; also "
    "required when `layers.conferencing` is set. Stock faces (e.g. `r90bbd427f71`, Anna) work.",
    "r[0-9a-f]{6,16}",
    "r90bbd427f71",
)
DOC_ID = ident("Knowledge-base document id.", "[0-9A-Za-z][0-9A-Za-z-]{3,63}", "d1234567890")
GUARDRAIL_ID = ident("Individual guardrail id.", "g[0-9a-f]{4,16}", "g1234567890ab")
TAG = {"type": "string", "minLength": 1, "maxLength": 64, "description": "A tag."}

TOOL = {
    "type": "object",
    "description": "Legacy inline OpenAI-style function tool (deprecated: use /v2/tools).",
    "properties": {
        "type": {"type": "string", "enum": ["function"], "description": "Always `function`."},
        "function": {
            "type": "object",
            "description": "The function: name, description, JSON Schema parameters.",
            "properties": {
                "name": s("Function name.", pattern="^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"),
                "description": s("What the function does."),
                "parameters": {"type": "object", "description": "JSON Schema of the arguments."},
            },
            "required": ["name"],
            "additionalProperties": False,
        },
    },
    "required": ["type", "function"],
    "additionalProperties": False,
}
TOOLS = {
    "type": "array",
    "description": "Legacy inline tools (deprecated; writing them is refused by newer APIs).",
    "items": {"$ref": "#/$defs/tool"},
    "deprecated": True,
}

SENSITIVITY = ["high", "medium", "low", "verylow", "superlow"]
LMH = ["low", "medium", "high"]

perception = obj(
    "Perception layer (Raven): what the PAL sees and hears.",
    {
        "perception_model": enum(
            "Perception model. `raven-1` is recommended; `off` disables perception.",
            ["raven-1", "off", "raven-0", "basic"],
            default="raven-1",
        ),
        "visual_awareness_queries": strings("Queries evaluated about every second (raven-1)."),
        "audio_awareness_queries": strings("Continuous audio queries (raven-1)."),
        "perception_analysis_queries": strings(
            "End-of-call queries driving the Perception Analysis callback."
        ),
        "visual_tool_prompt": s("Legacy inline visual tool prompt."),
        "visual_tools": TOOLS,
        "audio_tool_prompt": s("Legacy inline audio tool prompt."),
        "audio_tools": TOOLS,
        "ambient_awareness_queries": strings(
            "raven-0 name of `visual_awareness_queries` (legacy).", deprecated=True
        ),
        "perception_tool_prompt": s("raven-0 perception tool prompt (legacy).", deprecated=True),
        "perception_tools": {**TOOLS, "description": "raven-0 perception tools (legacy)."},
        "emotion_recognition": s("Emotion recognition level (seen in third-party code only)."),
    },
)

stt = obj(
    "Speech-to-text layer.",
    {
        "stt_engine": enum(
            "Speech-to-text engine.",
            [
                "tavus-auto",
                "tavus-parakeet",
                "tavus-soniox",
                "tavus-whisper",
                "tavus-deepgram-medical",
                "tavus-advanced",
                "tavus-turbo",
            ],
            default="tavus-auto",
        ),
        "hotwords": s("Free text that biases recognition (names, jargon)."),
        "participant_pause_sensitivity": enum(
            "Legacy turn-taking: pause sensitivity (superseded by conversational_flow).",
            SENSITIVITY,
            default="medium",
        ),
        "participant_interrupt_sensitivity": enum(
            "Legacy turn-taking: interrupt sensitivity (superseded by conversational_flow).",
            SENSITIVITY,
            default="medium",
        ),
        "smart_turn_detection": b("Legacy Sparrow-0 smart turn detection."),
    },
)

interruptibility = enum(
    "How easily the user can interrupt the PAL (the greeting is never interruptible).",
    LMH,
    default="medium",
)
conversational_flow = obj(
    "Turn-taking (Sparrow). Setting any field makes the server fill the others with defaults.",
    {
        "turn_detection_model": enum(
            "Turn detection model.",
            ["sparrow-1", "sparrow-0", "time-based", "timebased"],
            default="sparrow-1",
        ),
        "turn_taking_patience": enum(
            "How long the PAL waits before taking its turn.", LMH, default="medium"
        ),
        "pal_interruptibility": interruptibility,
        "replica_interruptibility": legacy(interruptibility, "pal_interruptibility"),
        "voice_isolation": open_enum("Voice isolation (values seen: near, off).", ["near", "off"]),
        "idle_engagement": open_enum("Idle engagement (value seen: off).", ["off"]),
        "turn_commitment": enum("Legacy turn commitment.", LMH, deprecated=True),
        "active_listening": enum("Legacy active listening.", LMH, deprecated=True),
    },
)

llm = obj(
    "Language model layer: a Tavus-hosted model or your own OpenAI-compatible endpoint.",
    {
        "model": open_enum(
            "Model name: a Tavus-hosted model or any custom model name.",
            [
                "tavus-glm-4.7",
                "tavus-gpt-oss",
                "tavus-gemini-2.5-flash",
                "tavus-claude-haiku-4.5",
                "tavus-gpt-5.2",
                "tavus-gemini-3-flash",
                "tavus-gpt-4.1",
                "tavus-gpt-4o",
                "tavus-gpt-4o-mini",
                "tavus-llama-4",
                "tavus-llama",
            ],
            default="tavus-glm-4.7",
        ),
        "base_url": s(
            "Custom OpenAI-compatible endpoint (streaming /chat/completions), without the route.",
            pattern=f"^(?:https?://\\S+|{REF})$",
        ),
        "api_key": s("API key for the custom endpoint. " + SECRET, writeOnly=True),
        "speculative_inference": b("Start generating before the user finishes.", default=True),
        "headers": {
            "type": "object",
            "description": "Custom LLM request headers. Values are secrets: " + SECRET,
            "additionalProperties": {"type": "string", "description": "Header value."},
            "writeOnly": True,
        },
        "extra_body": {
            "type": "object",
            "description": "Provider parameters sent as is (e.g. temperature 0-2, top_p 0-1).",
        },
        "tools": TOOLS,
    },
)

voice_settings = obj(
    "Provider voice settings (Cartesia: speed, emotion; ElevenLabs: speed, stability, "
    "similarity_boost, style, use_speaker_boost).",
    {
        "speed": {
            "description": "Cartesia -1.0..1.0 (or a word like `normal`); ElevenLabs 0.7..1.2.",
            "anyOf": [{"type": "number"}, {"type": "string"}],
        },
        "emotion": strings(
            "Cartesia emotions: `<emotion>` or `<emotion>:<level>`.",
            {
                "type": "string",
                "pattern": "^(anger|positivity|surprise|sadness|curiosity)(:(low|medium|high))?$",
                "examples": ["positivity:high", "curiosity"],
            },
        ),
        "stability": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "ElevenLabs stability (0-1).",
        },
        "similarity_boost": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "ElevenLabs similarity boost (0-1).",
        },
        "style": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "ElevenLabs style exaggeration (0-1).",
        },
        "use_speaker_boost": b("ElevenLabs speaker boost."),
    },
)

tts = obj(
    "Text-to-speech layer (omit for Tavus's default engine and the face's voice).",
    {
        "tts_engine": enum(
            "Text-to-speech engine.",
            ["cartesia", "elevenlabs", "azure", "playht", "tavus-auto"],
            default="cartesia",
        ),
        "api_key": s("Provider API key, only needed for private voices. " + SECRET, writeOnly=True),
        "external_voice_id": s("The provider's voice id."),
        "voice_id": s("Voice id (newer notes; prefer external_voice_id)."),
        "tts_model_name": open_enum(
            "Provider model, e.g. sonic, sonic-2, sonic-3.", ["sonic", "sonic-2", "sonic-3"]
        ),
        "tts_emotion_control": {
            "description": "Cartesia emotion control (old examples used the strings "
            '`"true"`/`"false"`; use a boolean).',
            "anyOf": [{"type": "boolean"}, BOOL_STRING],
            "default": True,
        },
        "voice_settings": voice_settings,
        "pronunciation_dictionary_id": s(
            "Pronunciation dictionary (`pd_...`); one per PAL; empty string removes it.",
            pattern=f"^(?:pd_[0-9A-Za-z]+|{REF})?$",
        ),
        "playht_user_id": s("Legacy PlayHT user id.", deprecated=True),
    },
)

conferencing = obj(
    "Google Meet identity: the PAL joins meetings it is invited to as <username>@tavusinvite.com."
    " Requires `default_face_id` and the `full` pipeline; sent in its own PATCH request.",
    {
        "username": s(
            "Globally unique, stored lower-case; `botN` is reserved.",
            minLength=2,
            pattern=f"^(?:[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]|{REF})$",
            examples=["acme-assistant"],
        ),
        "allowlist": strings(
            "Emails or regexes allowed to invite the PAL (e.g. `.*@acme\\.com`); empty = anyone."
        ),
    },
)

transport = obj(
    "Transport for echo mode (e.g. LiveKit).",
    {"transport_type": enum("Transport type.", ["livekit", "daily"])},
)

layers = obj(
    "Pipeline layers.",
    {
        "perception": perception,
        "stt": stt,
        "conversational_flow": conversational_flow,
        "llm": llm,
        "tts": tts,
        "conferencing": conferencing,
        "transport": transport,
        "vqa": obj(
            "Very old vision layer (legacy).",
            {"enable_vision": b("Enable vision.")},
            deprecated=True,
        ),
    },
)

x_palsync = obj(
    "pal-sync's own settings (never sent to the API).",
    {
        "pal_id": ident(
            "Pin this manifest to an existing live PAL id (instead of lock or adoption).",
            "p[0-9a-f]{5,14}",
            "p70d2aae706a",
        ),
        "protected": b(
            "Never delete this PAL (even with --prune) and never force it.", default=False
        ),
        "ignore": strings(
            "JSON Pointers excluded from diffs (e.g. `/layers/stt/hotwords`).",
            {"type": "string", "pattern": "^(/[^/]*)+$"},
            uniqueItems=True,
        ),
    },
)

pal_name = s("Display name. May change freely; the file name is the PAL's identity.", maxLength=256)
properties: dict[str, Any] = {
    "pal_name": pal_name,
    "persona_name": legacy(pal_name, "pal_name"),
    "system_prompt": s("The PAL's system prompt. Required in `full` pipeline mode."),
    "pipeline_mode": enum(
        "`full` runs perception, STT, LLM and TTS; `echo` lip-syncs audio you send.",
        ["full", "echo"],
        default="full",
    ),
    "context": s("Extra context for the LLM."),
    "greeting": s("What the PAL says first (conversations may override it)."),
    "default_face_id": FACE_ID,
    "default_replica_id": legacy(FACE_ID, "default_face_id"),
    "document_ids": strings(
        "Knowledge-base documents available in every conversation.", DOC_ID, uniqueItems=True
    ),
    "document_tags": strings(
        "Attach every document carrying one of these tags.", TAG, uniqueItems=True
    ),
    "objectives_id": ident("One objectives set.", "o[0-9a-f]{4,16}", "o12345"),
    "guardrail_ids": strings("Individual guardrails.", GUARDRAIL_ID, maxItems=50, uniqueItems=True),
    "guardrail_tags": strings(
        "Attach every guardrail carrying one of these tags.", TAG, maxItems=32, uniqueItems=True
    ),
    "guardrails_id": ident("One legacy guardrail set.", "g[0-9a-f]{4,16}", "g12345"),
    "memories": {"description": "PAL memories (shape undocumented; sent as is)."},
    "is_template": b(
        "Marks a template PAL. pal-sync does not manage templates: only `false`.", default=False
    ),
    "languages": strings(
        "Languages (seen in third-party code only).",
        {"type": "string", "minLength": 2, "maxLength": 16},
    ),
    "disclosure_type": s("AI disclosure behaviour (seen in third-party code only)."),
    "layers": layers,
    "x-palsync": x_palsync,
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://pal-sync.dev/schemas/pal.schema.json",
    "title": "Tavus PAL manifest (pal-sync)",
    "description": "One Tavus PAL per file (pals/<key>.yaml), in the API's own field names, plus "
    "pal-sync's `x-palsync` settings. `${VAR}` / `${VAR:-default}` in strings are read from the "
    "environment at plan/apply time.",
    "type": "object",
    "properties": properties,
    "additionalProperties": False,
    "$defs": {"tool": TOOL},
}


def main() -> int:
    """Write the schema; with `--check`, only compare it with the file (exit 1 if it differs)."""
    out = ROOT / "schemas" / "pal.schema.json"
    text = json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(
                f"{out.relative_to(ROOT)} differs from what scripts/build_schema.py generates: "
                "edit scripts/build_schema.py (not the JSON file), then run "
                "`python scripts/build_schema.py && python scripts/gen_fast_validator.py`"
            )
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
