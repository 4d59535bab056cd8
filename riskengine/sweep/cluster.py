"""The Dask cluster a sweep runs on: a local one, or a scheduler's, checked first.

A local cluster listens on `LOCALHOST` only. The workers of any cluster must run
the client's riskengine and the packages that shape its numbers, in the same
versions (`check_versions`): otherwise a sweep's runs would not be those of
``riskengine backtest`` on this machine.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from distributed import Client, LocalCluster

from riskengine.errors import ClusterError
from riskengine.results.provenance import NUMERIC_PACKAGES, package_version

LOCALHOST = "127.0.0.1"
"""The only interface the local cluster listens on."""
SCHEDULER_TIMEOUT = "10s"
"""How long to try to reach a ``--scheduler`` before giving up."""
CHECKED_PACKAGES = ("riskengine", *NUMERIC_PACKAGES)
"""Packages every worker must have in the client's versions."""


@contextmanager
def connect(
    scheduler: str | None, workers: int | None, processes: bool
) -> Iterator[Client]:
    """A client of the given scheduler, or of a local cluster closed after use.

    The local cluster listens on `LOCALHOST` only, its dashboard on any free port
    there (8787 may be taken). The workers' versions are checked (see
    `check_versions`).

    Raises
    ------
    ClusterError
        If the scheduler cannot be reached, the local cluster cannot start, or a
        worker's versions differ from the client's.
    """
    where = f"--scheduler {scheduler}" if scheduler else "local Dask cluster"
    with ExitStack() as stack:
        try:
            if scheduler is not None:
                client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
            else:
                with _started_ignoring_ctrl_c():
                    cluster = LocalCluster(
                        n_workers=workers or os.cpu_count() or 1,
                        threads_per_worker=1,
                        processes=processes,
                        host=LOCALHOST if processes else None,  # threads: inproc
                        dashboard_address=f"{LOCALHOST}:0",
                        worker_dashboard_address=f"{LOCALHOST}:0",
                        # a run's failure is the sweep's to report, in one line:
                        # Dask's own logs would print its traceback as well
                        silence_logs=logging.CRITICAL,
                    )
                stack.enter_context(cluster)
                client = Client(cluster)
        except (OSError, ValueError, RuntimeError) as exc:
            detail: str | None = " ".join(str(exc).split())
        else:
            detail = None
        if detail is not None:
            # A client whose constructor failed is left in a reference cycle, and
            # its finaliser stops a Dask loop runner under distributed's class-wide
            # lock: run by the garbage collector while another cluster starts, it
            # deadlocks (distributed 2026.8.0). Finalise it here instead.
            gc.collect()
            raise ClusterError(f"{where}: cannot start or connect ({detail})")
        with client:
            check_versions(client, where)
            yield client


@contextmanager
def _started_ignoring_ctrl_c() -> Iterator[None]:
    """Processes started inside ignore SIGINT; the caller's handler is kept.

    Ctrl-C reaches every process of the terminal's group: local workers that
    ignore it (a disposition their start inherits) are stopped by the client
    instead, without each printing a traceback. Outside the main thread, where
    no handler can be set, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)


def check_versions(client: Client, where: str) -> None:
    """Refuse a cluster whose workers run other versions of `CHECKED_PACKAGES`.

    Parameters
    ----------
    client : Client
        Connected to the cluster.
    where : str
        The cluster, for the message (``"--scheduler tcp://host:8786"``).

    Raises
    ------
    ClusterError
        Naming the first worker, package and both versions that differ.
    """
    mine = {name: package_version(name) for name in CHECKED_PACKAGES}
    versions = client.get_versions(packages=list(CHECKED_PACKAGES))
    found: dict[str, Any] = versions["workers"]  # type: ignore[index]  # not async
    for address, info in sorted(found.items()):
        theirs = info.get("packages", {}) if isinstance(info, dict) else {}
        for name, version in mine.items():
            if theirs.get(name) != version:
                raise ClusterError(
                    f"{where}: worker {address} has {name} "
                    f"{theirs.get(name) or 'not installed'}, this machine "
                    f"{version or 'not installed'}: install the same versions on "
                    "every worker"
                )
