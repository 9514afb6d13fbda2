"""`pal-sync import`: write manifests for live user PALs and record them in the lock."""

from __future__ import annotations

from pathlib import Path

import click

from palsync.cli.common import common_options, exclusive, lock_file, open_client
from palsync.errors import EXIT_OK, UsageError


@click.command("import")
@common_options
@click.argument("pal_ids", nargs=-1)
@click.option("--all", "import_all", is_flag=True, help="Import every live user PAL.")
@click.option("--force", is_flag=True, help="Overwrite existing manifest files.")
def command(
    directory: str,
    lock_path: str | None,
    emulator: bool,
    api_key_file: str | None,
    verbose: bool,
    pal_ids: tuple[str, ...],
    import_all: bool,
    force: bool,
) -> int:
    """Write canonical manifests for live PALs (--all, or the PAL_IDs given) and lock them.

    Stock and template PALs are never imported. Secrets become ${PALSYNC_...} references: set
    those variables before the next plan. Existing manifests are kept unless --force.
    """
    if import_all == bool(pal_ids):
        raise UsageError("say what to import: --all, or one or more PAL ids")
    path = lock_file(directory, lock_path, emulator)
    with exclusive(path, directory):
        return _import(directory, path, emulator, api_key_file, verbose, pal_ids, force)


def _import(
    directory: str,
    path: Path,
    emulator: bool,
    api_key_file: str | None,
    verbose: bool,
    pal_ids: tuple[str, ...],
    force: bool,
) -> int:
    from palsync import lock as lockfile
    from palsync.fields import is_user_pal
    from palsync.importer import import_one, unique_key

    lock = lockfile.load(path)
    with open_client(emulator=emulator, api_key_file=api_key_file, verbose=verbose) as client:
        live = client.list_pals()
        by_id = {p["pal_id"]: p for p in live}
        if not pal_ids:
            selected = live
        else:
            selected = []
            for pal_id in pal_ids:
                if pal_id in by_id:
                    selected.append(by_id[pal_id])
                    continue
                pal = client.get_pal(pal_id)
                if pal is None:
                    raise UsageError(f"PAL {pal_id} does not exist in this account")
                if not is_user_pal(pal):
                    raise UsageError(
                        f"PAL {pal_id} is a stock or template PAL; pal-sync never manages those"
                    )
                selected.append(pal)
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
        key = unique_key(pal, taken)
        plans.append((key, pal))
    existing = [folder / f"{k}.yaml" for k, _ in plans if (folder / f"{k}.yaml").exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise UsageError(
            f"would overwrite {names}; nothing was written", hint="rerun with --force to overwrite"
        )
    folder.mkdir(parents=True, exist_ok=True)
    variables: list[str] = []
    for key, pal in plans:
        result = import_one(pal, key, lock)
        (folder / f"{key}.yaml").write_text(result.text, encoding="utf-8")
        lock = lock.with_entry(key, result.entry)
        lockfile.save(lock, path)
        variables += result.variables
        click.echo(f"imported {pal['pal_id']} as {folder / (key + '.yaml')}")
    click.echo(f"{len(plans)} PAL(s) imported; lock: {path}")
    if variables:
        click.echo(
            "Secrets were replaced by references; set these variables before planning: "
            + ", ".join(sorted(set(variables))),
            err=True,
        )
    return EXIT_OK
