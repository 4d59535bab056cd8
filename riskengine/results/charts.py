"""The report's figures: growth, drawdowns, sleeves, volatility, rolling risk, zooms.

Figures are built with matplotlib's object API (no display, no global state), every
axis of returns, weights or volatility is in percent, and the periods the overlays
held the policy risk-off are shaded (and the larger ones labelled) on each time
axis (see `riskengine.results.risk_off`). The same figures go into the HTML page
(`svg`) and, for slides, into PNG files (`png`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    NullFormatter,
    PercentFormatter,
)

from riskengine.backtest import BacktestResult
from riskengine.calendar import annual_vol_factor
from riskengine.results.risk_off import (
    ChartWindow,
    label_spans,
    shade,
    span_handles,
    span_labels,
)

POLICY_COLOUR = "#1f4e79"
BASELINE_COLOUR = "#e67e22"
TARGET_COLOUR = "#222222"
REALISED_COLOUR = "#2ca02c"
SLEEVE_COLOURS = {
    "safe_haven": "#d4a017",
    "dm_equity": "#1f77b4",
    "em_equity": "#9ecae1",
    "credit": "#9467bd",
    "rates": "#2ca02c",
    "crypto": "#ff7f0e",
    "commodity": "#8c564b",
    "volatility": "#7f7f7f",
}
"""One colour per built-in sleeve, the same in every chart; others take tab10's."""
LOG_SCALE_YEARS = 5.0
LOG_SCALE_RANGE = 2.0
"""Growth is drawn on a log scale when the chart spans more than `LOG_SCALE_YEARS`
and its highest wealth is at least `LOG_SCALE_RANGE` times its lowest."""
MAX_AREA_POINTS = 700
"""Stacked areas show at most this many dates (every k-th), finer than the pixels."""
MAX_LINE_POINTS = 2000
"""Lines keep at most about this many points: each stretch's low and high."""
REALISED_WINDOW_DAYS = 63
"""Window of the realised volatility drawn against the ex-ante forecast."""
PNG_DPI = 150

_PERCENT = PercentFormatter(xmax=1.0, decimals=None)


def growth_figure(
    result: BacktestResult, baseline: BacktestResult | None, window: ChartWindow
) -> Figure:
    """Growth of the policy and its baseline over `window`, and their drawdowns.

    Returns are compounded from the window's first date, on a log scale where
    `uses_log_scale`; drawdowns are from the running high within the window.
    """
    figure = Figure(figsize=(10, 5.8))
    top, bottom = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    log_scale = uses_log_scale(result, baseline, window)
    for run, name, style in _runs(result, baseline):
        wealth = (1.0 + window.cut(run.returns)).cumprod()
        drawdown = _thin(wealth / wealth.cummax() - 1.0)
        wealth = _thin(wealth if log_scale else wealth - 1.0)
        top.plot(_dates(wealth), wealth.to_numpy(), label=name, **style)
        if run is result:
            bottom.fill_between(
                _dates(drawdown),
                drawdown.to_numpy(),
                0.0,
                color=style["color"],
                alpha=0.35,
                lw=0,
                label=name,
            )
        else:
            bottom.plot(_dates(drawdown), drawdown.to_numpy(), **style)
    if log_scale:
        top.set_yscale("log")
        top.yaxis.set_major_locator(
            LogLocator(base=10.0, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0))
        )
        top.yaxis.set_major_formatter(
            FuncFormatter(lambda value, _: f"{value - 1.0:+.0%}")
        )
        top.yaxis.set_minor_formatter(NullFormatter())
        top.set_ylabel("cumulative return (log scale)")
    else:
        top.yaxis.set_major_formatter(_PERCENT)
        top.axhline(0.0, color="#999999", lw=0.6)
        top.set_ylabel("cumulative return")
    bottom.yaxis.set_major_formatter(_PERCENT)
    bottom.set_ylabel("drawdown")
    shade(top, window)
    shade(bottom, window)
    label_spans(top, window, figure.get_figwidth())
    _finish(figure, window, legend_rows=_legend(figure, top, window))
    return figure


def uses_log_scale(
    result: BacktestResult, baseline: BacktestResult | None, window: ChartWindow
) -> bool:
    """True when growth over `window` is drawn on a log scale.

    That is when the window spans more than `LOG_SCALE_YEARS` and the wealth of
    the policy or its baseline ranges over a factor of `LOG_SCALE_RANGE` or more
    (over a narrower range a log axis only loses its tick labels).
    """
    if window.years <= LOG_SCALE_YEARS:
        return False
    wealth = [
        (1.0 + window.cut(run.returns)).cumprod()
        for run, _, _ in _runs(result, baseline)
    ]
    high = max(float(w.max()) for w in wealth)
    low = min(1.0, *(float(w.min()) for w in wealth))
    return high >= LOG_SCALE_RANGE * low


def sleeve_figure(
    frame: pd.DataFrame, sleeves: Mapping[str, str], window: ChartWindow, label: str
) -> Figure:
    """Columns of `frame` (one per asset) summed by sleeve, stacked when all >= 0."""
    by_sleeve = window.cut(frame).T.groupby(pd.Series(sleeves)).sum().T
    by_sleeve = by_sleeve.loc[:, by_sleeve.abs().max() > 0]
    step = max(1, math.ceil(len(by_sleeve) / MAX_AREA_POINTS))
    shown = pd.concat([by_sleeve.iloc[::step], by_sleeve.iloc[-1:]])
    shown = shown[~shown.index.duplicated()]
    figure = Figure(figsize=(10, 4.2))
    axes = figure.subplots()
    axes.set_ylabel(label)
    axes.yaxis.set_major_formatter(_PERCENT)
    if shown.empty:  # a run that never held anything
        axes.text(0.5, 0.5, "nothing held", ha="center", transform=axes.transAxes)
        return figure
    colours = sleeve_colours(list(shown.columns))
    if (shown.to_numpy() >= 0).all():
        axes.stackplot(
            _dates(shown),
            shown.to_numpy().T,
            labels=list(shown.columns),
            colors=[colours[s] for s in shown.columns],
            linewidth=0,
        )
    else:  # negative values: stacking would hide them
        for sleeve, values in shown.items():
            axes.plot(
                _dates(values),
                values.to_numpy(),
                label=sleeve,
                lw=1.0,
                color=colours[str(sleeve)],
            )
    shade(axes, window, edges=True)
    handles, labels = axes.get_legend_handles_labels()
    rows = _figure_legend(
        figure, handles + span_handles(window), labels + span_labels(window)
    )
    _finish(figure, window, legend_rows=rows)
    return figure


def vol_figure(result: BacktestResult, window: ChartWindow) -> Figure:
    """Ex-ante volatility of each decision, realised volatility and the target."""
    factor = annual_vol_factor(result.periods_per_year)
    realised = _thin(
        window.cut(result.returns).rolling(REALISED_WINDOW_DAYS).std() * factor
    )
    ex_ante = window.cut(result.decisions["ex_ante_vol_annual"])
    figure = Figure(figsize=(10, 3.5))
    axes = figure.subplots()
    axes.step(
        _dates(ex_ante),
        ex_ante.to_numpy(),
        where="post",
        color=POLICY_COLOUR,
        lw=1.2,
        label="ex-ante (at each decision)",
        zorder=3,
    )
    axes.plot(
        _dates(realised),
        realised.to_numpy(),
        color=REALISED_COLOUR,
        lw=1.0,
        label=f"realised ({REALISED_WINDOW_DAYS} days)",
    )
    target = result.policy.target.target_vol_annual
    if target is not None:
        axes.axhline(target, color=TARGET_COLOUR, ls="--", lw=1.0, label="target")
    axes.set_ylabel("annual volatility")
    axes.yaxis.set_major_formatter(_PERCENT)
    shade(axes, window)
    _finish(figure, window, legend_rows=_legend(figure, axes, window))
    return figure


def rolling_window_days(days: int, periods_per_year: float) -> int:
    """One year of observations, or a quarter when the run is under three years."""
    year = round(periods_per_year)
    return year if days >= 3 * year else round(periods_per_year / 4)


def rolling_figure(
    result: BacktestResult, baseline: BacktestResult | None, window: ChartWindow
) -> Figure:
    """Trailing volatility and Sharpe ratio of the policy and its baseline."""
    ppy = result.periods_per_year
    days = rolling_window_days(len(window.cut(result.returns)), ppy)
    figure = Figure(figsize=(10, 5))
    vol_axes, sharpe_axes = figure.subplots(2, 1, sharex=True)
    for run, name, style in _runs(result, baseline):
        returns = window.cut(run.returns)
        mean = returns.rolling(days).mean()
        std = returns.rolling(days).std()
        vol = std * annual_vol_factor(ppy)
        sharpe = _thin((mean * ppy / vol).where(std > 0.0))
        vol = _thin(vol)
        vol_axes.plot(_dates(vol), vol.to_numpy(), label=name, **style)
        sharpe_axes.plot(_dates(sharpe), sharpe.to_numpy(), **style)
    vol_axes.set_ylabel(f"volatility ({days} days)")
    vol_axes.yaxis.set_major_formatter(_PERCENT)
    sharpe_axes.set_ylabel(f"Sharpe ratio ({days} days)")
    sharpe_axes.axhline(0.0, color="#999999", lw=0.6)
    for axes in (vol_axes, sharpe_axes):
        shade(axes, window)
    _finish(figure, window, legend_rows=_legend(figure, vol_axes, window))
    return figure


def zoom_figure(
    result: BacktestResult,
    baseline: BacktestResult | None,
    window: ChartWindow,
    episode: tuple[pd.Timestamp, pd.Timestamp],
) -> Figure:
    """An episode close up: growth and drawdown of both runs, and holdings by sleeve.

    The episode's first and last dates are marked with dotted lines; returns are
    compounded from the episode's first close (0% there), drawdowns from the
    running high since the window's first date.
    """
    figure = Figure(figsize=(10, 7.2))
    growth, drawdowns, holdings = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1, 1.6]}
    )
    for run, name, style in _runs(result, baseline):
        wealth = (1.0 + window.cut(run.returns)).cumprod()
        before = wealth.loc[: episode[0]]  # the close the episode starts from
        rebased = wealth / (before.iloc[-1] if len(before) else 1.0) - 1.0
        growth.plot(_dates(rebased), rebased.to_numpy(), label=name, **style)
        drawdown = wealth / wealth.cummax() - 1.0
        drawdowns.plot(_dates(drawdown), drawdown.to_numpy(), **style)
    growth.axhline(0.0, color="#999999", lw=0.6)
    growth.set_ylabel("cumulative return")
    drawdowns.set_ylabel("drawdown")
    weights = window.cut(result.weights).T.groupby(pd.Series(result.sleeves)).sum().T
    weights = weights.loc[:, weights.abs().max() > 0]
    colours = sleeve_colours(list(weights.columns))
    if not weights.empty and (weights.to_numpy() >= 0).all():
        holdings.stackplot(
            _dates(weights),
            weights.to_numpy().T,
            labels=list(weights.columns),
            colors=[colours[s] for s in weights.columns],
            linewidth=0,
        )
    else:
        for sleeve, values in weights.items():
            holdings.plot(
                _dates(values),
                values.to_numpy(),
                label=sleeve,
                lw=1.0,
                color=colours[str(sleeve)],
            )
    holdings.set_ylabel("policy weights")
    for axes in (growth, drawdowns, holdings):
        axes.yaxis.set_major_formatter(_PERCENT)
        shade(axes, window, edges=axes is holdings)
        for day in episode:
            axes.axvline(day, color="#555555", ls=":", lw=1.0)
    label_spans(growth, window, figure.get_figwidth())
    lines, names = growth.get_legend_handles_labels()
    areas, sleeve_names = holdings.get_legend_handles_labels()
    rows = _figure_legend(
        figure,
        lines + span_handles(window) + areas,
        names + span_labels(window) + sleeve_names,
    )
    _finish(figure, window, legend_rows=rows)
    return figure


def sleeve_colours(sleeves: Sequence[str]) -> dict[str, str]:
    """A colour for each sleeve: the built-in ones fixed, others from tab10."""
    others = ("#17becf", "#bcbd22", "#e377c2", "#aec7e8", "#ffbb78", "#98df8a")
    extra = [s for s in sleeves if s not in SLEEVE_COLOURS]
    return {
        s: SLEEVE_COLOURS.get(s) or others[extra.index(s) % len(others)]
        for s in sleeves
    }


def svg(figure: Figure) -> str:
    """The figure as an inline ``<svg>`` element, the same for the same figure."""
    buffer = io.StringIO()
    # text as text (smaller, searchable); no date or random ids: the same run
    # gives the same page
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "riskengine"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes at `PNG_DPI`, for slides."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _runs(
    result: BacktestResult, baseline: BacktestResult | None
) -> list[tuple[BacktestResult, str, dict[str, Any]]]:
    """The policy, then its baseline when there is one: run, name, line style.

    The policy's line is drawn over its baseline's.
    """
    runs = [
        (result, result.policy.name, {"color": POLICY_COLOUR, "lw": 1.3, "zorder": 3})
    ]
    if baseline is not None:
        style = {"color": BASELINE_COLOUR, "lw": 1.0, "zorder": 2}
        runs.append((baseline, f"baseline: {baseline.policy.name}", style))
    return runs


def _thin(series: pd.Series) -> pd.Series:
    """At most about `MAX_LINE_POINTS` points of a line, its lows and highs kept.

    The dates are cut into equal stretches; each keeps its lowest and highest
    value (and the line its first and last point), so a drawn line reaches every
    trough and peak of the full series at the chart's resolution.
    """
    n = len(series)
    if n <= MAX_LINE_POINTS:
        return series
    size = math.ceil(n / (MAX_LINE_POINTS // 2))
    stretches = math.ceil(n / size)
    padded = np.full(stretches * size, np.nan)
    padded[:n] = series.to_numpy(float)
    grid = padded.reshape(stretches, size)
    missing = np.isnan(grid)
    starts = np.arange(stretches) * size
    lows = np.where(missing, np.inf, grid).argmin(axis=1) + starts
    highs = np.where(missing, -np.inf, grid).argmax(axis=1) + starts
    keep = np.unique(np.concatenate([[0, n - 1], lows, highs]))
    return series.iloc[keep[keep < n]]


def _dates(series: pd.Series | pd.DataFrame) -> Any:
    """The dates of `series` as numpy datetimes.

    Matplotlib converts those at once, a `DatetimeIndex` one `Timestamp` at a time.
    """
    return series.index.to_numpy()


def _legend(figure: Figure, axes: Axes, window: ChartWindow) -> int:
    """The axes' lines and the visible rules' shades under the figure; its rows."""
    lines, names = axes.get_legend_handles_labels()
    return _figure_legend(
        figure, [*lines, *span_handles(window)], [*names, *span_labels(window)]
    )


def _figure_legend(figure: Figure, handles: list[Any], labels: list[str]) -> int:
    """A legend under the figure's axes, in up to four columns; its rows."""
    columns = min(len(labels), 4)
    if not columns:
        return 0
    figure.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=columns,
        fontsize="small",
        frameon=False,
    )
    return math.ceil(len(labels) / columns)


def _finish(figure: Figure, window: ChartWindow, *, legend_rows: int = 0) -> None:
    """Common x range and grid, and fixed margins.

    Margins are set, not measured: `Figure.tight_layout` would draw each figure
    once more to measure it (and leave a layout engine that makes `savefig` draw
    it a third time), which is most of a report's rendering time.
    """
    for axes in figure.axes:
        axes.set_xlim(window.start, window.end)
        axes.grid(True, color="#e5e5e5", lw=0.6)
        axes.set_axisbelow(True)
    height = figure.get_figheight()
    figure.subplots_adjust(
        left=0.1,
        right=0.96,
        bottom=(0.4 + 0.2 * legend_rows) / height,
        top=1.0 - 0.1 / height,
        hspace=0.35 / height * len(figure.axes),
    )
