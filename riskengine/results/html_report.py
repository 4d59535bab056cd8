"""A backtest as one self-contained HTML page: charts, metrics and the event log.

The page needs nothing but a browser: charts are inline SVG drawn with matplotlib's
object API (no display, no global state), tables are plain HTML, and every text that
comes from a spec, the data or the event log is escaped.
"""

from __future__ import annotations

import io
from html import escape

import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from riskengine.backtest import BacktestResult
from riskengine.calendar import annual_vol_factor
from riskengine.data.prices import SIMULATED_NOTE
from riskengine.data.screen import ScreenReport
from riskengine.results.metrics import METRIC_LABELS

REALISED_WINDOW_DAYS = 63
MAX_EVENT_ROWS = 500
"""Rows of the event log shown in the page (all of them are in events.csv)."""
MAX_SCREEN_ROWS = 200
"""Findings of the data screen listed in the page (all of them are events)."""
MARKED_EVENTS = {"trigger_enter": "#c0392b", "trigger_exit": "#27ae60"}
"""Event kinds drawn as vertical lines on the time-series charts, and their colours."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em;
       color: #222; }
h1 { margin-bottom: 0.2em; } .muted { color: #666; }
.banner { background: #fdecea; border: 1px solid #c0392b; padding: 0.6em 1em;
          font-weight: bold; color: #c0392b; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
svg { max-width: 100%; height: auto; }
"""


def render_html(result: BacktestResult) -> str:
    """The whole report of one run, as an HTML document.

    Parameters
    ----------
    result : BacktestResult
        The run to report.

    Returns
    -------
    str
        A standalone HTML page.
    """
    policy = result.policy
    first, last = result.returns.index[[0, -1]]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>riskengine: {escape(policy.name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
    ]
    if result.simulated:
        parts.append(f'<p class="banner">{SIMULATED_NOTE}</p>')
    parts += [
        f"<h1>{escape(policy.name)}</h1>",
        f"<p>{escape(policy.description)}</p>",
        f'<p class="muted">source of the framework: {escape(policy.source)}<br>'
        f"model: {escape(policy.model.name)}<br>data: {escape(result.source)} "
        f"(sha256 {escape(result.fingerprint[:16])}...)<br>"
        f"period: {first.date()} .. {last.date()}, {len(result.returns)} days "
        f"({escape(result.invested_period.describe())}), "
        f"{len(result.decisions)} decisions, {len(result.weights.columns)} assets</p>",
        "<h2>Metrics</h2>",
        _metrics_table(result),
        "<h2>Data screen</h2>",
        _screen_section(result.screen),
        "<h2>Growth of 1 and drawdown</h2>",
        _svg(_growth_chart(result)),
        "<h2>Holdings by sleeve</h2>",
        _svg(_sleeve_chart(result.weights, result, "weight (fraction of NAV)")),
        "<h2>Risk contributions by sleeve</h2>",
        '<p class="muted">share of the ex-ante variance of each decision\'s '
        "targets</p>",
        _svg(
            _sleeve_chart(
                result.risk_contributions.dropna(), result, "share of variance"
            )
        ),
        "<h2>Ex-ante and realised volatility</h2>",
        _svg(_vol_chart(result)),
        "<h2>Event log</h2>",
        _events_table(result.events),
        "</body></html>",
    ]
    return "\n".join(parts)


def _metrics_table(result: BacktestResult) -> str:
    period = result.invested_period
    if not period.measurable:
        return "<p>No metrics: the policy held nothing long enough to measure.</p>"
    assert period.start is not None  # measurable: it held something
    covered = (
        f'<p class="muted">over the invested period, {period.start.date()} .. '
        f"{period.end.date()} ({period.days} days); the {period.warmup_days} "
        "warm-up days before it, without a holding, are left out</p>"
        if period.warmup_days
        else ""
    )
    rows = []
    for key, value in result.metrics().items():
        label, fmt = METRIC_LABELS[key]
        rows.append(
            f'<tr><th>{escape(label)}</th><td class="number">{fmt.format(value)}</td>'
            "</tr>"
        )
    return covered + "<table>" + "".join(rows) + "</table>"


def _screen_section(screen: ScreenReport | None) -> str:
    if screen is None:
        return "<p>This run was not screened.</p>"
    summary = (
        f"<p>{escape(screen.describe())}; a finding that would have stopped the "
        "run (a bad tick, a stray date, ...) leaves no report</p>"
    )
    if not screen.findings:
        return summary
    shown = screen.findings[:MAX_SCREEN_ROWS]
    rows = [
        f"<tr><td>{f.date.date()}</td><td>{escape(f.column)}</td>"
        f"<td>{escape(f.kind)}</td><td>{escape(f.message)}</td></tr>"
        for f in shown
    ]
    note = (
        f'<p class="muted">the first {MAX_SCREEN_ROWS} of {len(screen.findings)} '
        "findings; all are in events.csv</p>"
        if len(screen.findings) > MAX_SCREEN_ROWS
        else ""
    )
    return (
        f"{summary}{note}<table><tr><th>date</th><th>column</th><th>finding</th>"
        "<th>what</th></tr>" + "".join(rows) + "</table>"
    )


def _events_table(events: pd.DataFrame) -> str:
    if events.empty:
        return "<p>No events.</p>"
    counts = events["kind"].value_counts()
    summary = ", ".join(f"{escape(str(k))} {n}" for k, n in counts.items())
    shown = events.tail(MAX_EVENT_ROWS)
    rows = [
        f"<tr><td>{row.date.date()}</td><td>{escape(str(row.kind))}</td>"
        f"<td>{escape(str(row.subject))}</td><td>{escape(str(row.message))}</td></tr>"
        for row in shown.itertuples(index=False)
    ]
    note = (
        f'<p class="muted">the last {MAX_EVENT_ROWS} of {len(events)} events; all '
        "are in events.csv</p>"
        if len(events) > MAX_EVENT_ROWS
        else ""
    )
    return (
        f"<p>{summary}</p>{note}<table><tr><th>date</th><th>kind</th><th>subject</th>"
        "<th>message</th></tr>" + "".join(rows) + "</table>"
    )


def _growth_chart(result: BacktestResult) -> Figure:
    nav = (1.0 + result.returns).cumprod()
    drawdown = nav / nav.cummax() - 1.0
    figure = Figure(figsize=(10, 5.5))
    top, bottom = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(nav.index, nav.to_numpy(), color="#1f4e79", linewidth=1.0)
    top.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    top.yaxis.set_major_formatter(plain)
    top.yaxis.set_minor_formatter(plain)
    top.set_ylabel("NAV (log scale)")
    period = result.invested_period
    if period.start is not None and period.warmup_days:
        top.axvline(period.start, color="#666666", linestyle=":", linewidth=1.0)
        top.text(
            period.start,
            0.97,
            " first holding",
            transform=top.get_xaxis_transform(),
            va="top",
            fontsize="small",
            color="#666666",
        )
    bottom.fill_between(drawdown.index, drawdown.to_numpy(), 0.0, color="#c0392b")
    bottom.set_ylabel("drawdown")
    for axes in (top, bottom):
        _mark_events(axes, result.events)
    figure.tight_layout()
    return figure


def _sleeve_chart(frame: pd.DataFrame, result: BacktestResult, label: str) -> Figure:
    """Columns of `frame` (one per asset) summed by sleeve, stacked when all >= 0."""
    by_sleeve = frame.T.groupby(pd.Series(result.sleeves)).sum().T
    by_sleeve = by_sleeve.loc[:, by_sleeve.abs().max() > 0]
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots()
    axes.set_ylabel(label)
    if by_sleeve.empty:  # a run that never held anything
        axes.text(0.5, 0.5, "nothing held", ha="center", transform=axes.transAxes)
        return figure
    if (by_sleeve.to_numpy() >= 0).all():
        axes.stackplot(
            by_sleeve.index,
            by_sleeve.to_numpy().T,
            labels=list(by_sleeve.columns),
            linewidth=0,
        )
    else:  # negative values: stacking would hide them
        for sleeve, values in by_sleeve.items():
            axes.plot(values.index, values.to_numpy(), label=sleeve, linewidth=1)
    axes.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
        ncols=len(by_sleeve.columns),
        fontsize="small",
        frameon=False,
    )
    _mark_events(axes, result.events)
    figure.tight_layout()
    return figure


def _vol_chart(result: BacktestResult) -> Figure:
    factor = annual_vol_factor(result.periods_per_year)
    realised = result.returns.rolling(REALISED_WINDOW_DAYS).std() * factor
    ex_ante = result.decisions["ex_ante_vol_annual"]
    figure = Figure(figsize=(10, 3.5))
    axes = figure.subplots()
    axes.step(ex_ante.index, ex_ante.to_numpy(), where="post", label="ex-ante")
    axes.plot(
        realised.index,
        realised.to_numpy(),
        label=f"realised ({REALISED_WINDOW_DAYS} days)",
        linewidth=1,
    )
    target = result.policy.target.target_vol_annual
    if target is not None:
        axes.axhline(target, color="black", linestyle="--", label="target")
    axes.set_ylabel("annual volatility")
    axes.legend(loc="upper left", fontsize="small")
    _mark_events(axes, result.events)
    figure.tight_layout()
    return figure


def _mark_events(axes: Axes, events: pd.DataFrame) -> None:
    for kind, colour in MARKED_EVENTS.items():
        for date in events.loc[events["kind"] == kind, "date"]:
            axes.axvline(date, color=colour, linewidth=0.8, alpha=0.7)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    # text as text (smaller, searchable); no date or random ids: the same run
    # gives the same page
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "riskengine"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype
