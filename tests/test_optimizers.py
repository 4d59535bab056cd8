import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskengine.covariance import covariance, nearest_correlation
from riskengine.errors import InfeasibleError
from riskengine.policy.optimizers import (
    ConstrainedProblem,
    RiskBudgetProblem,
    risk_budget_weights,
    risk_contributions,
)
from riskengine.policy.weight_limits import WEIGHT_LIMITS


def random_covariance(rng: np.random.Generator, n: int) -> np.ndarray:
    factors = rng.standard_normal((n, 3))
    corr = nearest_correlation(
        np.corrcoef(
            factors @ rng.standard_normal((3, 200)) + rng.standard_normal((n, 200))
        )
    )
    return covariance(rng.uniform(0.003, 0.04, n), corr)


@pytest.mark.parametrize("n", [2, 7, 30, 100])
def test_newton_and_cvxpy_give_the_same_risk_budget_portfolio(n: int) -> None:
    rng = np.random.default_rng(n)
    cov = random_covariance(rng, n)
    budgets = rng.uniform(0.1, 1.0, n)
    fast = risk_budget_weights(cov, budgets)
    reference = RiskBudgetProblem(n).solve(cov, budgets)
    share = budgets / budgets.sum()
    np.testing.assert_allclose(risk_contributions(fast, cov), share, rtol=1e-10)
    np.testing.assert_allclose(risk_contributions(reference, cov), share, rtol=1e-5)
    np.testing.assert_allclose(fast, reference, rtol=1e-5, atol=1e-8)


def test_a_warm_start_reaches_the_cold_start_optimum() -> None:
    # 250 assets, next week's covariance started from this week's weights
    rng = np.random.default_rng(11)
    cov = random_covariance(rng, 250)
    moved = cov * np.outer(*(2 * [np.exp(0.05 * rng.standard_normal(250))]))
    budgets = rng.uniform(0.1, 1.0, 250)
    budgets[:5] = 0.0
    start = risk_budget_weights(cov, budgets)
    warm = risk_budget_weights(moved, budgets, start=start)
    cold = risk_budget_weights(moved, budgets)
    np.testing.assert_allclose(warm, cold, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(
        risk_contributions(warm, moved), budgets / budgets.sum(), atol=1e-14
    )
    # a start that holds nothing where a budget is falls back to the cold start
    assert (risk_budget_weights(moved, budgets, start=np.zeros(250)) == cold).all()


def test_risk_budget_problem_is_dpp_and_reused() -> None:
    problem = RiskBudgetProblem(4)
    assert problem.problem.is_dpp()
    rng = np.random.default_rng(3)
    for _ in range(3):  # the same problem, new parameter values
        cov = random_covariance(rng, 4)
        budgets = rng.uniform(0.1, 1, 4)
        weights = problem.solve(cov, budgets)
        np.testing.assert_allclose(
            risk_contributions(weights, cov), budgets / budgets.sum(), rtol=1e-5
        )


def test_zero_budget_means_zero_weight() -> None:
    cov = random_covariance(np.random.default_rng(5), 4)
    weights = risk_budget_weights(cov, np.array([1.0, 0.0, 2.0, 1.0]))
    assert weights[1] == 0.0
    np.testing.assert_allclose(
        risk_contributions(weights, cov)[[0, 2, 3]], [0.25, 0.5, 0.25], rtol=1e-10
    )


def test_constrained_problem_is_dpp_and_reports_infeasibility() -> None:
    problem = ConstrainedProblem(["a", "a", "b"], list(WEIGHT_LIMITS.values()))
    assert problem.problem.is_dpp()
    cov = random_covariance(np.random.default_rng(7), 3)
    with pytest.raises(InfeasibleError, match="constrained allocation: no solution"):
        problem.solve(
            np.array([0.3, 0.3, 0.4]),
            cov,
            {
                "lower": np.zeros(3),
                "upper": np.full(3, 1.0),
                "sleeve_lower": np.array([0.9, 0.9]),
                "sleeve_upper": np.array([1.0, 1.0]),
                "gross": 1.0,
                "vol_cap": 1.0,
                "previous": np.zeros(3),
                "turnover": 10.0,
            },
        )


@given(seed=st.integers(0, 10_000), n=st.integers(2, 12))
def test_risk_contributions_match_budgets_property(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    cov = random_covariance(rng, n)
    budgets = rng.uniform(0.01, 1.0, n)
    weights = risk_budget_weights(cov, budgets)
    assert weights.sum() == pytest.approx(1.0, rel=1e-12)
    assert (weights > 0).all()
    np.testing.assert_allclose(
        risk_contributions(weights, cov), budgets / budgets.sum(), rtol=1e-6
    )
