"""Manifest files → validated, resolved `Desired` documents. Any problem (or an unset
variable) stops the run here, before a single request; every secret value met on the way is
registered for redaction first (DESIGN 14)."""

from __future__ import annotations

import os
from pathlib import Path

from palsync.errors import ManifestError, Problem, UsageError
from palsync.manifest import Manifest, interpolate
from palsync.plan import Desired, matches


def load_desired(
    directory: str, targets: tuple[str, ...] = (), *, strict: bool = False
) -> tuple[list[Manifest], list[Desired]]:
    """Validated, resolved manifests; any error (or an unset variable) stops before the API.
    `strict`: the open world's warnings are errors (`--strict`)."""
    from palsync.cache import ManifestCache
    from palsync.validation import validate_paths

    if not Path(directory).is_dir():
        raise UsageError(
            f"manifest directory {directory}/ does not exist", hint="create it, or pass --dir"
        )
    manifests, problems = validate_paths(
        [directory], cache=ManifestCache.for_directory(directory), strict=strict
    )
    errors = [p for p in problems if p.is_error]
    errors += register_secrets(manifests)
    desired: list[Desired] = []
    for m in manifests:
        if not matches(m.key, targets):
            continue
        body, unset = interpolate(m)
        errors.extend(unset)
        if m.has_dollar:
            register_resolved_secrets(body)
        desired.append(
            Desired(m.key, m.path, body, m.settings.pal_id, m.settings.protected, m.settings.ignore)
        )
    if errors:
        raise ManifestError(
            f"{len(errors)} problem(s) in the manifests; nothing was sent",
            problems=sorted(errors, key=lambda p: p.sort_key()),
        )
    return manifests, desired


def register_secrets(manifests: list[Manifest]) -> list[Problem]:
    """DESIGN 14: the API key and the value of every variable used in a secret field of any
    manifest are redacted from everything printed or written from now on. Returns the
    problems of a non-secret field whose variable holds such a value (the offline check knows
    only names: this catches NAME=$LLM_KEY, or a default that is a secret)."""
    from palsync import redact
    from palsync.validation import API_KEY_VARIABLE, leaked_secret_values, secret_variables

    names = [API_KEY_VARIABLE, *secret_variables(manifests)]
    redact.register(*(os.environ.get(name) for name in names))
    if not redact.known():
        return []
    return leaked_secret_values(manifests, os.environ, redact.contains_secret)


def register_directory_secrets(directory: str) -> None:
    """import: the secret variables of the manifests already in `directory`, so that their
    values are redacted from the manifests import writes. Best effort: a directory with
    broken or no manifests has nothing to add, and import does not fail for it."""
    from palsync.manifest import load_paths

    if not Path(directory).is_dir():
        return
    try:
        manifests, _ = load_paths([directory])
    except Exception:  # noqa: BLE001 - only a best-effort extra source of secret values
        return
    register_secrets(manifests)


def register_resolved_secrets(body: dict[str, object]) -> None:
    """The resolved secret fields themselves (`${A}${B}`, or a prefix around a variable)."""
    from palsync import redact
    from palsync.validation import secret_values

    redact.register(*(v for _, v in secret_values(body) if isinstance(v, str)))
