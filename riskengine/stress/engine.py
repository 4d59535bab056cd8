"""The crowd's walk: every fund decides as in its backtest, on the impacted path.

The funds are the backtest's own books (`riskengine.backtest.book`): each is set
up as `run_backtest` sets up a policy (`riskengine.backtest.walk`: screen, forecast
panels, triggers, schedule) and stepped one day at a time with the book's own
`step` (drift, decision from a point-in-time `DecisionContext`, trade). What this
module adds is the loop across funds and the feedback between them:

1. at the close of t every fund drifts, decides from data up to t and trades;
2. its trade (weights) times its NAV and AUM is a dollar order; the orders are
   netted per asset across funds;
3. from the scenario's start on, the net order moves the asset's log price by the
   square-root law (`riskengine.stress.impact`) from row t + 1 on, and each fund
   pays its share of the day's impact on its own trade at t;
4. before the next close, every fund's forecast panels are recomputed over the
   impacted history (`_Fund.refresh`): vol forecasts, trigger signals and
   multipliers, eligibility, decision rows and the correlation's inputs.

The scenario's margin-hike schedule reaches the funds with a ``[margin]`` rule
through their decision panels (`DecisionPanels.margin_multipliers`): from the
close of a hike's date, the asset's margin per unit is multiplied by it.

Forecasts on the impacted path are recomputed from the same models exactly as the
backtest computes them (EWMA recursively; GARCH families refitted on their
schedule and filtered between refits, on the impacted returns). Rows up to t are
final when the fund decides at t, so the walk is causal: truncating the data after
a day leaves everything up to that day unchanged. Without impact (zero AUM, Y = 0)
nothing is ever recomputed, and every fund's walk is its ordinary backtest, bit
for bit.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray
from riskengine.backtest.book import Book, DayTrade
from riskengine.backtest.daily_correlation import DailyCorrelation
from riskengine.backtest.result import BacktestResult
from riskengine.backtest.walk import (
    WalkInputs,
    book_result,
    open_book,
    prepare_walk,
)
from riskengine.blas import one_blas_thread
from riskengine.calendar import accrual_fractions
from riskengine.covariance import CORRELATIONS, CorrelationModel
from riskengine.data.prices import Market
from riskengine.errors import DataError, SpecError
from riskengine.policy.signals import forecast_horizon
from riskengine.stress.impact import decay_kernel, impacted_returns, peak_impact
from riskengine.stress.scenario import Fund, Scenario
from riskengine.volatility import ewma_variance, forecast_variance


@dataclass(frozen=True)
class CrowdPath:
    """One walk of the crowd over a scenario, with or without feedback.

    All frames cover the scenario's rows (its start to its end) unless stated.

    Attributes
    ----------
    funds : dict of str to BacktestResult
        Each fund's walk (from the warm-up's first row), by policy name; its
        returns include the impact it paid.
    base_returns : pd.DataFrame
        The exogenous path's returns of the traded assets (no impact).
    returns : pd.DataFrame
        The returns the funds traded on (with impact when there was any).
    net_orders : pd.DataFrame
        Net dollar orders per asset, decided and traded at each close.
    fund_orders : dict of str to pd.DataFrame
        Each fund's dollar orders per asset.
    impact : pd.DataFrame
        Peak log-price impact of each day's net order (shows from the next row).
    daily_vol : pd.DataFrame
        Daily vol in the law, EWMA on the path up to each close.
    impact_cost : pd.DataFrame
        Each fund's impact cost per day, dollars (negative: earned).
    nav : pd.DataFrame
        Each fund's NAV in dollars at each close.
    start_holdings : pd.DataFrame
        Each fund's dollar holding of each asset at the close before the start
        (funds x traded assets).
    seconds : float
        Wall time of the walk.
    """

    funds: dict[str, BacktestResult]
    base_returns: pd.DataFrame
    returns: pd.DataFrame
    net_orders: pd.DataFrame
    fund_orders: dict[str, pd.DataFrame]
    impact: pd.DataFrame
    daily_vol: pd.DataFrame
    impact_cost: pd.DataFrame
    nav: pd.DataFrame
    start_holdings: pd.DataFrame
    seconds: float


def run_crowd(
    scenario: Scenario, market: Market, *, feedback: bool = True
) -> CrowdPath:
    """Walk the scenario's funds together over its window.

    Parameters
    ----------
    scenario : Scenario
        Window, shock, funds, impact model and ADV.
    market : Market
        The price file the scenario replays.
    feedback : bool, default True
        False walks the funds on the exogenous path without impact (the ordinary
        backtests of the funds on it).

    Returns
    -------
    CrowdPath

    Raises
    ------
    DataError
        If the data do not cover the window and its warm-up, or a traded asset
        has no ADV.
    """
    clock = time.perf_counter()
    index = market.returns.index
    first, start_row, end_row = _rows(scenario, index, market.source)
    walk_start, end = index[first], index[end_row]
    funds = [
        _Fund(fund, market, walk_start, end, market.returns.loc[:end])
        for fund in scenario.funds
    ]
    for k, hike in enumerate(scenario.margin_hikes):
        if hike.asset not in market.assets:
            raise SpecError(
                f"{scenario.path}: margin_hikes[{k}].asset: {hike.asset} is not in "
                f"{market.source} ({', '.join(market.assets)})"
            )
    for fund in funds:
        fund.hike_margins(scenario)
    traded = [a for a in market.assets if any(a in f.inputs.assets for f in funds)]
    missing = [a for a in traded if a not in scenario.adv]
    if missing:
        raise DataError(
            f"{scenario.path}: adv: no average daily volume for {', '.join(missing)} "
            "(held by the funds): add it to the scenario's [adv] table"
        )
    base = _shocked(market, scenario, traded, start_row, end_row)
    if scenario.shock.kind != "replay":
        for fund in funds:
            fund.refresh(base)
    crowd = _Crowd(scenario, funds, traded, base.to_numpy(float), start_row)
    with one_blas_thread():  # as in run_backtest
        crowd.walk(feedback)
    frame = pd.DataFrame(crowd.returns_now, index=base.index, columns=traded)
    window = index[start_row : end_row + 1]

    def scenario_rows(array: FloatArray, columns: list[str]) -> pd.DataFrame:
        return pd.DataFrame(array[start_row - first :], index=window, columns=columns)

    names = [f.spec.policy.name for f in funds]
    return CrowdPath(
        funds={f.spec.policy.name: f.result(market) for f in funds},
        base_returns=base.loc[window],
        returns=frame.loc[window],
        net_orders=scenario_rows(crowd.net_orders, traded),
        fund_orders={
            name: scenario_rows(orders, traded)
            for name, orders in zip(names, crowd.fund_orders, strict=True)
        },
        impact=scenario_rows(crowd.impact, traded),
        daily_vol=scenario_rows(crowd.daily_vol, traded),
        impact_cost=scenario_rows(crowd.impact_cost, names),
        nav=scenario_rows(crowd.nav, names),
        start_holdings=pd.DataFrame(crowd.start_holdings, index=names, columns=traded),
        seconds=time.perf_counter() - clock,
    )


def _rows(
    scenario: Scenario, index: pd.DatetimeIndex, source: str
) -> tuple[int, int, int]:
    """Rows of the warm-up's first day, the scenario's start and its end."""
    start, end = pd.Timestamp(scenario.start), pd.Timestamp(scenario.end)
    if index.size == 0 or start < index[0] or end > index[-1]:
        covered = (
            f"{index[0].date()} to {index[-1].date()}" if index.size else "nothing"
        )
        raise DataError(
            f"{source}: scenario '{scenario.name}' ({scenario.path}) needs "
            f"{scenario.start} to {scenario.end}; the data cover {covered}"
        )
    start_row = int(index.searchsorted(start))
    end_row = int(index.searchsorted(end, side="right")) - 1
    first = start_row - scenario.warmup_days
    if first < 0 or end_row <= start_row:
        raise DataError(
            f"{source}: scenario '{scenario.name}' ({scenario.path}): "
            f"warmup_days ({scenario.warmup_days}) rows before {scenario.start} and a "
            "day after it are needed; the data have "
            f"{start_row} before it and {end_row - start_row} after"
        )
    return first, start_row, end_row


def _shocked(
    market: Market, scenario: Scenario, traded: list[str], start_row: int, end_row: int
) -> pd.DataFrame:
    """The exogenous returns of the traded assets up to the end (see `ShockSpec`)."""
    base = market.returns.iloc[: end_row + 1][traded].copy()
    shock = scenario.shock
    if shock.kind == "vol_multiplier":
        unknown = sorted(set(shock.sleeves) - set(market.sleeves.values()))
        if unknown:
            raise SpecError(
                f"{scenario.path}: shock.sleeves: no asset of the data is in "
                f"{', '.join(unknown)}"
            )
        hit = [a for a in traded if market.sleeves[a] in shock.sleeves]
        base.iloc[start_row:, base.columns.get_indexer(hit)] *= shock.multiplier
    return base


class _Fund:
    """One fund of the crowd: the backtest's book of its policy, and its AUM."""

    def __init__(
        self,
        spec: Fund,
        market: Market,
        walk_start: pd.Timestamp,
        end: pd.Timestamp,
        base: pd.DataFrame,
    ) -> None:
        self.spec, self.market = spec, market
        policy = spec.policy
        self.inputs: WalkInputs = prepare_walk(policy, market, walk_start, end)
        self.origin = self.inputs
        self.book: Book = open_book(policy, self.inputs, market)
        owner = f"policy '{policy.name}'"
        self.model: CorrelationModel = CORRELATIONS.lookup(
            policy.covariance.correlation, owner
        )
        self.observations = self._observations()
        self.correlation = DailyCorrelation(
            self.model.start(policy.covariance, len(self.inputs.assets))
        )
        for t in range(self.inputs.first):
            self.correlation.update(self.observations[t])
        self.changed = [c for c in self.inputs.panel.columns if c in base.columns]
        self.hikes: FloatArray | None = None

    def hike_margins(self, scenario: Scenario) -> None:
        """Set the scenario's margin hikes in the panels, if the fund is margined.

        Each hike holds from the first row on or after its date; a fund without
        a ``[margin]`` rule, or holding none of the hiked assets, is untouched.
        """
        assets = self.inputs.assets
        hikes = [h for h in scenario.margin_hikes if h.asset in assets]
        if self.spec.policy.margin is None or not hikes:
            self.hikes = None
            return
        index = self.inputs.returns.index
        self.hikes = np.ones((len(index), len(assets)))
        for hike in hikes:
            row = int(index.searchsorted(pd.Timestamp(hike.date)))
            self.hikes[row:, assets.index(hike.asset)] = hike.multiplier
        self._set_hikes()

    def _set_hikes(self) -> None:
        if self.hikes is not None:
            self.book.replace_panels(
                dataclasses.replace(self.book.panels, margin_multipliers=self.hikes)
            )

    def _observations(self) -> FloatArray:
        panels = self.book.panels
        return self.model.rows(panels.returns, panels.vol)

    def refresh(self, returns: pd.DataFrame) -> None:
        """Recompute the fund's panels over a new history of the traded assets.

        Forecasts, trigger signals and multipliers, eligibility and decision rows
        are recomputed as `run_backtest` computes them; the book's state (holdings,
        NAV, pending trades, records) is kept.
        """
        origin, policy = self.origin, self.spec.policy
        panel = origin.panel.copy()
        panel[self.changed] = returns[self.changed].to_numpy()
        levels = origin.levels.copy()
        before = origin.panel[self.changed].fillna(0.0).to_numpy() + 1.0
        after = panel[self.changed].fillna(0.0).to_numpy() + 1.0
        levels[self.changed] = levels[self.changed].to_numpy() * np.cumprod(
            after / before, axis=0
        )
        index = panel.index
        forecast = forecast_variance(
            panel,
            policy.model,
            horizon_days=forecast_horizon(policy),  # the term structure, if read
            start=origin.forecast_start,
            refit_dates=index[origin.scheduled],
        )
        volatility = forecast.volatility[origin.assets]
        vol = volatility.to_numpy()
        held = panel[origin.assets]
        self.inputs = dataclasses.replace(
            origin,
            panel=panel,
            returns=held,
            levels=levels,
            forecast=forecast,
            volatility=volatility,
            # history and staleness read only which days have a price, which
            # impact never changes: `priced` is the origin's
            eligible=origin.priced & np.isfinite(vol) & (vol > 0),
            key="",  # prices moved by impact: no walk's inputs (run_backtest refuses)
        )
        fresh = open_book(policy, self.inputs, self.market)
        self.book.replace_panels(
            fresh.panels, paths=fresh.paths, deciding=fresh.deciding
        )
        self._set_hikes()
        self.observations = self._observations()

    def step(self, i: int, t: int, accrual: float) -> DayTrade:
        """Day t: the book's own step; returns its trade and the NAV before it."""
        moves = np.nan_to_num(self.book.panels.returns[t], nan=0.0)
        self.correlation.update(self.observations[t])
        return self.book.step(i, t, moves, accrual, self.correlation)

    def charge(self, i: int, cost: float) -> None:
        """Charge the day's impact cost (a fraction of NAV) to the book's day `i`.

        Folded into the day's return and trading cost (see `Book.charge`).
        """
        self.book.charge(i, cost)

    def result(self, market: Market) -> BacktestResult:
        """The fund's walk as a `BacktestResult` (without a baseline)."""
        book = self.book
        records = book.records
        timings = {
            **self.inputs.timings,
            "triggers": book.trigger_seconds,
            "allocation": records.allocation_seconds,
            "accounting": records.accounting_seconds,
        }
        return book_result(book, self.inputs, market, timings)


class _Crowd:
    """The daily loop over the funds, netting their orders into impact."""

    def __init__(
        self,
        scenario: Scenario,
        funds: list[_Fund],
        traded: list[str],
        base: FloatArray,
        start_row: int,
    ) -> None:
        self.scenario, self.funds, self.traded = scenario, funds, traded
        self.base, self.start_row = base, start_row
        self.first = funds[0].inputs.first
        n_rows, n_assets = base.shape
        n_days, n_funds = n_rows - self.first, len(funds)
        self.adv = np.array([scenario.adv[a] for a in traded])
        self.returns_now = base.copy()
        self.log_impact = np.zeros_like(base)
        self.net_orders = np.zeros((n_days, n_assets))
        self.fund_orders = [np.zeros((n_days, n_assets)) for _ in funds]
        self.impact = np.zeros((n_days, n_assets))
        self.daily_vol = np.full((n_days, n_assets), np.nan)
        self.impact_cost = np.zeros((n_days, n_funds))
        self.nav = np.zeros((n_days, n_funds))
        self.start_holdings = np.zeros((n_funds, n_assets))
        self.scale = [fund.spec.aum for fund in funds]
        self.columns = [
            np.array([traded.index(a) for a in f.inputs.assets]) for f in funds
        ]

    def walk(self, feedback: bool) -> None:
        """Every day: refresh after impact, step every fund, net, impact, charge."""
        spec = self.scenario.impact
        index = self.funds[0].inputs.returns.index
        accrual = accrual_fractions(index)
        n_rows = self.base.shape[0]
        kernel = decay_kernel(n_rows, spec)
        stale = False
        for i, t in enumerate(range(self.first, n_rows)):
            if stale:
                self.returns_now = impacted_returns(self.base, self.log_impact)
                frame = pd.DataFrame(self.returns_now, index=index, columns=self.traded)
                for fund in self.funds:
                    fund.refresh(frame)
                stale = False
            if t == self.start_row:
                self._record_holdings()
            trades, navs = [], []
            for k, fund in enumerate(self.funds):
                traded, nav = fund.step(i, t, accrual[t])
                self.fund_orders[k][i, self.columns[k]] = traded * nav * self.scale[k]
                trades.append(traded)
                navs.append(nav)
                self.net_orders[i] += self.fund_orders[k][i]
            if t >= self.start_row:
                history = self.returns_now[: t + 1]
                self.daily_vol[i] = np.sqrt(ewma_variance(history, spec.vol_decay)[t])
            if feedback and t >= self.start_row:
                jump = peak_impact(
                    self.net_orders[i], self.daily_vol[i], self.adv, spec
                )
                if np.any(jump != 0.0):
                    self.impact[i] = jump
                    self.log_impact[t + 1 :] += np.outer(kernel[: n_rows - t - 1], jump)
                    stale = True
                    for k, fund in enumerate(self.funds):
                        paid = trades[k] @ jump[self.columns[k]]
                        cost = spec.execution_share * float(paid)
                        fund.charge(i, cost)
                        self.impact_cost[i, k] = cost * navs[k] * self.scale[k]
            for k, fund in enumerate(self.funds):
                self.nav[i, k] = fund.book.nav * self.scale[k]

    def _record_holdings(self) -> None:
        """Dollars per unit of NAV, and holdings, at the close before the start.

        Each fund's AUM is its NAV at that close; before it, orders are counted
        in units of the AUM per unit of the walk's starting NAV.
        """
        for k, fund in enumerate(self.funds):
            self.scale[k] = fund.spec.aum / fund.book.nav
            self.start_holdings[k, self.columns[k]] = fund.book.weights * fund.spec.aum
