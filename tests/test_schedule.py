"""Tests of the rebalance schedule: week and month ends are calendar facts.

A row closes its week or month when the trading calendar's next session is in
another one, known in advance; the next row of the data is never read.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Literal

import exchange_calendars
import numpy as np
import pandas as pd
import pytest

from riskengine import load_policy, make_market
from riskengine.backtest.schedule import scheduled_rows
from riskengine.calendar import calendar_sessions, period_end_rows, resolve_calendar
from riskengine.data.prices import Market
from riskengine.errors import DataError, SpecError
from riskengine.specs import PolicySpec, RebalanceSpec
from riskengine.specs.files import builtin_dir

Frequency = Literal["daily", "weekly", "monthly"]
Period = Literal["weekly", "monthly"]


def weekly(calendar: str = "auto", frequency: Frequency = "weekly") -> PolicySpec:
    policy = load_policy("risk-parity-fund")
    rebalance = RebalanceSpec(frequency=frequency, calendar=calendar)
    return replace(policy, rebalance=rebalance)


def market_on(index: pd.DatetimeIndex, columns: tuple[str, ...] = ("SPY",)) -> Market:
    rng = np.random.default_rng(7)
    steps = rng.normal(0.0, 0.01, (len(index), len(columns)))
    prices = pd.DataFrame(100 * np.exp(np.cumsum(steps, axis=0)), index, columns)
    prices.index.name = "date"
    return make_market(prices, source="synthetic.csv")


def closing(index: pd.DatetimeIndex, policy: PolicySpec, market: Market) -> list[str]:
    rows = scheduled_rows(index, policy, market)
    return [str(d.date()) for d in index[rows]]


def nyse_sessions(start: str, end: str) -> pd.DatetimeIndex:
    sessions = calendar_sessions(
        "XNYS", pd.Timestamp(start), pd.Timestamp(end), source="x"
    )
    return sessions[(sessions >= start) & (sessions <= end)]


def test_thursday_before_good_friday_closes_its_week_with_or_without_later_data() -> (
    None
):
    # the NYSE is shut on Good Friday, 2026-04-03: Thursday is the week's last session
    full = nyse_sessions("2026-03-23", "2026-04-10")
    market = market_on(full)
    cut = full[full <= "2026-04-02"]
    assert closing(cut, weekly(), market) == ["2026-03-27", "2026-04-02"]
    assert closing(full, weekly(), market) == [
        "2026-03-27",
        "2026-04-02",
        "2026-04-10",
    ]


@pytest.mark.parametrize("frequency", ["weekly", "monthly"])
@pytest.mark.parametrize("calendar", ["XNYS", "XLON", "24/7"])
def test_a_rows_status_never_depends_on_the_rows_after_it(
    frequency: Period, calendar: str, rng: np.random.Generator
) -> None:
    # weekdays over three years, a tenth of them missing (gaps in the data) and a
    # few weekend prints: whatever the data, cutting them short changes nothing
    days = pd.bdate_range("2023-06-01", "2026-08-21")
    keep = rng.random(len(days)) > 0.1
    extra = pd.date_range("2023-06-01", "2026-08-21", freq="D")
    extra = extra[(extra.day_of_week >= 5) & (rng.random(len(extra)) < 0.05)]
    index = days[keep].union(extra)
    sessions = calendar_sessions(calendar, index[0], index[-1], source="x")
    full = period_end_rows(index, sessions, frequency)
    assert 20 < full.sum() < len(index) / 3
    for k in range(1, len(index) + 1):
        cut = calendar_sessions(calendar, index[0], index[k - 1], source="x")
        alone = period_end_rows(index[:k], cut, frequency)
        assert alone[-1] == full[k - 1], index[k - 1]


def test_a_month_closes_on_its_last_session() -> None:
    index = nyse_sessions("2024-01-02", "2025-01-10")
    assert closing(index, weekly(frequency="monthly"), market_on(index)) == [
        "2024-01-31",
        "2024-02-29",
        "2024-03-28",  # Good Friday 2024-03-29
        "2024-04-30",
        "2024-05-31",
        "2024-06-28",  # 30 June is a Sunday
        "2024-07-31",
        "2024-08-30",
        "2024-09-30",
        "2024-10-31",
        "2024-11-29",
        "2024-12-31",
    ]


def test_all_crypto_data_run_on_the_24_7_calendar_and_mixed_data_on_the_nyse() -> None:
    every_day = pd.date_range("2024-01-01", "2024-07-15", freq="D")
    crypto = market_on(every_day, ("BTC_USD", "ETH_USD"))
    assert resolve_calendar("auto", every_day=True) == "24/7"
    weeks = closing(every_day, weekly(), crypto)
    assert {pd.Timestamp(d).day_name() for d in weeks} == {"Sunday"}
    assert closing(every_day, weekly(frequency="monthly"), crypto)[2:6] == [
        "2024-03-31",  # a Sunday
        "2024-04-30",
        "2024-05-31",
        "2024-06-30",  # a Sunday
    ]
    # with an exchange-traded column the rows are its days, the weeks the NYSE's
    prices = market_on(every_day, ("SPY", "BTC_USD")).prices.copy()
    prices.loc[prices.index.day_of_week >= 5, "SPY"] = np.nan
    mixed = make_market(prices, source="mixed.csv")
    rows = mixed.returns.index
    assert set(rows.day_of_week) == {0, 1, 2, 3, 4}
    assert resolve_calendar("auto", every_day=False) == "XNYS"
    ends = closing(rows, weekly(), mixed)
    assert "2024-03-28" in ends  # the Thursday before Good Friday
    assert {pd.Timestamp(d).day_name() for d in ends} == {"Thursday", "Friday"}


def test_a_holiday_print_closes_nothing_and_a_missing_close_moves_to_the_next_row() -> (
    None
):
    # a price on Good Friday 2026-04-03 (no NYSE session), and none on Friday
    # 2026-04-10 (a session the data miss): that week closes on Monday 04-13
    index = pd.bdate_range("2026-03-30", "2026-04-17").drop(pd.Timestamp("2026-04-10"))
    assert closing(index, weekly(), market_on(index)) == [
        "2026-04-02",
        "2026-04-13",
        "2026-04-17",
    ]


def test_an_exchange_closes_its_own_weeks() -> None:
    # Christmas week 2025: London shut on Thursday 25 and Friday 26 December, New
    # York on the 25th only
    index = pd.bdate_range("2025-12-15", "2025-12-31")
    market = market_on(index)
    assert closing(index, weekly("XLON"), market) == ["2025-12-19", "2025-12-24"]
    assert closing(index, weekly("XNYS"), market) == ["2025-12-19", "2025-12-26"]
    assert closing(index, weekly("NYSE"), market) == ["2025-12-19", "2025-12-26"]


@pytest.mark.parametrize(
    ("written", "hint"),
    [("XNYX", "did you mean 'XNYS'?"), ("xlon", "did you mean 'XLON'?")],
)
def test_a_misspelt_calendar_is_named_with_the_closest_one(
    tmp_path: Path, written: str, hint: str
) -> None:
    text = (builtin_dir("policies") / "risk-parity-fund.toml").read_text()
    path = tmp_path / "policy.toml"
    path.write_text(
        text.replace("[rebalance]\n", f'[rebalance]\ncalendar = "{written}"\n')
    )
    with pytest.raises(
        SpecError,
        match=(
            r"policy\.toml: rebalance\.calendar: unknown trading calendar "
            + re.escape(f"'{written}' ({hint}); 'auto' or a name of exchange_calendars")
        ),
    ):
        load_policy(path)


def test_a_calendar_must_cover_the_datas_dates() -> None:
    # Tokyo's holidays are recorded from a given year on, Shanghai's up to one
    with warnings.catch_warnings():  # exchange_calendars under pandas 3
        warnings.simplefilter("ignore", DeprecationWarning)
        tokyo = exchange_calendars.get_calendar("XTKS").bound_min()
        shanghai = exchange_calendars.get_calendar("XSHG").bound_max()
    if tokyo is None or shanghai is None:
        pytest.skip("this exchange_calendars records XTKS and XSHG without bounds")
    early = pd.bdate_range(tokyo - pd.Timedelta(days=400), periods=300)
    with pytest.raises(
        DataError,
        match=(
            rf"synthetic\.csv: rebalance\.calendar 'XTKS' cannot cover the data's "
            rf"dates {early[0].date()} \.\. {early[-1].date()}"
        ),
    ):
        scheduled_rows(early, weekly("XTKS"), market_on(early))
    late = pd.bdate_range(end=shanghai, periods=300)
    with pytest.raises(
        DataError,
        match=(
            rf"synthetic\.csv: rebalance\.calendar 'XSHG' records sessions up to "
            rf"\S+ only: the session after the data's last date {late[-1].date()} "
            "is unknown"
        ),
    ):
        scheduled_rows(late, weekly("XSHG"), market_on(late))


def test_daily_schedules_need_no_calendar() -> None:
    index = pd.bdate_range("2026-03-30", "2026-04-17")
    rows = scheduled_rows(index, weekly(frequency="daily"), market_on(index))
    assert rows.all()
