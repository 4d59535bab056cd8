"""Weight limits as objects: each one's fields, breach test, projection and conflicts."""

from __future__ import annotations

import numpy as np
import pytest

from riskengine.errors import SpecError
from riskengine.policy.limits import BROKEN_TOL, applicable_fields, breaches
from riskengine.policy.optimizers import ConstrainedProblem
from riskengine.policy.weight_limits import WEIGHT_LIMITS, Book
from riskengine.specs import LimitsSpec, PolicySpec, load_model

SLEEVES = ("dm_equity", "dm_equity", "rates", "credit", "crypto")
LIMITS = LimitsSpec(
    max_asset_weight=0.3,
    sleeve_min_weight={"rates": 0.2},
    sleeve_max_weight={"crypto": 0.05},
    max_turnover=0.4,
)
PREVIOUS = np.array([0.2, 0.2, 0.2, 0.2, 0.05])
BREACHING = np.array([0.5, 0.1, 0.1, 0.0, 0.3])
"""Breaks the asset cap, the rates minimum, the crypto maximum and the turnover cap."""
COV = np.diag([0.012, 0.011, 0.006, 0.004, 0.04]) ** 2


def policy(limits: LimitsSpec = LIMITS) -> PolicySpec:
    model = load_model("ewma-0.94")
    return PolicySpec(name="p", description="d", source="s", model=model, limits=limits)


def book(target: np.ndarray) -> Book:
    return Book(PREVIOUS, SLEEVES, False, np.sqrt(np.diag(COV)), COV, target)


def test_the_registry_holds_the_weight_limits_and_names_an_unknown_one() -> None:
    assert list(WEIGHT_LIMITS) == [
        "asset_bounds",
        "sleeve_bounds",
        "gross_leverage",
        "vol_cap",
        "turnover",
    ]
    with pytest.raises(SpecError, match="did you mean 'turnover'"):
        WEIGHT_LIMITS.lookup("turnvoer", "policy 'p'")


@pytest.mark.parametrize("name", ["asset_bounds", "sleeve_bounds", "turnover"])
def test_each_limit_reports_only_its_own_fields(name: str) -> None:
    limit = WEIGHT_LIMITS[name]
    fields = limit.fields(policy(), book(BREACHING))
    broken = limit.broken(BREACHING, book(BREACHING), policy(), BROKEN_TOL)
    assert fields
    assert set(broken) == set(fields)
    assert limit.broken(PREVIOUS, book(PREVIOUS), policy(), BROKEN_TOL) == []
    others = [
        f
        for other in WEIGHT_LIMITS.values()
        if other is not limit
        for f in other.fields(policy(), book(BREACHING))
    ]
    assert not set(fields) & set(others)


def test_the_projection_meets_every_registered_limit() -> None:
    target = book(BREACHING)
    assert breaches(BREACHING, target, policy()) == tuple(
        f
        for f in applicable_fields(policy(), target)
        if f != "target.max_gross_leverage"
    )
    problem = ConstrainedProblem(SLEEVES, list(WEIGHT_LIMITS.values()))
    values: dict[str, np.ndarray | float] = {}
    for limit in WEIGHT_LIMITS.values():
        values.update(limit.values(policy(), target))
    projected = problem.solve(BREACHING, COV, values)
    assert breaches(projected, target, policy(), BROKEN_TOL) == ()


def test_the_projection_refuses_values_for_parameters_it_lacks() -> None:
    problem = ConstrainedProblem(SLEEVES, [WEIGHT_LIMITS["gross_leverage"]])
    with pytest.raises(ValueError, match=r"limit values \['lower'\] do not match"):
        problem.solve(PREVIOUS, COV, {"lower": np.zeros(5)})
