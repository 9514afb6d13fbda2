"""`pal-sync validate`: offline checks of manifests, every problem of every file in one run."""

from __future__ import annotations

import os

import click

from palsync import report
from palsync.errors import EXIT_ERROR, EXIT_OK


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
def command(paths: tuple[str, ...], fmt: str | None, quiet: bool) -> int:
    """Check manifests offline: schema, duplicate keys, literal secrets, ${VAR} syntax.

    PATHS are files or directories (default: pals/). No network and no credentials are needed,
    so it runs in pre-commit. Exits 0 when there is no error (warnings allowed), 1 otherwise.
    """
    from palsync.validation import validate_paths

    if fmt is None:
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    targets = list(paths) or ["pals"]
    manifests, problems = validate_paths(targets)
    if quiet:
        problems = [p for p in problems if p.is_error]
    files = len({p.location.path for p in problems} | {m.path for m in manifests})
    if fmt == "json":
        click.echo(report.render_json(problems, files), nl=False)
    elif fmt == "github":
        click.echo(report.render_github(problems), nl=False)
        click.echo(report.render_text(problems), nl=False, err=True)
    else:
        click.echo(report.render_text(problems), nl=False)
        if not quiet:
            click.echo(report.summary(problems, files), err=True)
    return EXIT_ERROR if any(p.is_error for p in problems) else EXIT_OK
