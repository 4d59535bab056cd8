"""Calendar arithmetic, in one place: periods per year and the day count.

Two conventions, fixed rather than estimated from the dates, so that no figure
depends on how much data there is:

- periods per year annualise volatilities and returns (the vol target, the
  metrics, the report): 252 on an exchange calendar, 365 when every asset held
  trades every calendar day (a crypto-only universe); volatility scales with the
  square root of time;
- cash interest and the financing of borrowed cash accrue ACT/365: the calendar
  days of each period over 365.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray

TRADING_DAYS_PER_YEAR = 252.0
"""Periods per year on an exchange calendar."""
CALENDAR_DAYS_PER_YEAR = 365.0
"""Periods per year when every asset trades every calendar day."""
DAY_COUNT_DAYS = 365.0
"""ACT/365: calendar days per year for accruing cash and financing rates."""


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
