"""The data screen: what stops a run, what is recorded, and how a policy changes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskengine.allocate import allocate
from riskengine.api import default_market
from riskengine.backtest import run_backtest
from riskengine.cli import main
from riskengine.data.prices import Market, daily_columns, make_market, read_price_file
from riskengine.data.screen import KINDS, ScreenReport, screen_prices
from riskengine.errors import DataError, DegenerateRunError, SpecError
from riskengine.events import Event
from riskengine.results.html_report import render_html
from riskengine.specs import ScreenSpec, load_policy

ASSETS = ["SPY", "TLT", "GLD"]
RECORD_ALL = {f"on_{kind}": "record" for kind in ("bad_tick", "absurd_move")}


@pytest.fixture(scope="module")
def simulated() -> Market:
    return default_market()


@pytest.fixture(scope="module")
def prices(simulated: Market) -> pd.DataFrame:
    """Four simulated years of three exchange-traded assets (no weekend rows)."""
    frame = simulated.prices.loc["2020":"2023", ASSETS]
    return frame.dropna(how="all")


def screen(frame: pd.DataFrame, **fields: Any) -> ScreenReport:
    return screen_prices(frame, ScreenSpec(**fields), source="prices.csv")


def with_tick(frame: pd.DataFrame, date: str, factor: float) -> pd.DataFrame:
    """`frame` with one SPY price multiplied by `factor` (a bad print)."""
    corrupted = frame.copy()
    corrupted.loc[date, "SPY"] *= factor
    return corrupted


def test_simulated_default_is_clean(simulated: Market, prices: pd.DataFrame) -> None:
    report = screen(prices)
    assert report.describe() == "3 assets, daily: no findings"
    assert report.events() == []
    # the whole default panel, crypto's weekends and regime bursts included
    whole = screen_prices(
        simulated.prices,
        ScreenSpec(),
        source="simulated",
        daily_columns=simulated.daily_columns,
    )
    assert whole.describe() == "7 assets, daily: no findings"


# --- what the default stops on ----------------------------------------------


def _stray_row(frame: pd.DataFrame) -> pd.DataFrame:
    row = pd.DataFrame([frame.iloc[0].to_numpy()], columns=frame.columns)
    row.index = pd.DatetimeIndex(["1600-01-03"]).as_unit(frame.index.unit)
    return pd.concat([row, frame])


def _hole(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(frame.loc["2021-02-01":"2021-05-31"].index)


def _ratio_1e600(frame: pd.DataFrame) -> pd.DataFrame:
    corrupted = frame.copy()
    corrupted.loc[:"2022-06-30", "TLT"] *= 1e-300
    corrupted.loc["2022-07-01":, "TLT"] *= 1e300
    return corrupted


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (
            lambda f: with_tick(f, "2022-03-15", 50.0),
            r"^prices.csv: column SPY @ 2022-03-16: bad tick on 2022-03-15: price "
            r"x50\.\d \(\+\d+\.\d robust sigmas\) then x0\.0\d+ \(-\d+\.\d\), back "
            r"near where it was, .*almost surely a bad print; fix the data, or set "
            r'screen.on_bad_tick = "record" in the policy to run anyway \(2 more '
            r"findings would stop the run\)$",
        ),
        (
            _ratio_1e600,
            r"^prices.csv: column TLT @ 2022-07-01: absurd move: price x1e\+600 the "
            r"previous one, beyond screen.max_price_ratio = 10 \(too large for a "
            r'return to be a number\); .*screen.on_absurd_move = "record"',
        ),
        (
            lambda f: f.resample("W-FRI").last(),
            r"^prices.csv: column SPY @ 2020-02-07: prices are weekly \(median 7 days "
            r"apart over the first 6 prices, from 2020-01-03\): .*each price would "
            r'count as a day; .*screen.on_non_daily = "record"',
        ),
        (
            lambda f: f.resample("ME").last(),
            r"^prices.csv: column SPY @ 2020-06-30: prices are monthly \(median 30 "
            r"days apart over the first 6 prices, from 2020-01-31\)"
            r'.*screen.on_non_daily = "record"',
        ),
        (
            _stray_row,
            r"^prices.csv: column SPY @ 2020-01-01: stray date: a price on 1600-01-03, "
            r"420 years before the rest of the column \(next price on 2020-01-01, beyond "
            r'screen.stray_gap_days = 365\); .*screen.on_stray_date = "record"',
        ),
        (
            _hole,
            r"^prices.csv: every column @ 2021-06-01: no price in any screened column "
            r"from 2021-01-29 to 2021-06-01 \(123 days, beyond "
            r"screen.max_calendar_gap_days = 30\): a hole in the data.*"
            r'screen.on_calendar_gap = "record" in the policy to run anyway$',
        ),
        (
            lambda f: with_tick(f, str(f.index[-1].date()), 3.0),
            r"^prices.csv: column SPY @ \d{4}-\d\d-\d\d: absurd move: price x3\.\d+ the "
            r"previous one, \+\d+\.\d robust sigmas, beyond screen.absurd_sigmas = 40 "
            r"\(a bad print, an unadjusted split, another series\?\); .*"
            r'screen.on_absurd_move = "record" in the policy to run anyway$',
        ),
        (
            lambda f: with_tick(with_tick(f, "2022-03-15", 3.0), "2022-03-16", 3.0),
            r"^prices.csv: column SPY @ 2022-03-15: absurd move: price x3\.\d+ the "
            r"previous one, \+\d+\.\d robust sigmas",
        ),
        (
            lambda f: f.assign(
                SPY=f["SPY"].where(f.index < "2022-03-15", f["SPY"] / 4)
            ),
            r"^prices.csv: column SPY @ 2022-03-15: absurd move: price x0\.2\d+ the "
            r"previous one, -\d+\.\d robust sigmas, beyond screen.absurd_sigmas = 40",
        ),
    ],
    ids=[
        "tick-50x",
        "ratio-1e600",
        "weekly",
        "monthly",
        "stray-date",
        "file-hole",
        "tick-3x-last-day",
        "tick-3x-two-days",
        "split-4-to-1",
    ],
)
def test_almost_sure_errors_stop_the_run(
    prices: pd.DataFrame, corrupt: Callable[[pd.DataFrame], pd.DataFrame], match: str
) -> None:
    corrupted = corrupt(prices)
    with pytest.raises(DataError, match=match):
        screen(corrupted)


def test_a_stray_row_is_said_once_not_as_a_hole_too(prices: pd.DataFrame) -> None:
    report = screen(_stray_row(prices), on_stray_date="record")
    assert report.counts() == {"stray_date": 3}
    assert [f.column for f in report.findings] == ASSETS
    # a price before the rest is known for a stray when the rest begins
    assert {f.date for f in report.findings} == {pd.Timestamp("2020-01-01")}


def test_recorded_errors_become_events_and_the_data_stays(
    prices: pd.DataFrame,
) -> None:
    report = screen(with_tick(prices, "2022-03-15", 50.0), **RECORD_ALL)
    assert report.counts() == {"bad_tick": 1, "absurd_move": 2}
    tick = next(e for e in report.events() if e.kind == "screen_bad_tick")
    # known at the close of the price that takes it back, naming the tick's date
    assert tick.date == pd.Timestamp("2022-03-16")
    assert tick.subject == "SPY"
    assert tick.message.startswith(
        "column SPY @ 2022-03-16: bad tick on 2022-03-15: price x50"
    )
    assert tick.details["action"] == "record"
    assert tick.details["tick_date"] == "2022-03-15"
    assert tick.details["sigmas"] > 100


def test_a_recorded_tick_is_absurd_at_its_close_then_a_tick(
    prices: pd.DataFrame,
) -> None:
    # x3 on SPY (about 130 robust sigmas) is absurd at its close, without waiting
    # for the next price; the next close, taking it back (absurd too), makes it a
    # bad tick
    report = screen(with_tick(prices, "2022-03-15", 3.0), **RECORD_ALL)
    found = [(f.kind, str(f.date.date())) for f in report.findings]
    assert found == [
        ("absurd_move", "2022-03-15"),
        ("absurd_move", "2022-03-16"),
        ("bad_tick", "2022-03-16"),
    ]


def test_a_bad_print_below_absurd_sigmas_is_an_outlier_at_its_close_then_a_tick(
    prices: pd.DataFrame,
) -> None:
    # x1.6 on SPY is 54.6 robust sigmas: below absurd_sigmas = 60 an outlier at its
    # close, and the next close, taking it back, makes it a bad tick
    report = screen(
        with_tick(prices, "2022-03-15", 1.6), on_bad_tick="record", absurd_sigmas=60.0
    )
    found = [(f.kind, str(f.date.date())) for f in report.findings]
    assert found == [("outlier", "2022-03-15"), ("bad_tick", "2022-03-16")]


# --- what the default records ------------------------------------------------


def test_a_gap_in_one_asset_is_recorded_when_it_has_lasted_too_long(
    prices: pd.DataFrame,
) -> None:
    gapped = prices.copy()
    gapped.loc["2021-02-01":"2021-05-31", "GLD"] = np.nan
    report = screen(gapped)
    assert report.counts() == {"asset_gap": 1}
    (finding,) = report.findings
    # the first date of the calendar more than 30 days after GLD's last price
    assert finding.where == "column GLD @ 2021-03-01"
    assert finding.message == (
        "no price since 2021-01-29 (31 days, beyond screen.max_asset_gap_days = 30)"
    )


def test_a_gap_seen_only_when_the_asset_resumes_spans_it(
    prices: pd.DataFrame,
) -> None:
    # GLD stops on 29 January, the others on 12 February, and all resume on
    # 5 March: no date of the calendar falls between 28 February (30 days) and
    # GLD's next price, so the gap is known whole
    gapped = prices.drop(prices.loc["2021-02-13":"2021-03-04"].index)
    gapped.loc["2021-02-01":"2021-03-04", "GLD"] = np.nan
    (finding,) = screen(gapped).findings
    assert finding.where == "column GLD @ 2021-03-05"
    assert finding.message == (
        "no price from 2021-01-29 to 2021-03-05 (35 days, beyond "
        "screen.max_asset_gap_days = 30): the move across it counts as one period"
    )


def test_an_asset_that_stops_early_has_a_gap_at_the_end(prices: pd.DataFrame) -> None:
    ended = prices.copy()
    ended.loc["2023-10-02":, "TLT"] = np.nan
    (finding,) = screen(ended).findings
    assert (finding.kind, finding.where) == ("asset_gap", "column TLT @ 2023-10-30")
    assert finding.message.startswith("no price since 2023-09-29 (31 days")
    # data that end within the limit record nothing yet
    assert screen(ended.loc[:"2023-10-27"]).findings == ()


def test_a_near_constant_series_is_recorded(
    prices: pd.DataFrame, rng: np.random.Generator
) -> None:
    cash = prices.assign(CASH=100.0 + rng.normal(0.0, 1e-6, len(prices)))
    report = screen(cash)
    assert report.counts() == {"near_constant": 1}
    assert report.findings[0].where == "column CASH @ 2020-01-29"
    assert report.findings[0].message.startswith(
        "near-constant: annual volatility 0.000% over its first 21 prices, below "
        "screen.min_vol_annual = 0.005"
    )
    with pytest.raises(DataError, match=r"column CASH @ 2020-01-29: near-constant"):
        screen(cash, on_near_constant="stop")


def test_a_stale_feed_is_recorded_at_the_price_that_makes_it_too_long(
    prices: pd.DataFrame,
) -> None:
    stale = prices.copy()
    stale.loc["2022-01-04":"2022-01-14", "TLT"] = stale.loc["2022-01-03", "TLT"]
    (finding,) = screen(stale).findings
    assert (finding.kind, finding.where) == ("flat_run", "column TLT @ 2022-01-11")
    assert finding.message.startswith(
        "price unchanged on 6 consecutive prices from 2022-01-04, beyond "
        "screen.max_unchanged_prices = 5"
    )


def test_a_large_move_that_stays_is_an_outlier_not_a_tick(
    prices: pd.DataFrame,
) -> None:
    shifted = prices.copy()
    shifted.loc["2022-03-15":, "SPY"] *= 0.7
    report = screen(shifted)
    assert report.counts() == {"outlier": 1}
    assert report.findings[0].where == "column SPY @ 2022-03-15"


def _recorded_up_to(report: ScreenReport, date: str) -> list[Event]:
    return [e for e in report.events() if e.date <= pd.Timestamp(date)]


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda f: with_tick(f, "2022-03-15", 3.0),
        lambda f: f.assign(GLD=f["GLD"].mask(f.index > "2021-01-31")),
        lambda f: f.assign(
            TLT=f["TLT"].where(f.index < "2022-01-04", f["TLT"].iloc[0])
        ),
        lambda f: f.assign(SPY=f["SPY"].where(f.index < "2022-03-15", f["SPY"] * 0.7)),
        lambda f: f.resample("W-FRI").last(),
        _stray_row,
    ],
    ids=["tick-3x", "asset-stops", "stale-feed", "outlier", "weekly", "stray-row"],
)
def test_findings_up_to_a_date_are_those_of_the_prices_up_to_it(
    prices: pd.DataFrame, corrupt: Callable[[pd.DataFrame], pd.DataFrame]
) -> None:
    frame = corrupt(prices)
    record = {f"on_{kind}": "record" for kind in KINDS}
    whole = screen(frame, **record)
    assert whole.findings
    for date in frame.index[frame.index >= "2020-01-01"][::10]:
        part = screen(frame.loc[:date].dropna(how="all"), **record)
        assert part.events() == _recorded_up_to(whole, str(date.date())), date


# --- the real file -----------------------------------------------------------


@pytest.fixture(scope="module")
def real_prices(real_prices_path: Path) -> pd.DataFrame:
    return read_price_file(real_prices_path)


def screen_real(prices: pd.DataFrame, spec: ScreenSpec | None = None) -> ScreenReport:
    return screen_prices(
        prices,
        spec or ScreenSpec(),
        source="real",
        daily_columns=daily_columns(prices),
    )


def test_the_real_file_passes_and_its_findings_are_real(
    real_prices: pd.DataFrame,
) -> None:
    report = screen_real(real_prices)
    assert report.frequency == "daily"
    assert report.counts() == {"outlier": 5, "asset_gap": 2}
    outliers = [(f.column, str(f.date.date())) for f in report.findings[:5]]
    # Lehman's week and the TARP vote, Volmageddon, the March 2020 crash's worst day
    assert outliers == [
        ("HYG", "2008-09-18"),
        ("HYG", "2008-09-29"),
        ("VIX", "2018-02-05"),
        ("LQD", "2020-03-12"),
        ("BTC_USD", "2020-03-12"),
    ]
    # IEF's and LQD's prices end before the file does: said 30 days on
    assert [(f.where, f.message) for f in report.findings[5:]] == [
        (
            "column IEF @ 2025-10-27",
            "no price since 2025-09-26 (31 days, beyond "
            "screen.max_asset_gap_days = 30)",
        ),
        (
            "column LQD @ 2026-08-02",
            "no price since 2026-07-02 (31 days, beyond "
            "screen.max_asset_gap_days = 30)",
        ),
    ]
    # the January 2026 metals unwind (SLV -28% on the 30th) and March 2020 are real
    # moves, not bad ticks; the margin: the largest reverting pair is HYG's of
    # 17-18 September 2008, 14.6 then 17.8 sigmas
    tighter = ScreenSpec(
        bad_tick_sigmas=14.0, bad_tick_min_ratio=1.05, on_bad_tick="record"
    )
    flagged = screen_real(real_prices, tighter).findings
    ticks = [f.where for f in flagged if f.kind == "bad_tick"]
    assert ticks == ["column HYG @ 2008-09-18"]


REAL_CUTS = [
    "2008-09-18",
    "2008-09-29",
    "2018-02-05",
    *[str(d.date()) for d in pd.date_range("2020-03-06", "2020-03-24")],
    "2025-09-26",
    "2025-10-10",
    "2025-10-26",
    "2025-10-27",
    "2026-08-01",
    "2026-08-02",
]
"""Cuts at the real file's findings, through March 2020 and at both ends of IEF's
and LQD's gaps (weekends included: BTC trades on them)."""


def test_the_real_file_cut_at_a_date_records_its_findings_up_to_it(
    real_prices: pd.DataFrame,
) -> None:
    whole = screen_real(real_prices)
    for date in REAL_CUTS:
        part = screen_real(real_prices.loc[:date].dropna(how="all"))
        assert part.events() == _recorded_up_to(whole, date), date
    # IEF's gap is not known on 2025-10-10, and said the same once it is
    assert "IEF" not in {
        f.column for f in screen_real(real_prices.loc[:"2025-10-10"]).findings
    }


# --- the policy's [screen] table ---------------------------------------------


def tick_market(simulated: Market) -> Market:
    frame = with_tick(
        simulated.prices.loc["2022":"2023", ["SPY"]].dropna(), "2023-03-15", 50
    )
    return make_market(frame, source="ticked.csv")


def test_the_policy_decides_stop_or_record(simulated: Market) -> None:
    market = tick_market(simulated)
    strict = load_policy("equity-risk-control-10")
    with pytest.raises(
        DataError, match=r"^ticked.csv: column SPY @ 2023-03-16: bad tick on 2023-03-15"
    ):
        run_backtest(strict, market)
    overrides = {f"screen.{k}": v for k, v in RECORD_ALL.items()}
    lenient = load_policy("equity-risk-control-10", overrides)
    result = run_backtest(lenient, market)
    assert result.screen is not None
    assert result.screen.counts() == {"bad_tick": 1, "absurd_move": 2}
    kinds = result.events["kind"].value_counts()
    assert kinds["screen_bad_tick"] == 1
    assert kinds["screen_absurd_move"] == 2


def test_the_screen_reads_no_data_after_the_run(simulated: Market) -> None:
    market = tick_market(simulated)
    policy = load_policy("equity-risk-control-10")
    payload = allocate(policy, market, asof="2023-03-14")
    assert payload["screen"] == {
        "columns": ["SPY"],
        "frequency": "daily",
        "findings": {},
    }
    with pytest.raises(DataError, match="bad tick"):
        allocate(policy, market, asof="2023-03-16")


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        (
            "on_bad_tick",
            "ignore",
            r"screen.on_bad_tick: expected one of 'stop', 'record', got 'ignore'",
        ),
        ("bad_tick_sigmas", 2, r"screen.bad_tick_sigmas: must be at least 3"),
        ("max_price_ratio", 1, r"screen.max_price_ratio: must be above 1"),
        ("bad_tick", 20, r"unknown field 'screen.bad_tick'"),
    ],
)
def test_screen_fields_are_validated_naming_file_and_field(
    field: str, value: object, match: str
) -> None:
    with pytest.raises(SpecError, match=r"equity-risk-control-10.toml: " + match):
        load_policy("equity-risk-control-10", {f"screen.{field}": value})


def test_defaults_stop_on_errors_and_record_the_suspect() -> None:
    spec = load_policy("static-60-40").screen
    assert spec == ScreenSpec()
    stops = ["stray_date", "non_daily", "bad_tick", "absurd_move", "calendar_gap"]
    records = ["outlier", "asset_gap", "near_constant", "flat_run"]
    assert [spec.action(k) for k in stops] == ["stop"] * len(stops)
    assert [spec.action(k) for k in records] == ["record"] * len(records)


# --- what users see ----------------------------------------------------------


def write_prices(frame: pd.DataFrame, path: Path) -> Path:
    frame.rename_axis("date").to_csv(path)
    return path


def test_cli_stop_is_one_line_exit_3_and_nothing_written(
    prices: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write_prices(with_tick(prices, "2022-03-15", 50.0), tmp_path / "p.csv")
    out = tmp_path / "run"
    assert main(["backtest", "--prices", str(file), "--out", str(out)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(
        f"riskengine: error: {file}: column SPY @ 2022-03-16: bad tick on 2022-03-15"
    )
    assert not out.exists()


def test_cli_prints_the_screen_line(
    prices: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gapped = prices.copy()
    gapped.loc["2021-02-01":"2021-05-31", "GLD"] = np.nan
    file = write_prices(gapped, tmp_path / "p.csv")
    args = ["backtest", "--prices", str(file), "--policy", "static-60-40"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "\nscreen  3 assets, daily: 1 finding recorded (asset_gap 1)\n" in printed
    page = (tmp_path / "run" / "report.html").read_text()
    assert "<h2>Data screen</h2>" in page
    assert "no price since 2021-01-29 (31 days" in page
    assert main([*args, "--out", str(tmp_path / "again"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["screen"] == {
        "columns": ASSETS,
        "frequency": "daily",
        "findings": {"asset_gap": 1},
    }


def test_cli_degenerate_run_is_one_line_exit_8(
    prices: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write_prices(prices.loc["2023"], tmp_path / "p.csv")
    policy = tmp_path / "idle.toml"
    policy.write_text(
        'name = "idle"\ndescription = "d"\nsource = "s"\nmodel = "ewma-0.94"\n'
        "[rebalance]\nmin_history_days = 5000\n"
    )
    out = tmp_path / "run"
    args = ["--prices", str(file), "--policy", str(policy), "--out", str(out)]
    assert main(["backtest", *args]) == DegenerateRunError.exit_code == 8
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert (
        f"riskengine: error: {file}: policy 'idle' from 2023-01-02 to 2023-12-29: "
        "never invested: no holding on any of the 260 days"
    ) in captured.err
    assert captured.err.endswith(f"nothing to report (results written to {out}/)\n")
    # the report of a run that held nothing renders its empty sections
    page = (out / "report.html").read_text()
    assert "No metrics: the policy held nothing long enough to measure." in page
    assert "nothing held" in page
    assert "insufficient_history" in (out / "events.csv").read_text()


def test_report_of_an_unscreened_result(simulated: Market) -> None:
    market = make_market(simulated.prices.loc["2023", ["SPY"]].dropna(), source="x")
    result = run_backtest(load_policy("equity-risk-control-10"), market)
    unscreened = replace(result, screen=None)
    assert "This run was not screened." in render_html(unscreened)
