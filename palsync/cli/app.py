"""The click application: a group whose commands load lazily, and the one place where pal-sync
errors become messages and exit codes. A command module is imported only when its command runs,
so `validate` never pays for httpx or deepdiff.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from palsync import __version__
from palsync.cli import COMMANDS
from palsync.errors import EXIT_ERROR, PalsyncError


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table, so `pal-sync --help` imports no command module.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pal-sync")
def cli() -> None:
    """Manage Tavus PALs as code.

    A directory of YAML manifests (pals/*.yaml) is the source of truth: `validate` checks it
    offline, `plan` shows what would change in the live account, `apply` makes the account match,
    `import` adopts an existing account. `emulator` serves a local Tavus API to try it all.
    """


def _debug() -> bool:
    return os.environ.get("PALSYNC_DEBUG", "") not in ("", "0")


def report_error(err: PalsyncError) -> None:
    if err.problems:
        from palsync.report import render_text

        click.echo(render_text(err.problems), nl=False, err=True)
    from palsync.textsafe import visible  # messages quote manifests and servers: no hidden text

    click.echo(visible(f"Error: {err.message}"), err=True)
    if err.hint:
        click.echo(visible(f"Hint: {err.hint}"), err=True)


def run(argv: list[str] | None = None) -> Any:
    """Run the click application; exits with 0, 1 or (plan --detailed-exitcode) 2."""
    try:
        code = cli.main(args=argv, prog_name="pal-sync", standalone_mode=False)
    except PalsyncError as err:
        report_error(err)
        code = err.exit_code
    except click.exceptions.Abort as err:
        # click turns Ctrl-C (KeyboardInterrupt) into Abort: that is an interruption, 130, like
        # everywhere else; an end of input at a prompt (EOFError) stays "Aborted.", 1
        if isinstance(err.__cause__ or err.__context__, KeyboardInterrupt):
            click.echo("Interrupted.", err=True)
            code = 130
        else:
            click.echo("Aborted.", err=True)
            code = EXIT_ERROR
    except click.ClickException as err:
        # Usage errors exit 1, never 2: 2 means "changes pending" under --detailed-exitcode.
        err.show()
        code = EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = 130
    except BrokenPipeError:
        code = EXIT_ERROR
    except Exception as err:  # a bug: say so briefly; the traceback only when asked for
        if _debug():
            # printed here, not re-raised: the interpreter would print it after the output
            # streams stopped being scrubbed, and a traceback can quote a secret
            import traceback

            click.echo(traceback.format_exc(), err=True, nl=False)
        click.echo(
            f"Internal error: {type(err).__name__}: {err}\n"
            "This is a bug in pal-sync; rerun with PALSYNC_DEBUG=1 for details.",
            err=True,
        )
        code = EXIT_ERROR
    if code is None:
        code = 0
    sys.exit(int(code))
