"""Exceptions and warnings of riskengine, one hierarchy under `RiskEngineError`.

Every message says what is wrong, where (``file:field`` or ``column@date``) and,
where it helps, how to fix it. The CLI prints each as one line on stderr and exits
with the code of its class:

== =====================================================================
0  success
1  internal error: an exception riskengine did not expect (a bug: the line
   says so and asks for a report; ``RISKENGINE_DEBUG=1`` shows the traceback)
2  usage: a bad command-line argument (an unknown option, a date that is
   not ``YYYY-MM-DD``, ``--from`` after ``--to``)
3  `DataError`: a price or sleeve file, or the data in it
4  `SpecError`: a policy, model or sweep file, or a field in it
5  `ModelError`: a model cannot produce a forecast
6  `InfeasibleError`: the policy's constraints cannot hold together
7  `OutputError`: riskengine may not, or cannot, write an output
8  `DegenerateRunError`: a run held nothing, so there is nothing to report
9  `ClusterError`: the Dask cluster of a sweep cannot start or be reached
10 `StaleDataError`: an allocation job's prices are older than the policy
   accepts at the as-of date (``rebalance.max_price_age_days``)
== =====================================================================

A sweep whose runs fail exits with the code of its first failed run; 130 is an
interrupt (Ctrl-C); 141 means the reader of the output closed it early
(``riskengine allocate ... | head -c 100``): the command ends quietly, as one
that SIGPIPE ends does.
"""

from __future__ import annotations


class RiskEngineError(Exception):
    """Base class of every error riskengine raises on purpose."""

    exit_code = 1


class DataError(RiskEngineError, ValueError):
    """A price file or panel is malformed: dates, values, calendars, history."""

    exit_code = 3


class SpecError(RiskEngineError, ValueError):
    """A model or policy spec (TOML) is missing a field, has a bad value or type."""

    exit_code = 4


class ModelError(RiskEngineError, RuntimeError):
    """A volatility or covariance model cannot produce a forecast."""

    exit_code = 5


class InfeasibleError(RiskEngineError, RuntimeError):
    """An allocation problem has no solution under the policy's constraints."""

    exit_code = 6


class OutputError(RiskEngineError, OSError):
    """riskengine may not, or cannot, write an output; the previous one is intact.

    Raised for a path that is not riskengine's (a user's folder or file, a device,
    a foreign symbolic link, ``.``), for a concurrent run holding the output, and
    for operating-system failures (read-only or full disk, permissions). Exit
    code 7.
    """

    exit_code = 7


class DegenerateRunError(DataError):
    """A run completed but has nothing to report: the policy never held anything.

    Raised by `BacktestResult.metrics` when the policy held something on too few
    days to measure (the event log says why: too little history, no recent
    price, ...); ``riskengine backtest`` still writes the results for diagnosis,
    then ends with this error. A `DataError` whose exit code is 8.
    """

    exit_code = 8


class StaleDataError(DataError):
    """An allocation job's latest prices are too old to decide on at its as-of date.

    Raised by `riskengine.allocate.allocate` when an asset the decision rests on
    (held, traded, or watched by a trigger) has no price within the policy's
    ``rebalance.max_price_age_days`` trading days of the as-of date; the message
    names each such asset and its last price date. The job may instead drop those
    assets or hold them (``--stale drop|hold``). A `DataError` whose exit code is 10.
    """

    exit_code = 10


class ClusterError(RiskEngineError, RuntimeError):
    """The Dask cluster of a sweep cannot start, or its scheduler cannot be reached."""

    exit_code = 9


class RiskEngineWarning(UserWarning):
    """Base class of warnings about conditions the user can act on."""


class DataWarning(RiskEngineWarning):
    """Input data was accepted but something about it deserves attention."""
