"""`pal-sync validate` for click (help, unusual flags); the work is in `validating`."""

from __future__ import annotations

import click

from palsync import report


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(report.FORMATS),
    default=None,
    help="Output format (default: text; github under GitHub Actions).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only, no warnings or summary.")
@click.option(
    "--strict",
    is_flag=True,
    help="Unknown keys and fields in no Tavus source are errors, not warnings.",
)
def command(paths: tuple[str, ...], fmt: str | None, quiet: bool, strict: bool) -> int:
    """Check manifests offline: schema, duplicate keys, literal secrets, ${VAR} syntax.

    PATHS are files or directories (default: pals/). No network and no credentials are needed,
    so it runs in pre-commit. Exits 0 when there is no error (warnings allowed), 1 otherwise.
    A key pal-sync does not know is a warning (sent as written), unless it is close to a known
    one (a typo: an error); --strict makes every such warning an error.
    """
    from palsync.cli.validating import run_validate

    return run_validate(list(paths), fmt, quiet, strict)
