"""HTTP for the emulator: a threaded loopback server, routing, auth, faults, admin endpoints."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from palsync.emulator.faults import FaultRule, Faults, RequestLog
from palsync.emulator.rules import MAX_DEPTH, ApiFailure, bad_request, mask_secrets, too_deep
from palsync.emulator.store import Store

Response = tuple[int, Any]
MAX_BODY = 5 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    emulator: Emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout tests) is not an emulator error worth a traceback.
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return int(query.get(name, [default])[0])
    except ValueError:
        raise bad_request(f"Invalid {name}") from None


def _page(items: list[Any], query: dict[str, list[str]], cap: int, base: int) -> dict[str, Any]:
    limit = max(1, min(_int(query, "limit", 10), cap))
    page = max(base, _int(query, "page", base))
    start = (page - base) * limit
    return {"data": items[start : start + limit], "total_count": len(items)}


def _filter_documents(docs: list[dict[str, Any]], query: dict[str, list[str]]) -> list[Any]:
    """The documents list's filters (tavus-api.md 1f): `status` (exact), `name_or_uuid` (an
    exact id, or part of the name, any case), `tags=a,b` (a document with any of them), `sort`
    (`ascending` or `descending` by creation; as created when absent)."""
    status = (query.get("status") or [""])[0]
    if status:
        docs = [d for d in docs if d.get("status") == status]
    needle = (query.get("name_or_uuid") or [""])[0]
    if needle:
        docs = [
            d
            for d in docs
            if needle in (d.get("document_id"), d.get("uuid"))
            or needle.casefold() in str(d.get("document_name") or "").casefold()
        ]
    tags = {t for t in (query.get("tags") or [""])[0].split(",") if t}
    if tags:
        docs = [d for d in docs if tags & set(d.get("tags") or [])]
    order = (query.get("sort") or [""])[0]
    if order not in ("", "ascending", "descending"):
        raise bad_request("sort must be ascending or descending")
    if order:
        docs = sorted(docs, key=lambda d: str(d.get("created_at") or ""))
        if order == "descending":  # the exact reverse, ties included
            docs.reverse()
    return docs


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet; the RequestLog records
        pass

    # ------------------------------------------------------------------ plumbing

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None or status in (204, 304) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status not in (204, 304):
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiFailure(413, {"message": "Request body too large"})
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise bad_request("Request body is not valid JSON") from None
        if too_deep(body):
            raise bad_request(f"Request body nests more than {MAX_DEPTH} levels")
        return body

    def _handle(self, method: str) -> None:
        emulator = self.server.emulator
        split = urlsplit(self.path)
        path, query = split.path.rstrip("/") or "/", parse_qs(split.query)
        status = 500
        try:
            body = self._read_body() if method in ("POST", "PATCH", "PUT") else None
        except ApiFailure as failure:
            self._send(failure.status, failure.body)
            emulator.log.record(method, self.path, failure.status)
            return
        if emulator.faults.latency and not path.startswith("/_emulator"):
            time.sleep(emulator.faults.latency)
        limit_headers: dict[str, str] = {}
        bucket = emulator.faults.rate_limit
        if bucket is not None and not path.startswith("/_emulator"):
            allowed, limit_headers = bucket.take()
            if not allowed:
                self._send(429, {"message": "Too many requests"}, limit_headers)
                emulator.log.record(method, self.path, 429)
                return
        rule = emulator.faults.match(method, path)
        if rule is not None and rule.kind == "delay":
            time.sleep(rule.seconds)
            rule = None
        if rule is not None and rule.kind == "drop":
            emulator.log.record(method, self.path, 0)
            self._drop()
            return
        if rule is not None and rule.kind == "status":
            headers = (
                {"Retry-After": rule.retry_after}
                if rule.status == 429 and rule.retry_after is not None
                else {}
            )
            message = "Too many requests" if rule.status == 429 else "Service unavailable"
            self._send(rule.status, {"message": message}, headers)
            emulator.log.record(method, self.path, rule.status)
            return
        if rule is not None and rule.kind == "redirect":
            code = rule.status if 300 <= rule.status < 400 else 302
            self._send_raw(code, b"", "", {"Location": rule.location})
            emulator.log.record(method, self.path, code)
            return
        if rule is not None and rule.kind == "body":
            code = rule.status if 200 <= rule.status < 300 else 200
            self._send_raw(code, rule.text.encode(), rule.content_type)
            emulator.log.record(method, self.path, code)
            return
        if rule is not None and rule.kind == "huge":
            emulator.log.record(method, self.path, 200)
            self._send_huge(rule.size)
            return
        if (
            rule is not None
            and rule.kind == "maker_conflict"
            and method == "PATCH"
            and query.get("force", [""])[0] != "true"
        ):
            self._send(
                409,
                {
                    "conflict": "maker_changes",
                    "message": "This PAL has unpublished changes in PAL Maker.",
                },
            )
            emulator.log.record(method, self.path, 409)
            return
        try:
            # admin endpoints too: they change faults, reset the account and read stored PALs
            self._authenticate()
            status, payload = emulator.route(method, path, query, body)
        except ApiFailure as failure:
            status, payload = failure.status, failure.body
        except Exception as err:  # a bug in the emulator must still answer
            status, payload = 500, {"message": f"emulator error: {type(err).__name__}: {err}"}
        emulator.log.record(method, self.path, status)
        if rule is not None and rule.kind == "drop_after_commit":
            self._drop()
            return
        if rule is not None and rule.kind == "total_count" and isinstance(payload, dict):
            payload = dict(payload)
            true_count = payload.pop("total_count", None)
            if rule.offset and isinstance(true_count, int):
                payload["total_count"] = true_count + rule.offset
            elif rule.value is not None:
                payload["total_count"] = rule.value
        self._send(status, payload, limit_headers)

    def _send_raw(
        self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _send_huge(self, size: int) -> None:
        """A JSON list answer of about `size` bytes, written in chunks as it is produced (never
        held in memory); stops quietly when the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        item = b'{"pal_id": "p0000000000", "pal_name": "' + b"x" * 900 + b'", "pal_type": "user"},'
        chunk = b'{"data": [' + item * 64
        sent = 0
        try:
            while sent < size:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                chunk = item * 64
            tail = b'{"pal_id": "p0000000000"}], "total_count": 1}'
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        except OSError:
            self.close_connection = True

    def _authenticate(self) -> None:
        key = self.headers.get("x-api-key")
        expected = self.server.emulator.api_key
        if not key or (expected is not None and key != expected):
            raise ApiFailure(401, {"message": "Invalid access token"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")


class Emulator:
    """A faithful local Tavus API on loopback. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        state_file: str | Path | None = None,
        api_key: str | None = None,
        latency: float = 0.0,
        seed: bool = True,
        page_cap: int = 100,
        rate_limit: float | None = None,
        burst: int = 1,
        rate_limit_headers: bool = False,
        unknown_fields: str = "accept",
        interruptibility: str = "pal_interruptibility",
    ):
        """`unknown_fields`: "accept" (default: stored and returned as written, as PAL Maker's
        writes show the real API does) or "reject" (400 naming the field). `interruptibility`:
        the spelling /v2/pals reads show for the one interruptibility field."""
        self.state_file = Path(state_file) if state_file else None
        self.api_key = api_key
        self.page_cap = page_cap
        self._options = {"unknown_fields": unknown_fields, "interruptibility": interruptibility}
        self.store = Store(seed=seed, **self._options)
        self.faults = Faults(latency)
        if rate_limit is not None:  # requests a second (token bucket), 429 when exceeded
            self.faults.set_rate_limit(rate_limit, burst, rate_limit_headers)
        self.log = RequestLog()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        if self.state_file and self.state_file.exists():
            self.store.load_json(json.loads(self.state_file.read_text(encoding="utf-8")))
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            (m, re.compile(p), f) for m, p, f in self._route_table()
        ]

    # ------------------------------------------------------------------ lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = _Server((host, port), Handler)
        self._server.emulator = self
        serve = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="emulator",
            daemon=True,
        )
        serve.start()
        self._threads.append(serve)
        if self.state_file:
            flush = threading.Thread(target=self._flush_loop, name="emulator-flush", daemon=True)
            flush.start()
            self._threads.append(flush)
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "emulator not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads = []
        self.flush()

    def __enter__(self) -> Emulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def flush(self) -> None:
        if self.state_file and self.store.dirty:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            self.store.save(self.state_file)

    def _flush_loop(self) -> None:
        while not self._stopping.wait(0.2):
            self.flush()

    # ------------------------------------------------------------------ test API

    def request_counts(self) -> dict[str, int]:
        return self.log.counts()

    def requests(self) -> list[tuple[str, str, int]]:
        return list(self.log.entries)

    def add_fault(self, **kwargs: Any) -> FaultRule:
        return self.faults.add(FaultRule(**kwargs))

    # ------------------------------------------------------------------ routing

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Response:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler(query, body, *match.groups())
        if any(p.fullmatch(path) for _, p, _ in self._routes):
            return 405, {"message": "Method not allowed"}
        return 404, {"message": "Not found"}

    def _route_table(self) -> list[tuple[str, str, Callable[..., Response]]]:
        s = self.store
        pal = r"/v2/(pals|personas)"
        one = pal + r"/([^/]+)"
        skills = r"/v2/pals/([^/]+)/skills"
        skill = skills + r"/([^/]+)"
        objective = r"/v2/objectives/([^/]+)"
        guardrail = r"/v2/guardrails/([^/]+)"
        document = r"/v2/documents/([^/]+)"
        tool = r"/v2/tools/([^/]+)"
        dictionary_list = r"/v2/pronunciation-dictionaries"
        dictionary = dictionary_list + r"/([^/]+)"

        def legacy(kind: str) -> bool:
            return kind == "personas"

        def list_pals(q: Any, _b: Any, kind: str) -> Response:
            filter_name = "persona_type" if legacy(kind) else "pal_type"
            pal_type = (q.get(filter_name) or q.get("pal_type") or [None])[0]
            limit = max(1, min(_int(q, "limit", 10), self.page_cap))
            page = max(1, _int(q, "page", 1))
            return 200, s.list_pals(pal_type, limit, page, legacy(kind))

        def patch(q: Any, b: Any, kind: str, pal_id: str) -> Response:
            force = q.get("force", [""])[0] == "true"
            return s.patch_pal(pal_id, b, force, legacy(kind))

        def delete(_q: Any, _b: Any, kind: str, pal_id: str) -> Response:
            s.delete_pal(pal_id, legacy(kind))
            return 204, None

        def faces(q: Any, _b: Any) -> Response:
            kind = (q.get("face_type") or q.get("replica_type") or [None])[0]
            verbose = q.get("verbose", ["false"])[0] == "true"
            return 200, _page(s.list_faces(kind, verbose), q, self.page_cap, 1)

        def face(q: Any, _b: Any, face_id: str) -> Response:
            found = [f for f in s.list_faces(None, True) if f["face_id"] == face_id]
            if not found:
                raise ApiFailure(404, {"error": "Invalid replica_uuid"})
            return 200, found[0]

        def objectives(q: Any, _b: Any) -> Response:
            return 200, _page(s.list_objectives(), q, self.page_cap, 1)

        def guardrails(q: Any, _b: Any) -> Response:
            # `legacy=true` (the default) lists the sets, pages from 1 like the other lists;
            # `legacy=false` lists individual guardrails with a 0-based `page`, as documented:
            # page 1 is the second page (empty on a small account), never an error (11b)
            individual = q.get("legacy", ["true"])[0] == "false"
            base = 0 if individual else 1
            return 200, _page(s.list_guardrails(individual), q, self.page_cap, base)

        def documents(q: Any, _b: Any) -> Response:
            result = _page(_filter_documents(s.list_documents(), q), q, self.page_cap, 0)
            result["page"] = max(0, _int(q, "page", 0))
            result["limit"] = max(1, min(_int(q, "limit", 10), self.page_cap))
            return 200, result

        def tools(q: Any, _b: Any) -> Response:
            kind = (q.get("type") or ["user"])[0]
            return 200, _page(s.list_tools(kind), q, self.page_cap, 1)

        def dictionaries(q: Any, _b: Any) -> Response:
            # tavus-api.md does not say where this list pages from: 1, like tools and objectives
            return 200, _page(s.list_dictionaries(), q, self.page_cap, 1)

        def gone(delete: Callable[[str], None]) -> Callable[..., Response]:
            """A companion DELETE: 204 and no body, as for PALs and tools (1a, 1g)."""

            def handler(_q: Any, _b: Any, item_id: str) -> Response:
                delete(item_id)
                return 204, None

            return handler

        def skill_gone(_q: Any, _b: Any, pal_id: str, skill_id: str) -> Response:
            s.delete_skill(pal_id, skill_id)
            return 204, None

        return [
            ("POST", pal, lambda q, b, k: (200, s.create_pal(b, legacy(k)))),
            ("GET", pal, list_pals),
            ("GET", one, lambda q, b, k, i: (200, s.get_pal(i, legacy(k)))),
            ("PATCH", one, patch),
            ("DELETE", one, delete),
            ("GET", r"/v2/(?:faces|replicas)", faces),
            ("POST", r"/v2/(?:faces|replicas)", lambda q, b: (200, s.create_face(b))),
            ("GET", r"/v2/(?:faces|replicas)/([^/]+)", face),
            ("GET", r"/v2/objectives", objectives),
            ("POST", r"/v2/objectives", lambda q, b: (200, s.create_objectives(b))),
            ("POST", r"/v2/objectives/validate", lambda q, b: (200, s.validate_objectives(b))),
            ("GET", objective, lambda q, b, i: (200, {"data": s.get_objectives(i)})),
            ("PATCH", objective, lambda q, b, i: s.patch_objectives(i, b)),
            ("DELETE", objective, gone(s.delete_objectives)),
            ("GET", r"/v2/guardrails", guardrails),
            ("POST", r"/v2/guardrails", lambda q, b: (200, s.create_guardrail(b))),
            ("GET", guardrail, lambda q, b, i: (200, {"data": s.get_guardrail(i)})),
            ("PATCH", guardrail, lambda q, b, i: s.patch_guardrail(i, b)),
            ("DELETE", guardrail, gone(s.delete_guardrail)),
            ("GET", r"/v2/documents", documents),
            ("POST", r"/v2/documents", lambda q, b: (200, s.create_document(b))),
            ("GET", document, lambda q, b, i: (200, s.get_document(i))),
            ("PATCH", document, lambda q, b, i: (200, s.patch_document(i, b))),
            ("DELETE", document, gone(s.delete_document)),
            ("POST", document + "/recrawl", lambda q, b, i: (200, s.recrawl_document(i))),
            ("GET", r"/v2/tools", tools),
            ("POST", r"/v2/tools", lambda q, b: (200, s.create_tool(b))),
            ("GET", tool, lambda q, b, i: (200, s.get_tool(i))),
            ("PATCH", tool, lambda q, b, i: (200, s.patch_tool(i, b))),
            ("DELETE", tool, gone(s.delete_tool)),
            ("GET", dictionary_list, dictionaries),
            ("POST", dictionary_list, lambda q, b: (200, s.create_dictionary(b))),
            ("GET", dictionary, lambda q, b, i: (200, s.get_dictionary(i))),
            ("PATCH", dictionary, lambda q, b, i: (200, s.patch_dictionary(i, b))),
            ("DELETE", dictionary, gone(s.delete_dictionary)),
            # skills of a PAL (tavus-api.md 1a, 11b; shapes in skills.py)
            ("GET", skills, lambda q, b, p: (200, s.list_skills(p))),
            ("PUT", skills, lambda q, b, p: (200, s.put_skills(p, b))),
            ("GET", skill, lambda q, b, p, k: (200, s.get_skill(p, k))),
            ("PUT", skill, lambda q, b, p, k: (200, s.put_skill(p, k, b))),
            ("PATCH", skill, lambda q, b, p, k: (200, s.patch_skill(p, k, b))),
            ("DELETE", skill, skill_gone),
            # admin (tests and demos from another process)
            ("POST", r"/_emulator/faults", self._admin_faults),
            ("DELETE", r"/_emulator/faults", self._admin_clear_faults),
            (
                "GET",
                r"/_emulator/requests",
                lambda q, b: (200, {"counts": self.log.counts(), "log": self.log.entries}),
            ),
            ("DELETE", r"/_emulator/requests", self._admin_clear_log),
            ("POST", r"/_emulator/options", self._admin_options),
            ("POST", r"/_emulator/reset", self._admin_reset),
            ("GET", r"/_emulator/pals", self._admin_pals),
            # tool secrets stored as the mask (a client sent a read back): where, never values
            ("GET", r"/_emulator/stored-masks", lambda q, b: (200, {"data": s.stored_masks()})),
            (
                "POST",
                r"/_emulator/maker-draft/([^/]+)",
                self._admin_maker_draft,
            ),
        ]

    def _admin_faults(self, _q: Any, body: Any) -> Response:
        try:
            self.faults.configure(body or {})
        except (TypeError, ValueError) as err:
            raise bad_request(f"bad fault spec: {err}") from None
        return 204, None

    def _admin_pals(self, _q: Any, _b: Any) -> Response:
        """Stored user PALs with their ids, secrets masked as on every read: over HTTP the
        emulator never gives a secret back (in-process tests read `store.user_pals()`)."""
        pals = self.store.user_pals()
        for pal in pals:
            mask_secrets(pal)
        return 200, {"data": pals}

    def _admin_clear_faults(self, _q: Any, _b: Any) -> Response:
        self.faults.clear()
        return 204, None

    def _admin_clear_log(self, _q: Any, _b: Any) -> Response:
        self.log.clear()
        return 204, None

    def _admin_maker_draft(self, _q: Any, _b: Any, pal_id: str) -> Response:
        self.store.set_maker_draft(pal_id, True)
        return 204, None

    def _admin_options(self, _q: Any, body: Any) -> Response:
        """Change how the server behaves at run time: `unknown_fields`, `interruptibility`,
        `empty_patch_answers` (a JSON object with any of them)."""
        allowed = {"unknown_fields", "interruptibility", "empty_patch_answers"}
        if not isinstance(body, dict) or not set(body) <= allowed:
            raise bad_request(f"options: a JSON object with any of {', '.join(sorted(allowed))}")
        try:
            self.set_options(**body)
        except (TypeError, ValueError) as err:
            raise bad_request(f"options: {err}") from None
        return 204, None

    def set_options(
        self,
        unknown_fields: str | None = None,
        interruptibility: str | None = None,
        empty_patch_answers: bool | None = None,
    ) -> None:
        probe = Store(
            seed=False,
            unknown_fields=unknown_fields or self.store.unknown_fields,
            interruptibility=interruptibility or self.store.interruptibility,
        )  # validates the values
        if empty_patch_answers is not None and not isinstance(empty_patch_answers, bool):
            raise ValueError("empty_patch_answers must be true or false")
        with self.store.lock:
            self.store.unknown_fields = probe.unknown_fields
            self.store.interruptibility = probe.interruptibility
            if empty_patch_answers is not None:
                self.store.empty_patch_answers = empty_patch_answers
        self._options = {
            "unknown_fields": probe.unknown_fields,
            "interruptibility": probe.interruptibility,
        }

    def _admin_reset(self, _q: Any, _b: Any) -> Response:
        self.store = Store(seed=True, **self._options)
        self._routes = [(m, re.compile(p), f) for m, p, f in self._route_table()]
        self.faults.clear()
        self.log.clear()
        return 204, None
