"""Tests of riskengine.calendar: the conventions, and that the backtest uses them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskengine.calendar
from riskengine import backtest, load_policy, make_market
from riskengine.calendar import (
    accrual_fractions,
    annual_vol_factor,
    periods_per_year,
)


def test_periods_per_year_is_252_unless_every_asset_trades_every_day() -> None:
    daily = ("BTC_USD", "ETH_USD")
    assert periods_per_year(["BTC_USD", "ETH_USD"], daily) == 365.0
    assert periods_per_year(["BTC_USD"], daily) == 365.0
    assert periods_per_year(["BTC_USD", "SPY"], daily) == 252.0
    assert periods_per_year(["SPY"], ()) == 252.0


def test_annual_vol_factor_is_the_square_root_of_time() -> None:
    # 1% a day over 252 days: 0.01 * sqrt(252) = 15.87% a year
    assert 0.01 * annual_vol_factor(252.0) == pytest.approx(0.158745, abs=1e-6)
    assert annual_vol_factor(365.0) ** 2 == pytest.approx(365.0, rel=1e-15)


def test_accrual_fractions_count_calendar_days_over_365() -> None:
    # Friday, Monday, Tuesday, and a holiday-shortened week to the next Monday
    index = pd.DatetimeIndex(["2024-01-05", "2024-01-08", "2024-01-09", "2024-01-15"])
    np.testing.assert_array_equal(
        accrual_fractions(index), [0.0, 3 / 365, 1 / 365, 6 / 365]
    )


PARKED_IN_CASH = """name = "cash"
description = "d"
source = "s"
model = "ewma-0.94"
[target]
base = "fixed"
sleeve_weights = { dm_equity = 1.0 }
[rebalance]
frequency = "monthly"
min_history_days = 40
[costs]
cash_rate_annual = 0.0365
"""


@pytest.fixture
def cash_run_inputs(tmp_path: Path, rng: np.random.Generator):
    path = tmp_path / "cash.toml"
    path.write_text(PARKED_IN_CASH)
    index = pd.bdate_range("2024-01-01", periods=120)
    prices = pd.DataFrame(
        {"SPY": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(index))))}, index
    )
    prices.index.name = "date"
    return load_policy(path), make_market(prices, source="synthetic")


def test_cash_accrues_with_the_one_day_count(
    cash_run_inputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, market = cash_run_inputs
    # before its first holding the whole NAV is cash, earning 3.65% ACT/365:
    # 1e-4 a calendar day, 3e-4 over a weekend
    result = backtest(policy, market)
    all_cash = result.weights.shift(1, fill_value=0.0).abs().sum(axis=1) == 0
    days = np.diff(market.returns.index.to_numpy()) / np.timedelta64(1, "D")
    warmup = result.financing[all_cash].iloc[1:]
    assert len(warmup) > 30
    np.testing.assert_allclose(
        warmup.to_numpy(), 1e-4 * days[: len(warmup)], rtol=1e-12
    )
    # the backtest reads the day count from riskengine.calendar, nowhere else
    monkeypatch.setattr(riskengine.calendar, "DAY_COUNT_DAYS", 360.0)
    on_360 = backtest(policy, market).financing.loc[warmup.index]
    np.testing.assert_allclose(on_360.to_numpy(), warmup.to_numpy() * 365 / 360)
    assert not math.isclose(on_360.iloc[0], warmup.iloc[0])
