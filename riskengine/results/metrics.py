"""Performance and risk metrics: pure functions over a backtest's daily returns.

Every function takes ``returns``: simple daily portfolio returns (decimals, 0.01
is 1%) as a ``pd.Series`` on a sorted, unique ``DatetimeIndex``; each return
covers the period that ends on its date. Leading NaNs (dates before the first
allocation) are dropped. An interior NaN, an unsorted index or too few values
raise `DataError`. ``periods_per_year`` (ppy) is a convention, never inferred from
the dates: by default `calendar.TRADING_DAYS_PER_YEAR` (252, an exchange
calendar); pass `calendar.CALENDAR_DAYS_PER_YEAR` (365) for a series that has
every day, or the ppy of the run (`BacktestResult.periods_per_year`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray
from riskengine.calendar import TRADING_DAYS_PER_YEAR, annual_vol_factor
from riskengine.errors import DataError


def _clean(returns: pd.Series, min_obs: int = 2) -> pd.Series:
    """Validate ``returns`` and drop leading NaNs; return float64 values."""
    if returns.count() < min_obs:
        raise DataError(
            f"returns: {returns.count()} non-NaN values, need at least {min_obs}"
        )
    if not isinstance(returns.index, pd.DatetimeIndex):
        raise DataError("returns: index must be a DatetimeIndex of dates")
    if not (returns.index.is_monotonic_increasing and returns.index.is_unique):
        raise DataError("returns: dates must be sorted ascending and unique")
    values = returns.astype("float64").loc[returns.first_valid_index() :]
    if values.isna().any():
        first = values.index[values.isna().to_numpy()][0]
        raise DataError(f"returns: interior NaN at {first:%Y-%m-%d}; fill or drop it")
    return values


def annualized_return(
    returns: pd.Series, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> float:
    """Geometric annual return (CAGR): ``prod(1 + r) ** (ppy / n) - 1``.

    Parameters
    ----------
    returns : pd.Series
        Simple daily returns, decimals, shape (n,).
    periods_per_year : float, default `calendar.TRADING_DAYS_PER_YEAR`
        Observations per year (252 on an exchange calendar, 365 on every day).

    Returns
    -------
    float
        Decimal per year; -1.0 once wealth reaches zero or below.
    """
    r = _clean(returns)
    wealth = float(np.prod(1.0 + r.to_numpy()))
    if wealth <= 0.0:
        return -1.0
    return wealth ** (periods_per_year / len(r)) - 1.0


def annualized_volatility(
    returns: pd.Series, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> float:
    """Annualised volatility: sample std (ddof=1) of returns x sqrt(ppy).

    Parameters and units as in `annualized_return`: 0.15 is 15% a year.
    """
    r = _clean(returns)
    return float(r.std(ddof=1)) * annual_vol_factor(periods_per_year)


def _excess(
    returns: pd.Series, periods_per_year: float, risk_free_annual: float
) -> FloatArray:
    """Per-period returns in excess of ``risk_free_annual / ppy``."""
    return _clean(returns).to_numpy() - risk_free_annual / periods_per_year


def sharpe_ratio(
    returns: pd.Series,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
    risk_free_annual: float = 0.0,
) -> float:
    """Arithmetic Sharpe ratio: ``mean(e) * ppy / (std(e, ddof=1) * sqrt(ppy))``.

    ``e = r - risk_free_annual / ppy``, with ``risk_free_annual`` a decimal
    annual rate. Other parameters as in `annualized_return`. Returns NaN when
    all returns are equal (zero volatility, where rounding would leave ~1e-19).
    """
    excess = _excess(returns, periods_per_year, risk_free_annual)
    if np.ptp(excess) == 0.0:
        return math.nan
    vol = float(np.std(excess, ddof=1)) * annual_vol_factor(periods_per_year)
    return float(np.mean(excess)) * periods_per_year / vol


def sortino_ratio(
    returns: pd.Series,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
    risk_free_annual: float = 0.0,
) -> float:
    """Sortino ratio: ``mean(e) * ppy / (downside * sqrt(ppy))``.

    ``e`` as in `sharpe_ratio`; ``downside = sqrt(mean(min(e, 0) ** 2))`` with the
    mean over all periods. Returns NaN when no period is below the risk-free rate.
    """
    excess = _excess(returns, periods_per_year, risk_free_annual)
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside == 0.0:
        return math.nan
    annual_downside = downside * annual_vol_factor(periods_per_year)
    return float(np.mean(excess)) * periods_per_year / annual_downside


def drawdown(returns: pd.Series) -> pd.Series:
    """Drawdown on each date: wealth / running peak - 1, from wealth 1 before day one.

    Returns non-positive decimals on the index of ``returns`` (leading NaNs dropped).
    """
    r = _clean(returns, min_obs=1)
    wealth = (1.0 + r).cumprod()
    return (wealth / wealth.cummax().clip(lower=1.0) - 1.0).rename("drawdown")


def max_drawdown(returns: pd.Series) -> float:
    """Deepest `drawdown`, a non-positive decimal (-0.34 is a 34% fall from peak)."""
    return float(drawdown(returns).min())


def monthly_returns(returns: pd.Series) -> pd.Series:
    """Returns compounded within each calendar month: ``prod(1 + r) - 1``.

    Returns decimals on a monthly ``PeriodIndex``. Months without data are
    absent; a partly covered first or last month is included as it is.
    """
    r = _clean(returns, min_obs=1)
    months = r.index.tz_localize(None).to_period("M")  # local wall-clock months
    growth = (1.0 + r).groupby(months).prod()
    return (growth - 1.0).rename("monthly_return")


def worst_month(returns: pd.Series) -> float:
    """Lowest of the `monthly_returns`, a decimal (-0.12 is a 12% loss)."""
    return float(monthly_returns(returns).min())


def rolling_volatility(
    returns: pd.Series,
    window: int | None = None,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
) -> pd.Series:
    """Trailing annualised volatility: rolling std (ddof=1) x sqrt(ppy).

    ``window`` is a count of observations, by default ``round(ppy)`` (one year);
    the first ``window - 1`` values are NaN. Decimals per year.
    """
    r = _clean(returns)
    window = round(periods_per_year) if window is None else window
    if window < 2:
        raise ValueError(f"window: {window} observations, need at least 2")
    rolling = r.rolling(window, min_periods=window).std(ddof=1)
    return (rolling * annual_vol_factor(periods_per_year)).rename("rolling_volatility")


def vol_of_vol(
    returns: pd.Series,
    window: int | None = None,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
) -> float:
    """Volatility of volatility: std (ddof=1) of `rolling_volatility`, NaNs dropped.

    How much the trailing one-year (by default) realised annualised vol moves
    over the history, in the same decimal units as volatility.

    Raises
    ------
    DataError
        If ``returns`` has ``window`` or fewer values: under two full windows.
    """
    rolling = rolling_volatility(returns, window, periods_per_year).dropna()
    if len(rolling) < 2:
        raise DataError(
            f"returns: {len(rolling)} full rolling windows, need 2 for vol of vol; "
            "pass a shorter window or a longer history"
        )
    return float(rolling.std(ddof=1))


def cvar(returns: pd.Series, level: float = 0.95) -> float:
    """Historical expected shortfall of daily returns, as a positive loss.

    Of ``n`` returns the tail holds ``k = ceil(n * (1 - level))``, the product
    rounded to 9 decimals first (100 returns at 0.95 give k = 5, not 6). The
    quantile q is the k-th smallest return (inverted empirical CDF, numpy's
    ``method="inverted_cdf"``), and CVaR is ``-mean(r[r <= q])``, ties with q
    included. 0.021 is an average loss of 2.1% a day on the tail days.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: {level}, expected a confidence in (0, 1)")
    r = np.sort(_clean(returns, min_obs=1).to_numpy())
    k = max(1, math.ceil(round(len(r) * (1.0 - level), 9)))
    return -float(np.mean(r[r <= r[k - 1]]))


def _annual_sum(series: pd.Series | None, name: str, span_years: float) -> float:
    """Sum of ``series`` per year of the backtest; NaN when not given."""
    if series is None:
        return math.nan
    if series.isna().any():
        raise DataError(f"{name}: NaN at {series.index[series.isna().to_numpy()][0]}")
    return float(series.sum()) / span_years


def summarize(
    returns: pd.Series,
    turnover: pd.Series | None = None,
    costs: pd.Series | None = None,
    risk_free_annual: float = 0.0,
    *,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
) -> dict[str, float]:
    """Headline metrics of a backtest, in a fixed key order.

    Parameters
    ----------
    returns : pd.Series
        Simple daily portfolio returns, decimals, shape (n,).
    turnover : pd.Series, optional
        Two-sided turnover ``sum(|dw|)`` of each rebalance, indexed by date.
    costs : pd.Series, optional
        Daily cost drag as a fraction of NAV, indexed by date.
    risk_free_annual : float, default 0.0
        Annual risk-free rate, decimal, for the Sharpe and Sortino ratios.
    periods_per_year : float, default `calendar.TRADING_DAYS_PER_YEAR`
        Observations per year, for every annualised figure.

    Returns
    -------
    dict[str, float]
        ``annual_return, annual_vol, sharpe, sortino, max_drawdown, worst_month,
        vol_of_vol, cvar_95, turnover_annual, costs_annual``. Turnover and costs
        are summed and divided by the years ``returns`` covers, ``n / ppy`` (NaN
        when not given); ``vol_of_vol`` is NaN when ``returns`` covers no more
        than one year.
    """
    r = _clean(returns)
    ppy = periods_per_year
    span_years = len(r) / ppy
    has_vov = len(r) > round(ppy)
    return {
        "annual_return": annualized_return(r, ppy),
        "annual_vol": annualized_volatility(r, ppy),
        "sharpe": sharpe_ratio(r, ppy, risk_free_annual),
        "sortino": sortino_ratio(r, ppy, risk_free_annual),
        "max_drawdown": max_drawdown(r),
        "worst_month": worst_month(r),
        "vol_of_vol": vol_of_vol(r, None, ppy) if has_vov else math.nan,
        "cvar_95": cvar(r, 0.95),
        "turnover_annual": _annual_sum(turnover, "turnover", span_years),
        "costs_annual": _annual_sum(costs, "costs", span_years),
    }


METRIC_LABELS = {
    "annual_return": ("Annual return", "{:.2%}"),
    "annual_vol": ("Annual volatility", "{:.2%}"),
    "sharpe": ("Sharpe ratio", "{:.2f}"),
    "sortino": ("Sortino ratio", "{:.2f}"),
    "max_drawdown": ("Max drawdown", "{:.2%}"),
    "worst_month": ("Worst month", "{:.2%}"),
    "vol_of_vol": ("Vol of vol (1y window)", "{:.2%}"),
    "cvar_95": ("CVaR 95% (daily loss)", "{:.2%}"),
    "turnover_annual": ("Turnover per year", "{:.2f}x"),
    "costs_annual": ("Trading costs per year", "{:.2%}"),
}
"""Label and format of each metric of `summarize`, for tables."""
