"""`compare`: window figures, differences against a baseline, the episode table,
the terminal layout and the files written."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import load_page

from riskengine import default_market, load_policy, run_backtest
from riskengine.compare import (
    COMPARISON_FILES,
    DIFFERENCES,
    EPISODE_FIGURES,
    compare,
    compare_episodes,
    row_formats,
    text_columns,
    write_comparison,
    write_episode_table,
)
from riskengine.errors import OutputError, SpecError
from riskengine.scenarios.episodes import find_episode

WINDOW = ("2020-02-19", "2020-03-23")
NAMES = ("static-60-40", "safe-haven-risk-off")


@pytest.fixture(scope="module")
def market():
    return default_market()


@pytest.fixture(scope="module")
def policies():
    return [load_policy(name) for name in NAMES]


@pytest.fixture(scope="module")
def table(market, policies) -> pd.DataFrame:
    return compare(
        policies, market, start=WINDOW[0], end=WINDOW[1], against="static-60-40"
    )


def test_window_figures_equal_pandas_on_the_runs_returns(
    market, policies, table: pd.DataFrame
) -> None:
    """Total and annualised figures, recomputed from the daily returns with pandas
    alone, to 1e-12: the window is short, so the total return is not the annual."""
    for policy in policies:
        run = run_backtest(policy, market, start=WINDOW[0], end=WINDOW[1])
        held = run.returns.loc[run.invested_period.start :]
        wealth = (1.0 + held).cumprod()
        ppy = run.periods_per_year
        column = table[policy.name]
        assert column["first_day"] == WINDOW[0]
        assert column["last_day"] == WINDOW[1]
        assert column["invested_days"] == len(held)
        assert column["total_return"] == pytest.approx(wealth.iloc[-1] - 1, abs=1e-12)
        assert column["annual_return"] == pytest.approx(
            wealth.iloc[-1] ** (ppy / len(held)) - 1, abs=1e-12
        )
        assert column["annual_vol"] == pytest.approx(
            held.std(ddof=1) * math.sqrt(ppy), abs=1e-12
        )
        drawdown = wealth / wealth.cummax().clip(lower=1.0) - 1
        assert column["max_drawdown"] == pytest.approx(drawdown.min(), abs=1e-12)
        assert abs(column["total_return"] - column["annual_return"]) > 0.01


def test_differences_are_each_policy_minus_the_baseline(table: pd.DataFrame) -> None:
    for key in DIFFERENCES:
        for name in NAMES:
            expected = table.loc[key, name] - table.loc[key, "static-60-40"]
            assert table.loc[f"{key}_vs_baseline", name] == pytest.approx(
                expected, abs=1e-15
            )
    assert table.loc["total_return_vs_baseline", "static-60-40"] == 0.0


def test_a_baseline_outside_the_comparison_is_refused(market, policies) -> None:
    with pytest.raises(
        SpecError,
        match=r"^compare: baseline 'vol-target-fund' is not among the policies "
        r"compared \(static-60-40, safe-haven-risk-off\)$",
    ):
        compare(
            policies, market, start=WINDOW[0], end=WINDOW[1], against="vol-target-fund"
        )


def test_the_episode_table_is_compare_over_each_window(
    market, policies, table: pd.DataFrame
) -> None:
    """Each row equals `compare` over that episode's window; an episode the data
    do not cover gets a note and no number."""
    episodes = [find_episode("2020-covid-crash"), find_episode("2008-financial-crisis")]
    frame = compare_episodes(policies, market, episodes, against="static-60-40")
    assert (
        list(frame["episode"])
        == ["2020-covid-crash"] * 2 + ["2008-financial-crisis"] * 2
    )
    covid = frame[frame["episode"] == "2020-covid-crash"].set_index("policy")
    for name in NAMES:
        for key in EPISODE_FIGURES:
            assert covid.loc[name, key] == table.loc[key, name]
        assert covid.loc[name, "total_return_vs_baseline"] == pytest.approx(
            table.loc["total_return_vs_baseline", name], abs=1e-15
        )
        assert covid.loc[name, "note"] == ""
    crisis = frame[frame["episode"] == "2008-financial-crisis"]
    assert crisis[list(EPISODE_FIGURES)].isna().all().all()
    assert crisis["note"].str.contains("is not covered by the data").all()


def test_a_policy_that_cannot_run_in_an_episode_gets_a_note(market) -> None:
    """A policy holding only a sleeve the data lack (no commodity in the simulated
    market) has no figures: the table says why instead of failing the others."""
    spec = load_policy("vol-target-fund")
    commodity = replace(
        spec,
        name="commodity-only",
        universe=replace(spec.universe, sleeves=("commodity",)),
    )
    frame = compare_episodes(
        [commodity, spec], market, [find_episode("2020-covid-crash")]
    )
    assert np.isnan(frame.loc[0, "total_return"])
    assert "no investable asset" in frame.loc[0, "note"]
    assert np.isfinite(frame.loc[1, "total_return"])
    assert frame.loc[1, "note"] == ""


def test_text_columns_split_into_blocks_that_fit() -> None:
    labels = ["Total return", "Max drawdown"]
    header = [f"policy-{i}" for i in range(8)]
    cells = [[f"{i}.00%" for i in range(8)] for _ in labels]
    text = text_columns(labels, header, cells, width=60)
    assert max(len(line) for line in text.splitlines()) <= 60
    blocks = text.split("\n\n")
    assert len(blocks) > 1
    shown = re.findall(r"policy-\d", text)
    assert shown == header  # each policy once, in order


def test_the_comparison_folder_holds_csv_html_and_manifest(
    tmp_path: Path, market, policies, table: pd.DataFrame
) -> None:
    out = tmp_path / "cmp"
    formats = row_formats(["crypto"], "static-60-40")
    write_comparison(
        table, out, title="t <b>", market=market, policies=policies, formats=formats
    )
    assert {p.name for p in out.iterdir()} == COMPARISON_FILES
    assert out.is_symlink()  # swapped into place like a backtest's folder
    csv = pd.read_csv(out / "comparison.csv", index_col="policy")
    assert list(csv.index) == list(NAMES)
    assert list(csv.columns) == list(formats)
    assert csv.loc["safe-haven-risk-off", "total_return"] == pytest.approx(
        table.loc["total_return", "safe-haven-risk-off"], rel=1e-12
    )
    assert csv.loc["safe-haven-risk-off", "first_day"] == WINDOW[0]
    html = (out / "comparison.html").read_text()
    assert "<h1>t &lt;b&gt;</h1>" in html
    assert "SIMULATED" in html
    assert not re.search(r"\b(src|href)\s*=|url\(|@import", html)  # offline
    manifest = json.loads((out / "manifest.json").read_text())
    assert [p["name"] for p in manifest["policies"]] == list(NAMES)
    assert manifest["data"]["simulated"] is True


def test_the_episode_table_writes_one_row_per_cell(
    tmp_path: Path, market, policies
) -> None:
    covid = find_episode("2020-covid-crash")
    frame = compare_episodes(policies, market, [covid])
    write_episode_table(
        frame,
        tmp_path / "ep",
        episodes=[covid],
        title="e",
        market=market,
        policies=policies,
    )
    read = pd.read_csv(tmp_path / "ep" / "comparison.csv")
    assert list(read["policy"]) == list(NAMES)
    assert (
        "<h2>2020-covid-crash</h2>" in (tmp_path / "ep" / "comparison.html").read_text()
    )
    assert (
        "2020-02-19 to 2020-03-23: COVID-19 crash"
        in (tmp_path / "ep" / "comparison.html").read_text()
    )


def test_a_folder_that_is_not_riskengines_is_left_alone(
    tmp_path: Path, market, policies, table: pd.DataFrame
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    with pytest.raises(OutputError):
        write_comparison(
            table,
            out,
            formats=row_formats(["crypto"]),
            title="t",
            market=market,
            policies=policies,
        )
    assert (out / "notes.txt").read_text() == "keep"


def test_the_2026_episode_on_the_real_file(real_prices_path: Path) -> None:
    """The overlay's cut on 2025-12-31 falls inside the episode, and its figures are
    the pandas ones of its own run's returns over the window."""
    from riskengine.api import market_from

    market = market_from(real_prices_path)
    episode = find_episode("2026-metals-unwind")
    policies = [load_policy("risk-parity-fund"), load_policy("safe-haven-risk-off")]
    table = compare(
        policies,
        market,
        start=str(episode.start),
        end=str(episode.end),
        against="risk-parity-fund",
    )
    overlay = table["safe-haven-risk-off"]
    assert overlay["first_trigger"] == "2025-12-31"
    assert overlay["first_cut"] == "2025-12-31"
    assert overlay["cut_to"] < 0.75 * overlay["cut_from"]
    run = run_backtest(policies[1], market, start="2025-12-24", end="2026-02-27")
    held = run.returns.loc[run.invested_period.start :]
    assert overlay["total_return"] == pytest.approx((1 + held).prod() - 1, abs=1e-12)
    assert overlay["total_return_vs_baseline"] == pytest.approx(
        overlay["total_return"] - table.loc["total_return", "risk-parity-fund"],
        abs=1e-15,
    )
    assert overlay["annual_vol"] < table.loc["annual_vol", "risk-parity-fund"]


def test_the_comparison_page_loads_in_chromium_without_errors_or_requests(
    tmp_path: Path, market, policies, table: pd.DataFrame
) -> None:
    """Headless Chromium (skipped where absent) renders the table, logs nothing to
    its console and asks the network for nothing (its net log is read)."""
    out = tmp_path / "cmp"
    formats = row_formats(["crypto"], "static-60-40")
    write_comparison(
        table, out, formats=formats, title="t", market=market, policies=policies
    )
    loaded = load_page(out / "comparison.html", tmp_path)
    assert "<th>Total return - static-60-40</th>" in loaded.dom
    assert loaded.console == []
    assert loaded.requests == []
