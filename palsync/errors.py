"""Problems (values with locations) and the one pal-sync error family.

Every module reports bad input as `Problem` values or raises a `PalsyncError`; only the CLI turns
them into messages and exit codes. Nothing here imports anything heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from palsync.fields import split_pointer

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file: 1-based line and column; 0 when unknown (whole file)."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.col or 1}"
        return self.path


@dataclass(frozen=True)
class Problem:
    """One finding about user input. `pointer` is the JSON Pointer inside the document, if any."""

    location: Location
    message: str
    severity: Severity = "error"
    pointer: str = ""
    code: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (loc.path, loc.line, loc.col, self.message)


def dotted(pointer: str) -> str:
    """How a message names the place a JSON Pointer points to: `/layers/llm/model` →
    `layers.llm.model`; list indices as `[2]`."""
    out = ""
    for token in split_pointer(pointer):
        out += f"[{token}]" if token.isdigit() else (f".{token}" if out else token)
    return out


class PalsyncError(Exception):
    """Base of every error pal-sync reports to the user (never shown with a traceback)."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str = "", problems: list[Problem] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems: list[Problem] = list(problems or [])

    def __str__(self) -> str:
        return self.message


class UsageError(PalsyncError):
    """The command line or configuration is wrong (missing key, bad flag combination)."""


class ManifestError(PalsyncError):
    """Manifests are invalid; `problems` lists every finding."""


class Interrupted(PalsyncError):
    """Ctrl-C (SIGINT) during apply: nothing new was started, what was in flight finished."""

    exit_code = 130


class LockError(PalsyncError):
    """palsync.lock is corrupt, foreign, or held by another apply."""


class StalePlanError(PalsyncError):
    """A saved plan no longer matches the manifests, the lock or the live account."""


class ApiError(PalsyncError):
    """An HTTP call to the Tavus API failed. Never carries the API key or a secret value."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        detail: str,
        *,
        body: dict[str, Any] | None = None,
        hint: str = "",
    ):
        shown = f" ({status})" if status is not None else ""
        super().__init__(f"{method} {path} failed{shown}: {detail}", hint=hint)
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.body = body

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class OutcomeUnknown(ApiError):
    """The request may or may not have taken effect (timeout or dropped connection after send)."""


class MakerConflict(ApiError):
    """409 `maker_changes`: someone holds unpublished edits in PAL Maker for this PAL."""


class NotFound(ApiError):
    """The object does not exist (404, or 400 `Invalid ..._id`)."""
