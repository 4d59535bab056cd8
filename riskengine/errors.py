"""Exceptions and warnings of riskengine, one hierarchy under `RiskEngineError`.

Every message says what is wrong, where (``file:field`` or ``column@date``) and,
where it helps, how to fix it. The CLI maps each class to its own exit code.
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


class RiskEngineWarning(UserWarning):
    """Base class of warnings about conditions the user can act on."""


class DataWarning(RiskEngineWarning):
    """Input data was accepted but something about it deserves attention."""
