"""`pal-sync schema`: the manifest JSON Schema shipped inside pal-sync, for editors."""

from __future__ import annotations

from pathlib import Path

import click

from palsync.errors import EXIT_OK


@click.command("schema")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write it to this file (directories are made) instead of standard output.",
)
def command(out: str | None) -> int:
    """Print the PAL manifest JSON Schema (2020-12) that validate uses.

    For completion and hover docs in an editor with yaml-language-server, save it in the
    repository and point at it:

      pal-sync schema --out schemas/pal.schema.json

    then start each manifest with `# yaml-language-server: $schema=../schemas/pal.schema.json`
    (what `pal-sync import` writes), or map it in the editor's settings.
    """
    from palsync.schema import schema_path

    text = schema_path().read_text(encoding="utf-8")
    if out is None:
        click.echo(text, nl=False)
        return EXIT_OK
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    click.echo(f"Wrote the schema to {target}", err=True)
    return EXIT_OK
