"""Compiled GARCH(1,1) and GJR-GARCH(1,1) fitting that reproduces arch's estimates.

Model, likelihood, variance start-up (backcast), variance clipping bounds,
parameter bounds and constraints are those of ``arch.arch_model(y, mean=
"Zero"|"Constant", vol="GARCH", p=1, o=0|1, q=1, dist="normal"|"t")``. The
likelihood and its analytic gradient are numba-compiled and handed to SLSQP in
coordinates whitened by the Hessian at the start, so a warm start from the
previous refit converges in a few Newton-like steps.

As in arch, the backcast and the variance bounds are computed once per sample
from the residuals at the starting mean (the sample mean for a constant mean)
and held fixed while the mean parameter moves.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numba import njit
from scipy import optimize, special, stats

from riskengine._typing import FloatArray
from riskengine.errors import DataError

VolKind = Literal["garch", "gjr"]
DistKind = Literal["normal", "t"]
MeanKind = Literal["zero", "constant"]
Startup = tuple[float, FloatArray, FloatArray]  # backcast, lower and upper bounds

_NAMES = ("mu", "omega", "alpha[1]", "gamma[1]", "beta[1]", "nu")
_LOG_2PI = math.log(2.0 * math.pi)
_MIN_OBS = 10
_FEASIBILITY_TOL = 1e-9  # SLSQP's optima may sit this far outside a bound
_BOUNDARY_TOL = 1e-6  # alpha + gamma/2 below this counts as no ARCH effect


@dataclass(frozen=True, slots=True)
class GarchFit:
    """Result of a GARCH(1,1) / GJR-GARCH(1,1) maximum-likelihood fit.

    Attributes
    ----------
    params : ndarray, shape (n_params,)
        Estimates in arch's order ``[mu,] omega, alpha, [gamma,] beta, [nu]``;
        ``mu`` in percent, ``omega`` in percent squared.
    param_names : tuple of str
        arch's names of ``params``.
    loglikelihood : float
        Maximised log-likelihood, summed over observations as arch reports it.
    converged : bool
        Whether SLSQP reported success.
    message : str
        SLSQP's exit message.
    n_evals : int
        Likelihood-and-gradient evaluations, including those that build the
        Hessian used for whitening.
    forecast_variance : float
        One-step-ahead variance after the last observation in percent squared,
        as arch's ``forecast(horizon=1)`` computes it.
    """

    params: FloatArray
    param_names: tuple[str, ...]
    loglikelihood: float
    converged: bool
    message: str
    n_evals: int
    forecast_variance: float


@njit(cache=True)
def _backcast(resids: FloatArray) -> float:
    """Return arch's backcast: 0.94-weighted mean of the first <= 75 squares."""
    num = den = 0.0
    weight = 1.0
    for i in range(min(75, resids.shape[0])):
        num += weight * resids[i] * resids[i]
        den += weight
        weight *= 0.94
    return num / den


@njit(cache=True)
def _variance_bounds(
    resids: FloatArray, backcast: float
) -> tuple[FloatArray, FloatArray]:
    """Return arch's loose lower and upper clipping bounds for sigma^2_t."""
    n = resids.shape[0]
    lower, upper = np.empty(n), np.empty(n)
    max_sq = float(np.max(resids * resids))
    floor = float(np.var(resids)) / 1e8
    ewma = (1.0 - 0.94) * backcast + 0.94 * backcast
    for t in range(n):
        if t > 0:
            ewma = (1.0 - 0.94) * resids[t - 1] ** 2 + 0.94 * ewma
        lower[t] = max(ewma / 1e6, floor)
        upper[t] = min(max(ewma * 1e6, 1.0 + max_sq), 1e7 * (1.0 + max_sq))
    return lower, upper


@njit(cache=True)
def _filter(resids: FloatArray, theta: FloatArray, startup: Startup) -> FloatArray:
    """Return sigma^2_t for t = 0..n by arch's clipped recursion (last unclipped)."""
    backcast, lower, upper = startup
    omega, alpha, gamma, beta = theta[1], theta[2], theta[3], theta[4]
    n = resids.shape[0]
    sigma2 = np.empty(n + 1)
    s = omega + (alpha + 0.5 * gamma + beta) * backcast
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


@njit(cache=True, error_model="numpy")
def _loglik_grad(
    theta: FloatArray,
    y: FloatArray,
    student: bool,
    nu_terms: tuple[float, float],
    startup: Startup,
    grad: FloatArray,
) -> float:
    """Return the log-likelihood at ``theta`` and write its gradient into ``grad``.

    ``theta`` is (mu, omega, alpha, gamma, beta, nu), with mu and gamma zero
    where the model lacks them; ``nu_terms`` is the t density's constant in nu
    and its derivative. d sigma^2_t / d theta follows the recursion of sigma^2_t
    (through the lagged residual for mu) and is clipped where sigma^2_t is.
    """
    mu, omega, alpha, gamma, beta, nu = theta
    backcast, lower, upper = startup
    n = y.shape[0]
    inv_nm2 = 1.0 / (nu - 2.0)
    s = omega + (alpha + 0.5 * gamma + beta) * backcast
    d_mu, d_om, d_al, d_ga, d_be = 0.0, 1.0, backcast, 0.5 * backcast, backcast
    g_mu = g_om = g_al = g_ga = g_be = g_nu = total = 0.0
    for t in range(n):
        if t > 0:
            e = y[t - 1] - mu
            neg = 1.0 if e < 0.0 else 0.0
            coef = alpha + gamma * neg
            d_mu = beta * d_mu - 2.0 * coef * e
            d_om = beta * d_om + 1.0
            d_al = beta * d_al + e * e
            d_ga = beta * d_ga + neg * e * e
            d_be = beta * d_be + s
            s = omega + coef * e * e + beta * s
        if s < lower[t]:
            s = lower[t]
            d_mu = d_om = d_al = d_ga = d_be = 0.0
        elif s > upper[t]:
            d_mu, d_om, d_al = d_mu / s, d_om / s, d_al / s
            d_ga, d_be = d_ga / s, d_be / s
            s = upper[t] + math.log(s / upper[t])
        inv_s = 1.0 / s
        e = y[t] - mu
        q = e * e * inv_s
        if student:
            z = q * inv_nm2
            log_z1 = math.log(1.0 + z)
            w = z / (1.0 + z)
            total += math.log(s) + (nu + 1.0) * log_z1
            dl_ds = 0.5 * ((nu + 1.0) * w - 1.0) * inv_s
            g_mu += (nu + 1.0) * inv_nm2 * (1.0 - w) * e * inv_s
            g_nu += 0.5 * (nu + 1.0) * inv_nm2 * w - 0.5 * log_z1
        else:
            total += math.log(s) + q
            dl_ds = 0.5 * (q - 1.0) * inv_s
            g_mu += e * inv_s
        g_mu += dl_ds * d_mu
        g_om += dl_ds * d_om
        g_al += dl_ds * d_al
        g_ga += dl_ds * d_ga
        g_be += dl_ds * d_be
    grad[0], grad[1], grad[2] = g_mu, g_om, g_al
    grad[3], grad[4], grad[5] = g_ga, g_be, g_nu + n * nu_terms[1]
    if student:
        return n * nu_terms[0] - 0.5 * total
    return -0.5 * (n * _LOG_2PI + total)


@njit(cache=True)
def _gaussian_loglik(
    resids: FloatArray, thetas: FloatArray, startup: Startup
) -> FloatArray:
    """Return the zero-mean Gaussian log-likelihood at each row of ``thetas``."""
    out = np.empty(thetas.shape[0])
    for i in range(thetas.shape[0]):
        sigma2 = _filter(resids, thetas[i], startup)[:-1]
        out[i] = -0.5 * np.sum(_LOG_2PI + np.log(sigma2) + resids**2 / sigma2)
    return out


def _free_positions(vol: VolKind, dist: DistKind, mean: MeanKind) -> list[int]:
    """Return the positions in (mu, omega, alpha, gamma, beta, nu) that are free."""
    for name, value, allowed in (
        ("vol", vol, ("garch", "gjr")),
        ("dist", dist, ("normal", "t")),
        ("mean", mean, ("zero", "constant")),
    ):
        if value not in allowed:
            raise ValueError(f"{name}={value!r} is not one of {allowed}")
    keep = (mean == "constant", True, True, vol == "gjr", True, dist == "t")
    return [i for i, k in enumerate(keep) if k]


def _nu_terms(nu: float) -> tuple[float, float]:
    """Return the t log-density's constant in ``nu`` and its derivative."""
    half = 0.5 * nu
    const = (
        math.lgamma(half + 0.5)
        - math.lgamma(half)
        - 0.5 * math.log(math.pi * (nu - 2.0))
    )
    deriv = 0.5 * float(special.digamma(half + 0.5) - special.digamma(half))
    return const, deriv - 0.5 / (nu - 2.0)


def _full_theta(params: np.ndarray, free: list[int]) -> FloatArray:
    """Place ``params`` (arch's order) into (mu, omega, alpha, gamma, beta, nu)."""
    values = np.asarray(params, dtype=np.float64)
    if values.shape != (len(free),):
        names = [_NAMES[i] for i in free]
        raise ValueError(f"params: expected {len(free)} values {names}, got {values}")
    theta = np.zeros(6)
    theta[free] = values
    return theta


class _Likelihood:
    """arch's likelihood of one sample and model, with its start-up held fixed."""

    def __init__(self, y: np.ndarray, free: list[int]) -> None:
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        finite = np.isfinite(self.y)
        if self.y.ndim != 1 or self.y.size < _MIN_OBS or not finite.all():
            raise DataError(
                f"y: need a 1-d array of at least {_MIN_OBS} finite percent returns,"
                f" got shape {self.y.shape} with {np.sum(~finite)} non-finite values"
            )
        if not np.ptp(self.y) > 0.0:
            raise DataError("y: returns are all equal; GARCH needs some variation")
        self.free = free
        self.student = 5 in free
        self.resids = self.y - self.y.mean() if 0 in free else self.y
        backcast = _backcast(self.resids)
        self.startup = (backcast, *_variance_bounds(self.resids, backcast))
        self.g_mat, self.h_vec = self.constraints()
        self.n_evals = 0

    def __call__(self, x: FloatArray) -> tuple[float, FloatArray]:
        """Return the log-likelihood at free parameters ``x`` and its gradient."""
        self.n_evals += 1
        theta = _full_theta(x, self.free)
        nu_terms = _nu_terms(theta[5]) if self.student else (0.0, 0.0)
        grad = np.empty(6)
        llf = _loglik_grad(theta, self.y, self.student, nu_terms, self.startup, grad)
        return llf, grad[self.free]

    def slack(self, x: FloatArray) -> FloatArray:
        """Return ``G @ x + h`` of `constraints`: negative where ``x`` breaks one."""
        return self.g_mat @ x + self.h_vec

    def constraints(self) -> tuple[FloatArray, FloatArray]:
        """Return arch's parameter bounds and constraints as ``G @ x + h >= 0``."""
        scale = float(np.mean(self.resids**2))
        lows = (-np.inf, 1e-8 * scale, 0.0, -1.0, 0.0, 2.05)
        highs = (np.inf, 10.0 * scale, 1.0, 2.0, 1.0, 500.0)
        rows, consts = [], []
        for i in (i for i in self.free if i > 0):  # mu is unbounded
            rows += [np.eye(6)[i], -np.eye(6)[i]]
            consts += [-lows[i], highs[i]]
        rows.append(np.array([0.0, 0.0, -1.0, -0.5, -1.0, 0.0]))  # stationarity
        consts.append(1.0)
        if 3 in self.free:
            rows.append(np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0]))  # alpha+gamma>=0
            consts.append(0.0)
        return np.array(rows)[:, self.free], np.array(consts)

    def starting_values(self) -> FloatArray:
        """Return arch's cold start: the best of its grid, nu from the kurtosis."""
        target = float(np.mean(self.resids**2))
        grid = [0.01, 0.05, 0.1, 0.2]
        gammas = grid if 3 in self.free else [0.0]
        thetas = np.array(
            [
                [0.0, (1.0 - p) * target, a, g, p - a - 0.5 * g, 0.0]
                for a, g, p in itertools.product(grid, gammas, [0.5, 0.7, 0.9, 0.98])
            ]
        )
        theta = thetas[
            int(np.argmax(_gaussian_loglik(self.resids, thetas, self.startup)))
        ]
        theta[0] = self.y.mean()
        if self.student:
            sigma2 = _filter(self.resids, theta, self.startup)
            kurt = stats.kurtosis(self.resids / np.sqrt(sigma2[:-1]), fisher=False)
            theta[5] = max(
                (4.0 * kurt - 6.0) / (kurt - 3.0) if kurt > 3.75 else 12.0, 4.0
            )
        return theta[self.free]


def _whitening(lik: _Likelihood, x0: FloatArray, grad0: FloatArray) -> FloatArray:
    """Return ``M`` with ``M.T @ H @ M = I`` for ``H`` the Hessian of -llf at ``x0``.

    ``H`` comes from forward differences of the analytic gradient, with its
    eigenvalues made positive. SLSQP starts from an identity Hessian, so in the
    coordinates ``u`` of ``x = x0 + M @ u`` its first step is a Newton step.
    """
    k = x0.shape[0]
    hess = np.empty((k, k))
    for i in range(k):
        step = 1e-6 * max(abs(x0[i]), 1e-2)
        hess[:, i] = (grad0 - lik(x0 + step * np.eye(k)[i])[1]) / step
    eigval, eigvec = np.linalg.eigh(0.5 * (hess + hess.T))
    eigval = np.maximum(np.abs(eigval), 1e-10 * np.abs(eigval).max())
    return (eigvec / np.sqrt(eigval)) @ eigvec.T


def _maximise(
    lik: _Likelihood, x0: FloatArray
) -> tuple[FloatArray, optimize.OptimizeResult]:
    """Maximise ``lik`` from ``x0`` by SLSQP in Hessian-whitened coordinates."""
    llf0, grad0 = lik(x0)
    m_mat = _whitening(lik, x0, grad0)
    g_u, h_u = lik.g_mat @ m_mat, lik.slack(x0)

    def objective(u: FloatArray) -> tuple[float, FloatArray]:
        llf, grad = lik(x0 + m_mat @ u) if u.any() else (llf0, grad0)
        return -llf, -(m_mat.T @ grad)

    res = optimize.minimize(
        objective,
        np.zeros(x0.size),
        jac=True,
        method="SLSQP",
        constraints={
            "type": "ineq",
            "fun": lambda u: g_u @ u + h_u,
            "jac": lambda u: g_u,
        },
        options={"ftol": 1e-9, "maxiter": 200},
    )
    return x0 + m_mat @ res.x, res


def fit(
    y: np.ndarray,
    *,
    vol: VolKind = "garch",
    dist: DistKind = "t",
    mean: MeanKind = "constant",
    starting_values: np.ndarray | None = None,
) -> GarchFit:
    """Fit a GARCH(1,1) or GJR-GARCH(1,1) by maximum likelihood, as arch does.

    Parameters
    ----------
    y : ndarray, shape (n_observations,)
        Returns in percent (simple returns x 100).
    vol : {"garch", "gjr"}
        GARCH(1,1), or GJR-GARCH(1,1) with one asymmetric term (arch's ``o=1``).
    dist : {"normal", "t"}
        Normal or standardised Student-t innovations.
    mean : {"zero", "constant"}
        Zero mean, or a constant mean estimated jointly.
    starting_values : ndarray, shape (n_params,), optional
        Warm start in arch's order, typically the previous refit of the same
        asset. If it breaks arch's bounds or constraints, arch's cold start
        (its grid of starting values) is used instead. If the warm fit ends
        without ARCH effect (alpha = alpha + gamma = 0), a local maximum a warm
        start cannot leave, the fit from the cold start is kept if better.

    Returns
    -------
    GarchFit
        Estimates, log-likelihood, convergence report and one-step forecast.

    Raises
    ------
    DataError
        If ``y`` is not 1-d, is too short, constant or not finite.
    ValueError
        If an option is unknown or ``starting_values`` has the wrong length.
    """
    free = _free_positions(vol, dist, mean)
    lik = _Likelihood(y, free)
    x0 = None if starting_values is None else _full_theta(starting_values, free)[free]
    if x0 is None or np.any(lik.slack(x0) < -_FEASIBILITY_TOL):
        params, res = _maximise(lik, lik.starting_values())
    else:
        params, res = _maximise(lik, x0)
        theta = _full_theta(params, free)
        if theta[2] + 0.5 * theta[3] < _BOUNDARY_TOL:
            # A warm start cannot leave a maximum without ARCH effect (alpha and
            # alpha + gamma zero), where GARCH likelihoods often have a second,
            # interior one: compare the fit from arch's start.
            cold_params, cold_res = _maximise(lik, lik.starting_values())
            if cold_res.fun < res.fun:
                params, res = cold_params, cold_res
    theta = _full_theta(params, free)
    # arch's forecast rebuilds the backcast and bounds at the estimated mean.
    resids = lik.y - theta[0]
    backcast = _backcast(resids)
    sigma2 = _filter(resids, theta, (backcast, *_variance_bounds(resids, backcast)))
    return GarchFit(
        params=params,
        param_names=tuple(_NAMES[i] for i in free),
        loglikelihood=-float(res.fun),
        converged=bool(res.success),
        message=str(res.message),
        n_evals=lik.n_evals,
        forecast_variance=float(sigma2[-1]),
    )


def loglikelihood_and_gradient(
    y: np.ndarray,
    params: np.ndarray,
    *,
    vol: VolKind = "garch",
    dist: DistKind = "t",
    mean: MeanKind = "constant",
) -> tuple[float, FloatArray]:
    """Return arch's log-likelihood at fixed ``params`` and its analytic gradient.

    Parameters
    ----------
    y : ndarray, shape (n_observations,)
        Returns in percent.
    params : ndarray, shape (n_params,)
        Parameters in arch's order for the model given by ``vol``, ``dist`` and
        ``mean``.
    vol, dist, mean : str
        The model, as in `fit`.

    Returns
    -------
    loglikelihood : float
        What ``arch_model(y, ...).fix(params).loglikelihood`` reports.
    gradient : ndarray, shape (n_params,)
        Its derivative with respect to ``params``.

    Raises
    ------
    DataError
        If ``y`` is not 1-d, is too short, constant or not finite.
    ValueError
        If an option is unknown or ``params`` has the wrong length.
    """
    free = _free_positions(vol, dist, mean)
    return _Likelihood(y, free)(_full_theta(params, free)[free])


def filter_variance(
    y: np.ndarray,
    params: np.ndarray,
    *,
    vol: VolKind = "garch",
    dist: DistKind = "t",
    mean: MeanKind = "constant",
    backcast: float | None = None,
) -> FloatArray:
    """Return the conditional variance path at fixed parameters, as arch's ``fix``.

    Parameters
    ----------
    y : ndarray, shape (n_observations,)
        Returns in percent.
    params : ndarray, shape (n_params,)
        Parameters in arch's order for the model given by ``vol``, ``dist`` and
        ``mean``; like arch's ``fix``, they are not checked against constraints.
    vol, dist, mean : str
        The model, as in `fit`.
    backcast : float, optional
        sigma^2 before the first observation, in percent squared. By default
        arch's backcast of the residuals at the sample mean (zero mean for
        ``mean="zero"``).

    Returns
    -------
    ndarray, shape (n_observations + 1,)
        sigma^2_t in percent squared for each observation, then the one-step
        forecast after the last one.

    Raises
    ------
    DataError
        If ``y`` is not 1-d, is too short, constant or not finite.
    ValueError
        If an option is unknown, ``params`` has the wrong length or ``backcast``
        is not positive.
    """
    free = _free_positions(vol, dist, mean)
    lik = _Likelihood(y, free)
    theta = _full_theta(params, free)
    if backcast is not None and not backcast > 0.0:
        raise ValueError(f"backcast: must be a positive variance, got {backcast}")
    start = lik.startup[0] if backcast is None else float(backcast)
    return _filter(lik.y - theta[0], theta, (start, *lik.startup[1:]))
