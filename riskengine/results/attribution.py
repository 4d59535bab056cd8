"""De-risking attribution: what each overlay episode did against the baseline.

Pure functions over a `BacktestResult` and its ``baseline`` (the same policy
without its overlays, or a named policy, run on the same data in the same call).
An episode is a maximal run of closes on which an overlay held exposure below
normal: from the close at which it cut (its multiplier fell below 1) to the close
at which it had fully restored it (back to 1). Triggers give their episodes
through their daily multipliers; the drawdown ladder through the multiplier of
each decision, carried between decisions. VaR/ES and margin scaling act at every
decision where they bind and count in the total only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskengine.backtest import BacktestResult
from riskengine.calendar import annual_vol_factor

AFTER_DAYS = 21
"""Trading days measured after an episode's exit, and the whipsaw window."""

COLUMNS = (
    "episode",
    "overlay",
    "kind",
    "entry",
    "normal_date",
    "exit",
    "open",
    "sleeves",
    "exposure_before",
    "exposure_after",
    "exposure_change",
    "signal_entry",
    "signal_peak",
    "signal_peak_date",
    "signal_exit",
    "return_policy",
    "return_baseline",
    "return_given_up",
    "max_drawdown_policy",
    "max_drawdown_baseline",
    "drawdown_avoided",
    "after_days",
    "return_after_policy",
    "return_after_baseline",
    "max_drawdown_after_policy",
    "max_drawdown_after_baseline",
    "turnover_overlay",
    "cost_overlay",
    "days_derisked",
    "whipsaws",
    "lateness_from_peak_days",
    "lateness_from_normal_days",
    "realised_vol_annual_policy",
    "realised_vol_annual_baseline",
    "target_vol_annual",
    "ex_ante_vol_annual_policy",
)
"""The columns of `attribution`, in order (a stable contract for the reports)."""

_CUT = 1.0 - 1e-12
"""A multiplier below this is a cut."""


@dataclass(frozen=True)
class _Overlay:
    """One overlay's daily multiplier and signal over the run's calendar."""

    name: str
    kind: str
    multiplier: pd.Series
    signal: pd.Series
    exit_threshold: float
    sleeves: tuple[str, ...]


def attribution(
    result: BacktestResult, *, after_days: int = AFTER_DAYS
) -> pd.DataFrame:
    """De-risking attribution of a run against its baseline: per episode and total.

    Days are rows of the run's calendar (trading days). With an information lag of
    L days, the cut decided at the close of ``entry`` is traded at the close L - 1
    rows later; the *held window* of an episode is the rows after that trade up to
    the trade of the restore, L - 1 rows after ``exit`` (for L = 1: the returns
    dated after ``entry`` up to and including ``exit``). Its *trade window* adds
    the row of the cut's trade, so that the cut's and the restore's costs count.

    Parameters
    ----------
    result : BacktestResult
        A run with its ``baseline`` (see `riskengine.backtest.run_backtest`).
    after_days : int, default `AFTER_DAYS`
        Rows measured after each exit; a restore within this many rows of the cut
        is a whipsaw.

    Returns
    -------
    pd.DataFrame
        One row per episode, in order of entry, then one ``total`` row; columns
        `COLUMNS`:

        - ``episode`` (``"<overlay> <entry date>"`` or ``"total"``), ``overlay``
          (trigger name, ``"drawdown_ladder"``, or ``"all"``), ``kind``
          (``"trigger"``, ``"drawdown_ladder"`` or ``"total"``);
        - ``entry``: close of the cut; ``normal_date``: first close from the
          signal's peak on with the signal below its exit threshold (the trigger's
          ``exit_below``; the ladder's first drawdown level); ``exit``: close at
          which the exposure was fully restored (NaT while still cut at the end,
          then ``open`` is True). Total: first holding and last date;
        - ``sleeves`` (acted-on sleeves, comma-separated), ``exposure_before``
          and ``exposure_after``: their summed target weight at the last decision
          before the entry and at the first decision once the cut was deepest;
          ``exposure_change``: the same per sleeve, as text;
        - ``signal_entry``, ``signal_peak`` (at ``signal_peak_date``, the highest
          close from entry to exit), ``signal_exit``: the overlay's signal (the
          trigger's; the NAV's drawdown from its peak, positive, for the ladder);
        - ``return_policy``, ``return_baseline``: compounded returns over the held
          window; ``return_given_up`` = baseline - policy; ``max_drawdown_policy``,
          ``max_drawdown_baseline``: deepest fall within the window from its start
          or a later peak (non-positive); ``drawdown_avoided`` = policy - baseline
          (positive when the policy fell less);
        - ``after_days``: rows measured after the held window (up to `after_days`,
          fewer at the end of the data; 0 when open), and over them
          ``return_after_policy``, ``return_after_baseline``,
          ``max_drawdown_after_policy``, ``max_drawdown_after_baseline``;
        - ``turnover_overlay``, ``cost_overlay``: two-sided turnover and trading
          costs (fractions of NAV) of the policy minus the baseline's over the
          trade window;
        - ``days_derisked``: rows from entry to exit (to the last row when open);
          total: rows on which any overlay held the policy below normal (a trigger
          or ladder multiplier below 1, or VaR/ES or margin scaling);
        - ``whipsaws``: 1 when restored within `after_days` rows of the cut, else
          0; total: their sum;
        - ``lateness_from_peak_days``, ``lateness_from_normal_days``: rows from
          ``signal_peak_date`` and from ``normal_date`` to ``exit`` (NaN when
          open, or when the signal never normalised); total: means over episodes;
        - ``realised_vol_annual_policy``, ``realised_vol_annual_baseline``: sample
          std of the held window's daily returns, annualised with the run's
          periods per year; ``target_vol_annual``: the policy's target (NaN
          without one); ``ex_ante_vol_annual_policy``: mean ex-ante vol of the
          policy's decisions from entry to exit.

        The total row covers the invested period (as `BacktestResult.metrics`);
        its signal, exposure and after columns are NaN. ``attrs`` hold
        ``baseline`` (its policy name), ``baseline_note`` and ``after_days``.

    Raises
    ------
    ValueError
        If `result` has no baseline, the two runs' dates differ, or `after_days`
        is below 1.
    """
    baseline = result.baseline
    if baseline is None:
        raise ValueError(
            f"policy '{result.policy.name}': the run has no baseline (it was run "
            "with baseline=None); run it with a baseline to attribute its de-risking"
        )
    if not result.returns.index.equals(baseline.returns.index):
        raise ValueError(
            f"policy '{result.policy.name}' and its baseline "
            f"'{baseline.policy.name}' cover different dates; attribution compares "
            "the two runs date by date"
        )
    if isinstance(after_days, bool) or not isinstance(after_days, int):
        raise ValueError(f"after_days: expected an integer, got {after_days!r}")
    if after_days < 1:
        raise ValueError(f"after_days: must be at least 1, got {after_days}")
    pair = _Pair(result, baseline)
    rows = [
        _episode_row(pair, overlay, entry, exit_, after_days)
        for overlay in _overlays(result)
        for entry, exit_ in _episodes(overlay.multiplier.to_numpy())
    ]
    rows.sort(key=lambda row: (row["entry"], row["overlay"]))
    rows.append(_total_row(pair, rows))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.attrs["baseline"] = baseline.policy.name
    frame.attrs["baseline_note"] = result.baseline_note
    frame.attrs["after_days"] = after_days
    return frame


class _Pair:
    """The policy's and the baseline's daily series as arrays on one calendar."""

    def __init__(self, result: BacktestResult, baseline: BacktestResult) -> None:
        self.result = result
        self.index = result.returns.index
        self.policy = result.returns.to_numpy(float)
        self.baseline = baseline.returns.to_numpy(float)
        self.turnover = (result.turnover - baseline.turnover).to_numpy(float)
        self.costs = (result.trading_costs - baseline.trading_costs).to_numpy(float)
        self.lag = result.policy.rebalance.information_lag_days - 1
        self.vol_factor = annual_vol_factor(result.periods_per_year)


def _overlays(result: BacktestResult) -> list[_Overlay]:
    """Each trigger and the drawdown ladder, as daily multiplier and signal."""
    index = result.returns.index
    every_sleeve = tuple(sorted(set(result.sleeves.values())))
    overlays = [
        _Overlay(
            spec.name,
            "trigger",
            result.trigger_multipliers.iloc[:, k],
            result.trigger_signals.iloc[:, k],
            spec.exit_below,
            spec.act_on_sleeves,
        )
        for k, spec in enumerate(result.policy.triggers)
    ]
    ladder = result.policy.drawdown_control
    if ladder is not None and not result.decisions.empty:
        level = result.decisions["drawdown_multiplier"]
        multiplier = level.reindex(index).ffill().fillna(1.0)
        wealth = (1.0 + result.returns).cumprod()
        fall = 1.0 - wealth / wealth.cummax().clip(lower=1.0)
        overlays.append(
            _Overlay(
                "drawdown_ladder",
                "drawdown_ladder",
                multiplier,
                fall,
                ladder.drawdowns[0],
                every_sleeve,
            )
        )
    return overlays


def _episodes(multiplier: np.ndarray) -> list[tuple[int, int | None]]:
    """(entry row, exit row or None while open) of each run of cut rows."""
    cut = multiplier < _CUT
    edges = np.diff(np.concatenate(([False], cut, [False])).astype(int))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [
        (int(s), int(e) if e < len(multiplier) else None)
        for s, e in zip(starts, ends, strict=True)
    ]


def _compounded(returns: np.ndarray) -> float:
    """Compounded return of daily returns; NaN over no days."""
    return float(np.prod(1.0 + returns) - 1.0) if len(returns) else np.nan


def _max_drawdown(returns: np.ndarray) -> float:
    """Deepest fall of wealth from 1 or a later peak (non-positive); NaN if empty."""
    if not len(returns):
        return np.nan
    wealth = np.cumprod(1.0 + returns)
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0))
    return float(np.min(wealth / peak - 1.0))


def _vol(returns: np.ndarray, factor: float) -> float:
    """Annualised sample std (ddof 1); NaN below two days."""
    return float(np.std(returns, ddof=1) * factor) if len(returns) >= 2 else np.nan


def _exposures(
    result: BacktestResult, sleeves: tuple[str, ...], entry: int, deepest: int
) -> tuple[float, float, str]:
    """Acted-on sleeves' target weights before the cut and once at its deepest.

    Before: the last decision before the close of `entry`; after: the first
    decision at or after the close of `deepest`. NaN (and no text) when either is
    missing.
    """
    index, targets = result.returns.index, result.targets
    by_sleeve = targets.T.groupby([result.sleeves[a] for a in targets.columns]).sum().T
    shown = [s for s in sleeves if s in by_sleeve.columns]
    before = by_sleeve[by_sleeve.index < index[entry]]
    after = by_sleeve[by_sleeve.index >= index[deepest]]
    if before.empty or after.empty or not shown:
        return np.nan, np.nan, ""
    was, now = before.iloc[-1][shown], after.iloc[0][shown]
    change = ", ".join(f"{s} {was[s]:.1%} -> {now[s]:.1%}" for s in shown)
    return float(was.sum()), float(now.sum()), change


def _ex_ante(result: BacktestResult, first: pd.Timestamp, last: pd.Timestamp) -> float:
    """Mean annual ex-ante vol of the decisions from `first` to `last`; NaN if none."""
    decided = result.decisions.loc[first:last, "ex_ante_vol_annual"]
    return float(decided.mean()) if len(decided) else np.nan


def _target_vol(result: BacktestResult) -> float:
    target = result.policy.target.target_vol_annual
    return np.nan if target is None else float(target)


def _episode_row(
    pair: _Pair,
    overlay: _Overlay,
    entry: int,
    exit_: int | None,
    after_days: int,
) -> dict[str, Any]:
    """The attribution of one episode (see `attribution` for the columns)."""
    index, n, lag = pair.index, len(pair.index), pair.lag
    last = n - 1 if exit_ is None else exit_
    held = slice(entry + lag + 1, n if exit_ is None else exit_ + lag + 1)
    trades = slice(entry + lag, held.stop)
    after = (
        slice(n, n)
        if exit_ is None
        else slice(held.stop, min(held.stop + after_days, n))
    )
    multiplier = overlay.multiplier.to_numpy(float)[entry : last + 1]
    deepest = entry + int(np.argmin(multiplier))
    signal = overlay.signal.to_numpy(float)[entry : last + 1]
    peak = entry + int(np.nanargmax(signal)) if np.isfinite(signal).any() else None
    normal = None
    if peak is not None:
        below = np.flatnonzero(signal[peak - entry :] < overlay.exit_threshold)
        normal = peak + int(below[0]) if len(below) else None
    before, after_cut, change = _exposures(pair.result, overlay.sleeves, entry, deepest)
    policy, baseline = pair.policy[held], pair.baseline[held]
    ret_policy, ret_baseline = _compounded(policy), _compounded(baseline)
    dd_policy, dd_baseline = _max_drawdown(policy), _max_drawdown(baseline)

    def late(since: int | None) -> float:
        return np.nan if exit_ is None or since is None else float(exit_ - since)

    def at(row: int | None) -> float:
        return np.nan if row is None else float(overlay.signal.iloc[row])

    return {
        "episode": f"{overlay.name} {index[entry].date()}",
        "overlay": overlay.name,
        "kind": overlay.kind,
        "entry": index[entry],
        "normal_date": pd.NaT if normal is None else index[normal],
        "exit": pd.NaT if exit_ is None else index[exit_],
        "open": exit_ is None,
        "sleeves": ", ".join(overlay.sleeves),
        "exposure_before": before,
        "exposure_after": after_cut,
        "exposure_change": change,
        "signal_entry": at(entry),
        "signal_peak": at(peak),
        "signal_peak_date": pd.NaT if peak is None else index[peak],
        "signal_exit": at(exit_),
        "return_policy": ret_policy,
        "return_baseline": ret_baseline,
        "return_given_up": ret_baseline - ret_policy,
        "max_drawdown_policy": dd_policy,
        "max_drawdown_baseline": dd_baseline,
        "drawdown_avoided": dd_policy - dd_baseline,
        "after_days": after.stop - after.start,
        "return_after_policy": _compounded(pair.policy[after]),
        "return_after_baseline": _compounded(pair.baseline[after]),
        "max_drawdown_after_policy": _max_drawdown(pair.policy[after]),
        "max_drawdown_after_baseline": _max_drawdown(pair.baseline[after]),
        "turnover_overlay": float(pair.turnover[trades].sum()),
        "cost_overlay": float(pair.costs[trades].sum()),
        "days_derisked": (n if exit_ is None else exit_) - entry,
        "whipsaws": int(exit_ is not None and exit_ - entry <= after_days),
        "lateness_from_peak_days": late(peak),
        "lateness_from_normal_days": late(normal),
        "realised_vol_annual_policy": _vol(policy, pair.vol_factor),
        "realised_vol_annual_baseline": _vol(baseline, pair.vol_factor),
        "target_vol_annual": _target_vol(pair.result),
        "ex_ante_vol_annual_policy": _ex_ante(pair.result, index[entry], index[last]),
    }


def _derisked_rows(result: BacktestResult) -> np.ndarray:
    """Rows on which any overlay held the policy below normal, as booleans."""
    index = result.returns.index
    cut = (result.trigger_multipliers.to_numpy(float) < _CUT).any(axis=1)
    if len(cut) != len(index):
        cut = np.zeros(len(index), dtype=bool)
    scales = ["drawdown_multiplier", "risk_limit_scale", "margin_scale"]
    present = [c for c in scales if c in result.decisions.columns]
    if present:
        carried = result.decisions[present].reindex(index).ffill().fillna(1.0)
        cut |= (carried.to_numpy(float) < _CUT).any(axis=1)
    return cut


def _total_row(pair: _Pair, episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole invested period, every overlay at once."""
    result, index = pair.result, pair.index
    start = result.invested_period.start
    first = 0 if start is None else int(index.get_loc(start))
    rows = slice(first, len(index))
    policy, baseline = pair.policy[rows], pair.baseline[rows]
    ret_policy, ret_baseline = _compounded(policy), _compounded(baseline)
    dd_policy, dd_baseline = _max_drawdown(policy), _max_drawdown(baseline)

    def mean(column: str) -> float:
        values = [float(row[column]) for row in episodes]
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else np.nan

    return {
        "episode": "total",
        "overlay": "all",
        "kind": "total",
        "entry": index[first],
        "normal_date": pd.NaT,
        "exit": index[-1],
        "open": any(bool(row["open"]) for row in episodes),
        "sleeves": "",
        "exposure_before": np.nan,
        "exposure_after": np.nan,
        "exposure_change": "",
        "signal_entry": np.nan,
        "signal_peak": np.nan,
        "signal_peak_date": pd.NaT,
        "signal_exit": np.nan,
        "return_policy": ret_policy,
        "return_baseline": ret_baseline,
        "return_given_up": ret_baseline - ret_policy,
        "max_drawdown_policy": dd_policy,
        "max_drawdown_baseline": dd_baseline,
        "drawdown_avoided": dd_policy - dd_baseline,
        "after_days": 0,
        "return_after_policy": np.nan,
        "return_after_baseline": np.nan,
        "max_drawdown_after_policy": np.nan,
        "max_drawdown_after_baseline": np.nan,
        "turnover_overlay": float(pair.turnover[rows].sum()),
        "cost_overlay": float(pair.costs[rows].sum()),
        "days_derisked": int(_derisked_rows(result)[rows].sum()),
        "whipsaws": sum(int(row["whipsaws"]) for row in episodes),
        "lateness_from_peak_days": mean("lateness_from_peak_days"),
        "lateness_from_normal_days": mean("lateness_from_normal_days"),
        "realised_vol_annual_policy": _vol(policy, pair.vol_factor),
        "realised_vol_annual_baseline": _vol(baseline, pair.vol_factor),
        "target_vol_annual": _target_vol(result),
        "ex_ante_vol_annual_policy": _ex_ante(result, index[first], index[-1]),
    }


SHOWN_EPISODES = 10
"""Most recent episodes `format_attribution` prints (all are in the frame)."""


def format_attribution(frame: pd.DataFrame) -> str:
    """A short text table of an `attribution` frame: recent episodes and total.

    One line per episode (its overlay and entry date, exit, days de-risked, the
    acted-on exposure before and after, then policy against baseline: return, max
    drawdown, and over the days after exit; lateness from the signal's peak and
    from its normalisation; W marks a whipsaw) and below it the acted-on sleeves'
    weights before and after, for the last `SHOWN_EPISODES` episodes; then the
    total and what the overlays cost or saved.
    """
    baseline = frame.attrs.get("baseline", "the baseline")
    lines = [f"baseline  {frame.attrs.get('baseline_note') or baseline}"]
    episodes, total = frame.iloc[:-1], frame.iloc[-1]
    after = int(frame.attrs.get("after_days", AFTER_DAYS))
    name = max([len("de-risking episode"), *(len(e) for e in episodes["episode"])])
    header = (
        f"{'de-risking episode':<{name}}  {'exit':<10}  {'days':>4}  "
        f"{'exposure':<13}  {'return (base)':<17}  {'max dd (base)':<17}  "
        f"{f'{after}d after (base)':<17}  late from peak/normal"
    )
    lines += ["", header]
    if len(episodes) > SHOWN_EPISODES:
        hidden = len(episodes) - SHOWN_EPISODES
        lines.append(f"({hidden} earlier episodes in attribution.parquet)")
        episodes = episodes.iloc[-SHOWN_EPISODES:]
    for row in episodes.itertuples(index=False):
        exposure = (
            f"{row.exposure_before:.1%}->{row.exposure_after:.1%}"
            if np.isfinite(row.exposure_before)
            else "-"
        )
        late = "/".join(
            "-" if not np.isfinite(v) else f"{v:.0f}"
            for v in (row.lateness_from_peak_days, row.lateness_from_normal_days)
        )
        lines.append(
            f"{row.episode:<{name}}  {_day(row.exit):<10}  {row.days_derisked:>4}  "
            f"{exposure:<13}  "
            f"{_pair(row.return_policy, row.return_baseline):<17}  "
            f"{_pair(row.max_drawdown_policy, row.max_drawdown_baseline):<17}  "
            f"{_pair(row.return_after_policy, row.return_after_baseline):<17}  "
            f"{late}{' W' if row.whipsaws else ''}"
        )
        if row.exposure_change:
            lines.append(f"  {row.exposure_change}")
    lines.append(
        f"{'total from ' + _day(total.entry):<{name}}  {_day(total.exit):<10}  "
        f"{total.days_derisked:>4}  {'':<13}  "
        f"{_pair(total.return_policy, total.return_baseline):<17}  "
        f"{_pair(total.max_drawdown_policy, total.max_drawdown_baseline):<17}"
    )
    lines.append(
        f"overlay cost: return given up {total.return_given_up:+.2%}, drawdown "
        f"avoided {total.drawdown_avoided:+.2%}, turnover {total.turnover_overlay:+.1%}"
        f", trading costs {total.cost_overlay * 1e4:+.2f} bp, "
        f"{int(total.whipsaws)} whipsaw{'s' if total.whipsaws != 1 else ''}"
    )
    return "\n".join(line.rstrip() for line in lines)


def attribution_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as JSON-ready dicts: ISO dates, None for NaN and NaT."""

    def plain(value: Any) -> Any:
        if isinstance(value, pd.Timestamp):
            return str(value.date())
        if value is pd.NaT or (isinstance(value, float) and not np.isfinite(value)):
            return None
        if isinstance(value, np.generic):
            return value.item()
        return value

    return [
        {column: plain(value) for column, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _day(date: pd.Timestamp) -> str:
    return "open" if pd.isna(date) else str(date.date())


def _pair(policy: float, baseline: float) -> str:
    if not (np.isfinite(policy) and np.isfinite(baseline)):
        return "-"
    return f"{policy:+.2%} ({baseline:+.2%})"
