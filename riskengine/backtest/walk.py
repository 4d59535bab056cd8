"""The walk's inputs, its daily loop and its books read back as results.

`prepare_walk` screens the data and computes what every book of one walk reads
(returns, forecasts, schedule, eligibility); `open_book` sets a policy's book on
them (its triggers and decision rows); `walk_forward` is the daily loop over the
books; `book_result` turns a book's records into a `BacktestResult`. The
backtest (`riskengine.backtest.run`) and the crowded-exit stress test
(`riskengine.stress.engine`) both walk their books with these.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskengine._typing import BoolArray
from riskengine.backtest.book import Book
from riskengine.backtest.daily_correlation import DailyCorrelation, KeptCorrelations
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
from riskengine.calendar import accrual_fractions, periods_per_year
from riskengine.covariance import CORRELATIONS
from riskengine.data.prices import Market
from riskengine.data.screen import ScreenReport, screen_prices
from riskengine.errors import DataError
from riskengine.events import events_frame
from riskengine.policy.allocators import check_asset_budgets
from riskengine.policy.context import DecisionPanels
from riskengine.policy.limits import check_feasibility
from riskengine.policy.signals import (
    SHORT_WINDOW_DAYS,
    forecast_horizon,
    term_volatility,
    trigger_signal,
)
from riskengine.policy.triggers import (
    TriggerPath,
    inert_events,
    sleeve_multipliers,
    trigger_path,
    unwatched_events,
)
from riskengine.progress import Progress
from riskengine.specs import CovarianceSpec, PolicySpec, TriggerSpec
from riskengine.volatility import VolForecast, forecast_variance


@dataclass(frozen=True)
class WalkInputs:
    """What every book of one walk reads: data, screen, forecasts, schedule.

    Attributes
    ----------
    assets : list of str
        The policy's universe on the market.
    signals : list of str
        `assets` and what the triggers read beside them (never held).
    screening : ScreenReport
        The data screen of the prices.
    panel : pd.DataFrame
        Returns of `signals`, up to the end.
    returns : pd.DataFrame
        Returns of `assets`, up to the end.
    levels : pd.DataFrame
        Prices of `signals` on the panel's dates.
    first : int
        Row of the backtest's first day; rows before it warm up the models.
    periods_per_year : float
        Rows per year of the calendar.
    scheduled : BoolArray
        Rows of the scheduled decisions (and the models' refits).
    forecast_start : pd.Timestamp
        First day forecast: earlier than `first` by the triggers' lookback.
    forecast : VolForecast
        The policy model's forecasts of `signals`.
    volatility : pd.DataFrame
        Forecast daily vol of `assets`.
    priced : BoolArray
        Which asset has `min_history_days` of returns and a recent price at each
        row (`schedule.eligibility`).
    eligible : BoolArray
        Which asset may be held at each row: `priced`, with a usable vol.
    timings : dict of str to float
        Seconds spent on the setup and the forecasts.
    key : str
        `walk_key` of the policy, market and period they were prepared for.
    paths : dict of TriggerSpec to TriggerPath
        Each trigger's path on these inputs, computed once (`trigger_path_of`):
        books of policies with the same trigger share it.
    correlations : dict of CovarianceSpec to KeptCorrelations
        Correlation matrices computed on these inputs, by correlation spec: later
        walks on them (a sweep's runs on a worker) read them instead.
    """

    assets: list[str]
    signals: list[str]
    screening: ScreenReport
    panel: pd.DataFrame
    returns: pd.DataFrame
    levels: pd.DataFrame
    first: int
    periods_per_year: float
    scheduled: BoolArray
    forecast_start: pd.Timestamp
    forecast: VolForecast
    volatility: pd.DataFrame
    priced: BoolArray
    eligible: BoolArray
    timings: dict[str, float]
    key: str
    paths: dict[TriggerSpec, TriggerPath] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    correlations: dict[CovarianceSpec, KeptCorrelations] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def trigger_path_of(self, spec: TriggerSpec, market: Market) -> TriggerPath:
        """The path of trigger `spec` on these inputs (of `market`), kept in `paths`."""
        if spec not in self.paths:
            self.paths[spec] = trigger_path(
                spec,
                trigger_signal(
                    spec,
                    self.forecast.volatility,
                    self.panel,
                    self.levels,
                    market.sleeves,
                    term_volatility(self.forecast),
                    self.forecast.persistence,
                ),
            )
        return self.paths[spec]


WALK_FIELDS = (
    "universe",
    "screen",
    "model",
    "rebalance.frequency",
    "rebalance.calendar",
    "rebalance.min_history_days",
    "rebalance.stale_after_days",
    "triggers.watch_sleeves",
    "triggers.lookback_days",
    "triggers.signal",
)
"""The policy fields `prepare_walk` reads (``triggers.x``: of every trigger).

The universe and screen, the model, the schedule (the refit dates) and eligibility,
and of the triggers what they watch (the signals), their lookback (the forecasts'
start) and their signals (the forecast horizon). Names (the policy's, a trigger's)
only label errors.
"""


def walk_key(
    policy: PolicySpec,
    market: Market,
    start: str | pd.Timestamp | None,
    end: str | pd.Timestamp | None,
) -> str:
    """Hash of what `prepare_walk` reads: equal keys, identical `WalkInputs`.

    The policy's `WALK_FIELDS`, the market's prices (its fingerprint), source,
    sleeves, investability and daily columns, and the period. Policies that differ
    only in allocation, trigger thresholds, limits or costs have the same key.
    """
    fields: dict[str, object] = {}
    for path in WALK_FIELDS:
        head, _, tail = path.partition(".")
        value = getattr(policy, head)
        if head == "triggers":
            fields[path] = [getattr(trigger, tail) for trigger in value]
        else:
            fields[path] = getattr(value, tail) if tail else value
    definition = {
        "policy": fields,
        "market": [
            market.fingerprint,
            market.source,
            dict(market.sleeves),
            dict(market.investable),
            market.daily_columns,
        ],
        "period": [None if d is None else str(pd.Timestamp(d)) for d in (start, end)],
    }
    text = json.dumps(definition, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def prepare_walk(
    policy: PolicySpec,
    market: Market,
    start: str | pd.Timestamp | None,
    end: str | pd.Timestamp | None,
    progress: Progress | None = None,
) -> WalkInputs:
    """Screen, returns panel, schedule, forecasts and eligibility of a run.

    Parameters
    ----------
    policy : PolicySpec
        The policy whose universe, screen, model and schedule are used.
    market : Market
        Validated prices, returns and sleeves.
    start, end : str or Timestamp, optional
        First and last date of the walk; data after `end` are never read.
    progress : Progress, optional
        Told of each GARCH refit.

    Returns
    -------
    WalkInputs

    Raises
    ------
    DataError
        If the period has no days, or the data screen stops on the prices.
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
    timings["setup"] = time.perf_counter() - clock

    clock = time.perf_counter()
    scheduled = scheduled_rows(returns.index, policy, market)
    # forecasts are needed from the first day, and earlier for the triggers' lookback
    lookback = max(
        (t.lookback_days + 2 * SHORT_WINDOW_DAYS for t in policy.triggers), default=0
    )
    forecast_start = returns.index[max(first - lookback, 0)]
    forecast = forecast_variance(
        panel,
        policy.model,
        horizon_days=forecast_horizon(policy),  # the term structure, if read
        start=forecast_start,
        refit_dates=returns.index[scheduled],
        progress=progress,
    )
    volatility = forecast.volatility[assets]
    vol = volatility.to_numpy()
    timings["volatility"] = time.perf_counter() - clock
    priced = eligibility(returns, policy)
    eligible = priced & np.isfinite(vol) & (vol > 0)
    return WalkInputs(
        assets=assets,
        signals=signals,
        screening=screening,
        panel=panel,
        returns=returns,
        levels=market.prices.reindex(panel.index)[signals],
        first=first,
        periods_per_year=ppy,
        scheduled=scheduled,
        forecast_start=forecast_start,
        forecast=forecast,
        volatility=volatility,
        priced=priced,
        eligible=eligible,
        timings=timings,
        key=walk_key(policy, market, start, end),
    )


def open_book(policy: PolicySpec, inputs: WalkInputs, market: Market) -> Book:
    """A policy's book on a walk's inputs: its triggers and decision rows.

    Parameters
    ----------
    policy : PolicySpec
        The policy; its universe and screen are those `inputs` were prepared for.
    inputs : WalkInputs
        The walk's data and forecasts.
    market : Market
        The market `inputs` come from (its sleeves).

    Returns
    -------
    Book
        With flat holdings and a NAV of 1.

    Raises
    ------
    InfeasibleError
        If the policy's limits cannot be met on its sleeves.
    """
    clock = time.perf_counter()
    assets = inputs.assets
    check_feasibility(policy, [market.sleeves[a] for a in assets])
    check_asset_budgets(policy, assets, market.source)
    paths = [inputs.trigger_path_of(spec, market) for spec in policy.triggers]
    n_rows = len(inputs.returns)
    multipliers = sleeve_multipliers(paths, market.sleeves, assets, n_rows)
    deciding = decision_rows(
        inputs.scheduled, inputs.eligible, multipliers, inputs.first
    )
    panels = DecisionPanels(
        index=inputs.returns.index,
        returns=inputs.returns.to_numpy(float),
        vol=inputs.volatility.to_numpy(),
        multipliers=multipliers,
        eligible=inputs.eligible,
        assets=tuple(assets),
        sleeves=tuple(market.sleeves[a] for a in assets),
        periods_per_year=inputs.periods_per_year,
    )
    return Book(
        policy,
        paths,
        panels,
        frozenset(deciding.tolist()),
        n_rows - inputs.first,
        time.perf_counter() - clock,
    )


def walk_forward(
    books: list[Book], inputs: WalkInputs, progress: Progress | None
) -> float:
    """The daily loop over every book; returns the seconds spent on correlations.

    The books share the returns, the forecasts and the correlation model (one
    update a day serves them all); each drifts, decides and trades on its own.
    `progress` is told of each of the first book's scheduled decisions.
    """
    returns, first = inputs.returns, inputs.first
    values = np.nan_to_num(returns.to_numpy(float), nan=0.0)
    accrual = accrual_fractions(returns.index)
    lead = books[0]
    owner = f"policy '{lead.policy.name}'"
    model = CORRELATIONS.lookup(lead.policy.covariance.correlation, owner)
    observations = model.rows(lead.panels.returns, lead.panels.vol)
    correlation = DailyCorrelation(
        model.start(lead.policy.covariance, returns.shape[1]),
        inputs.correlations.setdefault(lead.policy.covariance, KeptCorrelations()),
    )
    for t in range(first):
        correlation.update(observations[t])
    label, decided, scheduled = f"{lead.policy.name} decisions", 0, len(lead.deciding)
    for i, t in enumerate(range(first, len(returns))):
        correlation.update(observations[t])
        for book in books:
            book.step(i, t, values[t], accrual[t], correlation)
        if progress is not None and t in lead.deciding:
            decided += 1
            progress(label, decided, scheduled)
    return correlation.seconds


def book_result(
    book: Book,
    inputs: WalkInputs,
    market: Market,
    timings: dict[str, float],
) -> BacktestResult:
    """A book's walk as a `BacktestResult` (without a baseline).

    Parameters
    ----------
    book : Book
        The book, walked over the period.
    inputs : WalkInputs
        What it read.
    market : Market
        The market of the walk (source, fingerprint, sleeves).
    timings : dict of str to float
        Seconds by stage, as the result reports them.

    Returns
    -------
    BacktestResult
    """
    policy, records, paths = book.policy, book.records, book.paths
    returns, first, assets = inputs.returns, inputs.first, inputs.assets
    decision_dates = returns.index[records.decision_rows]
    index = returns.index[first:]
    targets = pd.DataFrame(
        np.array(records.targets).reshape(-1, len(assets)),
        index=decision_dates,
        columns=assets,
    )
    risk = pd.DataFrame(
        np.array(records.risk).reshape(-1, len(assets)),
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
    decisions = pd.DataFrame(records.decisions, index=decision_dates)
    events = [
        *inputs.screening.events(),
        *inputs.forecast.events,
        *universe_events(returns, inputs.priced, inputs.eligible, first, policy),
        *trigger_events,
        *unwatched_events(policy.triggers, market.sleeves, index[0]),
        *inert_events(policy.triggers, book.panels.sleeves, index[0]),
        *ladder_events(decisions, policy),
        *records.events,
    ]
    return BacktestResult(
        policy=policy,
        source=market.source,
        fingerprint=market.fingerprint,
        simulated=market.simulated,
        weights=pd.DataFrame(records.weights, index=index, columns=assets),
        targets=targets,
        risk_contributions=risk,
        volatility=inputs.volatility.iloc[first:],
        decisions=decisions,
        returns=pd.Series(records.returns, index=index, name="return"),
        turnover=pd.Series(records.turnover, index=index, name="turnover"),
        trading_costs=pd.Series(records.costs, index=index, name="trading_cost"),
        financing=pd.Series(records.financing, index=index, name="financing"),
        events=events_frame(events),
        periods_per_year=inputs.periods_per_year,
        timings=timings,
        sleeves={a: market.sleeves[a] for a in assets},
        screen=inputs.screening,
        trigger_signals=_by_trigger(paths, "signal", index),
        trigger_multipliers=_by_trigger(paths, "multiplier", index),
    )


def _by_trigger(
    paths: list[TriggerPath], part: str, index: pd.DatetimeIndex
) -> pd.DataFrame:
    """One column per trigger (its name) of each path's `part`, over `index`."""
    columns = {path.spec.name: getattr(path, part).loc[index[0] :] for path in paths}
    return pd.DataFrame(columns, index=index, dtype=float)
