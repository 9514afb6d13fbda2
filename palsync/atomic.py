"""Writing a file atomically: a reader, or a crash, sees the old file or the new one, never half.

The one way pal-sync replaces a file it owns (the lock, the manifest cache, the emulator's state):
a temporary file beside the target (`.<name>.<random>.tmp`, so the rename never crosses a file
system), written, synced, then renamed over the target; removed again on any failure. A writer
killed mid-write leaves only such a temporary file (`lock.clean_temp_files` sweeps the lock's).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

TEMP_SUFFIX = ".tmp"


def temp_prefix(name: str) -> str:
    """How the temporary files of a target named `name` begin (`.palsync.lock.`)."""
    return f".{name}."


def write_atomic(
    path: str | os.PathLike[str],
    data: str | bytes,
    *,
    mode: int | None = None,
    durable: bool = True,
) -> None:
    """Replace `path` with `data` (a str is written as UTF-8) in one rename.

    `mode`: the file's permissions; None gives what a plain write would (an existing file keeps
    its mode, a new one gets 0o666 less the umask). `durable`: fsync the file before the rename
    and the directory after it, so the new content survives a power cut (False for caches and
    hints, which can be rebuilt). Errors are raised; the target is then unchanged."""
    # through a symbolic link, never over it: a linked lock (`palsync.lock -> envs/prod.lock`)
    # stays a link to the file that is updated
    target = os.path.realpath(os.fspath(path))
    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder, name = os.path.split(target)
    folder = folder or "."
    if mode is None:
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(os.stat(target).st_mode)
    # created with at most the final permissions (the umask narrows them), widened to exactly
    # `mode` only after the content is in place
    fd, tmp = _create(folder, name, 0o666 if mode is None else mode)
    try:
        try:
            out = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with out:
            out.write(payload)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        with contextlib.suppress(OSError):  # make the rename itself durable (not on Windows)
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def _create(folder: str, name: str, mode: int) -> tuple[int, str]:
    """A new temporary file beside the target, opened for writing, never an existing one."""
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    for _ in range(100):
        tmp = os.path.join(folder, f"{temp_prefix(name)}{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name beside {os.path.join(folder, name)}")
