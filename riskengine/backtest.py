"""The walk-forward backtest: the only loop over dates.

Weights decided at the close of t use data up to t only; they are traded at the
close of t + lag - 1 and earn returns from the next day on. Between trades the
holdings drift with prices. Trading costs are charged on the notional traded, cash
earns the cash rate and borrowed cash pays the cash rate plus a spread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskengine._typing import BoolArray, FloatArray, IndexArray
from riskengine.covariance import ewma_correlations
from riskengine.data import Market
from riskengine.errors import DataError
from riskengine.events import Event, events_frame
from riskengine.metrics import periods_per_year, summarize
from riskengine.policy import target_weights
from riskengine.specs import PolicySpec
from riskengine.volatility import forecast_variance

DAYS_PER_YEAR = 365.0
"""Day count for accruing cash and financing rates (ACT/365)."""


@dataclass(frozen=True)
class BacktestResult:
    """Everything a walk-forward run produced.

    Attributes
    ----------
    policy : PolicySpec
        The resolved policy.
    source, fingerprint : str
        Where the prices came from, and their SHA-256.
    simulated : bool
        True when the prices are simulated.
    weights : pd.DataFrame
        Holdings at each close after trading, as fractions of NAV, shape
        (n_days, n_assets); they earn the next day's returns.
    targets : pd.DataFrame
        Target weights by decision date, shape (n_decisions, n_assets).
    decisions : pd.DataFrame
        Per decision date: the trade date, ex-ante annual vol, scale, gross leverage,
        whether the leverage cap bound, and the number of assets held.
    returns : pd.Series
        Net daily portfolio returns (after costs and financing).
    turnover : pd.Series
        Two-sided turnover ``sum |dw|`` on each day (0 on days without a trade).
    trading_costs : pd.Series
        Daily trading costs, as fractions of NAV.
    financing : pd.Series
        Daily cash interest earned minus financing paid, as fractions of NAV.
    events : pd.DataFrame
        The event log (see `riskengine.events`).
    periods_per_year : float
        Trading days per year of the calendar.
    timings : Mapping
        Seconds spent in each stage.
    """

    policy: PolicySpec
    source: str
    fingerprint: str
    simulated: bool
    weights: pd.DataFrame
    targets: pd.DataFrame
    decisions: pd.DataFrame
    returns: pd.Series
    turnover: pd.Series
    trading_costs: pd.Series
    financing: pd.Series
    events: pd.DataFrame
    periods_per_year: float
    timings: Mapping[str, float]

    def metrics(self) -> dict[str, float]:
        """Summary metrics of the net returns (see `riskengine.metrics.summarize`)."""
        return summarize(self.returns, self.turnover, self.trading_costs)


def run_backtest(
    policy: PolicySpec,
    market: Market,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> BacktestResult:
    """Walk a policy forward over a market.

    Parameters
    ----------
    policy : PolicySpec
        The risk framework to run.
    market : Market
        Validated prices, returns and sleeves.
    start, end : str or Timestamp, optional
        First and last date of the backtest; data before `start` warm up the models,
        data after `end` are never read.

    Returns
    -------
    BacktestResult

    Raises
    ------
    DataError
        If the policy's universe is empty on this market or the period has no days.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    assets = _universe(policy, market)
    returns = (
        market.returns.loc[:end, assets] if end is not None else market.returns[assets]
    )
    first = 0 if start is None else int(returns.index.searchsorted(pd.Timestamp(start)))
    if first >= len(returns) - 1:
        raise DataError(f"{market.source}: no trading days in the requested period")
    ppy = periods_per_year(returns.index)
    timings["setup"] = time.perf_counter() - clock

    clock = time.perf_counter()
    forecast = forecast_variance(returns, policy.model)
    vol = np.sqrt(forecast.variance.to_numpy())
    timings["volatility"] = time.perf_counter() - clock

    clock = time.perf_counter()
    eligible = _eligibility(returns, policy) & np.isfinite(vol) & (vol > 0)
    decision_rows = _decision_rows(returns.index, eligible, policy, first)
    decision_dates = returns.index[decision_rows]
    correlations = ewma_correlations(
        returns, policy.covariance.correlation_half_life_days, decision_dates
    )
    timings["correlation"] = time.perf_counter() - clock

    clock = time.perf_counter()
    sleeves = np.array([market.sleeves[a] for a in assets])
    targets = np.zeros((len(decision_rows), len(assets)))
    rows: list[dict[str, Any]] = []
    lag = policy.rebalance.information_lag_days
    for k, t in enumerate(decision_rows):
        active = eligible[t]
        if active.any():
            allocation = target_weights(
                policy.target,
                vol[t, active],
                correlations[k][np.ix_(active, active)],
                list(sleeves[active]),
                ppy,
            )
            targets[k, active] = allocation.weights
        trade_row = t + lag - 1
        rows.append(
            {
                "date": returns.index[t],
                "traded": returns.index[trade_row]
                if trade_row < len(returns)
                else pd.NaT,
                "ex_ante_vol_annual": allocation.ex_ante_vol * np.sqrt(ppy)
                if active.any()
                else 0.0,
                "scale": allocation.scale if active.any() else 0.0,
                "gross_leverage": float(np.abs(targets[k]).sum()),
                "leverage_capped": bool(active.any() and allocation.leverage_capped),
                "n_assets": int(active.sum()),
            }
        )
    timings["allocation"] = time.perf_counter() - clock

    clock = time.perf_counter()
    trades = {t + lag - 1: targets[k] for k, t in enumerate(decision_rows)}
    bps = np.array([policy.costs.bps_for(s) for s in sleeves]) / 1e4
    ledger = _account(returns, trades, bps, policy, first)
    timings["accounting"] = time.perf_counter() - clock

    index = returns.index[first:]
    events = [*forecast.events, *_universe_events(returns, eligible, first, policy)]
    return BacktestResult(
        policy=policy,
        source=market.source,
        fingerprint=market.fingerprint,
        simulated=market.simulated,
        weights=pd.DataFrame(ledger["weights"], index=index, columns=assets),
        targets=pd.DataFrame(targets, index=decision_dates, columns=assets),
        decisions=pd.DataFrame(rows).set_index("date"),
        returns=pd.Series(ledger["returns"], index=index, name="return"),
        turnover=pd.Series(ledger["turnover"], index=index, name="turnover"),
        trading_costs=pd.Series(ledger["costs"], index=index, name="trading_cost"),
        financing=pd.Series(ledger["financing"], index=index, name="financing"),
        events=events_frame(events),
        periods_per_year=ppy,
        timings=timings,
    )


def _universe(policy: PolicySpec, market: Market) -> list[str]:
    wanted = set(policy.universe.sleeves) or set(market.sleeves.values())
    wanted -= set(policy.universe.exclude_sleeves)
    assets = [a for a in market.assets if market.sleeves[a] in wanted]
    if not assets:
        raise DataError(
            f"{market.source}: no asset of this data belongs to the sleeves the policy "
            f"'{policy.name}' may hold ({', '.join(sorted(wanted)) or 'none'})"
        )
    return assets


def _eligibility(returns: pd.DataFrame, policy: PolicySpec) -> BoolArray:
    """Which assets may be held at each close: enough history, priced recently."""
    observed = returns.notna()
    history = observed.cumsum().to_numpy()
    dates = returns.index.to_numpy()
    last_seen = observed.apply(
        lambda c: pd.Series(np.where(c, dates, np.datetime64("NaT")))
    )
    last_seen = last_seen.ffill().to_numpy(dtype="datetime64[ns]")
    age_days = (dates[:, None] - last_seen) / np.timedelta64(1, "D")
    recent = age_days <= policy.rebalance.stale_after_days
    return (history >= policy.rebalance.min_history_days) & recent


def _decision_rows(
    index: pd.DatetimeIndex, eligible: BoolArray, policy: PolicySpec, first: int
) -> IndexArray:
    """Rows at which the policy decides: its schedule, plus universe changes."""
    frequency = policy.rebalance.frequency
    if frequency == "daily":
        scheduled = np.ones(len(index), dtype=bool)
    else:
        period = index.to_period("W" if frequency == "weekly" else "M").asi8
        scheduled = np.append(period[1:] != period[:-1], True)
    changed = np.append(True, (eligible[1:] != eligible[:-1]).any(axis=1))
    scheduled[first] = True
    rows = np.flatnonzero(scheduled | changed)
    return rows[rows >= first]


def _account(
    returns: pd.DataFrame,
    trades: Mapping[int, FloatArray],
    bps: FloatArray,
    policy: PolicySpec,
    first: int,
) -> dict[str, FloatArray]:
    """Daily accounting: drift, financing, trades and their costs."""
    values = np.nan_to_num(returns.to_numpy(float), nan=0.0)
    elapsed = np.append(0.0, np.diff(returns.index.to_numpy()) / np.timedelta64(1, "D"))
    cash_rate = policy.costs.cash_rate_annual
    borrow_rate = cash_rate + policy.costs.financing_spread_annual
    n_days, n_assets = len(returns) - first, returns.shape[1]
    out = {
        "weights": np.zeros((n_days, n_assets)),
        "returns": np.zeros(n_days),
        "turnover": np.zeros(n_days),
        "costs": np.zeros(n_days),
        "financing": np.zeros(n_days),
    }
    weights = np.zeros(n_assets)
    for i, t in enumerate(range(first, len(returns))):
        cash = 1.0 - weights.sum()
        rate = cash_rate if cash >= 0 else borrow_rate
        financing = cash * rate * elapsed[t] / DAYS_PER_YEAR
        gross = float(weights @ values[t]) + financing
        weights = weights * (1.0 + values[t]) / (1.0 + gross)
        cost = 0.0
        if t in trades:
            traded = np.abs(trades[t] - weights)
            out["turnover"][i] = traded.sum()
            cost = float(traded @ bps)
            weights = trades[t].copy()
        out["weights"][i] = weights
        out["returns"][i] = (1.0 + gross) * (1.0 - cost) - 1.0
        out["costs"][i] = cost
        out["financing"][i] = financing
    return out


def _universe_events(
    returns: pd.DataFrame, eligible: BoolArray, first: int, policy: PolicySpec
) -> list[Event]:
    """Events for assets entering or leaving the investable set, or never entering."""
    events: list[Event] = []
    index = returns.index
    for j, asset in enumerate(returns.columns):
        column = eligible[first:, j]
        if not column.any():
            count = int(returns[asset].notna().sum())
            events.append(
                Event(
                    index[first],
                    "insufficient_history",
                    str(asset),
                    f"{asset} never has {policy.rebalance.min_history_days} returns "
                    f"and a recent price in the period ({count} returns in all)",
                    {"returns": count},
                )
            )
            continue
        changes = np.flatnonzero(column[1:] != column[:-1]) + 1
        for c in changes:
            entered = bool(column[c])
            events.append(
                Event(
                    index[first + c],
                    "asset_added" if entered else "asset_stale",
                    str(asset),
                    f"{asset} "
                    + (
                        "becomes investable"
                        if entered
                        else f"has no price for over "
                        f"{policy.rebalance.stale_after_days} days: sold "
                        "at its last price"
                    ),
                    {},
                )
            )
    return events
