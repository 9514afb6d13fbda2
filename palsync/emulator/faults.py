"""Fault injection and the request log: what tests and demos use to make the emulator unkind."""

from __future__ import annotations

import fnmatch
import math
import random
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

KINDS = (
    "status",
    "drop_after_commit",
    "drop",
    "delay",
    "maker_conflict",
    # a misbehaving server (issue 10): answers that are not the API's own
    "redirect",  # a 3xx to `location` (default 302), nothing done
    "body",  # `status` (2xx, default 200) with `content_type` and `text` as the body, nothing done
    "huge",  # 200 application/json of `size` bytes, streamed (chunked), nothing done
    "total_count",  # the real answer, its `total_count` removed (`value` null), replaced
    # (`value`), or moved by `offset`
)
HTML_PAGE = "<!doctype html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
_ID = re.compile(r"^(/v2/[a-z-]+)/[^/]+")


@dataclass
class FaultRule:
    """One fault: `kind` applied to requests matching `method` and `path` (fnmatch glob).

    `after` skips the first N matching requests, `times` fires at most N times, `rate` fires
    with that probability (seeded, so runs repeat).
    """

    kind: str
    method: str | None = None
    path: str = "*"
    times: int | None = None
    after: int = 0
    rate: float | None = None
    status: int = 503
    retry_after: str | None = "0"
    seconds: float = 0.0
    location: str = "https://login.example.com/sso"
    content_type: str = "text/html; charset=utf-8"
    text: str = HTML_PAGE
    size: int = 0
    value: Any = None
    offset: int = 0
    seen: int = field(default=0, repr=False)
    fired: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")

    def public(self) -> dict[str, Any]:
        return asdict(self)


class TokenBucket:
    """A request-rate limit: `rate` requests a second, bursts of up to `burst`; a request that
    finds the bucket empty is answered 429 with `Retry-After` (whole seconds, as HTTP says) and,
    with `headers`, `RateLimit-Limit/-Remaining/-Reset` on every answer."""

    def __init__(self, rate: float, burst: int = 1, headers: bool = False):
        number = isinstance(rate, int | float) and not isinstance(rate, bool)
        if not (number and math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate limit: rate must be a positive number, not {rate!r}")
        if not (isinstance(burst, int) and not isinstance(burst, bool) and burst >= 1):
            raise ValueError(f"rate limit: burst must be a whole number >= 1, not {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self.headers = bool(headers)
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._lock = threading.Lock()
        self.allowed = 0
        self.refused = 0

    def take(self) -> tuple[bool, dict[str, str]]:
        """(allowed, headers to send)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            allowed = self._tokens >= 1
            if allowed:
                self._tokens -= 1
                self.allowed += 1
            else:
                self.refused += 1
            wait = max(0.0, (1 - self._tokens) / self.rate)
            headers: dict[str, str] = {}
            if not allowed:
                headers["Retry-After"] = str(max(1, math.ceil(wait)))
            if self.headers:
                headers["RateLimit-Policy"] = f"{self.rate:g};w=1;burst={self.burst}"
                headers["RateLimit-Limit"] = str(self.burst)
                headers["RateLimit-Remaining"] = str(int(self._tokens))
                headers["RateLimit-Reset"] = str(max(1, math.ceil(wait)))
            return allowed, headers

    def public(self) -> dict[str, Any]:
        return {"rate": self.rate, "burst": self.burst, "headers": self.headers}


class Faults:
    def __init__(self, latency: float = 0.0, seed: int = 1234):
        self._lock = threading.Lock()
        self.latency = latency
        self.rules: list[FaultRule] = []
        self.rate_limit: TokenBucket | None = None
        self._random = random.Random(seed)

    def set_rate_limit(self, rate: float | None, burst: int = 1, headers: bool = False) -> None:
        """A token-bucket limit on every API request (None: no limit)."""
        self.rate_limit = None if rate is None else TokenBucket(rate, burst, headers)

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    SPEC_KEYS = ("latency", "rules", "rate_limit")

    def configure(self, spec: dict[str, Any]) -> None:
        """Replace everything from a JSON spec: `{latency, rules: [{kind, ...}], rate_limit}`.

        A spec with an unknown key or a value of the wrong type is refused (ValueError naming
        it): a misspelt `rulez` must not quietly run a test with no faults at all."""
        if not isinstance(spec, dict):
            raise ValueError('a fault spec must be a JSON object: {"rules": [...]}')
        unknown = sorted(str(k) for k in spec if k not in self.SPEC_KEYS)
        if unknown:
            raise ValueError(
                f"unknown key(s) {', '.join(map(repr, unknown))} in the fault spec; "
                f"known: {', '.join(self.SPEC_KEYS)}"
            )
        raw_rules = spec.get("rules", [])
        if not isinstance(raw_rules, list):
            raise ValueError('rules must be a list of objects such as {"kind": "status"}')
        rules = [_rule(r, i) for i, r in enumerate(raw_rules)]
        latency = spec.get("latency", 0.0)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            raise ValueError(f"latency must be a number of seconds >= 0, not {latency!r}")
        limit = spec.get("rate_limit")
        if limit is not None and not isinstance(limit, dict):
            raise ValueError("rate_limit must be an object: {rate, burst, headers}")
        try:
            bucket = TokenBucket(**limit) if limit else None
        except TypeError as err:
            raise ValueError(f"rate_limit: {err}; known: rate, burst, headers") from None
        with self._lock:
            self.latency = float(latency)
            self.rules = rules
            self.rate_limit = bucket

    def clear(self) -> None:
        with self._lock:
            self.rules = []
            self.latency = 0.0
            self.rate_limit = None

    def match(self, method: str, path: str) -> FaultRule | None:
        """The first rule that fires for this request (counting it), or None."""
        if path.startswith("/_emulator"):
            return None
        with self._lock:
            for rule in self.rules:
                if rule.method and rule.method.upper() != method:
                    continue
                if not fnmatch.fnmatchcase(path, rule.path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.rate is not None and self._random.random() >= rule.rate:
                    continue
                rule.fired += 1
                return rule
        return None


_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "None": (type(None),),
}


def _rule(raw: Any, index: int) -> FaultRule:
    """One rule of a JSON spec, its field names and value types checked."""
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        raise ValueError(f'{where} must be an object such as {{"kind": "status"}}')
    known = {f.name: str(f.type) for f in fields(FaultRule) if f.name not in ("seen", "fired")}
    unknown = sorted(str(k) for k in raw if k not in known and k not in ("seen", "fired"))
    if unknown:
        raise ValueError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    if "kind" not in raw:
        raise ValueError(f"{where}: `kind` is required; one of {', '.join(KINDS)}")
    for name, value in raw.items():
        names = [t.strip() for t in known[name].split("|")]
        if any(t not in _TYPES for t in names):
            continue  # Any, or a type this check does not know: accepted as given
        allowed = tuple(t for n in names for t in _TYPES[n])
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise ValueError(f"{where}.{name} must be {known[name]}, not {value!r}")
    return FaultRule(**{k: v for k, v in raw.items() if k in known})  # counters start at 0


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[tuple[str, str, int]] = []

    def record(self, method: str, target: str, status: int) -> None:
        if target.startswith("/_emulator"):
            return
        with self._lock:
            self.entries.append((method, target, status))

    def clear(self) -> None:
        with self._lock:
            self.entries = []

    def counts(self) -> dict[str, int]:
        """Requests per `METHOD /path` with ids templated: {"GET /v2/pals/{id}": 3, ...}."""
        with self._lock:
            entries = list(self.entries)
        counter: Counter[str] = Counter()
        for method, target, _ in entries:
            path = target.split("?", 1)[0]
            templated = _ID.sub(lambda m: m.group(1) + "/{id}", path)
            counter[f"{method} {templated}"] += 1
        return dict(counter)
