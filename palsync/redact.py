"""Known secret values (the API key, every variable used in a secret field) and the one function
that removes them from any text pal-sync prints or writes (DESIGN 14). Process-wide on purpose:
an error message built deep in a library call must be scrubbed as surely as a plan."""

from __future__ import annotations

import threading

MASK = "(sensitive)"
#: shorter values would redact ordinary words; such secrets are refused or warned about elsewhere
MIN_LENGTH = 4

_lock = threading.Lock()
_values: frozenset[str] = frozenset()


def register(*values: str | None) -> None:
    """Remember secret values so that `scrub` removes them from now on."""
    global _values
    fresh = {v for v in values if v and len(v) >= MIN_LENGTH}
    if fresh - _values:
        with _lock:
            _values = _values | fresh


def scrub(text: str) -> str:
    """`text` with every known secret value replaced by (sensitive); longest first, so a value
    that contains another is removed whole."""
    if not _values or not text:
        return text
    for value in sorted(_values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def reset() -> None:
    """Forget every value (tests; one process runs many commands there)."""
    global _values
    with _lock:
        _values = frozenset()
