"""File-system helpers of the output package: paths, locks, flushes, messages."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from riskengine.errors import OutputError

WAIT_SECONDS = 60.0


def target_path(out: str | Path) -> Path:
    """`out` as an absolute path with a real last name, or an `OutputError`."""
    text = os.fspath(out)
    if "\0" in text:
        raise OutputError(f"{text!r}: --out holds a NUL character")
    name = Path(text).name
    if name in ("", ".", ".."):
        raise OutputError(
            f"{text or repr(text)}: --out must name a folder or file of its own "
            f"(e.g. {os.path.join(text or '.', 'run')}), not '.', '..' or '/'"
        )
    path = Path(os.path.abspath(text))
    here = Path(os.getcwd())
    if path == here or path in here.parents:
        raise OutputError(f"{text}: --out is the current folder or one above it")
    return path


@contextmanager
def locked(
    lock: Path, named: Path, *, wait_seconds: float | None = None
) -> Iterator[None]:
    """Hold `lock` (fcntl.flock), our pid in it; wait, then refuse naming the holder.

    `wait_seconds` defaults to `WAIT_SECONDS`.
    """
    if wait_seconds is None:
        wait_seconds = WAIT_SECONDS
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 20, 0).decode(errors="replace").strip()
                    waited = f" (waited {wait_seconds:.0f} s)" if wait_seconds else ""
                    raise OutputError(
                        f"{named}: another riskengine process (pid {holder or '?'}) "
                        f"is writing it{waited}; run again when it has finished"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def alive(pid: int) -> bool:
    """Whether process `pid` exists (a reused pid counts: then nothing is removed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None if it is not JSON text."""
    try:
        return json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def sync_folder(folder: Path, *, files: bool = True) -> None:
    """Flush `folder`'s entries (and its files) to disk, for a rename to rely on."""
    if files:
        for entry in folder.iterdir():
            fd = os.open(entry, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def kind(mode: int) -> str:
    """What a file mode is, in words, for messages."""
    kinds = [
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISREG, "a file"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a file or folder")


@contextmanager
def os_errors(target: Path, doing: str) -> Iterator[None]:
    """Turn operating-system failures inside into one-line `OutputError` exceptions."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        detail = exc.strerror or str(exc) or type(exc).__name__
        named = exc.filename and str(exc.filename) != str(target)
        where = f" ({exc.filename})" if named else ""
        raise OutputError(
            f"{target}: {doing}: {detail}{where}; nothing was replaced"
        ) from exc
