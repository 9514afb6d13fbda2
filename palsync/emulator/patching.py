"""RFC 6902 JSON Patch as the emulated API applies it: the format check (422), atomic
application op by op on a copy, and errors that never quote the document (it may hold secrets).

Shared by every kind Tavus patches with JSON Patch: PALs, objectives, guardrails (tavus-api.md §3,
§11c).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonpatch
import jsonpointer

from palsync.emulator.rules import MAX_DEPTH, ApiFailure, bad_request, too_deep

PATCH_OPS = {"add", "remove", "replace", "copy", "move", "test"}


def check_patch_format(ops: Any) -> list[dict[str, Any]]:
    """`ops` when it is a JSON Patch document; a 422 `Invalid JSON patch format` otherwise (a
    plain JSON object sent to a JSON Patch endpoint gets this too)."""
    ok = isinstance(ops, list) and all(
        isinstance(op, dict)
        and isinstance(op.get("op"), str)
        and op["op"] in PATCH_OPS
        and isinstance(op.get("path"), str)
        and (op["path"] == "" or op["path"].startswith("/"))
        and (op["op"] not in ("add", "replace", "test") or "value" in op)
        and (op["op"] not in ("move", "copy") or isinstance(op.get("from"), str))
        for op in ops
    )
    if not ok:
        raise ApiFailure(422, {"message": "Invalid JSON patch format"})
    return list(ops)


def refuse_read_only(ops: list[dict[str, Any]], read_only: frozenset[str]) -> None:
    """A 400 for an op whose path (or `from`) starts at a read-only top-level field, or that
    writes the whole document (path ""), read-only fields included."""
    for op in ops:
        if op["path"] == "" and op["op"] != "test":
            raise bad_request("The document root cannot be replaced; patch its fields")
        for pointer in (op["path"], op.get("from")):
            root = pointer.split("/")[1] if isinstance(pointer, str) and pointer else ""
            if root in read_only:
                raise bad_request(f"Field '{root}' is read-only")


def apply_ops(
    doc: dict[str, Any],
    ops: list[dict[str, Any]],
    after: Callable[[dict[str, Any], Any], None] | None = None,
) -> dict[str, Any]:
    """`ops` applied to a copy of `doc`, all or nothing (the first op that cannot apply, or a
    `test` that fails, is a 422 naming its index). `after(op, result)` runs after each op."""
    result: Any = copy.deepcopy(doc)
    for index, op in enumerate(ops):
        try:
            result = jsonpatch.apply_patch(result, [op], in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
            # never echo the library's message: it quotes the document, secrets included
            kind = "test failed" if op["op"] == "test" else "cannot apply"
            raise ApiFailure(
                422,
                {
                    "message": f"Invalid JSON patch format: op {index} "
                    f"({op['op']} {op['path']}): {kind}"
                },
            ) from None
        if after is not None:
            after(op, result)
    if not isinstance(result, dict):
        raise ApiFailure(422, {"message": "Invalid JSON patch format"})
    if too_deep(result):
        raise bad_request(f"The patched document would nest more than {MAX_DEPTH} levels")
    return result
