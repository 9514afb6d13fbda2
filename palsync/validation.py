"""Checks beyond the schema, and the whole `validate` stage: paths → manifests + problems.

Semantic rules (DESIGN section 3) that JSON Schema cannot express: pipeline and face rules,
literal secrets, `${VAR}` syntax and unset variables, legacy names, pinned stock PALs, duplicates
across files. Offline: no network, no credentials.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from palsync.errors import Problem, dotted
from palsync.fields import (
    CURRENT_SPELLINGS,
    LEGACY_LAYER,
    LEGACY_TOP_LEVEL,
    OPEN_WORLD_CODES,
    SECRET_PARENTS,
    SECRET_POINTERS,
    STOCK_PAL_IDS,
    escape_pointer_token,
    is_secret_pointer,
    split_pointer,
)
from palsync.manifest import _REFERENCE, Manifest, load_paths, references
from palsync.textsafe import BIDI_CONTROLS as BIDI
from palsync.textsafe import suspicious, visible

if TYPE_CHECKING:
    from palsync.cache import ManifestCache


def validate_paths(
    paths: Sequence[str],
    env: Mapping[str, str] | None = None,
    cache: ManifestCache | None = None,
    *,
    strict: bool = False,
) -> tuple[list[Manifest], list[Problem]]:
    """Load and check every manifest under `paths`; problems sorted by file, line, column.

    With a `cache` (plan, apply), files that validated before are not checked again
    (their warnings are not repeated either) and newly valid ones are recorded. `strict`
    makes the open world's warnings errors; it neither reads nor writes the cache (the
    warnings of a cached file are not known)."""
    if strict:
        cache = None
    manifests, problems = load_paths(paths, cache)
    problems = problems + check(manifests, env)
    if strict:
        problems = apply_strict(problems)
    problems.sort(key=Problem.sort_key)
    if cache is not None:
        failed = {p.location.path for p in problems if p.is_error}
        for m in manifests:
            if not m.validated and m.path not in failed:
                cache.put(m.digest, m.raw)
        cache.save()
    return manifests, problems


def check(manifests: Sequence[Manifest], env: Mapping[str, str] | None = None) -> list[Problem]:
    environ = os.environ if env is None else env
    problems: list[Problem] = []
    fresh = [m for m in manifests if not m.validated]
    if fresh:
        from palsync.schema import schema_problems  # not needed when all came from the cache
    for m in fresh:
        problems.extend(schema_problems(m))
        problems.extend(semantic_problems(m, environ))
    problems.extend(_duplicate_names(manifests))
    problems.extend(_duplicate_pins(manifests))
    problems.extend(_secret_variable_problems(manifests))
    return problems


def _error(m: Manifest, pointer: str, message: str, code: str) -> Problem:
    return Problem(m.locate(pointer), message, pointer=pointer, code=code)


def _warning(m: Manifest, pointer: str, message: str, code: str) -> Problem:
    return Problem(m.locate(pointer), message, severity="warning", pointer=pointer, code=code)


def semantic_problems(m: Manifest, env: Mapping[str, str]) -> list[Problem]:
    raw, body = m.raw, m.body
    problems: list[Problem] = []

    for old, new in LEGACY_TOP_LEVEL.items():
        if old in raw:
            if new in raw:
                problems.append(
                    _error(
                        m,
                        "/" + old,
                        f"{old}: both `{old}` and `{new}` are set; keep only `{new}`",
                        "legacy",
                    )
                )
            else:
                problems.append(
                    _warning(m, "/" + old, f"{old}: legacy name; use `{new}`", "legacy")
                )
    problems.extend(_spelling_problems(m))

    face = body.get("default_face_id")
    if face in (None, ""):
        problems.append(
            _error(
                m,
                "",
                "default_face_id: missing; every PAL needs a default face "
                "(e.g. the stock face r90bbd427f71)",
                "required",
            )
        )
    mode = body.get("pipeline_mode", "full")
    if mode in NO_PROMPT_MODES:
        for key in ("system_prompt", "context"):
            if key in body:
                problems.append(
                    _error(
                        m,
                        "/" + key,
                        f"{key}: refused by the API when pipeline_mode is `{mode}` (no LLM "
                        "prompt in that pipeline); remove it or use pipeline_mode: full",
                        "conflict",
                    )
                )
    if mode == "full" and not body.get("system_prompt"):
        where = "/pipeline_mode" if "pipeline_mode" in body else ""
        problems.append(
            _error(
                m,
                where,
                "system_prompt: required when pipeline_mode is `full` "
                "(the default); set one or use pipeline_mode: echo",
                "required",
            )
        )
    layers = body.get("layers")
    conferencing = layers.get("conferencing") if isinstance(layers, dict) else None
    if conferencing is not None:
        if face in (None, ""):
            problems.append(
                _error(
                    m,
                    "/layers/conferencing",
                    "layers.conferencing: needs default_face_id (the API refuses it otherwise)",
                    "required",
                )
            )
        if mode in NO_PROMPT_MODES:
            problems.append(
                _error(
                    m,
                    "/layers/conferencing",
                    f"layers.conferencing: needs the `full` pipeline, not {mode}",
                    "conflict",
                )
            )

    if body.get("is_template") is True:
        problems.append(
            _error(
                m,
                "/is_template",
                "is_template: pal-sync never manages template "
                "PALs (a template would vanish from its own plans); remove it",
                "template",
            )
        )
    pinned = m.settings.pal_id
    if pinned in STOCK_PAL_IDS:
        problems.append(
            _error(
                m,
                "/x-palsync/pal_id",
                f"x-palsync.pal_id: {pinned} is a stock "
                "Tavus PAL; pal-sync never manages stock or template PALs",
                "stock",
            )
        )

    problems.extend(_reference_problems(m, env))
    problems.extend(_header_name_problems(m))
    problems.extend(_hidden_text_problems(m))
    return problems


#: Pipeline modes without an LLM prompt: the API refuses `system_prompt` and `context` there
#: (tavus-api.md 11a), and conferencing needs `full`.
NO_PROMPT_MODES = ("echo", "speech-to-speech")


def _spelling_problems(m: Manifest) -> list[Problem]:
    """Several spellings of one field inside a layer (interruptibility has three): a legacy
    one is warned about; two of them with the same value are redundant (a warning), with
    different values a contradiction (an error: which one is meant?)."""
    layers = m.raw.get("layers")
    if not isinstance(layers, dict):
        return []
    problems: list[Problem] = []
    names: dict[tuple[str, str], list[str]] = {}
    for (layer, old), new in LEGACY_LAYER.items():
        names.setdefault((layer, new), [new]).append(old)
    for (layer, new), spellings in names.items():
        section = layers.get(layer)
        if not isinstance(section, dict):
            continue
        present = [name for name in spellings if name in section]
        for name in present:
            if name != new and (layer, name) not in CURRENT_SPELLINGS:
                where = f"/layers/{layer}/{name}"
                problems.append(
                    _warning(m, where, f"{dotted(where)}: legacy name; use `{new}`", "legacy")
                )
        if len(present) < 2:
            continue
        where = f"/layers/{layer}/{present[1]}"
        same = all(section[name] == section[present[0]] for name in present)
        written = " and ".join(f"`{name}`" for name in present)
        if same:
            problems.append(
                _warning(
                    m,
                    where,
                    f"{dotted(where)}: {written} are one field (written twice, same value); "
                    f"keep only `{new}`",
                    "legacy",
                )
            )
        else:
            problems.append(
                _error(
                    m,
                    where,
                    f"{dotted(where)}: {written} are one field with different values; keep "
                    f"only `{new}`",
                    "legacy",
                )
            )
    return problems


def apply_strict(problems: Sequence[Problem]) -> list[Problem]:
    """`--strict`: the open world's warnings (unknown keys, fields in no Tavus source) are
    errors."""
    return [
        replace(p, severity="error", message=p.message + " (an error under --strict)")
        if p.code in OPEN_WORLD_CODES and not p.is_error
        else p
        for p in problems
    ]


def _reference_problems(m: Manifest, env: Mapping[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    for pointer, value in _secret_values(m.body):
        name = dotted(pointer)
        if isinstance(value, str):
            named = [r for r in references(value, pointer) if r.name]
            if not named:
                problems.append(
                    _error(
                        m,
                        pointer,
                        f"{name}: literal secret; write a reference such as "
                        f"${{{_suggest_var(m.key, pointer)}}} and set that variable in the "
                        "environment",
                        "literal-secret",
                    )
                )
            elif any(r.default for r in named):
                problems.append(
                    _error(
                        m,
                        pointer,
                        f"{name}: a secret reference must not carry a "
                        "literal default (${NAME:-...})",
                        "literal-secret",
                    )
                )
        elif value is not None:  # a number, say: a literal secret as well
            problems.append(
                _error(
                    m,
                    pointer,
                    f"{name}: literal secret; write a "
                    f"reference such as ${{{_suggest_var(m.key, pointer)}}}",
                    "literal-secret",
                )
            )
    if not m.has_dollar:
        return problems  # no `$` in the file: no reference anywhere
    for pointer, text in _dollar_strings(m.body, "", []):
        for ref in references(text, pointer):
            if ref.name is None:
                problems.append(
                    _error(
                        m,
                        pointer,
                        f"{dotted(pointer)}: malformed reference; write ${{NAME}} "
                        "or ${NAME:-default} (use $$ for a literal $)",
                        "interpolation",
                    )
                )
            elif ref.default is None and ref.name not in env:
                problems.append(
                    _warning(
                        m,
                        pointer,
                        f"{dotted(pointer)}: ${{{ref.name}}} is not set in this "
                        "environment (needed at plan/apply time)",
                        "unset-variable",
                    )
                )
    return problems


def secret_values(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(pointer, value) of every secret field of a (resolved) body."""
    return _secret_values(body)


def _secret_values(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(pointer, value) of every secret field present: the API keys and each LLM header."""
    found: list[tuple[str, Any]] = []
    for pointer, tokens in _SECRET_TOKENS:
        value = _walk(body, tokens)
        if value is not _ABSENT:
            found.append((pointer, value))
    for parent, tokens in _PARENT_TOKENS:
        values = _walk(body, tokens)
        if isinstance(values, dict):
            found += [(parent + "/" + escape_pointer_token(k), v) for k, v in values.items()]
    return found


_SECRET_TOKENS = [(p, tuple(split_pointer(p))) for p in sorted(SECRET_POINTERS)]
_PARENT_TOKENS = [(p, tuple(split_pointer(p))) for p in sorted(SECRET_PARENTS)]


def _walk(doc: Any, tokens: tuple[str, ...]) -> Any:
    for token in tokens:
        if type(doc) is not dict or token not in doc:
            return _ABSENT
        doc = doc[token]
    return doc


_ABSENT = object()


def _lookup(doc: Any, pointer: str) -> Any:
    for token in split_pointer(pointer):
        if not isinstance(doc, dict) or token not in doc:
            return _ABSENT
        doc = doc[token]
    return doc


def _dollar_strings(value: Any, pointer: str, out: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(pointer, string) of every string containing a `$`."""
    if isinstance(value, str):
        if "$" in value:
            out.append((pointer, value))
    elif isinstance(value, dict):
        for k, v in value.items():
            _dollar_strings(v, pointer + "/" + escape_pointer_token(str(k)), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _dollar_strings(v, f"{pointer}/{i}", out)
    return out


def _suggest_var(key: str, pointer: str) -> str:
    parts = [key] + [p for p in pointer.split("/") if p and p != "layers"]
    return "_".join("".join(c if c.isalnum() else "_" for c in p).upper() for p in parts)


#: RFC 7230 `token`: what an HTTP header field name may be
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _header_name_problems(m: Manifest) -> list[Problem]:
    """An LLM header name that is not an HTTP token (empty, a `/`, a space, a colon...) is
    refused: no HTTP request can carry it, and its value is a secret that must stay
    recognisable wherever a JSON Pointer names it."""
    problems: list[Problem] = []
    for parent in sorted(SECRET_PARENTS):
        headers = _lookup(m.body, parent)
        if not isinstance(headers, dict):
            continue
        for name in headers:
            if isinstance(name, str) and _HEADER_NAME.fullmatch(name):
                continue
            pointer = parent + "/" + escape_pointer_token(str(name))
            problems.append(
                _error(
                    m,
                    pointer,
                    f"{dotted(parent)}: {str(name)!r} is not a valid HTTP header name (a "
                    "non-empty RFC 7230 token: letters, digits and !#$%&'*+-.^_`|~; no "
                    "spaces, `/` or `:`)",
                    "header-name",
                )
            )
    return problems


#: the Tavus API key's variable: secret wherever a manifest mentions it
API_KEY_VARIABLE = "TAVUS_API_KEY"


def secret_variables(manifests: Sequence[Manifest]) -> dict[str, tuple[Manifest, str]]:
    """Every variable used in a secret field of any of `manifests` → (the first manifest and
    pointer that use it). DESIGN 14: such a variable is secret wherever it appears."""
    found: dict[str, tuple[Manifest, str]] = {}
    for m in manifests:
        for pointer, name, _default, secret in _references_of(m):
            if secret:
                found.setdefault(name, (m, pointer))
    return found


#: id(manifest) → (manifest, its references): validation and plan's value check share one walk
_REFERENCES: dict[int, tuple[Manifest, list[tuple[str, str, str | None, bool]]]] = {}


def _references_of(m: Manifest) -> list[tuple[str, str, str | None, bool]]:
    """(pointer, variable, default, in a secret field) of every `${VAR}` of a manifest."""
    hit = _REFERENCES.get(id(m))
    if hit is not None and hit[0] is m:
        return hit[1]
    found = []
    if m.has_dollar:
        found = [
            (pointer, match.group(1), match.group(2), is_secret_pointer(pointer))
            for pointer, text in _dollar_strings(m.body, "", [])
            for match in _REFERENCE.finditer(text)
            if match.group(1)
        ]
    _REFERENCES[id(m)] = (m, found)
    return found


def non_secret_references(m: Manifest) -> list[tuple[str, str, str | None]]:
    """(pointer, variable, default) of every `${VAR}` in a field that is not secret."""
    return [(p, name, default) for p, name, default, secret in _references_of(m) if not secret]


def _secret_variable_problems(manifests: Sequence[Manifest]) -> list[Problem]:
    """A secret variable (TAVUS_API_KEY, or one used in a secret field of any manifest of the
    run) in a field that is not secret would be printed in plans (posted on pull requests),
    written to plan files and stored in clear in the PAL: an error, found offline by name."""
    if not any(m.has_dollar for m in manifests):
        return []
    secret = secret_variables(manifests)
    problems: list[Problem] = []
    for m in manifests:
        for pointer, name, _default in non_secret_references(m):
            if name == API_KEY_VARIABLE:
                why = "the Tavus API key"
            elif name in secret:
                other, where = secret[name]
                why = f"a secret variable (used in {dotted(where)} of {other.path})"
            else:
                continue
            problems.append(
                _error(
                    m,
                    pointer,
                    f"{dotted(pointer)}: ${{{name}}} is {why}; a field that is not secret is "
                    "shown in plans and stored in clear, so a secret may only be used in "
                    f"{_secret_fields()}",
                    "secret-in-field",
                )
            )
    return problems


def _secret_fields() -> str:
    """Where a secret may be written, in words: `layers.llm.api_key, layers.tts.api_key or a
    layers.llm.headers value`."""
    names = [dotted(p) for p in sorted(SECRET_POINTERS)]
    names += [f"a {dotted(p)} value" for p in sorted(SECRET_PARENTS)]
    return " or ".join(filter(None, (", ".join(names[:-1]), names[-1])))


def leaked_secret_values(
    manifests: Sequence[Manifest], env: Mapping[str, str], holds_secret: Callable[[str], bool]
) -> list[Problem]:
    """Plan time, values known: a variable in a non-secret field whose value holds a known
    secret (`holds_secret(text)`), as when NAME is set to the value of a secret variable, or
    a default that is one. The offline check sees names only; this sees values."""
    problems: list[Problem] = []
    for m in manifests:
        for pointer, name, default in non_secret_references(m):
            value = env.get(name)
            if value is None or (value == "" and default is not None):
                value = default
            if value and holds_secret(value):
                problems.append(
                    _error(
                        m,
                        pointer,
                        f"{dotted(pointer)}: ${{{name}}} holds the value of a secret (the "
                        "Tavus API key or a variable used in a secret field); a field that "
                        "is not secret is shown in plans and stored in clear",
                        "secret-in-field",
                    )
                )
    return problems


def _duplicate_names(manifests: Sequence[Manifest]) -> list[Problem]:
    """Two manifests with one `pal_name` cannot both be told apart by name (adoption). A
    manifest pinned by id (`x-palsync.pal_id`) is not: same-named PALs are normal in Tavus
    accounts (DESIGN 8), and import pins each of them."""
    problems: list[Problem] = []
    first: dict[str, Manifest] = {}
    for m in manifests:
        name = m.body.get("pal_name")
        if not isinstance(name, str) or not name or m.settings.pal_id:
            continue
        same = unicodedata.normalize("NFC", name)  # NFC and NFD spellings look identical
        if same in first:
            problems.append(
                _error(
                    m,
                    "/pal_name",
                    f"pal_name: {visible(repr(name))} is also used by "
                    f"{first[same].path}; names must be unique to tell PALs apart"
                    + (
                        ""
                        if first[same].body.get("pal_name") == name
                        else " (same text, different Unicode normalisation)"
                    ),
                    "duplicate-name",
                )
            )
        else:
            first[same] = m
    return problems


def _duplicate_pins(manifests: Sequence[Manifest]) -> list[Problem]:
    """Two manifests pinned (`x-palsync.pal_id`) to one PAL would overwrite each other's body
    on every apply: a PAL has one manifest."""
    problems: list[Problem] = []
    first: dict[str, Manifest] = {}
    for m in manifests:
        pinned = m.settings.pal_id
        if not pinned:
            continue
        if pinned in first:
            problems.append(
                _error(
                    m,
                    "/x-palsync/pal_id",
                    f"x-palsync.pal_id: {visible(pinned)} is also pinned by {first[pinned].path}; "
                    "a PAL has one manifest",
                    "duplicate-pin",
                )
            )
        else:
            first[pinned] = m
    return problems


#: where a manifest may write its name: checked as a name (every suspicious character), not as
#: an ordinary value
NAME_POINTERS = frozenset(
    {"/pal_name", *("/" + old for old, new in LEGACY_TOP_LEVEL.items() if new == "pal_name")}
)


def _hidden_text_problems(m: Manifest) -> list[Problem]:
    """Warnings for text that does not read as it is: bidi controls and invisible characters
    in `pal_name` or in any key, bidi controls anywhere, and a `pal_name` not in NFC."""
    if m.ascii_only:
        return []  # every character it looks for is outside ASCII
    problems: list[Problem] = []

    def warn(pointer: str, what: str, chars: list[str]) -> None:
        problems.append(
            _warning(
                m,
                pointer,
                f"{visible(dotted(pointer)) or '(document)'}: {what} contains invisible or "
                f"direction-changing characters ({', '.join(chars)}); what reviewers see is "
                "not what is stored. Remove them",
                "hidden-characters",
            )
        )

    def walk(value: Any, pointer: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                child = pointer + "/" + escape_pointer_token(str(k))
                chars = [] if str(k).isascii() else suspicious(str(k))
                if chars:
                    warn(child, "the key", chars)
                walk(v, child)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{pointer}/{i}")
        elif isinstance(value, str) and pointer not in NAME_POINTERS:
            chars = [] if value.isascii() else suspicious(value, only=BIDI)
            if chars:
                warn(pointer, "the value", chars)

    walk(m.raw, "")
    # the name, written as `pal_name` or as the legacy `persona_name` (the body has it renamed;
    # /pal_name locates at whichever key the file has)
    name = m.body.get("pal_name")
    if isinstance(name, str):
        chars = suspicious(name)
        if chars:
            warn("/pal_name", "the name", chars)
        if unicodedata.normalize("NFC", name) != name:
            problems.append(
                _warning(
                    m,
                    "/pal_name",
                    "pal_name: not in Unicode NFC form (it looks like its NFC spelling but "
                    "compares differently, e.g. when a live PAL is adopted by name); retype it "
                    "or normalise the file to NFC",
                    "unicode-normalisation",
                )
            )
    return problems
