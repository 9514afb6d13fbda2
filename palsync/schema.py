"""The manifest schema: finding it, the fast yes/no check, and detailed messages for invalid files.

Valid files only pay for the generated validator (`palsync._schema_fast`); jsonschema is imported
for files that fail it, to report every problem with its field path and a suggestion.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from palsync import __version__, _schema_fast
from palsync.errors import Problem, dotted
from palsync.fields import READ_ONLY_TOP_LEVEL, UNVERIFIED, escape_pointer_token
from palsync.manifest import Manifest
from palsync.yamldoc import Positions, is_yaml11_bool

SCHEMA_NAME = "pal.schema.json"


def schema_path(name: str = SCHEMA_NAME) -> Path:
    """A schema (by default the PAL's; `tool.schema.json` etc. for the companion kinds) inside an
    installed wheel, else in the repository's `schemas/` directory."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schemas" / name, here.parent / "schemas" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{name} not found next to the palsync package")


@cache
def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_path().read_text(encoding="utf-8"))
    return schema


def is_valid(document: Any) -> bool:
    try:
        _schema_fast.validate(document)
    except _schema_fast.JsonSchemaValueException:
        return False
    return True


def schema_problems(m: Manifest) -> list[Problem]:
    """Every schema violation of one manifest, or none (fast) when it is valid, and the open
    world's findings (unknown keys: typos are errors, others warnings; unverified fields)."""
    problems = open_world_problems(m)
    if is_valid(m.raw):
        return problems
    import jsonschema  # only invalid files pay for it

    validator = jsonschema.Draft202012Validator(load_schema())
    positions = m.positions
    for error in validator.iter_errors(m.raw):
        if error.absolute_schema_path and error.absolute_schema_path[0] == "allOf":
            continue  # a rule across fields: validate's own checks report it in its words
        problems.extend(_describe(error, positions))
    return problems


#: schema path -> (unknown keys `warn` or `accept`, known keys), from the generated validator
_KNOWN: dict[str, tuple[str, frozenset[str]]] = {
    path: (mode, frozenset(keys)) for path, (mode, keys) in _schema_fast.KNOWN_KEYS.items()
}
#: a key pointer (`*` for list items) where `walk` descends into a list
_LISTS = frozenset(path[:-2] for path in _KNOWN if path.endswith("/*"))
#: how close (difflib ratio) an unknown key must be to a known one to be a typo (an error);
#: `modle` for `model` is 0.8, `future_knob` for any LLM field under 0.5
TYPO = 0.8
#: closer than this, a warning still suggests the known key
HINT = 0.6


def _release() -> str:
    return ".".join(__version__.split(".")[:2])


def open_world_problems(m: Manifest) -> list[Problem]:
    """DESIGN 2, open world. The schema accepts keys it does not list; this walk of the
    manifest finds them: one close to a known key of the same mapping is an error (a typo,
    with "did you mean") unless `x-palsync.accept_unknown` names it; any other is a warning,
    and is sent, compared and patched as written. A field that appears in no Tavus source is a
    warning too. Mappings of unknown keys, free-form objects and open objects are not walked
    (whatever they hold is sent)."""
    found, unverified = _unknown_keys(m.raw)
    if not found and not unverified:
        return []
    settings = m.raw.get("x-palsync")
    accepted = settings.get("accept_unknown") if isinstance(settings, dict) else None
    accepted = set(accepted) if isinstance(accepted, list) else set()
    positions = m.positions
    problems: list[Problem] = []
    for pointer in unverified:
        problems.append(
            Problem(
                positions.locate(pointer, at_key=True),
                f"{_name(pointer)}: appears {UNVERIFIED[pointer]}; accepted without checks "
                "and sent as written",
                severity="warning",
                pointer=pointer,
                code="unverified-field",
            )
        )
    for pointer, path, key in found:
        problems.append(_unknown_key(pointer, key, _KNOWN[path][1], positions, pointer in accepted))
    return problems


def typo_pointers(doc: Mapping[str, Any]) -> list[str]:
    """Pointers of the keys in `doc` that `validate` would refuse as typos of known ones
    (import marks them `x-palsync.accept_unknown`: a field the server returned is no typo)."""
    found, _ = _unknown_keys(doc)
    return [pointer for pointer, path, key in found if _closest(key, _KNOWN[path][1])[2]]


def _unknown_keys(doc: Mapping[str, Any]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """([(pointer, schema path of its mapping, key)] of keys the schema does not list, where
    unknown keys are allowed; [pointers of fields in no Tavus source])."""
    found: list[tuple[str, str, str]] = []
    unverified: list[str] = []

    def walk(value: Any, pointer: str, path: str) -> None:
        if type(value) is dict:
            entry = _KNOWN.get(path)
            if entry is None:
                return
            mode, known = entry
            for key, child in value.items():
                key_text = str(key)
                if key_text in known:
                    child_path = path + "/" + key_text
                    flagged = child_path in UNVERIFIED
                    # a pointer only where it is reported or walked into (most values are
                    # scalars of known keys)
                    if flagged or type(child) is dict or type(child) is list:
                        child_pointer = pointer + "/" + escape_pointer_token(key_text)
                        if flagged:
                            unverified.append(child_pointer)
                        walk(child, child_pointer, child_path)
                elif mode == "warn" and not (path == "" and key_text in READ_ONLY_TOP_LEVEL):
                    found.append((pointer + "/" + escape_pointer_token(key_text), path, key_text))
        elif type(value) is list and path in _LISTS:
            for i, item in enumerate(value):
                walk(item, f"{pointer}/{i}", path + "/*")

    walk(doc, "", "")
    return found, unverified


def _closest(key: str, known: frozenset[str]) -> tuple[str, float, bool]:
    """(the closest known key, its similarity, whether `key` reads as a typo of it)."""
    import difflib

    best, score = "", 0.0
    folded = key.lower().replace("-", "_")
    for candidate in sorted(known):
        if candidate.lower() == folded:  # `System_Prompt`, `system-prompt`
            best, score = candidate, 1.0
            break
        ratio = difflib.SequenceMatcher(None, key, candidate).ratio()
        if ratio > score:
            best, score = candidate, ratio
    # a known name with a word added (`model_v2`, `speculative_inference_mode`) is a new
    # field, not a typo
    extends = key.startswith(best + "_") or key.endswith("_" + best)
    return best, score, score >= TYPO and not extends


def _unknown_key(
    pointer: str, key: str, known: frozenset[str], positions: Positions, accepted: bool = False
) -> Problem:
    where = positions.locate(pointer, at_key=True)
    best, score, typo = _closest(key, known)
    if typo and not accepted:
        return Problem(
            where,
            f"{_name(pointer)}: unknown key; did you mean `{best}`?",
            pointer=pointer,
            code="unknown-key",
        )
    hint = f" (did you mean `{best}`?)" if score >= HINT else ""
    return Problem(
        where,
        f"{_name(pointer)}: not known to pal-sync {_release()}; sent as written{hint}",
        severity="warning",
        pointer=pointer,
        code="unknown-key",
    )


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _name(pointer: str) -> str:
    return dotted(pointer) or "document"


def _describe(error: Any, positions: Positions) -> list[Problem]:
    pointer = _pointer(error.absolute_path)
    where = positions.locate(pointer)
    name = _name(pointer)
    validator = error.validator
    schema = error.schema
    instance = error.instance

    import difflib

    if "propertyNames" in error.schema_path and isinstance(instance, str):
        # a read-only field (the schema's `propertyNames`): `instance` is the key
        child = pointer + "/" + escape_pointer_token(instance)
        hint = (
            " (to pin a PAL, use x-palsync.pal_id)" if instance in ("pal_id", "persona_id") else ""
        )
        return [
            Problem(
                positions.locate(child, at_key=True),
                f"{_name(child)}: read-only field set by the server; remove it{hint}",
                pointer=child,
                code="read-only",
            )
        ]

    if validator == "additionalProperties":  # pal-sync's own (closed) settings
        known = list(schema.get("properties", {}))
        problems = []
        for key in sorted(set(instance) - set(known)):
            child = pointer + "/" + escape_pointer_token(key)
            loc = positions.locate(child, at_key=True)
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            suggestion = f"; did you mean `{close[0]}`?" if close else ""
            message = f"{_name(child)}: unknown key{suggestion}"
            problems.append(Problem(loc, message, pointer=child, code="unknown-key"))
        return problems

    if validator == "type":
        expected = schema["type"]
        text = positions.plain_text(pointer)
        if expected == "string" and isinstance(instance, bool) and is_yaml11_bool(text):
            message = (
                f"{name}: `{text}` is read as the boolean {str(instance).lower()} "
                f'(YAML 1.1); quote it: "{text}"'
            )
        else:
            message = f"{name}: expected {_type_words(expected)}, got {_json_type(instance)}"
        return [Problem(where, message, pointer=pointer, code="type")]

    if validator == "enum":
        values = schema["enum"]
        close = difflib.get_close_matches(str(instance), [str(v) for v in values], n=1)
        suggestion = f"; did you mean `{close[0]}`?" if close else ""
        shown = ", ".join(str(v) for v in values)
        return [
            Problem(
                where,
                f"{name}: {_short(instance)} is not one of: {shown}{suggestion}",
                pointer=pointer,
                code="enum",
            )
        ]

    if validator == "pattern":
        examples = schema.get("examples")
        like = f" (like {examples[0]})" if examples else f" (must match {schema['pattern']})"
        return [
            Problem(
                where,
                f"{name}: {_short(instance)} is not a valid value{like}",
                pointer=pointer,
                code="pattern",
            )
        ]

    if validator == "anyOf":
        options: list[str] = []
        for branch in schema["anyOf"]:
            if "enum" in branch:
                options.extend(repr(v) for v in branch["enum"])
            elif "type" in branch:
                options.append(_type_words(branch["type"]))
        if "a string" in options:  # an open enum: the known values are only suggestions
            options = [o for o in options if not o.startswith("'")]
        text = positions.plain_text(pointer)
        extra = ""
        if isinstance(instance, bool) and is_yaml11_bool(text):
            extra = f" (`{text}` is read as a boolean in YAML 1.1; quote it)"
        return [
            Problem(
                where,
                f"{name}: expected {' or '.join(options)}, got {_json_type(instance)}{extra}",
                pointer=pointer,
                code="type",
            )
        ]

    limits = {
        "maxItems": "at most {} items",
        "minItems": "at least {} items",
        "maxLength": "at most {} characters",
        "minLength": "at least {} characters",
        "minimum": "at least {}",
        "maximum": "at most {}",
    }
    if validator == "minLength" and error.validator_value == 1:
        return [Problem(where, f"{name}: must not be empty", pointer=pointer, code="limit")]
    if validator in limits:
        rule = limits[validator].format(error.validator_value)
        return [Problem(where, f"{name}: must be {rule}", pointer=pointer, code="limit")]
    if validator == "uniqueItems":
        return [Problem(where, f"{name}: items must be unique", pointer=pointer, code="limit")]
    return [Problem(where, f"{name}: {error.message}", pointer=pointer, code=str(validator))]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "mapping"


def _type_words(expected: Any) -> str:
    words = {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "boolean": "a boolean (true/false)",
        "number": "a number",
        "integer": "an integer",
    }
    if isinstance(expected, list):
        return " or ".join(words.get(t, str(t)) for t in expected)
    return words.get(expected, str(expected))
