"""One policy's book in a walk: holdings, NAV, peak, decisions and the day's records.

A `Book` is stepped one day at a time by a walk (`riskengine.backtest.walk`): it
drifts its holdings through the day's returns, decides at the close when its
schedule or its drawdown ladder says so, and trades at the close its information
lag allows. The walk that owns it may charge it an execution cost of its own
(`Book.charge`) and give it recomputed decision panels (`Book.replace_panels`), as
the crowded-exit stress test does (`riskengine.stress.engine`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray
from riskengine.backtest.accounting import drift
from riskengine.backtest.daily_correlation import DailyCorrelation
from riskengine.calendar import annual_vol_factor
from riskengine.errors import InfeasibleError
from riskengine.events import Event
from riskengine.policy.context import DecisionContext, DecisionPanels
from riskengine.policy.decision import Decision, PolicyAllocator
from riskengine.policy.limits import SCALING_LIMITS
from riskengine.policy.triggers import TriggerPath
from riskengine.specs import PolicySpec


@dataclass
class BookRecords:
    """What a book recorded over the period, one row per day unless stated.

    Attributes
    ----------
    weights : FloatArray
        Holdings after the day's trade, shape (n_days, n_assets).
    returns : FloatArray
        The day's return of the NAV, net of trading costs.
    turnover : FloatArray
        Notional traded as a fraction of NAV.
    costs : FloatArray
        Trading costs as a fraction of NAV.
    financing : FloatArray
        Interest on cash as a return on the NAV.
    decision_rows : list of int
        Rows (of the walk's calendar) of each decision.
    targets, risk : list of FloatArray
        Each decision's target weights and shares of ex-ante variance.
    decisions : list of dict
        Each decision's summary row (see `BacktestResult.decisions`).
    events : list of Event
        What the decisions reported (solver holds, fallbacks, limit conflicts).
    allocation_seconds, accounting_seconds : float
        Time spent deciding, and drifting and trading.
    """

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


class DayTrade(NamedTuple):
    """A book's trade at one close.

    Attributes
    ----------
    change : FloatArray
        Weights bought (positive) and sold, as fractions of `nav`; zero on a day
        without a trade.
    nav : float
        The NAV at the close before the trade and its costs.
    """

    change: FloatArray
    nav: float


class Book:
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
        self.policy = policy
        self.trigger_seconds = trigger_seconds
        self._paths, self._panels, self._deciding = paths, panels, deciding
        n_assets = len(panels.assets)
        self.records = BookRecords(
            weights=np.zeros((n_days, n_assets)),
            returns=np.zeros(n_days),
            turnover=np.zeros(n_days),
            costs=np.zeros(n_days),
            financing=np.zeros(n_days),
        )
        self._allocator = PolicyAllocator(policy)
        self._bps = np.array([policy.costs.bps_for(s) for s in panels.sleeves]) / 1e4
        self._lag = policy.rebalance.information_lag_days
        self._pending: dict[int, FloatArray] = {}
        self._weights = np.zeros(n_assets)
        self._nav, self._peak, self._traded_before = 1.0, 1.0, False
        self._peak_before_day = 1.0
        self._ladder_level = 1.0

    @property
    def panels(self) -> DecisionPanels:
        """What the book's decisions read."""
        return self._panels

    @property
    def paths(self) -> list[TriggerPath]:
        """The book's triggers over the walk's calendar."""
        return self._paths

    @property
    def deciding(self) -> frozenset[int]:
        """Rows at which the book decides, beside the days its ladder moves."""
        return self._deciding

    @property
    def weights(self) -> FloatArray:
        """Holdings after the last close's trade, as weights of the NAV."""
        return self._weights

    @property
    def nav(self) -> float:
        """The NAV at the last close, after its trade and costs (1 at the start)."""
        return self._nav

    @property
    def peak(self) -> float:
        """The highest NAV at any close so far."""
        return self._peak

    @property
    def seconds(self) -> float:
        """Time spent on this book alone: triggers, allocation, accounting."""
        records = self.records
        return (
            self.trigger_seconds
            + records.allocation_seconds
            + records.accounting_seconds
        )

    def replace_panels(
        self,
        panels: DecisionPanels,
        *,
        paths: list[TriggerPath] | None = None,
        deciding: frozenset[int] | None = None,
    ) -> None:
        """Decide from now on from new panels (e.g. forecasts on a new history).

        Holdings, NAV, peak, pending trades and records are kept.

        Parameters
        ----------
        panels : DecisionPanels
            What the next decisions read; same assets and calendar as before.
        paths : list of TriggerPath, optional
            The triggers recomputed with the panels; kept when None.
        deciding : frozenset of int, optional
            The decision rows recomputed with the panels; kept when None.
        """
        self._panels = panels
        if paths is not None:
            self._paths = paths
        if deciding is not None:
            self._deciding = deciding

    def step(
        self,
        i: int,
        t: int,
        moves: FloatArray,
        accrual: float,
        correlation: DailyCorrelation,
    ) -> DayTrade:
        """Day `t` (the `i`-th of the period): drift, decide at the close, trade.

        A decision at the close of t sees forecasts made at t and the NAV at t; it
        is traded at the close of t + lag - 1 at that day's prices, and earns from
        the day after. Decisions happen on the precomputed rows, and on any day the
        drawdown ladder changes level.

        Returns
        -------
        DayTrade
            The day's trade and the NAV before it.
        """
        policy, records = self.policy, self.records
        self._peak_before_day = self._peak
        clock = time.perf_counter()
        weights, gross, financing = drift(self._weights, moves, accrual, policy.costs)
        self._nav *= 1.0 + gross
        nav_before_trade, drifted = self._nav, weights
        records.accounting_seconds += time.perf_counter() - clock

        drawdown = 1.0 - self._nav / self._peak
        ladder = policy.drawdown_control
        ladder_moved = (
            ladder is not None and ladder.multiplier(drawdown) != self._ladder_level
        )
        if t in self._deciding or ladder_moved:
            clock, correlating = time.perf_counter(), correlation.seconds
            context = self._panels.serve(
                t,
                correlation,
                weights,
                nav=self._nav,
                peak=self._peak,
                first_trade=not self._traded_before,
            )
            target = _decide(policy, self._allocator, context, weights)
            if target.decision is not None:
                self._ladder_level = target.decision.drawdown_multiplier
            ppy = self._panels.periods_per_year
            records.decision_rows.append(t)
            records.targets.append(target.weights)
            records.risk.append(target.risk)
            records.decisions.append(
                _decision_row(target, self._panels.date(t + self._lag - 1), ppy)
            )
            records.events.extend(target.events)
            self._pending[t + self._lag - 1] = target.weights
            correlating = correlation.seconds - correlating  # the walk's stage
            records.allocation_seconds += time.perf_counter() - clock - correlating

        clock = time.perf_counter()
        cost = 0.0
        if t in self._pending:
            new = self._pending.pop(t)
            traded = np.abs(new - weights)
            records.turnover[i] = traded.sum()
            cost = float(traded @ self._bps)
            weights = new.copy()
            self._traded_before = self._traded_before or bool(new.any())
        self._nav *= 1.0 - cost
        self._peak = max(self._peak, self._nav)
        self._weights = weights
        records.weights[i] = weights
        records.returns[i] = (1.0 + gross) * (1.0 - cost) - 1.0
        records.costs[i] = cost
        records.financing[i] = financing
        records.accounting_seconds += time.perf_counter() - clock
        return DayTrade(weights - drifted, nav_before_trade)

    def charge(self, i: int, cost: float) -> None:
        """Charge an execution cost of the walk's own to the day just stepped.

        Folded into day `i`'s return and trading cost as the book records its own
        costs; the peak is re-taken from before the day.

        Parameters
        ----------
        i : int
            The day of the period, the last one stepped.
        cost : float
            The cost as a fraction of the NAV before it (negative: earned).
        """
        records = self.records
        self._nav *= 1.0 - cost
        records.returns[i] = (1.0 + records.returns[i]) * (1.0 - cost) - 1.0
        records.costs[i] = 1.0 - (1.0 - records.costs[i]) * (1.0 - cost)
        self._peak = max(self._peak_before_day, self._nav)


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


def _decision_row(target: _Target, traded: pd.Timestamp, ppy: float) -> dict[str, Any]:
    """A decision's summary row, traded at the close of `traded` (NaT: none)."""
    decision = target.decision
    return {
        "traded": traded,
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
