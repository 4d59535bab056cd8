"""The vol-managed market policy (Moreira and Muir 2017) and its inverse-variance rule.

The policy's monthly returns are checked against an independent pandas computation
of the paper's construction: ``c / RV_{m-1}`` times month m's return, with
``RV_{m-1}`` the demeaned sum of month m-1's squared daily returns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskengine
from riskengine.errors import SpecError
from riskengine.policy.allocators import BASE_RULES, BaseInputs, RiskBudgetProblems
from riskengine.specs import LimitsSpec, TargetSpec, load_policy
from riskengine.specs.files import resolve_spec_path


def test_monthly_returns_are_c_over_last_months_rv_times_this_months_return(
    real_prices_raw: pd.DataFrame,
) -> None:
    policy = load_policy("vol-managed-market")
    result = riskengine.backtest(policy, real_prices_raw[["SPY"]])
    daily = result.returns
    engine = (1.0 + daily).groupby(daily.index.to_period("M")).prod() - 1.0

    # independent: pandas on the raw closes
    returns = real_prices_raw["SPY"].dropna().pct_change().dropna()
    month = returns.groupby(returns.index.to_period("M"))
    rv = month.apply(lambda r: ((r - r.mean()) ** 2).sum())
    market = month.apply(lambda r: (1.0 + r).prod() - 1.0)
    c = policy.target.asset_vol_annual**2 / 252.0 * 21.0  # daily units x 21 days
    managed = c / rv.shift(1) * market

    invested = engine[engine != 0.0].index
    compared = invested[1:]  # the first month is entered after min_history_days
    assert len(compared) > 400
    np.testing.assert_allclose(
        engine.loc[compared], managed.loc[compared], rtol=0, atol=1e-10
    )
    assert not result.decisions["leverage_capped"].any()


def _inputs(target: TargetSpec, vol: np.ndarray) -> BaseInputs:
    return BaseInputs(
        target=target,
        limits=LimitsSpec(),
        vol=vol,
        cov=np.diag(vol**2),
        sleeves=["dm_equity"] * vol.size,
        assets=[f"A{i}" for i in range(vol.size)],
        budget_multipliers=np.ones(vol.size),
        daily=1.0 / np.sqrt(252.0),
        problems=RiskBudgetProblems(),
    )


def test_inverse_variance_holds_100_percent_at_the_reference_vol() -> None:
    target = TargetSpec(base="inverse_variance", asset_vol_annual=0.10)
    daily = np.array([0.10, 0.05, 0.20]) / np.sqrt(252.0)
    weights = BASE_RULES["inverse_variance"].weights(_inputs(target, daily)).weights
    np.testing.assert_allclose(weights, [1.0, 4.0, 0.25], rtol=1e-12)


def test_inverse_variance_needs_its_reference_vol(tmp_path: Path) -> None:
    shipped = resolve_spec_path("vol-managed-market", "policies").read_text(
        encoding="utf-8"
    )
    path = tmp_path / "no-reference.toml"
    path.write_text(shipped.replace("asset_vol_annual = 0.11\n", ""), encoding="utf-8")
    with pytest.raises(
        SpecError,
        match=r"no-reference\.toml: target\.asset_vol_annual: required with base = "
        r"'per_asset_vol' or 'inverse_variance'",
    ):
        load_policy(path)
