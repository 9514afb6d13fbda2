"""The Tavus API client: the only module that speaks HTTP.

One httpx client per run, a concurrency limit shared by every call, concurrent pagination,
retries with exponential backoff and full jitter (honouring Retry-After) under a run-wide budget,
and one error family. A create is never retried blindly once it may have reached the server: the
caller gets `OutcomeUnknown` and decides. The API key never appears in a message, log or repr.
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import json as jsonlib
import math
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from palsync.errors import ApiError, MakerConflict, NotFound, OutcomeUnknown, UsageError
from palsync.fields import is_lease_pal, is_secret_pointer, is_user_pal
from palsync.kinds import DOCUMENTS, FACES, GUARDRAILS, OBJECTIVES, PALS, Kind
from palsync.redact import register, scrub
from palsync.settings import env_number

DEFAULT_URL = "https://tavusapi.com"
PAGE_SIZE = 100
#: past this many pages of one list, the server's paging is taken to be broken
MAX_PAGES = 2000
#: the most pal-sync reads of one answer (a 1,000-PAL page of full objects is about 5 MiB)
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
#: the longest server message shown in an error
DETAIL_LIMIT = 300
RETRY_STATUS = {429, 502, 503, 504}
T = TypeVar("T")
R = TypeVar("R")

#: what the API shows in place of a write-only secret (tool `delivery.api.auth.*`, tavus-api.md
#: 11b): sent back, the server would store the asterisks as the new secret
MASKED_SECRET = "********"
#: the last token of a pointer that names a secret in any object (tool auth, a future layer)
_SECRETISH = frozenset({"api_key", "token", "password", "secret", "client_secret"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class PatchResult:
    changed: bool
    status: int
    discarded_maker_changes: bool = False
    publish_url: str | None = None
    body: dict[str, Any] | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def shown_url(url: str) -> str:
    """`scheme://host[:port]` of a URL: never its user:password@, path or query (which may hold
    tokens); `(unparseable URL)` when there is no host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "(unparseable URL)"
    if not parts.scheme or not host:
        return "(unparseable URL)"
    host = f"[{host}]" if ":" in host else host
    return scrub(f"{parts.scheme}://{host}" + (f":{port}" if port else ""))


def clean(text: str, limit: int = DETAIL_LIMIT) -> str:
    """Server text made safe to print: known secrets removed, control and bidi characters
    escaped, cut to `limit` characters."""
    text = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", scrub(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_api_key(key: str, source: str = "TAVUS_API_KEY") -> None:
    """The key travels in an HTTP header: visible ASCII only. Never shows the key."""
    for position, char in enumerate(key, 1):
        if char in "\r\n":
            problem = "a line break"
        elif not char.isascii():
            problem = "a non-ASCII character"
        elif not char.isprintable() or char.isspace():
            problem = "a space or a non-printable character"
        else:
            continue
        raise UsageError(
            f"the API key from {source} contains {problem} (character {position} of {len(key)}); "
            "an API key is visible ASCII only",
            hint="copy the key again from the Tavus dashboard (no quotes, no line break inside)",
        )


def _unwrap(body: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    """Get-by-id bodies come as `{data: [obj]}`, `{data: obj}` or flat; accept all three."""
    if "data" not in body:
        return body
    data = body["data"]
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        return data[0]
    if isinstance(data, dict):
        return data
    raise ApiError(method, path, status, "answered without the object (`data` is not one object)")


def _secretish(pointer: str) -> bool:
    """A pointer whose value is (or may be) write-only: pal-sync's secret fields, anything under
    an `auth` object, and members named like a credential."""
    if is_secret_pointer(pointer):
        return True
    tokens = pointer.split("/")[1:]
    return "auth" in tokens[:-1] or (bool(tokens) and tokens[-1].lower() in _SECRETISH)


def masked_secrets(value: Any, pointer: str = "") -> list[str]:
    """The pointers under `pointer` where `value` holds the server's secret mask at a secret
    field: sending it would overwrite the real secret with asterisks."""
    if isinstance(value, dict):
        return [
            found
            for key, child in value.items()
            for found in masked_secrets(
                child, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            )
        ]
    if isinstance(value, list):
        return [f for i, child in enumerate(value) for f in masked_secrets(child, f"{pointer}/{i}")]
    return [pointer] if value == MASKED_SECRET and _secretish(pointer) else []


def _refuse_masked(method: str, path: str, found: list[str]) -> None:
    if found:
        raise ApiError(
            method,
            path,
            None,
            f"not sent: the value of {', '.join(found[:3])} is the server's mask "
            f"{MASKED_SECRET!r}, not a secret; sending it would replace the real secret",
            hint="set the secret from the environment (${VAR}), or leave the field out to keep "
            "the one the account has",
        )


def _detail(response: httpx.Response) -> tuple[str, dict[str, Any] | None]:
    try:
        body = response.json()
    except ValueError:
        return (response.reason_phrase or "error"), None
    if isinstance(body, dict):
        text = body.get("error") or body.get("message") or response.reason_phrase
        return clean(str(text)), body
    return response.reason_phrase or "error", None


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from `Retry-After` (delta-seconds or an HTTP date); None when absent or
    unparseable (the caller falls back to its own backoff)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _header_number(headers: httpx.Headers, *names: str) -> float | None:
    for name in names:
        value = headers.get(name)
        if value:
            number = _number(value.split(",")[0].split(";")[0].strip())
            if number is not None:
                return number
    return None


class RateGovernor:
    """How fast the whole client may send, shared by every thread (issue 19).

    Nothing is paced until the API answers 429. Then requests are spaced to a rate that adapts:
    additive increase while requests succeed, multiplicative decrease on a 429 of a request sent
    at the current rate (429s of requests already in flight at the old rate do not count twice).
    The first estimate is the rate that the API let through in the last second. `RateLimit-*` /
    `X-RateLimit-*` headers, where the API sends them, are honoured: `Remaining: 0` pauses every
    thread until `Reset`, and a policy (`limit;w=window`) sets the rate directly.
    """

    BETA = 0.9  # decrease factor on a 429
    PROBE = 0.25  # increase per second until a 429 is met while paced: finds the limit fast
    GROWTH = 0.02  # increase per second once the limit is known: stays just under it
    CALM = 5.0  # seconds without a 429 after which a pace far below the known limit climbs fast
    START = 1.0  # first rate: this share of what went through in the last second

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.rate: float | None = None
        self.policy: float | None = None  # a rate the API announced
        self._next = 0.0
        self._pause_until = 0.0
        self._decreased_at = -math.inf
        self._ceiling: float | None = None  # the paced rate at which the last 429 came
        #: the highest paced rate a 429 ever came at: after a calm spell (a burst of 429s
        #: that cut the pace far down, then none), the pace climbs back fast up to below it
        self._highest: float | None = None
        self._ok: deque[float] = deque()  # when recent successes were answered
        self.limited = 0

    def wait(self) -> float:
        """Block until this thread may send; returns the send time."""
        with self._lock:
            now = self._clock()
            start = max(now, self._pause_until)
            if self.rate is not None:
                start = max(start, self._next)
                self._next = start + 1.0 / self.rate
        if start > now:
            time.sleep(start - now)
        return start

    def _headers(self, headers: httpx.Headers, now: float) -> None:
        policy = headers.get("RateLimit-Policy") or headers.get("X-RateLimit-Policy")
        if policy:
            match = re.match(r"\s*(\d+(?:\.\d+)?)\s*;\s*w=(\d+(?:\.\d+)?)", policy)
            if match and float(match.group(2)) > 0:
                self.policy = 0.98 * float(match.group(1)) / float(match.group(2))
                self.rate = self.policy
        remaining = _header_number(headers, "RateLimit-Remaining", "X-RateLimit-Remaining")
        reset = _header_number(headers, "RateLimit-Reset", "X-RateLimit-Reset")
        if remaining is not None and remaining < 1 and reset is not None and self.policy is None:
            # (with a policy the pace already spreads requests; Reset is whole seconds)
            if reset > 1e9:  # an epoch time, not seconds
                reset = reset - time.time()
            self._pause_until = max(self._pause_until, now + min(max(reset, 0.0), 60.0))

    def success(self, headers: httpx.Headers) -> None:
        with self._lock:
            now = self._clock()
            self._ok.append(now)
            while self._ok and self._ok[0] < now - 1.0:
                self._ok.popleft()
            if headers:
                self._headers(headers, now)
            if self.rate is not None and self.policy is None:
                # per success, so that many per second: this share of the rate per second
                calm = now - self._decreased_at > self.CALM
                far_below = self._highest is not None and self.rate < self._highest * self.BETA**2
                fast = self._ceiling is None or (calm and far_below)
                self.rate += self.PROBE if fast else self.GROWTH

    def throttled(self, sent_at: float, headers: httpx.Headers, retry_after: float | None) -> bool:
        """A 429; True when it changed the rate (the caller may say so)."""
        with self._lock:
            self.limited += 1
            now = self._clock()
            if headers:
                self._headers(headers, now)
            if self.policy is not None or sent_at < self._decreased_at or retry_after == 0:
                return False  # "retry at once" says nothing about the rate
            while self._ok and self._ok[0] < now - 1.0:
                self._ok.popleft()
            if self.rate is None:
                self.rate = max(1.0, self.START * len(self._ok))
            else:
                self._ceiling = self.rate
                self._highest = max(self._highest or 0.0, self.rate)
                self.rate = max(0.5, self.rate * self.BETA)
            self._decreased_at = now
            self._next = max(self._next, now + 1.0 / self.rate)
            return True


class _Task:
    """One call of `TavusClient.start`: run once, by whichever thread takes it first."""

    def __init__(self, fn: Callable[[Any], Any], item: Any) -> None:
        self.fn, self.item = fn, item
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._taken = threading.Lock()

    def run(self) -> None:
        if not self._taken.acquire(blocking=False):
            return  # another thread runs it (or ran it)
        try:
            self.result = self.fn(self.item)
        except Exception as err:  # re-raised in the waiting thread
            self.error = err
        except BaseException as err:
            # Ctrl-C (delivered to the main thread only) stops the thread that got it at
            # once, as when it only waited; any other waiter still sees it
            self.error = err
            raise
        finally:
            self.done.set()


class _TooLarge(Exception):
    pass


class TavusClient:
    """Thread-safe; use one per run, as a context manager."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        concurrency: int = 8,
        timeout: float = 30.0,
        max_retries: int = 5,
        retry_budget: float = 120.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        transport: httpx.BaseTransport | None = None,
        log: Callable[[str], None] | None = None,
        notice: Callable[[str], None] | None = None,
    ):
        register(api_key)
        if not api_key:
            raise UsageError("the Tavus API key is empty")
        check_api_key(api_key)
        where = shown_url(base_url)
        try:
            parts = urlsplit(base_url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise UsageError(f"TAVUS_API_URL {where} is not a valid URL") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise UsageError(
                f"TAVUS_API_URL {where} is not an http(s) URL",
                hint=f"for example TAVUS_API_URL={DEFAULT_URL}",
            )
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise UsageError(
                f"TAVUS_API_URL ({where}) contains a user name or password (user:pass@host); "
                "refusing it",
                hint="pal-sync authenticates with TAVUS_API_KEY only; remove the user:pass@ part",
            )
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise UsageError(
                f"refusing plain http:// to {parts.hostname}: the API key would travel unencrypted",
                hint="use https://, or http:// only for a loopback emulator",
            )
        if parts.query or parts.fragment:
            raise UsageError(f"TAVUS_API_URL ({where}) must not have a ?query or #fragment")
        self._log = log
        self._notice = notice
        path = parts.path.rstrip("/")
        if path.endswith("/v2"):
            # pal-sync adds /v2 to every path itself; https://tavusapi.com/v2 would ask /v2/v2/pals
            path = path[: -len("/v2")]
            self._tell(
                f"TAVUS_API_URL ends in /v2; pal-sync adds /v2 itself, so it uses "
                f"{where}{path} (set TAVUS_API_URL={where}{path} to silence this)"
            )
        self.base_url = f"{parts.scheme}://{parts.netloc}{path}"  # userinfo is refused above
        self.where = where
        #: which account this is, for binding plan files to it: a one-way, truncated digest of
        #: the key (it tells two keys apart and reveals nothing of either)
        self.account = (
            "key:" + hashlib.sha256(b"pal-sync account v1\0" + api_key.encode()).hexdigest()[:16]
        )
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_response_bytes = max_response_bytes
        self.governor = RateGovernor()
        self._budget = retry_budget
        self._budget_total = retry_budget
        self._budget_lock = threading.Lock()
        self._last_rate_notice = -math.inf
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._pool = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="tavus-api"
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"x-api-key": api_key, "Accept": "application/json"},
            # plain http is only ever loopback: no certificate store to load for it
            verify=parts.scheme == "https",
            timeout=timeout,
            transport=transport,
            follow_redirects=False,  # a redirect is never the API's own answer (issue 10, 6)
            limits=httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            ),
        )

    def __repr__(self) -> str:
        return f"TavusClient({self.where!r})"

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    def __enter__(self) -> TavusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport and retries

    def _say(self, line: str) -> None:
        if self._log is not None:
            self._log(scrub(line))

    def _tell(self, line: str) -> None:
        """Something the user should see even without -v (retries, a corrected URL)."""
        if self._notice is not None:
            self._notice(scrub(line))
        else:
            self._say(line)

    def _spend(self, seconds: float) -> bool:
        with self._budget_lock:
            if seconds > self._budget:
                return False
            self._budget -= seconds
            return True

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        hinted = _retry_after(response) if response is not None else None
        if hinted is not None:
            return min(hinted, self.backoff_cap)
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    def _send(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any
    ) -> httpx.Response:
        """One exchange, the body read in chunks and abandoned past `max_response_bytes`."""
        request = self._http.build_request(method, path, params=params, json=json)
        response = self._http.send(request, stream=True)
        try:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.max_response_bytes:
                raise _TooLarge
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_response_bytes:
                    raise _TooLarge
        finally:
            response.close()
        drop = {"content-encoding", "content-length", "transfer-encoding"}
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in drop]
        return httpx.Response(
            response.status_code, headers=headers, content=bytes(body), request=request
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        create: bool = False,
        ok: Iterable[int] = (),
    ) -> httpx.Response:
        """Send with retries. `create`: never resend once the request may have been received.

        Returns only 2xx answers (and the statuses in `ok`); a redirect, an oversized answer or
        an error status is an ApiError."""
        allowed = set(ok)
        shown = path + (("?" + "&".join(f"{k}={v}" for k, v in params.items())) if params else "")
        attempt = 0
        while True:
            sent_at = self.governor.wait()
            started = time.monotonic()
            response: httpx.Response | None = None
            failure = ""
            try:
                with self._slots:
                    response = self._send(method, path, params, json)
            except _TooLarge:
                mib = self.max_response_bytes / (1024 * 1024)
                kind = OutcomeUnknown if create or method == "PATCH" else ApiError
                self._say(f"{method} {shown} -> answer over {mib:g} MiB; abandoned")
                raise kind(
                    method,
                    path,
                    None,
                    f"answered with more than {mib:g} MiB; pal-sync reads at most that much of "
                    "one answer"
                    + ("; the request may have taken effect" if kind is not ApiError else ""),
                    hint="check TAVUS_API_URL: the Tavus API pages its lists",
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
                refused = "refused" in str(err).lower()
                failure = (
                    "connection refused" if refused else f"cannot connect ({type(err).__name__})"
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as err:
                failure = f"no response ({type(err).__name__})"
                if create or method == "PATCH":
                    self._say(f"{method} {shown} -> {failure}; outcome unknown")
                    raise OutcomeUnknown(
                        method, path, None, failure + "; the request may have taken effect"
                    ) from None
            except httpx.HTTPError as err:  # e.g. a body that cannot be decoded: not retried
                kind = OutcomeUnknown if create or method == "PATCH" else ApiError
                raise kind(
                    method,
                    path,
                    None,
                    f"the answer could not be read ({type(err).__name__})"
                    + ("; the request may have taken effect" if kind is not ApiError else ""),
                ) from None
            elapsed = int((time.monotonic() - started) * 1000)
            if response is not None:
                status = response.status_code
                self._say(f"{method} {shown} -> {status} ({elapsed} ms)")
                if status == 429:
                    hinted = _retry_after(response)
                    if self.governor.throttled(sent_at, response.headers, hinted):
                        self._rate_notice(method, shown)
                else:
                    self.governor.success(response.headers)
                if 200 <= status < 300 or status in allowed:
                    return response
                if 300 <= status < 400:
                    location = response.headers.get("Location")
                    target = shown_url(location or "")
                    where = f" to {target}" if target != "(unparseable URL)" else ""
                    raise ApiError(
                        method,
                        path,
                        status,
                        f"answered {status}"
                        + (f", a redirect{where}" if location is not None else "")
                        + ", not an answer of the Tavus API; nothing is assumed done",
                        hint="check TAVUS_API_URL: a proxy or login page seems to answer for it",
                    )
                if (create or method == "PATCH") and status >= 500 and status not in RETRY_STATUS:
                    # a 500 may come after the write committed: never a blind "it failed"
                    # (a create's intent stays in the lock, and is looked for again)
                    detail, _ = _detail(response)
                    raise OutcomeUnknown(
                        method, path, status, f"{detail}; the request may have taken effect"
                    )
                if status not in RETRY_STATUS:
                    raise self._error(method, path, response)
                if (create or method == "PATCH") and status != 429:
                    # a gateway may answer 5xx after the write committed: resending it blindly
                    # would fail on its own test ops (or repeat a non-idempotent op)
                    detail, _ = _detail(response)
                    raise OutcomeUnknown(
                        method, path, status, f"{detail}; the request may have taken effect"
                    )
                failure = f"{status} {_detail(response)[0]}"
            else:
                self._say(f"{method} {shown} -> {failure} ({elapsed} ms)")
            attempt += 1
            wait = self._delay(attempt, response)
            out_of_tries = attempt > self.max_retries
            if out_of_tries or not self._spend(wait):
                code = response.status_code if response is not None else None
                unreachable = response is None and not failure.startswith("no response")
                why = (
                    ""
                    if out_of_tries
                    else f" (the retry time budget of {self._budget_total:g} s is spent)"
                )
                raise ApiError(
                    method,
                    path,
                    code,
                    f"gave up after {attempt} attempts{why}: {failure}",
                    hint=f"cannot connect to {self.where}; check TAVUS_API_URL and the "
                    "network (a rerun converges)"
                    if unreachable
                    else "the API is rate limiting or unavailable; rerun later (a rerun converges)",
                )
            line = (
                f"{method} {shown}: {failure}; retrying in {wait:.1f} s "
                f"(attempt {attempt + 1} of {self.max_retries + 1})"
            )
            if response is not None and response.status_code == 429:
                self._say(line)  # the rate notice speaks for 429s
            else:
                self._tell(line)
            time.sleep(wait)

    def _rate_notice(self, method: str, shown: str) -> None:
        now = time.monotonic()
        if now - self._last_rate_notice < 5.0:
            return
        self._last_rate_notice = now
        rate = self.governor.rate
        self._tell(
            f"{method} {shown}: the API is rate limiting (429); pacing requests"
            + (f" to about {rate:.1f} a second" if rate else "")
        )

    def _error(self, method: str, path: str, response: httpx.Response) -> ApiError:
        detail, body = _detail(response)
        status = response.status_code
        if status == 409 and isinstance(body, dict) and body.get("conflict") == "maker_changes":
            return MakerConflict(method, path, status, detail, body=body)
        if status == 404 or (status == 400 and "invalid" in detail.lower() and "_id" in detail):
            return NotFound(method, path, status, detail, body=body)
        if status in (401, 403):
            return ApiError(
                method,
                path,
                status,
                detail,
                body=body,
                hint="the API key was refused: check TAVUS_API_KEY (or --api-key-file) and that "
                "it belongs to this account",
            )
        return ApiError(method, path, status, detail, body=body)

    @staticmethod
    def _json(
        response: httpx.Response, method: str, path: str, *, kind: type[ApiError] = ApiError
    ) -> Any:
        """The JSON of a success answer, or an ApiError that says what came instead."""
        status = response.status_code
        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not response.content.strip():
            problem = f"answered {status} with an empty body, not JSON"
        elif media and media != "application/json" and not media.endswith("+json"):
            problem = f"answered {status} with {clean(media, 60)}, not JSON"
        else:
            try:
                return jsonlib.loads(response.content)
            except ValueError:
                problem = f"answered {status} with a body that is not valid JSON"
        suffix = "; the request may have taken effect" if kind is OutcomeUnknown else ""
        raise kind(
            method,
            path,
            status,
            problem + suffix,
            hint="this is not an answer of the Tavus API: check TAVUS_API_URL (a proxy, a "
            "login page or another service may answer for it)",
        )

    def _object(
        self, response: httpx.Response, method: str, path: str, *, kind: type[ApiError] = ApiError
    ) -> dict[str, Any]:
        body = self._json(response, method, path, kind=kind)
        if not isinstance(body, dict):
            raise kind(
                method,
                path,
                response.status_code,
                f"answered {response.status_code} with a JSON {type(body).__name__}, not an object",
            )
        return body

    # ------------------------------------------------------------------ concurrency

    def start(self, fn: Callable[[T], R], items: Sequence[T]) -> Callable[[], list[R]]:
        """Start `fn` over `items` on the shared pool; returns the function that waits for
        the results (in order) and raises the first exception once every call has finished
        (so no work is left running behind the caller's back).

        The one concurrency mechanism of the client: the pool's workers and the waiting
        caller take calls from the same queue, and a call runs once, on whoever takes it
        first. A caller never waits for a call nobody has taken, so a call that fans out
        again (a listing of two listings, each of many pages) cannot deadlock the pool,
        whatever its size; HTTP stays bounded by the request slots."""
        tasks = [_Task(fn, item) for item in items]
        for task in tasks:
            try:
                self._pool.submit(task.run)
            except RuntimeError:  # the pool is shut down (client closed): the caller runs them
                break

        def wait() -> list[R]:
            for task in tasks:
                task.run()
            for task in tasks:
                task.done.wait()
            for task in tasks:
                if task.error is not None:
                    raise task.error
            return [task.result for task in tasks]

        return wait

    def map_concurrent(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`fn` over `items` concurrently (see `start`), results in order."""
        if len(items) <= 1:
            return [fn(item) for item in items]
        return self.start(fn, items)()

    # ------------------------------------------------------------------ pagination

    def _page(
        self, path: str, params: dict[str, Any], page: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One page: its items and its `total_count` (None unless a non-negative integer)."""
        query = {**params, "limit": PAGE_SIZE, "page": page}
        response = self.request("GET", path, params=query)
        body = self._object(response, "GET", path)
        data = body.get("data")
        if not isinstance(data, list):
            raise ApiError(
                "GET", path, response.status_code, "answered without a `data` list of items"
            )
        total = body.get("total_count")
        ok_total = isinstance(total, int) and not isinstance(total, bool) and total >= 0
        return [d for d in data if isinstance(d, dict)], (total if ok_total else None)

    def _paged(
        self,
        path: str,
        params: dict[str, Any],
        ids: tuple[str, ...],
        *,
        first_page: int = 1,
        expected: int = 0,
    ) -> list[dict[str, Any]]:
        """Every item of a list endpoint, each once (by the first of `ids` it has).

        Reads until a page shows the end: an empty page, a page shorter than an earlier one, a
        page shorter than the `limit` asked for while `total_count` agrees that nothing is
        left. `total_count` only sizes the next batch of pages; it never ends the listing alone,
        and a wrong one (missing, a lie, one off because a PAL was deleted meanwhile) costs
        requests, never items. With `expected` (the lock's count) every predicted page and one
        more go out at once: one round trip when the guess holds. Bounded: MAX_PAGES pages, and
        a full page of items already listed (a server that ignores `page`) is an error, not a
        loop.
        """

        def identity(item: dict[str, Any]) -> Any:
            for name in ids:
                if item.get(name) is not None:
                    return (name, str(item[name]))
            return jsonlib.dumps(item, sort_keys=True, default=str)

        seen: dict[Any, dict[str, Any]] = {}
        size = 0  # items per page as the server actually returns them
        total: int | None = None
        pages = 0
        page = first_page
        # every page the lock predicts and one more, at once: a full last page never ends the
        # listing on its own (the lock and total_count may both be wrong by the same amount)
        batch = expected // PAGE_SIZE + 1 if expected else 1
        while True:
            batch = min(batch, MAX_PAGES - pages)
            if batch <= 0:
                raise ApiError(
                    "GET",
                    path,
                    None,
                    f"still full pages after {MAX_PAGES} pages ({len(seen)} items); stopping",
                    hint="the server's paging looks broken; nothing was changed",
                )
            results = self.map_concurrent(
                lambda n: self._page(path, params, n), list(range(page, page + batch))
            )
            ended = False
            for number, (data, page_total) in enumerate(results, page):  # in page order
                pages += 1
                total = page_total if total is None else total
                if not data:
                    ended = True
                    break
                fresh = [item for item in data if identity(item) not in seen]
                for item in fresh:
                    seen[identity(item)] = item
                complete = total is not None and len(seen) >= total
                # a full page of nothing new: the server ignores `page` (unless it was one short
                # answer repeated, with no count or a count that agrees: that was everything)
                if (
                    not fresh
                    and len(data) >= size
                    and (len(data) >= PAGE_SIZE or not complete)
                    and not (len(data) < PAGE_SIZE and total is None)
                ):
                    raise ApiError(
                        "GET",
                        path,
                        200,
                        f"page {number} repeated items already listed; the server does not "
                        "seem to honour `page`, so pal-sync cannot know it has seen every item",
                        hint="nothing was changed; report this server behaviour",
                    )
                if not fresh or len(data) < size or (len(data) < PAGE_SIZE and complete):
                    # the end: a page of items already seen (a listing that shifted, or one
                    # short answer repeated by a server that ignores `page`), a page shorter
                    # than the others, or shorter than asked with the count agreeing
                    ended = True
                    break
                size = len(data)
            if ended:
                break
            page += batch
            left = (total - len(seen)) if total is not None else 0
            hint = -(-left // size) + (1 if left % size == 0 else 0) if left > 0 else pages
            batch = max(1, min(hint, max(16, 2 * pages)))
        if first_page == 1 and (total is None or len(seen) < total):
            # fewer items than announced, or no count at all: the page base may be 0 on this
            # server (tavus-api.md 4), so page 1 was its second page; page 0 settles it
            try:
                data, _ = self._page(path, params, 0)
            except ApiError as err:
                if err.status not in (400, 404, 422):
                    raise
                data = []
            for item in data:
                seen.setdefault(identity(item), item)
            if total is not None and len(seen) != total:
                self._say(f"GET {path}: {len(seen)} items, total_count said {total}")
        return list(seen.values())

    # ------------------------------------------------------------------ any kind

    def list_kind(self, kind: Kind, expected: int = 0) -> list[dict[str, Any]]:
        """Every item of a kind: its own lister when it has one, else each of its listings,
        read concurrently and merged (an item in two listings once). `expected`: how many the
        caller believes exist (one round trip when right)."""
        if kind.lister is not None:
            items: list[dict[str, Any]] = getattr(self, kind.lister)()
            return items
        pages = self.map_concurrent(
            lambda params: self._paged(
                kind.path, dict(params), kind.ids, first_page=kind.first_page, expected=expected
            ),
            list(kind.listings),
        )
        if len(pages) == 1:
            return pages[0]
        seen: set[tuple[str, str]] = set()
        merged = []
        for item in (item for listing in pages for item in listing):
            idents = {(n, str(item[n])) for n in kind.ids if item.get(n)}
            if not idents or not idents <= seen:  # an item none of whose ids was seen yet
                merged.append(item)
                seen |= idents
        return merged

    def get(self, kind: Kind, item_id: str) -> dict[str, Any] | None:
        """One item, or None when the server says it does not exist."""
        path = f"{kind.path}/{item_id}"
        try:
            response = self.request("GET", path)
        except NotFound:
            return None
        return _unwrap(self._object(response, "GET", path), "GET", path, response.status_code)

    def create(self, kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
        """POST once (never resent: a lost answer is `OutcomeUnknown`); the created item."""
        _refuse_masked("POST", kind.path, masked_secrets(body))
        response = self.request("POST", kind.path, json=body, create=True)
        answer = self._object(response, "POST", kind.path, kind=OutcomeUnknown)
        created = _unwrap(answer, "POST", kind.path, response.status_code)
        ident = created.get(kind.ids[0])
        if not isinstance(ident, str) or not ident:
            raise OutcomeUnknown(
                "POST",
                kind.path,
                response.status_code,
                f"the answer has no {kind.ids[0]}; the request may have taken effect",
            )
        return created

    def patch(self, kind: Kind, item_id: str, change: Any, *, force: bool = False) -> PatchResult:
        """A JSON Patch (a list of ops) or, for a `merge` kind, a plain partial body."""
        params = {"force": "true"} if force else None
        path = f"{kind.path}/{item_id}"
        if kind.patch == "json-patch":
            masked = [
                found
                for op in change
                if isinstance(op, dict) and op.get("op") != "test" and "value" in op
                for found in masked_secrets(op["value"], str(op.get("path", "")))
            ]
        else:
            masked = masked_secrets(change)
        _refuse_masked("PATCH", path, masked)
        response = self.request("PATCH", path, json=change, params=params, ok={304})
        if response.status_code == 304:
            return PatchResult(changed=False, status=304)
        body: dict[str, Any] | None = None
        if response.content.strip():
            body = self._object(response, "PATCH", path)
        return PatchResult(
            changed=True,
            status=response.status_code,
            discarded_maker_changes=bool(body and body.get("discarded_maker_changes")),
            publish_url=(body or {}).get("publish_url"),
            body=body,
        )

    def delete(self, kind: Kind, item_id: str) -> bool:
        """True deleted, False already gone; anything but the API's own 200/204 is an error
        (a redirect or a login page is never taken for a delete)."""
        path = f"{kind.path}/{item_id}"
        try:
            response = self.request("DELETE", path)
        except NotFound:
            return False
        if response.status_code not in (200, 204):
            raise ApiError(
                "DELETE",
                path,
                response.status_code,
                f"answered {response.status_code}, not 200 or 204; not taken as deleted",
            )
        if response.content.strip():
            self._json(response, "DELETE", path)
        return True

    # ------------------------------------------------------------------ PALs

    def list_pals(self, expected: int = 0, *, with_lease: bool = False) -> list[dict[str, Any]]:
        """Every live user PAL, full objects (stock and template PALs filtered out, and the PAL
        that holds pal-sync's own lease unless `with_lease`).

        `expected`: how many the caller believes exist (one round trip when right)."""
        pals = self.list_kind(PALS, expected)
        return [p for p in pals if is_user_pal(p) and (with_lease or not is_lease_pal(p))]

    def get_pal(self, pal_id: str) -> dict[str, Any] | None:
        return self.get(PALS, pal_id)

    def find_pals_by_name(self, name: str) -> list[dict[str, Any]]:
        return [p for p in self.list_pals() if p.get("pal_name") == name]

    def create_pal(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.create(PALS, body)

    def patch_pal(
        self, pal_id: str, ops: list[dict[str, Any]], *, force: bool = False
    ) -> PatchResult:
        return self.patch(PALS, pal_id, ops, force=force)

    def delete_pal(self, pal_id: str) -> bool:
        return self.delete(PALS, pal_id)

    # ------------------------------------------------------------------ references

    def list_faces(self) -> list[dict[str, Any]]:
        """The account's faces and the stock (`system`) ones. The list is documented as the
        faces "created by the account"; stock faces come with `verbose=true` or only with
        `face_type=system` (tavus-api.md 11b): when the verbose listing shows no system face,
        the system ones are asked for too, so no stock face is ever called unknown."""
        ids = FACES.ids
        faces = self._paged(FACES.path, dict(FACES.listings[0]), ids)
        if any(f.get("face_type", f.get("replica_type")) == "system" for f in faces):
            return faces
        try:
            stock = self._paged(FACES.path, {"face_type": "system"}, ids)
        except ApiError as err:
            if err.status not in (400, 404, 422):
                raise
            stock = []  # a server without the filter: the verbose list was all there is
        known = {f.get(n) for f in faces for n in ids if f.get(n)}
        return faces + [f for f in stock if not any(f.get(n) in known for n in ids)]

    def list_objectives(self) -> list[dict[str, Any]]:
        return self.list_kind(OBJECTIVES)

    def list_guardrails(self) -> list[dict[str, Any]]:
        """Individual guardrails (`legacy=false`) and legacy sets (`legacy=true`), merged.

        `legacy=false` pages from 0 as documented, though Tavus's CLI asks page 1 (11b): asked
        page 1 first, a 0-based server answers its second page (empty on a small account), and
        `_paged` then asks page 0 as well whenever `total_count` is missing or exceeds what was
        read, so an empty first page is never taken for "no guardrails"."""
        return self.list_kind(GUARDRAILS)

    def list_documents(self) -> list[dict[str, Any]]:
        return self.list_kind(DOCUMENTS)


def client_from_env(
    *,
    base_url: str | None = None,
    api_key_file: str | None = None,
    log: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> TavusClient:
    """A client configured from TAVUS_API_KEY (or a key file) and TAVUS_API_URL."""
    if api_key_file:
        try:
            key = Path(api_key_file).read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            raise UsageError(
                f"--api-key-file {api_key_file} is not UTF-8 text",
                hint="an API key is visible ASCII only",
            ) from None
        except OSError as err:
            raise UsageError(f"cannot read --api-key-file {api_key_file}: {err.strerror}") from None
        source = f"--api-key-file {api_key_file}"
    else:
        key = os.environ.get("TAVUS_API_KEY", "").strip()
        source = "TAVUS_API_KEY"
    register(key)
    if not key:
        raise UsageError(
            "no Tavus API key",
            hint="export TAVUS_API_KEY=... (or pass "
            "--api-key-file FILE; try --emulator to run without an account)",
        )
    check_api_key(key, source)
    url = base_url or os.environ.get("TAVUS_API_URL") or DEFAULT_URL
    env_knobs: dict[str, tuple[str, Callable[[str], float], str]] = {
        "backoff_base": ("PALSYNC_BACKOFF_BASE", float, "a number of seconds (e.g. 0.5)"),
        "timeout": ("PALSYNC_TIMEOUT", float, "a number of seconds (e.g. 30)"),
        "max_retries": ("PALSYNC_MAX_RETRIES", int, "a whole number (e.g. 5)"),
    }
    for name, (var, cast, what) in env_knobs.items():
        value = env_number(var, cast=cast, what=what) if name not in kwargs else None
        if value is not None:
            kwargs[name] = value
    if kwargs.get("timeout") == 0:
        raise UsageError("PALSYNC_TIMEOUT must be more than 0 seconds")
    return TavusClient(url, key, log=log, **kwargs)
