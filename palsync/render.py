"""Plans and apply outcomes → text, JSON or Markdown. Pure: returns strings, never prints."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any

from palsync.canonical import MISSING
from palsync.diff import FieldChange
from palsync.errors import dotted
from palsync.plan import SENSITIVE, Change, Plan
from palsync.textsafe import fence_for, html_text, md_inline, visible

SYMBOLS = {"create": "+", "update": "~", "adopt": ">", "delete": "-", "noop": " ", "blocked": "!"}
COLOURS = {
    "create": "green",
    "update": "yellow",
    "adopt": "cyan",
    "delete": "red",
    "blocked": "magenta",
    "noop": "white",
}
MARKDOWN_LIMIT = 65_000
LONG_TEXT = 80


def _value(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    return json.dumps(value, ensure_ascii=False)


def _text_diff(before: str, after: str, indent: str) -> list[str]:
    """Line diff for multi-line text, word diff for long single lines."""
    if "\n" in before or "\n" in after:
        lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=1)
        return [indent + line for line in list(lines)[2:]]
    words = difflib.SequenceMatcher(a=before.split(), b=after.split())
    out = []
    a, b = before.split(), after.split()
    for tag, i1, i2, j1, j2 in words.get_opcodes():
        if tag == "equal":
            chunk = a[i1:i2]
            out.append(" ".join(chunk if len(chunk) <= 6 else [*chunk[:3], "…", *chunk[-3:]]))
        else:
            if i2 > i1:
                out.append("[-" + " ".join(a[i1:i2]) + "-]")
            if j2 > j1:
                out.append("{+" + " ".join(b[j1:j2]) + "+}")
    return [indent + " ".join(out)]


def field_lines(f: FieldChange, indent: str = "      ") -> list[str]:
    name = dotted(f.path)
    if f.sensitive:
        return [f"{indent}{'+' if f.added else '-' if f.removed else '~'} {name}: {SENSITIVE}"]
    if f.removed:
        return [f"{indent}- {name}: {_value(f.before)}"]
    if f.added:
        return [f"{indent}+ {name}: {_value(f.after)}"]
    if (
        isinstance(f.before, str)
        and isinstance(f.after, str)
        and (len(f.before) > LONG_TEXT or len(f.after) > LONG_TEXT or "\n" in f.before + f.after)
    ):
        return [f"{indent}~ {name}:", *_text_diff(f.before, f.after, indent + "    ")]
    return [f"{indent}~ {name}: {_value(f.before)} → {_value(f.after)}"]


def summary_line(c: Change) -> str:
    ident = f" ({c.pal_id})" if c.pal_id else ""
    direction = f" [{c.direction}]" if c.direction and c.action != "noop" else ""
    name = f" {c.pal_name!r}" if c.pal_name else ""
    moved = f" (moved from {c.moved_from})" if c.moved_from else ""
    return f"{SYMBOLS[c.action]} {c.action:<7} {c.key}{name}{ident}{direction}{moved}"


def unverified_note(plan: Plan) -> str | None:
    """The plan's word on the secrets import recorded as unverified (None when there are none)."""
    count = plan.unverified_secrets
    if not count:
        return None
    keys = sorted({c.key for c in plan.changes if c.unverified})
    shown = ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
    return (
        f"{count} secret(s) unverified ({shown}): imported, and the API never shows a secret, "
        "so pal-sync cannot tell whether the live value matches the environment's; they are "
        "not sent. `pal-sync apply --resend-secrets` sends them once from the environment."
    )


def plan_text(plan: Plan, *, colour: bool = False, show_noop: bool = False) -> str:
    import click

    def paint(text: str, action: str) -> str:
        return click.style(text, fg=COLOURS[action]) if colour else text

    lines: list[str] = []
    shown = [c for c in plan.changes if show_noop or c.action != "noop" or c.warnings]
    for c in shown:
        lines.append(paint(visible(summary_line(c)), c.action))
    if shown:
        lines.append("")
    for c in shown:
        if c.action == "noop" and not c.warnings:
            continue
        details = [
            *(f"      ! {r}" for r in c.reasons),
            *(f"      warning: {w}" for w in c.warnings),
        ]
        if c.action in ("update", "adopt", "create", "blocked"):
            for f in c.fields:
                details.extend(field_lines(f))
        if details:
            lines.append(paint(visible(summary_line(c)), c.action))
            lines.extend(visible(line) for line in details)
    for warning in plan.warnings:
        lines.append(visible(f"warning: {warning}"))
    note = unverified_note(plan)
    if note:
        lines.append(visible(note))
    counts = plan.summary()
    parts = [f"{counts[a]} to {a}" for a in ("create", "update", "adopt", "delete") if counts[a]]
    if counts["blocked"]:
        parts.append(f"{counts['blocked']} blocked")
    if not parts:
        lines.append(f"No changes. {counts['noop']} PAL(s) up to date.")
    else:
        lines.append(f"Plan: {', '.join(parts)}; {counts['noop']} unchanged.")
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, ensure_ascii=False) + "\n"


def plan_markdown(plan: Plan) -> str:
    """A PR comment: summary table first, one collapsible block per changed PAL, trimmed."""
    counts = plan.summary()
    head = ["### pal-sync plan", "", "| action | count |", "| --- | ---: |"]
    head += [f"| {a} | {counts[a]} |" for a in counts]
    head.append("")
    if not plan.has_changes and not plan.blocked:
        head.append("**No changes.**")
    blocks: list[str] = []
    for c in plan.changes:
        if c.action == "noop" and not c.warnings:
            continue
        # untrusted text (names, keys, values, reasons) never reaches Markdown or HTML raw:
        # the title is escaped HTML, the body sits in a fence longer than any backtick run
        title = html_text(summary_line(c).strip())
        body = [*(f"! {r}" for r in c.reasons), *(f"warning: {w}" for w in c.warnings)]
        for f in c.fields:
            body.extend(
                line.strip() if not line.startswith("          ") else line[6:]
                for line in field_lines(f)
            )
        body = [visible(line) for text in body for line in text.splitlines() or [""]]
        fence = fence_for(body)
        blocks.append(
            "\n".join(
                [
                    "<details>",
                    f"<summary><code>{title}</code></summary>",
                    "",
                    f"{fence}diff",
                    *body,
                    fence,
                    "",
                    "</details>",
                    "",
                ]
            )
        )
    for warning in plan.warnings:
        blocks.append(f"> warning: {md_inline(warning)}\n")
    note = unverified_note(plan)
    if note:
        head += ["", f"> {md_inline(note)}"]
    out = "\n".join(head) + "\n"
    for i, block in enumerate(blocks):
        if len(out) + len(block) > MARKDOWN_LIMIT - 200:
            out += (
                f"\n_… {len(blocks) - i} more block(s) trimmed to stay under GitHub's comment "
                "limit; run `pal-sync plan` for the full plan._\n"
            )
            break
        out += block
    return out


def outcomes_text(rows: Sequence[tuple[str, str, str, str, str]]) -> str:
    """The per-PAL result table at the end of an apply: key, action, pal_id, result, message."""
    header = ("KEY", "ACTION", "PAL ID", "RESULT", "MESSAGE")
    table = [header, *(tuple(visible(cell, keep="") for cell in row) for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = []
    for r in table:
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return "\n".join(line.rstrip() for line in lines) + "\n"
