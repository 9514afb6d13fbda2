"""Fault injection and the request log: what tests and demos use to make the emulator unkind."""

from __future__ import annotations

import fnmatch
import random
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
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

    def configure(self, spec: dict[str, Any]) -> None:
        """Replace everything from a JSON spec: `{latency, rules: [{kind, ...}]}`."""
        rules = [
            FaultRule(**{k: v for k, v in r.items() if k not in ("seen", "fired")})
            for r in spec.get("rules", [])
        ]
        with self._lock:
            self.latency = float(spec.get("latency", 0.0))
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
