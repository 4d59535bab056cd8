import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from riskengine import backtest
from riskengine.data.prices import SIMULATED_NOTE
from riskengine.results.html_report import render_html
from riskengine.results.metrics import METRIC_LABELS
from riskengine.results.report import write_results


@pytest.fixture(scope="module")
def overlay(real_prices_path: Path):
    # the safe-haven overlay through January 2026: its trigger fires on 2025-12-31
    return backtest("safe-haven-risk-off", real_prices_path, start="2025-06-01")


def test_page_has_the_run_its_metrics_charts_and_events(overlay) -> None:
    page = render_html(overlay)
    assert page.startswith("<!DOCTYPE html>")
    assert "<h1>safe-haven-risk-off</h1>" in page
    for label, _ in METRIC_LABELS.values():
        assert label in page
    assert page.count("<svg") == 4
    assert "2025-12-31</td><td>trigger_enter" in page
    assert SIMULATED_NOTE not in page


def test_page_needs_nothing_but_a_browser(overlay) -> None:
    page = render_html(overlay)
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']https?:""", page)


def test_text_from_the_event_log_is_escaped(overlay) -> None:
    event = pd.DataFrame(
        [
            {
                "date": overlay.returns.index[-1],
                "kind": "note",
                "subject": "<b>x</b>",
                "message": "a < b & <script>alert(1)</script>",
                "details": {},
            }
        ]
    )
    page = render_html(replace(overlay, events=event))
    assert "a &lt; b &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page


def test_simulated_runs_say_so_and_the_page_is_written_with_the_results(
    tmp_path: Path,
) -> None:
    result = backtest("static-60-40", start="2024-01-01")
    out = write_results(result, tmp_path / "run")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert SIMULATED_NOTE in page
    assert render_html(result) == page  # the same run gives the same page


@pytest.fixture(scope="module")
def simulated_60_40():
    return backtest("static-60-40")


def test_page_states_the_invested_period_its_metrics_cover(simulated_60_40) -> None:
    period = simulated_60_40.invested_period
    assert period.start is not None
    assert period.warmup_days > 0
    page = render_html(simulated_60_40)
    assert f"invested from {period.start.date()}, {period.warmup_days} warm-up" in page
    assert (
        f"over the invested period, {period.start.date()} .. {period.end.date()} "
        f"({period.days} days)"
    ) in page
    assert "first holding" in page  # marked on the growth chart
    annual_vol = METRIC_LABELS["annual_vol"][1].format(
        simulated_60_40.metrics()["annual_vol"]
    )
    assert f'<td class="number">{annual_vol}</td>' in page


def test_page_of_a_run_that_never_holds_says_so(simulated_60_40) -> None:
    idle = replace(
        simulated_60_40,
        weights=simulated_60_40.weights * 0.0,
        risk_contributions=simulated_60_40.risk_contributions * 0.0,
    )
    page = render_html(idle)
    assert "never invested: no holding on any of the" in page
    assert "No metrics: the policy held nothing long enough to measure." in page
    assert "first holding" not in page
