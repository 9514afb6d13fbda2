"""The whole of `import`: live user PALs → canonical manifests in the directory and entries in
the lock, one PAL at a time (each manifest written, then its lock entry), so an interruption
loses nothing already imported. What it writes and warns about is said through callbacks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from palsync import lock as lockfile
from palsync.atomic import write_atomic
from palsync.errors import UsageError
from palsync.fields import is_user_pal
from palsync.importer import import_one, safe_pal_id, shared_names, unique_key
from palsync.pipeline.loading import register_directory_secrets
from palsync.pipeline.session import Notice, Where, exclusive, ignore, open_client
from palsync.textsafe import visible

#: the file forms of one key's manifest
FORMS = (".yaml", ".yml", ".md")


def run_import(
    where: Where,
    pal_ids: tuple[str, ...] = (),
    *,
    force: bool = False,
    markdown: bool = False,
    say: Notice = ignore,
    notice: Notice = ignore,
) -> int:
    """Import `pal_ids` (none: every live user PAL); returns how many were imported. `say`
    hears what was written (the CLI's stdout), `notice` what was skipped and what to do next
    (its stderr). Existing manifest files are kept unless `force`."""
    for pal_id in pal_ids:
        if not safe_pal_id(pal_id):
            raise UsageError(
                f"{visible(repr(pal_id))} is not a PAL id (letters, digits, `_` and `-` only)"
            )
    path = where.lock_file
    with exclusive(path, where.directory):
        return _import(where, path, pal_ids, force, markdown, say, notice)


def _import(
    where: Where,
    path: Path,
    pal_ids: tuple[str, ...],
    force: bool,
    markdown: bool,
    say: Notice,
    notice: Notice,
) -> int:
    directory = where.directory
    lock = lockfile.load(path)
    register_directory_secrets(directory)
    with open_client(where, notice=notice) as client:
        listed = client.list_pals()
        # a server value is never trusted as a path, a URL segment or a lock key: a PAL whose
        # id is not a plain id is reported and left alone
        live = [p for p in listed if safe_pal_id(p.get("pal_id"))]
        hostile = [p.get("pal_id") for p in listed if not safe_pal_id(p.get("pal_id"))]
        by_id = {p["pal_id"]: p for p in live}
        if not pal_ids:
            selected = live
        else:
            hostile = []
            selected = []
            for pal_id in pal_ids:
                if pal_id in by_id:
                    selected.append(by_id[pal_id])
                    continue
                pal = client.get_pal(pal_id)
                if pal is None:
                    raise UsageError(f"PAL {pal_id} does not exist in this account")
                if pal.get("pal_id") != pal_id:
                    raise UsageError(
                        f"the server answered PAL {pal_id} with the id "
                        f"{visible(repr(pal.get('pal_id')))}; nothing was imported"
                    )
                if not is_user_pal(pal):
                    raise UsageError(
                        f"PAL {pal_id} is a stock or template PAL; pal-sync never manages those"
                    )
                selected.append(pal)
        shared = shared_names(live)
    owned = lock.claimed_ids()
    folder = Path(directory)
    # a key the lock holds belongs to another PAL: the import gets the next free key; a
    # manifest file not in the lock is overwritten with --force, and refused without it
    taken = set(lock.entries)
    plans = []
    for pal in sorted(selected, key=lambda p: (str(p.get("pal_name") or ""), p["pal_id"])):
        if pal["pal_id"] in owned:
            notice(f"skip {pal['pal_id']}: already managed as {owned[pal['pal_id']]}")
            continue
        # a key (a file name, a lock key) made from a pal_name that holds a known secret
        # would carry it, slugified beyond what redaction recognises: made from the scrubbed name
        key = unique_key(_named_safely(pal), taken)
        plans.append((key, pal))
    inside = folder.resolve()
    pinned = {key for key, pal in plans if pal.get("pal_name") in shared}
    results = [
        import_one(pal, key, lock, markdown=markdown, pin=key in pinned) for key, pal in plans
    ]
    for result in results:
        for form in FORMS:
            target = (folder / f"{result.key}{form}").resolve()
            if target.parent != inside:  # e.g. a symlink in --dir pointing elsewhere
                raise UsageError(
                    f"{folder / (result.key + form)} resolves to {target}, outside {folder}; "
                    "nothing was written",
                    hint="remove that symbolic link, or import into another --dir",
                )
    # a key's manifest in any form (x.yaml, x.yml, x.md) is the one that would be replaced
    existing = [
        folder / f"{r.key}{form}"
        for r in results
        for form in FORMS
        if os.path.lexists(folder / f"{r.key}{form}")
    ]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing)
        raise UsageError(
            f"would overwrite {shown}; nothing was written", hint="rerun with --force to overwrite"
        )
    folder.mkdir(parents=True, exist_ok=True)
    variables: list[str] = []
    for result, (key, pal) in zip(results, plans, strict=True):
        target = folder / f"{key}{result.suffix}"
        write_atomic(target, _scrubbed(result.text, target.name, pal, notice))
        for form in FORMS:  # --force: the key's manifest in its other form goes
            if form != result.suffix and os.path.lexists(folder / f"{key}{form}"):
                (folder / f"{key}{form}").unlink()
        lock = lock.with_entry(key, result.entry)
        lockfile.save(lock, path)
        variables += result.variables
        why = " (pinned by id: another live PAL has its name)" if key in pinned else ""
        say(f"imported {pal['pal_id']} as {target}{why}")
    say(f"{len(plans)} PAL(s) imported; lock: {path}")
    if hostile:
        shown = ", ".join(visible(repr(pal_id)) for pal_id in hostile)
        raise UsageError(
            f"{len(hostile)} PAL(s) not imported: the server gave ids that are not plain PAL "
            f"ids ({shown}); pal-sync never uses such a value in a file name, a URL or the lock",
            hint="check TAVUS_API_URL points at the Tavus API; report the PAL to Tavus support",
        )
    if variables:
        notice(
            f"{len(variables)} secret(s) were replaced by references, since the API never shows "
            "them; set these variables before planning: "
            + ", ".join(sorted(set(variables)))
            + ". They are recorded as unverified in the lock: plans do not send them; once the "
            "variables hold the right values, `pal-sync apply --resend-secrets` sends them and "
            "records their fingerprints."
        )
    return len(plans)


def _named_safely(pal: dict[str, Any]) -> dict[str, Any]:
    from palsync import redact

    name = pal.get("pal_name")
    if isinstance(name, str) and redact.contains_secret(name):
        return {**pal, "pal_name": redact.scrub(name)}
    return pal


def _scrubbed(text: str, key: str, pal: dict[str, Any], notice: Notice) -> str:
    """A manifest is committed to git: a known secret value (the API key, a secret variable's
    value) that the live PAL holds in a field that is not secret is written as (sensitive),
    and said so; the next plan then proposes to replace it live."""
    from palsync import redact

    clean = redact.scrub(text)
    if clean != text:
        notice(
            f"warning: {pal.get('pal_id')} holds a known secret value (the Tavus API key or the "
            f"value of a secret variable) in a field that is not secret; written as "
            f"{redact.MASK} in {key}. Remove the secret from that field of the PAL"
        )
    return clean
