"""Where a run's overlays held it risk-off, and how a chart window shows it.

`risk_off_spans` reads the periods from the event log (a trigger from its entry to
its exit, the drawdown ladder from its cut to its restore); a `ChartWindow` holds
the dates a chart shows with those periods, which `shade` draws behind the data and
`label_spans` labels (the longest, without overlaps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from riskengine.backtest import BacktestResult

RISK_OFF_COLOURS = ("#c0392b", "#8e44ad", "#16a085", "#7f8c8d")
"""Shade of each trigger rule's risk-off periods, in order of first entry."""
LABELLED_SPANS = 8
"""At most this many risk-off periods are labelled on a chart, the longest first."""
LABEL_MIN_FRACTION = 0.004
"""A risk-off period shorter than this fraction of the chart's span is not labelled."""


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
        """A window on `result`, by default the whole run, clipped to its dates."""
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


def _visible_spans(
    window: ChartWindow,
) -> list[tuple[RiskOffSpan, pd.Timestamp, pd.Timestamp]]:
    """Risk-off periods within the window, each with its first and last date there."""
    return [
        (span, max(span.entry, window.start), min(span.end(window.end), window.end))
        for span in window.spans
        if span.entry <= window.end and span.end(window.end) >= window.start
    ]


def shade(axes: Axes, window: ChartWindow, *, edges: bool = False) -> None:
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


def label_spans(axes: Axes, window: ChartWindow, figure_width_inches: float) -> None:
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


def span_handles(window: ChartWindow) -> list[Patch]:
    """Legend patches of the rules with a risk-off period in the window."""
    return [
        Patch(color=window.rule_colours[rule], alpha=0.3)
        for rule in _visible_rules(window)
    ]


def span_labels(window: ChartWindow) -> list[str]:
    """Legend labels matching `span_handles`."""
    return [f"risk-off: {rule}" for rule in _visible_rules(window)]
