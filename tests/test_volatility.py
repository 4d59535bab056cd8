import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from arch import arch_model

from riskengine.data import load_market
from riskengine.specs import load_model
from riskengine.volatility import (
    PERCENT,
    ewma_variance,
    fit_garch,
    forecast_variance,
    garch_model,
)

GARCH = replace(
    load_model("garch11-t"), window_days=500, min_window_days=250, refit_every_days=50
)


@pytest.fixture(scope="module")
def real_returns(real_prices_path: Path) -> pd.DataFrame:
    return load_market(real_prices_path).returns


def test_ewma_equals_pandas_ewm(real_returns: pd.DataFrame) -> None:
    panel = real_returns[["SPY", "BTC_USD", "IEF"]].loc["2014":]
    ours = ewma_variance(panel.to_numpy(), 0.94)
    reference = (panel**2).ewm(alpha=0.06, adjust=True, ignore_na=True).mean()
    np.testing.assert_allclose(ours, reference.to_numpy(), rtol=1e-12, atol=0)


def test_ewma_forecast_carries_through_days_without_a_price(
    real_returns: pd.DataFrame,
) -> None:
    panel = real_returns[["IEF"]].loc["2025-09":"2025-10"]
    variance = forecast_variance(panel, load_model("ewma-0.94")).variance["IEF"]
    last = panel["IEF"].last_valid_index()
    assert (variance.loc[last:] == variance.loc[last]).all()


def spy_window(real_returns: pd.DataFrame, n: int) -> pd.Series:
    return real_returns["SPY"].loc["2016":].dropna().iloc[:n]


def test_garch_refit_forecasts_match_direct_arch_fits(
    real_returns: pd.DataFrame,
) -> None:
    """At each refit date the forecast is arch's, on the same trailing window.

    Our fits are warm-started from the previous refit; the reference is a cold arch
    fit. Tolerances: forecast 1e-3 relative, log-likelihood 1e-6 relative (ours may
    only be better).
    """
    returns = spy_window(real_returns, 700)
    forecast = forecast_variance(returns.to_frame(), GARCH)
    assert forecast.events == ()
    y = returns.to_numpy() * PERCENT
    for fit_end in range(GARCH.min_window_days - 1, len(y), GARCH.refit_every_days):
        window = y[max(0, fit_end + 1 - GARCH.window_days) : fit_end + 1]
        model = arch_model(
            window, mean="Constant", vol="GARCH", p=1, q=1, dist="t", rescale=False
        )
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # arch's own convergence chatter on the reference fit
            reference = model.fit(disp="off")
        expected = (
            reference.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]
            / PERCENT**2
        )
        assert forecast.variance.iloc[fit_end, 0] == pytest.approx(expected, rel=1e-3)
        params, _, _ = fit_garch(window, GARCH, None)
        ours = model.fix(params.to_numpy()).loglikelihood
        assert ours >= reference.loglikelihood - 1e-6 * abs(reference.loglikelihood)


def test_garch_filter_between_refits_equals_arch_fix(
    real_returns: pd.DataFrame,
) -> None:
    """Between refits the forecast is arch's fixed-parameter filter (1e-9 relative).

    One refit only (at observation 249, cold), then 350 days of filtering.
    """
    spec = replace(GARCH, refit_every_days=1000)
    returns = spy_window(real_returns, 600)
    forecast = forecast_variance(returns.to_frame(), spec)
    y = returns.to_numpy() * PERCENT
    params, _, reason = fit_garch(y[:250], spec, None)
    assert reason == ""
    for t in (250, 300, 599):
        fixed = garch_model(y[: t + 1], spec).fix(params.to_numpy())
        expected = fixed.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]
        assert forecast.variance.iloc[t, 0] == pytest.approx(
            expected / PERCENT**2, rel=1e-9
        )


def test_failed_fit_falls_back_to_ewma_and_is_recorded() -> None:
    dates = pd.bdate_range("2020-01-01", periods=400)
    constant = pd.DataFrame({"FLAT": np.full(400, 0.001)}, index=dates)
    forecast = forecast_variance(constant, GARCH)
    assert len(forecast.events) >= 1
    event = forecast.events[0]
    assert event.kind == "model_fallback"
    assert event.subject == "FLAT"
    assert "failed" in event.message
    fallback = ewma_variance(constant.to_numpy(), GARCH.fallback_decay)[:, 0]
    np.testing.assert_allclose(forecast.variance["FLAT"], fallback, rtol=1e-12)
    assert np.isfinite(forecast.variance.to_numpy()).all()


@pytest.mark.parametrize("model", ["ewma-0.94", "garch"])
def test_no_look_ahead(real_returns: pd.DataFrame, model: str) -> None:
    spec = GARCH if model == "garch" else load_model(model)
    panel = real_returns[["SPY", "GLD"]].loc["2017":"2019"]
    cut = 450
    perturbed = panel.copy()
    perturbed.iloc[cut + 1 :] *= 3.0
    before = forecast_variance(panel, spec).variance.iloc[: cut + 1]
    after = forecast_variance(perturbed, spec).variance.iloc[: cut + 1]
    pd.testing.assert_frame_equal(before, after, check_exact=True)
