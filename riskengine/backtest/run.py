"""The walk-forward backtest: the only loop over dates.

Weights decided at the close of t use data up to t only; they are traded at the
close of t + lag - 1 and earn returns from the next day on. Between trades the
holdings drift with prices. Trading costs are charged on the notional traded, cash
earns the cash rate and borrowed cash pays the cash rate plus a spread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray
from riskengine.backtest.accounting import drift
from riskengine.backtest.event_log import (
    ladder_events,
    universe_events,
    with_sleeve_weights,
)
from riskengine.backtest.result import BacktestResult
from riskengine.backtest.schedule import (
    decision_rows,
    eligibility,
    scheduled_rows,
    universe_of,
    watched_assets,
)
from riskengine.calendar import accrual_fractions, annual_vol_factor, periods_per_year
from riskengine.covariance import CORRELATIONS
from riskengine.data.prices import Market
from riskengine.data.screen import screen_prices
from riskengine.errors import DataError, InfeasibleError
from riskengine.events import Event, events_frame
from riskengine.policy.context import DecisionContext, DecisionPanels
from riskengine.policy.decision import Decision, PolicyAllocator
from riskengine.policy.limits import check_feasibility
from riskengine.policy.triggers import (
    SHORT_WINDOW_DAYS,
    sleeve_multipliers,
    trigger_path,
    trigger_signal,
    unwatched_events,
)
from riskengine.specs import PolicySpec
from riskengine.volatility import forecast_variance


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
        If the policy's universe is empty on this market, the period has no days,
        or the data screen stops on the prices (see `riskengine.data.screen`).
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    assets = universe_of(policy, market)
    # what the triggers read beside the held assets (e.g. the VIX index, never held)
    signals = [*assets, *watched_assets(policy, market, assets)]
    # the data screen, before any model: stops on what is almost surely an error
    screening = screen_prices(
        market.prices.loc[:end, signals].dropna(how="all"),
        policy.screen,
        source=market.source,
        daily_columns=market.daily_columns,
    )
    panel = (
        market.returns.loc[:end, signals]
        if end is not None
        else market.returns[signals]
    )
    returns = panel[assets]
    first = 0 if start is None else int(returns.index.searchsorted(pd.Timestamp(start)))
    if first >= len(returns) - 1:
        raise DataError(f"{market.source}: no trading days in the requested period")
    ppy = periods_per_year(assets, market.daily_columns)
    check_feasibility(policy, [market.sleeves[a] for a in assets])
    timings["setup"] = time.perf_counter() - clock

    clock = time.perf_counter()
    scheduled = scheduled_rows(returns.index, policy, market)
    # forecasts are needed from the first day, and earlier for the triggers' lookback
    lookback = max(
        (t.lookback_days + 2 * SHORT_WINDOW_DAYS for t in policy.triggers), default=0
    )
    forecast = forecast_variance(
        panel,
        policy.model,
        start=returns.index[max(first - lookback, 0)],
        refit_dates=returns.index[scheduled],
    )
    volatility = forecast.volatility[assets]
    vol = volatility.to_numpy()
    timings["volatility"] = time.perf_counter() - clock

    clock = time.perf_counter()
    levels = market.prices.reindex(panel.index)[signals]
    paths = [
        trigger_path(
            spec,
            trigger_signal(spec, forecast.volatility, panel, levels, market.sleeves),
        )
        for spec in policy.triggers
    ]
    multipliers = sleeve_multipliers(paths, market.sleeves, assets, len(returns))
    eligible = eligibility(returns, policy) & np.isfinite(vol) & (vol > 0)
    deciding = decision_rows(scheduled, eligible, multipliers, first)
    timings["triggers"] = time.perf_counter() - clock

    inputs = _WalkInputs(
        returns=returns,
        panels=DecisionPanels(
            index=returns.index,
            returns=returns.to_numpy(float),
            vol=vol,
            multipliers=multipliers,
            eligible=eligible,
            assets=tuple(assets),
            sleeves=tuple(market.sleeves[a] for a in assets),
            periods_per_year=ppy,
        ),
        decision_rows=frozenset(deciding.tolist()),
        first=first,
    )
    walk = _walk_forward(policy, inputs, PolicyAllocator(policy, ppy), ppy)
    timings["correlation"] = walk.correlation_seconds
    timings["allocation"] = walk.allocation_seconds
    timings["accounting"] = walk.accounting_seconds
    decision_dates = returns.index[walk.decision_rows]

    index = returns.index[first:]
    targets = pd.DataFrame(
        np.array(walk.targets).reshape(-1, len(assets)),
        index=decision_dates,
        columns=assets,
    )
    risk = pd.DataFrame(
        np.array(walk.risk).reshape(-1, len(assets)),
        index=decision_dates,
        columns=assets,
    )
    by_sleeve = targets.T.groupby(list(inputs.panels.sleeves)).sum().T
    trigger_events = [
        with_sleeve_weights(e, by_sleeve, path.spec.act_on_sleeves)
        for path in paths
        for e in path.events
        if e.date >= index[0]
    ]
    decisions = pd.DataFrame(walk.decisions, index=decision_dates)
    events = [
        *screening.events(),
        *forecast.events,
        *universe_events(returns, eligible, first, policy),
        *trigger_events,
        *unwatched_events(policy.triggers, market.sleeves, index[0]),
        *ladder_events(decisions, policy),
        *walk.events,
    ]
    return BacktestResult(
        policy=policy,
        source=market.source,
        fingerprint=market.fingerprint,
        simulated=market.simulated,
        weights=pd.DataFrame(walk.weights, index=index, columns=assets),
        targets=targets,
        risk_contributions=risk,
        volatility=volatility.iloc[first:],
        decisions=decisions,
        returns=pd.Series(walk.returns, index=index, name="return"),
        turnover=pd.Series(walk.turnover, index=index, name="turnover"),
        trading_costs=pd.Series(walk.costs, index=index, name="trading_cost"),
        financing=pd.Series(walk.financing, index=index, name="financing"),
        events=events_frame(events),
        periods_per_year=ppy,
        timings=timings,
        sleeves={a: market.sleeves[a] for a in assets},
        screen=screening,
    )


@dataclass(frozen=True)
class _WalkInputs:
    returns: pd.DataFrame
    panels: DecisionPanels
    decision_rows: frozenset[int]
    first: int


@dataclass
class _Walk:
    weights: FloatArray
    returns: FloatArray
    turnover: FloatArray
    costs: FloatArray
    financing: FloatArray
    decision_rows: list[int] = field(default_factory=list)
    targets: list[FloatArray] = field(default_factory=list)
    risk: list[FloatArray] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    correlation_seconds: float = 0.0
    allocation_seconds: float = 0.0
    accounting_seconds: float = 0.0


def _walk_forward(
    policy: PolicySpec, inputs: _WalkInputs, allocator: PolicyAllocator, ppy: float
) -> _Walk:
    """The daily loop: drift and financing, decisions at the close, trades, costs.

    A decision at the close of t sees forecasts made at t and the NAV at t; it is
    traded at the close of t + lag - 1 at that day's prices, and earns from the day
    after. Decisions happen on the precomputed rows, and on any day the drawdown
    ladder changes level.
    """
    returns, first = inputs.returns, inputs.first
    values = np.nan_to_num(returns.to_numpy(float), nan=0.0)
    accrual = accrual_fractions(returns.index)
    n_days, n_assets = len(returns) - first, returns.shape[1]
    walk = _Walk(
        weights=np.zeros((n_days, n_assets)),
        returns=np.zeros(n_days),
        turnover=np.zeros(n_days),
        costs=np.zeros(n_days),
        financing=np.zeros(n_days),
    )
    bps = np.array([policy.costs.bps_for(s) for s in inputs.panels.sleeves]) / 1e4
    lag = policy.rebalance.information_lag_days
    pending: dict[int, FloatArray] = {}
    weights = np.zeros(n_assets)
    nav, peak, traded_before = 1.0, 1.0, False
    owner = f"policy '{policy.name}'"
    model = CORRELATIONS.lookup(policy.covariance.correlation, owner)
    observations = model.rows(inputs.panels.returns, inputs.panels.vol)
    correlation = model.start(policy.covariance, n_assets)
    for t in range(first):
        correlation.update(observations[t])
    ladder, ladder_level = policy.drawdown_control, 1.0
    for i, t in enumerate(range(first, len(returns))):
        clock = time.perf_counter()
        correlation.update(observations[t])
        walk.correlation_seconds += time.perf_counter() - clock
        clock = time.perf_counter()
        weights, gross, financing = drift(weights, values[t], accrual[t], policy.costs)
        nav *= 1.0 + gross
        walk.accounting_seconds += time.perf_counter() - clock

        drawdown = 1.0 - nav / peak
        ladder_moved = (
            ladder is not None and ladder.multiplier(drawdown) != ladder_level
        )
        if t in inputs.decision_rows or ladder_moved:
            clock = time.perf_counter()
            context = inputs.panels.serve(
                t,
                correlation,
                weights,
                nav=nav,
                peak=peak,
                first_trade=not traded_before,
            )
            target = _decide(policy, allocator, context, weights)
            if target.decision is not None:
                ladder_level = target.decision.drawdown_multiplier
            walk.decision_rows.append(t)
            walk.targets.append(target.weights)
            walk.risk.append(target.risk)
            walk.decisions.append(
                _decision_row(target, returns.index, t + lag - 1, ppy)
            )
            walk.events.extend(target.events)
            pending[t + lag - 1] = target.weights
            walk.allocation_seconds += time.perf_counter() - clock

        clock = time.perf_counter()
        cost = 0.0
        if t in pending:
            new = pending.pop(t)
            traded = np.abs(new - weights)
            walk.turnover[i] = traded.sum()
            cost = float(traded @ bps)
            weights = new.copy()
            traded_before = traded_before or bool(new.any())
        net = (1.0 + gross) * (1.0 - cost) - 1.0
        nav *= 1.0 - cost
        peak = max(peak, nav)
        walk.weights[i] = weights
        walk.returns[i] = net
        walk.costs[i] = cost
        walk.financing[i] = financing
        walk.accounting_seconds += time.perf_counter() - clock
    return walk


@dataclass(frozen=True)
class _Target:
    """One decision's target weights over all assets, with what produced them."""

    weights: FloatArray
    risk: FloatArray  # shares of ex-ante variance; NaN where previous weights held
    decision: Decision | None
    n_assets: int
    drawdown: float
    events: tuple[Event, ...] = ()


def _decide(
    policy: PolicySpec,
    allocator: PolicyAllocator,
    context: DecisionContext,
    current: FloatArray,
) -> _Target:
    """Target weights over all assets from what is known at the context's close."""
    active, date, drawdown = context.active, context.date, context.drawdown
    weights = np.zeros(len(current))
    if not context.assets:
        return _Target(weights, weights.copy(), None, 0, drawdown)
    try:
        decision = allocator.decide(context)
    except InfeasibleError as exc:
        if policy.limits.on_solver_failure == "raise":
            raise InfeasibleError(
                f"policy '{policy.name}' @ {date.date()}: {exc}"
            ) from exc
        event = Event(
            date,
            "solver_hold",
            policy.name,
            f"{policy.name} @ {date.date()}: {exc}; previous weights held",
            {"reason": str(exc)},
        )
        unknown = np.full(len(current), np.nan)
        return _Target(
            current.copy(), unknown, None, int(active.sum()), drawdown, (event,)
        )
    weights[active] = decision.weights
    risk = np.zeros(len(current))
    risk[active] = decision.risk_contributions
    events: tuple[Event, ...] = ()
    if decision.broken_limits:
        fields = ", ".join(decision.broken_limits)
        message = (
            f"{policy.name} @ {date.date()}: the sleeve risk caps "
            f"(limits.sleeve_max_risk) could not be met together with {fields}; "
            "the risk caps were kept"
        )
        details = {"broken": list(decision.broken_limits)}
        events = (Event(date, "limit_conflict", policy.name, message, details),)
    events += tuple(
        Event(
            date,
            "solver_fallback",
            policy.name,
            f"{policy.name} @ {date.date()}: {fallback}",
            {"fallback": fallback},
        )
        for fallback in decision.fallbacks
    )
    return _Target(weights, risk, decision, int(active.sum()), drawdown, events)


def _decision_row(
    target: _Target, index: pd.DatetimeIndex, trade_row: int, ppy: float
) -> dict[str, Any]:
    decision = target.decision
    return {
        "traded": index[trade_row] if trade_row < len(index) else pd.NaT,
        "ex_ante_vol_annual": 0.0
        if decision is None
        else decision.ex_ante_vol * annual_vol_factor(ppy),
        "vol_scale": 0.0 if decision is None else decision.vol_scale,
        "leverage_capped": bool(decision and decision.leverage_capped),
        "drawdown": target.drawdown,
        "drawdown_multiplier": 1.0
        if decision is None
        else decision.drawdown_multiplier,
        "risk_limit_scale": 1.0 if decision is None else decision.risk_limit_scale,
        "margin_scale": 1.0 if decision is None else decision.margin_scale,
        "projected": bool(decision and decision.projected),
        "gross_leverage": float(np.abs(target.weights).sum()),
        "n_assets": target.n_assets,
    }
