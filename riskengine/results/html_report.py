"""A backtest as one self-contained HTML page a portfolio manager decides from.

The page needs nothing but a browser: charts are inline SVG (see
`riskengine.results.charts`), tables are plain HTML, a Content-Security-Policy
forbids every request the page could make (scripts, fonts, remote images), and
every text that comes from a spec, the data or the event log is escaped.

Sections: the run and its baseline, headline metrics of both, growth and drawdowns
with the risk-off periods shaded and labelled, the de-risking attribution against
the baseline, the five worst drawdowns, monthly and yearly returns, holdings and risk
contributions by sleeve, ex-ante against realised against target volatility,
rolling volatility and Sharpe ratio, a close-up of each named episode the run
covers, the data screen and the event log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

import pandas as pd
from matplotlib.figure import Figure

from riskengine.backtest import BacktestResult
from riskengine.data.prices import SIMULATED_NOTE
from riskengine.results.charts import (
    growth_figure,
    rolling_figure,
    rolling_window_days,
    sleeve_figure,
    svg,
    uses_log_scale,
    vol_figure,
    zoom_figure,
)
from riskengine.results.html_page import page_head
from riskengine.results.html_tables import (
    attribution_table,
    calendar_table,
    drawdowns_table,
    events_table,
    max_drawdown_or_nan,
    metrics_table,
    number_cell,
    percent,
    screen_section,
    total_return,
)
from riskengine.results.risk_off import ChartWindow, main_window
from riskengine.scenarios.episodes import Episode, load_episodes

EPISODE_MARGIN = 0.25
"""A close-up shows this fraction of the episode's length before and after it."""

_STYLE = """
table.heat td { padding: 0.25em 0.5em; }
svg { width: 100%; height: auto; }
nav a { margin-right: 1em; }
table.attribution { font-size: 0.8em; } table.attribution td { padding: 0.3em 0.4em; }
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
    parts = [page_head(f"riskengine: {policy.name}", style=_STYLE)]
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
        metrics_table(result, baseline),
        '<h2 id="growth">Growth and drawdown</h2>',
        _window_note(result, baseline, window),
        charts["growth"],
        '<h2 id="attribution">De-risking attribution</h2>',
        attribution_table(result),
        '<h2 id="drawdowns">The five worst drawdowns</h2>',
        drawdowns_table(result, baseline, window),
        '<h2 id="calendar">Monthly and yearly returns</h2>',
        calendar_table(result, baseline, window),
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
        "<h2>Data screen</h2>",
        screen_section(result.screen),
        '<h2 id="events">Event log</h2>',
        events_table(result.events),
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


def _episode_windows(
    result: BacktestResult, window: ChartWindow
) -> list[tuple[Episode, ChartWindow]]:
    """Named episodes inside the chart window, each with its close-up's window."""
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
            + number_cell(percent(total_return(during)))
            + number_cell(percent(max_drawdown_or_nan(during)))
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
