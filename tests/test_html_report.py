import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from riskengine import backtest
from riskengine.data import SIMULATED_NOTE
from riskengine.html_report import render_html
from riskengine.metrics import METRIC_LABELS
from riskengine.report import write_results


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
