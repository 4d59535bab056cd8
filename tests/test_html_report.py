import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from browser import CHROMIUM_FLAGS, chromium, load_page

from riskengine import backtest
from riskengine.data.prices import SIMULATED_NOTE
from riskengine.results.html_page import CONTENT_POLICY
from riskengine.results.html_report import render_html
from riskengine.results.metrics import METRIC_LABELS
from riskengine.results.report import write_results

REMOTE = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)"""
    r"(?:https?:|wss?:|ftp:)?//",
    re.IGNORECASE,
)
"""An attribute, CSS url() or @import that would fetch from another host."""


@pytest.fixture(scope="module")
def overlay(real_prices_path: Path):
    # the safe-haven overlay over the 2026 metals unwind: its trigger fires on
    # 2025-12-31 and exits on 2026-04-29
    return backtest("safe-haven-risk-off", real_prices_path, start="2025-06-01")


@pytest.fixture(scope="module")
def overlay_page(overlay) -> str:
    return render_html(overlay)


def test_page_has_the_run_its_baseline_metrics_charts_and_events(
    overlay, overlay_page: str
) -> None:
    page = overlay_page
    assert page.startswith("<!DOCTYPE html>")
    assert "<h1>safe-haven-risk-off</h1>" in page
    for label, _ in METRIC_LABELS.values():
        assert f"<th>{label}</th>" in page
    # policy, baseline, difference
    assert '<th class="number">safe-haven-risk-off without overlays</th>' in page
    assert '<th class="number">difference</th>' in page
    # growth, holdings, risk contributions, volatility, rolling, one episode zoom
    assert page.count("<svg") == 6
    assert "2025-12-31</td><td>trigger_enter" in page
    assert SIMULATED_NOTE not in page
    for section in ("growth", "attribution", "drawdowns", "calendar", "holdings"):
        assert f'<h2 id="{section}">' in page
    for section in ("risk", "volatility", "rolling", "events"):
        assert f'<h2 id="{section}">' in page
    assert "<h2>Data screen</h2>" in page


def test_risk_off_period_is_shaded_labelled_and_in_the_legend(
    overlay_page: str,
) -> None:
    # chart text stays text in the SVG (svg.fonttype none)
    assert "risk-off 31 Dec 2025 to 29 Apr 2026" in overlay_page
    assert "risk-off: safe-haven-vol-spike" in overlay_page


def test_attribution_table_states_the_cut_against_the_baseline(
    overlay, overlay_page: str
) -> None:
    row = overlay.attribution().iloc[0]
    assert row.entry == pd.Timestamp("2025-12-31")
    cells = (
        "<td>safe-haven-vol-spike</td><td>2025-12-31</td>"
        f"<td>{row.exit.date()}</td>"
        f'<td class="number">{row.days_derisked}</td>'
        f'<td class="number">{row.exposure_before:.1%} -> {row.exposure_after:.1%}'
        f'</td><td class="number">{row.return_policy:.2%}</td>'
        f'<td class="number">{row.return_baseline:.2%}</td>'
    )
    assert cells in overlay_page
    assert "crypto 5.5% -&gt; 3.0%, em_equity 16.2% -&gt; 8.8%" in overlay_page


def test_named_episode_gets_its_close_up(overlay, overlay_page: str) -> None:
    assert '<h2 id="episode-2026-metals-unwind">' in overlay_page
    assert '<a href="#episode-2026-metals-unwind">' in overlay_page
    # the episode's return, policy then baseline, as compounded by hand
    dates = overlay.returns.index
    held = (dates > "2025-12-24") & (dates <= "2026-02-27")
    for run in (overlay, overlay.baseline):
        total = (1.0 + run.returns[held]).prod() - 1.0
        assert f'<th>{run.policy.name}</th><td class="number">{total:.2%}</td>' in (
            overlay_page
        )


def test_worst_drawdowns_and_calendar_tables(overlay_page: str) -> None:
    table = overlay_page.split('<h2 id="drawdowns">')[1].split("<h2")[0]
    assert table.count("<tr>") == 1 + 5  # header and five drawdowns
    calendar = overlay_page.split('<h2 id="calendar">')[1].split("<h2")[0]
    assert "<tr><th>2025</th>" in calendar
    assert "<tr><th>2026</th>" in calendar
    assert '<th class="number">baseline</th>' in calendar


def test_page_needs_nothing_but_a_browser(overlay_page: str) -> None:
    assert "<script" not in overlay_page
    assert not REMOTE.search(overlay_page)
    assert f'content="{CONTENT_POLICY}"' in overlay_page


def test_remote_reference_pattern_catches_what_it_should() -> None:
    for fetch in (
        '<img src="https://x.org/a.png">',
        "<link href='//cdn.x.org/a.css'>",
        "<div style=\"background: url('http://x.org/a.png')\">",
        '@import "https://x.org/a.css";',
    ):
        assert REMOTE.search(fetch), fetch
    assert not REMOTE.search('<svg xmlns="http://www.w3.org/2000/svg">')
    assert not REMOTE.search('<a href="#growth">')


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
    # a policy without overlays is its own baseline: no second line, no attribution
    assert "is its own baseline" in page
    assert "No overlay cut the policy's exposure in this run." in page


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
    # the charts start at the first holding, and say so
    assert (
        f"from the first holding, {period.start.date()} (the {period.warmup_days} "
        "warm-up days before it"
    ) in page
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
    assert "from the first holding" not in page


# --- the page as a browser loads it ---------------------------------------------


@pytest.fixture(scope="module")
def simulated_overlay():
    # simulated data: the browser check runs wherever Chromium does
    return backtest("safe-haven-risk-off", start="2020-01-01")


def test_report_loads_in_chromium_without_errors_or_requests(
    simulated_overlay, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(simulated_overlay), encoding="utf-8")
    loaded = load_page(page, tmp_path)
    assert "<h1>safe-haven-risk-off</h1>" in loaded.dom
    assert loaded.dom.count("<svg") >= 5
    assert loaded.console == []
    assert loaded.requests == []
    assert not REMOTE.search(loaded.dom)


def test_browser_check_catches_errors_and_requests(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<link rel='stylesheet' href='https://cdn.example.org/a.css'></head><body>"
        "<h1>bad</h1><img src='https://example.org/a.png'>"
        "<script>console.error('boom'); missing();</script></body></html>",
        encoding="utf-8",
    )
    loaded = load_page(page, tmp_path)
    assert any("boom" in line for line in loaded.console)
    assert any("missing is not defined" in line for line in loaded.console)
    assert sorted(loaded.requests) == [
        "https://cdn.example.org/a.css",
        "https://example.org/a.png",
    ]


def test_report_screenshot_shows_the_charts(simulated_overlay, tmp_path: Path) -> None:
    from PIL import Image

    page = tmp_path / "report.html"
    page.write_text(render_html(simulated_overlay), encoding="utf-8")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1400,2400",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    with Image.open(shot) as image:
        assert image.size == (1400, 2400)
        # the growth chart's lines, fills and shading: far more than text colours
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None
    assert len(colours) > 500
