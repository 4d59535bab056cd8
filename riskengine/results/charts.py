"""The report's figures: growth, drawdowns, sleeves, volatility, rolling risk, zooms.

Figures are built with matplotlib's object API (no display, no global state), every
axis of returns, weights or volatility is in percent, and the periods a trigger held
the policy risk-off are shaded (and the larger ones labelled) on each time axis.
The same figures go into the HTML page (`svg`) and, for slides, into PNG files
(`png`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    NullFormatter,
    PercentFormatter,
)

from riskengine.backtest import BacktestResult
from riskengine.calendar import annual_vol_factor

POLICY_COLOUR = "#1f4e79"
BASELINE_COLOUR = "#e67e22"
TARGET_COLOUR = "#222222"
REALISED_COLOUR = "#2ca02c"
RISK_OFF_COLOURS = ("#c0392b", "#8e44ad", "#16a085", "#7f8c8d")
"""Shade of each trigger rule's risk-off periods, in order of first entry."""
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
LABELLED_SPANS = 8
"""At most this many risk-off periods are labelled on a chart, the longest first."""
LABEL_MIN_FRACTION = 0.004
"""A risk-off period shorter than this fraction of the chart's span is not labelled."""
REALISED_WINDOW_DAYS = 63
"""Window of the realised volatility drawn against the ex-ante forecast."""
PNG_DPI = 150

_PERCENT = PercentFormatter(xmax=1.0, decimals=None)


@dataclass(frozen=True)
class RiskOffSpan:
    """A period a trigger held the policy risk-off.

    Attributes
    ----------
    rule : str
        The trigger's name (the events' subject).
    entry : pd.Timestamp
        Close at which the trigger entered risk-off.
    exit : pd.Timestamp or None
        Close at which it exited; None while still risk-off at the run's end.
    """

    rule: str
    entry: pd.Timestamp
    exit: pd.Timestamp | None

    def end(self, last: pd.Timestamp) -> pd.Timestamp:
        """The exit, or `last` (the run's last date) while still risk-off."""
        return last if self.exit is None else self.exit


LADDER = "drawdown ladder"
"""The rule name of the periods the drawdown ladder held the risk target down."""


def risk_off_spans(events: pd.DataFrame) -> list[RiskOffSpan]:
    """Periods the overlays held the policy risk-off, from the event log.

    A trigger's period runs from its ``trigger_enter`` event to its next
    ``trigger_exit``; the drawdown ladder's (rule `LADDER`) from a
    ``drawdown_ladder`` event that cuts the risk target (multiplier below 1) to
    the one that restores it.

    Parameters
    ----------
    events : pd.DataFrame
        An event log (see `riskengine.events`), sorted by date.

    Returns
    -------
    list of RiskOffSpan
        In order of entry; a period still open at the end has ``exit`` None.
    """
    spans: list[RiskOffSpan] = []
    open_since: dict[str, pd.Timestamp] = {}
    kinds = ("trigger_enter", "trigger_exit", "drawdown_ladder")
    for row in events[events["kind"].isin(kinds)].itertuples(index=False):
        if row.kind == "drawdown_ladder":
            rule, cut = LADDER, row.details["multiplier"] < 1.0
        else:
            rule, cut = str(row.subject), row.kind == "trigger_enter"
        if cut:
            open_since.setdefault(rule, row.date)
        elif rule in open_since:
            spans.append(RiskOffSpan(rule, open_since.pop(rule), row.date))
    spans += [RiskOffSpan(rule, entry, None) for rule, entry in open_since.items()]
    return sorted(spans, key=lambda span: span.entry)


@dataclass(frozen=True)
class ChartWindow:
    """The dates a chart shows, and the risk-off periods within them.

    Attributes
    ----------
    start, end : pd.Timestamp
        First and last date shown.
    spans : tuple of RiskOffSpan
        Risk-off periods of the whole run (those outside the window are clipped).
    rule_colours : Mapping
        Shade of each rule.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    spans: tuple[RiskOffSpan, ...]
    rule_colours: Mapping[str, str]

    @classmethod
    def of(
        cls,
        result: BacktestResult,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> ChartWindow:
        """A window on `result` (by default from its first holding to its end)."""
        spans = tuple(risk_off_spans(result.events))
        rules = list(dict.fromkeys(span.rule for span in spans))
        colours = {
            rule: RISK_OFF_COLOURS[i % len(RISK_OFF_COLOURS)]
            for i, rule in enumerate(rules)
        }
        index = result.returns.index
        return cls(
            index[0] if start is None else max(start, index[0]),
            index[-1] if end is None else min(end, index[-1]),
            spans,
            colours,
        )

    @property
    def years(self) -> float:
        """Length of the window in years of 365.25 days."""
        return (self.end - self.start).days / 365.25

    def cut(self, frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
        """The rows of `frame` within the window."""
        return frame.loc[self.start : self.end]


def main_window(result: BacktestResult, baseline: BacktestResult | None) -> ChartWindow:
    """The main charts' window: from the first holding of the policy or baseline."""
    starts = [
        run.invested_period.start
        for run in (result, baseline)
        if run is not None and run.invested_period.start is not None
    ]
    return ChartWindow.of(result, min(starts) if starts else None)


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
    _shade(top, window)
    _shade(bottom, window)
    _label_spans(top, window, figure.get_figwidth())
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
    _shade(axes, window, edges=True)
    handles, labels = axes.get_legend_handles_labels()
    rows = _figure_legend(
        figure, handles + _span_handles(window), labels + _span_labels(window)
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
    _shade(axes, window)
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
        _shade(axes, window)
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
        _shade(axes, window, edges=axes is holdings)
        for day in episode:
            axes.axvline(day, color="#555555", ls=":", lw=1.0)
    _label_spans(growth, window, figure.get_figwidth())
    lines, names = growth.get_legend_handles_labels()
    areas, sleeve_names = holdings.get_legend_handles_labels()
    rows = _figure_legend(
        figure,
        lines + _span_handles(window) + areas,
        names + _span_labels(window) + sleeve_names,
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


def _visible_spans(
    window: ChartWindow,
) -> list[tuple[RiskOffSpan, pd.Timestamp, pd.Timestamp]]:
    """Risk-off periods within the window, each with its first and last date there."""
    return [
        (span, max(span.entry, window.start), min(span.end(window.end), window.end))
        for span in window.spans
        if span.entry <= window.end and span.end(window.end) >= window.start
    ]


def _shade(axes: Axes, window: ChartWindow, *, edges: bool = False) -> None:
    """Shade the risk-off periods within the window, behind the data.

    With `edges`, their entry and exit are also drawn as dashed lines over the
    data (stacked areas hide the shade).
    """
    for span, start, end in _visible_spans(window):
        colour = window.rule_colours[span.rule]
        axes.axvspan(start, end, color=colour, alpha=0.15, lw=0, zorder=0)
        if edges:
            for day in (span.entry, span.exit):
                if day is not None and window.start <= day <= window.end:
                    axes.axvline(day, color=colour, ls="--", lw=1.2, zorder=3)


def _label_spans(axes: Axes, window: ChartWindow, figure_width_inches: float) -> None:
    """Write the dates of the longest risk-off periods above them, never overlapping.

    Labels go on up to three rows at the top of the axes; one that fits on no row
    without overlapping another is left out (its period stays shaded). Widths are
    estimated from the characters, the axes taking 85% of the figure's width.
    """
    total_days = max((window.end - window.start).days, 1)
    long_run = window.years > 2.0
    candidates = sorted(
        _visible_spans(window), key=lambda item: item[2] - item[1], reverse=True
    )
    candidates = [
        item
        for item in candidates[:LABELLED_SPANS]
        if (item[2] - item[1]).days >= LABEL_MIN_FRACTION * total_days
    ]
    width_points = figure_width_inches * 72.0 * 0.85
    rows: list[list[tuple[float, float]]] = [[], [], []]
    for span, start, end in sorted(candidates, key=lambda item: item[1]):
        days = (span.end(window.end) - span.entry).days
        ongoing = " (open)" if span.exit is None else ""
        text = (
            f"{span.entry:%b %Y}, {days}d{ongoing}"
            if long_run
            else f"risk-off {span.entry:%d %b %Y} to {span.end(window.end):%d %b %Y}"
            f"{ongoing}"
        )
        width = len(text) * 0.55 * 7.5 / width_points
        left = (start - window.start).days / total_days
        anchor, align = start, "left"
        if left + width > 1.0:  # it would run past the right edge: end at the exit
            anchor, align = end, "right"
            left = (end - window.start).days / total_days - width
        right = left + width
        for level, row in enumerate(rows):
            if all(right < a or left > b for a, b in row):
                row.append((left, right + 0.01))
                axes.text(
                    anchor,
                    0.97 - 0.09 * level,
                    f" {text} ",
                    transform=axes.get_xaxis_transform(),
                    va="top",
                    ha=align,
                    fontsize=7.5,
                    color=window.rule_colours[span.rule],
                    bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 0.5},
                )
                break


def _visible_rules(window: ChartWindow) -> list[str]:
    """Rules with a risk-off period within the window, in order of first entry."""
    return list(
        dict.fromkeys(
            span.rule
            for span in window.spans
            if span.entry <= window.end and span.end(window.end) >= window.start
        )
    )


def _span_handles(window: ChartWindow) -> list[Patch]:
    return [
        Patch(color=window.rule_colours[rule], alpha=0.3)
        for rule in _visible_rules(window)
    ]


def _span_labels(window: ChartWindow) -> list[str]:
    return [f"risk-off: {rule}" for rule in _visible_rules(window)]


def _legend(figure: Figure, axes: Axes, window: ChartWindow) -> int:
    """The axes' lines and the visible rules' shades under the figure; its rows."""
    lines, names = axes.get_legend_handles_labels()
    return _figure_legend(
        figure, [*lines, *_span_handles(window)], [*names, *_span_labels(window)]
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
