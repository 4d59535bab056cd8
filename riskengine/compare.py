"""Compare policies on the same data: metrics side by side, and when each cut risk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from riskengine.backtest import BacktestResult, run_backtest
from riskengine.data.prices import Market
from riskengine.results.metrics import METRIC_LABELS
from riskengine.specs import PolicySpec

HIGH_BETA_SLEEVES = ("crypto", "em_equity", "credit")
CUT_THRESHOLD = 0.25
"""A cut is a fall of at least this fraction below the recent peak weight."""
CUT_WINDOW_DAYS = 21
"""Trading days over which the peak before, and the trough after, a cut are taken."""


@dataclass(frozen=True)
class RiskCut:
    """The first cut of a group of sleeves in a backtest.

    Attributes
    ----------
    date : pd.Timestamp or None
        First close at which the sleeves' combined weight is at least
        `CUT_THRESHOLD` below its peak of the previous `CUT_WINDOW_DAYS` days.
    before, after : float
        That peak, and the lowest weight in the `CUT_WINDOW_DAYS` days from the cut.
    """

    date: pd.Timestamp | None
    before: float
    after: float


def first_cut(
    result: BacktestResult,
    sleeves: Mapping[str, str],
    cut_sleeves: Sequence[str] = HIGH_BETA_SLEEVES,
) -> RiskCut:
    """When a run first cut `cut_sleeves`, and from what weight to what weight."""
    held = [a for a in result.weights.columns if sleeves[a] in cut_sleeves]
    weight = result.weights[held].sum(axis=1)
    peak = weight.rolling(CUT_WINDOW_DAYS, min_periods=1).max().shift(1)
    cut = (peak > 0) & (weight <= (1 - CUT_THRESHOLD) * peak)
    if not cut.any():
        return RiskCut(None, float("nan"), float("nan"))
    date = cut.idxmax()
    after = weight.loc[date:].iloc[:CUT_WINDOW_DAYS].min()
    return RiskCut(date, float(peak[date]), float(after))


def compare(
    policies: Sequence[PolicySpec],
    market: Market,
    *,
    start: str | None = None,
    end: str | None = None,
    cut_sleeves: Sequence[str] = HIGH_BETA_SLEEVES,
) -> pd.DataFrame:
    """Run every policy on the same market and tabulate them side by side.

    Returns
    -------
    pd.DataFrame
        One column per policy; rows are ``invested_from`` (the policy's first
        holding, None if it never held anything) and ``warmup_days`` (days before
        it), the metrics of `summarize` over each policy's own invested period
        (None when it has none), then ``first_trigger`` (date a trigger first
        entered risk-off), ``first_cut`` (date), ``cut_from`` and ``cut_to``
        (combined weight of `cut_sleeves`).
    """
    columns = {}
    for policy in policies:
        result = run_backtest(policy, market, start=start, end=end)
        period = result.invested_period
        cut = first_cut(result, market.sleeves, cut_sleeves)
        fired = result.events[result.events["kind"] == "trigger_enter"]
        columns[policy.name] = {
            "invested_from": period.to_dict()["invested_from"],
            "warmup_days": period.warmup_days,
            **(
                result.metrics()
                if period.measurable
                else dict.fromkeys(METRIC_LABELS, None)
            ),
            "first_trigger": None if fired.empty else str(fired["date"].iloc[0].date()),
            "first_cut": None if cut.date is None else str(cut.date.date()),
            "cut_from": cut.before,
            "cut_to": cut.after,
        }
    return pd.DataFrame(columns)
