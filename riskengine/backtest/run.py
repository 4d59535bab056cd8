"""The walk-forward backtest: the only loop over dates.

Weights decided at the close of t use data up to t only; they are traded at the
close of t + lag - 1 and earn returns from the next day on. Between trades the
holdings drift with prices. Trading costs are charged on the notional traded, cash
earns the cash rate and borrowed cash pays the cash rate plus a spread.

Every run carries its baseline (see `riskengine.backtest.baseline`). When the
baseline has the same model, correlation, schedule, universe and screen, it is a
second book in the same walk: it reads the same forecast panel and the same
correlation forecasts, and only its decisions and accounting are its own.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskengine._typing import BoolArray, FloatArray
from riskengine.backtest.accounting import drift
from riskengine.backtest.baseline import (
    OVERLAYS_OFF,
    BaselineChoice,
    resolve_baseline,
    shares_panels,
)
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
from riskengine.covariance import CORRELATIONS, Correlation
from riskengine.data.prices import Market
from riskengine.data.screen import ScreenReport, screen_prices
from riskengine.errors import DataError, InfeasibleError
from riskengine.events import Event, events_frame
from riskengine.policy.context import DecisionContext, DecisionPanels
from riskengine.policy.decision import Decision, PolicyAllocator
from riskengine.policy.limits import SCALING_LIMITS, check_feasibility
from riskengine.policy.triggers import (
    SHORT_WINDOW_DAYS,
    TriggerPath,
    forecast_horizon,
    sleeve_multipliers,
    term_volatility,
    trigger_path,
    trigger_signal,
    unwatched_events,
)
from riskengine.progress import Progress
from riskengine.specs import PolicySpec
from riskengine.volatility import VolForecast, forecast_variance


def run_backtest(
    policy: PolicySpec,
    market: Market,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    baseline: BaselineChoice = OVERLAYS_OFF,
    progress: Progress | None = None,
) -> BacktestResult:
    """Walk a policy forward over a market, with its baseline.

    Parameters
    ----------
    policy : PolicySpec
        The risk framework to run.
    market : Market
        Validated prices, returns and sleeves.
    start, end : str or Timestamp, optional
        First and last date of the backtest; data before `start` warm up the models,
        data after `end` are never read.
    baseline : PolicySpec, "overlays_off" or None
        The counterfactual run on the same data in the same call (see
        `riskengine.backtest.baseline`): by default the policy with its overlays
        switched off; a spec to run that policy instead; None for none. When it
        has the policy's model, correlation, schedule, universe and screen (always
        so by default), it walks beside the policy on the same forecast and
        correlation panels; otherwise it is run on its own. A policy without
        overlays is its own baseline and is not run twice.
    progress : Progress, optional
        Told of each GARCH refit and each scheduled decision of the walk (see
        `riskengine.progress`); None (the default) costs nothing.

    Returns
    -------
    BacktestResult
        With ``baseline`` set (itself without a baseline) unless `baseline` is None.

    Raises
    ------
    DataError
        If the policy's universe is empty on this market, the period has no days,
        or the data screen stops on the prices (see `riskengine.data.screen`).
    """
    choice = resolve_baseline(policy, baseline)
    shared = _prepare(policy, market, start, end, progress)
    main = _book(policy, shared, market)
    together = (
        choice is not None
        and choice.spec is not None
        and shares_panels(policy, choice.spec)
        and set(watched_assets(choice.spec, market, shared.assets))
        <= set(shared.signals)
    )
    books = [main]
    if together and choice is not None and choice.spec is not None:
        books.append(_book(choice.spec, shared, market))
    correlation_seconds = _walk_forward(books, shared, progress)
    result = _result(
        main,
        shared,
        market,
        {
            **shared.timings,
            "triggers": main.trigger_seconds,
            "correlation": correlation_seconds,
            "allocation": main.walk.allocation_seconds,
            "accounting": main.walk.accounting_seconds,
        },
    )
    if choice is None:
        return result
    if choice.spec is None:
        own = dataclasses.replace(result, baseline_note=choice.note)
        return dataclasses.replace(own, baseline=own)
    if together:
        side = books[1]
        other = _result(
            side,
            shared,
            market,
            {
                "triggers": side.trigger_seconds,
                "allocation": side.walk.allocation_seconds,
                "accounting": side.walk.accounting_seconds,
            },
        )
        seconds = side.seconds
    else:
        clock = time.perf_counter()
        other = run_backtest(
            choice.spec, market, start=start, end=end, baseline=None, progress=progress
        )
        seconds = time.perf_counter() - clock
    timings = {**result.timings, "baseline": seconds}
    return dataclasses.replace(
        result, baseline=other, baseline_note=choice.note, timings=timings
    )


@dataclass(frozen=True)
class _Shared:
    """What every book of one walk reads: data, screen, forecasts, schedule."""

    assets: list[str]
    signals: list[str]
    screening: ScreenReport
    panel: pd.DataFrame
    returns: pd.DataFrame
    levels: pd.DataFrame
    first: int
    periods_per_year: float
    scheduled: BoolArray
    forecast: VolForecast
    volatility: pd.DataFrame
    eligible: BoolArray
    timings: dict[str, float]


def _prepare(
    policy: PolicySpec,
    market: Market,
    start: str | pd.Timestamp | None,
    end: str | pd.Timestamp | None,
    progress: Progress | None = None,
) -> _Shared:
    """Screen, returns panel, schedule, forecasts and eligibility of a run."""
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
        horizon_days=forecast_horizon(policy),  # the term structure, if read
        start=returns.index[max(first - lookback, 0)],
        refit_dates=returns.index[scheduled],
        progress=progress,
    )
    volatility = forecast.volatility[assets]
    vol = volatility.to_numpy()
    timings["volatility"] = time.perf_counter() - clock
    eligible = eligibility(returns, policy) & np.isfinite(vol) & (vol > 0)
    return _Shared(
        assets=assets,
        signals=signals,
        screening=screening,
        panel=panel,
        returns=returns,
        levels=market.prices.reindex(panel.index)[signals],
        first=first,
        periods_per_year=ppy,
        scheduled=scheduled,
        forecast=forecast,
        volatility=volatility,
        eligible=eligible,
        timings=timings,
    )


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
    allocation_seconds: float = 0.0
    accounting_seconds: float = 0.0


class _Book:
    """One policy's side of a walk: its decisions, holdings, NAV and records.

    Parameters
    ----------
    policy : PolicySpec
        The policy.
    paths : list of TriggerPath
        Its triggers over the walk's calendar.
    panels : DecisionPanels
        What its decisions read (its own trigger multipliers).
    deciding : frozenset of int
        Rows at which it decides, beside the days its drawdown ladder moves.
    n_days : int
        Rows of the backtest period.
    trigger_seconds : float
        Time spent on its triggers.
    """

    def __init__(
        self,
        policy: PolicySpec,
        paths: list[TriggerPath],
        panels: DecisionPanels,
        deciding: frozenset[int],
        n_days: int,
        trigger_seconds: float,
    ) -> None:
        self.policy, self.paths, self.panels = policy, paths, panels
        self.deciding = deciding
        self.trigger_seconds = trigger_seconds
        n_assets = len(panels.assets)
        self.walk = _Walk(
            weights=np.zeros((n_days, n_assets)),
            returns=np.zeros(n_days),
            turnover=np.zeros(n_days),
            costs=np.zeros(n_days),
            financing=np.zeros(n_days),
        )
        self.allocator = PolicyAllocator(policy)
        self.bps = np.array([policy.costs.bps_for(s) for s in panels.sleeves]) / 1e4
        self.lag = policy.rebalance.information_lag_days
        self.pending: dict[int, FloatArray] = {}
        self.weights = np.zeros(n_assets)
        self.nav, self.peak, self.traded_before = 1.0, 1.0, False
        self.ladder_level = 1.0

    @property
    def seconds(self) -> float:
        """Time spent on this book alone: triggers, allocation, accounting."""
        walk = self.walk
        return self.trigger_seconds + walk.allocation_seconds + walk.accounting_seconds

    def step(
        self,
        i: int,
        t: int,
        moves: FloatArray,
        accrual: float,
        correlation: Correlation,
    ) -> None:
        """Day `t` (the `i`-th of the period): drift, decide at the close, trade.

        A decision at the close of t sees forecasts made at t and the NAV at t; it
        is traded at the close of t + lag - 1 at that day's prices, and earns from
        the day after. Decisions happen on the precomputed rows, and on any day the
        drawdown ladder changes level.
        """
        policy, walk, index = self.policy, self.walk, self.panels.index
        clock = time.perf_counter()
        weights, gross, financing = drift(self.weights, moves, accrual, policy.costs)
        self.nav *= 1.0 + gross
        walk.accounting_seconds += time.perf_counter() - clock

        drawdown = 1.0 - self.nav / self.peak
        ladder = policy.drawdown_control
        ladder_moved = (
            ladder is not None and ladder.multiplier(drawdown) != self.ladder_level
        )
        if t in self.deciding or ladder_moved:
            clock = time.perf_counter()
            context = self.panels.serve(
                t,
                correlation,
                weights,
                nav=self.nav,
                peak=self.peak,
                first_trade=not self.traded_before,
            )
            target = _decide(policy, self.allocator, context, weights)
            if target.decision is not None:
                self.ladder_level = target.decision.drawdown_multiplier
            ppy = self.panels.periods_per_year
            walk.decision_rows.append(t)
            walk.targets.append(target.weights)
            walk.risk.append(target.risk)
            walk.decisions.append(_decision_row(target, index, t + self.lag - 1, ppy))
            walk.events.extend(target.events)
            self.pending[t + self.lag - 1] = target.weights
            walk.allocation_seconds += time.perf_counter() - clock

        clock = time.perf_counter()
        cost = 0.0
        if t in self.pending:
            new = self.pending.pop(t)
            traded = np.abs(new - weights)
            walk.turnover[i] = traded.sum()
            cost = float(traded @ self.bps)
            weights = new.copy()
            self.traded_before = self.traded_before or bool(new.any())
        self.nav *= 1.0 - cost
        self.peak = max(self.peak, self.nav)
        self.weights = weights
        walk.weights[i] = weights
        walk.returns[i] = (1.0 + gross) * (1.0 - cost) - 1.0
        walk.costs[i] = cost
        walk.financing[i] = financing
        walk.accounting_seconds += time.perf_counter() - clock


def _book(policy: PolicySpec, shared: _Shared, market: Market) -> _Book:
    """A policy's book on the shared panels: its triggers and decision rows."""
    clock = time.perf_counter()
    assets = shared.assets
    check_feasibility(policy, [market.sleeves[a] for a in assets])
    paths = [
        trigger_path(
            spec,
            trigger_signal(
                spec,
                shared.forecast.volatility,
                shared.panel,
                shared.levels,
                market.sleeves,
                term_volatility(shared.forecast),
            ),
        )
        for spec in policy.triggers
    ]
    n_rows = len(shared.returns)
    multipliers = sleeve_multipliers(paths, market.sleeves, assets, n_rows)
    deciding = decision_rows(
        shared.scheduled, shared.eligible, multipliers, shared.first
    )
    panels = DecisionPanels(
        index=shared.returns.index,
        returns=shared.returns.to_numpy(float),
        vol=shared.volatility.to_numpy(),
        multipliers=multipliers,
        eligible=shared.eligible,
        assets=tuple(assets),
        sleeves=tuple(market.sleeves[a] for a in assets),
        periods_per_year=shared.periods_per_year,
    )
    return _Book(
        policy,
        paths,
        panels,
        frozenset(deciding.tolist()),
        n_rows - shared.first,
        time.perf_counter() - clock,
    )


def _walk_forward(
    books: list[_Book], shared: _Shared, progress: Progress | None
) -> float:
    """The daily loop over every book; returns the seconds spent on correlations.

    The books share the returns, the forecasts and the correlation model (one
    update a day serves them all); each drifts, decides and trades on its own.
    `progress` is told of each of the first book's scheduled decisions.
    """
    returns, first = shared.returns, shared.first
    values = np.nan_to_num(returns.to_numpy(float), nan=0.0)
    accrual = accrual_fractions(returns.index)
    lead = books[0]
    owner = f"policy '{lead.policy.name}'"
    model = CORRELATIONS.lookup(lead.policy.covariance.correlation, owner)
    observations = model.rows(lead.panels.returns, lead.panels.vol)
    correlation = _OncePerDay(model.start(lead.policy.covariance, returns.shape[1]))
    for t in range(first):
        correlation.update(observations[t])
    seconds = 0.0
    label, decided, scheduled = f"{lead.policy.name} decisions", 0, len(lead.deciding)
    for i, t in enumerate(range(first, len(returns))):
        clock = time.perf_counter()
        correlation.update(observations[t])
        seconds += time.perf_counter() - clock
        for book in books:
            book.step(i, t, values[t], accrual[t], correlation)
        if progress is not None and t in lead.deciding:
            decided += 1
            progress(label, decided, scheduled)
    return seconds


class _OncePerDay:
    """A correlation model whose matrix for a set of assets is computed once a day.

    Every book deciding on a day reads the same forecast; the second one reuses
    the first's matrix instead of recomputing it.
    """

    def __init__(self, model: Correlation) -> None:
        self.model = model
        self._matrices: dict[bytes | None, FloatArray] = {}

    def update(self, row: FloatArray) -> None:
        """Take the day's observation; the previous day's matrices are dropped."""
        self.model.update(row)
        self._matrices.clear()

    def matrix(self, assets: BoolArray | None = None) -> FloatArray:
        """The correlation forecast of `assets` (all when None), computed once."""
        key = None if assets is None else np.asarray(assets).tobytes()
        if key not in self._matrices:
            self._matrices[key] = self.model.matrix(assets)
        return self._matrices[key]


def _result(
    book: _Book,
    shared: _Shared,
    market: Market,
    timings: dict[str, float],
) -> BacktestResult:
    """A book's walk as a `BacktestResult` (without a baseline)."""
    policy, walk, paths = book.policy, book.walk, book.paths
    returns, first, assets = shared.returns, shared.first, shared.assets
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
    by_sleeve = targets.T.groupby(list(book.panels.sleeves)).sum().T
    trigger_events = [
        with_sleeve_weights(e, by_sleeve, path.spec.act_on_sleeves)
        for path in paths
        for e in path.events
        if e.date >= index[0]
    ]
    decisions = pd.DataFrame(walk.decisions, index=decision_dates)
    events = [
        *shared.screening.events(),
        *shared.forecast.events,
        *universe_events(returns, shared.eligible, first, policy),
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
        volatility=shared.volatility.iloc[first:],
        decisions=decisions,
        returns=pd.Series(walk.returns, index=index, name="return"),
        turnover=pd.Series(walk.turnover, index=index, name="turnover"),
        trading_costs=pd.Series(walk.costs, index=index, name="trading_cost"),
        financing=pd.Series(walk.financing, index=index, name="financing"),
        events=events_frame(events),
        periods_per_year=shared.periods_per_year,
        timings=timings,
        sleeves={a: market.sleeves[a] for a in assets},
        screen=shared.screening,
        trigger_signals=_by_trigger(paths, "signal", index),
        trigger_multipliers=_by_trigger(paths, "multiplier", index),
    )


def _by_trigger(
    paths: list[TriggerPath], part: str, index: pd.DatetimeIndex
) -> pd.DataFrame:
    """One column per trigger (its name) of each path's `part`, over `index`."""
    columns = {path.spec.name: getattr(path, part).loc[index[0] :] for path in paths}
    return pd.DataFrame(columns, index=index, dtype=float)


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
        **{
            f"{name}_scale": 1.0 if decision is None else decision.scales[name]
            for name in SCALING_LIMITS
        },
        "projected": bool(decision and decision.projected),
        "gross_leverage": float(np.abs(target.weights).sum()),
        "n_assets": target.n_assets,
    }
