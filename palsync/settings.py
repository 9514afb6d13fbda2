"""Numeric settings read from the environment (`PALSYNC_*` knobs): one parser, so that every bad
value is the same clear usage error naming the variable (never a crash, never the raw value of a
secret someone pasted there)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

from palsync.errors import UsageError


def env_number(
    var: str,
    *,
    low: float = 0.0,
    high: float = math.inf,
    cast: Callable[[str], float] = float,
    what: str = "a number of seconds",
) -> float | None:
    """The value of `var`, or None when it is unset or empty; a value that `cast` refuses, or
    outside [low, high], or not finite, is a UsageError naming the variable."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return None
    try:
        value = cast(raw)
    except ValueError:
        value = math.nan
    if math.isfinite(value) and low <= value <= high:
        return value
    from palsync.redact import scrub
    from palsync.textsafe import visible

    limits = f" from {low:g} to {high:g}" if math.isfinite(high) else ""
    raise UsageError(
        f"{var}={visible(scrub(raw))[:40]!r} is not {what}{limits}",
        hint=f"unset {var} to use the default",
    )
