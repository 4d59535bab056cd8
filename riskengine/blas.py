"""BLAS on one thread while forecasts are fitted and a walk decides.

A decision factorises a covariance of the universe's size (a few to a few hundred
assets) many times; split over threads, each factorisation waits on the others. On
this project's 2-core machine, 250 simulated assets over 10 years took 17.9 s of
allocation with OpenBLAS on 2 threads against 3.9 s on one, with nothing else
running (`benchmarks/bench_scaling.py --only 250x10`). And the same thread count
everywhere keeps results the same bit for bit: on a flat likelihood arch's SLSQP
ended on another maximum (nu 122 against 143) when BLAS ran on two threads. The
limit applies to every BLAS loaded (numpy's, scipy's, the solvers'), and is restored
on exit.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from typing import Any

from threadpoolctl import ThreadpoolController

_controller: tuple[int, ThreadpoolController] | None = None
"""The loaded libraries' controller, and how many modules were loaded when made."""


def one_blas_thread() -> AbstractContextManager[Any]:
    """A context in which every loaded BLAS runs on one thread, restored on exit.

    Finding the loaded libraries takes milliseconds, so their controller is made
    once and made again only after more modules have been imported (a native
    library comes with the module that loads it).
    """
    global _controller
    loaded = len(sys.modules)
    if _controller is None or _controller[0] != loaded:
        _controller = (loaded, ThreadpoolController())
    return _controller[1].limit(limits=1, user_api="blas")
