"""What plan, apply and import share: options, the client (or in-process emulator), the pipeline
from manifest files to a Plan, and saved plan files."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from palsync import __version__
from palsync.errors import LockError, ManifestError, StalePlanError, UsageError
from palsync.lock import Lock
from palsync.manifest import Manifest, interpolate
from palsync.plan import Desired, Plan, Refs, build, matches, prepare

EMULATOR_STATE = Path(".palsync") / "emulator.json"
PLAN_FORMAT = "palsync.plan/v1"


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--dir",
            "directory",
            default="pals",
            show_default=True,
            type=click.Path(file_okay=False),
            help="Directory of manifests.",
        ),
        click.option(
            "--lock",
            "lock_path",
            type=click.Path(dir_okay=False),
            help="Lock file (default: <dir>/palsync.lock; .palsync/emulator.lock with --emulator).",
        ),
        click.option(
            "--emulator",
            is_flag=True,
            help="Run against an in-process emulator (state in .palsync/).",
        ),
        click.option(
            "--api-key-file",
            type=click.Path(dir_okay=False),
            help="Read the API key from this file instead of TAVUS_API_KEY.",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Log every request (no secrets)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def confirm(question: str, *, refusal: str, hint: str) -> bool:
    """Ask on a terminal; with no terminal, refuse (never a silent yes)."""
    import sys

    if not sys.stdin.isatty():
        raise UsageError(refusal, hint=hint)
    return click.confirm(question, default=False)


def lock_file(directory: str, lock_path: str | None, emulator: bool = False) -> Path:
    """--lock, else <dir>/palsync.lock; against the emulator the lock describes the emulated
    account, so it lives beside the emulator's state instead of beside the manifests."""
    if lock_path:
        return Path(lock_path)
    if emulator:
        return EMULATOR_STATE.with_name("emulator.lock")
    return Path(directory) / "palsync.lock"


def guard_file(lock: Path) -> Path:
    """Where apply and import take their cross-process lock for this lock file: in the user's
    cache directory, keyed by the lock's real path, so no stray file appears beside the
    manifests (the lock file itself cannot be flock'ed: it is replaced on every write). Beside
    the lock when the cache directory cannot be made."""
    import hashlib

    from palsync.cache import cache_root

    where = os.path.realpath(lock)
    name = hashlib.sha256(where.encode()).hexdigest()[:24] + ".lck"
    try:
        folder = cache_root() / "locks"
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(str(lock) + ".lck")
    return folder / name


@contextlib.contextmanager
def exclusive(lock: Path, directory: str) -> Iterator[None]:
    """Hold the one-writer guard of this lock file (apply, import), or fail at once."""
    from filelock import FileLock, Timeout

    guard = FileLock(str(guard_file(lock)))
    try:
        guard.acquire(timeout=0)
    except Timeout:
        raise LockError(
            f"another pal-sync apply or import is running on {directory}/ (lock {lock})",
            hint=f"wait for it to finish; if none is running, delete {guard.lock_file}",
        ) from None
    try:
        yield
    finally:
        guard.release()


@contextlib.contextmanager
def open_client(
    *, emulator: bool, api_key_file: str | None, verbose: bool, concurrency: int = 16
) -> Iterator[Any]:
    """A TavusClient for the run; with `emulator`, one started in this process first."""
    from palsync.api import client_from_env

    log = (lambda line: click.echo(line, err=True)) if verbose else None
    notice = lambda line: click.echo(line, err=True)  # noqa: E731 - retries, even without -v
    if not emulator:
        from palsync import redact

        if api_key_file:  # TAVUS_API_KEY is registered by the entry point already
            with contextlib.suppress(OSError, UnicodeDecodeError):
                redact.register(Path(api_key_file).read_text(encoding="utf-8"))
        with client_from_env(
            api_key_file=api_key_file, log=log, notice=notice, concurrency=concurrency
        ) as client:
            yield client
        return
    from palsync.api import TavusClient
    from palsync.emulator import Emulator

    key = secrets.token_hex(16)
    with (
        Emulator(state_file=EMULATOR_STATE, api_key=key) as emu,
        TavusClient(emu.url, key, log=log, notice=notice, concurrency=concurrency) as client,
    ):
        yield client


#: `ctx.meta` key set by --strict (plan, apply); read by `load_desired`
STRICT = "palsync.strict"


def strict_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--strict` for the commands that load manifests; `load_desired` reads it from the click
    context, so the commands need no parameter for it."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            ctx.meta[STRICT] = True
        return value

    return click.option(
        "--strict",
        is_flag=True,
        expose_value=False,
        callback=remember,
        help="Unknown keys and fields in no Tavus source are errors, not warnings (as "
        "`validate --strict`): nothing is sent.",
    )(fn)


def load_desired(
    directory: str, targets: tuple[str, ...] = (), *, strict: bool | None = None
) -> tuple[list[Manifest], list[Desired]]:
    """Validated, resolved manifests; any error (or an unset variable) stops before the API.
    `strict` (default: whether --strict was given): the open world's warnings are errors."""
    from palsync.cache import ManifestCache
    from palsync.validation import validate_paths

    if not Path(directory).is_dir():
        raise UsageError(
            f"manifest directory {directory}/ does not exist", hint="create it, or pass --dir"
        )
    if strict is None:
        ctx = click.get_current_context(silent=True)
        strict = bool(ctx is not None and ctx.meta.get(STRICT))
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


def register_secrets(manifests: list[Manifest]) -> list[Any]:
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


def register_resolved_secrets(body: dict[str, Any]) -> None:
    """The resolved secret fields themselves (`${A}${B}`, or a prefix around a variable)."""
    from palsync import redact
    from palsync.validation import secret_values

    redact.register(*(v for _, v in secret_values(body) if isinstance(v, str)))


def start_fetch(
    client: Any, desired: list[Desired], expected: int = 0, *, with_lease: bool = False
) -> Callable[[], tuple[list[dict[str, Any]], Refs]]:
    """Start reading the live PALs and the account references the manifests mention, all
    concurrently; returns the function that waits for them.

    `expected` (PALs in the lock) lets every page of the PAL list go out at once; `with_lease`
    keeps the account's lease PAL(s) in the list (apply checks them, the plan never sees them)."""
    bodies = [d.body for d in desired]
    calls: dict[str, Callable[[], Any]] = {
        "pals": lambda: client.list_pals(expected, with_lease=with_lease)
    }
    if any(b.get("default_face_id") for b in bodies):
        calls["faces"] = client.list_faces
    if any(b.get("objectives_id") for b in bodies):
        calls["objectives"] = client.list_objectives
    if any(b.get("guardrail_ids") or b.get("guardrails_id") for b in bodies):
        calls["guardrails"] = client.list_guardrails
    if any(b.get("document_ids") for b in bodies):
        calls["documents"] = client.list_documents
    waiting = start_all(calls)

    def wait() -> tuple[list[dict[str, Any]], Refs]:
        results = waiting()
        refs = Refs(
            faces=_ids(results.get("faces"), "face_id", "replica_id"),
            objectives=_ids(results.get("objectives"), "objectives_id"),
            guardrails=_ids(results.get("guardrails"), "uuid", "guardrails_id", "guardrail_id"),
            documents=_ids(results.get("documents"), "document_id", "uuid"),
        )
        return results["pals"], refs

    return wait


def _ids(items: list[dict[str, Any]] | None, *names: str) -> frozenset[str] | None:
    if items is None:
        return None
    return frozenset(str(item[n]) for item in items for n in names if item.get(n))


def start_all(calls: dict[str, Callable[[], Any]]) -> Callable[[], dict[str, Any]]:
    """Start independent calls at once, each in its own thread (the client bounds the HTTP);
    returns the function that waits for all of them and re-raises the first error."""
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run(name: str, call: Callable[[], Any]) -> None:
        try:
            results[name] = call()
        except BaseException as err:  # re-raised below, in the caller's thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in calls.items()]
    for thread in threads:
        thread.start()

    def wait() -> dict[str, Any]:
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results

    return wait


def make_plan(
    client: Any,
    manifests: list[Manifest],
    desired: list[Desired],
    lock: Lock,
    *,
    targets: tuple[str, ...],
    prune: bool,
    lease: Any = None,
    recreate: tuple[str, ...] = (),
    resend_secrets: bool = False,
) -> tuple[Plan, list[dict[str, Any]]]:
    """The plan, and the live user PALs it was computed from. With the account `lease` held,
    the same listing also checks that nobody else holds a second one (DESIGN 14)."""
    if prune and not manifests:
        raise UsageError(
            "refusing to prune: no manifests were found, which would delete every PAL in the lock",
            hint="check --dir; pal-sync deletes a PAL only when its manifest is removed and "
            "others remain (apply --prune); to remove them all, delete them in the Tavus "
            "dashboard, then delete the lock file",
        )
    check_keys("--target", targets, [m.key for m in manifests] + list(lock.entries))
    pinned = [d.key for d in desired if d.pal_id and matches(d.key, targets)]
    check_keys("--recreate", recreate, pinned, globs=False)
    owned = sum(1 for e in lock.entries.values() if e.pal_id)
    wait = start_fetch(
        client, desired, expected=owned + (lease is not None), with_lease=bool(lease)
    )
    # the desired side of every comparison, computed while the requests are in flight
    prepared = {d.key: prepare(d, lock.salt) for d in desired if matches(d.key, targets)}
    live, refs = wait()
    if lease is not None:
        from palsync.fields import is_lease_pal

        lease.verify(live)
        live = [p for p in live if not is_lease_pal(p)]
    digests = [(m.key, m.digest) for m in manifests if matches(m.key, targets)]
    plan = build(
        desired,
        live,
        lock,
        refs,
        targets=targets,
        prune=prune,
        manifest_digests=digests,
        prepared=prepared,
        manifest_keys=[m.key for m in manifests],
        recreate=recreate,
        resend_secrets=resend_secrets,
    )
    check_recreate(recreate, desired, live)
    return plan, live


def check_recreate(
    recreate: tuple[str, ...], desired: list[Desired], live: list[dict[str, Any]]
) -> None:
    """`--recreate KEY` is only for a manifest pinned to a PAL that no longer exists; naming
    another is refused (before any write) rather than ignored."""
    from palsync.plan import missing_pins

    missing = set(missing_pins(desired, live))
    pins = {d.key: d.pal_id for d in desired}
    for key in recreate:
        if key not in missing:
            raise UsageError(
                f"--recreate {key}: its pinned PAL {pins.get(key)} exists in the account; "
                "there is nothing to re-create",
                hint="--recreate is only for a manifest pinned (x-palsync.pal_id) to a PAL "
                "that no longer exists",
            )


def check_keys(
    option: str, patterns: tuple[str, ...], keys: list[str], *, globs: bool = True
) -> None:
    """A --target or --force-maker that names nothing is a typo, not an empty plan (which would
    read as "all good"); it is refused before any request. `keys`: what the option may name."""
    import difflib

    for pattern in patterns:
        if pattern in keys or (globs and any(matches(key, (pattern,)) for key in keys)):
            continue
        close = difflib.get_close_matches(pattern, sorted(set(keys)), n=1)
        what = "a manifest key (its file stem)" + (
            " or a glob such as 'support-*'" if globs else ""
        )
        raise UsageError(
            f"{option} {pattern} names no PAL of this plan",
            hint=f"did you mean {option} {close[0]}?" if close else f"give {what}",
        )


def save_plan(
    plan: Plan,
    path: str,
    directory: str,
    targets: tuple[str, ...],
    prune: bool,
    binding: dict[str, str],
    resend_secrets: bool = False,
) -> None:
    doc = {
        "format": PLAN_FORMAT,
        # DESIGN 14: a plan applies to the account it was made against, nowhere else
        "account": binding,
        "dir": directory,
        "targets": list(targets),
        "prune": prune,
        "resend_secrets": resend_secrets,
        # the lock's salt (not a secret: the lock holds it too), for a first apply with no lock
        "lock_salt": plan.lock_salt,
        **plan.to_dict(),
    }
    from palsync import redact

    # no secret value in a plan file (DESIGN 6, 14): values are redacted by pointer already;
    # scrubbing the text also catches a known secret wherever else it might have got in
    text = redact.scrub(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    check_writable(path, "--out")
    tmp = Path(path + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UsageError(f"--out {path}: cannot write the plan ({err.strerror or err})") from None


def check_writable(path: str, option: str) -> None:
    """Refuse, before any work, an output file whose directory does not exist."""
    folder = Path(path).parent
    if Path(path).is_dir():
        raise UsageError(f"{option} {path} is a directory; give a file name")
    if not folder.is_dir():
        raise UsageError(
            f"{option} {path}: the directory {folder} does not exist",
            hint=f"create it first (mkdir -p {folder}) or give another path",
        )


def account_binding(client: Any, emulator: bool) -> dict[str, str]:
    """What a plan file is bound to: the API URL (without any user:password@ part) and a
    fingerprint of the account's API key (a one-way, truncated digest: it tells two keys apart
    and says nothing about either). The embedded emulator's key changes every run, so its
    account is named by the state file instead."""
    import hashlib

    if emulator:
        where = os.path.realpath(EMULATOR_STATE)
        return {
            "api_url": "embedded emulator",
            "fingerprint": "emulator:" + hashlib.sha256(where.encode()).hexdigest()[:16],
        }
    return {"api_url": client.base_url, "fingerprint": client.account}


def check_binding(saved: dict[str, Any], binding: dict[str, str], path: str) -> None:
    """Refuse a plan file made against another account or API URL."""
    bound = saved.get("account")
    if not isinstance(bound, dict):
        raise StalePlanError(
            f"plan file {path} does not say which account it was made against; nothing was applied",
            hint="plan again with this version of pal-sync",
        )
    if bound.get("api_url") != binding["api_url"]:
        raise StalePlanError(
            f"plan file {path} was made against {bound.get('api_url')}, this run talks to "
            f"{binding['api_url']}; nothing was applied",
            hint="apply it where it was made, or plan again against this API",
        )
    if (
        bound.get("fingerprint") != binding["fingerprint"]
        and binding["api_url"] == "embedded emulator"
    ):
        raise StalePlanError(
            f"plan file {path} was made against another embedded emulator (another "
            ".palsync/ state directory); nothing was applied",
            hint="apply it from the directory it was planned in, or plan again here",
        )
    if bound.get("fingerprint") != binding["fingerprint"]:
        raise StalePlanError(
            f"plan file {path} was made with another API key (another account?) than this run's "
            "TAVUS_API_KEY; nothing was applied",
            hint="apply it with the key it was made with, or plan again with this one",
        )


def load_plan(path: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"plan file {path} does not exist") from None
    except (OSError, ValueError) as err:
        raise StalePlanError(f"plan file {path} is unreadable or corrupt: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise StalePlanError(
            f"{path} is not a pal-sync plan file", hint="create one with `pal-sync plan --out FILE`"
        )
    if doc.get("tool_version") != __version__:
        raise StalePlanError(
            f"plan file {path} was made by pal-sync {doc.get('tool_version')}, "
            f"this is {__version__}",
            hint="plan again",
        )
    wrong = _plan_shape(doc)
    if wrong:
        raise UsageError(
            f"plan file {path} is damaged: {wrong}; nothing was applied",
            hint="make a new one with `pal-sync plan --out FILE` (plan files are not edited)",
        )
    return doc


_PLAN_FIELDS: dict[str, tuple[type, ...]] = {
    "dir": (str,),
    "targets": (list,),
    "prune": (bool,),
    "resend_secrets": (bool,),
    "lock_salt": (str, type(None)),
    "manifests_hash": (str,),
    "lock_hash": (str, type(None)),
    "changes": (list,),
}
_CHANGE_FIELDS: dict[str, tuple[type, ...]] = {
    "key": (str,),
    "action": (str,),
    "pal_id": (str, type(None)),
    "ops": (list,),
    "conferencing_ops": (list,),
    "secret_fingerprints": (dict,),
    "live_hash": (str, type(None)),
}


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _plan_shape(doc: dict[str, Any]) -> str:
    """What is wrong with a plan file's structure ("" when nothing): every field apply reads."""
    for name, types in _PLAN_FIELDS.items():
        if name in doc and not isinstance(doc[name], types):
            return f"`{name}` must be {_type_names(types)}, not {json.dumps(doc[name])[:40]}"
    if "changes" not in doc:
        return "`changes` is missing"
    if not all(isinstance(t, str) for t in doc.get("targets", [])):
        return "`targets` must be a list of strings"
    for i, change in enumerate(doc["changes"]):
        if not isinstance(change, dict):
            return f"`changes[{i}]` must be an object"
        for name, types in _CHANGE_FIELDS.items():
            if name not in change:
                return f"`changes[{i}].{name}` is missing"
            if not isinstance(change[name], types):
                return f"`changes[{i}].{name}` must be {_type_names(types)}"
    return ""
