"""`pal-sync schema`: the manifest JSON Schema shipped inside pal-sync, for editors."""

from __future__ import annotations

from pathlib import Path

import click

from palsync.errors import EXIT_OK

#: the manifest kinds and their schema files (the companion kinds' manifests are validated by
#: a later pal-sync; their schemas ship now, for editors)
SCHEMAS = {
    "pal": "pal.schema.json",
    "tool": "tool.schema.json",
    "objectives": "objectives.schema.json",
    "guardrail": "guardrail.schema.json",
    "dictionary": "dictionary.schema.json",
    "document": "document.schema.json",
}


@click.command("schema")
@click.option(
    "--kind",
    type=click.Choice(list(SCHEMAS)),
    default="pal",
    show_default=True,
    help="Which manifest's schema.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write it to this file (directories are made) instead of standard output.",
)
def command(kind: str, out: str | None) -> int:
    """Print a manifest JSON Schema (2020-12): the PAL's, which validate uses, or with --kind a
    companion kind's (tools, objectives, guardrails, dictionaries, documents).

    For completion and hover docs in an editor with yaml-language-server, save it in the
    repository and point at it:

      pal-sync schema --out schemas/pal.schema.json

    then start each manifest with `# yaml-language-server: $schema=../schemas/pal.schema.json`
    (what `pal-sync import` writes), or map it in the editor's settings.
    """
    from palsync.schema import schema_path

    text = schema_path(SCHEMAS[kind]).read_text(encoding="utf-8")
    if out is None:
        click.echo(text, nl=False)
        return EXIT_OK
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    click.echo(f"Wrote the schema to {target}", err=True)
    return EXIT_OK
