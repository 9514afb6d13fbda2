"""Problems → text (`path:line:col: severity: message`), JSON, or GitHub annotations. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence

from palsync.errors import Problem
from palsync.textsafe import visible

FORMATS = ("text", "json", "github")


def summary(problems: Sequence[Problem], files: int) -> str:
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    noun = "file" if files == 1 else "files"
    if not problems:
        return f"{files} {noun} valid"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return f"{', '.join(parts)} in {files} {noun}"


def text_line(p: Problem) -> str:
    return visible(f"{p.location}: {p.severity}: {p.message}")


def render_text(problems: Sequence[Problem]) -> str:
    return "".join(text_line(p) + "\n" for p in problems)


def render_json(problems: Sequence[Problem], files: int) -> str:
    doc = {
        "format_version": 1,
        "valid": not any(p.is_error for p in problems),
        "files": files,
        "errors": sum(p.is_error for p in problems),
        "warnings": sum(not p.is_error for p in problems),
        "problems": [
            {
                "path": p.location.path,
                "line": p.location.line,
                "column": p.location.col,
                "severity": p.severity,
                "pointer": p.pointer,
                "code": p.code,
                "message": p.message,
            }
            for p in problems
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return visible(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(problems: Sequence[Problem]) -> str:
    """GitHub Actions workflow commands: each problem becomes an inline annotation."""
    lines = []
    for p in problems:
        loc = p.location
        props = [f"file={_escape_property(loc.path)}"]
        if loc.line:
            props += [f"line={loc.line}", f"col={loc.col or 1}"]
        props.append("title=pal-sync validate")
        lines.append(f"::{p.severity} {','.join(props)}::{_escape_data(p.message)}\n")
    return "".join(lines)
