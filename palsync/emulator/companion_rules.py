"""The emulated API's own rules for the companion kinds (tavus-api.md §1d–§1f, §11c): what an
objectives set, a guardrail, a pronunciation dictionary, a document and a skill attachment may
hold, and what the server writes into them on its own (tools: `tool_rules`), with the checks
they share.

Pure functions over plain dicts: a broken rule raises a 400 (`bad_request`); nothing here knows
the account (names taken, references) — the store checks those. Like `rules`, this module keeps
its own knowledge on purpose instead of importing the client's.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from palsync.emulator.rules import bad_request

#: a `{ident}` placeholder in a tool's url, body template, query or headers
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
URL_LIMIT = 2048

# ------------------------------------------------------------------------- objectives (§1d, §11c)

OBJECTIVE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
MAX_OBJECTIVES = 50
NAME_LIMIT = 100
PROMPT_LIMIT = 10_000
MAX_OUTPUT_VARIABLES = 50
CONFIRMATION_MODES = ("auto", "manual")
MODALITIES = ("verbal", "visual", "audio")
OBJECTIVES_READ_ONLY = frozenset({"objectives_id", "created_at", "updated_at"})

# ------------------------------------------------------------------------- guardrails (§1e, §11c)

GUARDRAIL_NAME = re.compile(r"^[A-Za-z0-9_]+$")
GUARDRAIL_PROMPT_LIMIT = 1000
TAG = re.compile(r"^[A-Za-z0-9_\- ]+$")
MAX_TAGS = 32
TAG_LIMIT = 64
GUARDRAIL_READ_ONLY = frozenset({"uuid", "created_at", "updated_at"})
GUARDRAIL_SET_READ_ONLY = frozenset({"guardrails_id", "status", "created_at", "updated_at"})

# ------------------------------------------------------------- pronunciation dictionaries (§11c)

DICTIONARY_NAME_LIMIT = 255
MAX_RULES = 10_000
RULE_TEXT_LIMIT = 200
PRONUNCIATION_LIMIT = 500
RULE_TYPES = ("alias", "ipa")
ALPHABETS = ("ipa",)
DICTIONARY_READ_ONLY = frozenset({"pronunciation_dictionary_id", "created_at", "updated_at"})

# -------------------------------------------------------------------------- documents (§1f)

#: the only fields a document PATCH may carry (§1f: `{document_name?, tags?}`)
DOCUMENT_UPDATABLE = ("document_name", "tags")
MAX_CRAWL_DOCUMENTS = 100
RECRAWL_COOLDOWN = 3600.0

# ---------------------------------------------------------------------------- skills (§11b)

KNOWN_SKILLS = ("memory", "internet_search", "presentation", "magic_canvas")


# ------------------------------------------------------------------------- shared checks


def given(value: Any) -> bool:
    """A member counts as given when present and not null: a plain partial PATCH replaces a
    field with null to clear it (fields replace; there is no merge-style removal)."""
    return value is not None


def need_string(value: Any, where: str, *, low: int = 0, high: int | None = None) -> None:
    if not isinstance(value, str) or len(value) < low or (high is not None and len(value) > high):
        if high is None:
            limits = " (non-empty)" if low else ""
        else:
            limits = f" of {low}–{high} characters" if low else f" of at most {high} characters"
        raise bad_request(f"Invalid value for '{where}': expected a string{limits}")


#: what a plain-PATCH kind says to a JSON Patch array
PLAIN_PATCH = " (this PATCH takes the fields to replace, not a JSON Patch array)"


def object_body(body: Any, style: str = "") -> dict[str, Any]:
    """A request body that must be a JSON object (`style`: what to add when it is not)."""
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object" + style)
    return body


def refuse_fields(body: dict[str, Any], read_only: frozenset[str]) -> None:
    """A 400 naming the first read-only field a write body carries."""
    found = sorted(read_only & set(body))
    if found:
        raise bad_request(f"Field '{found[0]}' is read-only")


def need_enum(value: Any, choices: tuple[str, ...], where: str) -> None:
    if value not in choices or not isinstance(value, str):
        raise bad_request(f"Invalid value for '{where}': expected one of {', '.join(choices)}")


def need_strings(value: Any, where: str, limit: int | None = None) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"Invalid value for '{where}': expected a list of strings")
    if limit is not None and len(value) > limit:
        raise bad_request(f"At most {limit} {where}")


def need_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"Invalid value for '{where}': expected an object")
    return value


def need_url(value: Any, where: str, schemes: tuple[str, ...] = ("https",)) -> None:
    if not isinstance(value, str):
        raise bad_request(f"Invalid value for '{where}': expected a URL")
    # a placeholder in the path is not a host problem: check the URL with it filled in
    try:
        parts = urlsplit(PLACEHOLDER.sub("x", value))
        host = parts.hostname
    except ValueError:  # a malformed host (`https://[`): never quoted back (it may hold a password)
        raise bad_request(f"Invalid value for '{where}': expected a URL") from None
    if parts.scheme not in schemes or not host:
        raise bad_request(f"Invalid value for '{where}': expected an {' or '.join(schemes)} URL")


def need_callback(body: dict[str, Any], where: str = "callback_url") -> None:
    if given(body.get("callback_url")):
        need_string(body["callback_url"], where, high=URL_LIMIT)


# ------------------------------------------------------------------------------- objectives


def check_objectives(objectives: dict[str, Any]) -> None:
    """A whole objectives set `{name, data: [items], allow_loops}` (§11c)."""
    if given(objectives.get("name")):
        need_string(objectives["name"], "name", low=1, high=NAME_LIMIT)
    if given(objectives.get("allow_loops")) and not isinstance(objectives["allow_loops"], bool):
        raise bad_request("Invalid value for 'allow_loops': expected a boolean")
    items = objectives.get("data")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_OBJECTIVES:
        raise bad_request(f"data must be a list of 1–{MAX_OBJECTIVES} objectives")
    names: list[str] = []
    for index, item in enumerate(items):
        where = f"data[{index}]"
        item = need_object(item, where)
        name = item.get("objective_name")
        if (
            not isinstance(name, str)
            or len(name) > NAME_LIMIT
            or not OBJECTIVE_NAME.fullmatch(name)
        ):
            raise bad_request(
                f"Invalid value for '{where}.objective_name': letters, digits and underscores, "
                f"at most {NAME_LIMIT}"
            )
        if name in names:
            raise bad_request(f"Duplicate objective_name '{name}'")
        names.append(name)
    for index, item in enumerate(items):
        _check_objective(item, f"data[{index}]", names)


def _check_objective(item: dict[str, Any], where: str, names: list[str]) -> None:
    need_string(item.get("objective_prompt"), f"{where}.objective_prompt", low=1, high=PROMPT_LIMIT)
    if given(item.get("confirmation_mode")):
        need_enum(item["confirmation_mode"], CONFIRMATION_MODES, f"{where}.confirmation_mode")
    if given(item.get("modality")):
        need_enum(item["modality"], MODALITIES, f"{where}.modality")
    if given(item.get("output_variables")):
        need_strings(
            item["output_variables"], f"{where}.output_variables", limit=MAX_OUTPUT_VARIABLES
        )
    need_callback(item, f"{where}.callback_url")
    name = item["objective_name"]
    required: list[Any] = []
    if given(item.get("next_required_objective")):
        need_string(item["next_required_objective"], f"{where}.next_required_objective")
        required.append(item["next_required_objective"])
    if given(item.get("next_required_objectives")):  # the list of §1d's older pages
        need_strings(item["next_required_objectives"], f"{where}.next_required_objectives")
        required.extend(item["next_required_objectives"])
    conditional = item.get("next_conditional_objectives")
    if given(conditional):
        conditions = need_object(conditional, f"{where}.next_conditional_objectives")
        if not all(isinstance(v, str) for v in conditions.values()):
            raise bad_request(
                f"Invalid value for '{where}.next_conditional_objectives': "
                "expected {objective_name: condition}"
            )
        if given(item.get("next_required_objective")) or given(
            item.get("next_required_objectives")
        ):
            raise bad_request(
                f"{where} ({name}): next_required_objective and next_conditional_objectives "
                "cannot both be set"
            )
        required.extend(conditions)
    for target in required:
        if target == name:
            raise bad_request(f"{where} ({name}) names itself as its next objective")
        if target not in names:
            raise bad_request(f"{where} ({name}) names '{target}', which is not in this set")


def fill_objective_defaults(objectives: dict[str, Any]) -> None:
    """Each item gets `confirmation_mode: auto` and `modality: verbal` when it has none."""
    items = objectives.get("data")
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict):
            item.setdefault("confirmation_mode", "auto")
            item.setdefault("modality", "verbal")


# ------------------------------------------------------------------------------- guardrails


def check_guardrail(guardrail: dict[str, Any], where: str = "") -> None:
    """One guardrail: an individual one, or an item of a legacy set (`where` names it)."""
    prefix = f"{where}." if where else ""
    name = guardrail.get("guardrail_name")
    if not isinstance(name, str) or len(name) > NAME_LIMIT or not GUARDRAIL_NAME.fullmatch(name):
        raise bad_request(
            f"Invalid value for '{prefix}guardrail_name': letters, digits and underscores, "
            f"at most {NAME_LIMIT}"
        )
    need_string(
        guardrail.get("guardrail_prompt"),
        f"{prefix}guardrail_prompt",
        low=1,
        high=GUARDRAIL_PROMPT_LIMIT,
    )
    if given(guardrail.get("modality")):
        need_enum(guardrail["modality"], MODALITIES, f"{prefix}modality")
    need_callback(guardrail, f"{prefix}callback_url")
    if given(guardrail.get("app_message")) and not isinstance(guardrail["app_message"], bool):
        raise bad_request(f"Invalid value for '{prefix}app_message': expected a boolean")
    tags = guardrail.get("tags")
    if tags is not None:
        need_strings(tags, f"{prefix}tags", limit=MAX_TAGS)
        for tag in tags:
            if not TAG.fullmatch(tag) or len(tag) > TAG_LIMIT:
                raise bad_request(
                    f"Invalid tag '{tag}': letters, digits, '_', '-' and spaces, "
                    f"at most {TAG_LIMIT}"
                )


def check_guardrail_set(guardrail_set: dict[str, Any]) -> None:
    """A legacy set as stored (`guardrails_name`, `data`)."""
    if given(guardrail_set.get("guardrails_name")):
        need_string(guardrail_set["guardrails_name"], "name", high=NAME_LIMIT)
    items = guardrail_set.get("data")
    if not isinstance(items, list) or not items:
        raise bad_request("data must be a non-empty list of guardrails")
    for index, item in enumerate(items):
        check_guardrail(need_object(item, f"data[{index}]"), f"data[{index}]")


def guardrail_defaults() -> dict[str, Any]:
    """The members the server writes into an individual guardrail when they are absent."""
    return {"modality": "verbal", "callback_url": "", "tags": [], "app_message": True}


# ------------------------------------------------------------------ pronunciation dictionaries


def check_dictionary(dictionary: dict[str, Any]) -> None:
    need_string(dictionary.get("name"), "name", low=1, high=DICTIONARY_NAME_LIMIT)
    rules = dictionary.get("rules")
    if not given(rules):
        return
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise bad_request(f"rules must be a list of at most {MAX_RULES} rules")
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        rule = need_object(rule, where)
        need_string(rule.get("text"), f"{where}.text", low=1, high=RULE_TEXT_LIMIT)
        if rule["text"] in seen:
            raise bad_request(f"Duplicate rule text '{rule['text']}'")
        seen.add(rule["text"])
        need_string(
            rule.get("pronunciation"), f"{where}.pronunciation", low=1, high=PRONUNCIATION_LIMIT
        )
        if given(rule.get("type")):
            need_enum(rule["type"], RULE_TYPES, f"{where}.type")
        if given(rule.get("alphabet")):
            need_enum(rule["alphabet"], ALPHABETS, f"{where}.alphabet")
        for flag in ("case_sensitive", "word_boundaries"):
            if given(rule.get(flag)) and not isinstance(rule[flag], bool):
                raise bad_request(f"Invalid value for '{where}.{flag}': expected a boolean")


def fill_dictionary_defaults(dictionary: dict[str, Any]) -> None:
    """Each rule gets `case_sensitive: false` and `word_boundaries: true` when it has none."""
    rules = dictionary.get("rules")
    for rule in rules if isinstance(rules, list) else ():
        if isinstance(rule, dict):
            rule.setdefault("case_sensitive", False)
            rule.setdefault("word_boundaries", True)


# -------------------------------------------------------------------------------- documents


def check_document(body: dict[str, Any]) -> None:
    """A document create body (§1f)."""
    need_url(body.get("document_url"), "document_url", ("https", "http"))
    if given(body.get("document_name")):
        need_string(body["document_name"], "document_name", low=1)
    if given(body.get("tags")):
        need_strings(body["tags"], "tags")
    need_callback(body)
    crawl = body.get("crawl")
    if given(crawl):
        for key, value in need_object(crawl, "crawl").items():
            if key in ("depth", "max_pages") and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise bad_request(f"Invalid value for 'crawl.{key}': expected a whole number")
    if given(body.get("properties")):
        need_object(body["properties"], "properties")


def check_document_patch(body: dict[str, Any]) -> None:
    """A document PATCH: plain JSON with `document_name` and/or `tags` (tags overwrite)."""
    for key in body:
        if key not in DOCUMENT_UPDATABLE:
            raise bad_request(
                f"Field '{key}' cannot be updated (only {', '.join(DOCUMENT_UPDATABLE)})"
            )
    if "document_name" in body:
        need_string(body["document_name"], "document_name", low=1)
    if "tags" in body:
        need_strings(body["tags"], "tags")


# ----------------------------------------------------------------------------------- skills


def check_skill_id(skill_id: Any) -> str:
    if not isinstance(skill_id, str) or skill_id not in KNOWN_SKILLS:
        raise bad_request(f"Unknown skill '{skill_id}'")
    return skill_id


def check_skill_config(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise bad_request("Invalid skill config: expected a JSON object")
    return config


def merge_config(config: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge: `patch` members replace, objects merge recursively, null removes."""
    out = dict(config)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        elif isinstance(value, dict):
            out[key] = merge_config({}, value)
        else:
            out[key] = value
    return out
