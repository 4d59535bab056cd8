"""Risk budgeting and constrained allocation: a Newton fast path and cvxpy problems.

Risk budgeting solves, in correlation units ``y = w * vol``,

    minimise 1/2 y'Cy - sum_i b_i log y_i,

whose optimum has risk contributions ``y_i (C y)_i = b_i``: the convex log-barrier
form of Spinu (2013) and skfolio, normalised afterwards to sum to one. The fast path
is a damped Newton method; `RiskBudgetProblem` is the same problem in cvxpy (built
once per universe size with parameters, DPP), used as a cross-check and on request.

`ConstrainedProblem` projects a target onto the constraints of the registered
weight limits (`weight_limits.WEIGHT_LIMITS`: bounds, gross leverage, the vol cap,
turnover) by minimising tracking error, also built once per universe and re-solved
with new parameter values at each date.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import cvxpy as cp
import numpy as np
from numba import njit

from riskengine._typing import FloatArray
from riskengine.errors import InfeasibleError
from riskengine.policy.weight_limits import Frame, WeightLimit, covariance_scale

SOLVERS: dict[str, dict[str, float]] = {
    "CLARABEL": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10},
    "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9},
}
"""Primary solver, then the fallback tried when it fails, with their tolerances."""
NEWTON_TOLERANCE = 1e-12
RIDGE = 1e-8
"""Small identity term that makes the projection's optimum unique."""
INACCURATE_TOL = 1e-7
"""A solution flagged inaccurate is kept only if no constraint is broken by more."""


def risk_contributions(weights: FloatArray, cov: FloatArray) -> FloatArray:
    """Shares of portfolio variance, ``w_i (cov w)_i / w'cov w``, summing to one."""
    marginal = cov @ weights
    return weights * marginal / float(weights @ marginal)


def risk_budget_weights(
    cov: FloatArray,
    budgets: FloatArray,
    *,
    start: FloatArray | None = None,
    max_iterations: int = 100,
) -> FloatArray:
    """Long-only weights whose risk contributions are proportional to `budgets`.

    Parameters
    ----------
    cov : ndarray
        Covariance, shape (n, n), positive definite on the assets with a budget.
    budgets : ndarray
        Non-negative budgets, shape (n,); assets with a zero budget get zero weight.
    start : ndarray, optional
        Weights to start from, shape (n,), positive wherever a budget is (e.g. the
        previous decision's); Newton's method then usually needs 2-4 steps instead
        of 6-10. Without one, or if it does not converge from there, it starts
        from ``y ~ sqrt(budget)``. The optimum is unique, so the start changes
        the answer only within `NEWTON_TOLERANCE`.
    max_iterations : int
        Newton iterations before giving up (from each start).

    Returns
    -------
    ndarray
        Weights summing to one.

    Raises
    ------
    InfeasibleError
        If Newton's method does not converge (the caller falls back to cvxpy).
    """
    held = budgets > 0
    vol = np.sqrt(np.diag(cov)[held])
    corr = cov[np.ix_(held, held)] / np.outer(vol, vol)
    b = budgets[held] / budgets[held].sum()
    converged = False
    if start is not None and (start[held] > 0).all():
        y, converged = _newton(corr, b, start[held] * vol, max_iterations)
    if not converged:
        y, converged = _newton(corr, b, np.sqrt(b), max_iterations)
    if not converged:
        raise InfeasibleError("risk budgeting: Newton's method did not converge")
    weights = np.zeros_like(budgets, dtype=float)
    weights[held] = y / vol
    return weights / weights.sum()


@njit(cache=True)
def _newton(
    corr: FloatArray, b: FloatArray, y: FloatArray, max_iterations: int
) -> tuple[FloatArray, bool]:
    """Damped Newton on 1/2 y'Cy - b'log y from `y` (rescaled); True if converged."""
    y = y / np.sqrt(y @ corr @ y)
    for _ in range(max_iterations):
        cy = corr @ y
        if np.max(np.abs(y * cy - b) / b) < NEWTON_TOLERANCE:
            return y, True
        hessian = corr + np.diag(b / y**2)
        step = -np.linalg.solve(hessian, cy - b / y)
        alpha = 1.0
        for i in range(y.size):  # stay inside y > 0
            if step[i] < 0:
                alpha = min(alpha, -0.95 * y[i] / step[i])
        y = y + alpha * step
    return y, False


class RiskBudgetProblem:
    """The risk-budgeting log-barrier problem in cvxpy, built once for n assets.

    Parameters are the upper Cholesky factor of the correlation matrix and the
    budgets; working in correlation units keeps the data of order one at any scale
    (100 assets included).
    """

    def __init__(self, n_assets: int) -> None:
        self.factor = cp.Parameter((n_assets, n_assets))
        self.budgets = cp.Parameter(n_assets, nonneg=True)
        self.y = cp.Variable(n_assets, pos=True)
        objective = cp.Minimize(0.5 * cp.sum_squares(self.factor @ self.y))
        self.problem = cp.Problem(objective, [self.budgets @ cp.log(self.y) >= 0])
        if not self.problem.is_dpp():  # pragma: no cover - a construction error
            raise AssertionError("risk-budget problem is not DPP")

    def solve(self, cov: FloatArray, budgets: FloatArray) -> FloatArray:
        """Weights summing to one with risk contributions proportional to budgets.

        Only assets with a positive budget enter; the others get zero weight.
        """
        held = budgets > 0
        if int(held.sum()) != self.y.shape[0]:
            raise ValueError("budgets do not match the problem's size")
        vol = np.sqrt(np.diag(cov)[held])
        corr = cov[np.ix_(held, held)] / np.outer(vol, vol)
        self.factor.value = np.linalg.cholesky(corr + 1e-12 * np.eye(len(vol))).T
        self.budgets.value = budgets[held] / budgets[held].sum()
        _solve(self.problem, "risk budgeting")
        weights = np.zeros_like(budgets, dtype=float)
        weights[held] = np.asarray(self.y.value) / vol
        return weights / weights.sum()


class ConstrainedProblem:
    """Closest weights (in tracking-error terms) to a target that meet the limits.

    Built once per universe (assets and their sleeves); bounds and caps are
    parameters, so each date only sets values and re-solves.

    Parameters
    ----------
    sleeves : sequence of str
        Sleeve of each asset, shape (n,).
    limits : sequence of WeightLimit
        The weight limits whose constraints it holds, stacked in this order (the
        order is part of the result: the solver's steps follow it).
    """

    def __init__(self, sleeves: Sequence[str], limits: Sequence[WeightLimit]) -> None:
        n = len(sleeves)
        self.factor = cp.Parameter((n, n))
        self.target = cp.Parameter(n)
        self.anchor = cp.Parameter(n)  # factor @ target, a parameter of its own (DPP)
        self.weights = cp.Variable(n)
        tracking = self.factor @ self.weights - self.anchor
        gap = self.weights - self.target
        objective = cp.sum_squares(tracking) + RIDGE * cp.sum_squares(gap)
        frame = Frame(self.weights, self.factor, sleeves)
        parts = [limit.compile(frame) for limit in limits]
        self.parameters = {k: p for part in parts for k, p in part.parameters.items()}
        constraints = [c for part in parts for c in part.constraints]
        self.problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self.problem.is_dpp():  # pragma: no cover - a construction error
            raise AssertionError("constrained allocation problem is not DPP")

    def solve(
        self,
        target: FloatArray,
        cov: FloatArray,
        limit_values: Mapping[str, FloatArray | float],
    ) -> FloatArray:
        """Weights closest to `target` that satisfy every limit it holds.

        The covariance is divided by `weight_limits.covariance_scale` so that the
        problem's data stay of order one. `limit_values` set the limits' parameters
        by name (`weight_limits.WeightLimit.values`).

        Raises
        ------
        InfeasibleError
            If both solvers fail or the problem is infeasible.
        ValueError
            If `limit_values` does not name every limit parameter exactly once.
        """
        if set(limit_values) != set(self.parameters):
            raise ValueError(
                f"constrained allocation: limit values {sorted(limit_values)} do not "
                f"match the parameters {sorted(self.parameters)}"
            )
        scale = covariance_scale(cov)
        n = len(target)
        self.factor.value = np.linalg.cholesky(cov / scale + 1e-12 * np.eye(n)).T
        self.target.value = target
        self.anchor.value = self.factor.value @ target
        for name, value in limit_values.items():
            self.parameters[name].value = value
        _solve(self.problem, "constrained allocation")
        return np.asarray(self.weights.value, dtype=float)


def _largest_violation(problem: cp.Problem) -> float:
    """Largest violation of any constraint at the current solution (inf if none)."""
    try:
        return max(float(np.max(c.violation())) for c in problem.constraints)
    except (ValueError, TypeError):  # no value: nothing to measure
        return float("inf")


def _solve(problem: cp.Problem, what: str) -> None:
    """Solve with the primary solver, then the fallback; raise if both fail."""
    failures = []
    for solver, options in SOLVERS.items():
        try:
            with warnings.catch_warnings():
                # "solution may be inaccurate": the status is checked below instead
                warnings.simplefilter("ignore", UserWarning)
                problem.solve(solver=solver, warm_start=True, **options)
        except cp.SolverError as exc:
            failures.append(f"{solver}: {exc}")
            continue
        if problem.status == cp.OPTIMAL or (
            problem.status == cp.OPTIMAL_INACCURATE
            and _largest_violation(problem) <= INACCURATE_TOL
        ):
            return
        failures.append(f"{solver}: {problem.status}")
    raise InfeasibleError(f"{what}: no solution ({'; '.join(failures)})")
