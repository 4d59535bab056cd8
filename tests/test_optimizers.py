from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskengine import load_market
from riskengine.covariance import covariance, ewma_correlations, nearest_correlation
from riskengine.errors import InfeasibleError
from riskengine.policy import optimizers
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


SLEEVE_NAMES = ("safe_haven", "dm_equity", "em_equity", "credit", "rates", "crypto")


def projection_values(
    sleeves: tuple[str, ...],
    target: np.ndarray,
    cov: np.ndarray,
    *,
    sleeve_max: dict[str, float],
    sleeve_min: dict[str, float],
    min_asset_weight: float = 0.0,
    turnover: float = 1e6,
) -> dict[str, np.ndarray | float]:
    """A long-only projection's parameter values, the vol cap at the target's vol."""
    n, names = len(sleeves), list(dict.fromkeys(sleeves))
    vol = np.sqrt(target @ cov @ target)
    return {
        "lower": np.full(n, min_asset_weight),
        "upper": np.full(n, 1e6),
        "sleeve_lower": np.array([sleeve_min.get(s, -1e6) for s in names]),
        "sleeve_upper": np.array([sleeve_max.get(s, 1e6) for s in names]),
        "gross": 2.0,
        "vol_cap": vol * (1 + 1e-9) / np.sqrt(np.mean(np.diag(cov))),
        "previous": np.zeros(n),
        "turnover": turnover,
    }


def assert_same_projection(
    problem: ConstrainedProblem,
    target: np.ndarray,
    cov: np.ndarray,
    values: dict[str, np.ndarray | float],
) -> np.ndarray:
    """The active-set answer against cvxpy's on the same problem (tolerances stated)."""
    fast = problem.solve(target, cov, values)
    assert problem.solved_by["active_set"] >= 1
    scaled = cov / np.mean(np.diag(cov)) + 1e-12 * np.eye(len(target))
    reference = problem._cvxpy.solve(target, scaled, values)
    # Clarabel stops at 1e-10 gaps: weights agree to 1e-6, and the active-set
    # optimum is feasible and no worse than Clarabel's (to 1e-10 of the objective)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-6)
    ridge = scaled + 1e-8 * np.eye(len(target))

    def tracking(weights: np.ndarray) -> float:
        return float((weights - target) @ ridge @ (weights - target))

    assert tracking(fast) <= tracking(reference) + 1e-10
    assert fast.min() >= float(np.min(values["lower"])) - 1e-12
    assert fast.sum() <= 2.0 + 1e-12
    assert np.sqrt(fast @ cov @ fast) <= np.sqrt(target @ cov @ target) * (1 + 1e-9)
    return fast


def test_active_set_projection_matches_cvxpy_on_250_assets() -> None:
    # sleeve bounds and the vol cap both bind; about 5 s, nearly all of it cvxpy's
    rng = np.random.default_rng(21)
    n = 250
    sleeves = tuple(SLEEVE_NAMES[i % 6] for i in range(n))
    # positive definite (1000 rows of 250 assets), so that the optimum is sharp
    loadings = rng.standard_normal((n, 4))
    rows = loadings @ rng.standard_normal((4, 1000)) + rng.standard_normal((n, 1000))
    cov = covariance(rng.uniform(0.003, 0.04, n), np.corrcoef(rows))
    budgets = np.array([{"crypto": 0.5, "rates": 2.0}.get(s, 1.0) for s in sleeves])
    target = risk_budget_weights(cov, budgets)
    target *= min(0.1 / np.sqrt(252) / np.sqrt(target @ cov @ target), 2.0)
    bounds = {"sleeve_max": {"crypto": 0.01}, "sleeve_min": {"rates": 1.2}}
    values = projection_values(sleeves, target, cov, **bounds)
    problem = ConstrainedProblem(sleeves, list(WEIGHT_LIMITS.values()))
    fast = assert_same_projection(problem, target, cov, values)
    labels = np.array(sleeves)
    assert fast[labels == "crypto"].sum() == pytest.approx(0.01, abs=1e-12)
    assert fast[labels == "rates"].sum() == pytest.approx(1.2, abs=1e-12)
    assert (fast == 0).any()  # some long-only bounds bind as well
    ratio = np.sqrt((fast @ cov @ fast) / (target @ cov @ target))
    assert ratio == pytest.approx(1 + 1e-9, abs=2e-10)  # at the vol cap


def test_active_set_projection_matches_cvxpy_on_real_data(
    real_prices_path: Path,
) -> None:
    market = load_market(real_prices_path)
    assets = [a for a in market.returns.columns if a != "VIX"]
    returns = market.returns[assets].loc["2021":"2024"].dropna()
    dates = returns.index[250::60]
    correlations = ewma_correlations(returns, 63.0, dates)
    vols = returns.ewm(halflife=21).std().loc[dates].to_numpy()
    sleeves = tuple(market.sleeves[a] for a in assets)
    problem = ConstrainedProblem(sleeves, list(WEIGHT_LIMITS.values()))
    bounds = {"sleeve_max": {"crypto": 0.02, "dm_equity": 0.2}, "sleeve_min": {}}
    for vol, corr in zip(vols, correlations, strict=True):
        cov = covariance(vol, corr)
        target = risk_budget_weights(cov, np.ones(len(assets)))
        target *= min(0.1 / np.sqrt(252) / np.sqrt(target @ cov @ target), 2.0)
        values = projection_values(sleeves, target, cov, **bounds)
        assert_same_projection(problem, target, cov, values)
    assert problem.solved_by == {"active_set": len(dates), "cvxpy": 0}


def test_projection_leaves_nonlinear_limits_to_cvxpy() -> None:
    # a binding turnover cap and short sales (|w|_1 is then not linear)
    rng = np.random.default_rng(4)
    sleeves = ("a", "a", "b", "b", "c")
    cov = random_covariance(rng, 5)
    target = np.array([0.5, 0.3, 0.4, 0.2, 0.6])
    problem = ConstrainedProblem(sleeves, list(WEIGHT_LIMITS.values()))
    capped = projection_values(
        sleeves, target, cov, sleeve_max={"a": 0.5}, sleeve_min={}, turnover=1.5
    )
    short = projection_values(
        sleeves,
        target,
        cov,
        sleeve_max={"a": 0.5},
        sleeve_min={},
        min_asset_weight=-0.2,
    )
    for values in (capped, short):
        weights = problem.solve(target, cov, values)
        assert weights[:2].sum() <= 0.5 + 1e-7
    assert problem.solved_by == {"active_set": 0, "cvxpy": 2}


def test_daqp_takes_over_when_the_primal_dual_method_does_not_converge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(8)
    n = 40
    sleeves = tuple(SLEEVE_NAMES[i % 6] for i in range(n))
    cov = random_covariance(rng, n)
    target = risk_budget_weights(cov, np.ones(n))
    target *= min(0.1 / np.sqrt(252) / np.sqrt(target @ cov @ target), 2.0)
    values = projection_values(
        sleeves, target, cov, sleeve_max={"crypto": 0.02}, sleeve_min={}
    )
    limits = list(WEIGHT_LIMITS.values())
    expected = ConstrainedProblem(sleeves, limits).solve(target, cov, values)
    monkeypatch.setattr(optimizers, "ACTIVE_SET_STEPS", 0)  # never converges
    problem = ConstrainedProblem(sleeves, limits)
    np.testing.assert_allclose(
        problem.solve(target, cov, values), expected, rtol=0, atol=1e-9
    )
    assert problem.solved_by == {"active_set": 1, "cvxpy": 0}
