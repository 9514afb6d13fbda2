"""The body of `pal-sync validate`, without click (it also serves the click-free fast path)."""

from __future__ import annotations

import os
import sys

from palsync import report
from palsync.errors import EXIT_ERROR, EXIT_OK


def run_validate(paths: list[str], fmt: str | None, quiet: bool, strict: bool = False) -> int:
    from palsync.validation import validate_paths

    if fmt is None:
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    manifests, problems = validate_paths(paths or ["pals"], strict=strict)
    if quiet:
        problems = [p for p in problems if p.is_error]
    files = len({p.location.path for p in problems} | {m.path for m in manifests})
    out, err = sys.stdout, sys.stderr
    if fmt == "json":
        out.write(report.render_json(problems, files))
    elif fmt == "github":
        out.write(report.render_github(problems))
        err.write(report.render_text(problems))
    else:
        out.write(report.render_text(problems))
        if not quiet:
            err.write(report.summary(problems, files) + "\n")
    out.flush()
    return EXIT_ERROR if any(p.is_error for p in problems) else EXIT_OK
