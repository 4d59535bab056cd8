"""Calendar and drawdown tables of a return series: what a report lists, not draws.

Pure functions over simple daily returns (decimals on a sorted `DatetimeIndex`, as
in `riskengine.results.metrics`).
"""

from __future__ import annotations

import pandas as pd

from riskengine.results.metrics import drawdown, monthly_returns

MONTHS = tuple("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())
DRAWDOWN_COLUMNS = [
    "peak",
    "trough",
    "recovery",
    "depth",
    "days_to_trough",
    "days_to_recovery",
    "length_days",
]


def calendar_returns(returns: pd.Series) -> pd.DataFrame:
    """Returns compounded by calendar month, one row per year, and the year's total.

    Parameters
    ----------
    returns : pd.Series
        Simple daily returns, decimals, shape (n,).

    Returns
    -------
    pd.DataFrame
        Index: years; columns ``Jan`` .. ``Dec`` (NaN for months without data) and
        ``Year``, the months compounded (a partly covered year as it is).
    """
    months = monthly_returns(returns)
    table = pd.DataFrame(
        {
            "year": months.index.year,
            "month": [MONTHS[m - 1] for m in months.index.month],
            "value": months.to_numpy(),
        }
    ).pivot(index="year", columns="month", values="value")
    table = table.reindex(columns=list(MONTHS))
    yearly = (1.0 + months).groupby(months.index.year).prod() - 1.0
    table["Year"] = yearly.to_numpy()
    table.index.name = "year"
    return table


def worst_drawdowns(returns: pd.Series, count: int = 5) -> pd.DataFrame:
    """The `count` deepest drawdowns: peak, trough, recovery, depth and length.

    A drawdown runs from the last close at a running high (the peak) through its
    lowest close (the trough) to the first close back at or above the peak (the
    recovery). Drawdowns never overlap: each is one stretch below the running high.

    Parameters
    ----------
    returns : pd.Series
        Simple daily returns, decimals, shape (n,).
    count : int, default 5
        How many to list, deepest first.

    Returns
    -------
    pd.DataFrame
        Columns ``peak``, ``trough``, ``recovery`` (NaT while still below the
        peak at the last date), ``depth`` (a negative decimal), ``days_to_trough``,
        ``days_to_recovery`` (calendar days from trough to recovery; NaN when not
        recovered) and ``length_days`` (calendar days from peak to recovery, or to
        the last date when not recovered). Fewer rows when there are fewer
        drawdowns; the first date is the peak of a drawdown that starts on day one.
    """
    levels = drawdown(returns)
    dates = levels.index
    below = levels.to_numpy() < 0.0
    rows = []
    starts = [i for i in range(len(below)) if below[i] and (i == 0 or not below[i - 1])]
    for start in starts:
        end = start
        while end + 1 < len(below) and below[end + 1]:
            end += 1
        stretch = levels.iloc[start : end + 1]
        peak = dates[max(start - 1, 0)]
        trough = stretch.idxmin()
        recovery = dates[end + 1] if end + 1 < len(dates) else pd.NaT
        last = dates[-1] if recovery is pd.NaT else recovery
        rows.append(
            {
                "peak": peak,
                "trough": trough,
                "recovery": recovery,
                "depth": float(stretch.min()),
                "days_to_trough": (trough - peak).days,
                "days_to_recovery": (
                    float("nan")
                    if recovery is pd.NaT
                    else float((recovery - trough).days)
                ),
                "length_days": (last - peak).days,
            }
        )
    table = pd.DataFrame(rows, columns=DRAWDOWN_COLUMNS)
    return table.sort_values("depth", kind="stable").head(count).reset_index(drop=True)
