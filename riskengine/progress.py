"""Progress of long computations, reported through an optional callback.

The stages that can take minutes (the GARCH refits, the walk's decisions, a
sweep's runs) take a ``progress`` argument, None by default. When given, it is a
`Progress`: called with a label, the units done so far and the total, after each
unit. The library never prints; the command line passes a `TerminalProgress`
(`progress_bars`) when stderr and stdout are terminals, and nothing when either
is piped or redirected, or with ``--quiet``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm

Progress = Callable[[str, int, int], None]
"""``progress(label, done, total)``: `done` of `total` units of `label` finished."""
DEFAULT_SIZE = (80, 24)
"""Columns and lines assumed on a terminal that states none."""


class TerminalProgress:
    """Bars on a terminal (tqdm), one per label, removed when the label is done.

    Thread-safe: the GARCH refits report from their worker threads. Use it as a
    context manager, so that bars still open (an interrupted run) are cleared
    before the command's last line.

    Parameters
    ----------
    stream : file, optional
        Where the bars are drawn (default: stderr).
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._bars: dict[str, tqdm] = {}
        self._lock = threading.Lock()

    def __call__(self, label: str, done: int, total: int) -> None:
        """Move `label`'s bar to `done` of `total`; close it when finished."""
        from tqdm import tqdm

        with self._lock:
            bar = self._bars.get(label)
            if bar is None:
                columns, lines = _size(self.stream)
                bar = tqdm(
                    total=total,
                    desc=label,
                    file=self.stream,
                    leave=False,
                    ncols=columns,
                    nrows=lines,
                    mininterval=0.2,
                )
                self._bars[label] = bar
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
                del self._bars[label]

    def close(self) -> None:
        """Clear every bar still open."""
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def progress_bars(
    quiet: bool, stream: IO[str] | None = None, output: IO[str] | None = None
) -> Iterator[Progress | None]:
    """Bars on `stream` (stderr) when someone is watching, else None.

    Someone is watching when both `stream` and the command's `output` (stdout)
    are terminals: a job that pipes or redirects its output (cron, ``| head``,
    ``> file``) gets no bars, nor does ``--quiet``. The bars still open when the
    block ends (an interrupted run) are cleared.
    """
    stream = stream if stream is not None else sys.stderr
    output = output if output is not None else sys.stdout
    if quiet or not (stream.isatty() and output.isatty()):
        yield None
        return
    with TerminalProgress(stream) as bars:
        yield bars


def _size(stream: IO[str]) -> tuple[int, int]:
    """Columns and lines of the terminal behind `stream`; `DEFAULT_SIZE` if unknown.

    A pseudo-terminal may report 0 by 0 (e.g. under ``script``), on which tqdm
    draws nothing.
    """
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        return DEFAULT_SIZE
    return size.columns or DEFAULT_SIZE[0], size.lines or DEFAULT_SIZE[1]
