"""The account's registry tools (tavus-api.md §1g, §11b, §11c): create, plain partial PATCH,
soft delete, lists by `type`, and their secrets — masked on every read, kept when a PATCH leaves
them out, and stored as sent, the mask included (the trap a client must not fall into; tests see
it through `stored_masks`).

A mixin of `Store`: the collections and the lock are the store's.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from palsync.emulator.companion_rules import PLAIN_PATCH, object_body, refuse_fields
from palsync.emulator.rules import (
    OWNER_ID,
    SECRET_MASK,
    TOOL_AUTH_SECRETS,
    ApiFailure,
    bad_request,
    masked_tool,
    new_id,
    now,
)
from palsync.emulator.tool_rules import TOOL_READ_ONLY, auth_kind, check_tool, fill_tool_defaults


class Tools:
    lock: threading.RLock
    pals: dict[str, dict[str, Any]]
    tools: dict[str, dict[str, Any]]
    dirty: bool

    def pal_entries(self) -> list[dict[str, Any]]:  # the store's (committing PALs included)
        raise NotImplementedError

    def list_tools(self, kind: str) -> list[dict[str, Any]]:
        if kind not in ("user", "system", "all"):
            raise bad_request("type must be one of user, system, all")
        with self.lock:
            return [
                masked_tool(t)
                for t in self.tools.values()
                if kind == "all" or t.get("is_system_tool", False) == (kind == "system")
            ]

    def _tool(self, tool_id: str) -> dict[str, Any]:
        tool = self.tools.get(tool_id)
        if tool is None:
            raise ApiFailure(404, {"error": "Tool not found"})
        return tool

    def get_tool(self, tool_id: str) -> dict[str, Any]:
        with self.lock:
            return masked_tool(self._tool(tool_id))

    def _check_tool(self, tool: dict[str, Any], tool_id: str | None) -> None:
        check_tool(tool)
        if any(t["name"] == tool["name"] and i != tool_id for i, t in self.tools.items()):
            raise bad_request("A tool with this name already exists")

    def create_tool(self, body: Any) -> dict[str, Any]:
        tool = copy.deepcopy(object_body(body))
        refuse_fields(tool, TOOL_READ_ONLY)
        fill_tool_defaults(tool)
        stamp = now()
        with self.lock:
            self._check_tool(tool, None)
            tool_id = new_id("t", 12)
            self.tools[tool_id] = {
                **tool,
                "tool_id": tool_id,
                "owner_id": OWNER_ID,
                "is_system_tool": False,
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.dirty = True
            return masked_tool(self.tools[tool_id])

    def patch_tool(self, tool_id: str, body: Any) -> dict[str, Any]:
        """A plain JSON partial body whose top-level fields replace the stored ones. What it
        says is stored as sent, the mask included: a client that sends back `********` replaces
        the secret with eight asterisks (tavus-api.md 11b; `stored_masks` shows it). A secret
        member left out of an auth of the same kind keeps the stored secret."""
        sent = copy.deepcopy(object_body(body, PLAIN_PATCH))
        with self.lock:
            tool = self._tool(tool_id)
            if tool.get("is_system_tool"):
                raise bad_request("Bad Request. Cannot modify system tools")
            refuse_fields(sent, TOOL_READ_ONLY)
            updated = {**copy.deepcopy(tool), **sent}
            _keep_omitted_secrets(tool, updated)
            fill_tool_defaults(updated)
            self._check_tool(updated, tool_id)
            if updated != tool:
                updated["updated_at"] = now()
                self.tools[tool_id] = updated
                self.dirty = True
            return masked_tool(self.tools[tool_id])

    def delete_tool(self, tool_id: str) -> None:
        """Soft delete: detached from every PAL, the name freed; system tools stay (400)."""
        with self.lock:
            tool = self._tool(tool_id)
            if tool.get("is_system_tool"):
                raise bad_request("Bad Request. Cannot delete system tools")
            del self.tools[tool_id]
            for entry in self.pal_entries():
                ids = entry["doc"].get("tool_ids")
                if isinstance(ids, list) and tool_id in ids:
                    entry["doc"]["tool_ids"] = [i for i in ids if i != tool_id]
            self.dirty = True

    def tool_secrets_stored(self, tool_id: str) -> dict[str, Any]:
        """For tests: the raw stored secrets of a tool by JSON Pointer (never served over HTTP;
        a state file reloaded holds them sealed, the mask excepted)."""
        with self.lock:
            return dict(_secret_pointers(self._tool(tool_id)))

    def stored_masks(self) -> list[dict[str, str]]:
        """Every tool secret whose stored value is the mask itself: a client sent a read back
        (the trap of tavus-api.md 11b). No secret value in it."""
        with self.lock:
            return [
                {"tool_id": tool_id, "pointer": pointer}
                for tool_id, tool in self.tools.items()
                for pointer, value in _secret_pointers(tool)
                if value == SECRET_MASK
            ]


def _auth(tool: dict[str, Any]) -> dict[str, Any] | None:
    delivery = tool.get("delivery")
    api = delivery.get("api") if isinstance(delivery, dict) else None
    auth = api.get("auth") if isinstance(api, dict) else None
    return auth if isinstance(auth, dict) else None


def _secret_pointers(tool: dict[str, Any]) -> list[tuple[str, Any]]:
    """(JSON Pointer, stored value) of every secret member of a tool's auth."""
    auth = _auth(tool)
    if auth is None:
        return []
    found = [(f"/delivery/api/auth/{k}", v) for k, v in auth.items() if k in TOOL_AUTH_SECRETS]
    for name, members in auth.items():  # {"bearer": {"token": ...}} as well as {"token": ...}
        if isinstance(members, dict):
            found += [
                (f"/delivery/api/auth/{name}/{k}", v)
                for k, v in members.items()
                if k in TOOL_AUTH_SECRETS
            ]
    return found


def _keep_omitted_secrets(before: dict[str, Any], after: dict[str, Any]) -> None:
    """ "Omit a secret to keep it" (11b): a secret member the new auth leaves out, in an auth of
    the same kind, keeps its stored value. A new delivery without any auth has none."""
    old, new = _auth(before), _auth(after)
    if old is None or new is None or old is new:
        return
    (old_kind, old_members), (new_kind, new_members) = auth_kind(old), auth_kind(new)
    if old_kind is None or old_kind != new_kind:
        return
    for key, value in old_members.items():
        if key in TOOL_AUTH_SECRETS and key not in new_members:
            new_members[key] = value
