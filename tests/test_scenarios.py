"""The seeded market simulator, its calibration on the real file, the shipped JSON."""

from __future__ import annotations

import json
import math
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import riskengine.scenarios.calibration as calibration
from riskengine.errors import DataError, SpecError
from riskengine.scenarios import (
    PREMIA,
    RV_DAYS,
    SLEEVES,
    SPIKE_ASSETS,
    YEAR_DAYS,
    SimulatedMarket,
    calibrate,
    default_params,
    simulate_market,
    write_calibration,
)

ETFS = [a for a in SLEEVES if a != "BTC_USD"]

# Steps in a year, the engine's convention, written out here rather than imported:
# 252 for the exchange-traded assets, 365 for bitcoin, which trades every day.
STEPS = {a: 365.0 if a == "BTC_USD" else 252.0 for a in SLEEVES}

# The documented premia (riskengine/scenarios/premia.py): expected arithmetic excess
# returns over cash, decimals a year; zero for the metals and for crypto.
DOCUMENTED_PREMIA = {
    "GLD": 0.0,
    "SLV": 0.0,
    "SPY": 0.05,
    "EEM": 0.06,
    "HYG": 0.02,
    "TLT": 0.015,
    "BTC_USD": 0.0,
}


def drift_of(asset: dict[str, Any], premium_annual: float) -> float:
    """Percent daily log drift whose mean simple return is the premium a step.

    With h the GARCH's unconditional variance of percent log returns,
    E[exp(r/100) - 1] = mu/100 + h/20000 to second order; setting it to
    premium/steps gives mu = 100 * premium / steps - h / 200. From the JSON's
    7-digit omega, alpha and beta, h is right to ~1e-5 relative (1 - alpha - beta
    is small), so mu to ~1e-7 %/day: compare with abs=1e-6 (0.0003% a year), far
    below a wrong day count (260.9 weekdays for 252: 7e-4 %/day on SPY).
    """
    h = asset["omega"] / (1.0 - asset["alpha"] - asset["beta"])
    steps = 365.0 if asset["calendar"] == "daily" else 252.0
    return 100.0 * premium_annual / steps - h / 200.0


def log_returns(prices: pd.Series) -> pd.Series:
    """Daily log returns over the asset's own trading days."""
    return np.log(prices.dropna()).diff().dropna()


def assert_same(actual: Any, expected: Any, where: str = "params") -> None:
    """Equal JSON-like objects, floats to 1e-6 relative; ``where`` names the field."""
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), where
        for key, value in expected.items():
            assert_same(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), where
        for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_same(got, want, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-6, abs=1e-12), where
    else:
        assert actual == expected, where


@pytest.fixture(scope="module")
def params() -> dict[str, Any]:
    return default_params()


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return simulate_market()


@pytest.fixture(scope="module")
def calibrated(real_prices_raw: pd.DataFrame, real_prices_path: Path) -> dict[str, Any]:
    return calibrate(real_prices_raw, source=real_prices_path.name)


# --- determinism, calendar, provenance -------------------------------------------


def test_same_seed_gives_identical_panel() -> None:
    first, second = simulate_market(7), simulate_market(7)
    pd.testing.assert_frame_equal(first.prices, second.prices)  # exact
    pd.testing.assert_series_equal(first.stress, second.stress)


def test_other_seed_gives_other_panel(market: SimulatedMarket) -> None:
    other = simulate_market(market.seed + 1)
    assert not np.allclose(other.prices["SPY"].dropna(), market.prices["SPY"].dropna())
    assert not np.allclose(other.prices["BTC_USD"], market.prices["BTC_USD"])


def test_calendar_weekdays_for_etfs_every_day_for_btc(market: SimulatedMarket) -> None:
    prices = market.prices
    assert prices.index.name == "date"
    expected = pd.date_range("2012-01-03", "2026-08-21", freq="D")
    assert prices.index.equals(pd.DatetimeIndex(expected, name="date"))
    weekend = prices.index.day_of_week >= 5
    assert prices.loc[weekend, ETFS].isna().all().all()
    assert prices.loc[~weekend, ETFS].notna().all().all()
    assert prices["BTC_USD"].notna().all()
    values = prices.to_numpy()[prices.notna().to_numpy()]
    assert np.isfinite(values).all()
    assert (values > 0).all()
    assert prices.loc[~weekend].iloc[0].to_numpy() == pytest.approx(100.0, rel=1e-12)


def test_sleeves_and_description_say_simulated(
    market: SimulatedMarket, params: dict[str, Any]
) -> None:
    assert market.sleeves == SLEEVES
    assert list(market.prices.columns) == list(SLEEVES)
    assert "SIMULATED" in market.description
    assert params["source"]["file"] in market.description
    assert "drifts from documented long-run premia" in market.description
    assert "\n" not in market.description
    assert market.seed == 20260130


# --- resemblance to the calibration ----------------------------------------------


@pytest.mark.parametrize("asset", list(SLEEVES))
def test_vol_within_band_of_garch_implied(
    market: SimulatedMarket, params: dict[str, Any], asset: str
) -> None:
    p = params["assets"][asset]
    garch_daily_vol = math.sqrt(p["omega"] / (1 - p["alpha"] - p["beta"])) / 100
    realised = log_returns(market.prices[asset]).std()
    assert 0.6 <= realised / garch_daily_vol <= 1.6  # band for one 14-year path


def test_stress_regime_raises_equity_correlation(market: SimulatedMarket) -> None:
    weekday = market.prices.index.day_of_week < 5
    returns = np.log(market.prices.loc[weekday, ["SPY", "EEM"]]).diff().dropna()
    stress = market.stress.reindex(returns.index).to_numpy()
    calm_corr = returns[~stress].corr().iloc[0, 1]
    stress_corr = returns[stress].corr().iloc[0, 1]
    assert stress_corr > calm_corr + 0.05
    assert 0.1 < stress.mean() < 0.35  # stationary share of the calibrated chain: 0.2


def test_volatility_clusters(market: SimulatedMarket) -> None:
    squared = log_returns(market.prices["SPY"]) ** 2
    acf = [squared.autocorr(lag) for lag in range(1, 6)]
    assert min(acf) > 0.05  # iid draws would give |acf| of about 1/sqrt(3800) = 0.016


# --- the safe-haven spike ----------------------------------------------------------


@pytest.mark.parametrize("asset", SPIKE_ASSETS)
def test_spike_vol_jumps_as_calibrated(
    market: SimulatedMarket, params: dict[str, Any], asset: str
) -> None:
    spike = market.spike
    vol = log_returns(market.prices[asset]).rolling(RV_DAYS).std()
    prior_median = vol.loc[: spike.start].iloc[-YEAR_DAYS:].median()
    ratio = vol.loc[spike.end] / prior_median
    assert ratio >= 2.5
    assert ratio == pytest.approx(
        params["spike"]["assets"][asset]["vol_ratio"], rel=1e-6
    )


@pytest.mark.parametrize("asset", SPIKE_ASSETS)
def test_spike_unwinds_faster_than_it_ran_up(
    market: SimulatedMarket, params: dict[str, Any], asset: str
) -> None:
    spike, prices = market.spike, np.log(market.prices[asset])
    run_up = prices[spike.peak] - prices[spike.start]
    unwind = prices[spike.trough] - prices[spike.peak]
    shape, days = params["spike"]["assets"][asset], params["spike"]
    assert run_up == pytest.approx(shape["run_up_log_return"], abs=1e-9)
    assert unwind == pytest.approx(shape["unwind_log_return"], abs=1e-9)
    assert -unwind / days["unwind_days"] > run_up / days["run_up_days"] > 0


def test_spike_is_a_stress_episode_months_before_the_end(
    market: SimulatedMarket,
) -> None:
    spike, end = market.spike, market.prices.index[-1]
    assert spike.start < spike.peak < spike.trough < spike.end
    assert end - pd.DateOffset(months=8) < spike.start
    assert spike.end < end - pd.DateOffset(months=3)
    assert market.stress.loc[spike.start + pd.Timedelta(days=1) : spike.end].all()


# --- drifts from documented long-run premia ----------------------------------------


@pytest.mark.parametrize("asset", list(SLEEVES))
def test_shipped_drifts_are_the_documented_premia(
    params: dict[str, Any], asset: str
) -> None:
    p = params["assets"][asset]
    assert p["premium_annual"] == DOCUMENTED_PREMIA[asset]
    assert PREMIA[asset].excess_return_annual == DOCUMENTED_PREMIA[asset]
    assert p["premium_source"] == PREMIA[asset].source
    assert p["mu"] == pytest.approx(drift_of(p, DOCUMENTED_PREMIA[asset]), abs=1e-6)
    assert "premium_annual" in params["notes"]["drift"]


def test_premia_cite_a_source_or_say_none() -> None:
    for asset, premium in PREMIA.items():
        if premium.excess_return_annual == 0.0:
            assert premium.source.startswith("none: "), asset
        else:
            assert any(s in premium.source for s in ("DMS", "Thomas")), asset


@pytest.mark.parametrize("asset", list(SLEEVES))
def test_calibration_of_the_real_file_takes_drifts_from_premia(
    calibrated: dict[str, Any], real_prices_raw: pd.DataFrame, asset: str
) -> None:
    p = calibrated["assets"][asset]
    expected = drift_of(p, DOCUMENTED_PREMIA[asset])
    assert p["mu"] == pytest.approx(expected, abs=1e-6)
    prices = real_prices_raw[asset].loc["2008-01-01":"2025-12-31"]
    sample_mean = 100 * log_returns(prices).mean()  # what the drifts used to be
    assert abs(p["mu"] - sample_mean) > 1e-3  # %/day: 0.25% a year or more


@pytest.fixture(scope="module")
def long_market() -> SimulatedMarket:
    return simulate_market(20260131, start="1678-01-03", end="2261-12-31")


@pytest.mark.parametrize("asset", list(SLEEVES))
def test_long_path_earns_the_premium(long_market: SimulatedMarket, asset: str) -> None:
    # 584 simulated years before the spike; the cash rate is 0, so simple returns
    # are excess returns. Annualised mean (x steps a year) within 4 standard errors
    # of the premium (the path's own: 0.7% a year for SPY, 3.9% for BTC_USD); the
    # old sample-mean drifts fail it for 6 of the 7 assets. Seeded: cannot flake.
    prices = long_market.prices[asset].loc[: long_market.spike.start].dropna()
    simple = prices.pct_change().dropna()
    realised = simple.mean() * STEPS[asset]
    standard_error = simple.std() * STEPS[asset] / math.sqrt(len(simple))
    assert abs(realised - DOCUMENTED_PREMIA[asset]) < 4 * standard_error


@pytest.mark.parametrize("asset", list(SLEEVES))
def test_vol_timed_position_earns_the_premium_per_unit_held(
    long_market: SimulatedMarket, asset: str
) -> None:
    # Hold 1/vol (EWMA 0.94 of returns to the close before), as vol-targeting does:
    # each unit held must earn the premium whatever the vol. With a constant log
    # drift it did not (calm days earned less): BTC_USD fell 10% a year short,
    # 5.8 standard errors, and SPY 1.4%, 3.1 standard errors. Tolerance 4 SE.
    simple = long_market.prices[asset].loc[: long_market.spike.start].dropna()
    simple = simple.pct_change().dropna()
    held = 1.0 / np.sqrt((simple**2).ewm(alpha=0.06, adjust=False).mean()).shift(1)
    per_unit = (held * simple).dropna() / held.mean()
    realised = per_unit.mean() * STEPS[asset]
    standard_error = per_unit.std() * STEPS[asset] / math.sqrt(len(per_unit))
    assert abs(realised - DOCUMENTED_PREMIA[asset]) < 4 * standard_error


# --- errors ------------------------------------------------------------------------


def test_too_short_range_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"2025-06-02\.\.2026-08-21 is too short"):
        simulate_market(start="2025-06-01")


def test_params_without_a_section_are_a_spec_error(params: dict[str, Any]) -> None:
    broken = {k: v for k, v in params.items() if k != "regime"}
    with pytest.raises(SpecError, match="regime"):
        simulate_market(params=broken)


def test_calibrate_names_missing_columns(real_prices_raw: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="TLT"):
        calibrate(real_prices_raw.drop(columns="TLT"), source="x.csv")


def test_write_calibration_is_atomic_and_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "prices.csv"
    pd.DataFrame({"date": ["2026-01-02"], "SPY": [1.0]}).to_csv(csv, index=False)
    seen: dict[str, Any] = {}

    def fake_calibrate(prices: pd.DataFrame, *, source: str) -> dict[str, Any]:
        seen.update(index=prices.index, source=source)
        return {"matrix": [[1.0, 0.5], [0.5, 1.0]], "source": {"file": source}}

    monkeypatch.setattr(calibration, "calibrate", fake_calibrate)
    out = tmp_path / "params.json"
    written = write_calibration(csv, out)
    assert isinstance(seen["index"], pd.DatetimeIndex)
    assert seen["source"] == "prices.csv"
    assert json.loads(out.read_text(encoding="utf-8")) == written
    assert "[1.0, 0.5]" in out.read_text(encoding="utf-8")  # one line per row
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.json", "prices.csv"]


# --- calibration on the real file ----------------------------------------------------


@pytest.mark.parametrize("asset", list(SLEEVES))
def test_calibrated_garch_is_stationary_with_fat_tails(
    calibrated: dict[str, Any], asset: str
) -> None:
    p = calibrated["assets"][asset]
    values = [p[k] for k in ("mu", "omega", "alpha", "beta", "nu")]
    assert np.isfinite(values).all()
    assert p["omega"] > 0
    assert p["alpha"] > 0
    assert p["beta"] > 0
    assert p["alpha"] + p["beta"] < 1
    assert p["nu"] > 2
    assert p["sleeve"] == SLEEVES[asset]


@pytest.mark.parametrize("regime", ["calm", "stress"])
def test_calibrated_correlations_are_valid(
    calibrated: dict[str, Any], regime: str
) -> None:
    matrix = np.array(calibrated["correlation"][regime])
    assert matrix.shape == (len(SLEEVES), len(SLEEVES))
    np.testing.assert_array_equal(matrix, matrix.T)
    np.testing.assert_array_equal(np.diag(matrix), 1.0)
    assert np.linalg.eigvalsh(matrix).min() > 0


def test_calibrated_stress_and_spike_look_like_the_data(
    calibrated: dict[str, Any],
) -> None:
    names = calibrated["correlation"]["assets"]
    spy, eem = names.index("SPY"), names.index("EEM")
    corr = calibrated["correlation"]
    assert corr["stress"][spy][eem] > corr["calm"][spy][eem]
    assert calibrated["assets"]["SPY"]["vol_scale_stress"] > 1
    spike = calibrated["spike"]
    assert (spike["start"], spike["peak"]) < ("2026-02-01", "2026-02-01")
    for asset in SPIKE_ASSETS:
        shape = spike["assets"][asset]
        assert shape["run_up_log_return"] > 0 > shape["unwind_log_return"]
        assert shape["vol_ratio"] > 2.5


def test_shipped_json_equals_calibration_of_the_real_file(
    calibrated: dict[str, Any], params: dict[str, Any]
) -> None:
    # A stale simulator_params.json fails here: re-derive it with
    # riskengine calibrate-simulator --prices ../shared/data/multiasset_daily.csv
    assert_same(params, calibrated)
