"""The emulated account: PALs and faces here; tools (`tools.py`), the other companion kinds
(`companions.py`) and PALs' skills (`skills.py`) as mixins; thread-safe; persisted.

Every operation validates like the real API and answers with the real API's shapes, including the
unpleasant parts: server-filled defaults, masked secrets, 304 on no-op patches, stock PALs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from palsync.atomic import write_atomic
from palsync.emulator.companions import Companions
from palsync.emulator.patching import apply_ops, check_patch_format
from palsync.emulator.rules import (
    ALL_READ_ONLY,
    INTERRUPTIBILITY,
    OWNER_ID,
    RESERVED_USERNAME,
    SECRET_MASK,
    UNKNOWN_FIELDS,
    USERNAME,
    ApiFailure,
    bad_request,
    check_fields,
    fill_defaults,
    legacy_path,
    mask_secrets,
    new_id,
    normalise_legacy,
    now,
    spell_interruptibility,
    to_legacy,
    tool_secrets,
)
from palsync.emulator.skills import Skills
from palsync.emulator.tools import Tools
from palsync.fields import LEASE_PAL_NAME  # the test API leaves pal-sync's lease PAL out

STOCK_PALS = [
    ("p1af207b8189", "Sales Coach", False),
    ("paaee96e4f87", "Customer Support", False),
    ("pdac61133ac5", "Interviewer", False),
    ("pcb7a34da5fe", "Sales Development Rep (Anna)", False),
    ("pa5ad6596ef5", "Healthcare Intake", True),
    ("pe13ed370726", "AI Interviewer", True),
    ("pdced222244b", "Default", False),
]
STOCK_FACES = [
    ("r90bbd427f71", "Anna"),
    ("rfe12d8b9597", "Olivia"),
    ("r8495a788aa1", "Lee"),
    ("rbb3d627a705", "Mateo"),
    ("r5f0577fc829", "Lucas - Studio"),
]
USER_FACES = [("rf4e9d9790f0", "My Face"), ("r5dc7c7d0bcb", "Team Face")]
DICTIONARIES = [
    ("pd_abc123def456", "Brand names"),
    ("pd_abc123", "Product names"),
    ("pd_def456", "People"),
    ("pd_abc", "Acronyms"),
]
#: prefix of a secret sealed for the state file (`Store.seal`)
SEALED = "emulator-sealed:scrypt:"


def read_only_extras(pal_id: str) -> dict[str, Any]:
    """The read-only extras of tavus-api.md 11a, as reads return them: stable per PAL, derived
    from its id (so state files need not keep them)."""
    digest = hashlib.sha256(pal_id.encode()).hexdigest()
    return {
        "uuid": str(uuid.UUID(digest[:32])),
        "owner_id": OWNER_ID,
        "session_id": "s" + digest[32:44],
        "is_draft": False,
        "source_template_id": None,
        "registration_id": "reg_" + digest[44:56],
        "pal_settings_id": "ps" + digest[56:64],
        "is_published": True,
    }


class Store(Companions, Tools, Skills):
    def __init__(
        self,
        seed: bool = True,
        *,
        unknown_fields: str = "accept",
        interruptibility: str = "pal_interruptibility",
    ):
        if unknown_fields not in UNKNOWN_FIELDS:
            raise ValueError(f"unknown_fields must be one of {', '.join(UNKNOWN_FIELDS)}")
        if interruptibility not in INTERRUPTIBILITY:
            raise ValueError(f"interruptibility must be one of {', '.join(INTERRUPTIBILITY)}")
        #: "accept" stores unknown fields as written (what PAL Maker's writes show the real API
        #: does); "reject" answers 400 naming the field
        self.unknown_fields = unknown_fields
        #: the spelling of the one interruptibility field that /v2/pals reads show
        #: (/v2/personas always shows `replica_interruptibility`)
        self.interruptibility = interruptibility
        #: True plays a server whose PATCH answers 200 with no body (tavus-api.md 11b)
        self.empty_patch_answers = False
        self.lock = threading.RLock()
        self.pals: dict[str, dict[str, Any]] = {}  # pal_id -> {"doc":..., "meta":...}
        self.user_ids: list[str] = []
        self.faces: dict[str, dict[str, Any]] = {}
        self.objectives: dict[str, dict[str, Any]] = {}
        self.guardrails: dict[str, dict[str, Any]] = {}
        self.guardrail_sets: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self.tools: dict[str, dict[str, Any]] = {}
        self.dictionaries: dict[str, dict[str, Any]] = {}
        #: pal_id -> skill_id -> attachment (`skills.py`)
        self.skills: dict[str, dict[str, dict[str, Any]]] = {}
        self.maker_drafts: set[str] = set()
        #: salt of the sealed secrets of a state file (`save`), and this process's seals
        self.secret_salt = secrets.token_hex(16)
        self._seals: dict[str, str] = {}
        #: False plays a server that accepts JSON Patch `test` ops but does not check them
        self.honour_test = True
        #: a slow commit: a created PAL stays invisible to list, get and delete for this many
        #: seconds after its POST was answered (a re-run may list the account before it lands)
        self.commit_delay = 0.0
        #: the next this-many creates lose their answer (504) although the PAL is created,
        #: landing `commit_delay` seconds later: the client cannot know whether it exists
        self.lose_create_answers = 0
        self._committing: list[tuple[float, str, dict[str, Any]]] = []
        self.dirty = False
        if seed:
            self._seed()

    # ---------------------------------------------------------------------------- seed / state

    def _seed(self) -> None:
        stamp = "2026-01-01T00:00:00Z"
        for pal_id, name, template in STOCK_PALS:
            doc: dict[str, Any] = {
                "pal_name": name,
                "system_prompt": f"You are {name}.",
                "pipeline_mode": "full",
                "default_face_id": "r90bbd427f71",
                "layers": {"llm": {"model": "tavus-glm-4.7"}},
            }
            if template:
                doc["is_template"] = True
            self.pals[pal_id] = {
                "doc": doc,
                "meta": {"created_at": stamp, "updated_at": stamp, "pal_type": "system"},
            }
        for face_id, name in STOCK_FACES:
            self.faces[face_id] = self._face(face_id, name, "system", stamp)
        for face_id, name in USER_FACES:
            self.faces[face_id] = self._face(face_id, name, "user", stamp)
        self.objectives["o12345"] = {
            "objectives_id": "o12345",
            "name": "contact_details",
            "data": [
                {
                    "objective_name": "collect_contact_details",
                    "objective_prompt": "Ask for the user's email address.",
                    "confirmation_mode": "auto",
                    "output_variables": ["email"],
                    "modality": "verbal",
                }
            ],
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.guardrails["g1234567890ab"] = {
            "uuid": "g1234567890ab",
            "guardrail_name": "no_medical_advice",
            "guardrail_prompt": "Never give medical advice.",
            "modality": "verbal",
            "callback_url": "",
            "tags": ["safety", "support"],
            "app_message": True,
            "created_at": stamp,
            "updated_at": stamp,
        }
        item = {
            "uuid": "g0a1b2c3d4e5f",
            "guardrail_name": "no_pricing",
            "guardrail_prompt": "Never quote prices.",
            "modality": "verbal",
            "callback_url": "",
        }
        self.guardrails[item["uuid"]] = {
            **item,
            "tags": [],
            "app_message": True,
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.guardrail_sets["g12345"] = {
            "guardrails_id": "g12345",
            "guardrails_name": "Sales rules",
            "status": "active",
            "data": [item],
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.tools["end_call"] = {
            "tool_id": "end_call",
            "name": "end_call",
            "description": "End the conversation.",
            "is_system_tool": True,
            "delivery": {"app_message": True},
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.tools["t457be0aac29c"] = {
            "tool_id": "t457be0aac29c",
            "name": "order_lookup",
            "description": "Look up an order by its number.",
            "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
            "origin": "llm",
            "trigger_type": "in_call",
            "on_call": "generate_filler",
            "on_resolve": "fire_and_forget",
            "delivery": {
                "app_message": False,
                "api": {
                    "url": "https://api.example.com/orders/{order}",
                    "method": "GET",
                    "timeout": 10,
                    "auth": {"type": "bearer", "token": "tool-token-seeded"},
                },
            },
            "owner_id": OWNER_ID,
            "is_system_tool": False,
            "created_at": stamp,
            "updated_at": stamp,
        }
        # the docs' example id (tavus-api.md 7), and the ids the suite's PAL bodies name (they
        # were written before PALs' dictionary references were checked)
        for did, name in DICTIONARIES:
            self.dictionaries[did] = {
                "pronunciation_dictionary_id": did,
                "name": name,
                "rules": [
                    {
                        "text": "Tavus",
                        "pronunciation": "TAH-vus",
                        "type": "alias",
                        "case_sensitive": False,
                        "word_boundaries": True,
                    }
                ],
                "created_at": stamp,
                "updated_at": stamp,
            }
        self.documents["d1234567890"] = {
            "document_id": "d1234567890",
            "document_name": "Product FAQ",
            "document_url": "https://example.com/faq.pdf",
            "status": "ready",
            "progress": 100,
            "tags": ["faq"],
            "created_at": stamp,
            "updated_at": stamp,
            "callback_url": None,
            "error_message": None,
        }

    @staticmethod
    def _face(face_id: str, name: str, kind: str, stamp: str) -> dict[str, Any]:
        return {
            "face_id": face_id,
            "face_name": name,
            "status": "completed",
            "training_progress": "100/100",
            "thumbnail_video_url": "",
            "face_type": kind,
            "model_name": "phoenix-4",
            "created_at": stamp,
            "updated_at": stamp,
            "error_message": None,
        }

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "pals": self.pals,
                "user_ids": self.user_ids,
                "faces": self.faces,
                "objectives": self.objectives,
                "guardrails": self.guardrails,
                "guardrail_sets": self.guardrail_sets,
                "documents": self.documents,
                "tools": self.tools,
                "dictionaries": self.dictionaries,
                "skills": self.skills,
                "maker_drafts": sorted(self.maker_drafts),
            }

    def load_json(self, data: dict[str, Any]) -> None:
        with self.lock:
            # secrets stay sealed in memory (never returned: reads mask them; see `same_doc`)
            salt = data.get("secret_salt")
            if isinstance(salt, str) and salt:
                self.secret_salt = salt
            for name in (
                "pals",
                "user_ids",
                "faces",
                "objectives",
                "guardrails",
                "guardrail_sets",
                "documents",
            ):
                setattr(self, name, data[name])
            # (state files from before tools, dictionaries and skills keep the seeded ones)
            self.tools = data.get("tools", self.tools)
            self.dictionaries = data.get("dictionaries", self.dictionaries)
            self.skills = data.get("skills", {})
            for oid, found in list(self.objectives.items()):
                if "data" not in found:  # one objective per record, before sets
                    meta = ("objectives_id", "created_at", "updated_at")
                    item = {k: v for k, v in found.items() if k not in meta}
                    self.objectives[oid] = {
                        **{k: found[k] for k in meta if k in found},
                        "data": [item],
                    }
            self.maker_drafts = set(data.get("maker_drafts", []))

    def save(self, path: Path) -> None:
        """Write the account to `path` (`--state`) with every secret sealed: the file holds no
        secret in clear, only a salted scrypt digest the emulator can compare (`same_doc`)."""
        with self.lock:
            data = self.to_json()
            data["pals"] = {pid: self._sealed_entry(entry) for pid, entry in self.pals.items()}
            data["tools"] = {tid: self._sealed_tool(tool) for tid, tool in self.tools.items()}
            data["secret_salt"] = self.secret_salt
            text = json.dumps(data, separators=(",", ":"))
            self.dirty = False
        write_atomic(path, text)

    # ------------------------------------------------------------------- secrets at rest

    def seal(self, value: Any) -> Any:
        """A secret as the state file keeps it: `emulator-sealed:scrypt:<hex>`, one-way, slow
        and salted with this account's salt (a state file may hold real keys sent by a quick
        start). Sealed values are kept as they are; one derivation per value and process. The
        mask is kept too: it is no secret, and a mask stored by a client that sent a read back
        must still show as one after a reload (`stored_masks`)."""
        if not isinstance(value, str) or not value or value.startswith(SEALED):
            return value
        if value == SECRET_MASK:
            return value
        found = self._seals.get(value)
        if found is None:
            digest = hashlib.scrypt(
                value.encode("utf-8", "surrogatepass"),
                salt=("pal-sync-emulator\0" + self.secret_salt).encode(),
                n=2**14,
                r=8,
                p=1,
                dklen=32,
            )
            found = self._seals[value] = SEALED + digest.hex()
        return found

    def sealed_doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        """`doc` with its secret fields sealed (a copy; `doc` itself when it has none)."""
        layers = doc.get("layers")
        if not isinstance(layers, dict):
            return doc
        llm, tts = layers.get("llm"), layers.get("tts")
        headers = llm.get("headers") if isinstance(llm, dict) else None
        if not (
            (isinstance(llm, dict) and llm.get("api_key"))
            or (isinstance(tts, dict) and tts.get("api_key"))
            or (isinstance(headers, dict) and headers)
        ):
            return doc
        out = {**doc, "layers": dict(layers)}
        for name in ("llm", "tts"):
            section = layers.get(name)
            if isinstance(section, dict) and section.get("api_key"):
                out["layers"][name] = {**section, "api_key": self.seal(section["api_key"])}
        if isinstance(headers, dict) and headers:
            out["layers"]["llm"] = {
                **out["layers"]["llm"],
                "headers": {k: self.seal(v) for k, v in headers.items()},
            }
        return out

    def same_doc(self, a: dict[str, Any], b: dict[str, Any]) -> bool:
        """Equal documents, a secret in clear counting as equal to its sealed form (a PAL
        loaded from a state file, then patched with the same secret, is a 304 no-op)."""
        return a == b or self.sealed_doc(a) == self.sealed_doc(b)

    def _sealed_tool(self, tool: dict[str, Any]) -> dict[str, Any]:
        if not tool_secrets(tool):
            return tool
        out = copy.deepcopy(tool)
        for holder, key in tool_secrets(out):
            holder[key] = self.seal(holder[key])
        return out

    def _sealed_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        doc = self.sealed_doc(entry["doc"])
        return entry if doc is entry["doc"] else {**entry, "doc": doc}

    # ------------------------------------------------------------------------------ test API

    def settle(self, wait: bool = False) -> int:
        """Make the slow commits that are due visible (with `wait`: all of them, sleeping
        until the last is due); returns how many are still committing."""
        while True:
            with self.lock:
                moment = time.monotonic()
                due = [c for c in self._committing if c[0] <= moment]
                self._committing = [c for c in self._committing if c[0] > moment]
                for _, pal_id, entry in due:
                    self.pals[pal_id] = entry
                    self.user_ids.append(pal_id)
                    self.dirty = True
                left = len(self._committing)
                later = min((c[0] for c in self._committing), default=moment)
            if not wait or not left:
                return left
            time.sleep(max(0.0, later - moment) + 0.001)

    def pal_entries(self) -> list[dict[str, Any]]:
        """Every PAL's stored entry, those still committing (`commit_delay`) included: what a
        server-side cascade (a deleted tool detached, a deleted set scrubbed) must reach, since
        the PAL exists for the server already. Call with the lock held."""
        return [*self.pals.values(), *(entry for _, _, entry in self._committing)]

    def user_pals(self, *, with_lease: bool = False) -> list[dict[str, Any]]:
        """Stored user PALs, unmasked, with their ids (for tests: count, duplicates); the PAL
        that holds pal-sync's account lease only when asked for. PALs still committing
        (`commit_delay`) are not counted until they land: `settle(wait=True)` first."""
        self.settle()
        with self.lock:
            pals = [{"pal_id": i, **copy.deepcopy(self.pals[i]["doc"])} for i in self.user_ids]
        return [p for p in pals if with_lease or p.get("pal_name") != LEASE_PAL_NAME]

    def pals_named(self, name: str) -> list[dict[str, Any]]:
        return [p for p in self.user_pals() if p.get("pal_name") == name]

    def get(self, pal_id: str) -> dict[str, Any] | None:
        with self.lock:
            entry = self.pals.get(pal_id)
            return None if entry is None else {"pal_id": pal_id, **copy.deepcopy(entry["doc"])}

    def set_maker_draft(self, pal_id: str, present: bool = True) -> None:
        with self.lock:
            (self.maker_drafts.add if present else self.maker_drafts.discard)(pal_id)

    def edit(self, pal_id: str, doc: dict[str, Any]) -> None:
        """Replace a PAL's document behind the API's back (a dashboard edit, for drift tests)."""
        with self.lock:
            entry = self.pals[pal_id]
            fill_defaults(doc)
            entry["doc"] = doc
            entry["meta"]["updated_at"] = now()
            self.dirty = True

    # --------------------------------------------------------------------------------- PALs

    def render(self, pal_id: str, legacy: bool = False) -> dict[str, Any]:
        entry = self.pals[pal_id]
        doc = copy.deepcopy(entry["doc"])
        mask_secrets(doc)
        meta = entry["meta"]
        out: dict[str, Any] = {
            "pal_id": pal_id,
            **doc,
            "pal_type": meta["pal_type"],
            "created_at": meta["created_at"],
            "updated_at": meta["updated_at"],
            **read_only_extras(pal_id),
        }
        layers = doc.get("layers")
        conferencing = layers.get("conferencing") if isinstance(layers, dict) else None
        username = conferencing.get("username") if isinstance(conferencing, dict) else None
        if username:
            out["conferencing_email"] = f"{username}@tavusinvite.com"
        return to_legacy(out) if legacy else spell_interruptibility(out, self.interruptibility)

    def _validate(self, doc: dict[str, Any], pal_id: str | None, require_face: bool) -> None:
        check_fields(doc, self.unknown_fields)
        face = doc.get("default_face_id")
        if require_face and not face:
            raise bad_request("default_face_id is required")
        if face and face not in self.faces:
            raise bad_request("Invalid face_id")
        mode = doc.get("pipeline_mode", "full")
        if mode == "full" and not doc.get("system_prompt"):
            raise bad_request("system_prompt is required when pipeline_mode is full")
        if doc.get("objectives_id") and doc["objectives_id"] not in self.objectives:
            raise bad_request("Invalid objectives_id")
        if doc.get("guardrails_id") and doc["guardrails_id"] not in self.guardrail_sets:
            raise bad_request("Invalid guardrails_id")
        for gid in doc.get("guardrail_ids", []):
            if gid not in self.guardrails:
                raise bad_request(f"Invalid guardrail id {gid}")
        for did in doc.get("document_ids", []):
            if did not in self.documents:
                raise bad_request(f"Invalid document_id {did}")
        # registry tools, system tools (`end_call`) included (tavus-api.md 11a)
        for tid in doc.get("tool_ids", []):
            if tid not in self.tools:
                raise bad_request(f"Invalid tool_id {tid}")
        tts = doc.get("layers", {}).get("tts")
        dictionary = tts.get("pronunciation_dictionary_id") if isinstance(tts, dict) else None
        if dictionary and dictionary not in self.dictionaries:  # "" removes it (2b)
            raise bad_request(f"Invalid pronunciation_dictionary_id {dictionary}")
        conferencing = doc.get("layers", {}).get("conferencing")
        if conferencing is not None:
            if not face:
                raise bad_request("layers.conferencing requires default_face_id")
            if mode != "full":
                raise bad_request("layers.conferencing requires pipeline_mode full")
            username = conferencing.get("username")
            if username is not None:
                if len(username) < 2 or not USERNAME.fullmatch(username):
                    raise bad_request("Invalid conferencing username")
                if RESERVED_USERNAME.fullmatch(username):
                    raise bad_request("Username is reserved.")
                for other_id in self.user_ids:
                    other = self.pals[other_id]["doc"].get("layers", {}).get("conferencing", {})
                    if other_id != pal_id and other.get("username") == username.lower():
                        raise bad_request("Username is already taken.")

    def create_pal(self, body: Any, legacy: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("Request body must be a JSON object")
        doc = normalise_legacy(copy.deepcopy(body))
        with self.lock:
            self._validate(doc, None, require_face=not legacy)
            fill_defaults(doc, create=True)
            pal_id = new_id("p", 11)
            stamp = now()
            entry = {
                "doc": doc,
                "meta": {"created_at": stamp, "updated_at": stamp, "pal_type": "user"},
            }
            self.pals[pal_id] = entry
            rendered = self.render(pal_id)
            # (pal-sync's own lease PAL excepted: these play a PAL a manifest creates)
            slow = doc.get("pal_name") != LEASE_PAL_NAME
            lost = slow and self.lose_create_answers > 0
            if lost:
                self.lose_create_answers -= 1
            if slow and (self.commit_delay > 0 or lost):
                del self.pals[pal_id]  # committed later: invisible until then
                visible = time.monotonic() + self.commit_delay
                self._committing.append((visible, pal_id, entry))
            else:
                self.user_ids.append(pal_id)
                self.dirty = True
        if lost:
            raise ApiFailure(504, {"message": "Gateway timeout"})
        out = {"pal_id": pal_id, "pal_name": doc.get("pal_name"), "created_at": stamp}
        if "conferencing_email" in rendered:
            out["conferencing_email"] = rendered["conferencing_email"]
        if legacy:
            return {"persona_id": pal_id, "persona_name": doc.get("pal_name"), "created_at": stamp}
        return out

    def list_pals(self, kind: str | None, limit: int, page: int, legacy: bool) -> dict[str, Any]:
        self.settle()
        with self.lock:
            if kind == "user":
                ids = self.user_ids
            elif kind == "system":
                ids = [i for i, e in self.pals.items() if e["meta"]["pal_type"] == "system"]
            else:
                ids = list(self.pals)
            start = (page - 1) * limit
            data = [self.render(i, legacy) for i in ids[start : start + limit]]
            return {"data": data, "total_count": len(ids)}

    def get_pal(self, pal_id: str, legacy: bool) -> dict[str, Any]:
        self.settle()
        with self.lock:
            if pal_id not in self.pals:
                raise ApiFailure(
                    404, {"error": "Invalid persona_id" if legacy else "PAL not found"}
                )
            return {"data": [self.render(pal_id, legacy)]}

    def patch_pal(
        self, pal_id: str, ops: Any, force: bool, legacy: bool
    ) -> tuple[int, dict[str, Any] | None]:
        ops = check_patch_format(ops)
        # every route translates persona-era names and interruptibility spellings in paths
        paths = [legacy_path(op["path"]) for op in ops]
        conferencing = [
            p == "/layers/conferencing" or p.startswith("/layers/conferencing/") for p in paths
        ]
        if any(conferencing) and not all(conferencing):
            raise bad_request("layers.conferencing changes must be sent in their own request")
        with self.lock:
            entry = self.pals.get(pal_id)
            if entry is None:  # 400, not 404, on both routes (tavus-api.md 11b)
                raise bad_request("Invalid persona_id")
            if entry["meta"]["pal_type"] != "user":
                raise bad_request("Cannot modify a system PAL")
            discarded = False
            if pal_id in self.maker_drafts and not all(conferencing):
                if not force:
                    raise ApiFailure(
                        409,
                        {
                            "conflict": "maker_changes",
                            "message": "This PAL has unpublished changes in PAL Maker. Publish or "
                            "discard them, or retry with ?force=true to overwrite.",
                        },
                    )
                discarded = True
            fixed = [{**op, "path": path} for op, path in zip(ops, paths, strict=True)]
            if not self.honour_test:  # a server that skips `test` ops (pal-sync must notice)
                fixed = [op for op in fixed if op["op"] != "test"]
            for op in fixed:
                if "from" in op:
                    op["from"] = legacy_path(op["from"])
                root = op["path"].split("/")[1] if op["path"] else ""
                if root in ALL_READ_ONLY:
                    raise bad_request(f"Field '{root}' is read-only")
            result = normalise_legacy(apply_ops(entry["doc"], fixed))
            self._validate(result, pal_id, require_face=False)
            fill_defaults(result)
            if discarded:
                self.maker_drafts.discard(pal_id)
            if self.same_doc(result, entry["doc"]):
                return 304, None
            entry["doc"] = result
            entry["meta"]["updated_at"] = now()
            self.dirty = True
            if self.empty_patch_answers and not discarded:
                return 200, None
            body = self.render(pal_id, legacy)
            if discarded:
                body["discarded_maker_changes"] = True
            return 200, body

    def delete_pal(self, pal_id: str, legacy: bool = False) -> None:
        self.settle()
        with self.lock:
            entry = self.pals.get(pal_id)
            if entry is None:  # the persona route documents 400 (tavus-api.md 1b)
                if legacy:
                    raise bad_request("Invalid persona_id")
                raise ApiFailure(404, {"error": "PAL not found"})
            if entry["meta"]["pal_type"] != "user":
                raise bad_request("Cannot delete a system PAL")
            del self.pals[pal_id]
            self.user_ids.remove(pal_id)
            self.maker_drafts.discard(pal_id)
            self.skills.pop(pal_id, None)
            self.dirty = True

    # ----------------------------------------------------------------------- other resources

    def list_faces(self, kind: str | None, verbose: bool) -> list[dict[str, Any]]:
        """The account's own faces; stock (`system`) faces only when asked for by
        `face_type=system` or with `verbose=true` (tavus-api.md 11b)."""
        with self.lock:
            wanted = {kind} if kind else ({"user", "system"} if verbose else {"user"})
            faces = [f for f in self.faces.values() if f["face_type"] in wanted]
            if verbose:
                return [dict(f) for f in faces]
            return [{k: v for k, v in f.items() if k != "face_type"} for f in faces]

    def create_face(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not (
            body.get("train_video_url") or body.get("train_image_url")
        ):
            raise bad_request("train_video_url or train_image_url is required")
        face_id = new_id("r", 11)
        with self.lock:
            self.faces[face_id] = self._face(
                face_id, body.get("face_name") or face_id, "user", now()
            )
            self.dirty = True
        return {"face_id": face_id, "status": "started"}
