"""Showing untrusted strings safely: invisible characters made visible, Markdown/HTML escaped.

Manifests and servers supply names, keys, values, reasons and warnings that pal-sync prints.
None of them may hide text (bidi overrides, zero-width characters), end a Markdown block or a
code fence, or inject HTML into a pull-request comment. Pure and stdlib-only: `validate` uses it.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Characters that reorder or hide text: the Trojan Source bidi controls, zero-width characters,
# invisible operators and the byte-order mark. Validation warns about these by name.
SUSPICIOUS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]  # LRE RLE PDF LRO RLO
    + [chr(c) for c in range(0x2066, 0x206A)]  # LRI RLI FSI PDI
    + [chr(c) for c in range(0x200B, 0x2010)]  # ZWSP ZWNJ ZWJ LRM RLM
    + [chr(c) for c in range(0x2060, 0x2065)]  # word joiner, invisible operators
    + ["\u061c", "\u180e", "\ufeff", "\u00ad", "\u034f", "\u115f", "\u1160", "\u3164"]
)
BIDI_CONTROLS = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])

# categories never shown raw in human output: controls, format characters, line/paragraph
# separators, private use and unassigned code points
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"})


def _hidden(ch: str, keep: str) -> bool:
    if ch in keep:
        return False
    if ch in SUSPICIOUS:
        return True
    if ch.isascii():
        return not ch.isprintable()
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


_MAYBE_HIDDEN = re.compile(r"[^\x20-\x7e]")


def visible(text: str, keep: str = "\n\t") -> str:
    """`text` with every invisible or control character written as `\\uXXXX` (except `keep`)."""
    if not _MAYBE_HIDDEN.search(text):
        return text  # printable ASCII: the common case, no per-character work
    return "".join(_escape_char(ch) if _hidden(ch, keep) else ch for ch in text)


_SUSPICIOUS_RE = re.compile("[" + "".join(sorted(SUSPICIOUS)) + "]")


def suspicious(text: str, only: frozenset[str] = SUSPICIOUS) -> list[str]:
    """The distinct suspicious characters in `text` (those of `only`), as `U+XXXX NAME`."""
    found: list[str] = []
    for ch in _SUSPICIOUS_RE.findall(text):
        if ch in only:
            label = f"U+{ord(ch):04X} {unicodedata.name(ch, 'UNNAMED')}"
            if label not in found:
                found.append(label)
    return found


def html_text(text: str) -> str:
    """For HTML element content (`<summary>`): one line, `<>&` escaped, invisibles visible."""
    return html.escape(visible(" ".join(text.splitlines()), keep=""), quote=False)


_MD_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def md_inline(text: str) -> str:
    """For Markdown inline text and table cells: one line, every ASCII punctuation character
    backslash-escaped (CommonMark allows it for all of them), so no content can open a link,
    an image, HTML, emphasis, a code span, or a table column."""
    one_line = " ".join(visible(text, keep="\n").splitlines())
    return _MD_PUNCTUATION.sub(r"\\\1", one_line)


def fence_for(lines: list[str], char: str = "`") -> str:
    """A code fence longer than any run of `char` in `lines` (at least three)."""
    longest = 0
    for line in lines:
        for run in re.findall(re.escape(char) + "+", line):
            longest = max(longest, len(run))
    return char * max(3, longest + 1)
