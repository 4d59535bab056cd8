"""What a walk-forward run produced: `BacktestResult`, and its `InvestedPeriod`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from riskengine.data.screen import ScreenReport
from riskengine.errors import DegenerateRunError
from riskengine.specs import PolicySpec

MIN_INVESTED_DAYS = 2
"""Days of holding below which a run has no metrics (a volatility needs two)."""


@dataclass(frozen=True)
class InvestedPeriod:
    """The part of a run in which the policy held something, and its warm-up.

    A run's first dates often hold nothing: the models warm up, or no asset of the
    universe has a price yet. Headline metrics cover only the invested period, so
    that years of cash do not dilute them; the daily returns keep every date.

    Attributes
    ----------
    start : pd.Timestamp or None
        First close with a holding (the first trade, whose cost counts); its
        return the next day is the first earned from a position. None when the
        policy never held anything.
    end : pd.Timestamp
        Last date of the run.
    days : int
        Dates from `start` to `end`, both included; 0 when never invested.
    warmup_days : int
        Dates of the run before `start`: every date when never invested.
    """

    start: pd.Timestamp | None
    end: pd.Timestamp
    days: int
    warmup_days: int

    @classmethod
    def of(cls, weights: pd.DataFrame) -> InvestedPeriod:
        """The invested period of holdings ``weights`` (dates x assets)."""
        held = weights.ne(0.0).any(axis=1).to_numpy()
        if not held.any():
            return cls(None, weights.index[-1], 0, len(weights))
        first = int(held.argmax())
        return cls(weights.index[first], weights.index[-1], len(weights) - first, first)

    @property
    def measurable(self) -> bool:
        """True when the policy held something on at least `MIN_INVESTED_DAYS` days."""
        return self.days >= MIN_INVESTED_DAYS

    def describe(self) -> str:
        """In words: ``invested from 2012-04-02, 61 warm-up days before``."""
        if self.start is None:
            return f"never invested: no holding on any of the {self.warmup_days} days"
        if self.warmup_days == 0:
            return f"invested from {self.start.date()}, the first day"
        days = "day" if self.warmup_days == 1 else "days"
        return (
            f"invested from {self.start.date()}, {self.warmup_days} warm-up "
            f"{days} before"
        )

    def to_dict(self) -> dict[str, str | int | None]:
        """JSON-ready fields; ``invested_from`` is None when never invested."""
        return {
            "invested_from": None if self.start is None else str(self.start.date()),
            "invested_to": str(self.end.date()),
            "invested_days": self.days,
            "warmup_days": self.warmup_days,
        }


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
    risk_contributions : pd.DataFrame
        Each asset's share of the targets' ex-ante variance (the day's covariance
        forecast), by decision date, summing to one across assets; zeros when
        nothing is held, NaN where a solver failure held the previous weights.
    volatility : pd.DataFrame
        Daily vol forecast for the next day made at each close, shape
        (n_days, n_assets), from the policy's model.
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
        Periods per year used to annualise (see `calendar.periods_per_year`).
    timings : Mapping
        Seconds spent in each stage.
    sleeves : Mapping
        Sleeve of each asset of the universe.
    screen : ScreenReport or None
        What the data screen recorded (its findings are also events); None for a
        result built without one.
    trigger_signals, trigger_multipliers : pd.DataFrame
        Each trigger's signal and the multiplier it put on its acted-on sleeves at
        each close, one column per trigger (its name), shape (n_days, n_triggers).
    baseline : BacktestResult or None
        The counterfactual run on the same data in the same call (itself without a
        baseline; see `riskengine.backtest.baseline`); the result itself (without
        its baseline) when the policy is its own baseline; None when none was run.
        Its timings hold only the stages it did not share with this run.
    baseline_note : str
        What the baseline is, in one line; empty without a baseline.
    """

    policy: PolicySpec
    source: str
    fingerprint: str
    simulated: bool
    weights: pd.DataFrame
    targets: pd.DataFrame
    risk_contributions: pd.DataFrame
    volatility: pd.DataFrame
    decisions: pd.DataFrame
    returns: pd.Series
    turnover: pd.Series
    trading_costs: pd.Series
    financing: pd.Series
    events: pd.DataFrame
    periods_per_year: float
    timings: Mapping[str, float]
    sleeves: Mapping[str, str]
    screen: ScreenReport | None = None
    trigger_signals: pd.DataFrame = field(default_factory=pd.DataFrame)
    trigger_multipliers: pd.DataFrame = field(default_factory=pd.DataFrame)
    baseline: BacktestResult | None = field(default=None, repr=False)
    baseline_note: str = ""

    @property
    def invested_period(self) -> InvestedPeriod:
        """From the first holding to the last date, and the warm-up days before."""
        return InvestedPeriod.of(self.weights)

    def metrics(self) -> dict[str, float]:
        """Summary metrics of the net returns over the `invested_period`.

        Returns, turnover and trading costs from the first holding on, annualised
        with the run's own `periods_per_year` (see
        `riskengine.results.metrics.summarize`).

        Raises
        ------
        DegenerateRunError
            If the policy held something on fewer than `MIN_INVESTED_DAYS` days
            (a `DataError`, exit code 8).
        """
        period = self.invested_period
        if not period.measurable:
            first = self.returns.index[0]
            raise DegenerateRunError(
                f"{self.source}: policy '{self.policy.name}' from {first.date()} to "
                f"{period.end.date()}: {period.describe()}; no metrics without at "
                f"least {MIN_INVESTED_DAYS} invested days (see the events for why)"
            )
        # The one import of a later stage (outputs) by the backtest, allowed in
        # tests/test_imports.py: the documented convenience ``result.metrics()``
        # delegates to the pure functions of `riskengine.results.metrics`, loaded on
        # call.
        from riskengine.results.metrics import summarize

        held = slice(period.start, None)
        return summarize(
            self.returns.loc[held],
            self.turnover.loc[held],
            self.trading_costs.loc[held],
            periods_per_year=self.periods_per_year,
        )

    def attribution(self, after_days: int = 21) -> pd.DataFrame:
        """De-risking attribution against the `baseline`, per episode and in total.

        See `riskengine.results.attribution.attribution` for the columns.

        Parameters
        ----------
        after_days : int
            Trading days after each episode's exit that are measured too, and
            within which a restore counts as a whipsaw.

        Raises
        ------
        ValueError
            If the run has no baseline (``baseline=None``), or `after_days` < 1.
        """
        # Like `metrics`, a documented convenience delegating to the outputs stage,
        # imported on call (allowed in tests/test_imports.py).
        from riskengine.results.attribution import attribution

        return attribution(self, after_days=after_days)
