"""Tests of riskengine.results.metrics against hand values and independent computations.

References are worked by hand on tiny series, or computed with the standard
library (``statistics``) or numpy written differently from the module.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine import backtest, load_policy
from riskengine.backtest import BacktestResult, InvestedPeriod
from riskengine.errors import DataError
from riskengine.events import events_frame
from riskengine.results import metrics

TIGHT = 1e-12  # relative tolerance where only float rounding separates the sides


def series(values: list[float] | np.ndarray, start: str = "2024-01-01") -> pd.Series:
    """Returns on consecutive business days from ``start``."""
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)))


# periods per year: a convention, never inferred from the dates


def test_default_periods_per_year_is_252_whatever_the_calendar() -> None:
    # 1000 returns on every calendar day: the default is still 252 a year; the
    # caller says 365 when the series has every day
    r = pd.Series(0.001, index=pd.date_range("2020-01-01", periods=1000, freq="D"))
    assert metrics.annualized_return(r) == pytest.approx(1.001**252 - 1, rel=1e-9)
    assert metrics.annualized_return(r, 365) == pytest.approx(1.001**365 - 1, rel=1e-9)


# annual return and volatility


def test_constant_return_gives_cagr_and_zero_vol() -> None:
    r = series([0.0004] * 504)
    assert metrics.annualized_return(r, 252) == pytest.approx(
        1.0004**252 - 1, rel=TIGHT
    )
    # a constant series has zero std; numpy leaves ~1e-19 of rounding
    assert metrics.annualized_volatility(r, 252) == pytest.approx(0.0, abs=1e-15)


def test_cagr_by_hand_and_total_loss() -> None:
    # 1.1 * 0.9 = 0.99 over 2 periods at 2 a year: one year, -1%.
    assert metrics.annualized_return(series([0.1, -0.1]), 2) == pytest.approx(
        -0.01, rel=TIGHT
    )
    assert metrics.annualized_return(series([-1.0, 0.1]), 252) == -1.0


def test_volatility_by_hand() -> None:
    # mean 0, sum of squares 4e-4 over n - 1 = 3: std = sqrt(4e-4 / 3).
    r = series([0.01, -0.01, 0.01, -0.01])
    expected = math.sqrt(4e-4 / 3) * math.sqrt(252)
    assert metrics.annualized_volatility(r, 252) == pytest.approx(expected, rel=TIGHT)


def test_volatility_of_seeded_normal_series(rng: np.random.Generator) -> None:
    # The sample std of n normals has relative standard error ~ 1 / sqrt(2n):
    # 1.4% for n = 2520; 5% is 3.5 standard errors.
    r = series(rng.normal(0.0, 0.01, size=2520), start="2010-01-01")
    vol = metrics.annualized_volatility(r, 252)
    assert vol == pytest.approx(0.01 * math.sqrt(252), rel=0.05)


# Sharpe and Sortino

SAMPLE = [0.01, 0.02, -0.005, 0.003, -0.012, 0.007]


def test_sharpe_matches_statistics_module() -> None:
    rf_annual = 0.0252  # 0.0001 a period at 252 a year
    excess = [x - 0.0001 for x in SAMPLE]
    expected = statistics.mean(excess) * 252 / (statistics.stdev(SAMPLE) * 252**0.5)
    got = metrics.sharpe_ratio(series(SAMPLE), 252, rf_annual)
    assert got == pytest.approx(expected, rel=1e-10)


def test_sortino_by_hand() -> None:
    rf_per_period = 0.0001
    excess = [x - rf_per_period for x in SAMPLE]
    downside = math.sqrt(sum(min(e, 0.0) ** 2 for e in excess) / len(excess))
    expected = statistics.mean(excess) * 252 / (downside * math.sqrt(252))
    got = metrics.sortino_ratio(series(SAMPLE), 252, rf_per_period * 252)
    assert got == pytest.approx(expected, rel=1e-10)


def test_ratios_undefined_without_risk() -> None:
    assert math.isnan(metrics.sharpe_ratio(series([0.001] * 10), 252))
    assert math.isnan(metrics.sortino_ratio(series([0.001, 0.002, 0.003]), 252))


# drawdown and months


def test_drawdown_of_known_path() -> None:
    # wealth 1.1, 0.55, 0.66, 1.32 against peaks 1.1, 1.1, 1.1, 1.32
    dd = metrics.drawdown(series([0.1, -0.5, 0.2, 1.0]))
    np.testing.assert_allclose(dd.to_numpy(), [0.0, -0.5, -0.4, 0.0], atol=1e-15)
    assert metrics.max_drawdown(series([0.1, -0.5, 0.2, 1.0])) == pytest.approx(
        -0.5, rel=TIGHT
    )


def test_drawdown_starts_from_wealth_one() -> None:
    # a first-day loss is a drawdown from the initial wealth of 1
    dd = metrics.drawdown(series([-0.2, 0.1]))
    np.testing.assert_allclose(dd.to_numpy(), [-0.2, 0.8 * 1.1 - 1], rtol=TIGHT)


def test_monthly_and_worst_month() -> None:
    dates = pd.DatetimeIndex(
        ["2024-01-29", "2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]
    )
    r = pd.Series([0.01, 0.01, 0.01, -0.02, 0.01], index=dates)
    months = metrics.monthly_returns(r)
    assert list(months.index) == [pd.Period("2024-01", "M"), pd.Period("2024-02", "M")]
    np.testing.assert_allclose(months.to_numpy(), [0.030301, -0.0102], rtol=TIGHT)
    assert metrics.worst_month(r) == pytest.approx(0.98 * 1.01 - 1, rel=TIGHT)


def test_monthly_returns_accept_a_timezone_aware_index() -> None:
    # months follow local dates; pandas warns (an error here) if tz is not dropped
    index = pd.DatetimeIndex(["2024-01-31", "2024-02-01"]).tz_localize("US/Eastern")
    months = metrics.monthly_returns(pd.Series([0.01, -0.02], index=index))
    np.testing.assert_allclose(months.to_numpy(), [0.01, -0.02], rtol=TIGHT)


# CVaR


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (0.95, 0.0475),  # mean of the 5 worst: -0.0495 ... -0.0455
        (0.99, 0.0495),  # the single worst
        (0.90, 0.0450),  # mean of the 10 worst: -0.0495 ... -0.0405
    ],
)
def test_cvar_on_100_known_values(
    rng: np.random.Generator, level: float, expected: float
) -> None:
    values = (np.arange(1, 101) - 50.5) / 1000  # -0.0495, -0.0485, ..., 0.0495
    r = series(rng.permutation(values))
    assert metrics.cvar(r, level) == pytest.approx(expected, rel=1e-12)


def test_cvar_includes_ties_at_the_quantile() -> None:
    # 20 values at 0.90: k = 2, q = -0.03, and both -0.03 values are in the tail
    r = series([-0.05, -0.03, -0.03, *[0.01] * 17])
    assert metrics.cvar(r, 0.90) == pytest.approx(0.11 / 3, rel=TIGHT)


def test_cvar_rejects_bad_level() -> None:
    with pytest.raises(ValueError, match=r"level: 1\.0, expected a confidence"):
        metrics.cvar(series(SAMPLE), 1.0)


# rolling volatility and vol of vol


def test_rolling_volatility_matches_sliding_windows(rng: np.random.Generator) -> None:
    values = rng.normal(0.0, 0.01, size=60)
    got = metrics.rolling_volatility(series(values), window=20, periods_per_year=252)
    windows = np.lib.stride_tricks.sliding_window_view(values, 20)
    expected = windows.std(axis=1, ddof=1) * math.sqrt(252)
    assert got.iloc[:19].isna().all()
    np.testing.assert_allclose(got.iloc[19:].to_numpy(), expected, rtol=1e-10)


def test_rolling_volatility_default_window_is_one_year() -> None:
    # one year is periods_per_year observations: 252 by default, 365 when given
    index = pd.date_range("2020-01-01", periods=400, freq="D")
    r = pd.Series(np.tile([0.01, -0.01], 200), index)
    assert metrics.rolling_volatility(r).notna().sum() == 400 - 252 + 1
    assert metrics.rolling_volatility(r, None, 365).notna().sum() == 400 - 365 + 1


def test_vol_of_vol_zero_for_constant_vol() -> None:
    # +-1% alternating: every 20-day window holds 10 of each, the same std
    r = series(np.tile([0.01, -0.01], 100))
    got = metrics.vol_of_vol(r, window=20, periods_per_year=252)
    assert got == pytest.approx(0.0, abs=1e-12)  # rolling-sum rounding only


def test_vol_of_vol_positive_for_regime_switch() -> None:
    # vol moves from 0.005 * sqrt(252) = 0.08 to 0.02 * sqrt(252) = 0.32; a
    # rolling path across that jump has a std of a good part of the 0.24 gap
    r = series(
        np.concatenate([np.tile([0.005, -0.005], 150), np.tile([0.02, -0.02], 150)])
    )
    assert metrics.vol_of_vol(r, window=20, periods_per_year=252) > 0.05


def test_vol_of_vol_needs_two_windows() -> None:
    with pytest.raises(DataError, match="1 full rolling windows, need 2"):
        metrics.vol_of_vol(series([0.01, -0.01] * 10), window=20, periods_per_year=252)


# input validation


def test_empty_input_raises() -> None:
    empty = pd.Series([], index=pd.DatetimeIndex([]), dtype="float64")
    with pytest.raises(DataError, match="0 non-NaN values, need at least 2"):
        metrics.annualized_volatility(empty)
    with pytest.raises(DataError, match="0 non-NaN values, need at least 1"):
        metrics.max_drawdown(empty)


def test_interior_nan_raises_naming_the_date() -> None:
    r = series([0.01, math.nan, 0.02])  # 2024-01-01, 2024-01-02, 2024-01-03
    with pytest.raises(DataError, match="interior NaN at 2024-01-02"):
        metrics.annualized_return(r, 252)


def test_leading_nans_are_dropped_and_input_untouched() -> None:
    r = series([math.nan, math.nan, 0.01, -0.02, 0.03])
    before = r.copy()
    assert metrics.annualized_return(r, 252) == metrics.annualized_return(
        r.iloc[2:], 252
    )
    assert len(metrics.drawdown(r)) == 3
    pd.testing.assert_series_equal(r, before)


def test_rejects_non_date_and_unsorted_index() -> None:
    with pytest.raises(DataError, match="DatetimeIndex"):
        metrics.max_drawdown(pd.Series([0.01, 0.02]))
    with pytest.raises(DataError, match="sorted ascending and unique"):
        metrics.max_drawdown(series([0.01, 0.02]).iloc[::-1])


# summarize

KEYS = [
    "annual_return",
    "annual_vol",
    "sharpe",
    "sortino",
    "max_drawdown",
    "worst_month",
    "vol_of_vol",
    "cvar_95",
    "turnover_annual",
    "costs_annual",
]


def test_summarize_keys_values_and_annualised_sums(rng: np.random.Generator) -> None:
    index = pd.date_range("2021-01-01", periods=730, freq="D")  # 730 / 365 years
    r = pd.Series(rng.normal(0.0003, 0.01, size=730), index=index)
    turnover = pd.Series(0.1, index=pd.date_range("2021-01-31", periods=24, freq="ME"))
    costs = pd.Series(1e-4, index=index)
    out = metrics.summarize(
        r, turnover, costs, risk_free_annual=0.02, periods_per_year=365
    )
    assert list(out) == KEYS
    assert out["annual_vol"] == metrics.annualized_volatility(r, 365)
    assert out["sharpe"] == metrics.sharpe_ratio(r, 365, 0.02)
    assert out["vol_of_vol"] == metrics.vol_of_vol(r, None, 365)
    assert out["cvar_95"] == metrics.cvar(r, 0.95)
    # 24 rebalances of 0.1 over 730 / 365 years; 1 bp a day for 365 days
    assert out["turnover_annual"] == pytest.approx(2.4 * 365 / 730, rel=1e-12)
    assert out["costs_annual"] == pytest.approx(1e-4 * 365, rel=1e-12)


def test_summarize_annualises_by_252_unless_told() -> None:
    # the same daily figures a year of 252 or of 365 periods: vol by sqrt(ppy)
    r = series(np.tile([0.01, -0.01], 300))
    on_252, on_365 = metrics.summarize(r), metrics.summarize(r, periods_per_year=365)
    assert on_252["annual_vol"] == metrics.annualized_volatility(r, 252)
    assert on_365["annual_vol"] / on_252["annual_vol"] == pytest.approx(
        math.sqrt(365 / 252), rel=TIGHT
    )


def test_summarize_without_extras_or_a_full_year() -> None:
    out = metrics.summarize(series(SAMPLE))
    assert math.isnan(out["turnover_annual"])
    assert math.isnan(out["costs_annual"])
    assert math.isnan(out["vol_of_vol"])  # under two one-year windows


def test_summarize_rejects_nan_turnover() -> None:
    turnover = pd.Series(
        [0.1, math.nan], index=pd.DatetimeIndex(["2024-01-01", "2024-01-05"])
    )
    with pytest.raises(DataError, match="turnover: NaN at 2024-01-05"):
        metrics.summarize(series(SAMPLE), turnover)


# a run's metrics: over its invested period, annualised with its own periods per year


def hand_result(
    held: list[float], returns: list[float], periods_per_year: float = 252.0
) -> BacktestResult:
    """A one-asset run written by hand: weights held at each close, net returns."""
    index = pd.bdate_range("2024-01-01", periods=len(held))
    weights = pd.DataFrame({"SPY": held}, index=index)
    turnover = weights["SPY"].diff().abs().fillna(weights["SPY"].iloc[0])
    return BacktestResult(
        policy=load_policy("equity-risk-control-10"),
        source="by hand",
        fingerprint="0" * 64,
        simulated=False,
        weights=weights,
        targets=weights,
        risk_contributions=weights.ne(0.0).astype(float),
        volatility=weights * 0.01,
        decisions=pd.DataFrame(index=index),
        returns=pd.Series(returns, index=index, name="return"),
        turnover=turnover.rename("turnover"),
        trading_costs=(turnover * 1e-4).rename("trading_cost"),
        financing=pd.Series(0.0, index=index, name="financing"),
        events=events_frame([]),
        periods_per_year=periods_per_year,
        timings={},
        sleeves={"SPY": "dm_equity"},
    )


GROWTH = [0.01, -0.02, 0.015, 0.003, -0.007, 0.012, -0.001, 0.004]


def test_metrics_leave_out_the_days_before_the_first_holding() -> None:
    # three days in cash, then held from the fourth close: its return (the first
    # trade's cost) is the first of the invested period
    result = hand_result([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [0.0] * 3 + GROWTH)
    period = result.invested_period
    assert period == InvestedPeriod(
        pd.Timestamp("2024-01-04"), pd.Timestamp("2024-01-15"), 8, 3
    )
    invested = slice("2024-01-04", None)
    expected = metrics.summarize(
        result.returns[invested],
        result.turnover[invested],
        result.trading_costs[invested],
        periods_per_year=252,
    )
    assert result.metrics() == expected
    assert result.metrics() != metrics.summarize(
        result.returns, result.turnover, result.trading_costs
    )
    assert period.describe() == "invested from 2024-01-04, 3 warm-up days before"
    assert period.to_dict() == {
        "invested_from": "2024-01-04",
        "invested_to": "2024-01-15",
        "invested_days": 8,
        "warmup_days": 3,
    }


def test_a_run_invested_from_its_first_day_has_no_warm_up() -> None:
    result = hand_result([1.0] * len(GROWTH), GROWTH)
    assert result.invested_period.warmup_days == 0
    assert (
        result.invested_period.describe() == "invested from 2024-01-01, the first day"
    )
    assert result.metrics() == metrics.summarize(
        result.returns, result.turnover, result.trading_costs
    )


def test_a_run_that_holds_from_only_its_last_day_has_one_warm_up_day_fewer() -> None:
    result = hand_result([0, 0, 0, 1], [0.0, 0.0, 0.0, -1e-4])
    assert result.invested_period.describe() == (
        "invested from 2024-01-04, 3 warm-up days before"
    )
    assert not result.invested_period.measurable
    with pytest.raises(DataError, match="no metrics without at least 2 invested days"):
        result.metrics()


def test_a_run_that_never_holds_says_so_instead_of_nan_metrics() -> None:
    result = hand_result([0.0] * 5, [0.0] * 5)
    period = result.invested_period
    assert (period.start, period.days, period.warmup_days) == (None, 0, 5)
    assert period.to_dict()["invested_from"] is None
    with pytest.raises(
        DataError,
        match=r"by hand: policy 'equity-risk-control-10' from 2024-01-01 to "
        r"2024-01-05: never invested: no holding on any of the 5 days",
    ):
        result.metrics()


def test_run_metrics_use_the_runs_own_periods_per_year() -> None:
    on_252 = hand_result([1.0] * len(GROWTH), GROWTH).metrics()
    on_365 = hand_result([1.0] * len(GROWTH), GROWTH, periods_per_year=365).metrics()
    assert on_365["annual_vol"] / on_252["annual_vol"] == pytest.approx(
        math.sqrt(365 / 252), rel=TIGHT
    )
    growth = float(np.prod(1 + np.array(GROWTH)))
    assert on_365["annual_return"] == pytest.approx(
        growth ** (365 / len(GROWTH)) - 1, rel=TIGHT
    )
    assert on_365["turnover_annual"] == pytest.approx(365 / len(GROWTH), rel=TIGHT)


def test_safe_haven_overlay_from_the_start_of_the_real_file(
    real_prices_path: Path,
) -> None:
    """The warm-up is every day before the overlay's first holding, and no more."""
    result = backtest("safe-haven-risk-off", real_prices_path)
    period = result.invested_period
    held = result.weights.ne(0.0).any(axis=1)
    assert period.start == held.idxmax()
    assert not held.iloc[: period.warmup_days].any()
    assert held.iloc[period.warmup_days]
    assert period.warmup_days + period.days == len(result.returns)
    # no cash rate: nothing is earned before the first holding
    assert (result.returns.iloc[: period.warmup_days] == 0.0).all()
    invested = result.returns.loc[period.start :]
    assert result.metrics()["annual_vol"] == metrics.annualized_volatility(
        invested, result.periods_per_year
    )
