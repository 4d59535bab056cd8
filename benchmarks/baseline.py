"""The hand-rolled loop the benchmarks compare riskengine with, as a PM writes it.

Per rebalance date and asset: ``arch_model(...).fit()`` of a GARCH(1,1)-t with a
constant mean on the trailing 1000 percent returns, and its one-day forecast; a
pandas EWMA correlation of the returns (half-life 63 days, zero mean); a fresh cvxpy
equal-risk-contribution problem, scaled to a 10% annual ex-ante vol with gross
leverage capped at 2. Each date uses the data up to it alone, so a sample of dates
gives the same answers there as the full loop.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import pandas as pd
from arch import arch_model

WINDOW = 1000
HALF_LIFE = 63.0
TARGET = 0.10
CAP = 2.0
PPY = 252.0
PARAMETERS = ("mu", "omega", "alpha[1]", "beta[1]", "nu")  # arch's names


@dataclass(frozen=True)
class ArchFit:
    """One arch fit: daily vol forecast (a fraction), log-likelihood, parameters."""

    vol: float
    loglikelihood: float
    params: np.ndarray


@dataclass(frozen=True)
class BaselineRun:
    """Targets by date (rows) and asset, the vol forecasts behind them, arch's fits.

    ``fit_seconds`` is the time spent in `fit_arch` (fit and forecast), over
    ``n_fits`` fits.
    """

    targets: pd.DataFrame
    vols: pd.DataFrame
    loglikelihood: pd.DataFrame
    fit_seconds: float
    n_fits: int


def fit_arch(
    history: pd.Series, starting_values: np.ndarray | None = None
) -> ArchFit | None:
    """Fit GARCH(1,1)-t with arch on the last `WINDOW` returns (None if fewer)."""
    history = history.dropna()
    if len(history) < WINDOW:
        return None
    model = arch_model(
        100 * history.iloc[-WINDOW:].to_numpy(),
        mean="Constant",
        vol="GARCH",
        p=1,
        q=1,
        dist="t",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(disp="off", starting_values=starting_values)
    variance = fit.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]
    return ArchFit(float(np.sqrt(variance)) / 100, fit.loglikelihood, fit.params.values)


def ewma_moments(returns: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """Zero-mean EWMA second moments of every pair of columns."""
    return {
        (a, b): (returns[a] * returns[b]).ewm(halflife=HALF_LIFE, adjust=True).mean()
        for a in returns
        for b in returns
    }


def allocate(
    moments: dict[tuple[str, str], pd.Series], date: pd.Timestamp, vols: pd.Series
) -> pd.Series:
    """ERC weights on `vols`' assets at `date`, scaled to TARGET and capped at CAP."""
    names = list(vols.index)
    second = np.array([[moments[a, b][date] for b in names] for a in names])
    scale = np.sqrt(np.diag(second))
    corr = second / np.outer(scale, scale)
    vol = vols.to_numpy(float)
    x = cp.Variable(len(names), pos=True)
    factor = np.linalg.cholesky(corr).T
    problem = cp.Problem(
        cp.Minimize(cp.sum_squares(factor @ x)),
        [cp.sum(cp.log(x)) / len(names) >= 0],
    )
    problem.solve(solver="CLARABEL")
    weights = np.asarray(x.value) / vol
    weights /= weights.sum()
    ex_ante = np.sqrt(weights @ (corr * np.outer(vol, vol)) @ weights * PPY)
    weights *= min(TARGET / ex_ante, CAP / weights.sum())
    return pd.Series(weights, index=names)


def run(returns: pd.DataFrame, dates: pd.DatetimeIndex) -> BaselineRun:
    """The whole loop over `dates`."""
    moments = ewma_moments(returns)
    targets, vols, likelihoods = {}, {}, {}
    fit_seconds = 0.0
    for date in dates:
        clock = time.perf_counter()
        fits = {a: fit_arch(returns[a].loc[:date]) for a in returns}
        fit_seconds += time.perf_counter() - clock
        fits = {a: fit for a, fit in fits.items() if fit is not None}
        if not fits:
            continue
        vols[date] = pd.Series({a: fit.vol for a, fit in fits.items()})
        likelihoods[date] = pd.Series({a: f.loglikelihood for a, f in fits.items()})
        targets[date] = allocate(moments, date, vols[date])
    columns = returns.columns

    def frame(rows: dict) -> pd.DataFrame:
        return pd.DataFrame(rows).T.reindex(columns=columns)

    return BaselineRun(
        frame(targets).fillna(0.0),
        frame(vols),
        frame(likelihoods),
        fit_seconds,
        int(frame(likelihoods).notna().to_numpy().sum()),
    )
