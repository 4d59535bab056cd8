"""Results folders (a link swapped in one rename) and datasets folders (sweeps)."""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from riskengine.errors import OutputError
from riskengine.output._fs import (
    kind,
    locked,
    os_errors,
    read_json,
    sync_folder,
    target_path,
)

STORE_SUFFIX = ".riskengine"
STORE_MARK = "riskengine-store"
DATASETS_MARK = ".riskengine-sweep"
LOCK = "lock"
DATASETS_LOCK = ".riskengine-lock"
_VERSION = re.compile(r"v-\d{8}T\d{12}Z-\d+")
_LINK = re.compile(r"\.link-\d+")


def check_results_folder(out: str | Path, files: frozenset[str]) -> Path:
    """Check, without writing, that riskengine may write results at `out`.

    Returns
    -------
    Path
        The absolute results folder.

    Raises
    ------
    OutputError
        Naming what is at `out`, when it is not riskengine's to replace.
    """
    target = target_path(out)
    with os_errors(target, "cannot inspect it"):
        if _owned(target.parent):
            link = target.parent.name.removeprefix(".").removesuffix(STORE_SUFFIX)
            raise OutputError(
                f"{target}: is inside riskengine's store of versions; use --out "
                f"{target.parent.with_name(link)}"
            )
        _results_state(target, files)
    return target


@contextmanager
def new_results_folder(out: str | Path, files: frozenset[str]) -> Iterator[Path]:
    """An empty version folder to write into; put in place at ``out`` on success.

    Parameters
    ----------
    out : str or Path
        The results folder (a link into its store, see the module's notes).
    files : frozenset of str
        The names a result holds: a real folder holding only these and a riskengine
        manifest is an older riskengine's results.

    Yields
    ------
    Path
        The new version folder; on an exception, it is removed and the previous
        results stay.

    Raises
    ------
    OutputError
        When `out` is not riskengine's, another run holds it too long, or the
        operating system refuses a write.
    """
    target = check_results_folder(out, files)
    store = target.with_name(f".{target.name}{STORE_SUFFIX}")
    version = store / f"v-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{os.getpid()}"
    with os_errors(target, "cannot write the results"):
        target.parent.mkdir(parents=True, exist_ok=True)
        _claim(store, STORE_MARK, target)
        with locked(store / LOCK, target):
            state = _results_state(target, files)
            _clean_store(store, keep=os.readlink(target) if state == "ours" else "")
            version.mkdir()
            try:
                yield version
                sync_folder(version)
            except BaseException:
                shutil.rmtree(version, ignore_errors=True)
                raise
            _swap(target, store, version, state)
            with suppress(OSError):  # the swap is done: a failure cannot undo it
                sync_folder(target.parent, files=False)
                _clean_store(store, keep=f"{store.name}/{version.name}")


def _results_state(target: Path, files: frozenset[str]) -> str:
    """What is at `target`: absent, ours (our link), empty or legacy; else raise."""
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return "absent"
    if stat.S_ISLNK(info.st_mode):
        link = os.readlink(target)
        store = target.with_name(f".{target.name}{STORE_SUFFIX}")
        head, _, version = link.partition("/")
        if head == store.name and _VERSION.fullmatch(version) and _owned(store):
            return "ours"
        raise OutputError(
            f"{target}: is a symbolic link to {link} that riskengine did not make; "
            "choose another --out"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise OutputError(
            f"{target}: is {kind(info.st_mode)}, not a results folder; riskengine "
            "never replaces it: choose another --out"
        )
    entries = sorted(os.listdir(target))
    if not entries:
        return "empty"
    if _legacy_results(target, entries, files):
        return "legacy"
    held = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise OutputError(
        f"{target}: is a folder riskengine did not make (it holds {held}); "
        "riskengine writes only into folders of its own: choose a new --out"
    )


def _legacy_results(target: Path, entries: list[str], files: frozenset[str]) -> bool:
    """A real folder of an older riskengine: only result files, our manifest."""
    if "manifest.json" not in entries or not set(entries) <= files:
        return False
    if not all(stat.S_ISREG(os.lstat(target / e).st_mode) for e in entries):
        return False
    manifest = read_json(target / "manifest.json")
    return isinstance(manifest, dict) and "manifest_version" in manifest


def _swap(target: Path, store: Path, version: Path, state: str) -> None:
    """Point `target` at `version`: one rename over our link, else a new link."""
    pointer = f"{store.name}/{version.name}"
    if state == "ours":
        link = store / f".link-{os.getpid()}"
        link.unlink(missing_ok=True)
        os.symlink(pointer, link)
        os.replace(link, target)
    elif state == "legacy":
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
        moved = store / f"v-{stamp}-{os.getpid()}"
        os.rename(target, moved)
        try:
            os.symlink(pointer, target)
        except OSError:
            os.rename(moved, target)
            raise
    else:
        if state == "empty":
            os.rmdir(target)
        os.symlink(pointer, target)  # fails, replacing nothing, if a path appeared


def _clean_store(store: Path, *, keep: str) -> None:
    """Remove what killed or earlier runs left in the store, all but `keep`."""
    kept = keep.partition("/")[2]
    for entry in os.listdir(store):
        path = store / entry
        if _VERSION.fullmatch(entry) and entry != kept and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif _LINK.fullmatch(entry) and path.is_symlink():
            path.unlink(missing_ok=True)


@contextmanager
def datasets_folder(out: str | Path, datasets: tuple[str, ...]) -> Iterator[Path]:
    """Claim a datasets folder for one writer at a time, its leftovers cleaned.

    Parameters
    ----------
    out : str or Path
        The folder: missing, empty, marked as riskengine's, or holding only the
        `datasets` folders of an older riskengine.
    datasets : tuple of str
        Names of the dataset folders inside.

    Yields
    ------
    Path
        The absolute folder, locked against other riskengine processes (refused at
        once: a sweep may take hours).

    Raises
    ------
    OutputError
        When `out` is not riskengine's, another sweep runs on it, or the operating
        system refuses a write.
    """
    target = target_path(out)
    with os_errors(target, "cannot write there"):
        _claim(target, DATASETS_MARK, target, allowed=set(datasets))
        with locked(target / DATASETS_LOCK, target, wait_seconds=0.0):
            for name in datasets:
                for folder in (target / name).glob("*"):
                    for left in folder.glob(".*.riskengine-tmp"):
                        left.unlink(missing_ok=True)
            yield target


def _claim(
    folder: Path, mark: str, named: Path, allowed: set[str] | None = None
) -> None:
    """Create `folder`, or check it is ours (marked, empty, `allowed` only); mark it."""
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
    else:
        if not stat.S_ISDIR(info.st_mode):
            raise OutputError(
                f"{folder}: is {kind(info.st_mode)}, not a folder riskengine made; "
                f"riskengine never replaces it: choose another --out"
            )
    entries = set(os.listdir(folder))
    if mark not in entries and not entries <= (allowed or set()):
        held = ", ".join(sorted(entries)[:3]) + (", ..." if len(entries) > 3 else "")
        where = "" if folder == named else f" (riskengine's store for {named})"
        raise OutputError(
            f"{folder}: is a folder riskengine did not make{where} (it holds {held}); "
            "riskengine writes only into folders of its own: choose a new --out"
        )
    try:
        fd = os.open(folder / mark, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(f"riskengine's output for {named.name}; do not edit.\n")


def _owned(folder: Path) -> bool:
    """Whether `folder` is a real folder holding riskengine's store mark."""
    try:
        return (
            stat.S_ISDIR(os.lstat(folder).st_mode) and (folder / STORE_MARK).is_file()
        )
    except (FileNotFoundError, NotADirectoryError):
        return False
