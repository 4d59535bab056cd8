"""Weight limits as objects: each one's fields, breach test, projection and conflicts."""

from __future__ import annotations

import numpy as np
import pytest

from riskengine.errors import SpecError
from riskengine.policy.limits import BROKEN_TOL, breaches, limit_fields
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


def policy(limits: LimitsSpec = LIMITS) -> PolicySpec:
    model = load_model("ewma-0.94")
    return PolicySpec(name="p", description="d", source="s", model=model, limits=limits)


def test_the_registry_holds_the_weight_limits_and_names_an_unknown_one() -> None:
    assert list(WEIGHT_LIMITS) == ["asset_bounds", "sleeve_bounds", "turnover"]
    with pytest.raises(SpecError, match="did you mean 'turnover'"):
        WEIGHT_LIMITS.lookup("turnvoer", "policy 'p'")


@pytest.mark.parametrize("name", list(WEIGHT_LIMITS))
def test_each_limit_reports_only_its_own_fields(name: str) -> None:
    limit = WEIGHT_LIMITS[name]
    book = Book(PREVIOUS, SLEEVES, first_trade=False)
    fields = limit.fields(policy(), book)
    broken = limit.broken(BREACHING, book, policy(), BROKEN_TOL)
    assert fields
    assert set(broken) == set(fields)
    assert limit.broken(PREVIOUS, book, policy(), BROKEN_TOL) == []
    others = [
        f
        for other in WEIGHT_LIMITS.values()
        if other is not limit
        for f in other.fields(policy(), book)
    ]
    assert not set(fields) & set(others)


def test_the_projection_meets_every_registered_limit() -> None:
    rng = np.random.default_rng(11)
    factor = rng.standard_normal((5, 5))
    cov = (factor @ factor.T + 5 * np.eye(5)) * 1e-4
    book = Book(PREVIOUS, SLEEVES, first_trade=False)
    assert breaches(BREACHING, book, policy()) == tuple(
        limit_fields(policy(), SLEEVES, first_trade=False)[1:]
    )
    problem = ConstrainedProblem(SLEEVES, with_turnover=True)
    values: dict[str, np.ndarray | float] = {}
    for limit in WEIGHT_LIMITS.values():
        values.update(limit.values(policy(), book, {}))
    projected = problem.solve(BREACHING, cov, gross=1.0, vol_cap=1.0, **values)
    assert breaches(projected, book, policy(), BROKEN_TOL) == ()


def test_the_projection_refuses_values_for_parameters_it_lacks() -> None:
    problem = ConstrainedProblem(SLEEVES, with_turnover=False)
    cov = np.eye(5) * 1e-4
    with pytest.raises(ValueError, match=r"limit values \['lower'\] do not match"):
        problem.solve(PREVIOUS, cov, gross=1.0, vol_cap=1.0, lower=np.zeros(5))
