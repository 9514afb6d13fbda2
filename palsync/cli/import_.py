"""`pal-sync import`: write manifests for live user PALs and record them in the lock."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from palsync.cli.common import (
    common_options,
    exclusive,
    lock_file,
    open_client,
    register_directory_secrets,
)
from palsync.errors import EXIT_OK, UsageError


@click.command("import")
@common_options
@click.argument("pal_ids", nargs=-1)
@click.option("--all", "import_all", is_flag=True, help="Import every live user PAL.")
@click.option("--force", is_flag=True, help="Overwrite existing manifest files.")
@click.option(
    "--md",
    "markdown",
    is_flag=True,
    help="Write PALs with a long prompt (several lines, or 100+ characters) as pals/<key>.md: "
    "YAML front matter, and the prompt as the Markdown body.",
)
def command(
    directory: str,
    lock_path: str | None,
    emulator: bool,
    api_key_file: str | None,
    verbose: bool,
    pal_ids: tuple[str, ...],
    import_all: bool,
    force: bool,
    markdown: bool,
) -> int:
    """Write canonical manifests for live PALs (--all, or the PAL_IDs given) and lock them.

    Every field the API returns is written except read-only ones, known to pal-sync or not.
    Stock and template PALs are never imported. PALs sharing a name are pinned by id
    (x-palsync.pal_id). Secrets become ${PALSYNC_...} references: set those variables before the
    next plan. The API never shows a secret, so the lock records them as unverified: plans do
    not send them until `apply --resend-secrets`. Existing manifests are kept unless --force.
    """
    if import_all == bool(pal_ids):
        raise UsageError("say what to import: --all, or one or more PAL ids")
    path = lock_file(directory, lock_path, emulator)
    with exclusive(path, directory):
        return _import(directory, path, emulator, api_key_file, verbose, pal_ids, force, markdown)


def _import(
    directory: str,
    path: Path,
    emulator: bool,
    api_key_file: str | None,
    verbose: bool,
    pal_ids: tuple[str, ...],
    force: bool,
    markdown: bool = False,
) -> int:
    from palsync import lock as lockfile
    from palsync.fields import is_user_pal
    from palsync.importer import import_one, safe_pal_id, shared_names, unique_key
    from palsync.textsafe import visible

    for pal_id in pal_ids:
        if not safe_pal_id(pal_id):
            raise UsageError(
                f"{visible(repr(pal_id))} is not a PAL id (letters, digits, `_` and `-` only)"
            )
    lock = lockfile.load(path)
    register_directory_secrets(directory)
    with open_client(emulator=emulator, api_key_file=api_key_file, verbose=verbose) as client:
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
            click.echo(f"skip {pal['pal_id']}: already managed as {owned[pal['pal_id']]}", err=True)
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
        target.write_text(_scrubbed(result.text, target.name, pal), encoding="utf-8")
        for form in FORMS:  # --force: the key's manifest in its other form goes
            if form != result.suffix and os.path.lexists(folder / f"{key}{form}"):
                (folder / f"{key}{form}").unlink()
        lock = lock.with_entry(key, result.entry)
        lockfile.save(lock, path)
        variables += result.variables
        why = " (pinned by id: another live PAL has its name)" if key in pinned else ""
        click.echo(f"imported {pal['pal_id']} as {target}{why}")
    click.echo(f"{len(plans)} PAL(s) imported; lock: {path}")
    if hostile:
        shown = ", ".join(visible(repr(pal_id)) for pal_id in hostile)
        raise UsageError(
            f"{len(hostile)} PAL(s) not imported: the server gave ids that are not plain PAL "
            f"ids ({shown}); pal-sync never uses such a value in a file name, a URL or the lock",
            hint="check TAVUS_API_URL points at the Tavus API; report the PAL to Tavus support",
        )
    if variables:
        click.echo(
            f"{len(variables)} secret(s) were replaced by references, since the API never shows "
            "them; set these variables before planning: "
            + ", ".join(sorted(set(variables)))
            + ". They are recorded as unverified in the lock: plans do not send them; once the "
            "variables hold the right values, `pal-sync apply --resend-secrets` sends them and "
            "records their fingerprints.",
            err=True,
        )
    return EXIT_OK


#: the file forms of one key's manifest
FORMS = (".yaml", ".yml", ".md")


def _named_safely(pal: dict[str, Any]) -> dict[str, Any]:
    from palsync import redact

    name = pal.get("pal_name")
    if isinstance(name, str) and redact.contains_secret(name):
        return {**pal, "pal_name": redact.scrub(name)}
    return pal


def _scrubbed(text: str, key: str, pal: dict[str, Any]) -> str:
    """A manifest is committed to git: a known secret value (the API key, a secret variable's
    value) that the live PAL holds in a field that is not secret is written as (sensitive),
    and said so; the next plan then proposes to replace it live."""
    from palsync import redact

    clean = redact.scrub(text)
    if clean != text:
        click.echo(
            f"warning: {pal.get('pal_id')} holds a known secret value (the Tavus API key or the "
            f"value of a secret variable) in a field that is not secret; written as "
            f"{redact.MASK} in {key}. Remove the secret from that field of the PAL",
            err=True,
        )
    return clean
