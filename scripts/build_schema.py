"""Builds schemas/pal.schema.json from the field tables of tavus-api.md (section 2).

The JSON file is the contract and is committed; this script is how it is kept consistent (every
property gets a description, id patterns accept `${VAR}` references). It is also the one place
where a field is described: beside its type, its annotations say whether it is a secret, compared
member by member or whole, another name of a field, a reference to a kind, read-only
(`palsync.fieldspec` says what each means), and palsync/_fields.py, the tables every module reads,
is derived from them. Run it after editing:
    python scripts/build_schema.py && python scripts/gen_fast_validator.py
`--check` only compares: it exits 1, writing nothing, when a file is not what it would write.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schema_parts import (  # noqa: E402
    OPEN_WORLD,
    SECRET_TEXT,
    TAG,
    UNKNOWN,
    VAR,
    anything,
    b,
    closed,
    enum,
    obj,
    open_obj,
    s,
    secret,
    write_or_check,
)

from palsync.fieldspec import (  # noqa: E402
    ALIAS_OF,
    COMPARE,
    READ_ONLY,
    READ_ONLY_DEFS,
    REF,
    SECRET,
    UNVERIFIED,
    derive,
    render,
)


def ident(desc: str, pattern: str, example: str) -> dict[str, Any]:
    return {
        "type": "string",
        "description": desc,
        "pattern": f"^(?:{pattern}|{VAR})$",
        "examples": [example],
    }


def strings(desc: str, item: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return {"type": "array", "description": desc, "items": item or {"type": "string"}, **kw}


def open_enum(desc: str, values: list[str], **kw: Any) -> dict[str, Any]:
    # Completion for the known values, any string accepted (custom models etc.).
    return {"description": desc, "anyOf": [{"enum": values}, {"type": "string"}], **kw}


#: fields in no Tavus source, filled by `unverified`: JSON Pointer -> where the field appears
UNVERIFIED_FIELDS: dict[str, str] = {}


def unverified(pointer: str, desc: str, appears: str) -> dict[str, Any]:
    """A field in no Tavus source at `pointer`: no constraint invented (its schema is a bare
    description), a warning from `validate` (the schema root's `x-palsync-unverified`)."""
    UNVERIFIED_FIELDS[pointer] = appears
    return anything(
        f"{desc} Appears {appears}: accepted without constraints and sent as "
        "written; `pal-sync validate` warns about it (`--strict`: an error)."
    )


def legacy(schema: dict[str, Any], new: str) -> dict[str, Any]:
    """A legacy name of the sibling `new`: accepted, normalised, warned about."""
    return {
        **schema,
        "description": f"Legacy name of `{new}` (accepted, normalised, warned about). "
        + schema["description"],
        "deprecated": True,
        ALIAS_OF: new,
    }


def spelling(schema: dict[str, Any], new: str, where: str) -> dict[str, Any]:
    """A current spelling of the sibling `new`: accepted and normalised, no warning."""
    return {
        **schema,
        "description": f"Another spelling of `{new}` ({where}): the same field, compared as "
        f"`{new}`; no diff whichever spelling the manifest or the server uses. "
        + schema["description"],
        ALIAS_OF: new,
    }


def ref(schema: dict[str, Any], kind: str) -> dict[str, Any]:
    """An id of a `kind` resource (on the `items` of a list of ids)."""
    return {**schema, REF: kind}


#: an object compared and patched member by member (members the server adds are no drift), or
#: as one value
MEMBERS = {COMPARE: "members"}
WHOLE = {COMPARE: "whole"}


def read_only(desc: str) -> dict[str, Any]:
    """A field the server writes on its own (listed in `$defs/read-only`)."""
    return {READ_ONLY: True, "description": desc}


BOOL_STRING = {"enum": ["true", "false"]}

FACE_ID = ref(
    ident(
        "Face (formerly replica) used by default in conversations. Required on create; also "
        "required when `layers.conferencing` is set. Stock faces (e.g. `r90bbd427f71`, Anna) "
        "work.",
        "r[0-9a-f]{6,16}",
        "r90bbd427f71",
    ),
    "faces",
)
DOC_ID = ref(
    ident("Knowledge-base document id.", "[0-9A-Za-z][0-9A-Za-z-]{3,63}", "d1234567890"),
    "documents",
)
GUARDRAIL_ID = ref(
    ident("Individual guardrail id.", "g[0-9a-f]{4,16}", "g1234567890ab"), "guardrails"
)

TOOL = obj(
    "Legacy inline OpenAI-style function tool (deprecated: use /v2/tools and `tool_ids`).",
    {
        "type": {"type": "string", "enum": ["function"], "description": "Always `function`."},
        "function": obj(
            "The function: name, description, JSON Schema parameters.",
            {
                "name": s("Function name.", pattern="^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"),
                "description": s("What the function does."),
                "parameters": {"type": "object", "description": "JSON Schema of the arguments."},
            },
            required=["name"],
        ),
    },
    required=["type", "function"],
)
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
        "ambient_awareness_queries": strings(
            "Ambient awareness queries (raven-0 name of `visual_awareness_queries`; still sent "
            "by Tavus's CLI)."
        ),
        "tool_prompt": s(
            "Prompt for the perception tools (registry tools with origin vision/audio)."
        ),
        "perception_tool_prompt": s("Perception tool prompt (raven-0 name, still accepted)."),
        "visual_tool_prompt": s("Legacy inline visual tool prompt."),
        "visual_tools": TOOLS,
        "audio_tool_prompt": s("Legacy inline audio tool prompt."),
        "audio_tools": TOOLS,
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
        "smart_turn_detection": b("Smart turn detection (Sparrow-0)."),
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
        "face_interruptibility": {
            **interruptibility,
            "description": interruptibility["description"]
            + " One field with three spellings (`face_interruptibility`, as Tavus's CLI sends "
            "it; `pal_interruptibility`, PAL docs; `replica_interruptibility`, persona docs): "
            "write one of them.",
        },
        "pal_interruptibility": spelling(interruptibility, "face_interruptibility", "PAL docs"),
        "replica_interruptibility": legacy(interruptibility, "face_interruptibility"),
        "wake_phrase": s("Phrase that wakes the PAL up after `sleep_phrase`."),
        "sleep_phrase": s("Phrase that makes the PAL stop responding until `wake_phrase`."),
        "noise_cancellation": anything(
            "Noise cancellation (value shape unconfirmed by Tavus sources: sent as written)."
        ),
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
            "Model name: a Tavus-hosted model or any custom model name (the server's default "
            "on create is `tavus-gemma-4`).",
            [
                "tavus-gemma-4",
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
        ),
        "model_name": s("Model name as Tavus's CLI sends it (custom models)."),
        "base_url": s(
            "Custom OpenAI-compatible endpoint (streaming /chat/completions), without the route.",
            pattern=f"^(?:https?://\\S+|{VAR})$",
        ),
        "endpoint": s("Custom model endpoint as Tavus's CLI sends it."),
        "is_custom": b("The model is a custom (bring-your-own) LLM."),
        "api_key": secret("API key for the custom endpoint."),
        "speculative_inference": b("Start generating before the user finishes.", default=True),
        "disable_vision": b("Do not give the LLM the visual context."),
        "enable_llm_proxy": b("Route LLM calls through Tavus's proxy."),
        "headers": {
            "type": "object",
            "description": "Custom LLM request headers. Values are secrets: " + SECRET_TEXT,
            "additionalProperties": {
                "type": "string",
                "description": "Header value.",
                SECRET: True,
            },
            "writeOnly": True,
            **MEMBERS,
        },
        "extra_body": {
            "type": "object",
            "description": "Provider parameters sent as is (e.g. temperature 0-2, top_p 0-1). "
            "Compared and patched as one value.",
            **WHOLE,
        },
        "default_query": {
            "type": "object",
            "description": "Default query parameters of the LLM requests, sent as is. Compared "
            "and patched as one value.",
            **WHOLE,
        },
        "tools": TOOLS,
    },
)

voice_settings = open_obj(
    "Provider voice settings (Cartesia: speed, volume, emotion; ElevenLabs: speed, stability, "
    "similarity_boost, style, use_speaker_boost; engine-specific keys beside them). The server "
    "writes `pronunciation_dict_id` / `pronunciation_dictionary_locators` itself (never "
    "compared).",
    {
        "speed": {
            "description": "Cartesia -1.0..1.0 (or a word like `normal`); ElevenLabs 0.7..1.2.",
            "anyOf": [{"type": "number"}, {"type": "string"}],
        },
        "volume": {
            "description": "Output volume (engine-specific scale).",
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
    **MEMBERS,
)

tts = obj(
    "Text-to-speech layer (omit for Tavus's default engine and the face's voice).",
    {
        "tts_engine": enum(
            "Text-to-speech engine.",
            ["cartesia", "elevenlabs", "azure", "playht", "tavus-auto"],
            default="cartesia",
        ),
        "api_key": secret("Provider API key, only needed for private voices."),
        "external_voice_id": s("The provider's voice id."),
        "voice_id": unverified(
            "/layers/tts/voice_id",
            "Voice id.",
            "in no Tavus source (`external_voice_id` is the provider's voice id)",
        ),
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
        "pronunciation_dictionary_id": ref(
            s(
                "Pronunciation dictionary (`pd_...`); one per PAL; empty string removes it.",
                pattern=f"^(?:pd_[0-9A-Za-z]+|{VAR})?$",
            ),
            "dictionaries",
        ),
        "playht_user_id": s("PlayHT user id (legacy engine)."),
    },
)

conferencing = obj(
    "Google Meet identity: the PAL joins meetings it is invited to as <username>@tavusinvite.com."
    " Requires `default_face_id` and the `full` pipeline; sent in its own PATCH request.",
    {
        "username": s(
            "Globally unique, stored lower-case; `botN` is reserved.",
            minLength=2,
            pattern=f"^(?:[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]|{VAR})$",
            examples=["acme-assistant"],
        ),
        "allowlist": strings(
            "Emails or regexes allowed to invite the PAL (e.g. `.*@acme\\.com`); empty = anyone."
        ),
        "whitelabel": b("Join meetings without Tavus branding."),
    },
)

transport = open_obj(
    "Transport (e.g. LiveKit with the echo pipeline).",
    {"transport_type": open_enum("Transport type.", ["livekit", "daily"])},
)

capabilities = obj(
    "What the PAL may do beyond talking.",
    {
        "mcp_enabled": b("Use MCP servers."),
        "search_enabled": b("Search the internet."),
        "activity_log_enabled": b("Keep an activity log."),
        "search_results_prompt_injection_prevention_enabled": b(
            "Guard against prompt injection in search results."
        ),
    },
)

knowledge_base = obj(
    "Retrieval over the PAL's knowledge-base documents.",
    {
        "rag_score_threshold": {
            "type": "number",
            "description": "Minimum relevance score of a retrieved chunk.",
        },
        "rag_n_chunks": {"type": "integer", "description": "How many chunks to retrieve."},
        "rag_surrounding_chunk_radius": {
            "type": "integer",
            "description": "Neighbouring chunks added around each retrieved one.",
        },
        "enable_rag_observability_app_messages": b("Send retrieval details as app messages."),
        "use_procedure_goalchain": b("Use procedure goal chains."),
    },
)

sts = open_obj("Speech-to-speech settings (with `pipeline_mode: speech-to-speech`).", {})

layers = obj(
    "Pipeline layers. Each layer (an unknown one too) is compared member by member: members "
    "the server fills in on its own are not drift.",
    {
        "perception": perception,
        "stt": stt,
        "conversational_flow": conversational_flow,
        "llm": llm,
        "tts": tts,
        "conferencing": conferencing,
        "transport": transport,
        "capabilities": capabilities,
        "knowledge_base": knowledge_base,
        "sts": sts,
        "vqa": obj(
            "Very old vision layer (legacy).",
            {"enable_vision": b("Enable vision.")},
            deprecated=True,
        ),
    },
)

x_palsync = closed(
    "pal-sync's own settings (never sent to the API; an unknown key here is an error).",
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
        "accept_unknown": strings(
            "JSON Pointers of keys that look like typos of known ones but are meant as written "
            "(a field the server returned, written here by import): a warning, not an error.",
            {"type": "string", "pattern": "^(/[^/]*)+$"},
            uniqueItems=True,
        ),
    },
)

pal_name = s("Display name. May change freely; the file name is the PAL's identity.")
NO_PROMPT = " Refused with `pipeline_mode` echo or speech-to-speech."
OPAQUE = "Written by PAL Maker (with `disclosure_type`); shape unconfirmed, sent as written."
properties: dict[str, Any] = {
    "pal_name": pal_name,
    "persona_name": legacy(pal_name, "pal_name"),
    "system_prompt": s("The PAL's system prompt. Required in `full` pipeline mode." + NO_PROMPT),
    "pipeline_mode": enum(
        "`full` runs perception, STT, LLM and TTS; `echo` lip-syncs audio you send; "
        "`speech-to-speech` uses a speech-to-speech model (`layers.sts`).",
        ["full", "echo", "speech-to-speech"],
        default="full",
    ),
    "context": s("Extra context for the LLM." + NO_PROMPT),
    "greeting": s("What the PAL says first (conversations may override it)."),
    "default_face_id": FACE_ID,
    "default_replica_id": legacy(FACE_ID, "default_face_id"),
    "document_ids": strings(
        "Knowledge-base documents available in every conversation.", DOC_ID, uniqueItems=True
    ),
    "document_tags": strings(
        "Attach every document carrying one of these tags.", TAG, uniqueItems=True
    ),
    "tool_ids": strings(
        "Registry tools (/v2/tools) attached to the PAL, by id (system tools by name, e.g. "
        "`end_call`). At most 50.",
        ref({"type": "string", "minLength": 1, "description": "A tool id."}, "tools"),
        maxItems=50,
    ),
    "objectives_id": ref(ident("One objectives set.", "o[0-9a-f]{4,16}", "o12345"), "objectives"),
    "guardrail_ids": strings("Individual guardrails.", GUARDRAIL_ID, maxItems=50, uniqueItems=True),
    "guardrail_tags": strings(
        "Attach every guardrail carrying one of these tags (at most 50 per PAL).",
        TAG,
        maxItems=50,
        uniqueItems=True,
    ),
    "guardrails_id": ref(
        ident("One legacy guardrail set.", "g[0-9a-f]{4,16}", "g12345"), "guardrails"
    ),
    "memories": strings(
        "Seed lines of the PAL's memory store. Compared as one list.",
        {"type": "string", "description": "A memory."},
    ),
    "is_template": b(
        "Marks a template PAL. pal-sync does not manage templates: only `false`.", default=False
    ),
    "disclosure_type": anything("AI disclosure behaviour. " + OPAQUE),
    "verbal_disclosure": anything("What the PAL says to disclose it is an AI. " + OPAQUE),
    "visual_disclosure": anything("How the PAL shows it is an AI. " + OPAQUE),
    "persona_description": anything("Description of the PAL's persona. " + OPAQUE),
    "languages": unverified(
        "/languages", "Languages.", "in no Tavus source (the language is set per conversation)"
    ),
    "layers": layers,
    "x-palsync": x_palsync,
}

#: What the server writes on its own, in the document's shape (`$defs/read-only`: the schema does
#: not use it, pal-sync's tables do). Never compared, sent or imported; at the top level refused
#: in manifests by name (`propertyNames`), below it ignored. tavus-api.md 2a, 2b, 11a.
SERVER_WRITTEN: dict[str, Any] = {
    "pal_id": read_only("The PAL's id (pin a manifest to a PAL with `x-palsync.pal_id`)."),
    "persona_id": read_only("The PAL's id under its legacy name."),
    "created_at": read_only("When the PAL was created."),
    "updated_at": read_only("When the PAL was last changed."),
    "conferencing_email": read_only("The meeting address of `layers.conferencing.username`."),
    "pal_type": read_only("`user`, or `system` for Tavus's own PALs."),
    "persona_type": read_only("`pal_type` under its legacy name."),
    "skills": read_only("Skills, managed through `/v2/pals/{pal_id}/skills`."),
    "publish_url": read_only("Returned with the PAL Builder draft (`source=draft`)."),
}
SERVER_WRITTEN |= {
    name: read_only("Returned on reads by the current API (tavus-api.md 11a).")
    for name in (
        "uuid",
        "owner_id",
        "session_id",
        "is_draft",
        "source_template_id",
        "registration_id",
        "pal_settings_id",
        "is_published",
    )
}
SERVER_WRITTEN["layers"] = {
    "properties": {
        "tts": {
            "properties": {
                "voice_settings": {
                    "properties": {
                        "pronunciation_dict_id": read_only(
                            "Written after `pronunciation_dictionary_id` is set (Cartesia)."
                        ),
                        "pronunciation_dictionary_locators": read_only(
                            "Written after `pronunciation_dictionary_id` is set (ElevenLabs)."
                        ),
                    }
                }
            }
        }
    }
}
READ_ONLY_NAMES = sorted(name for name, sub in SERVER_WRITTEN.items() if sub.get(READ_ONLY))
NON_EMPTY = {"minLength": 1}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://pal-sync.dev/schemas/pal.schema.json",
    "title": "Tavus PAL manifest (pal-sync)",
    "description": "One Tavus PAL per file (pals/<key>.yaml), in the API's own field names, plus "
    "pal-sync's `x-palsync` settings. `${VAR}` / `${VAR:-default}` in strings are read from the "
    "environment at plan/apply time. Fields the server sets ("
    + ", ".join(READ_ONLY_NAMES)
    + ") are refused."
    + OPEN_WORLD,
    "type": "object",
    "properties": properties,
    "propertyNames": {
        "description": "Read-only fields, set by the server: never written in a manifest.",
        "not": {"enum": READ_ONLY_NAMES},
    },
    UNKNOWN: "warn",
    UNVERIFIED: dict(sorted(UNVERIFIED_FIELDS.items())),
    # the rules `validate` checks beyond single fields, so that an editor flags what validate
    # refuses (validate reports them in its own words and skips these schema errors); typos of
    # known keys and two interruptibility spellings with different values stay validate's alone
    "allOf": [
        {
            "description": "Every PAL needs a default face (e.g. the stock face r90bbd427f71).",
            "anyOf": [
                {"required": ["default_face_id"], "properties": {"default_face_id": NON_EMPTY}},
                {
                    "required": ["default_replica_id"],
                    "properties": {"default_replica_id": NON_EMPTY},
                },
            ],
        },
        {
            "description": "`system_prompt` is required with the `full` pipeline (the default).",
            "if": {
                "anyOf": [
                    {"not": {"required": ["pipeline_mode"]}},
                    {"properties": {"pipeline_mode": {"const": "full"}}},
                ]
            },
            "then": {"required": ["system_prompt"], "properties": {"system_prompt": NON_EMPTY}},
        },
        {
            "description": "`echo` and `speech-to-speech` take no `system_prompt`, no `context` "
            "and no `layers.conferencing`.",
            "if": {
                "required": ["pipeline_mode"],
                "properties": {"pipeline_mode": {"enum": ["echo", "speech-to-speech"]}},
            },
            "then": {
                "not": {
                    "anyOf": [
                        {"required": ["system_prompt"]},
                        {"required": ["context"]},
                        {
                            "required": ["layers"],
                            "properties": {"layers": {"required": ["conferencing"]}},
                        },
                    ]
                }
            },
        },
        {
            "description": "A legacy name and its current name are not both set.",
            "not": {
                "anyOf": [
                    {"required": [sub[ALIAS_OF], name]}
                    for name, sub in properties.items()
                    if ALIAS_OF in sub
                ]
            },
        },
        {
            "description": "pal-sync never manages template PALs.",
            "not": {"required": ["is_template"], "properties": {"is_template": {"const": True}}},
        },
    ],
    "$defs": {
        "tool": TOOL,
        READ_ONLY_DEFS: {
            "description": "What the server writes on its own, in the document's shape: never "
            "compared, sent or imported; refused by name at the top level (`propertyNames`), "
            "ignored below it. Not used by this schema: pal-sync's field tables read it.",
            "properties": SERVER_WRITTEN,
        },
    },
}


def outputs() -> dict[Path, str]:
    """file -> its text: the schema, and the field tables derived from its annotations."""
    text = json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"
    return {
        ROOT / "schemas" / "pal.schema.json": text,
        ROOT / "palsync" / "_fields.py": render(derive(json.loads(text))),
    }


def main() -> int:
    """Write the schema and palsync/_fields.py; with `--check`, only compare them with the files
    (exit 1 if one differs)."""
    return write_or_check(
        outputs(),
        ROOT,
        "scripts/build_schema.py",
        "`python scripts/build_schema.py && python scripts/gen_fast_validator.py`",
    )


if __name__ == "__main__":
    sys.exit(main())
