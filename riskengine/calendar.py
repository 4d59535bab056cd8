"""Calendar arithmetic, in one place: periods per year, day count, period ends.

Two conventions, fixed rather than estimated from the dates, so that no figure
depends on how much data there is:

- periods per year annualise volatilities and returns (the vol target, the
  metrics, the report): 252 on an exchange calendar, 365 when every asset held
  trades every calendar day (a crypto-only universe); volatility scales with the
  square root of time;
- cash interest and the financing of borrowed cash accrue ACT/365: the calendar
  days of each period over 365.

Week and month ends are facts of a trading calendar, known in advance, never read
from the data: an exchange calendar of the `exchange_calendars` library (XNYS, the
New York Stock Exchange, by default) or ``"24/7"``. The data's own dates stay the
rows of every panel (see `data.trading_calendar`); the calendar decides which of
those rows close a week or a month (see `period_end_rows`).
"""

from __future__ import annotations

import difflib
import functools
import math
import warnings
from collections.abc import Collection
from typing import Literal

import numpy as np
import pandas as pd

from riskengine._typing import BoolArray, FloatArray
from riskengine.errors import DataError
from riskengine.messages import shown

TRADING_DAYS_PER_YEAR = 252.0
"""Periods per year on an exchange calendar."""
CALENDAR_DAYS_PER_YEAR = 365.0
"""Periods per year when every asset trades every calendar day."""
DAY_COUNT_DAYS = 365.0
"""ACT/365: calendar days per year for accruing cash and financing rates."""
AUTO_CALENDAR = "auto"
"""A policy's default calendar: `ALWAYS_OPEN` on data that trade every day, else
`EXCHANGE_CALENDAR` (see `resolve_calendar`)."""
EXCHANGE_CALENDAR = "XNYS"
"""The exchange calendar of data with exchange-traded columns: the NYSE's sessions."""
ALWAYS_OPEN = "24/7"
"""The calendar of data whose every column trades every calendar day (crypto)."""


def periods_per_year(assets: Collection[str], daily: Collection[str]) -> float:
    """Periods per year of a universe: a convention, not an estimate.

    Parameters
    ----------
    assets : collection of str
        The assets the policy may hold.
    daily : collection of str
        The assets that trade every calendar day (see `data.daily_columns`).

    Returns
    -------
    float
        `CALENDAR_DAYS_PER_YEAR` (365) when every asset trades every day,
        `TRADING_DAYS_PER_YEAR` (252) otherwise.
    """
    everyday = set(assets) <= set(daily)
    return CALENDAR_DAYS_PER_YEAR if everyday else TRADING_DAYS_PER_YEAR


def annual_vol_factor(periods_per_year: float) -> float:
    """Square root of time: a daily volatility times this is an annual one.

    Parameters
    ----------
    periods_per_year : float
        Periods per year (see `periods_per_year`).

    Returns
    -------
    float
        ``sqrt(periods_per_year)``; divide an annual volatility by it for a daily one.
    """
    return math.sqrt(periods_per_year)


def accrual_fractions(index: pd.DatetimeIndex) -> FloatArray:
    """ACT/365 year fraction of each period: calendar days since the previous date.

    Parameters
    ----------
    index : pd.DatetimeIndex
        Sorted dates, shape (n,).

    Returns
    -------
    FloatArray
        Shape (n,): 0 for the first date, then ``days / DAY_COUNT_DAYS``; a rate
        per year times this is the interest of the period.
    """
    days = np.diff(index.to_numpy()) / np.timedelta64(1, "D")
    fractions: FloatArray = np.append(0.0, days) / DAY_COUNT_DAYS
    return fractions


def unknown_calendar(name: str) -> str | None:
    """Why `name` is not a trading calendar, naming the closest one; None if known.

    Known: ``"auto"`` and every name or alias of `exchange_calendars` (``XNYS``,
    ``NYSE``, ``XLON``, ``24/7``, ...), spelt as the library spells it.
    """
    if name == AUTO_CALENDAR:
        return None
    import exchange_calendars  # 0.1-0.6 s to import: only when a calendar is named

    names = exchange_calendars.get_calendar_names(include_aliases=True)
    if name in names:
        return None
    by_upper = {n.upper(): n for n in names}
    close = difflib.get_close_matches(name.upper(), list(by_upper), n=1)
    hint = (
        f"did you mean '{by_upper[close[0]]}'?"
        if close
        else "e.g. 'XNYS', 'XLON', 'XTKS', '24/7'"
    )
    return (
        f"unknown trading calendar {shown(name)} ({hint}); '{AUTO_CALENDAR}' or a "
        "name of exchange_calendars.get_calendar_names()"
    )


def resolve_calendar(name: str, *, every_day: bool) -> str:
    """The calendar a policy's `calendar` field stands for on some data.

    Parameters
    ----------
    name : str
        ``"auto"`` or a calendar name (see `unknown_calendar`).
    every_day : bool
        Whether every column of the data trades every calendar day, so that the
        data's rows are every calendar day (an all-crypto file).

    Returns
    -------
    str
        `name` itself unless it is ``"auto"``; then `ALWAYS_OPEN` (``"24/7"``) when
        `every_day`, `EXCHANGE_CALENDAR` (``"XNYS"``) otherwise.
    """
    if name != AUTO_CALENDAR:
        return name
    return ALWAYS_OPEN if every_day else EXCHANGE_CALENDAR


def calendar_sessions(
    name: str, first: pd.Timestamp, last: pd.Timestamp, *, source: str
) -> pd.DatetimeIndex:
    """Sessions of a trading calendar around the dates `first` .. `last`.

    From the first session of `first`'s year to the last of the year after
    `last` (or the calendar's last recorded date, if earlier), so that every date
    up to `last` has a known next session. Which days are sessions depends on the
    calendar alone: cutting the data short never changes a session.

    Parameters
    ----------
    name : str
        A calendar name of `exchange_calendars` (not ``"auto"``: see
        `resolve_calendar`).
    first, last : Timestamp
        The first and last dates of the data.
    source : str
        Where the data came from, for error messages.

    Returns
    -------
    pd.DatetimeIndex
        Sorted session dates, from the start of `first`'s year to after `last`.

    Raises
    ------
    DataError
        If the calendar does not cover the data's dates (its holidays are recorded
        for a limited range) or cannot be built.
    """
    try:
        sessions = _sessions(name, first.year, last.year + 1)
    except (ValueError, NotImplementedError) as exc:
        raise DataError(
            f"{source}: rebalance.calendar '{name}' cannot cover the data's dates "
            f"{first.date()} .. {last.date()}: {exc}"
        ) from exc
    if not len(sessions) or sessions[-1] <= last:
        end = sessions[-1].date() if len(sessions) else "no session"
        raise DataError(
            f"{source}: rebalance.calendar '{name}' records sessions up to {end} "
            f"only: the session after the data's last date {last.date()} is "
            "unknown, so whether that date ends its week or month is too"
        )
    return sessions


@functools.lru_cache(maxsize=16)
def _sessions(name: str, first_year: int, last_year: int) -> pd.DatetimeIndex:
    """Sessions of `name` from `first_year` through `last_year`, built once.

    The end is clipped to the last date whose holidays the calendar records.
    """
    import exchange_calendars  # 0.1-0.6 s to import: only when a calendar is needed

    # exchange_calendars 4.x reads Series.values and DatetimeIndex.weekday, which
    # pandas 3 deprecates (a DeprecationWarning); the sessions are unaffected
    start = pd.Timestamp(f"{first_year}-01-01")
    end = pd.Timestamp(f"{last_year}-12-31")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        try:
            calendar = exchange_calendars.get_calendar(name, start=start, end=end)
        except ValueError:
            # holidays recorded up to some date only (XSHG, XBOM, ...): end there
            bound = exchange_calendars.get_calendar(name).bound_max()
            if bound is None or bound >= end:
                raise
            calendar = exchange_calendars.get_calendar(name, start=start, end=bound)
    sessions: pd.DatetimeIndex = calendar.sessions
    return sessions


def period_end_rows(
    index: pd.DatetimeIndex,
    sessions: pd.DatetimeIndex,
    frequency: Literal["weekly", "monthly"],
) -> BoolArray:
    """Rows of `index` that close a week or month of a trading calendar.

    A session closes its week (Monday to Sunday) or month when the calendar's next
    session falls in another one: a fact known in advance (the Thursday before
    Good Friday closes its week on the NYSE), never read from the next row of the
    data. A row is marked when such a session falls after the previous row and on
    or before the row itself: the session's own row or, if the data skip that
    session, the first row after it. A row that is no session (a price printed on
    a holiday) closes no period of its own.

    Parameters
    ----------
    index : pd.DatetimeIndex
        The data's rows, sorted dates.
    sessions : pd.DatetimeIndex
        The calendar's sessions, from the start of ``index[0]``'s year to after
        ``index[-1]`` (see `calendar_sessions`).
    frequency : {"weekly", "monthly"}
        Which periods.

    Returns
    -------
    BoolArray
        Shape (len(index),): True on the rows that close a period. Row i depends on
        rows i - 1 and i and on the calendar only.
    """
    period = sessions.to_period("W" if frequency == "weekly" else "M").asi8
    ends = sessions.to_numpy("datetime64[ns]")[:-1][period[1:] != period[:-1]]
    rows = index.to_numpy("datetime64[ns]")
    passed = np.searchsorted(ends, rows, side="right")
    before = np.append(np.searchsorted(ends, rows[:1], side="left"), passed[:-1])
    closes: BoolArray = passed > before
    return closes
