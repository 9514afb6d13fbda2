"""The account's companion resources (tavus-api.md §1d–§1f, §11c) beside its tools (`tools.py`):
objectives sets, guardrails (individual ones and legacy sets), pronunciation dictionaries and
documents.

A mixin of `Store`: the collections, the lock and the PALs are the store's. Each kind answers in
its own documented shapes and patch style: RFC 6902 JSON Patch for objectives and guardrails
(a plain object is 422, as for PALs), a plain partial body for dictionaries and documents (a JSON
Patch array is 400).

Deleting a companion that a PAL still names: tavus-api.md documents what happens only for tools
(detached from every PAL) and legacy guardrail sets (`guardrails_id` scrubbed). For the others it
is silent, so the emulator plays the most hostile plausible server: the delete succeeds and the
PAL keeps the dangling id (its next PATCH is refused until the reference is fixed, since every
patch is checked whole).
"""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime
from typing import Any

from palsync.emulator.companion_rules import (
    DICTIONARY_READ_ONLY,
    GUARDRAIL_READ_ONLY,
    GUARDRAIL_SET_READ_ONLY,
    MAX_CRAWL_DOCUMENTS,
    OBJECTIVES_READ_ONLY,
    PLAIN_PATCH,
    RECRAWL_COOLDOWN,
    check_dictionary,
    check_document,
    check_document_patch,
    check_guardrail,
    check_guardrail_set,
    check_objectives,
    fill_dictionary_defaults,
    fill_objective_defaults,
    guardrail_defaults,
    object_body,
    refuse_fields,
)
from palsync.emulator.patching import apply_ops, check_patch_format, refuse_read_only
from palsync.emulator.rules import (
    ApiFailure,
    bad_request,
    new_id,
    now,
)

Answer = tuple[int, dict[str, Any] | None]


class Companions:
    lock: threading.RLock
    pals: dict[str, dict[str, Any]]
    objectives: dict[str, dict[str, Any]]
    guardrails: dict[str, dict[str, Any]]
    guardrail_sets: dict[str, dict[str, Any]]
    dictionaries: dict[str, dict[str, Any]]
    documents: dict[str, dict[str, Any]]
    dirty: bool
    #: seconds between two crawls of one document (§1f: 1 h); tests may shorten it
    recrawl_cooldown: float = RECRAWL_COOLDOWN

    def pal_entries(self) -> list[dict[str, Any]]:  # the store's (committing PALs included)
        raise NotImplementedError

    # -------------------------------------------------------------------------- objectives

    def list_objectives(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.objectives.values()))

    def _objectives(self, oid: str) -> dict[str, Any]:
        found = self.objectives.get(oid)
        if found is None:
            raise ApiFailure(404, {"error": "Invalid objectives_id"})
        return found

    def get_objectives(self, oid: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._objectives(oid))

    @staticmethod
    def _objectives_body(body: Any) -> dict[str, Any]:
        """A set from a create body: `{name, data, allow_loops}`, or the bare array of items an
        older doc page sent (tavus-api.md 1d, 9b)."""
        if isinstance(body, list):
            body = {"data": body}
        objectives = copy.deepcopy(object_body(body))
        refuse_fields(objectives, OBJECTIVES_READ_ONLY)
        fill_objective_defaults(objectives)
        check_objectives(objectives)
        return objectives

    def create_objectives(self, body: Any) -> dict[str, Any]:
        objectives = self._objectives_body(body)
        oid = new_id("o", 10)
        stamp = now()
        with self.lock:
            self.objectives[oid] = {
                "objectives_id": oid,
                **objectives,
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.dirty = True
        # the documented answer (1d): the set's name, or its first objective's when unnamed
        name = objectives.get("name") or objectives["data"][0]["objective_name"]
        return {
            "objectives_id": oid,
            "objective_name": name,
            "status": "active",
            "created_at": stamp,
        }

    def validate_objectives(self, body: Any) -> dict[str, Any]:
        """`POST /v2/objectives/validate`: the create checks, nothing stored. tavus-api.md names
        the endpoint only: the answer is 200 `{valid, errors}` (one message, the first found)."""
        try:
            self._objectives_body(body)
        except ApiFailure as failure:
            message = (failure.body or {}).get("error", "invalid")
            return {"valid": False, "errors": [message]}
        return {"valid": True, "errors": []}

    def patch_objectives(self, oid: str, ops: Any) -> Answer:
        """RFC 6902 JSON Patch on the set (`/name`, `/allow_loops`, `/data/0/objective_prompt`);
        atomic; 304 when the result is what is stored (as for PALs)."""
        ops = check_patch_format(ops)
        refuse_read_only(ops, OBJECTIVES_READ_ONLY)
        with self.lock:
            stored = self._objectives(oid)
            result = apply_ops(stored, ops)
            fill_objective_defaults(result)
            check_objectives(result)
            if result == stored:
                return 304, None
            result["updated_at"] = now()
            self.objectives[oid] = result
            self.dirty = True
            return 200, copy.deepcopy(result)

    def delete_objectives(self, oid: str) -> None:
        with self.lock:
            self._objectives(oid)
            del self.objectives[oid]  # PALs naming it keep the dangling id (module docstring)
            self.dirty = True

    # -------------------------------------------------------------------------- guardrails

    def list_guardrails(self, individual: bool) -> list[dict[str, Any]]:
        with self.lock:
            found = self.guardrails if individual else self.guardrail_sets
            return copy.deepcopy(list(found.values()))

    def get_guardrail(self, gid: str) -> dict[str, Any]:
        """A legacy set or an individual guardrail: the server tells them apart by the id."""
        with self.lock:
            found = self.guardrail_sets.get(gid) or self.guardrails.get(gid)
            if found is None:
                raise ApiFailure(404, {"error": "Invalid guardrails_id"})
            return copy.deepcopy(found)

    def create_guardrail(self, body: Any) -> dict[str, Any]:
        """One flat guardrail when the body has a top-level `guardrail_name`, else a legacy set
        `{name, data: [...]}` (the server routes by body shape, tavus-api.md 1e)."""
        body = copy.deepcopy(object_body(body))
        stamp = now()
        if "guardrail_name" in body:
            refuse_fields(body, GUARDRAIL_READ_ONLY)
            guardrail = {**guardrail_defaults(), **body}
            check_guardrail(guardrail)
            with self.lock:
                gid = new_id("g", 12)
                self.guardrails[gid] = {
                    "uuid": gid,
                    **guardrail,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                self.dirty = True
                return copy.deepcopy(self.guardrails[gid])
        items = body.get("data")
        if isinstance(items, list):
            items = [_set_item(item) if isinstance(item, dict) else item for item in items]
        guardrail_set = {"guardrails_name": body.get("name"), "data": items}
        check_guardrail_set(guardrail_set)
        with self.lock:
            sid = new_id("g", 10)
            for item in guardrail_set["data"]:
                item["uuid"] = new_id("g", 12)
            self.guardrail_sets[sid] = {
                "guardrails_id": sid,
                **guardrail_set,
                "status": "active",
                "created_at": stamp,
                "updated_at": stamp,
            }
            self._sync_set_items([], guardrail_set["data"], stamp)
            self.dirty = True
        return {
            "guardrails_id": sid,
            "guardrails_name": body.get("name"),
            "status": "active",
            "created_at": stamp,
        }

    def patch_guardrail(self, gid: str, ops: Any) -> Answer:
        """RFC 6902 JSON Patch on an individual guardrail or a legacy set; atomic; 304 when
        nothing changes. On a set, field edits keep item uuids and a whole-object write of
        `/data/<i>` gives that item a new uuid (tavus-api.md 1e)."""
        ops = check_patch_format(ops)
        with self.lock:
            if gid in self.guardrail_sets:
                return self._patch_set(gid, ops)
            stored = self.guardrails.get(gid)
            if stored is None:
                raise ApiFailure(404, {"error": "Invalid guardrails_id"})
            refuse_read_only(ops, GUARDRAIL_READ_ONLY)
            result = apply_ops(stored, ops)
            for key, value in guardrail_defaults().items():
                result.setdefault(key, value)
            check_guardrail(result)
            if result == stored:
                return 304, None
            stamp = result["updated_at"] = now()
            self.guardrails[gid] = result
            for guardrail_set in self.guardrail_sets.values():  # its item in a set, if any
                for index, item in enumerate(guardrail_set["data"]):
                    if item.get("uuid") == gid:
                        guardrail_set["data"][index] = _item_view(result)
                        guardrail_set["updated_at"] = stamp
            self.dirty = True
            return 200, copy.deepcopy(result)

    def _patch_set(self, sid: str, ops: list[dict[str, Any]]) -> Answer:
        refuse_read_only(ops, GUARDRAIL_SET_READ_ONLY)
        for op in ops:
            parts = op["path"].split("/")
            if len(parts) > 3 and parts[1] == "data" and parts[3] == "uuid":
                raise bad_request("Field 'uuid' is read-only")
        stored = self.guardrail_sets[sid]

        def rotate(op: dict[str, Any], result: Any) -> None:
            parts = op["path"].split("/")
            items = result.get("data") if isinstance(result, dict) else None
            whole = op["op"] in ("add", "replace", "copy") and len(parts) == 3
            if not (whole and parts[1] == "data" and isinstance(items, list) and items):
                return
            index = len(items) - 1 if parts[2] == "-" else int(parts[2])
            if isinstance(items[index], dict):
                items[index]["uuid"] = new_id("g", 12)

        result = apply_ops(stored, ops, rotate)
        items = result.get("data")
        if isinstance(items, list):
            result["data"] = [_set_item(i) if isinstance(i, dict) else i for i in items]
        check_guardrail_set(result)
        seen: set[str] = set()
        for item in result["data"]:  # an item written without a uuid, or a copy, gets its own
            if not isinstance(item.get("uuid"), str) or item["uuid"] in seen:
                item["uuid"] = new_id("g", 12)
            seen.add(item["uuid"])
        if result == stored:
            return 304, None
        stamp = result["updated_at"] = now()
        self._sync_set_items(stored["data"], result["data"], stamp)
        self.guardrail_sets[sid] = result
        self.dirty = True
        return 200, copy.deepcopy(result)

    def _sync_set_items(
        self, before: list[dict[str, Any]], after: list[dict[str, Any]], stamp: str
    ) -> None:
        """Every set item is also an individual guardrail under its own uuid: those gone are
        deleted (PALs naming them keep the dangling id), the others written."""
        kept = {item["uuid"] for item in after}
        for item in before:
            if item["uuid"] not in kept:
                self.guardrails.pop(item["uuid"], None)
        for item in after:
            old = self.guardrails.get(item["uuid"])
            record = {
                **guardrail_defaults(),
                **(old or {}),
                **item,
                "created_at": old["created_at"] if old else stamp,
                "updated_at": stamp,
            }
            if old is None or {**record, "updated_at": old["updated_at"]} != old:
                self.guardrails[item["uuid"]] = record

    def delete_guardrail(self, gid: str) -> None:
        """A set: deleted with its items, and scrubbed from every PAL's `guardrails_id` (1e). An
        individual guardrail: deleted, and taken out of any set it belongs to."""
        with self.lock:
            if gid in self.guardrail_sets:
                for item in self.guardrail_sets.pop(gid)["data"]:
                    self.guardrails.pop(item["uuid"], None)
                for entry in self.pal_entries():
                    if entry["doc"].get("guardrails_id") == gid:
                        del entry["doc"]["guardrails_id"]
            elif gid in self.guardrails:
                del self.guardrails[gid]
                for guardrail_set in self.guardrail_sets.values():
                    guardrail_set["data"] = [
                        i for i in guardrail_set["data"] if i.get("uuid") != gid
                    ]
            else:
                raise ApiFailure(404, {"error": "Invalid guardrails_id"})
            self.dirty = True

    # ---------------------------------------------------------- pronunciation dictionaries

    def list_dictionaries(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.dictionaries.values()))

    def _dictionary(self, did: str) -> dict[str, Any]:
        found = self.dictionaries.get(did)
        if found is None:
            raise ApiFailure(404, {"error": "Pronunciation dictionary not found"})
        return found

    def get_dictionary(self, did: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._dictionary(did))

    def create_dictionary(self, body: Any) -> dict[str, Any]:
        dictionary = copy.deepcopy(object_body(body))
        refuse_fields(dictionary, DICTIONARY_READ_ONLY)
        fill_dictionary_defaults(dictionary)
        check_dictionary(dictionary)
        stamp = now()
        with self.lock:
            did = new_id("pd_", 12)
            self.dictionaries[did] = {
                "pronunciation_dictionary_id": did,
                **dictionary,
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.dirty = True
            return copy.deepcopy(self.dictionaries[did])

    def patch_dictionary(self, did: str, body: Any) -> dict[str, Any]:
        """A plain partial body: `name` and `rules` (the whole list) replace the stored ones."""
        sent = copy.deepcopy(object_body(body, PLAIN_PATCH))
        refuse_fields(sent, DICTIONARY_READ_ONLY)
        with self.lock:
            stored = self._dictionary(did)
            updated = {**copy.deepcopy(stored), **sent}
            fill_dictionary_defaults(updated)
            check_dictionary(updated)
            if updated != stored:
                updated["updated_at"] = now()
                self.dictionaries[did] = updated
                self.dirty = True
            return copy.deepcopy(self.dictionaries[did])

    def delete_dictionary(self, did: str) -> None:
        with self.lock:
            self._dictionary(did)
            del self.dictionaries[did]  # PALs naming it keep the dangling id (module docstring)
            self.dirty = True

    # --------------------------------------------------------------------------- documents

    def list_documents(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.documents.values()))

    def _document(self, did: str) -> dict[str, Any]:
        found = self.documents.get(did)
        if found is None:
            raise ApiFailure(404, {"error": "Invalid document_id"})
        return found

    def get_document(self, did: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._document(did))

    def create_document(self, body: Any) -> dict[str, Any]:
        body = object_body(body)
        check_document(body)
        did = new_id("d", 11)
        stamp = now()
        doc: dict[str, Any] = {
            "document_id": did,
            "document_name": body.get("document_name") or did,
            "document_url": body["document_url"],
            "status": "started",
            "progress": 0,
            "tags": copy.deepcopy(body.get("tags") or []),
            "callback_url": body.get("callback_url"),
            "created_at": stamp,
            "updated_at": stamp,
            "error_message": None,
        }
        if body.get("crawl") is not None:  # a website: crawled now, recrawlable in an hour
            doc.update(
                crawl_config=copy.deepcopy(body["crawl"]),
                crawled_urls=[],
                last_crawled_at=stamp,
                crawl_count=1,
            )
        with self.lock:
            crawls = sum(1 for d in self.documents.values() if d.get("crawl_config") is not None)
            if "crawl_config" in doc and crawls >= MAX_CRAWL_DOCUMENTS:
                raise bad_request(f"At most {MAX_CRAWL_DOCUMENTS} crawl documents per user")
            self.documents[did] = doc
            self.dirty = True
        return copy.deepcopy(doc)

    def patch_document(self, did: str, body: Any) -> dict[str, Any]:
        """Plain JSON `{document_name?, tags?}`; tags overwrite (tavus-api.md 1f)."""
        sent = copy.deepcopy(object_body(body, PLAIN_PATCH))
        check_document_patch(sent)
        with self.lock:
            stored = self._document(did)
            updated = {**stored, **sent}
            if updated != stored:
                updated["updated_at"] = now()
                self.documents[did] = updated
                self.dirty = True
            return copy.deepcopy(self.documents[did])

    def delete_document(self, did: str) -> None:
        with self.lock:
            self._document(did)
            del self.documents[did]  # PALs naming it keep the dangling id (module docstring)
            self.dirty = True

    def recrawl_document(self, did: str) -> dict[str, Any]:
        """Crawl again: at most once an hour, counting the crawl its creation started (1f)."""
        with self.lock:
            doc = self._document(did)
            last = doc.get("last_crawled_at") or doc["created_at"]
            waited = (datetime.now(UTC) - _moment(last)).total_seconds()
            if waited < self.recrawl_cooldown:
                raise bad_request(
                    "Document was crawled less than an hour ago; try again in "
                    f"{int(self.recrawl_cooldown - waited) + 1} seconds"
                )
            stamp = now()
            doc.update(
                status="recrawling",
                last_crawled_at=stamp,
                crawl_count=int(doc.get("crawl_count") or 0) + 1,
                updated_at=stamp,
            )
            self.dirty = True
            return copy.deepcopy(doc)


def _moment(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _set_item(item: dict[str, Any]) -> dict[str, Any]:
    """A legacy-set item with the members the server fills (1e lists modality, callback_url)."""
    return {"modality": "verbal", "callback_url": "", **item}


def _item_view(guardrail: dict[str, Any]) -> dict[str, Any]:
    """An individual guardrail as its legacy set shows it."""
    hidden = ("tags", "app_message", "created_at", "updated_at")
    return {k: v for k, v in guardrail.items() if k not in hidden}
