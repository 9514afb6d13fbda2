"""A PAL's skills (tavus-api.md §1a, §11b): Tavus-authored capabilities attached to a PAL with a
config each, through `/v2/pals/{id}/skills/…` — never through the PAL document.

A mixin of `Store`. An attachment reads `{skill_id, config, attached_at, updated_at}`; the
listing and the set replace answer `{data: {<skill_id>: attachment}}` (1a).

Where tavus-api.md is silent or disagrees, the obvious was picked:
- `PUT …/skills/{skill_id}` takes the config itself as its body (11b, newer than 1a's
  `{config: {}}`); an empty body is `{}`.
- `PUT …/skills` takes `{"skills": [...]}` (11b, newer than 1a's object keyed by skill id); an
  item is a skill id, or `{"skill_id", "config"?}`. A skill kept by the replace keeps its
  `attached_at`.
- An unknown skill id in the path is 404 `Unknown skill '…'` (§5, observed); in a body, 400.
- A known skill that is not attached: 404 on GET; 400 `Bad Request. Skill not attached to this
  PAL` on PATCH and DELETE, as for a tool detached twice (1a).
- DELETE answers 204, as detaching a tool does.
- Skills of a stock (`system`) PAL can be read, not changed (400, as for its PATCH).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from palsync.emulator.companion_rules import (
    KNOWN_SKILLS,
    check_skill_config,
    check_skill_id,
    merge_config,
)
from palsync.emulator.rules import ApiFailure, bad_request, now


class Skills:
    lock: threading.RLock
    pals: dict[str, dict[str, Any]]
    #: pal_id -> skill_id -> {config, attached_at, updated_at}
    skills: dict[str, dict[str, dict[str, Any]]]
    dirty: bool

    def settle(self, wait: bool = False) -> int:  # the store's (slow commits)
        raise NotImplementedError

    def _skills_of(self, pal_id: str, write: bool) -> dict[str, dict[str, Any]]:
        entry = self.pals.get(pal_id)
        if entry is None:
            raise ApiFailure(404, {"error": "PAL not found"})
        if write and entry["meta"]["pal_type"] != "user":
            raise bad_request("Cannot modify a system PAL")
        return self.skills.setdefault(pal_id, {}) if write else self.skills.get(pal_id, {})

    @staticmethod
    def _known(skill_id: str) -> str:
        if skill_id not in KNOWN_SKILLS:
            raise ApiFailure(404, {"error": f"Unknown skill '{skill_id}'"})
        return skill_id

    @staticmethod
    def _attachment(skill_id: str, stored: dict[str, Any]) -> dict[str, Any]:
        return {"skill_id": skill_id, **copy.deepcopy(stored)}

    def _listing(self, attached: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"data": {sid: self._attachment(sid, a) for sid, a in attached.items()}}

    def list_skills(self, pal_id: str) -> dict[str, Any]:
        self.settle()
        with self.lock:
            return self._listing(self._skills_of(pal_id, write=False))

    def get_skill(self, pal_id: str, skill_id: str) -> dict[str, Any]:
        self.settle()
        with self.lock:
            attached = self._skills_of(pal_id, write=False)
            if self._known(skill_id) not in attached:
                raise ApiFailure(404, {"error": "Skill not attached to this PAL"})
            return self._attachment(skill_id, attached[skill_id])

    def put_skill(self, pal_id: str, skill_id: str, body: Any) -> dict[str, Any]:
        """Attach, or overwrite the config of an attached skill."""
        config = check_skill_config({} if body is None else body)
        self.settle()
        with self.lock:
            attached = self._skills_of(pal_id, write=True)
            self._known(skill_id)
            self._attach(attached, skill_id, config)
            return self._attachment(skill_id, attached[skill_id])

    def _attach(
        self, attached: dict[str, dict[str, Any]], skill_id: str, config: dict[str, Any]
    ) -> None:
        stamp = now()
        old = attached.get(skill_id)
        if old is not None and old["config"] == config:
            return
        attached[skill_id] = {
            "config": copy.deepcopy(config),
            "attached_at": old["attached_at"] if old else stamp,
            "updated_at": stamp,
        }
        self.dirty = True

    def patch_skill(self, pal_id: str, skill_id: str, body: Any) -> dict[str, Any]:
        """Merge into the attached skill's config (RFC 7386: null removes a key)."""
        patch = check_skill_config({} if body is None else body)
        self.settle()
        with self.lock:
            attached = self._skills_of(pal_id, write=True)
            if self._known(skill_id) not in attached:
                raise bad_request("Bad Request. Skill not attached to this PAL")
            self._attach(attached, skill_id, merge_config(attached[skill_id]["config"], patch))
            return self._attachment(skill_id, attached[skill_id])

    def delete_skill(self, pal_id: str, skill_id: str) -> None:
        self.settle()
        with self.lock:
            attached = self._skills_of(pal_id, write=True)
            if self._known(skill_id) not in attached:
                raise bad_request("Bad Request. Skill not attached to this PAL")
            del attached[skill_id]
            self.dirty = True

    def put_skills(self, pal_id: str, body: Any) -> dict[str, Any]:
        """Replace the whole set: skills not listed are detached (all or nothing)."""
        items = body.get("skills") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise bad_request('Request body must be {"skills": [...]}')
        wanted: dict[str, dict[str, Any]] = {}
        for item in items:
            if isinstance(item, dict):
                skill_id = check_skill_id(item.get("skill_id"))
                config = check_skill_config(item.get("config", {}))
            else:
                skill_id, config = check_skill_id(item), {}
            if skill_id in wanted:
                raise bad_request(f"Skill '{skill_id}' is listed twice")
            wanted[skill_id] = config
        self.settle()
        with self.lock:
            attached = self._skills_of(pal_id, write=True)
            for skill_id in [s for s in attached if s not in wanted]:
                del attached[skill_id]
                self.dirty = True
            for skill_id, config in wanted.items():
                self._attach(attached, skill_id, config)
            return self._listing(attached)
