"""Live PALs → canonical manifests and lock entries (`pal-sync import`).

Lossless (DESIGN 8): every field the API returns that is not read-only is written, known to
pal-sync or not. Read-only and server fields are dropped, keys follow the schema's order (unknown
ones after, sorted), multi-line text becomes a YAML block scalar, a literal `$` is escaped as
`$$`, and secrets become `${PALSYNC_<KEY>_..._API_KEY}` references. The API never shows a secret,
so the lock records each one as *unverified* (not a fingerprint): the plan right after an import
shows no changes and does not send them; `apply --resend-secrets` does. With `markdown`, a long
prompt is written as `pals/<key>.md`: YAML front matter, and the prompt as the Markdown body.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from palsync.canonical import desired_form, fingerprint, normalise_live
from palsync.fields import (
    KEY_PATTERN,
    SERVER_MANAGED_POINTERS,
    escape_pointer_token,
    is_secret_pointer,
    split_pointer,
)
from palsync.lock import UNVERIFIED, Lock, LockEntry
from palsync.schema import load_schema

HEADER = "# yaml-language-server: $schema=../schemas/pal.schema.json\n"


@dataclass(frozen=True)
class Imported:
    key: str
    pal_id: str
    text: str
    entry: LockEntry
    variables: tuple[str, ...]
    #: the manifest's file name extension: `.yaml`, or `.md` (front matter + prompt)
    suffix: str = ".yaml"


#: with `import --md`, a prompt this long (or of several lines) is written as a `.md` manifest;
#: a short one-line prompt reads better in the YAML itself
MARKDOWN_MIN_CHARS = 100


def slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:60].strip("-")


# what a PAL id from the server may look like before pal-sync uses it anywhere (a URL path, the
# lock, a message): Tavus ids are a letter and hex digits; nothing with `/`, `.` or spaces
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def safe_pal_id(value: Any) -> bool:
    return isinstance(value, str) and SAFE_ID.fullmatch(value) is not None


def unique_key(pal: Mapping[str, Any], taken: set[str]) -> str:
    """A new key for a live PAL: from its name, else its id, always matching the key pattern
    (server values are never trusted as file names)."""
    base = slug(str(pal.get("pal_name") or "")) or slug(f"pal-{pal.get('pal_id', '')}") or "pal"
    if not base[0].isalnum():
        base = f"pal-{base}"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    if not KEY_PATTERN.fullmatch(key):  # cannot happen: slug() keeps [a-z0-9-] only
        raise ValueError(f"import made an invalid key {key!r}")
    taken.add(key)
    return key


def shared_names(pals: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The `pal_name`s more than one of these live PALs has (Tavus suggests a PAL per
    conversation): import pins such PALs by id, since adoption by name cannot tell them apart."""
    seen: set[str] = set()
    shared: set[str] = set()
    for pal in pals:
        name = pal.get("pal_name")
        if isinstance(name, str) and name:
            (shared if name in seen else seen).add(name)
    return frozenset(shared)


def _ordered(doc: Mapping[str, Any], order: list[str]) -> dict[str, Any]:
    known = [k for k in order if k in doc]
    return {k: doc[k] for k in known + sorted(k for k in doc if k not in order)}


def _variable(key: str, pointer: str) -> str:
    parts = [key] + [p for p in split_pointer(pointer) if p != "layers"]
    return "PALSYNC_" + "_".join(re.sub(r"[^A-Za-z0-9]", "_", p).upper() for p in parts)


def manifest_body(pal: Mapping[str, Any], key: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(manifest document, {secret pointer: variable name}) for one live PAL."""
    schema = load_schema()["properties"]
    doc = normalise_live(pal)
    variables: dict[str, str] = {}

    def walk(value: Any, pointer: str) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                child = f"{pointer}/{escape_pointer_token(str(k))}"
                if child in SERVER_MANAGED_POINTERS:
                    continue
                out[k] = walk(v, child)
            return out
        if is_secret_pointer(pointer):
            variables[pointer] = _variable(key, pointer)
            return "${" + variables[pointer] + "}"
        if isinstance(value, str):
            return value.replace("$", "$$")
        if isinstance(value, list):
            return [walk(v, pointer) if isinstance(v, dict | list) else _escape(v) for v in value]
        return value

    body = walk(doc, "")
    layers = body.get("layers")
    if isinstance(layers, dict):
        layer_order = list(schema["layers"]["properties"])
        body["layers"] = {
            name: _ordered(section, list(schema["layers"]["properties"][name]["properties"]))
            if isinstance(section, dict) and name in schema["layers"]["properties"]
            else section
            for name, section in _ordered(layers, layer_order).items()
        }
        body["layers"] = {k: v for k, v in body["layers"].items() if v != {}}
    return _ordered(body, list(schema)), variables


def _escape(value: Any) -> Any:
    return value.replace("$", "$$") if isinstance(value, str) else value


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def to_yaml(body: Mapping[str, Any]) -> str:
    text = yaml.dump(dict(body), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + text


def to_markdown(body: Mapping[str, Any]) -> str | None:
    """The `.md` form (front matter, then the prompt as the body), or None when the prompt
    would not read back exactly (say it ends in a lone carriage return)."""
    from palsync.frontmatter import FrontMatter, split_front_matter

    prompt = body.get("system_prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return None
    front = {k: v for k, v in body.items() if k != "system_prompt"}
    matter = yaml.dump(front, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    text = f"---\n{matter}---\n\n{prompt}\n"
    back = split_front_matter(text)
    if not isinstance(back, FrontMatter) or back.body != prompt:
        return None
    return text


def wants_markdown(body: Mapping[str, Any]) -> bool:
    prompt = body.get("system_prompt")
    return isinstance(prompt, str) and ("\n" in prompt or len(prompt) >= MARKDOWN_MIN_CHARS)


def import_one(
    pal: Mapping[str, Any],
    key: str,
    lock: Lock,
    env: Mapping[str, str] | None = None,
    *,
    markdown: bool = False,
    pin: bool = False,
) -> Imported:
    """One live PAL as a manifest and its lock entry. `markdown`: a long prompt goes in a `.md`
    manifest's body. `pin`: the manifest pins the PAL (`x-palsync.pal_id`), for PALs that share
    their name with another (adoption by name could not tell them apart)."""
    environ = os.environ if env is None else env
    body, variables = manifest_body(pal, key)
    resolved = _unescape(body)
    flat, _ = desired_form(resolved)
    from palsync import redact
    from palsync.schema import typo_pointers

    # their values are secrets of this run: never printed, never written into a manifest
    redact.register(*(environ[name] for name in variables.values() if name in environ))
    # the API never shows a secret: whatever the environment holds now may differ from the live
    # value, so none is fingerprinted; the plan leaves them alone until --resend-secrets
    secrets = dict.fromkeys(variables, UNVERIFIED)
    entry = LockEntry(str(pal["pal_id"]), fingerprint(flat), tuple(sorted(flat)), secrets)
    settings: dict[str, Any] = {}
    if pin:
        settings["pal_id"] = str(pal["pal_id"])
    typos = typo_pointers(body)
    if typos:  # a field the server returned is no typo: written as it is, and validates
        settings["accept_unknown"] = typos
    if settings:
        body = {**body, "x-palsync": settings}
    text, suffix = None, ".yaml"
    if markdown and wants_markdown(body):
        text = to_markdown(body)
        suffix = ".md" if text is not None else suffix
    return Imported(
        key,
        str(pal["pal_id"]),
        text if text is not None else to_yaml(body),
        entry,
        tuple(sorted(variables.values())),
        suffix,
    )


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {k: _unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    return value
