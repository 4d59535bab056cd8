from statistics import NormalDist

import numpy as np
import pytest

from riskengine.errors import InfeasibleError
from riskengine.policy.limits import (
    LIMITS,
    SCALING_LIMITS,
    SLEEVE_RISK_CAPS,
    applicable_fields,
    breaches,
    check_feasibility,
    margin_rates,
)
from riskengine.policy.optimizers import risk_contributions
from riskengine.policy.weight_limits import Book
from riskengine.specs import LimitsSpec, MarginSpec, PolicySpec, load_model

SLEEVES = ("dm_equity", "dm_equity", "rates", "credit", "crypto", "safe_haven")


def policy(**parts: object) -> PolicySpec:
    return PolicySpec(
        name="p", description="d", source="s", model=load_model("ewma-0.94"), **parts
    )


def book(
    previous: np.ndarray | None = None,
    cov: np.ndarray | None = None,
    *,
    first_trade: bool = False,
    target: np.ndarray | None = None,
) -> Book:
    """A book on the six sleeves; its target (the vol cap's reference) is the
    holdings unless given."""
    cov = np.eye(6) * 1e-4 if cov is None else cov
    held = np.zeros(6) if previous is None else previous
    aim = held if target is None else target
    return Book(held, SLEEVES, first_trade, np.sqrt(np.diag(cov)), cov, aim)


def random_cov() -> np.ndarray:
    rng = np.random.default_rng(3)
    factor = rng.standard_normal((6, 6))
    return (factor @ factor.T + 6 * np.eye(6)) * 1e-4


def test_the_registry_orders_the_limits_as_a_decision_meets_them() -> None:
    assert list(LIMITS) == [
        "risk_limit",
        "margin",
        "asset_bounds",
        "sleeve_bounds",
        "gross_leverage",
        "vol_cap",
        "turnover",
        "sleeve_risk",
    ]


def test_breaches_name_every_weight_limit_field_broken() -> None:
    limits = LimitsSpec(
        max_asset_weight=0.3,
        sleeve_min_weight={"rates": 0.2},
        sleeve_max_weight={"crypto": 0.05},
        max_turnover=0.5,
    )
    weights = np.array([0.4, 0.1, 0.1, 0.1, 0.1, 0.1])
    broken = breaches(weights, book(target=weights), policy(limits=limits))
    assert broken == (
        "limits.max_asset_weight",
        "limits.sleeve_min_weight.rates",
        "limits.sleeve_max_weight.crypto",
        "limits.max_turnover",
    )
    # the first trade is exempt from the turnover cap; within every limit, nothing
    first = breaches(
        weights, book(first_trade=True, target=weights), policy(limits=limits)
    )
    assert "limits.max_turnover" not in first
    fine = np.array([0.2, 0.1, 0.2, 0.0, 0.0, 0.0])
    assert breaches(fine, book(fine), policy(limits=limits)) == ()
    # gross leverage and the vol cap (the target's ex-ante vol) are weight limits too
    assert breaches(fine * 10, book(fine * 10), policy()) == (
        "target.max_gross_leverage",
    )
    assert breaches(fine, book(target=fine / 2), policy()) == ("vol_cap",)


def test_applicable_fields_list_the_weight_limits_that_apply() -> None:
    limits = LimitsSpec(
        sleeve_min_weight={"rates": 0.1, "commodity": 0.1}, max_turnover=0.5
    )
    assert applicable_fields(policy(limits=limits), book()) == [
        "limits.sleeve_min_weight.rates",
        "target.max_gross_leverage",
        "limits.max_turnover",
    ]


def test_risk_caps_are_met_by_cutting_and_record_the_cut() -> None:
    cov = random_cov()
    weights = np.full(6, 1 / 6)
    caps = {"crypto": 0.05, "dm_equity": 0.2}
    spec = policy(limits=LimitsSpec(sleeve_max_risk=caps))
    assert SLEEVE_RISK_CAPS.broken(weights, book(cov=cov), spec, 0.0) == [
        "limits.sleeve_max_risk.crypto",
        "limits.sleeve_max_risk.dm_equity",
    ]
    capped, cut = SLEEVE_RISK_CAPS.cut(weights, book(cov=cov), spec)
    assert SLEEVE_RISK_CAPS.broken(capped, book(cov=cov), spec, 0.0) == []
    shares = risk_contributions(capped, cov)
    labels = np.array(SLEEVES)
    for sleeve, cap in caps.items():
        assert shares[labels == sleeve].sum() <= cap * (1 + 1e-9)
        assert cut[sleeve] == pytest.approx(np.abs(capped[labels == sleeve]).sum())
    untouched = ~np.isin(labels, list(caps))
    np.testing.assert_array_equal(capped[untouched], weights[untouched])


def test_var_es_and_margin_scales_land_on_their_limits() -> None:
    cov = np.diag([0.02, 0.01, 0.01, 0.01, 0.01, 0.01]) ** 2
    weights = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    vol = np.sqrt(weights @ cov @ weights)
    risk = SCALING_LIMITS["risk_limit"]
    var_only = risk.scale(
        weights, book(cov=cov), policy(limits=LimitsSpec(var_99_max=0.01))
    )
    assert NormalDist().inv_cdf(0.99) * vol * var_only == pytest.approx(0.01)
    es_spec = policy(limits=LimitsSpec(es_975_max=0.01))
    es_only = risk.scale(weights, book(cov=cov), es_spec)
    z = NormalDist().inv_cdf(0.975)
    es_per_vol = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi) / 0.025
    assert es_per_vol * vol * es_only == pytest.approx(0.01)
    loose = policy(limits=LimitsSpec(var_99_max=1.0))
    assert risk.scale(weights, book(cov=cov), loose) == 1.0
    margin = MarginSpec(
        confidence=0.99, horizon_days=2, floor_rate=0.05, max_margin_usage=0.05
    )
    scale = SCALING_LIMITS["margin"].scale(
        weights, book(cov=cov), policy(margin=margin)
    )
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
        (
            LimitsSpec(
                sleeve_max_risk={
                    s: 0.1
                    for s in ("dm_equity", "rates", "credit", "crypto", "safe_haven")
                }
            ),
            r"limits\.sleeve_max_risk caps every sleeve and sums to 0\.5 < 1",
        ),
    ],
    ids=["min-above-max", "missing-sleeve", "asset-cap", "gross", "risk-caps"],
)
def test_infeasible_limits_are_reported_before_running(
    limits: LimitsSpec, match: str
) -> None:
    with pytest.raises(InfeasibleError, match=match):
        check_feasibility(policy(limits=limits), SLEEVES)
