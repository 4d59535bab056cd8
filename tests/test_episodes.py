"""The library of named episodes: it loads, validates, and its dates hold up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from riskengine import default_market
from riskengine.api import backtest, market_from
from riskengine.errors import DataError, SpecError
from riskengine.scenarios.episodes import (
    EPISODES_FILE,
    find_episode,
    load_episodes,
    select_episodes,
)

REQUIRED = {
    "2008-financial-crisis",
    "2011-us-downgrade",
    "2013-taper-tantrum",
    "2018-volmageddon",
    "2020-covid-crash",
    "2022-rates-shock",
    "2022-crypto-collapse",
    "2026-metals-unwind",
}
GOOD = """
[[episode]]
name = "calm-spell"
start = 2020-01-02
end = 2020-02-03
description = "A quiet month"
source = "made up for a test"
"""


def test_the_shipped_library_holds_the_episodes_the_issue_names() -> None:
    episodes = load_episodes()
    assert {e.name for e in episodes} >= REQUIRED
    for e in episodes:
        assert e.start < e.end
        assert e.description
        assert "\n" not in e.description
        assert e.source
    assert EPISODES_FILE.parent.name == "scenarios"  # shipped inside the package


def test_the_2026_episode_spans_the_metals_peak_and_the_crypto_low(
    real_prices_raw: pd.DataFrame,
) -> None:
    """Checked against the real file with pandas alone: GLD and SLV peak inside the
    window (gold about +25% and silver about +64% on the 2025 close), silver falls
    28% on 2026-01-30, and bitcoin's low of the window is on 2026-02-05."""
    e = find_episode("2026-metals-unwind")
    window = real_prices_raw.loc[str(e.start) : str(e.end)]
    gld, slv = window["GLD"].dropna(), window["SLV"].dropna()
    assert str(gld.idxmax().date()) == "2026-01-29"
    assert str(slv.idxmax().date()) == "2026-01-28"
    close_2025 = real_prices_raw.loc["2025-12-31"]
    assert gld.max() / close_2025["GLD"] - 1 == pytest.approx(0.25, abs=0.01)
    assert slv.max() / close_2025["SLV"] - 1 == pytest.approx(0.64, abs=0.01)
    assert slv.pct_change()["2026-01-30"] == pytest.approx(-0.285, abs=0.002)
    assert str(window["BTC_USD"].idxmin().date()) == "2026-02-05"


@pytest.mark.parametrize(
    ("name", "column", "peak", "trough"),
    [
        ("2008-financial-crisis", "SPY", "start", "end"),
        ("2020-covid-crash", "SPY", "start", "end"),
        ("2022-crypto-collapse", "BTC_USD", "start", "end"),
        ("2022-rates-shock", "TLT", None, "end"),
        ("2022-rates-shock", "SPY", "start", None),
    ],
)
def test_peak_and_trough_dates_are_those_of_the_real_file(
    real_prices_raw: pd.DataFrame,
    name: str,
    column: str,
    peak: str | None,
    trough: str | None,
) -> None:
    """An episode said to run from a close high to a close low does, in the file."""
    e = find_episode(name)
    prices = real_prices_raw[column].loc[str(e.start) : str(e.end)].dropna()
    if peak:
        assert prices.idxmax().date() == getattr(e, peak)
    if trough:
        assert prices.idxmin().date() == getattr(e, trough)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "episodes.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    (episode,) = load_episodes(write(tmp_path, GOOD))
    assert episode.name == "calm-spell"
    assert episode.start == dt.date(2020, 1, 2)
    assert episode.to_dict()["end"] == "2020-02-03"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'source = "made up for a test"\n',
            "",
            "episode 1 ('calm-spell'): missing field 'source'",
        ),
        (
            'source = "made up for a test"\n',
            'source = "x"\nsorce = "y"\n',
            "episode 1 ('calm-spell'): unknown field 'sorce' (fields: name, start, "
            "end, description, source)",
        ),
        (
            "start = 2020-01-02",
            'start = "2020-01-02"',
            "episode 1 ('calm-spell'): start: expected a TOML date such as "
            "2020-02-19 (unquoted), got '2020-01-02'",
        ),
        (
            "start = 2020-01-02",
            "start = 2020-01-02T10:00:00",
            "episode 1 ('calm-spell'): start: expected a TOML date",
        ),
        (
            "end = 2020-02-03",
            "end = 2019-12-31",
            "episode 1 ('calm-spell'): start 2020-01-02 is not before end 2019-12-31",
        ),
        (
            'name = "calm-spell"',
            'name = "Calm spell"',
            "episode 1 ('Calm spell'): name: 'Calm spell' is not a slug",
        ),
        (
            'name = "calm-spell"',
            "name = 7",
            "episode 1: name: expected a string, got int",
        ),
        (
            'description = "A quiet month"',
            'description = """two\nlines"""',
            "episode 1 ('calm-spell'): description: expected one non-empty line",
        ),
        (
            'description = "A quiet month"',
            'description = "  "',
            "episode 1 ('calm-spell'): description: expected one non-empty line",
        ),
    ],
    ids=[
        "missing",
        "unknown",
        "quoted-date",
        "date-time",
        "reversed",
        "not-slug",
        "name-type",
        "two-lines",
        "blank",
    ],
)
def test_a_bad_field_is_named_with_its_file_and_episode(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(SpecError) as caught:
        load_episodes(path)
    assert str(caught.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + GOOD, "episode 2: name: 'calm-spell' is already used"),
        ("title = 'x'\n" + GOOD, "unknown top-level key 'title'"),
        ("", "no [[episode]] table"),
        ("episode = 3", "no [[episode]] table"),
        ("[[episode]\n", "not valid TOML"),
    ],
    ids=["duplicate", "top-level", "empty", "not-a-list", "not-toml"],
)
def test_a_bad_file_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError, match="^" + str(path).replace(".", r"\.")) as caught:
        load_episodes(path)
    assert message in str(caught.value)


def test_an_unknown_name_names_the_closest() -> None:
    with pytest.raises(
        SpecError,
        match=r"^unknown episode 'covid-crash' \(did you mean '2020-covid-crash'\?\)$",
    ):
        find_episode("covid-crash")


def test_selection_keeps_the_order_given_and_all_takes_every_one() -> None:
    chosen = select_episodes(["2020-covid-crash", "2008-financial-crisis"])
    assert [e.name for e in chosen] == ["2020-covid-crash", "2008-financial-crisis"]
    assert select_episodes(["all"]) == load_episodes()
    with pytest.raises(SpecError, match="episode '2020-covid-crash' is named twice"):
        select_episodes(["2020-covid-crash", "2020-covid-crash"])


def test_an_episode_outside_the_data_is_refused() -> None:
    market = default_market()  # simulated, from 2012
    with pytest.raises(
        DataError,
        match=r"episode '2008-financial-crisis' \(2007-10-09 to 2009-03-09\) is not "
        r"covered by the data \(2012-01-03 to ",
    ):
        find_episode("2008-financial-crisis").check_covered(market)


def test_an_episode_run_is_the_run_over_its_window() -> None:
    """``episode=`` is a named ``start``/``end``: the same run, day for day."""
    market = market_from(None)
    named = backtest("static-60-40", market, episode="2020-covid-crash")
    dated = backtest("static-60-40", market, start="2020-02-19", end="2020-03-23")
    pd.testing.assert_series_equal(named.returns, dated.returns)
    assert str(named.returns.index[0].date()) == "2020-02-19"
    assert str(named.returns.index[-1].date()) == "2020-03-23"
    with pytest.raises(SpecError, match="sets the period: give no start/end"):
        backtest("static-60-40", market, episode="2020-covid-crash", end="2020-03-01")
