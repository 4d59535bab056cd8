"""The report's tables as HTML: metrics, attribution, drawdowns, calendar, log.

Each function renders one section's table from a run (and its baseline), with
numbers right-aligned in percent and every text from a spec, the data or the event
log escaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import pandas as pd

from riskengine.backtest import BacktestResult
from riskengine.data.screen import ScreenReport
from riskengine.results.metrics import METRIC_LABELS, max_drawdown
from riskengine.results.risk_off import ChartWindow
from riskengine.results.tables import MONTHS, calendar_returns, worst_drawdowns

MAX_EVENT_ROWS = 500
"""Rows of the event log shown in the page (all of them are in events.csv)."""
MAX_SCREEN_ROWS = 200
"""Findings of the data screen listed in the page (all of them are events)."""
WORST_DRAWDOWNS = 5
MAX_ATTRIBUTION_ROWS = 50
"""De-risking episodes listed in the page, the latest (all are in the Parquet)."""


def percent(value: float, digits: int = 2, signed: bool = False) -> str:
    """A decimal in percent; signed differences that round to zero read 0.00%."""
    if math.isnan(value):
        return ""
    if signed and round(value * 100.0, digits) != 0.0:
        return f"{value:+.{digits}%}"
    return f"{abs(value) if signed else value:.{digits}%}"


def number_cell(text: str) -> str:
    """A right-aligned table cell holding `text`."""
    return f'<td class="number">{text}</td>'


def total_return(returns: pd.Series) -> float:
    """Daily returns compounded: ``prod(1 + r) - 1`` (0 when empty)."""
    return float((1.0 + returns).prod() - 1.0)


def metrics_table(result: BacktestResult, baseline: BacktestResult | None) -> str:
    """Headline metrics of the policy and its baseline, and their difference.

    Each run's figures cover its invested period; the total return is added.
    """
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
    runs = [(result, result.metrics(), total_return(result.returns.loc[held]))]
    if baseline is not None and baseline.invested_period.measurable:
        base_start = baseline.invested_period.start
        runs.append(
            (
                baseline,
                baseline.metrics(),
                total_return(baseline.returns.loc[base_start:]),
            )
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
        + "".join(number_cell(percent(t)) for t in totals)
        + (
            number_cell(percent(totals[0] - totals[1], signed=True))
            if len(runs) == 2
            else ""
        )
        + "</tr>"
    )
    for key, (label, fmt) in METRIC_LABELS.items():
        values = [metrics[key] for _, metrics, _ in runs]
        cells = "".join(number_cell(fmt.format(v)) for v in values)
        if len(runs) == 2:
            difference = values[0] - values[1]
            shown = fmt.format(abs(difference))  # one that rounds to zero: no sign
            if shown != fmt.format(0.0):
                shown = fmt.replace("{:", "{:+").format(difference)
            cells += number_cell("" if math.isnan(difference) else shown)
        rows.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    return covered + "<table>" + "".join(rows) + "</table>"


def attribution_table(result: BacktestResult) -> str:
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
        number_cell(str(int(row.days_derisked))),
        number_cell(exposure),
        number_cell(percent(row.return_policy)),
        number_cell(percent(row.return_baseline)),
        number_cell(percent(row.return_given_up, signed=True)),
        number_cell(percent(row.max_drawdown_policy)),
        number_cell(percent(row.max_drawdown_baseline)),
        number_cell(percent(row.drawdown_avoided, signed=True)),
        number_cell(percent(row.return_after_policy)),
        number_cell(percent(row.return_after_baseline)),
    ]
    total = ' class="total"' if row.kind == "total" else ""
    return f"<tr{total}>" + "".join(cells) + "</tr>"


def _conduct_row(row: Any, label: str) -> str:
    """An attribution row's turnover, costs, whipsaws, lateness, signal and vols."""
    date = "" if row.kind == "total" else str(row.entry.date())
    cells = [
        f"<td>{escape(label)}</td><td>{date}</td>",
        number_cell(percent(row.turnover_overlay, 1, signed=True)),
        number_cell(f"{row.cost_overlay * 1e4:+.1f} bp"),
        number_cell(str(int(row.whipsaws))),
        number_cell(_days(row.lateness_from_peak_days)),
        number_cell(_days(row.lateness_from_normal_days)),
        number_cell(_decimal(row.signal_entry)),
        number_cell(_decimal(row.signal_peak)),
        number_cell(_decimal(row.signal_exit)),
        number_cell(percent(row.realised_vol_annual_policy, 1)),
        number_cell(percent(row.realised_vol_annual_baseline, 1)),
        number_cell(percent(row.target_vol_annual, 1)),
        number_cell(percent(row.ex_ante_vol_annual_policy, 1)),
    ]
    total = ' class="total"' if row.kind == "total" else ""
    return f"<tr{total}>" + "".join(cells) + "</tr>"


def _decimal(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3g}"


def _days(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.0f}"


def max_drawdown_or_nan(returns: pd.Series) -> float:
    """`metrics.max_drawdown` of `returns`; NaN when there are none."""
    return max_drawdown(returns) if len(returns) else math.nan


def drawdowns_table(
    result: BacktestResult, baseline: BacktestResult | None, window: ChartWindow
) -> str:
    """The `WORST_DRAWDOWNS` deepest drawdowns of the policy over the window.

    With a baseline, its return over the same peak-to-trough dates.
    """
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
            + number_cell(percent(row.depth))
            + number_cell(str(row.days_to_trough))
            + number_cell(str(int(row.days_to_recovery)) if recovered else "")
            + number_cell(str(row.length_days) + ("" if recovered else " so far"))
        )
        if baseline is not None:
            dates = baseline.returns.index
            base = baseline.returns[(dates > row.peak) & (dates <= row.trough)]
            cells += number_cell(percent(total_return(base)))
        rows.append(f"<tr>{cells}</tr>")
    return (
        '<p class="muted">calendar days; the peak is the last close at the running '
        "high, the recovery the first close back at it</p><table>"
        + "".join(rows)
        + "</table>"
    )


def calendar_table(
    result: BacktestResult, baseline: BacktestResult | None, window: ChartWindow
) -> str:
    """Monthly and yearly returns of the policy over the window, as a heatmap.

    With a baseline, its yearly return and the difference.
    """
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
            cells += number_cell(percent(base, 1))
            cells += number_cell(percent(row["Year"] - base, signed=True))
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
        f"{percent(value, 1)}</td>"
    )


def screen_section(screen: ScreenReport | None) -> str:
    """What the data screen recorded: its summary and its first findings."""
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


def events_table(events: pd.DataFrame) -> str:
    """Counts of each kind of event, and the last events of the log."""
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
