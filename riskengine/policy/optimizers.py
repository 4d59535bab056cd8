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
from functools import cached_property
from typing import Any

import cvxpy as cp
import daqp
import numpy as np
import numpy.typing as npt
from numba import njit
from scipy import linalg

from riskengine._typing import FloatArray
from riskengine.errors import InfeasibleError
from riskengine.policy.weight_limits import (
    Frame,
    VolCap,
    WeightLimit,
    covariance_scale,
)

SOLVERS: dict[str, dict[str, float]] = {
    "CLARABEL": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10},
    "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9},
}
"""Primary solver, then the fallback tried when it fails, with their tolerances."""
NEWTON_TOLERANCE = 1e-12
CHORD_RATE = 0.1
"""Newton's method keeps its Hessian factor while each step cuts the error this much."""
RIDGE = 1e-8
"""Small identity term that makes the projection's optimum unique."""
INACCURATE_TOL = 1e-7
"""A solution flagged inaccurate is kept only if no constraint is broken by more."""
ACTIVE_SET_PRIMAL_TOL = 1e-12
"""Largest violation of a constraint the active-set QP leaves out of its set."""
ACTIVE_SET_STEPS = 30
"""Steps of the primal-dual active set method before DAQP takes over."""
VOL_CAP_RTOL = 1e-10
"""The active-set path meets a binding vol cap with a vol this close below it."""
VOL_CAP_LOG_MU = 30.0
"""Largest ``log(1 + mu)`` the search tries (the vol then barely moves)."""
VOL_CAP_STEPS = 40
"""QPs the search for the vol cap's multiplier may take before cvxpy decides."""


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
    budgeted = cov if held.all() else cov[np.ix_(held, held)]
    vol = np.sqrt(np.diag(budgeted))
    corr = budgeted / np.outer(vol, vol)
    b = budgets[held] / budgets[held].sum()
    converged = False
    starts = [np.sqrt(b)]
    if start is not None and (start[held] > 0).all():
        starts.insert(0, start[held] * vol)
    for first in starts:
        try:
            y, converged = _newton(corr, b, first, max_iterations)
        except np.linalg.LinAlgError:  # a Hessian not positive definite (rounding)
            continue
        if converged:
            break
    if not converged:
        raise InfeasibleError("risk budgeting: Newton's method did not converge")
    weights = np.zeros_like(budgets, dtype=float)
    weights[held] = y / vol
    return weights / weights.sum()


@njit(cache=True)
def _newton(
    corr: FloatArray, b: FloatArray, y: FloatArray, max_iterations: int
) -> tuple[FloatArray, bool]:
    """Damped Newton on 1/2 y'Cy - b'log y from `y` (rescaled); True if converged.

    Steps solve with the Cholesky factor of the Hessian ``C + diag(b / y^2)``
    (positive definite). The factor is kept while each step cuts the largest
    relative error of the risk contributions by `CHORD_RATE` or more (a chord
    step, O(n^2)) and recomputed when one does not (O(n^3)), so from a warm start
    a decision needs one or two factorisations.
    """
    y = y / np.sqrt(y @ corr @ y)
    n = y.size
    lower: npt.NDArray[np.floating[Any]] = np.empty((n, n))
    error_before = 0.0  # factorise on the first step
    for _ in range(max_iterations):
        cy = corr @ y
        error = np.max(np.abs(y * cy - b) / b)
        if error < NEWTON_TOLERANCE:
            return y, True
        if error > CHORD_RATE * error_before:
            hessian = corr.copy()
            for i in range(n):
                hessian[i, i] += b[i] / y[i] ** 2
            lower = np.linalg.cholesky(hessian)
        error_before = error
        step = b / y - cy  # minus the gradient, overwritten by the step
        for i in range(n):  # L z = -gradient, by rows of L
            for k in range(i):
                step[i] -= lower[i, k] * step[k]
            step[i] /= lower[i, i]
        for i in range(n - 1, -1, -1):  # L' step = z, by rows of L
            step[i] /= lower[i, i]
            for k in range(i):
                step[k] -= lower[i, k] * step[i]
        alpha = 1.0
        for i in range(n):  # stay inside y > 0
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

    Minimises ``|F (w - target)|^2 + RIDGE |w - target|^2`` with ``F'F`` the
    covariance over `weight_limits.covariance_scale` (plus 1e-12 on the diagonal),
    subject to every limit's constraints. Two solvers find the same optimum:

    - active sets, when every constraint is linear at the date (asset and sleeve
      bounds, gross leverage when long only, a turnover cap only on the first
      trade): a QP solved exactly by a primal-dual active set method (DAQP if it
      does not converge), the vol cap ``|F w| <= vol_cap`` met by its multiplier
      ``mu`` (the QP with ``mu |F w|^2`` added, ``mu`` found by a secant search,
      `_within_vol_cap`). The last date's active set and ``mu`` start the next
      date's: at 500 assets a date takes two or three Cholesky factorisations;
    - cvxpy (`SOLVERS`), otherwise or when the first fails: the problem is built
      once per universe (assets and their sleeves) on first use, with bounds and
      caps as parameters (DPP), so each date only sets values and re-solves.
      Building it costs seconds at 100 assets and about 40 s at 500 (cvxpy's
      DPP compilation), a solve about 3 s at 500.

    Parameters
    ----------
    sleeves : sequence of str
        Sleeve of each asset, shape (n,).
    limits : sequence of WeightLimit
        The weight limits whose constraints it holds, stacked in this order (the
        order is part of the result: the solver's steps follow it).
    """

    def __init__(self, sleeves: Sequence[str], limits: Sequence[WeightLimit]) -> None:
        self.sleeves = tuple(sleeves)
        self.limits = tuple(limits)
        self.solved_by = {"active_set": 0, "cvxpy": 0}
        """Dates solved by each path so far."""
        # the last date's active set and vol-cap multiplier: the next one's start
        self._status = np.zeros(0, dtype=np.int8)
        self._mu = 0.0

    @cached_property
    def _cvxpy(self) -> _CvxpyProjection:
        return _CvxpyProjection(self.sleeves, self.limits)

    @property
    def problem(self) -> cp.Problem:
        """The cvxpy problem (built on first use)."""
        return self._cvxpy.problem

    @property
    def parameters(self) -> dict[str, cp.Parameter]:
        """The cvxpy problem's limit parameters by name (built on first use)."""
        return self._cvxpy.parameters

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
        names = {name for limit in self.limits for name in limit.parameter_names}
        if set(limit_values) != names:
            raise ValueError(
                f"constrained allocation: limit values {sorted(limit_values)} do not "
                f"match the parameters {sorted(names)}"
            )
        scaled = cov / covariance_scale(cov) + 1e-12 * np.eye(len(target))
        weights = self._active_set(target, scaled, limit_values)
        if weights is not None:
            self.solved_by["active_set"] += 1
            return weights
        self.solved_by["cvxpy"] += 1
        return self._cvxpy.solve(target, scaled, limit_values)

    def _active_set(
        self,
        target: FloatArray,
        scaled: FloatArray,
        values: Mapping[str, FloatArray | float],
    ) -> FloatArray | None:
        """The optimum by active sets; None if a constraint is not linear or none."""
        n = len(target)
        lower, upper = np.full(n, -np.inf), np.full(n, np.inf)
        rows, row_lower, row_upper = [np.zeros((0, n))], [np.zeros(0)], [np.zeros(0)]
        vol_cap = None
        for limit in self.limits:
            if isinstance(limit, VolCap):
                vol_cap = float(values["vol_cap"])
                continue
            part = limit.polyhedral(self.sleeves, values)
            if part is None:
                return None
            if part.rows is None:
                lower, upper = (
                    np.maximum(lower, part.lower),
                    np.minimum(upper, part.upper),
                )
            else:
                rows.append(part.rows)
                row_lower.append(part.lower)
                row_upper.append(part.upper)
        qp = _BoundedQp(
            target,
            scaled + RIDGE * np.eye(n),
            np.vstack(rows),
            np.concatenate([lower, *row_lower]),
            np.concatenate([upper, *row_upper]),
        )
        qp.status[:] = self._status if len(self._status) == len(qp.status) else 0
        found = _within_vol_cap(qp, scaled, vol_cap, self._mu)
        if found is None:
            return None
        self._status, self._mu = qp.status.copy(), found[1]
        return found[0]


class _BoundedQp:
    """``min 1/2 (w - t)'H(w - t) + mu/2 w'Sw`` on ``lower <= (I; A) w <= upper``.

    Solved by a primal-dual active set method (`_primal_dual_active_set`), warm
    started from the last solve's active set, and by DAQP when it does not
    converge.
    """

    def __init__(
        self,
        target: FloatArray,
        hessian: FloatArray,
        rows: FloatArray,
        lower: FloatArray,
        upper: FloatArray,
    ) -> None:
        self.hessian = hessian
        self.linear = -hessian @ target
        self.rows = np.ascontiguousarray(rows)
        self.lower, self.upper = lower, upper
        self.sense = np.zeros(len(lower), dtype=np.int32)
        self.status = np.zeros(len(lower), dtype=np.int8)  # -1 lower, 0 free, 1 upper

    def solve(self, mu: float, penalty: FloatArray) -> FloatArray | None:
        """The optimum with multiplier `mu` on ``w' penalty w``; None if none found."""
        hessian = self.hessian + mu * penalty if mu else self.hessian
        found = _primal_dual_active_set(
            hessian, self.linear, self.rows, self.lower, self.upper, self.status
        )
        if found is not None:
            return found
        weights, _, exitflag, _ = daqp.solve(
            np.ascontiguousarray(hessian),
            self.linear,
            self.rows,
            self.upper,
            self.lower,
            self.sense,
            primal_tol=ACTIVE_SET_PRIMAL_TOL,
        )
        return np.asarray(weights) if exitflag == 1 else None


def _primal_dual_active_set(
    hessian: FloatArray,
    linear: FloatArray,
    rows: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    status: npt.NDArray[np.int8],
) -> FloatArray | None:
    """``min 1/2 w'Hw + linear'w`` on ``lower <= (I; rows) w <= upper``, or None.

    Hintermueller, Ito and Kunisch's primal-dual active set method: each step
    solves the equality-constrained problem of the current active set (the bounds
    fixed, the active rows by a Schur complement on the Cholesky factor of the free
    block of H), then activates every constraint whose multiplier plus violation
    is positive. When the set repeats, the point meets the KKT conditions, which
    are checked (feasibility to `ACTIVE_SET_PRIMAL_TOL`, multipliers' signs): with
    H positive definite it is the unique optimum. None if the set has not repeated
    within `ACTIVE_SET_STEPS` steps, or a system is singular. `status` (-1 at the
    lower bound, 0 free, 1 at the upper, bounds then rows) is the starting set and
    is updated in place.
    """
    n = len(linear)
    matrix = np.vstack([np.eye(n), rows])
    for _ in range(ACTIVE_SET_STEPS):
        on_bound, on_row = status[:n] != 0, status[n:] != 0
        free = ~on_bound
        weights = np.where(
            status[:n] < 0, lower[:n], np.where(status[:n] > 0, upper[:n], 0.0)
        )
        goal = np.where(status[n:] < 0, lower[n:], upper[n:])[on_row]
        active = rows[on_row][:, free]
        try:
            factor = linalg.cho_factor(hessian[np.ix_(free, free)], check_finite=False)
            unconstrained = linalg.cho_solve(
                factor,
                -(linear[free] + hessian[np.ix_(free, on_bound)] @ weights[on_bound]),
                check_finite=False,
            )
            toward = linalg.cho_solve(factor, active.T, check_finite=False)
            fixed_part = rows[on_row][:, on_bound] @ weights[on_bound]
            multipliers = np.linalg.solve(
                active @ toward, active @ unconstrained - (goal - fixed_part)
            )
        except np.linalg.LinAlgError:
            return None
        weights[free] = unconstrained - toward @ multipliers
        dual = np.zeros(len(status))
        dual[n:][on_row] = multipliers
        dual[:n] = -(hessian @ weights + linear + rows.T @ dual[n:])
        dual[:n][free] = 0.0
        # sign convention: grad + matrix' dual = 0; dual <= 0 at a lower bound
        values = matrix @ weights
        at_lower = np.where(status < 0, -dual, 0.0) + (lower - values) > 0
        at_upper = np.where(status > 0, dual, 0.0) + (values - upper) > 0
        new = np.where(at_lower, -1, np.where(at_upper, 1, 0)).astype(np.int8)
        if (new == status).all():
            feasible = (values >= lower - ACTIVE_SET_PRIMAL_TOL).all() and (
                values <= upper + ACTIVE_SET_PRIMAL_TOL
            ).all()
            signs = (dual[status < 0] <= 0).all() and (dual[status > 0] >= 0).all()
            return weights if feasible and signs else None
        status[:] = new
    return None


def _within_vol_cap(
    qp: _BoundedQp, scaled: FloatArray, cap: float | None, mu: float
) -> tuple[FloatArray, float] | None:
    """The optimum under ``|F w| <= cap`` (``F'F`` = `scaled`), and its multiplier.

    The constrained optimum is the QP's with the cap's multiplier ``mu`` on
    ``w' F'F w`` (0 when the cap does not bind); its vol falls as ``mu`` grows.
    The search starts at `mu` (the last decision's), checks ``mu = 0`` when the
    vol there is below the cap, then runs a secant search on ``log(vol / cap)``
    against ``log(1 + mu)`` (bisection when it leaves the bracket) until the vol
    is within `VOL_CAP_RTOL` below the cap. None if a QP fails or the search
    takes more than `VOL_CAP_STEPS` QPs (cvxpy then decides, infeasibility
    included).
    """
    if cap is None:
        weights = qp.solve(0.0, scaled)
        return None if weights is None else (weights, 0.0)
    points: list[tuple[float, float]] = []  # (log(1 + mu), log(vol / cap))
    above, below = 0.0, np.inf  # bracket of log(1 + mu)
    x = float(np.log1p(mu))
    for _ in range(VOL_CAP_STEPS):
        weights = qp.solve(float(np.expm1(x)), scaled)
        if weights is None:
            return None
        vol = float(np.sqrt(max(float(weights @ scaled @ weights), 0.0)))
        if cap * (1.0 - VOL_CAP_RTOL) <= vol <= cap or (vol < cap and x == 0.0):
            return weights, float(np.expm1(x))
        gap = float(np.log(max(vol, np.finfo(float).tiny) / cap))
        if gap > 0.0:
            above = x
        else:
            below = x
        points.append((x, gap))
        if gap < 0.0 and above == 0.0 and len(points) == 1:
            x = 0.0  # below the cap at the last multiplier: does it bind at all?
            continue
        if len(points) == 1:
            x += gap  # the vol falls about like 1 / (1 + mu)
            continue
        (x0, g0), (x1, g1) = points[-2], points[-1]
        slope = (g1 - g0) / (x1 - x0)
        step = x1 - g1 / slope if slope < 0.0 else np.inf
        if np.isfinite(below):
            x = step if above < step < below else 0.5 * (above + below)
        else:
            x = step if np.isfinite(step) and step > x1 else 2.0 * x1 + 0.1
        if x > VOL_CAP_LOG_MU:  # still above the cap: likely infeasible
            return None
    return None


class _CvxpyProjection:
    """`ConstrainedProblem`'s problem in cvxpy, built once with parameters (DPP)."""

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
        names = {name for limit in limits for name in limit.parameter_names}
        if set(self.parameters) != names:  # pragma: no cover - a construction error
            raise AssertionError(f"limit parameters {sorted(self.parameters)}")
        constraints = [c for part in parts for c in part.constraints]
        self.problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self.problem.is_dpp():  # pragma: no cover - a construction error
            raise AssertionError("constrained allocation problem is not DPP")

    def solve(
        self,
        target: FloatArray,
        scaled: FloatArray,
        limit_values: Mapping[str, FloatArray | float],
    ) -> FloatArray:
        """The optimum for the scaled covariance `scaled` (`ConstrainedProblem`)."""
        self.factor.value = np.linalg.cholesky(scaled).T
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
