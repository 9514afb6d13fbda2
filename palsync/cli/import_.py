"""`pal-sync import`: write manifests for live user PALs and record them in the lock."""

from __future__ import annotations

import click

from palsync.cli.common import common_options, notice, where
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
    from palsync.pipeline.importing import run_import

    if import_all == bool(pal_ids):
        raise UsageError("say what to import: --all, or one or more PAL ids")
    run_import(
        where(directory, lock_path, emulator, api_key_file, verbose),
        pal_ids,
        force=force,
        markdown=markdown,
        say=click.echo,
        notice=notice,
    )
    return EXIT_OK
