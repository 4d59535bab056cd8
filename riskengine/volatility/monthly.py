"""Realised variance of the previous calendar month, as Moreira and Muir (2017) use it.

Their vol-managed portfolio scales next month's exposure by ``c / RV_m``, where
``RV_m`` is the sum of the squared demeaned daily returns of calendar month m:
``sum_d (r_d - mean_m(r))^2`` over the month's days. Here the forecast known at
the close of t is ``RV_M / MONTH_DAYS`` for the latest month M complete at t, in
daily units (divided by a constant, so any rule on it stays proportional to the
paper's ``1 / RV``). A month is complete at its last session on the trading
calendar, a fact known in advance (`riskengine.calendar.period_end_rows`), never
read from the next row: so the forecast at a month's last close already holds
that month, as a decision at that close needs.

Each asset's months are its own observations in them. A month in which an asset
has fewer than two returns (its first day, a long gap) sets no forecast: the
previous month's stays. Before an asset's first complete month, the forecast is
the mean squared return so far.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine._typing import BoolArray, FloatArray, ReturnPanel
from riskengine.calendar import (
    AUTO_CALENDAR,
    calendar_sessions,
    period_end_rows,
    resolve_calendar,
)

MONTH_DAYS = 21
"""Trading days of an average month (252 / 12): a month's sum in daily units."""
SOURCE = "model family 'realised_month'"


def month_closing(index: pd.DatetimeIndex) -> tuple[BoolArray, pd.PeriodIndex]:
    """Which month each row of `index` closes, if any.

    The calendar is New York's exchange (XNYS), or every day when the rows hold
    a weekend (an all-crypto panel), as ``rebalance.calendar = "auto"`` picks.

    Returns
    -------
    closes, months
        ``closes[i]`` is True where row i closes a month (`period_end_rows`);
        ``months[i]`` is the month of the latest month-end session on or before
        row i (the one a closing row closes).
    """
    every_day = bool((index.day_of_week >= 5).any())
    name = resolve_calendar(AUTO_CALENDAR, every_day=every_day)
    sessions = calendar_sessions(name, index[0], index[-1], source=SOURCE)
    closes = period_end_rows(index, sessions, "monthly")
    month = sessions.to_period("M")
    ends = sessions[:-1][month.asi8[1:] != month.asi8[:-1]]
    latest = np.maximum(ends.searchsorted(index, side="right") - 1, 0)
    return closes, ends[latest].to_period("M")


def month_variance(returns: ReturnPanel) -> FloatArray:
    """The previous complete month's realised variance, daily units, per row.

    Parameters
    ----------
    returns : pd.DataFrame
        Returns, shape (n_days, n_assets), NaN where an asset has no observation.

    Returns
    -------
    ndarray
        Shape (n_days, n_assets): ``RV_M / MONTH_DAYS`` of the latest month M
        complete at each row (the mean squared return so far before the first),
        NaN on rows without an observation.
    """
    values = returns.to_numpy(float)
    out = np.full(values.shape, np.nan)
    if not len(returns):
        return out
    closes, closed = month_closing(returns.index)
    row_month = returns.index.to_period("M")
    for j in range(values.shape[1]):
        rows = np.flatnonzero(~np.isnan(values[:, j]))
        if not rows.size:
            continue
        r = pd.Series(values[rows, j])
        month = pd.Series(row_month[rows].asi8)
        grouped = r.groupby(month.to_numpy())
        demeaned = r - grouped.transform("mean")
        sums = (demeaned**2).groupby(month.to_numpy()).sum()
        counts = grouped.size()
        usable = sums[counts >= 2] / MONTH_DAYS
        # the month each row's forecast comes from: closed at or before that row
        at_close = pd.Series(closed.asi8, dtype=float).where(closes)
        at_close = at_close.map(usable).ffill().to_numpy()[rows]
        so_far = np.cumsum(r.to_numpy() ** 2) / np.arange(1, rows.size + 1)
        out[rows, j] = np.where(np.isnan(at_close), so_far, at_close)
    return out
