"""Runs behind a comparison: figures over a window, per policy and per episode."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from riskengine.backtest import BacktestResult, run_backtest
from riskengine.data.prices import Market
from riskengine.errors import DataError, SpecError
from riskengine.results.metrics import METRIC_LABELS
from riskengine.scenarios.episodes import Episode
from riskengine.specs import PolicySpec

HIGH_BETA_SLEEVES = ("crypto", "em_equity", "credit")
CUT_THRESHOLD = 0.25
"""A cut is a fall of at least this fraction below the recent peak weight."""
CUT_WINDOW_DAYS = 21
"""Trading days over which the peak before, and the trough after, a cut are taken."""

FIGURES: dict[str, tuple[str, str]] = {
    "total_return": ("Total return", "{:.2%}"),
    **METRIC_LABELS,
}
"""Label and format of each figure over a window, total return first."""
DIFFERENCES = (
    "total_return",
    "annual_return",
    "annual_vol",
    "sharpe",
    "max_drawdown",
    "worst_month",
    "cvar_95",
    "turnover_annual",
    "costs_annual",
)
"""Figures compared with the baseline's, as ``<figure>_vs_baseline`` rows."""
EPISODE_FIGURES: dict[str, tuple[str, str]] = {
    "total_return": ("Return", "{:.2%}"),
    "max_drawdown": ("Max DD", "{:.2%}"),
    "annual_vol": ("Vol", "{:.2%}"),
}
"""Figures of the episode-by-policy table, with short labels (see `EPISODE_LEGEND`)."""
EPISODE_LEGEND = (
    "Return: total over the window; Max DD: deepest fall from a peak; Vol: "
    "annualised; Ret diff, DD diff: minus the baseline's"
)
"""What the short labels of the episode-by-policy table mean."""


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


def window_figures(result: BacktestResult) -> dict[str, float]:
    """Total and annualised figures of a run over its invested period.

    The run covers its window (``start`` to ``end``); like `BacktestResult.metrics`,
    the figures start at the first holding, so days of cash before it (warm-up)
    dilute nothing. ``total_return`` is ``prod(1 + r) - 1`` over those days.

    Raises
    ------
    DegenerateRunError
        If the policy held something on fewer than two days.
    """
    metrics = result.metrics()
    held = result.returns.loc[result.invested_period.start :]
    return {"total_return": float((1.0 + held).prod() - 1.0), **metrics}


def compare(
    policies: Sequence[PolicySpec],
    market: Market,
    *,
    start: str | None = None,
    end: str | None = None,
    cut_sleeves: Sequence[str] = HIGH_BETA_SLEEVES,
    against: str | None = None,
) -> pd.DataFrame:
    """Run every policy on the same market and window and tabulate them side by side.

    Parameters
    ----------
    policies : sequence of PolicySpec
        The policies, with distinct names.
    market : Market
        The data they all run on.
    start, end : str, optional
        The window (ISO dates); data before `start` warm up the models.
    cut_sleeves : sequence of str
        Sleeves whose first cut is reported.
    against : str, optional
        Name of one of `policies`: each figure of `DIFFERENCES` is also given as
        the policy's minus the baseline's.

    Returns
    -------
    pd.DataFrame
        One column per policy; rows are ``first_day`` and ``last_day`` (the run's
        window), ``invested_from`` (the first holding, None if it never held
        anything), ``warmup_days`` (days before it) and ``invested_days``, the
        figures of `FIGURES` over the invested period (None when it has none),
        then ``first_trigger`` (date a trigger first entered risk-off),
        ``first_cut`` (date), ``cut_from`` and ``cut_to`` (combined weight of
        `cut_sleeves`), and with `against` the ``<figure>_vs_baseline`` rows.

    Raises
    ------
    SpecError
        If `against` names none of the policies.
    """
    _check_against(policies, against)
    columns = {}
    for policy in policies:
        # the table compares policies with each other: no counterfactual per run
        result = run_backtest(policy, market, start=start, end=end, baseline=None)
        period = result.invested_period
        cut = first_cut(result, market.sleeves, cut_sleeves)
        fired = result.events[result.events["kind"] == "trigger_enter"]
        columns[policy.name] = {
            "first_day": str(result.returns.index[0].date()),
            "last_day": str(result.returns.index[-1].date()),
            "invested_from": period.to_dict()["invested_from"],
            "warmup_days": period.warmup_days,
            "invested_days": period.days,
            **(
                window_figures(result)
                if period.measurable
                else dict.fromkeys(FIGURES, None)
            ),
            "first_trigger": None if fired.empty else str(fired["date"].iloc[0].date()),
            "first_cut": None if cut.date is None else str(cut.date.date()),
            "cut_from": cut.before,
            "cut_to": cut.after,
        }
    if against is not None:
        base = columns[against]
        for column in columns.values():
            for key in DIFFERENCES:
                column[f"{key}_vs_baseline"] = _minus(column[key], base[key])
    return pd.DataFrame(columns)


def row_formats(
    cut_sleeves: Sequence[str], against: str | None = None
) -> dict[str, tuple[str, str]]:
    """Label and format of each row of a `compare` table, in order."""
    rows = {
        "first_day": ("Window from", "{}"),
        "last_day": ("Window to", "{}"),
        "invested_from": ("Invested from (first holding)", "{}"),
        "warmup_days": ("  warm-up days before", "{:.0f}"),
        "invested_days": ("  days invested", "{:.0f}"),
        **FIGURES,
        "first_trigger": ("First trigger fired", "{}"),
        "first_cut": (f"First cut of {'+'.join(cut_sleeves)}", "{}"),
        "cut_from": ("  their weight before", "{:.1%}"),
        "cut_to": ("  their weight after", "{:.1%}"),
    }
    if against is not None:
        for key in DIFFERENCES:
            label, fmt = FIGURES[key]
            rows[f"{key}_vs_baseline"] = (
                f"{label} - {against}",
                fmt.replace("{:", "{:+"),
            )
    return rows


def compare_episodes(
    policies: Sequence[PolicySpec],
    market: Market,
    episodes: Sequence[Episode],
    *,
    against: str | None = None,
) -> pd.DataFrame:
    """Every policy over every episode: total return, drawdown and vol of each.

    Each cell is one run over the episode's window, as ``compare`` with
    ``start=episode.start, end=episode.end`` would make it.

    Parameters
    ----------
    policies : sequence of PolicySpec
        The policies, with distinct names.
    market : Market
        The data they run on.
    episodes : sequence of Episode
        The windows.
    against : str, optional
        Name of one of `policies`, whose total return and drawdown every policy's
        are compared with.

    Returns
    -------
    pd.DataFrame
        One row per episode and policy, in the order given: ``episode``,
        ``start``, ``end``, ``policy``, ``invested_from``, the figures of
        `EPISODE_FIGURES` over the invested part of the window (NaN when there is
        none), with `against` ``total_return_vs_baseline`` and
        ``max_drawdown_vs_baseline``, and ``note``: why a row has no figures (the
        data do not cover the episode, or the run had nothing to measure).

    Raises
    ------
    SpecError
        If `against` names none of the policies.
    """
    _check_against(policies, against)
    rows = []
    for episode in episodes:
        cells = {}
        try:
            episode.check_covered(market)
            uncovered = ""
        except DataError as exc:
            uncovered = str(exc)
        for policy in policies:
            cells[policy.name] = (
                _episode_cell(policy, market, episode)
                if not uncovered
                else {"note": uncovered}
            )
        for name, figures in cells.items():
            row: dict[str, Any] = {
                "episode": episode.name,
                "start": str(episode.start),
                "end": str(episode.end),
                "policy": name,
                "invested_from": figures.get("invested_from"),
                **{key: figures.get(key, math.nan) for key in EPISODE_FIGURES},
            }
            if against is not None:
                base = cells[against]
                for key in ("total_return", "max_drawdown"):
                    row[f"{key}_vs_baseline"] = _minus(
                        figures.get(key, math.nan), base.get(key, math.nan)
                    )
            rows.append({**row, "note": figures.get("note", "")})
    order = ["episode", "start", "end", "policy", "invested_from"]
    frame = pd.DataFrame(rows)
    return frame[order + [c for c in frame.columns if c not in order]]


def _episode_cell(
    policy: PolicySpec, market: Market, episode: Episode
) -> dict[str, Any]:
    """One policy's figures over one episode, or a note saying why there are none."""
    try:
        result = run_backtest(
            policy,
            market,
            start=str(episode.start),
            end=str(episode.end),
            baseline=None,
        )
        figures = window_figures(result)
    except DataError as exc:  # an empty universe, nothing held: no number
        return {"note": str(exc)}
    start = result.invested_period.start
    return {
        "invested_from": None if start is None else str(start.date()),
        **{key: figures[key] for key in EPISODE_FIGURES},
    }


def _check_against(policies: Sequence[PolicySpec], against: str | None) -> None:
    """Raise `SpecError` unless `against` is None or names one of `policies`."""
    names = [p.name for p in policies]
    if against is not None and against not in names:
        raise SpecError(
            f"compare: baseline '{against}' is not among the policies compared "
            f"({', '.join(names)})"
        )


def _minus(value: Any, base: Any) -> float:
    """``value - base``, NaN where either is missing."""
    if value is None or base is None:
        return math.nan
    return float(value) - float(base)


def episode_columns(table: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Label and format of each figure column of a `compare_episodes` table."""
    columns = dict(EPISODE_FIGURES)
    for key, label in (("total_return", "Ret diff"), ("max_drawdown", "DD diff")):
        if f"{key}_vs_baseline" in table.columns:
            columns[f"{key}_vs_baseline"] = (label, "{:+.2%}")
    return columns
