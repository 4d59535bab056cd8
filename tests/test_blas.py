"""BLAS runs on one thread while forecasts are fitted and a walk decides, and is
restored after."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from riskengine.backtest import run_backtest
from riskengine.data.prices import Market, make_market
from riskengine.specs import load_policy
from riskengine.stress import engine, load_scenario
from riskengine.volatility import forecast_variance


def blas_threads() -> dict[str, int]:
    """The thread count of each BLAS library loaded (some are built for one)."""
    return {
        lib["filepath"]: lib["num_threads"]
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    }


@pytest.fixture(scope="module")
def market() -> Market:
    rng = np.random.default_rng(4)
    returns = rng.standard_normal((300, 4)) * np.array([0.010, 0.014, 0.009, 0.006])
    prices = 100.0 * np.cumprod(1.0 + returns, axis=0)
    index = pd.bdate_range("2024-01-01", periods=300)
    frame = pd.DataFrame(prices, index=index, columns=["SPY", "EEM", "GLD", "TLT"])
    return make_market(frame, source="synthetic")


def test_a_backtest_decides_with_one_blas_thread(market: Market) -> None:
    """Two threads outside; one at every decision (seen from the progress calls)."""
    seen: list[dict[str, int]] = []
    with threadpool_limits(limits=2, user_api="blas"):
        outside = blas_threads()
        assert max(outside.values()) == 2
        run_backtest(
            load_policy("vol-target-fund"),
            market,
            start=market.returns.index[150],
            progress=lambda label, done, total: seen.append(blas_threads()),
        )
        assert blas_threads() == outside
    assert seen
    assert all(set(threads.values()) == {1} for threads in seen)


def test_a_stress_walk_runs_with_one_blas_thread(
    market: Market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = market.returns.index
    path = tmp_path / "scenario.toml"
    path.write_text(
        f"""
name = "synthetic"
start = {index[250].date()}
end = {index[260].date()}
warmup_days = 100
[adv]
SPY = 5e8
EEM = 5e8
GLD = 5e8
TLT = 5e8
[[funds]]
policy = "vol-target-fund"
aum = 2e9
"""
    )
    seen: list[dict[str, int]] = []
    walk = engine._Crowd.walk

    def recorded(crowd: engine._Crowd, feedback: bool) -> None:
        seen.append(blas_threads())
        walk(crowd, feedback)

    monkeypatch.setattr(engine._Crowd, "walk", recorded)
    with threadpool_limits(limits=2, user_api="blas"):
        outside = blas_threads()
        engine.run_crowd(load_scenario(path), market)
        assert blas_threads() == outside
    assert len(seen) == 1
    assert set(seen[0].values()) == {1}


def test_garch_forecasts_are_fitted_with_one_blas_thread(market: Market) -> None:
    """Seen from each refit's progress call (made from the fitting threads)."""
    seen: list[dict[str, int]] = []
    model = load_policy("vol-target-fund-garch").model
    with threadpool_limits(limits=2, user_api="blas"):
        outside = blas_threads()
        forecast_variance(
            market.returns,
            dataclasses.replace(model, min_window_days=100, refit_every_days=50),
            progress=lambda label, done, total: seen.append(blas_threads()),
        )
        assert blas_threads() == outside
    assert len(seen) >= 4
    assert all(set(threads.values()) == {1} for threads in seen)
