"""What a walk-forward run produced: `BacktestResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from riskengine.metrics import summarize
from riskengine.specs import PolicySpec


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
        Trading days per year used to annualise (see `data.periods_per_year`).
    timings : Mapping
        Seconds spent in each stage.
    sleeves : Mapping
        Sleeve of each asset of the universe.
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

    def metrics(self) -> dict[str, float]:
        """Summary metrics of the net returns (see `riskengine.metrics.summarize`)."""
        return summarize(self.returns, self.turnover, self.trading_costs)
