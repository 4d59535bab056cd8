"""A backtest as one self-contained HTML page a portfolio manager decides from.

The page needs nothing but a browser: charts are inline SVG (see
`riskengine.results.charts`), tables are plain HTML, a Content-Security-Policy
forbids every request the page could make (scripts, fonts, remote images), and
every text that comes from a spec, the data or the event log is escaped.

Sections: the run and its baseline, headline metrics of both, growth and drawdowns
with the risk-off periods shaded and labelled, the risk-off periods against the
baseline, the five worst drawdowns, monthly and yearly returns, holdings and risk
contributions by sleeve, ex-ante against realised against target volatility,
rolling volatility and Sharpe ratio, a close-up of each named episode the run
covers, the data screen and the event log.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from riskengine.backtest import BacktestResult
from riskengine.data.prices import SIMULATED_NOTE
from riskengine.data.screen import ScreenReport
from riskengine.results.charts import (
    ChartWindow,
    growth_figure,
    main_window,
    rolling_figure,
    rolling_window_days,
    sleeve_figure,
    svg,
    uses_log_scale,
    vol_figure,
    zoom_figure,
)
from riskengine.results.metrics import METRIC_LABELS, max_drawdown
from riskengine.results.tables import MONTHS, calendar_returns, worst_drawdowns
from riskengine.scenarios.episodes import Episode, load_episodes

MAX_EVENT_ROWS = 500
"""Rows of the event log shown in the page (all of them are in events.csv)."""
MAX_SCREEN_ROWS = 200
"""Findings of the data screen listed in the page (all of them are events)."""
WORST_DRAWDOWNS = 5
MAX_ATTRIBUTION_ROWS = 50
"""De-risking episodes listed in the page, the latest (all are in the Parquet)."""
EPISODE_MARGIN = 0.25
"""A close-up shows this fraction of the episode's length before and after it."""
CONTENT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The page's Content-Security-Policy: no request of any kind leaves it."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em;
       color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } .muted { color: #666; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
.banner { background: #fdecea; border: 1px solid #c0392b; padding: 0.6em 1em;
          font-weight: bold; color: #c0392b; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; }
td { white-space: nowrap; } td.text { white-space: normal; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
table.heat td { padding: 0.25em 0.5em; }
svg { width: 100%; height: auto; }
nav a { margin-right: 1em; }
table.attribution { font-size: 0.8em; } table.attribution td { padding: 0.3em 0.4em; }
th.group { text-align: center; border-bottom: 1px solid #999; }
tr.total td { font-weight: bold; border-top: 2px solid #999; }
"""


@dataclass(frozen=True)
class ReportFigures:
    """The figures of a report, by file name (no extension), and the page's window.

    Attributes
    ----------
    window : ChartWindow
        Dates of the main charts.
    figures : Mapping
        ``growth``, ``holdings``, ``risk_contributions``, ``volatility``,
        ``rolling`` and ``episode-NAME`` for each named episode the run covers.
    """

    window: ChartWindow
    figures: Mapping[str, Figure]


def report_figures(result: BacktestResult) -> ReportFigures:
    """Every figure of the report of `result`, for the page and for slides.

    Parameters
    ----------
    result : BacktestResult
        The run.

    Returns
    -------
    ReportFigures
    """
    baseline = _baseline(result)
    window = main_window(result, baseline)
    figures = {
        "growth": growth_figure(result, baseline, window),
        "holdings": sleeve_figure(
            result.weights, result.sleeves, window, "weight (fraction of NAV)"
        ),
        "risk_contributions": sleeve_figure(
            result.risk_contributions.dropna(),
            result.sleeves,
            window,
            "share of variance",
        ),
        "volatility": vol_figure(result, window),
        "rolling": rolling_figure(result, baseline, window),
    }
    for episode, zoom in _episode_windows(result, window):
        marks = (pd.Timestamp(episode.start), pd.Timestamp(episode.end))
        figures[f"episode-{episode.name}"] = zoom_figure(result, baseline, zoom, marks)
    return ReportFigures(window, figures)


def render_html(result: BacktestResult, figures: ReportFigures | None = None) -> str:
    """The whole report of one run, as an HTML document.

    Parameters
    ----------
    result : BacktestResult
        The run to report.
    figures : ReportFigures, optional
        Its figures, when already built (to save them as PNG too); built here
        otherwise.

    Returns
    -------
    str
        A standalone HTML page.
    """
    drawn = report_figures(result) if figures is None else figures
    charts = {name: svg(figure) for name, figure in drawn.figures.items()}
    window = drawn.window
    policy = result.policy
    baseline = _baseline(result)
    first, last = result.returns.index[[0, -1]]
    episodes = _episode_windows(result, window)
    rolling_days = rolling_window_days(
        len(window.cut(result.returns)), result.periods_per_year
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">',
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
        f"{len(result.decisions)} decisions, {len(result.weights.columns)} assets<br>"
        f"baseline: {escape(result.baseline_note or 'none')}</p>",
        _contents(episodes),
        '<h2 id="metrics">Metrics</h2>',
        _metrics_table(result, baseline),
        '<h2 id="growth">Growth and drawdown</h2>',
        _window_note(result, baseline, window),
        charts["growth"],
        '<h2 id="attribution">De-risking attribution</h2>',
        _attribution_table(result),
        '<h2 id="drawdowns">The five worst drawdowns</h2>',
        _drawdowns_table(result, baseline, window),
        '<h2 id="calendar">Monthly and yearly returns</h2>',
        _calendar_table(result, baseline, window),
        '<h2 id="holdings">Holdings by sleeve</h2>',
        charts["holdings"],
        '<h2 id="risk">Risk contributions by sleeve</h2>',
        '<p class="muted">share of the ex-ante variance of each decision\'s '
        "targets</p>",
        charts["risk_contributions"],
        '<h2 id="volatility">Ex-ante, realised and target volatility</h2>',
        charts["volatility"],
        '<h2 id="rolling">Rolling volatility and Sharpe ratio</h2>',
        f'<p class="muted">trailing window of {rolling_days} days; Sharpe ratio '
        "without a risk-free rate</p>",
        charts["rolling"],
    ]
    for episode, zoom in episodes:
        parts += _episode_section(result, baseline, episode, zoom, charts)
    parts += [
        '<h2 id="screen">Data screen</h2>',
        _screen_section(result.screen),
        '<h2 id="events">Event log</h2>',
        _events_table(result.events),
        "</body></html>",
    ]
    return "\n".join(parts)


def _baseline(result: BacktestResult) -> BacktestResult | None:
    """The run's baseline when it differs from the policy (not its own baseline)."""
    baseline = result.baseline
    if baseline is None or baseline.policy == result.policy:
        return None
    return baseline


def _contents(episodes: list[tuple[Episode, ChartWindow]]) -> str:
    links = [
        ("metrics", "metrics"),
        ("growth", "growth"),
        ("attribution", "attribution"),
        ("drawdowns", "drawdowns"),
        ("calendar", "monthly returns"),
        ("holdings", "holdings"),
        ("risk", "risk"),
        ("volatility", "volatility"),
        ("rolling", "rolling"),
        *((f"episode-{e.name}", e.name) for e, _ in episodes),
        ("events", "events"),
    ]
    return (
        "<nav>"
        + "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in links)
        + "</nav>"
    )


def _window_note(
    result: BacktestResult, baseline: BacktestResult | None, window: ChartWindow
) -> str:
    start = result.returns.index[0]
    skipped = int((result.returns.index < window.start).sum())
    lead = (
        f"from the first holding, {window.start.date()} (the {skipped} warm-up days "
        f"before it, from {start.date()}, are left out)"
        if skipped
        else f"from {window.start.date()}"
    )
    scale = "log scale, " if uses_log_scale(result, baseline, window) else ""
    return (
        f'<p class="muted">cumulative returns {lead} to {window.end.date()}, '
        f"{scale}after costs; drawdowns from the running high; shaded: the periods "
        "the policy's overlays held it risk-off (a trigger from its entry to its "
        "exit, the drawdown ladder from its cut to its restore)</p>"
    )


def _pct(value: float, digits: int = 2, signed: bool = False) -> str:
    """A decimal in percent; signed differences that round to zero read 0.00%."""
    if math.isnan(value):
        return ""
    if signed and round(value * 100.0, digits) != 0.0:
        return f"{value:+.{digits}%}"
    return f"{abs(value) if signed else value:.{digits}%}"


def _number(text: str) -> str:
    return f'<td class="number">{text}</td>'


def _total(returns: pd.Series) -> float:
    return float((1.0 + returns).prod() - 1.0)


def _metrics_table(result: BacktestResult, baseline: BacktestResult | None) -> str:
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
    held = slice(period.start, None)
    runs = [(result, result.metrics(), _total(result.returns.loc[held]))]
    if baseline is not None and baseline.invested_period.measurable:
        base_start = baseline.invested_period.start
        runs.append(
            (baseline, baseline.metrics(), _total(baseline.returns.loc[base_start:]))
        )
    header = "".join(
        f'<th class="number">{escape(run.policy.name)}</th>' for run, _, _ in runs
    )
    if len(runs) == 2:
        header += '<th class="number">difference</th>'
    rows = [f"<tr><th></th>{header}</tr>"]
    totals = [total for _, _, total in runs]
    rows.append(
        "<tr><th>Total return</th>"
        + "".join(_number(_pct(t)) for t in totals)
        + (_number(_pct(totals[0] - totals[1], signed=True)) if len(runs) == 2 else "")
        + "</tr>"
    )
    for key, (label, fmt) in METRIC_LABELS.items():
        values = [metrics[key] for _, metrics, _ in runs]
        cells = "".join(_number(fmt.format(v)) for v in values)
        if len(runs) == 2:
            difference = values[0] - values[1]
            shown = fmt.format(abs(difference))  # one that rounds to zero: no sign
            if shown != fmt.format(0.0):
                shown = fmt.replace("{:", "{:+").format(difference)
            cells += _number("" if math.isnan(difference) else shown)
        rows.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    return covered + "<table>" + "".join(rows) + "</table>"


def _attribution_table(result: BacktestResult) -> str:
    """Each de-risking episode against the baseline, then the total.

    Two tables: what each episode did to return and drawdown (with the acted-on
    sleeves' weights before and after the cut), and what it cost and how it was
    conducted (turnover, costs, whipsaws, lateness, signal, volatility). The
    figures are `BacktestResult.attribution`'s (see
    `riskengine.results.attribution`).
    """
    if result.baseline is None:
        return (
            "<p>This run has no baseline: nothing to attribute its de-risking to.</p>"
        )
    frame = result.attribution()
    episodes, total = frame.iloc[:-1], frame.iloc[-1]
    shown = list(episodes.iloc[-MAX_ATTRIBUTION_ROWS:].itertuples(index=False))
    notes = [
        '<p class="muted">an episode runs from the close at which an overlay cut '
        "exposure to the close at which it was fully restored (the charts shade a "
        "trigger from its entry to its exit event, before the staged re-entry); "
        "returns and drawdowns over the days held in between, against the baseline "
        f"({escape(result.baseline_note)}); given up = baseline - policy return, "
        "avoided = policy - baseline drawdown</p>"
    ]
    if episodes.empty:
        notes.append("<p>No overlay cut the policy's exposure in this run.</p>")
    if len(episodes) > MAX_ATTRIBUTION_ROWS:
        notes.append(
            f'<p class="muted">the last {MAX_ATTRIBUTION_ROWS} of {len(episodes)} '
            "episodes; all are in attribution.parquet</p>"
        )
    after = int(episodes["after_days"].max()) if len(episodes) else 0
    outcome = [
        '<tr><th colspan="5"></th><th colspan="3" class="group">return</th>'
        '<th colspan="3" class="group">max drawdown</th>'
        f'<th colspan="2" class="group">{after} days after</th></tr>',
        _header(
            [
                *("overlay", "entry", "exit", "days", "exposure cut", "policy"),
                *("baseline", "given up", "policy", "baseline", "avoided"),
                *("policy", "baseline"),
            ]
        ),
    ]
    for row in shown:
        outcome.append(_outcome_row(row, str(row.overlay)))
        if row.exposure_change:
            outcome.append(
                '<tr><td></td><td colspan="12" class="text muted">'
                f"{escape(str(row.exposure_change))}</td></tr>"
            )
    outcome.append(_outcome_row(total, f"total from {total.entry.date()}"))
    conduct = [
        '<tr><th colspan="2"></th>'
        '<th colspan="3" class="group">caused by the overlay</th>'
        '<th colspan="2" class="group">restored, days after signal</th>'
        '<th colspan="3" class="group">signal</th>'
        '<th colspan="4" class="group">volatility (annual)</th></tr>',
        _header(
            [
                *("overlay", "entry", "turnover", "costs", "whipsaw", "peak"),
                *("normal", "entry", "peak", "exit", "policy", "baseline"),
                *("target", "ex-ante"),
            ]
        ),
    ]
    conduct += [_conduct_row(row, str(row.overlay)) for row in shown]
    conduct.append(_conduct_row(total, "total"))
    return (
        "".join(notes)
        + '<table class="attribution">'
        + "".join(outcome)
        + "</table>"
        + '<table class="attribution">'
        + "".join(conduct)
        + "</table>"
    )


def _header(names: list[str]) -> str:
    return "<tr>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"


def _outcome_row(row: Any, label: str) -> str:
    """An attribution row's dates, exposure, return and drawdown against baseline."""
    exposure = (
        f"{row.exposure_before:.1%} -> {row.exposure_after:.1%}"
        if math.isfinite(row.exposure_before)
        else ""
    )
    cells = [
        f"<td>{escape(label)}</td><td>{row.entry.date()}</td>",
        "<td>open</td>" if pd.isna(row.exit) else f"<td>{row.exit.date()}</td>",
        _number(str(int(row.days_derisked))),
        _number(exposure),
        _number(_pct(row.return_policy)),
        _number(_pct(row.return_baseline)),
        _number(_pct(row.return_given_up, signed=True)),
        _number(_pct(row.max_drawdown_policy)),
        _number(_pct(row.max_drawdown_baseline)),
        _number(_pct(row.drawdown_avoided, signed=True)),
        _number(_pct(row.return_after_policy)),
        _number(_pct(row.return_after_baseline)),
    ]
    total = ' class="total"' if row.kind == "total" else ""
    return f"<tr{total}>" + "".join(cells) + "</tr>"


def _conduct_row(row: Any, label: str) -> str:
    """An attribution row's turnover, costs, whipsaws, lateness, signal and vols."""
    date = "" if row.kind == "total" else str(row.entry.date())
    cells = [
        f"<td>{escape(label)}</td><td>{date}</td>",
        _number(_pct(row.turnover_overlay, 1, signed=True)),
        _number(f"{row.cost_overlay * 1e4:+.1f} bp"),
        _number(str(int(row.whipsaws))),
        _number(_days(row.lateness_from_peak_days)),
        _number(_days(row.lateness_from_normal_days)),
        _number(_decimal(row.signal_entry)),
        _number(_decimal(row.signal_peak)),
        _number(_decimal(row.signal_exit)),
        _number(_pct(row.realised_vol_annual_policy, 1)),
        _number(_pct(row.realised_vol_annual_baseline, 1)),
        _number(_pct(row.target_vol_annual, 1)),
        _number(_pct(row.ex_ante_vol_annual_policy, 1)),
    ]
    total = ' class="total"' if row.kind == "total" else ""
    return f"<tr{total}>" + "".join(cells) + "</tr>"


def _decimal(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3g}"


def _days(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.0f}"


def _max_drawdown(returns: pd.Series) -> float:
    return max_drawdown(returns) if len(returns) else math.nan


def _drawdowns_table(
    result: BacktestResult, baseline: BacktestResult | None, window: ChartWindow
) -> str:
    returns = window.cut(result.returns)
    if len(returns) < 2:
        return "<p>Too few days to measure drawdowns.</p>"
    table = worst_drawdowns(returns, WORST_DRAWDOWNS)
    if table.empty:
        return "<p>No drawdown: the policy never closed below a previous high.</p>"
    head = (
        "<tr><th>peak</th><th>trough</th><th>recovery</th>"
        '<th class="number">depth</th><th class="number">peak to trough (days)</th>'
        '<th class="number">trough to recovery (days)</th>'
        '<th class="number">length (days)</th>'
    )
    if baseline is not None:
        head += '<th class="number">baseline, peak to trough</th>'
    rows = [head + "</tr>"]
    for row in table.itertuples(index=False):
        recovered = not pd.isna(row.recovery)
        cells = (
            f"<td>{row.peak.date()}</td><td>{row.trough.date()}</td>"
            f"<td>{row.recovery.date() if recovered else 'not recovered'}</td>"
            + _number(_pct(row.depth))
            + _number(str(row.days_to_trough))
            + _number(str(int(row.days_to_recovery)) if recovered else "")
            + _number(str(row.length_days) + ("" if recovered else " so far"))
        )
        if baseline is not None:
            dates = baseline.returns.index
            base = baseline.returns[(dates > row.peak) & (dates <= row.trough)]
            cells += _number(_pct(_total(base)))
        rows.append(f"<tr>{cells}</tr>")
    return (
        '<p class="muted">calendar days; the peak is the last close at the running '
        "high, the recovery the first close back at it</p><table>"
        + "".join(rows)
        + "</table>"
    )


def _calendar_table(
    result: BacktestResult, baseline: BacktestResult | None, window: ChartWindow
) -> str:
    returns = window.cut(result.returns)
    if returns.empty:
        return "<p>No returns.</p>"
    table = calendar_returns(returns)
    base_years = (
        calendar_returns(window.cut(baseline.returns))["Year"]
        if baseline is not None
        else None
    )
    months = table[list(MONTHS)].to_numpy()
    scale = max(float(pd.Series(abs(months.ravel())).quantile(0.95)), 1e-9)
    head = "".join(f'<th class="number">{m}</th>' for m in MONTHS)
    head += '<th class="number">year</th>'
    if base_years is not None:
        head += '<th class="number">baseline</th><th class="number">difference</th>'
    rows = [f"<tr><th></th>{head}</tr>"]
    for year, row in table.iterrows():
        cells = "".join(_heat_cell(row[m], scale) for m in MONTHS)
        cells += _heat_cell(row["Year"], scale * 3.0, bold=True)
        if base_years is not None:
            base = float(base_years.get(year, math.nan))
            cells += _number(_pct(base, 1))
            cells += _number(_pct(row["Year"] - base, signed=True))
        rows.append(f"<tr><th>{year}</th>{cells}</tr>")
    return (
        '<p class="muted">returns compounded within each month and year, after '
        "costs; green gains, red losses; a partly covered month or year as it is"
        '</p><table class="heat">' + "".join(rows) + "</table>"
    )


def _heat_cell(value: float, scale: float, *, bold: bool = False) -> str:
    if math.isnan(value):
        return "<td></td>"
    strength = min(abs(value) / scale, 1.0)
    base = (39, 174, 96) if value >= 0 else (192, 57, 43)
    colour = tuple(round(255 - (255 - c) * 0.75 * strength) for c in base)
    weight = "font-weight:bold;" if bold else ""
    return (
        f'<td class="number" style="{weight}background:rgb{colour}">'
        f"{_pct(value, 1)}</td>"
    )


def _episode_windows(
    result: BacktestResult, window: ChartWindow
) -> list[tuple[Episode, ChartWindow]]:
    """Named episodes that end inside the chart window, each with its close-up."""
    shown = []
    for episode in load_episodes():
        start, end = pd.Timestamp(episode.start), pd.Timestamp(episode.end)
        if start < window.start or end > window.end:
            continue
        margin = pd.Timedelta(days=max(5, round((end - start).days * EPISODE_MARGIN)))
        zoom = ChartWindow.of(result, start - margin, end + margin)
        shown.append((episode, zoom))
    return shown


def _episode_section(
    result: BacktestResult,
    baseline: BacktestResult | None,
    episode: Episode,
    zoom: ChartWindow,
    charts: Mapping[str, str],
) -> list[str]:
    start, end = pd.Timestamp(episode.start), pd.Timestamp(episode.end)
    rows = [
        '<tr><th></th><th class="number">return</th>'
        '<th class="number">max drawdown</th></tr>'
    ]
    for run in [result, *([baseline] if baseline is not None else [])]:
        dates = run.returns.index
        during = run.returns[(dates > start) & (dates <= end)]
        rows.append(
            f"<tr><th>{escape(run.policy.name)}</th>"
            + _number(_pct(_total(during)))
            + _number(_pct(_max_drawdown(during)))
            + "</tr>"
        )
    return [
        f'<h2 id="episode-{escape(episode.name)}">Episode: {escape(episode.name)}</h2>',
        f"<p>{escape(episode.description)}</p>",
        f'<p class="muted">{episode.start} to {episode.end} (close to close; the '
        f"chart shows {zoom.start.date()} .. {zoom.end.date()}, the episode between "
        "dotted lines, risk-off periods shaded); dates: "
        f"{escape(episode.source)}</p>",
        "<table>" + "".join(rows) + "</table>",
        charts[f"episode-{episode.name}"],
    ]


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
        f'<td>{escape(f.kind)}</td><td class="text">{escape(f.message)}</td></tr>'
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
        f"<td>{escape(str(row.subject))}</td>"
        f'<td class="text">{escape(str(row.message))}</td></tr>'
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
