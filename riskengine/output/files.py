"""Single output files (JSON), replaced in one rename only when riskengine's."""

from __future__ import annotations

import glob
import os
import re
import secrets
import stat
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from riskengine.errors import OutputError
from riskengine.output._fs import (
    alive,
    kind,
    os_errors,
    read_json,
    sync_folder,
    target_path,
)

_MAX_OWNED_BYTES = 4_000_000


def check_json_file(out: str | Path, ours: Callable[[Any], bool], what: str) -> Path:
    """Check, without writing, that riskengine may write the JSON file `out`.

    Parameters
    ----------
    out : str or Path
        The file: missing, or a regular file whose JSON `ours` accepts.
    ours : callable
        Recognises riskengine's own content (the parsed JSON, None if it is not).
    what : str
        What the file holds, for messages (``"allocation"``).

    Raises
    ------
    OutputError
        Naming what is at `out`, when it is not riskengine's to replace.
    """
    target = target_path(out)
    with os_errors(target, "cannot inspect it"):
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return target
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(
            f"{target}: is {kind(info.st_mode)}, not a riskengine {what} file; "
            "riskengine never replaces it: give --out a file name"
        )
    with os_errors(target, "cannot read it"):
        content = None if info.st_size > _MAX_OWNED_BYTES else read_json(target)
    if not ours(content):
        raise OutputError(
            f"{target}: is a file riskengine did not write (not a riskengine {what}); "
            "riskengine never replaces it: choose another --out"
        )
    return target


def write_json_file(
    out: str | Path, text: str, ours: Callable[[Any], bool], what: str
) -> Path:
    """Write JSON `text` to `out` atomically, if the file is absent or ours.

    Parameters are those of `check_json_file`, and the text to write.

    Returns
    -------
    Path
        The absolute file written.
    """
    target = check_json_file(out, ours, what)
    with os_errors(target, f"cannot write the {what}"):
        target.parent.mkdir(parents=True, exist_ok=True)
        _clean_temporaries(target)
        replace_file(target, lambda path: path.write_text(text, encoding="utf-8"))
    return target


def replace_file(target: Path, write: Callable[[Path], object]) -> None:
    """Put a file at `target` in one rename from a hidden temporary beside it.

    The temporary's name starts with a dot (dataset readers skip it) and carries the
    writer's pid; it is removed if `write` fails. `target` itself is never opened.
    """
    token = secrets.token_hex(4)
    temporary = target.with_name(f".{target.name}.{os.getpid()}-{token}.riskengine-tmp")
    try:
        write(temporary)
        temporary.chmod(0o644)
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    with suppress(OSError):  # the rename is done: a failure cannot undo it
        sync_folder(target.parent, files=False)


def _clean_temporaries(target: Path) -> None:
    """Remove temporaries of `target` whose writing process is dead."""
    ours = re.compile(
        rf"\.{re.escape(target.name)}\.(\d+)-[0-9a-f]{{8}}\.riskengine-tmp"
    )
    for left in target.parent.glob(f".{glob.escape(target.name)}.*.riskengine-tmp"):
        found = ours.fullmatch(left.name)
        if found and not alive(int(found[1])):
            left.unlink(missing_ok=True)
