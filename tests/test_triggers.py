from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine import backtest
from riskengine.backtest.walk import prepare_walk
from riskengine.data.prices import load_market
from riskengine.errors import SpecError
from riskengine.policy.signals import (
    TERM_DAYS,
    forecast_horizon,
    term_volatility,
    trigger_signal,
)
from riskengine.policy.triggers import sleeve_multipliers, trigger_path
from riskengine.specs import TriggerSpec, load_model, load_policy
from riskengine.volatility import VolForecast

SPEC = TriggerSpec(
    name="rule",
    watch_sleeves=("safe_haven",),
    act_on_sleeves=("crypto",),
    enter_above=2.0,
    exit_below=1.0,
    min_days_in_state=3,
    scale=0.5,
    reentry_days=5,
)


def path(values: list[float], spec: TriggerSpec = SPEC):
    index = pd.bdate_range("2026-01-01", periods=len(values))
    return trigger_path(spec, pd.Series(values, index=index, dtype=float))


def test_fires_exactly_when_signal_crosses_not_at_the_threshold() -> None:
    result = path([1.0, 1.9, 2.0, 2.0001, 3.0])
    assert list(result.risk_off) == [False, False, False, True, True]
    assert [e.kind for e in result.events] == ["trigger_enter"]
    assert result.events[0].date == result.signal.index[3]
    assert result.events[0].details["value"] == pytest.approx(2.0001)
    assert result.events[0].details["threshold"] == 2.0


def test_exit_needs_the_lower_threshold_and_minimum_time() -> None:
    #         0    1    2    3    4    5    6    7
    values = [3.0, 0.5, 0.5, 1.5, 1.5, 0.9, 0.5, 2.5]
    result = path(values)
    # entered at 0; below 1 at 1-2 but the minimum of 3 days holds it; 1.5 is above
    # the exit threshold (hysteresis); exits at 5; re-entry at 7 waits 3 days: no
    assert list(result.risk_off) == [True, True, True, True, True, False, False, False]
    assert [e.kind for e in result.events] == ["trigger_enter", "trigger_exit"]


def test_cut_is_immediate_and_reentry_is_staged() -> None:
    result = path([3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    expected = [0.5, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(result.multiplier, expected, rtol=1e-12)


def test_daily_change_cap_slows_the_cut() -> None:
    spec = TriggerSpec(**{**SPEC.__dict__, "max_daily_change": 0.2})
    result = path([3.0, 3.0, 3.0, 3.0], spec)
    np.testing.assert_allclose(result.multiplier, [0.8, 0.6, 0.5, 0.5], rtol=1e-12)


def test_nan_signal_never_changes_state() -> None:
    result = path([np.nan, np.nan, 3.0, np.nan, 0.0, 0.0, 0.0])
    assert list(result.risk_off) == [False, False, True, True, True, False, False]


def test_signal_is_point_in_time_and_aggregates_by_max() -> None:
    index = pd.bdate_range("2020-01-01", periods=400)
    rng = np.random.default_rng(1)
    vol = pd.DataFrame(
        {"GLD": 0.01 + 0.001 * rng.random(400), "SLV": 0.02 + 0.001 * rng.random(400)},
        index=index,
    )
    vol.iloc[300:, 1] *= 3.0  # silver's vol triples
    returns = vol * 0 + 0.001
    sleeves = {"GLD": "safe_haven", "SLV": "safe_haven"}
    spec = TriggerSpec(**{**SPEC.__dict__, "signal": "vol_ratio", "lookback_days": 252})
    signal = trigger_signal(spec, vol, returns, vol * 0 + 1.0, sleeves)
    assert signal.iloc[:251].isna().all()
    assert signal.iloc[310] == pytest.approx(
        (vol["SLV"].iloc[310] / vol["SLV"].iloc[59:311].median()), rel=1e-12
    )
    perturbed = vol.copy()
    perturbed.iloc[320:] *= 5
    moved = trigger_signal(spec, perturbed, returns, vol * 0 + 1.0, sleeves)
    pd.testing.assert_series_equal(signal.iloc[:320], moved.iloc[:320])


def test_multipliers_apply_to_acted_on_sleeves_only() -> None:
    result = path([3.0, 3.0, 3.0])
    out = sleeve_multipliers(
        [result], {"BTC": "crypto", "SPY": "dm_equity"}, ["BTC", "SPY"], 3
    )
    np.testing.assert_allclose(out[:, 0], 0.5)
    np.testing.assert_allclose(out[:, 1], 1.0)


VIX_RULE = TriggerSpec(
    name="vix",
    watch_sleeves=("volatility",),
    act_on_sleeves=("dm_equity",),
    signal="level",
    enter_above=30.0,
    exit_below=20.0,
    min_days_in_state=1,
)


def level_panels(values: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vol, returns and levels of a VIX series (vol and returns unused by levels)."""
    index = pd.bdate_range("2020-01-01", periods=len(values))
    levels = pd.DataFrame({"VIX": values}, index=index, dtype=float)
    return levels * 0 + 0.01, levels


def test_level_signal_is_the_close_and_fires_strictly_above_the_threshold() -> None:
    #         0     1      2     3     4      5     6     7      8
    values = [20.0, 29.99, 30.0, 30.0, 30.01, np.nan, 25.0, 20.0, 19.99]
    vol, levels = level_panels(values)
    signal = trigger_signal(VIX_RULE, vol, vol, levels, {"VIX": "volatility"})
    # the close itself; a day without a close keeps the last one
    expected = [20.0, 29.99, 30.0, 30.0, 30.01, 30.01, 25.0, 20.0, 19.99]
    np.testing.assert_array_equal(signal, expected)
    result = trigger_path(VIX_RULE, signal)
    # 30.0 is not above 30; 30.01 is. 20.0 is not below 20; 19.99 is.
    assert list(result.risk_off) == [False] * 4 + [True] * 4 + [False]
    assert [(e.kind, e.date) for e in result.events] == [
        ("trigger_enter", levels.index[4]),
        ("trigger_exit", levels.index[8]),
    ]
    assert result.events[0].details["value"] == pytest.approx(30.01)
    assert "level of volatility = 30.010 above 30" in result.events[0].message


def test_level_signals_are_point_in_time() -> None:
    rng = np.random.default_rng(3)
    values = list(20.0 * np.exp(np.cumsum(0.05 * rng.standard_normal(400))))
    vol, levels = level_panels(values)
    sleeves = {"VIX": "volatility"}
    for kind in ("level", "level_zscore"):
        spec = TriggerSpec(**{**VIX_RULE.__dict__, "signal": kind, "lookback_days": 60})
        signal = trigger_signal(spec, vol, vol, levels, sleeves)
        perturbed = levels.copy()
        perturbed.iloc[300:] *= 3.0
        moved = trigger_signal(spec, vol, vol, perturbed, sleeves)
        pd.testing.assert_series_equal(signal.iloc[:300], moved.iloc[:300])
        assert not np.allclose(signal.iloc[300:], moved.iloc[300:])
        state = trigger_path(spec, signal).risk_off
        moved_state = trigger_path(spec, moved).risk_off
        pd.testing.assert_series_equal(state.iloc[:300], moved_state.iloc[:300])
    window = levels["VIX"].iloc[241:301]
    zscore = TriggerSpec(
        **{**VIX_RULE.__dict__, "signal": "level_zscore", "lookback_days": 60}
    )
    signal = trigger_signal(zscore, vol, vol, levels, sleeves)
    assert signal.iloc[:59].isna().all()
    assert signal.iloc[300] == pytest.approx(
        (window.iloc[-1] - window.mean()) / window.std(), rel=1e-12
    )


SHOCK_RULE = TriggerSpec(
    name="shock",
    watch_sleeves=("safe_haven",),
    act_on_sleeves=("crypto",),
    signal="residual_shock",
    enter_above=4.0,
    exit_below=2.0,
    lookback_days=21,
    min_days_in_state=2,
)


def test_residual_shock_is_the_return_over_the_previous_forecast() -> None:
    """GLD's and SLV's first 21 returns warm up (one sigma each, no signal). Then
    GLD moves 1% on a 1% forecast, 5% on a 1% forecast (a 5-sigma day), misses a
    day (its last value stands), moves 3% then 1% on the 2% forecast made after the
    shock: 1.5 and 0.5 sigmas. SLV moves one sigma a day; the max is taken."""
    index = pd.bdate_range("2020-01-01", periods=27)
    quiet = [np.nan] + [0.01] * 21
    vol = pd.DataFrame(
        {
            "GLD": [*quiet, 0.01, 0.02, 0.02, 0.02, 0.02],
            "SLV": 5.0 * np.array(quiet + [0.01] * 5),
        },
        index=index,
    )
    returns = pd.DataFrame(
        {"GLD": [*quiet, 0.01, -0.05, np.nan, 0.03, -0.01], "SLV": vol["SLV"].copy()},
        index=index,
    )
    sleeves = {"GLD": "safe_haven", "SLV": "safe_haven"}
    levels = returns * 0 + 1.0
    signal = trigger_signal(SHOCK_RULE, vol, returns, levels, sleeves)
    assert signal.iloc[:22].isna().all()  # the 21st return is one sigma, not counted
    np.testing.assert_allclose(signal.iloc[22:], [1.0, 5.0, 5.0, 1.5, 1.0], rtol=1e-12)
    result = trigger_path(SHOCK_RULE, signal)
    assert list(result.risk_off.iloc[22:]) == [False, True, True, False, False]
    assert [(e.kind, e.date) for e in result.events] == [
        ("trigger_enter", index[23]),
        ("trigger_exit", index[25]),
    ]
    assert "residual_shock of safe_haven = 5.000 above 4" in result.events[0].message


def test_residual_shock_is_point_in_time_and_ignores_a_zero_forecast() -> None:
    index = pd.bdate_range("2020-01-01", periods=300)
    rng = np.random.default_rng(5)
    returns = pd.DataFrame({"GLD": 0.01 * rng.standard_normal(300)}, index=index)
    vol = returns.abs().rolling(20, min_periods=1).mean() + 0.001
    vol.iloc[50, 0] = 0.0  # a zero forecast gives no signal the next day, never inf
    sleeves = {"GLD": "safe_haven"}
    signal = trigger_signal(SHOCK_RULE, vol, returns, returns * 0 + 1.0, sleeves)
    assert signal.iloc[51] == signal.iloc[50]  # carried, not |r| / 0
    assert signal.iloc[:21].isna().all()  # the warm-up
    assert np.isfinite(signal.iloc[21:]).all()
    moved_returns, moved_vol = returns.copy(), vol.copy()
    moved_returns.iloc[200:] *= 4.0
    moved_vol.iloc[200:] *= 0.5
    moved = trigger_signal(
        SHOCK_RULE, moved_vol, moved_returns, moved_returns * 0 + 1.0, sleeves
    )
    pd.testing.assert_series_equal(signal.iloc[:200], moved.iloc[:200])
    assert not np.allclose(signal.iloc[200:], moved.iloc[200:])


TERM_RULE = TriggerSpec(
    name="term",
    watch_sleeves=("safe_haven",),
    act_on_sleeves=("crypto",),
    signal="vol_term_structure",
    enter_above=1.2,
    exit_below=1.05,
    min_days_in_state=1,
)


def test_vol_term_structure_is_vol_over_the_month_ahead_average() -> None:
    """GLD's 2% one-day forecast against a 1.6% month-ahead average: 1.25; a day
    without a price keeps its value; a zero average gives no value (carried); SLV
    is flat (1.0); the max is taken."""
    index = pd.bdate_range("2020-01-01", periods=5)
    vol = pd.DataFrame(
        {"GLD": [0.01, 0.02, 0.02, 0.015, 0.01], "SLV": [0.03] * 5}, index=index
    )
    term = pd.DataFrame(
        {"GLD": [0.01, 0.016, 0.016, 0.0, 0.0125], "SLV": [0.03] * 5}, index=index
    )
    returns = pd.DataFrame(
        {"GLD": [0.01, 0.01, np.nan, 0.01, 0.01], "SLV": [0.01] * 5}, index=index
    )
    sleeves = {"GLD": "safe_haven", "SLV": "safe_haven"}
    signal = trigger_signal(TERM_RULE, vol, returns, returns, sleeves, term)
    np.testing.assert_allclose(signal, [1.0, 1.25, 1.25, 1.25, 1.0], rtol=1e-12)
    result = trigger_path(TERM_RULE, signal)
    assert list(result.risk_off) == [False, True, True, True, False]
    with pytest.raises(
        ValueError,
        match=r"trigger 'term': signal: vol_term_structure needs the model's 21-day "
        r"forecasts",
    ):
        trigger_signal(TERM_RULE, vol, returns, returns, sleeves)


def test_term_structure_reads_a_garch_forecast_and_refuses_a_flat_one() -> None:
    garch = load_policy(
        "safe-haven-risk-off-garch",
        {"triggers.1.signal": "vol_term_structure", "triggers.1.exit_below": 1.0},
    )
    assert forecast_horizon(garch) == TERM_DAYS
    assert forecast_horizon(load_policy("safe-haven-risk-off-garch")) == 1
    ewma = load_policy(
        "safe-haven-risk-off", {"triggers.0.signal": "vol_term_structure"}
    )
    with pytest.raises(
        SpecError,
        match=r"policy 'safe-haven-risk-off': triggers\[0\]\.signal: vol_term_structure "
        r"reads the model's term structure, and model 'ewma-0.94' \(ewma\) has none",
    ):
        forecast_horizon(ewma)
    index = pd.bdate_range("2020-01-01", periods=3)
    returns = pd.DataFrame({"GLD": [np.nan, 0.01, 0.02]}, index=index)
    forecast = VolForecast(
        returns * 0 + 4e-4,
        ewma.model,
        (),
        TERM_DAYS,
        returns * 0 + 21 * 1e-4,
        pd.DataFrame(),
    )
    np.testing.assert_allclose(term_volatility(forecast)["GLD"].iloc[1:], 0.01)
    assert term_volatility(replace(forecast, horizon_days=1)) is None


def test_a_backtest_feeds_the_term_structure_of_its_garch_forecast(
    real_prices_path: Path,
) -> None:
    """The month-ahead average of a GJR forecast reverts: the ratio moves around 1."""
    policy = load_policy(
        "safe-haven-risk-off-garch",
        {"triggers.1.signal": "vol_term_structure", "triggers.1.exit_below": 1.0},
    )
    result = backtest(policy, real_prices_path, start="2020-01-01", end="2020-06-30")
    signal = result.trigger_signals["safe-haven-shock"].dropna()
    assert len(signal) == len(result.returns)
    assert 0.5 < signal.min() < 0.999
    assert 1.001 < signal.max() < 2.0


@pytest.mark.parametrize("signal", ["residual_shock", "vol_term_structure"])
@pytest.mark.parametrize("exit_below", [0, -1.0])
def test_ratio_signals_need_a_positive_exit_threshold(
    signal: str, exit_below: float
) -> None:
    overrides = {"triggers.0.signal": signal, "triggers.0.exit_below": exit_below}
    with pytest.raises(
        SpecError,
        match=r"safe-haven-risk-off-garch\.toml: triggers\[0\]\.exit_below: must be "
        rf"above 0 for {signal}",
    ):
        load_policy("safe-haven-risk-off-garch", overrides)


PERSISTENCE_RULE = TriggerSpec(
    name="lasting",
    watch_sleeves=("safe_haven",),
    act_on_sleeves=("crypto",),
    signal="persistence",
    enter_above=0.99,
    exit_below=0.98,
    min_days_in_state=1,
)


def fitted_forecast(model: str, fits: pd.DataFrame, index: pd.DatetimeIndex):
    variance = pd.DataFrame(1e-4, index=index, columns=["GLD", "SLV"])
    spec = load_model(model)
    return VolForecast(variance, spec, (), 1, variance, fits)


def test_persistence_is_the_unit_root_of_the_fit_in_force() -> None:
    """GLD is refitted on days 2, 5 and 7: alpha + gamma/2 + beta of each from its
    date on, none while the day-5 fit is replaced by the fallback; SLV's one fit
    is on a bound and kept, so it counts; nothing before a first fit."""
    index = pd.bdate_range("2026-01-05", periods=10)
    fits = pd.DataFrame(
        {
            "asset": ["GLD", "GLD", "GLD", "SLV"],
            "date": index[[2, 5, 7, 4]],
            "status": ["ok", "fallback", "boundary", "boundary"],
            "alpha[1]": [0.04, 0.5, 0.02, 0.0],
            "gamma[1]": [0.02, 0.5, 0.1, 0.1],
            "beta[1]": [0.90, 0.5, 0.93, 0.95],
        }
    )
    persistence = fitted_forecast("gjr11-t", fits, index).persistence
    expected_gld = [np.nan] * 2 + [0.95] * 3 + [np.nan] * 2 + [1.0] * 3
    np.testing.assert_allclose(persistence["GLD"], expected_gld, rtol=1e-12)
    np.testing.assert_allclose(persistence["SLV"], [np.nan] * 4 + [1.0] * 6, rtol=1e-12)
    egarch = fitted_forecast("egarch11-skewt", fits, index).persistence
    np.testing.assert_allclose(egarch["GLD"].iloc[2:5], 0.90, rtol=1e-12)
    ewma = fitted_forecast("ewma-0.94", fits.iloc[:0], index).persistence
    assert ewma.isna().all().all()
    returns = pd.DataFrame(0.01, index=index, columns=["GLD", "SLV"])
    returns.iloc[8, 0] = np.nan  # GLD has no price: its value stands
    sleeves = {"GLD": "safe_haven", "SLV": "safe_haven"}
    signal = trigger_signal(
        PERSISTENCE_RULE,
        np.sqrt(fitted_forecast("gjr11-t", fits, index).variance),
        returns,
        returns,
        sleeves,
        persistence=persistence,
    )
    # the max of the two; days 5 and 6 have SLV's 1.0 (GLD's fallback gives none)
    np.testing.assert_allclose(
        signal, [np.nan] * 2 + [0.95] * 2 + [1.0] * 6, rtol=1e-12
    )
    with pytest.raises(
        ValueError, match=r"trigger 'lasting': signal: persistence needs the GARCH"
    ):
        trigger_signal(PERSISTENCE_RULE, persistence, returns, returns, sleeves)


def test_persistence_needs_a_fitted_garch_model() -> None:
    ewma = load_policy("safe-haven-risk-off", {"triggers.0.signal": "persistence"})
    with pytest.raises(
        SpecError,
        match=r"policy 'safe-haven-risk-off': triggers\[0\]\.signal: persistence "
        r"reads the model's fitted persistence, and model 'ewma-0.94' \(ewma\) has "
        r"none",
    ):
        forecast_horizon(ewma)
    garch = load_policy(
        "safe-haven-risk-off-garch", {"triggers.0.signal": "persistence"}
    )
    assert forecast_horizon(garch) == 1  # fits, not a longer horizon


def test_a_backtest_feeds_its_fits_persistence_point_in_time(
    real_prices_path: Path,
) -> None:
    """The signal is the max of GLD's and SLV's GJR persistence, each the
    alpha + gamma/2 + beta of its latest refit; changing prices after a date
    leaves every earlier value alone."""
    overrides = {
        "triggers.1.signal": "persistence",
        "triggers.1.enter_above": 0.995,
        "triggers.1.exit_below": 0.99,
    }
    policy = load_policy("safe-haven-risk-off-garch", overrides)
    result = backtest(policy, real_prices_path, start="2019-06-01", end="2020-06-30")
    signal = result.trigger_signals["safe-haven-shock"]
    inputs = prepare_walk(
        policy, load_market(real_prices_path), "2019-06-01", "2020-06-30"
    )
    persistence = inputs.forecast.persistence[["GLD", "SLV"]]
    expected = persistence.reindex(signal.index).max(axis=1)
    pd.testing.assert_series_equal(signal, expected, check_names=False)
    fits = inputs.forecast.fits.set_index(["asset", "date"])
    for (asset, date), fit in fits.loc[["GLD", "SLV"]].iterrows():
        unit_root = fit["alpha[1]"] + fit["gamma[1]"] / 2 + fit["beta[1]"]
        value = persistence.loc[date, asset]
        assert np.isnan(value) if fit["status"] == "fallback" else value == unit_root
    assert 0.9 < signal.min() < signal.max() <= 1.0 + 1e-9  # it moves at refits
    prices = pd.read_csv(real_prices_path, index_col="date", parse_dates=True)
    cut = pd.Timestamp("2020-02-03")
    prices.loc[prices.index > cut, ["GLD", "SLV"]] *= np.linspace(
        1.0, 3.0, int((prices.index > cut).sum())
    )[:, None]
    moved = backtest(policy, prices, start="2019-06-01", end="2020-06-30")
    moved_signal = moved.trigger_signals["safe-haven-shock"]
    pd.testing.assert_series_equal(signal.loc[:cut], moved_signal.loc[:cut])
    assert not signal.loc[cut:].equals(moved_signal.loc[cut:])
