"""Saved plans (`plan --out FILE`, `apply FILE`): writing them without a secret, reading them
back defensively, binding them to the account they were made against, and telling why one no
longer holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from palsync import __version__
from palsync.atomic import write_atomic
from palsync.errors import StalePlanError, UsageError
from palsync.plan import Plan, change_to_dict

PLAN_FORMAT = "palsync.plan/v1"


def save_plan(
    plan: Plan,
    path: str,
    directory: str,
    targets: tuple[str, ...],
    prune: bool,
    binding: dict[str, str],
    resend_secrets: bool = False,
) -> None:
    doc = {
        "format": PLAN_FORMAT,
        # DESIGN 14: a plan applies to the account it was made against, nowhere else
        "account": binding,
        "dir": directory,
        "targets": list(targets),
        "prune": prune,
        "resend_secrets": resend_secrets,
        # the lock's salt (not a secret: the lock holds it too), for a first apply with no lock
        "lock_salt": plan.lock_salt,
        **plan.to_dict(),
    }
    from palsync import redact

    # no secret value in a plan file (DESIGN 6, 14): values are redacted by pointer already;
    # scrubbing the text also catches a known secret wherever else it might have got in
    text = redact.scrub(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    check_writable(path, "--out")
    try:
        write_atomic(path, text)
    except OSError as err:
        raise UsageError(f"--out {path}: cannot write the plan ({err.strerror or err})") from None


def check_writable(path: str, option: str) -> None:
    """Refuse, before any work, an output file whose directory does not exist."""
    folder = Path(path).parent
    if Path(path).is_dir():
        raise UsageError(f"{option} {path} is a directory; give a file name")
    if not folder.is_dir():
        raise UsageError(
            f"{option} {path}: the directory {folder} does not exist",
            hint=f"create it first (mkdir -p {folder}) or give another path",
        )


def check_binding(saved: dict[str, Any], binding: dict[str, str], path: str) -> None:
    """Refuse a plan file made against another account or API URL."""
    bound = saved.get("account")
    if not isinstance(bound, dict):
        raise StalePlanError(
            f"plan file {path} does not say which account it was made against; nothing was applied",
            hint="plan again with this version of pal-sync",
        )
    if bound.get("api_url") != binding["api_url"]:
        raise StalePlanError(
            f"plan file {path} was made against {bound.get('api_url')}, this run talks to "
            f"{binding['api_url']}; nothing was applied",
            hint="apply it where it was made, or plan again against this API",
        )
    if (
        bound.get("fingerprint") != binding["fingerprint"]
        and binding["api_url"] == "embedded emulator"
    ):
        raise StalePlanError(
            f"plan file {path} was made against another embedded emulator (another "
            ".palsync/ state directory); nothing was applied",
            hint="apply it from the directory it was planned in, or plan again here",
        )
    if bound.get("fingerprint") != binding["fingerprint"]:
        raise StalePlanError(
            f"plan file {path} was made with another API key (another account?) than this run's "
            "TAVUS_API_KEY; nothing was applied",
            hint="apply it with the key it was made with, or plan again with this one",
        )


def load_plan(path: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"plan file {path} does not exist") from None
    except (OSError, ValueError) as err:
        raise StalePlanError(f"plan file {path} is unreadable or corrupt: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise StalePlanError(
            f"{path} is not a pal-sync plan file", hint="create one with `pal-sync plan --out FILE`"
        )
    if doc.get("tool_version") != __version__:
        raise StalePlanError(
            f"plan file {path} was made by pal-sync {doc.get('tool_version')}, "
            f"this is {__version__}",
            hint="plan again",
        )
    wrong = _plan_shape(doc)
    if wrong:
        raise UsageError(
            f"plan file {path} is damaged: {wrong}; nothing was applied",
            hint="make a new one with `pal-sync plan --out FILE` (plan files are not edited)",
        )
    return doc


_PLAN_FIELDS: dict[str, tuple[type, ...]] = {
    "dir": (str,),
    "targets": (list,),
    "prune": (bool,),
    "resend_secrets": (bool,),
    "lock_salt": (str, type(None)),
    "manifests_hash": (str,),
    "lock_hash": (str, type(None)),
    "changes": (list,),
}
_CHANGE_FIELDS: dict[str, tuple[type, ...]] = {
    "key": (str,),
    "action": (str,),
    "pal_id": (str, type(None)),
    "ops": (list,),
    "conferencing_ops": (list,),
    "secret_fingerprints": (dict,),
    "live_hash": (str, type(None)),
}


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _plan_shape(doc: dict[str, Any]) -> str:
    """What is wrong with a plan file's structure ("" when nothing): every field apply reads."""
    for name, types in _PLAN_FIELDS.items():
        if name in doc and not isinstance(doc[name], types):
            return f"`{name}` must be {_type_names(types)}, not {json.dumps(doc[name])[:40]}"
    if "changes" not in doc:
        return "`changes` is missing"
    if not all(isinstance(t, str) for t in doc.get("targets", [])):
        return "`targets` must be a list of strings"
    for i, change in enumerate(doc["changes"]):
        if not isinstance(change, dict):
            return f"`changes[{i}]` must be an object"
        for name, types in _CHANGE_FIELDS.items():
            if name not in change:
                return f"`changes[{i}].{name}` is missing"
            if not isinstance(change[name], types):
                return f"`changes[{i}].{name}` must be {_type_names(types)}"
    return ""


def stale_reasons(saved: dict[str, Any], plan: Plan) -> list[str]:
    """Why a saved plan no longer holds, each reason naming what actually changed."""
    from palsync.errors import dotted
    from palsync.plan import SENSITIVE

    def _plain_ops(ops: list[Any]) -> list[Any]:
        # the ops that carry no secret: a secret's op changes with its value, reported apart
        return [op for op in ops if SENSITIVE not in json.dumps(op, ensure_ascii=False)]

    reasons = []
    if saved.get("manifests_hash") != plan.manifests_hash:
        reasons.append("the manifests changed")
    if saved.get("lock_hash") != plan.lock_hash:
        reasons.append("the lock file changed")
    fresh = {c.key: change_to_dict(c) for c in plan.changes}
    old = {c["key"]: c for c in saved.get("changes", [])}
    for key in sorted(set(fresh) | set(old)):
        a, b = old.get(key), fresh.get(key)
        if a is None or b is None:
            reasons.append(f"{key}: now {'absent from' if b is None else 'in'} the plan")
            continue
        said: list[str] = []
        # an unchanged PAL carries no live hash (not computed): compare only two real ones
        live_known = bool(a.get("live_hash")) and bool(b.get("live_hash"))
        live_changed = live_known and a.get("live_hash") != b.get("live_hash")
        if live_changed:
            said.append(f"the live PAL {b.get('pal_id')} changed since the plan")
        secrets_a, secrets_b = a.get("secret_fingerprints") or {}, b["secret_fingerprints"]
        if secrets_a != secrets_b:
            pointers = sorted(
                p for p in set(secrets_a) | set(secrets_b) if secrets_a.get(p) != secrets_b.get(p)
            )
            said.append(
                "the value of a secret variable changed ("
                + ", ".join(dotted(p) for p in pointers)
                + ")"
            )
        ops_a = _plain_ops([*(a.get("ops") or []), *(a.get("conferencing_ops") or [])])
        ops_b = _plain_ops([*b["ops"], *b["conferencing_ops"]])
        if ops_a != ops_b and not live_changed:
            cause = (
                "an environment variable changed"
                if live_known
                else "an environment variable changed or the live PAL was edited"
            )
            said.append(f"the planned field changes differ now ({cause})")
        if a.get("action") != b["action"]:
            said.append(f"it was planned as {a.get('action')}, now it is {b['action']}")
        if said:
            reasons.append(f"{key}: " + "; ".join(said))
    return reasons


def saved_options(
    saved: dict[str, Any],
) -> tuple[str | None, tuple[str, ...], bool, bool, tuple[str, ...]]:
    """(dir, targets, prune, resend_secrets, recreate) a saved plan was made with: apply uses
    them instead of options given again."""
    directory = saved.get("dir")
    targets = tuple(saved.get("targets", ()))
    prune = bool(saved.get("prune", False))
    resend_secrets = bool(saved.get("resend_secrets", False))
    # the plan's re-creations of missing pinned PALs (`plan --recreate KEY`)
    recreate = tuple(
        str(c.get("key"))
        for c in saved.get("changes") or ()
        if isinstance(c, dict) and c.get("action") == "create" and c.get("replaces")
    )
    return directory, targets, prune, resend_secrets, recreate
