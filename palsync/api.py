"""The Tavus API client: the only module that speaks HTTP.

One httpx client per run, a concurrency limit shared by every call, concurrent pagination,
retries with exponential backoff and full jitter (honouring Retry-After) under a run-wide budget,
and one error family. A create is never retried blindly once it may have reached the server: the
caller gets `OutcomeUnknown` and decides. The API key never appears in a message, log or repr.
"""

from __future__ import annotations

import email.utils
import ipaddress
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from palsync.errors import ApiError, MakerConflict, NotFound, OutcomeUnknown, UsageError
from palsync.fields import is_lease_pal, is_user_pal

DEFAULT_URL = "https://tavusapi.com"
PAGE_SIZE = 100
RETRY_STATUS = {429, 502, 503, 504}
T = TypeVar("T")
R = TypeVar("R")


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


def _unwrap(body: Any) -> dict[str, Any]:
    """Get-by-id bodies come as `{data: [obj]}`, `{data: obj}` or flat; accept all three."""
    if isinstance(body, dict):
        data = body.get("data")
        if isinstance(data, list) and data and isinstance(data[0], dict):
            return data[0]
        if isinstance(data, dict):
            return data
        return body
    raise ApiError("GET", "", None, "unexpected response body")


def _detail(response: httpx.Response) -> tuple[str, dict[str, Any] | None]:
    try:
        body = response.json()
    except ValueError:
        return (response.reason_phrase or "error"), None
    if isinstance(body, dict):
        text = body.get("error") or body.get("message") or response.reason_phrase
        return str(text), body
    return response.reason_phrase or "error", None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


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
        transport: httpx.BaseTransport | None = None,
        log: Callable[[str], None] | None = None,
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise UsageError(f"TAVUS_API_URL {base_url!r} is not an http(s) URL")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise UsageError(
                f"refusing plain http:// to {parts.hostname}: the API key would travel unencrypted",
                hint="use https://, or http:// only for a loopback emulator",
            )
        if not api_key:
            raise UsageError("the Tavus API key is empty")
        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._budget = retry_budget
        self._budget_lock = threading.Lock()
        self._log = log
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
            limits=httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            ),
        )

    def __repr__(self) -> str:
        return f"TavusClient({self.base_url!r})"

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
            self._log(line)

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
        """Send with retries. `create`: never resend once the request may have been received."""
        allowed = set(ok)
        shown = path + (("?" + "&".join(f"{k}={v}" for k, v in params.items())) if params else "")
        attempt = 0
        while True:
            started = time.monotonic()
            response: httpx.Response | None = None
            failure = ""
            try:
                with self._slots:
                    response = self._http.request(method, path, params=params, json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
                failure = f"connection failed ({type(err).__name__})"  # nothing was sent
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as err:
                failure = f"no response ({type(err).__name__})"
                if create or method == "PATCH":
                    self._say(f"{method} {shown} -> {failure}; outcome unknown")
                    raise OutcomeUnknown(
                        method, path, None, failure + "; the request may have taken effect"
                    ) from None
            elapsed = int((time.monotonic() - started) * 1000)
            if response is not None:
                status = response.status_code
                self._say(f"{method} {shown} -> {status} ({elapsed} ms)")
                if status < 400 or status in allowed:
                    return response
                if status not in RETRY_STATUS:
                    raise self._error(method, path, response)
                if (create and status != 429) or (method == "PATCH" and status in (502, 504)):
                    detail, _ = _detail(response)
                    raise OutcomeUnknown(
                        method, path, status, f"{detail}; the request may have taken effect"
                    )
                failure = f"{status} {_detail(response)[0]}"
            else:
                self._say(f"{method} {shown} -> {failure} ({elapsed} ms)")
            attempt += 1
            wait = self._delay(attempt, response)
            if attempt > self.max_retries or not self._spend(wait):
                code = response.status_code if response is not None else None
                unreachable = failure.startswith("connection failed")
                url = self._http.base_url  # without any user:password@ part
                where = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
                raise ApiError(
                    method,
                    path,
                    code,
                    f"gave up after {attempt} attempts: {failure}",
                    hint=f"cannot connect to {where}; check TAVUS_API_URL and the "
                    "network (a rerun converges)"
                    if unreachable
                    else "the API is rate limiting or unavailable; rerun later (a rerun converges)",
                )
            self._say(f"  retrying in {wait:.2f}s (attempt {attempt + 1})")
            time.sleep(wait)

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

    # ------------------------------------------------------------------ concurrency

    def map_concurrent(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`fn` over `items` on the shared pool, results in order; the first exception is raised
        after every call has finished (so no work is left running behind the caller's back)."""
        if len(items) <= 1:
            return [fn(item) for item in items]
        futures = [self._pool.submit(fn, item) for item in items]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        return [f.result() for f in futures]

    # ------------------------------------------------------------------ pagination

    def _paged(
        self, path: str, params: dict[str, Any], *, first_page: int = 1, expected: int = 0
    ) -> tuple[list[dict], int | None]:
        """Every item of a list endpoint: page one, then the rest concurrently.

        With `expected` (how many items the caller believes exist, e.g. from the lock) the pages
        that many items need are all asked for at once: one round trip instead of two when the
        guess holds. Pages are counted by the items the server actually returned (it may cap
        `limit` silently, but alike for every page); a wrong guess costs requests, never
        correctness.
        """

        def fetch(page: int) -> dict[str, Any]:
            body = self.request(
                "GET", path, params={**params, "limit": PAGE_SIZE, "page": page}
            ).json()
            return body if isinstance(body, dict) else {}

        def data(body: dict[str, Any]) -> list[dict]:
            return [d for d in body.get("data", []) if isinstance(d, dict)]

        guessed = max(1, -(-expected // PAGE_SIZE))
        bodies = self.map_concurrent(fetch, list(range(first_page, first_page + guessed)))
        items = data(bodies[0])
        total = bodies[0].get("total_count")
        if not isinstance(total, int):
            return [i for b in bodies for i in data(b)], None
        size = len(items)
        if not items or size >= total:
            return items, total
        for body in bodies[1:]:  # the server caps every page alike, so these are good pages
            items.extend(data(body))
        pages = list(range(first_page + guessed, first_page + -(-total // size)))
        for body in self.map_concurrent(fetch, pages):
            items.extend(data(body))
        return items, total

    @staticmethod
    def _dedupe(items: list[dict], key: str) -> list[dict]:
        seen: dict[Any, dict] = {}
        for item in items:
            seen.setdefault(item.get(key, id(item)), item)
        return list(seen.values())

    # ------------------------------------------------------------------ PALs

    def list_pals(self, expected: int = 0, *, with_lease: bool = False) -> list[dict[str, Any]]:
        """Every live user PAL, full objects (stock and template PALs filtered out, and the PAL
        that holds pal-sync's own lease unless `with_lease`).

        `expected`: how many the caller believes exist (one round trip when right)."""
        raw, total = self._paged("/v2/pals", {"pal_type": "user"}, expected=expected)
        pals = self._dedupe(raw, "pal_id")
        if total is not None and len(pals) < total:
            # pages overlapped or fell short: the page base may be 0 on this server
            extra, _ = self._paged("/v2/pals", {"pal_type": "user"}, first_page=0)
            pals = self._dedupe(pals + extra, "pal_id")
        return [p for p in pals if is_user_pal(p) and (with_lease or not is_lease_pal(p))]

    def get_pal(self, pal_id: str) -> dict[str, Any] | None:
        try:
            response = self.request("GET", f"/v2/pals/{pal_id}")
        except NotFound:
            return None
        return _unwrap(response.json())

    def find_pals_by_name(self, name: str) -> list[dict[str, Any]]:
        return [p for p in self.list_pals() if p.get("pal_name") == name]

    def create_pal(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.request("POST", "/v2/pals", json=body, create=True)
        created = _unwrap(response.json())
        if not created.get("pal_id"):
            raise ApiError("POST", "/v2/pals", response.status_code, "response has no pal_id")
        return created

    def patch_pal(
        self, pal_id: str, ops: list[dict[str, Any]], *, force: bool = False
    ) -> PatchResult:
        params = {"force": "true"} if force else None
        response = self.request("PATCH", f"/v2/pals/{pal_id}", json=ops, params=params, ok={304})
        if response.status_code == 304:
            return PatchResult(changed=False, status=304)
        body: dict[str, Any] | None = None
        if response.content:
            try:
                parsed = response.json()
                body = parsed if isinstance(parsed, dict) else None
            except ValueError:
                body = None
        return PatchResult(
            changed=True,
            status=response.status_code,
            discarded_maker_changes=bool(body and body.get("discarded_maker_changes")),
            publish_url=(body or {}).get("publish_url"),
            body=body,
        )

    def delete_pal(self, pal_id: str) -> bool:
        try:
            self.request("DELETE", f"/v2/pals/{pal_id}")
        except NotFound:
            return False
        return True

    # ------------------------------------------------------------------ references

    def list_faces(self) -> list[dict[str, Any]]:
        return self._dedupe(self._paged("/v2/faces", {"verbose": "true"})[0], "face_id")

    def list_objectives(self) -> list[dict[str, Any]]:
        return self._dedupe(self._paged("/v2/objectives", {})[0], "objectives_id")

    def list_guardrails(self) -> list[dict[str, Any]]:
        """Individual guardrails (`legacy=false`) and legacy sets (`legacy=true`), merged."""
        individual, sets = self.map_concurrent(
            lambda legacy: self._paged("/v2/guardrails", {"legacy": legacy})[0], ["false", "true"]
        )
        return individual + sets

    def list_documents(self) -> list[dict[str, Any]]:
        return self._dedupe(self._paged("/v2/documents", {}, first_page=0)[0], "document_id")


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
        except OSError as err:
            raise UsageError(f"cannot read --api-key-file {api_key_file}: {err.strerror}") from None
    else:
        key = os.environ.get("TAVUS_API_KEY", "").strip()
    if not key:
        raise UsageError(
            "no Tavus API key",
            hint="export TAVUS_API_KEY=... (or pass "
            "--api-key-file FILE; try --emulator to run without an account)",
        )
    url = base_url or os.environ.get("TAVUS_API_URL") or DEFAULT_URL
    env_knobs = {
        "backoff_base": ("PALSYNC_BACKOFF_BASE", float),
        "timeout": ("PALSYNC_TIMEOUT", float),
        "max_retries": ("PALSYNC_MAX_RETRIES", int),
    }
    for name, (var, cast) in env_knobs.items():
        if var in os.environ and name not in kwargs:
            kwargs[name] = cast(os.environ[var])
    return TavusClient(url, key, log=log, **kwargs)
