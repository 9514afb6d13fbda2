"""Fault injection and the request log: what tests and demos use to make the emulator unkind."""

from __future__ import annotations

import fnmatch
import random
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

KINDS = ("status", "drop_after_commit", "drop", "delay", "maker_conflict")
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
    seen: int = field(default=0, repr=False)
    fired: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")

    def public(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    def __init__(self, latency: float = 0.0, seed: int = 1234):
        self._lock = threading.Lock()
        self.latency = latency
        self.rules: list[FaultRule] = []
        self._random = random.Random(seed)

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    SPEC_KEYS = ("latency", "rules")

    def configure(self, spec: dict[str, Any]) -> None:
        """Replace everything from a JSON spec: `{latency, rules: [{kind, ...}]}`.

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
        with self._lock:
            self.latency = float(latency)
            self.rules = rules

    def clear(self) -> None:
        with self._lock:
            self.rules = []
            self.latency = 0.0

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
