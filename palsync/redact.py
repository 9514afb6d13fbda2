"""Known secret values (the API key, every variable used in a secret field) and the one function
that removes them from any text pal-sync prints or writes (DESIGN 14). Process-wide on purpose:
an error message built deep in a library call must be scrubbed as surely as a plan.

The console entry point wraps stdout and stderr in `ScrubbingStream`, so whatever reaches the
terminal (plans, `-v` request logs, error messages, "Internal error" lines, debug tracebacks)
passes through `scrub`; files pal-sync writes (plan files, imported manifests) call it directly.
"""

from __future__ import annotations

import re
import threading
from typing import Any, TextIO

MASK = "(sensitive)"
#: shorter values would redact ordinary words; such secrets are refused or warned about elsewhere
MIN_LENGTH = 4

_lock = threading.Lock()
_values: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None
#: values already registered (a thousand manifests name the same key: one look each)
_seen: set[str] = set()
#: what `textsafe.md_inline` backslash-escapes: every ASCII punctuation character
_MD_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def _forms(value: str) -> set[str]:
    """The ways one secret can appear in text: as is, stripped, escaped as in JSON or in a
    Python repr (an exception message quoting a header), percent-encoded (URL userinfo),
    escaped for HTML or Markdown (the Markdown plan), and each line of a multi-line value."""
    import html
    import json
    from urllib.parse import quote

    forms = {value, value.strip()}
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(json.dumps(value)[1:-1])
    forms.add(repr(value)[1:-1])
    forms.add(value.encode("unicode_escape").decode("ascii"))
    forms.add(quote(value, safe=""))
    forms.add(html.escape(value))  # the Markdown plan's HTML parts
    forms.add(html.escape(value, quote=False))
    forms.add(_MD_PUNCTUATION.sub(r"\\\1", value))  # Markdown inline text (textsafe.md_inline)
    if "\n" in value or "\r" in value:
        forms.update(line.strip() for line in value.splitlines())
    return {f for f in forms if len(f) >= MIN_LENGTH}


def register(*values: str | None) -> None:
    """Remember secret values so that `scrub` removes them from now on."""
    global _values, _pattern
    fresh: set[str] = set()
    for value in values:
        if isinstance(value, str) and value and value not in _seen:
            _seen.add(value)
            fresh |= _forms(value)
    if fresh - _values:
        with _lock:
            _values = _values | fresh
            # longest first, so a value that contains another is removed whole
            ordered = sorted(_values, key=lambda v: (-len(v), v))
            _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def known() -> frozenset[str]:
    """Every registered form (tests, and checks that a value is not used where it would show)."""
    return _values


def contains_secret(text: str) -> bool:
    pattern = _pattern
    return bool(pattern is not None and text and pattern.search(text))


def scrub(text: str) -> str:
    """`text` with every known secret value replaced by (sensitive)."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def reset() -> None:
    """Forget every value (tests; one process runs many commands there)."""
    global _values, _pattern
    with _lock:
        _values = frozenset()
        _pattern = None
        _seen.clear()


class ScrubbingStream:
    """A text stream that scrubs every write: what pal-sync prints cannot carry a known secret,
    whichever code path built the text. Everything else is delegated to the wrapped stream,
    except the binary `buffer` (a writer going around the scrubbing would defeat it)."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    @property
    def wrapped(self) -> TextIO:
        return self._stream

    def write(self, text: str) -> int:
        self._stream.write(scrub(text) if isinstance(text, str) else text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            raise AttributeError("buffer")  # click then writes text through `write`
        return getattr(self._stream, name)
