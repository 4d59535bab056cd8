from statistics import NormalDist

import numpy as np
import pytest

from riskengine.errors import InfeasibleError
from riskengine.policy.limits import (
    broken_limits,
    check_feasibility,
    cut_to_risk_caps,
    limit_fields,
    margin_limit_scale,
    margin_rates,
    risk_limit_scale,
)
from riskengine.policy.optimizers import risk_contributions
from riskengine.specs import LimitsSpec, MarginSpec, PolicySpec, load_model

SLEEVES = ["dm_equity", "dm_equity", "rates", "credit", "crypto", "safe_haven"]


def policy(**parts: object) -> PolicySpec:
    return PolicySpec(
        name="p", description="d", source="s", model=load_model("ewma-0.94"), **parts
    )


def test_broken_limits_names_every_field_broken() -> None:
    limits = LimitsSpec(
        max_asset_weight=0.3,
        sleeve_min_weight={"rates": 0.2},
        sleeve_max_weight={"crypto": 0.05},
        max_turnover=0.5,
    )
    weights = np.array([0.4, 0.1, 0.1, 0.1, 0.1, 0.1])
    broken = broken_limits(
        weights, np.zeros(6), SLEEVES, policy(limits=limits), first_trade=False
    )
    assert broken == (
        "limits.max_asset_weight",
        "limits.sleeve_min_weight.rates",
        "limits.sleeve_max_weight.crypto",
        "limits.max_turnover",
    )
    # the first trade is exempt from the turnover cap; within every limit, nothing
    assert "limits.max_turnover" not in broken_limits(
        weights, np.zeros(6), SLEEVES, policy(limits=limits), first_trade=True
    )
    fine = np.array([0.2, 0.1, 0.2, 0.0, 0.0, 0.0])
    assert broken_limits(fine, fine, SLEEVES, policy(limits=limits), False) == ()


def test_limit_fields_lists_the_limits_that_apply() -> None:
    limits = LimitsSpec(
        sleeve_min_weight={"rates": 0.1, "commodity": 0.1}, max_turnover=0.5
    )
    fields = limit_fields(policy(limits=limits), SLEEVES, first_trade=False)
    assert fields == [
        "target.max_gross_leverage",
        "limits.sleeve_min_weight.rates",
        "limits.max_turnover",
    ]


def test_cut_to_risk_caps_meets_every_cap_and_records_the_cut() -> None:
    rng = np.random.default_rng(3)
    factor = rng.standard_normal((6, 6))
    cov = (factor @ factor.T + 6 * np.eye(6)) * 1e-4
    weights = np.full(6, 1 / 6)
    caps = {"crypto": 0.05, "dm_equity": 0.2}
    cut: dict[str, float] = {}
    capped = cut_to_risk_caps(weights, cov, np.array(SLEEVES), caps, cut)
    shares = risk_contributions(capped, cov)
    labels = np.array(SLEEVES)
    for sleeve, cap in caps.items():
        assert shares[labels == sleeve].sum() <= cap * (1 + 1e-9)
        assert cut[sleeve] == pytest.approx(np.abs(capped[labels == sleeve]).sum())
    untouched = ~np.isin(labels, list(caps))
    np.testing.assert_array_equal(capped[untouched], weights[untouched])


def test_var_es_and_margin_scales_land_on_their_limits() -> None:
    cov = np.diag([0.02, 0.01]) ** 2
    weights = np.array([1.0, 1.0])
    vol = np.sqrt(weights @ cov @ weights)
    var_only = risk_limit_scale(weights, cov, LimitsSpec(var_99_max=0.01))
    assert NormalDist().inv_cdf(0.99) * vol * var_only == pytest.approx(0.01)
    es_only = risk_limit_scale(weights, cov, LimitsSpec(es_975_max=0.01))
    z = NormalDist().inv_cdf(0.975)
    es_per_vol = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi) / 0.025
    assert es_per_vol * vol * es_only == pytest.approx(0.01)
    assert risk_limit_scale(weights, cov, LimitsSpec(var_99_max=1.0)) == 1.0
    margin = MarginSpec(
        confidence=0.99, horizon_days=2, floor_rate=0.05, max_margin_usage=0.05
    )
    scale = margin_limit_scale(weights, np.sqrt(np.diag(cov)), margin)
    usage = (weights * scale) @ margin_rates(np.sqrt(np.diag(cov)), margin)
    assert usage == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("limits", "match"),
    [
        (
            LimitsSpec(
                sleeve_min_weight={"rates": 0.6}, sleeve_max_weight={"rates": 0.4}
            ),
            r"limits\.sleeve_min_weight\.rates \(0\.6\) > limits\.sleeve_max_weight\.rates \(0\.4\)",
        ),
        (
            LimitsSpec(sleeve_min_weight={"commodity": 0.1}),
            r"sleeve_min_weight\.commodity .* no commodity asset",
        ),
        (
            LimitsSpec(sleeve_min_weight={"dm_equity": 0.5}, max_asset_weight=0.2),
            r"sleeve_min_weight\.dm_equity \(0\.5\) > limits\.max_asset_weight \(0\.2\) x 2",
        ),
        (
            LimitsSpec(sleeve_min_weight={"dm_equity": 0.7, "rates": 0.7}),
            r"sum of limits\.sleeve_min_weight \(1\.4\) > target\.max_gross_leverage \(1\)",
        ),
    ],
    ids=["min-above-max", "missing-sleeve", "asset-cap", "gross"],
)
def test_infeasible_limits_are_reported_before_running(
    limits: LimitsSpec, match: str
) -> None:
    with pytest.raises(InfeasibleError, match=match):
        check_feasibility(policy(limits=limits), SLEEVES)
