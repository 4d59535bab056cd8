import numpy as np
import pytest

from riskengine.covariance import covariance
from riskengine.policy.allocators import (
    BaseInputs,
    RiskBudgetProblems,
    asset_budgets,
    fixed_sleeve_weights,
    inverse_vol_weights,
    scale_to_vol_target,
    sleeve_equal_risk_weights,
)
from riskengine.specs import LimitsSpec, TargetSpec

VOL = np.array([0.01, 0.02, 0.005, 0.03])
CORR = np.array(
    [
        [1.0, 0.3, -0.2, 0.1],
        [0.3, 1.0, 0.0, 0.5],
        [-0.2, 0.0, 1.0, 0.0],
        [0.1, 0.5, 0.0, 1.0],
    ]
)
COV = covariance(VOL, CORR)


def test_inverse_vol_equalises_weight_times_vol() -> None:
    w = inverse_vol_weights(VOL)
    assert w.sum() == pytest.approx(1.0, rel=1e-15)
    np.testing.assert_allclose(w * VOL, (w * VOL)[0], rtol=1e-14)


def test_sleeve_equal_risk_gives_each_sleeve_the_same_standalone_vol() -> None:
    sleeves = ["equity", "equity", "rates", "crypto"]
    w = sleeve_equal_risk_weights(VOL, COV, sleeves)
    assert w.sum() == pytest.approx(1.0, rel=1e-15)
    vols = []
    for sleeve in dict.fromkeys(sleeves):
        part = np.where(np.array(sleeves) == sleeve, w, 0.0)
        vols.append(np.sqrt(part @ COV @ part))
    np.testing.assert_allclose(vols, vols[0], rtol=1e-12)
    assert w[0] * VOL[0] == pytest.approx(
        w[1] * VOL[1], rel=1e-12
    )  # inverse vol inside


def test_fixed_sleeve_weights_split_equally() -> None:
    w = fixed_sleeve_weights(
        ["dm_equity", "rates", "rates"], {"dm_equity": 0.6, "rates": 0.4}
    )
    np.testing.assert_allclose(w, [0.6, 0.2, 0.2], rtol=1e-15)


def test_vol_target_is_met_exactly_when_leverage_allows() -> None:
    base = inverse_vol_weights(VOL)
    allocation = scale_to_vol_target(base, COV, 0.006, max_gross_leverage=5.0)
    assert np.sqrt(allocation.weights @ COV @ allocation.weights) == pytest.approx(
        0.006, rel=1e-12
    )
    assert allocation.ex_ante_vol == pytest.approx(0.006, rel=1e-12)
    assert not allocation.leverage_capped


def test_leverage_cap_binds() -> None:
    base = inverse_vol_weights(VOL)
    allocation = scale_to_vol_target(base, COV, 0.05, max_gross_leverage=1.5)
    assert np.abs(allocation.weights).sum() == pytest.approx(1.5, rel=1e-12)
    assert allocation.leverage_capped
    assert allocation.ex_ante_vol < 0.05


def test_no_target_keeps_base_weights() -> None:
    base = np.array([0.6, 0.4, 0.0, 0.0])
    allocation = scale_to_vol_target(base, COV, None, max_gross_leverage=1.0)
    np.testing.assert_array_equal(allocation.weights, base)


def test_risk_budgets_are_worked_out_once_per_set_of_assets_and_sleeves() -> None:
    """The kept budgets are `asset_budgets` of each universe, read-only."""
    target = TargetSpec(base="risk_budget", risk_budgets={"equity": 2.0, "rates": 1.0})
    limits = LimitsSpec(sleeve_max_risk={"equity": 0.5})
    problems = RiskBudgetProblems()

    def budgets(assets: list[str], sleeves: list[str]) -> np.ndarray:
        inputs = BaseInputs(
            target, limits, VOL[: len(assets)], COV, sleeves, assets,
            np.ones(len(assets)), 1.0, problems,
        )  # fmt: skip
        return problems.budgets(inputs)

    universes = [
        (["A", "B", "C"], ["equity", "equity", "rates"]),
        (["A", "C"], ["equity", "rates"]),
        (["A", "B", "C"], ["equity", "rates", "rates"]),  # same names, new sleeves
        (["A", "B", "C"], ["equity", "equity", "rates"]),
    ]
    for assets, sleeves in universes:
        kept = budgets(assets, sleeves)
        np.testing.assert_array_equal(
            kept, asset_budgets(target, sleeves, assets, limits)
        )
        assert not kept.flags.writeable
    assert budgets(*universes[0]) is budgets(*universes[3])
    np.testing.assert_array_equal(budgets(*universes[0]), [0.25, 0.25, 0.5])
