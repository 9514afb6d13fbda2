"""The `pal-sync` command line. Only the CLI prints and exits.

`main` is the console script. `pal-sync validate` runs on every commit (pre-commit), so its common
forms skip click entirely; everything else, and any unusual validate flag, goes through the click
application in `palsync.cli.app`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

#: command name -> (module, one-line help); `pal-sync --help` lists these without importing them
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("palsync.cli.validate", "Check manifests offline (schema and semantic checks)."),
    "plan": ("palsync.cli.plan", "Show what apply would change in the live account."),
    "apply": ("palsync.cli.apply", "Make the live account match the manifests."),
    "import": ("palsync.cli.import_", "Write manifests for existing live PALs and lock them."),
    "emulator": ("palsync.cli.emulator", "Serve a local, faithful Tavus API on loopback."),
    "schema": ("palsync.cli.schema", "Print the manifest JSON Schema (for editors)."),
    "lease": ("palsync.cli.lease", "Show or break the account lease that keeps applies apart."),
}
FORMATS = ("text", "json", "github")


def _fast_validate_args(args: list[str]) -> tuple[list[str], str | None, bool, bool] | None:
    """(paths, format, quiet, strict) for plain `validate` invocations; None means "let click
    parse"."""
    if not args or args[0] != "validate":
        return None
    paths: list[str] = []
    fmt: str | None = None
    quiet = strict = False
    rest = iter(args[1:])
    for token in rest:
        if token in ("-q", "--quiet"):
            quiet = True
        elif token == "--strict":
            strict = True
        elif token == "--format":
            fmt = next(rest, None)
            if fmt not in FORMATS:
                return None
        elif token.startswith("-"):
            return None
        else:
            paths.append(token)
    return paths, fmt, quiet, strict


def main(argv: list[str] | None = None) -> None:
    # A run allocates many small acyclic objects (documents, pointers); with the default
    # threshold the cycle collector walks them about a hundred times per thousand PALs (10 ms).
    # Like mypy, collect far less often: a run is short, and what it builds has few cycles.
    gc.set_threshold(200_000, 30, 30)
    if argv is None:  # the console script: this process ends with the run
        _hard_exit(_exit_code(lambda: main(sys.argv[1:])))
    args = list(argv)
    with scrubbed_output():
        fast = _fast_validate_args(args)
        if fast is not None:
            from palsync.cli.validating import run_validate

            sys.exit(run_validate(*fast))
        from palsync.cli.app import run

        run(args)


def _exit_code(run: Callable[[], None]) -> int:
    """The exit status `run` ends with (it exits through SystemExit, as click does)."""
    try:
        run()
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1
    return 0


def _hard_exit(code: int) -> NoReturn:
    """End the process without freeing every object a large run built (tens of milliseconds
    at a thousand PALs), as mypy does: everything pal-sync writes (the lock, plan files,
    manifests) is written, synced and closed before a command returns; exit handlers run."""
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def scrubbed_output() -> Iterator[None]:
    """Everything written to stdout and stderr during the run goes through `redact.scrub`
    (DESIGN 10, 14): the API key, and every value of a variable used in a secret field once
    plan, apply or import has read it, never reach the terminal or a CI log, whichever code
    path printed them (a plan, a `-v` log line, an error, an internal error, a traceback)."""
    from palsync import redact

    redact.register(os.environ.get("TAVUS_API_KEY"))
    saved = sys.stdout, sys.stderr
    sys.stdout = redact.ScrubbingStream(saved[0])
    sys.stderr = redact.ScrubbingStream(saved[1])
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        sys.stdout, sys.stderr = saved
