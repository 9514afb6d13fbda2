"""The building blocks both schema generators share (scripts/build_schema.py for PALs,
scripts/build_kind_schemas.py for the companion kinds): one vocabulary, one wording. The
annotation names themselves are palsync.fieldspec's (the code that reads them back)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from palsync.fieldspec import SECRET

VAR = r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}"


#: How `pal-sync validate` treats keys a mapping's `properties` do not list (an annotation for
#: validate's own walk, ignored by JSON Schema tools): `warn` = open world (DESIGN 2): a key close
#: to a known one is an error (a typo), any other a warning, sent as written; `accept` = an open
#: object whose other members are part of the API (no warning). Closed objects (pal-sync's own
#: `x-palsync`) say `additionalProperties: false` instead.
UNKNOWN = "x-unknown-keys"


OPEN_WORLD = (
    " Keys not listed here are allowed (Tavus adds fields faster than any client ships): "
    '`pal-sync validate` reports a key close to a known one as an error (a typo, with "did you '
    'mean"), any other as a warning; it is then sent, compared and patched as written. '
    "`--strict` makes those warnings errors."
)


OPEN_OBJECT = " An open object: members not listed here are accepted as written, no warning."


def s(desc: str, **kw: Any) -> dict[str, Any]:
    return {"type": "string", "description": desc, **kw}


def b(desc: str, **kw: Any) -> dict[str, Any]:
    return {"type": "boolean", "description": desc, **kw}


def enum(desc: str, values: list[str], **kw: Any) -> dict[str, Any]:
    return {"type": "string", "description": desc, "enum": values, **kw}


def obj(desc: str, props: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A mapping of the API: known members typed, others open world (see OPEN_WORLD)."""
    return {
        "type": "object",
        "description": desc + OPEN_WORLD,
        "properties": props,
        UNKNOWN: "warn",
        **kw,
    }


def open_obj(desc: str, props: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A mapping documented as open: any member accepted, the known ones typed."""
    return {
        "type": "object",
        "description": desc + OPEN_OBJECT,
        "properties": props,
        UNKNOWN: "accept",
        **kw,
    }


def closed(desc: str, props: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """pal-sync's own settings: nothing is sent, so an unknown key is always an error."""
    return {
        "type": "object",
        "description": desc,
        "properties": props,
        "additionalProperties": False,
        **kw,
    }


def anything(desc: str, **kw: Any) -> dict[str, Any]:
    """A value whose shape no Tavus source confirms: any JSON value, sent as written."""
    return {"description": desc, **kw}


SECRET_TEXT = (
    "Secret (write-only): must be a `${VAR}` reference, read from the environment at plan/apply "
    "time; never compared with what the API returns, sent when its fingerprint changes."
)


def secret(desc: str) -> dict[str, Any]:
    """A secret string: write-only for the API, `${VAR}` only, fingerprinted, redacted."""
    return s(desc + " " + SECRET_TEXT, writeOnly=True, **{SECRET: True})


TAG = {"type": "string", "minLength": 1, "maxLength": 64, "description": "A tag."}


def write_or_check(files: dict[Path, str], root: Path, script: str, then: str) -> int:
    """Write the generated `files`; with `--check` on the command line, only compare them with
    what is committed and exit 1 naming each one that differs (`then`: what to run to fix it)."""
    if "--check" in sys.argv:
        stale = [
            out
            for out, text in files.items()
            if (out.read_text(encoding="utf-8") if out.exists() else "") != text
        ]
        for out in stale:
            print(
                f"{out.relative_to(root)} differs from what {script} generates: edit {script} "
                f"(not the generated file), then run {then}"
            )
        return 1 if stale else 0
    for out, text in files.items():
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out.relative_to(root)}")
    return 0
