"""Compiled kernels of `fast_fit`: arch's GARCH(1,1)/GJR likelihood.

Parameters travel as ``theta = (mu, omega, alpha, gamma, beta, nu)``, with mu,
gamma (and nu for normal errors) zero where the model lacks them, and as ``x``,
the free entries of theta (positions ``free``). The optimiser minimises
``f = -loglikelihood`` under linear constraints ``A @ x <= b``.

Sums of logarithms are taken as logarithms of running products (renormalised
before they leave the floating-point range): two logarithms per observation were
most of the likelihood's cost.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from riskengine._typing import BoolArray, FloatArray, IndexArray

LOG_2PI = math.log(2.0 * math.pi)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
LNSIGMA_MAX = math.log(np.finfo(np.float64).max) - 0.1  # arch's cap on log sigma^2
_BIG, _SMALL = 1e150, 1e-150
_ARMIJO = 1e-4


@njit(cache=True, nogil=True)
def nonfinite_and_spread(y: FloatArray) -> tuple[int, float]:
    """How many values of `y` are not finite, and max - min of the finite ones."""
    count, low, high = 0, np.inf, -np.inf
    for value in y:
        if not math.isfinite(value):
            count += 1
        else:
            low, high = min(low, value), max(high, value)
    return count, high - low


@njit(cache=True, nogil=True)
def backcast(resids: FloatArray) -> float:
    """Backcast as arch computes it: 0.94-weighted mean of the first <= 75 squares."""
    num = den = 0.0
    weight = 1.0
    for i in range(min(75, resids.shape[0])):
        num += weight * resids[i] * resids[i]
        den += weight
        weight *= 0.94
    return num / den


@njit(cache=True, nogil=True)
def variance_bounds(resids: FloatArray, start: float) -> tuple[FloatArray, FloatArray]:
    """Loose lower and upper clipping bounds of sigma^2_t, as arch sets them."""
    n = resids.shape[0]
    lower, upper = np.empty(n), np.empty(n)
    total = max_sq = 0.0
    for t in range(n):
        total += resids[t]
        max_sq = max(max_sq, resids[t] * resids[t])
    mean, spread = total / n, 0.0
    for t in range(n):
        spread += (resids[t] - mean) ** 2
    floor = spread / n / 1e8
    ewma = start
    for t in range(n):
        if t > 0:
            ewma = 0.06 * resids[t - 1] ** 2 + 0.94 * ewma
        lower[t] = max(ewma / 1e6, floor)
        upper[t] = min(max(ewma * 1e6, 1.0 + max_sq), 1e7 * (1.0 + max_sq))
    return lower, upper


@njit(cache=True, nogil=True)
def path_bounds(resids: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """Arch's variance bounds for each forecast from a fit window's last row on.

    As `variance_bounds` sets them on the fit window, carried forward point in
    time: the EWMA of squared residuals (from the window's backcast) and their
    largest square up to each row, the floor from the window's variance.
    `resids` are the window's residuals then the filtered ones; one pair of
    bounds per row from the window's last on, shape (n - window + 1,).
    """
    n = resids.shape[0]
    total = spread = 0.0
    for t in range(window):
        total += resids[t]
    mean = total / window
    for t in range(window):
        spread += (resids[t] - mean) ** 2
    floor = spread / window / 1e8
    lower, upper = np.empty(n - window + 1), np.empty(n - window + 1)
    carried, largest = 0.94 * backcast(resids[:window]), 0.0
    for t in range(n):
        square = resids[t] * resids[t]
        ewma = 0.06 * square + carried
        carried = 0.94 * ewma
        largest = max(largest, square)
        if t >= window - 1:
            lower[t - window + 1] = max(ewma / 1e6, floor)
            upper[t - window + 1] = min(
                max(ewma * 1e6, 1.0 + largest), 1e7 * (1.0 + largest)
            )
    return lower, upper


@njit(cache=True, nogil=True)
def clipped_filter(
    resids: FloatArray,
    theta: FloatArray,
    start: float,
    lower: FloatArray,
    upper: FloatArray,
) -> FloatArray:
    """sigma^2_t for t = 0..n by arch's clipped recursion (the last, unclipped)."""
    omega, alpha, gamma, beta = theta[1], theta[2], theta[3], theta[4]
    n = resids.shape[0]
    sigma2 = np.empty(n + 1)
    s = omega + (alpha + 0.5 * gamma + beta) * start
    for t in range(n + 1):
        if t > 0:
            e = resids[t - 1]
            s = omega + (alpha + gamma if e < 0.0 else alpha) * e * e + beta * s
        if t < n and s < lower[t]:
            s = lower[t]
        elif t < n and s > upper[t]:
            s = upper[t] + math.log(s / upper[t])
        sigma2[t] = s
    return sigma2


@njit(cache=True, nogil=True)
def garch_path(
    resids: FloatArray,
    omega: float,
    alpha: float,
    gamma: float,
    beta: float,
    first: float,
) -> FloatArray:
    """Forecasts with fixed GJR parameters: `first`, then one after each residual."""
    out = np.empty(resids.shape[0] + 1)
    out[0] = first
    for i in range(resids.shape[0]):
        e = resids[i]
        out[i + 1] = omega + (alpha + gamma * (e < 0.0)) * e * e + beta * out[i]
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def egarch_path(
    resids: FloatArray,
    omega: float,
    alpha: float,
    gamma: float,
    beta: float,
    first: float,
) -> FloatArray:
    """Forecasts with fixed EGARCH(1,1,1) parameters, as arch's recursion."""
    out = np.empty(resids.shape[0] + 1)
    out[0] = first
    for i in range(resids.shape[0]):
        z = resids[i] / math.sqrt(out[i])
        log_next = (
            omega
            + alpha * (abs(z) - SQRT_2_OVER_PI)
            + gamma * z
            + beta * math.log(out[i])
        )
        out[i + 1] = math.exp(min(log_next, LNSIGMA_MAX))
    return out


@njit(cache=True, nogil=True)
def digamma(x: float) -> float:
    """psi(x) for x > 0: recurrence up to x >= 10, then the asymptotic series."""
    shift = 0.0
    while x < 10.0:
        shift -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series = inv2 * (
        1.0 / 12.0
        - inv2
        * (
            1.0 / 120.0
            - inv2
            * (
                1.0 / 252.0
                - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0 - inv2 * 691.0 / 32760.0))
            )
        )
    )
    return shift + math.log(x) - 0.5 / x - series


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def loglik_grad(
    theta: FloatArray,
    y: FloatArray,
    student: bool,
    gjr: bool,
    start: float,
    lower: FloatArray,
    upper: FloatArray,
    grad: FloatArray,
) -> float:
    """Log-likelihood at `theta` as arch computes it; the gradient goes to `grad`.

    d sigma^2_t / d theta follows the recursion of sigma^2_t (through the lagged
    residual for mu) and is clipped where sigma^2_t is. Without `gjr` the gamma
    term is left out (gamma must be 0) and its gradient is reported as 0. For
    Student-t errors one division per observation gives both 1 / sigma^2_t and
    the weight z / (1 + z), z = e^2 / ((nu - 2) sigma^2_t): with
    a = e^2 / (nu - 2), ``r = 1 / (s (s + a))``, 1 / s = (s + a) r and
    z / (1 + z) = a s r.
    """
    mu, omega, alpha, gamma, beta, nu = (
        theta[0],
        theta[1],
        theta[2],
        theta[3],
        theta[4],
        theta[5],
    )
    n = y.shape[0]
    nu1 = nu + 1.0
    inv_nm2 = 1.0 / (nu - 2.0) if student else 0.0
    mu_weight = nu1 * inv_nm2
    s = omega + (alpha + 0.5 * gamma + beta) * start
    d_mu, d_om, d_al, d_ga, d_be = 0.0, 1.0, start, 0.5 * start, start
    g_mu = g_om = g_al = g_ga = g_be = sum_w = sum_q = 0.0
    prod_s = prod_z = 1.0
    log_s = log_z = 0.0
    for t in range(n):
        if t > 0:
            e = y[t - 1] - mu
            e2 = e * e
            if gjr:
                neg = 1.0 if e < 0.0 else 0.0
                coef = alpha + gamma * neg
                d_ga = beta * d_ga + neg * e2
            else:
                coef = alpha
            d_mu = beta * d_mu - 2.0 * coef * e
            d_om = beta * d_om + 1.0
            d_al = beta * d_al + e2
            d_be = beta * d_be + s
            s = omega + coef * e2 + beta * s
        if s < lower[t]:
            s = lower[t]
            d_mu = d_om = d_al = d_ga = d_be = 0.0
        elif s > upper[t]:
            d_mu, d_om, d_al = d_mu / s, d_om / s, d_al / s
            d_ga, d_be = d_ga / s, d_be / s
            s = upper[t] + math.log(s / upper[t])
        e = y[t] - mu
        prod_s *= s
        if prod_s > _BIG or prod_s < _SMALL:
            log_s += math.log(prod_s)
            prod_s = 1.0
        if student:
            a = e * e * inv_nm2
            both = s + a
            r = 1.0 / (s * both)
            inv_s = both * r
            w = a * s * r
            prod_z *= both * inv_s
            if prod_z > _BIG:
                log_z += math.log(prod_z)
                prod_z = 1.0
            sum_w += w
            dl_ds = 0.5 * (nu1 * w - 1.0) * inv_s
            g_mu += mu_weight * (1.0 - w) * e * inv_s
        else:
            inv_s = 1.0 / s
            q = e * e * inv_s
            sum_q += q
            dl_ds = 0.5 * (q - 1.0) * inv_s
            g_mu += e * inv_s
        g_mu += dl_ds * d_mu
        g_om += dl_ds * d_om
        g_al += dl_ds * d_al
        g_be += dl_ds * d_be
        if gjr:
            g_ga += dl_ds * d_ga
    log_s += math.log(prod_s)
    grad[0], grad[1], grad[2], grad[3], grad[4] = g_mu, g_om, g_al, g_ga, g_be
    if not student:
        grad[5] = 0.0
        return -0.5 * (n * LOG_2PI + log_s + sum_q)
    log_z += math.log(prod_z)
    half = 0.5 * nu
    const = (
        math.lgamma(half + 0.5)
        - math.lgamma(half)
        - 0.5 * math.log(math.pi * (nu - 2.0))
    )
    d_const = 0.5 * (digamma(half + 0.5) - digamma(half)) - 0.5 * inv_nm2
    grad[5] = 0.5 * nu1 * inv_nm2 * sum_w - 0.5 * log_z + n * d_const
    return n * const - 0.5 * (log_s + nu1 * log_z)


Sample = tuple[float, FloatArray, FloatArray, float]
"""What `sample_startup` returns: the start-up every run on a sample shares."""


@njit(cache=True, nogil=True)
def sample_startup(y: FloatArray, free: IndexArray) -> Sample:
    """Backcast, variance bounds and mean square of the residuals at the start.

    The residuals are ``y`` less its mean for a constant mean (mu free), else
    ``y``; as in arch, this start-up is held fixed while mu moves.
    """
    resids = y - np.mean(y) if free[0] == 0 else y
    start = backcast(resids)
    lower, upper = variance_bounds(resids, start)
    return start, lower, upper, float(np.mean(resids * resids))


@njit(cache=True, nogil=True, error_model="numpy")
def _gaussian_grid_values(
    resids: FloatArray,
    thetas: FloatArray,
    start: float,
    lower: FloatArray,
    upper: FloatArray,
) -> FloatArray:
    """Gaussian log-likelihoods (without their constant) of `cold_start`'s grid.

    `clipped_filter`'s variance path of every row of `thetas` at once, summed as
    it goes: the rows' recursions are independent, so each day's step runs over
    all of them in loops the compiler vectorises; the rare clip at the upper
    bound and the rescaling of the running product are done apart. Each row's
    arithmetic is the one-point filter's, in the same order.
    """
    n_points = thetas.shape[0]
    omega, alpha, beta = thetas[:, 1].copy(), thetas[:, 2].copy(), thetas[:, 4].copy()
    alpha_neg = alpha + thetas[:, 3]
    s = omega + (alpha + 0.5 * thetas[:, 3] + beta) * start
    log_s, product, total = np.zeros(n_points), np.ones(n_points), np.zeros(n_points)
    for t in range(resids.shape[0]):
        low, high = lower[t], upper[t]
        if t > 0:
            e = resids[t - 1]
            coef = alpha_neg if e < 0.0 else alpha
            for p in range(n_points):
                s[p] = omega[p] + coef[p] * e * e + beta[p] * s[p]
        above = False
        for p in range(n_points):
            value = s[p]
            s[p] = low if value < low else value
            above |= value > high
        if above:
            for p in range(n_points):
                if s[p] > high:
                    s[p] = high + math.log(s[p] / high)
        square = resids[t] * resids[t]
        rescale = False
        for p in range(n_points):
            product[p] *= s[p]
            total[p] += square / s[p]
            rescale |= (product[p] > _BIG) | (product[p] < _SMALL)
        if rescale:
            for p in range(n_points):
                if product[p] > _BIG or product[p] < _SMALL:
                    log_s[p] += math.log(product[p])
                    product[p] = 1.0
    values = np.empty(n_points)
    for p in range(n_points):
        values[p] = -0.5 * (log_s[p] + math.log(product[p]) + total[p])
    return values


@njit(cache=True, nogil=True)
def cold_start(y: FloatArray, free: IndexArray, sample: Sample) -> FloatArray:
    """Starting values as arch picks them: best Gaussian fit of a grid, nu by kurtosis.

    The grid is alpha, gamma (GJR only) in {0.01, 0.05, 0.1, 0.2} and persistence
    in {0.5, 0.7, 0.9, 0.98}, omega matching the sample variance; the first best
    point wins, as with arch's ``argmax``. `sample` is `sample_startup`'s.
    """
    resids = y - np.mean(y) if free[0] == 0 else y
    start, lower, upper, target = sample
    grid = np.array([0.01, 0.05, 0.1, 0.2])
    gammas = grid if np.any(free == 3) else np.zeros(1)
    persistences = np.array([0.5, 0.7, 0.9, 0.98])
    thetas = np.zeros((grid.shape[0] * gammas.shape[0] * 4, 6))
    row = 0
    for alpha in grid:
        for gamma in gammas:
            for persistence in persistences:
                thetas[row, 1] = (1.0 - persistence) * target
                thetas[row, 2], thetas[row, 3] = alpha, gamma
                thetas[row, 4] = persistence - alpha - 0.5 * gamma
                row += 1
    values = _gaussian_grid_values(resids, thetas, start, lower, upper)
    best, theta = -np.inf, np.zeros(6)
    for row in range(values.shape[0]):
        if values[row] > best:
            best, theta = values[row], thetas[row].copy()
    theta[0] = np.mean(y)
    if free[-1] == 5:
        sigma2 = clipped_filter(resids, theta, start, lower, upper)[:-1]
        std = resids / np.sqrt(sigma2)
        std -= np.mean(std)
        kurt = np.mean(std**4) / np.mean(std**2) ** 2
        theta[5] = max((4.0 * kurt - 6.0) / (kurt - 3.0) if kurt > 3.75 else 12.0, 4.0)
    return theta[free]


@njit(cache=True, nogil=True)
def _objective(
    x: FloatArray,
    free: IndexArray,
    y: FloatArray,
    student: bool,
    startup: tuple[float, FloatArray, FloatArray],
    grad: FloatArray,
) -> float:
    """-loglikelihood at free parameters `x`; its gradient is written to `grad`."""
    theta = np.zeros(6)
    full = np.empty(6)
    for i in range(free.shape[0]):
        theta[free[i]] = x[i]
    gjr = bool(np.any(free == 3))
    value = loglik_grad(
        theta, y, student, gjr, startup[0], startup[1], startup[2], full
    )
    for i in range(free.shape[0]):
        grad[i] = -full[free[i]]
    return -value


@njit(cache=True, nogil=True)
def hessian(
    y: FloatArray, free: IndexArray, student: bool, sample: Sample, x: FloatArray
) -> FloatArray:
    """Hessian of -llf at `x`: forward differences of the analytic gradient.

    `sample` is `sample_startup`'s.
    """
    startup = (sample[0], sample[1], sample[2])
    k = x.shape[0]
    g0, g1 = np.empty(k), np.empty(k)
    _objective(x, free, y, student, startup, g0)
    out = np.empty((k, k))
    for i in range(k):
        step = 1e-6 * max(abs(x[i]), 1e-2)
        shifted = x.copy()
        shifted[i] += step
        _objective(shifted, free, y, student, startup, g1)
        out[:, i] = (g1 - g0) / step
    return out


@njit(cache=True, nogil=True)
def _solve_psd(matrix: FloatArray, rhs: FloatArray) -> FloatArray:
    """A solution of ``matrix @ x = rhs`` for a small symmetric PSD matrix (LDL').

    Rows whose pivot vanishes (linearly dependent constraints) get no weight,
    as with a pseudo-inverse.
    """
    n = rhs.shape[0]
    lower, pivots = np.eye(n), np.zeros(n)
    scale = max(1e-300, np.max(np.abs(np.diag(matrix))))
    for j in range(n):
        pivots[j] = matrix[j, j]
        for k in range(j):
            pivots[j] -= lower[j, k] ** 2 * pivots[k]
        for i in range(j + 1, n):
            value = matrix[i, j]
            for k in range(j):
                value -= lower[i, k] * lower[j, k] * pivots[k]
            lower[i, j] = value / pivots[j] if pivots[j] > 1e-12 * scale else 0.0
    z = rhs.copy()
    for i in range(n):
        for k in range(i):
            z[i] -= lower[i, k] * z[k]
    for i in range(n):
        z[i] = z[i] / pivots[i] if pivots[i] > 1e-12 * scale else 0.0
    for i in range(n - 1, -1, -1):
        for k in range(i + 1, n):
            z[i] -= lower[k, i] * z[k]
    return z


@njit(cache=True, nogil=True)
def _direction(
    inv_hess: FloatArray, g: FloatArray, a_mat: FloatArray, active: BoolArray
) -> tuple[FloatArray, FloatArray, IndexArray]:
    """Quasi-Newton step on the face of the active constraints, and multipliers."""
    rows = np.flatnonzero(active)
    if rows.shape[0] == 0:
        return -(inv_hess @ g), np.empty(0), rows
    a_w = a_mat[rows]
    h_at = inv_hess @ a_w.T
    multipliers = -_solve_psd(a_w @ h_at, h_at.T @ g)
    return -(inv_hess @ g + h_at @ multipliers), multipliers, rows


@njit(cache=True, nogil=True)
def maximise(
    x0: FloatArray,
    inv_hess0: FloatArray,
    free: IndexArray,
    y: FloatArray,
    student: bool,
    startup: tuple[float, FloatArray, FloatArray],
    a_mat: FloatArray,
    b_vec: FloatArray,
    max_iter: int,
    rel_tol: float,
    on_face: bool,
    floor: float,
) -> tuple[FloatArray, float, FloatArray, bool, int, float]:
    """Maximise the likelihood subject to ``A @ x <= b`` from a feasible `x0`.

    An active-set quasi-Newton (BFGS) method: each step is the Newton step of
    the current inverse-Hessian model on the face of the active constraints;
    the step is cut to the nearest inactive constraint, which then becomes
    active, and backtracked until it decreases ``-llf`` enough (Armijo). A
    constraint leaves the active set when its multiplier has the wrong sign at
    the face's stationary point, except, `on_face`, those active at `x0`: the
    maximum is then the face's. Iterates stay feasible. A start whose
    log-likelihood is below `floor` is returned at once, not converged.

    Returns
    -------
    x, loglikelihood, inverse Hessian, converged, evaluations, start_loglikelihood
        Converged means the predicted decrease ``g' H g`` on the final face is
        below ``rel_tol * max(1, |llf|)`` and every multiplier has its sign.
    """
    k, m = x0.shape[0], b_vec.shape[0]
    x, inv_hess = x0.copy(), inv_hess0.copy()
    g, g_new = np.empty(k), np.empty(k)
    f = f_start = _objective(x, free, y, student, startup, g)
    evals = 1
    if -f < floor:
        return x, -f, inv_hess, False, evals, -f_start
    active = b_vec - a_mat @ x <= 1e-12 * np.maximum(1.0, np.abs(b_vec))
    held = active & on_face
    for _ in range(max_iter):
        if not np.isfinite(f):
            break
        tol = rel_tol * max(1.0, abs(f))
        while True:
            d, multipliers, rows = _direction(inv_hess, g, a_mat, active)
            decrease = -(g @ d)
            if decrease > tol or rows.shape[0] == 0:
                break
            for i in range(rows.shape[0]):
                if held[rows[i]]:
                    multipliers[i] = np.inf
            worst = int(np.argmin(multipliers))
            if multipliers[worst] >= -tol:
                break
            active[rows[worst]] = False
        if decrease <= tol:
            return x, -f, inv_hess, True, evals, -f_start
        step_max, blocking = 1.0, -1
        slopes, slack = a_mat @ d, b_vec - a_mat @ x
        for i in range(m):
            slope = slopes[i]
            if not active[i] and slope > 0.0:
                room = max(slack[i], 0.0) / slope
                if room < step_max:
                    step_max, blocking = room, i
        step, accepted = step_max, False
        for _ in range(40):
            x_new = x + step * d
            f_new = _objective(x_new, free, y, student, startup, g_new)
            evals += 1
            if np.isfinite(f_new) and f_new <= f - _ARMIJO * step * decrease:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        if blocking >= 0 and step == step_max:
            active[blocking] = True
        rows = np.flatnonzero(active)
        a_w = a_mat[rows]
        excess = a_w @ x_new - b_vec[rows]
        if np.any(np.abs(excess) > 1e-12 * np.maximum(1.0, np.abs(b_vec[rows]))):
            # undo the drift off the active constraints
            x_new = x_new - a_w.T @ _solve_psd(a_w @ a_w.T, excess)
            f_new = _objective(x_new, free, y, student, startup, g_new)
            evals += 1
            if not np.isfinite(f_new):
                break
        s, change = x_new - x, g_new - g
        curvature = s @ change
        if curvature > 1e-12 * math.sqrt((s @ s) * (change @ change)):
            rho = 1.0 / curvature  # BFGS update of the inverse Hessian
            h_change = inv_hess @ change
            inv_hess = (
                inv_hess
                + (rho + rho * rho * (change @ h_change)) * np.outer(s, s)
                - rho * (np.outer(h_change, s) + np.outer(s, h_change))
            )
        x, f = x_new, f_new
        g[:] = g_new
    return x, -f, inv_hess, False, evals, -f_start


@njit(cache=True, nogil=True)
def fit_from(
    y: FloatArray,
    free: IndexArray,
    student: bool,
    sample: Sample,
    x0: FloatArray,
    inv_hess0: FloatArray,
    a_mat: FloatArray,
    b_parts: tuple[FloatArray, FloatArray],
    tolerances: tuple[float, float, float],
    max_iter: int,
    on_face: bool,
    floor: float,
) -> tuple[FloatArray, float, FloatArray, bool, int, BoolArray, float]:
    """One fit from `x0` in a single compiled call.

    `sample` is `sample_startup`'s; `b_parts` is the right-hand side of the
    constraints as a constant part and a part proportional to the mean squared
    residual; `tolerances` are (the optimiser's relative tolerance, the
    feasibility tolerance of `x0`, the tolerance of the bound report);
    `inv_hess0` starts the quasi-Newton model; `on_face` and `floor` are
    `maximise`'s. `x0` is first moved onto its box bounds; if it still breaks a
    constraint, nothing is fitted and ``evals`` is 0.

    Returns
    -------
    x, loglikelihood, inverse Hessian, converged, evaluations, on_bound,
    start_loglikelihood
        on_bound flags the constraints within the bound tolerance of `x`; the
        last value is the log-likelihood at the (feasible) start.
    """
    rel_tol, feasibility_tol, bound_tol = tolerances
    startup = (sample[0], sample[1], sample[2])
    b_vec = b_parts[0] + b_parts[1] * sample[3]
    x = x0.copy()
    for i in range(a_mat.shape[0]):
        columns = np.flatnonzero(a_mat[i])
        if columns.shape[0] == 1:
            j = columns[0]
            limit = b_vec[i] / a_mat[i, j]
            x[j] = min(x[j], limit) if a_mat[i, j] > 0.0 else max(x[j], limit)
    on_bound = np.zeros(b_vec.shape[0], dtype=np.bool_)
    if np.any(b_vec - a_mat @ x < -feasibility_tol):
        return x, -np.inf, inv_hess0, False, 0, on_bound, -np.inf
    x, llf, inv_hess, converged, used, start_llf = maximise(
        x, inv_hess0, free, y, student, startup, a_mat, b_vec, max_iter, rel_tol,
        on_face, floor,
    )  # fmt: skip
    slack = b_vec - a_mat @ x
    for i in range(b_vec.shape[0]):
        on_bound[i] = slack[i] <= bound_tol * max(1.0, abs(b_vec[i]))
        converged = converged and slack[i] >= -feasibility_tol * max(1.0, abs(b_vec[i]))
    return x, llf, inv_hess, converged, used, on_bound, start_llf


@njit(cache=True, nogil=True)
def forecast(y: FloatArray, free: IndexArray, sample: Sample, x: FloatArray) -> float:
    """sigma^2 after the last observation at free parameters `x`, as arch forecasts.

    The start-up is rebuilt at the estimated mean (for a zero mean it is
    `sample`'s, `sample_startup`'s).
    """
    theta = np.zeros(6)
    for i in range(free.shape[0]):
        theta[free[i]] = x[i]
    if free[0] != 0:
        return clipped_filter(y, theta, sample[0], sample[1], sample[2])[-1]
    at_mean = y - theta[0]
    start = backcast(at_mean)
    lower, upper = variance_bounds(at_mean, start)
    return clipped_filter(at_mean, theta, start, lower, upper)[-1]
