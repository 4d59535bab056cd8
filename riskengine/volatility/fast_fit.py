"""Compiled GARCH(1,1) and GJR-GARCH(1,1) fitting that reproduces arch's estimates.

Model, likelihood, variance start-up (backcast), variance clipping bounds,
parameter bounds and constraints are those of ``arch.arch_model(y, mean=
"Zero"|"Constant", vol="GARCH", p=1, o=0|1, q=1, dist="normal"|"t")``. The
likelihood, its analytic gradient and an active-set quasi-Newton optimiser are
numba-compiled (`riskengine.volatility._kernels`), so a fit, with its checks from
arch's cold start and the faces of the constraints (see `fit`), is one compiled
call (`riskengine.volatility._refit_kernels`);
`fit_chain` fits an asset's windows in turn in one call. A warm start passes the
previous refit's parameters and inverse Hessian: the first step is then a Newton
step and a weekly refit converges in a few evaluations.

As in arch, the backcast and the variance bounds are computed once per sample
from the residuals at the starting mean (the sample mean for a constant mean)
and held fixed while the mean parameter moves.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from riskengine._typing import FloatArray, IndexArray
from riskengine.errors import DataError
from riskengine.volatility import _kernels as kernels
from riskengine.volatility import _refit_kernels as refit_kernels

VolKind = Literal["garch", "gjr"]
DistKind = Literal["normal", "t"]
MeanKind = Literal["zero", "constant"]

Faces = refit_kernels.Faces
"""The maxima last reached from the faces of the constraints, and their inverse
Hessians (`new_faces`; see `riskengine.volatility._refit_kernels.FACES`)."""

_NAMES = ("mu", "omega", "alpha[1]", "gamma[1]", "beta[1]", "nu")
_MIN_OBS = refit_kernels.MIN_OBS
_MAX_ITER = 200
_REL_TOL = 1e-10  # predicted decrease of -llf, relative to |llf|, at convergence
_FEASIBILITY_TOL = 1e-9  # a warm start may break a constraint by this much
BOUND_TOL = 1e-6
"""A parameter within this (times max(1, |bound|)) of a bound counts as on it."""
_TOLERANCES = (_REL_TOL, _FEASIBILITY_TOL, BOUND_TOL)
COLD_CHECK_GAIN = 0.05
"""A warm fit that raised the log-likelihood by more than this from its start (the
optimum moved far: the likelihood's shape may have changed) is checked from arch's
cold start. On weekly refits of real series the median gain is about 0.02."""


class Attempt(NamedTuple):
    """One optimiser run of a fit: where it started and where it ended.

    Attributes
    ----------
    start : str
        ``"warm"`` (the given starting values), ``"cold"`` (arch's start) or
        ``"face"`` (the maximum on a face of the constraints where a flat
        likelihood has another local maximum, higher than the others'; see
        `riskengine.volatility._refit_kernels.FACES`).
    loglikelihood : float
        Where the run ended; -inf if it did not run.
    note : str
        Why the run cannot be used as it is (``"not converged"``, ``"breaks a
        constraint"``); "" if it can.
    kept : bool
        Whether the fit's result is this run's.
    """

    start: str
    loglikelihood: float
    note: str
    kept: bool


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
        Whether the optimiser met its convergence test.
    message : str
        Which start won and why a cold start was tried.
    n_evals : int
        Likelihood-and-gradient evaluations, including finite-difference
        Hessians.
    forecast_variance : float
        One-step-ahead variance after the last observation in percent squared,
        as arch's ``forecast(horizon=1)`` computes it.
    inverse_hessian : ndarray, shape (n_params, n_params)
        The optimiser's inverse Hessian of -loglikelihood at ``params``, to
        warm-start the next refit.
    on_bounds : tuple of str
        Bounds and constraints that ``params`` lie on (within `BOUND_TOL`),
        e.g. ``"alpha[1] + gamma[1]/2 + beta[1] <= 1"``.
    attempts : tuple of Attempt
        The runs made, in order (the warm start, then arch's cold start if it
        was tried, then a face's run if it was kept); exactly one is marked kept.
    faces : Faces
        The maxima reached from the faces of the constraints after this fit: what
        the asset's next refit takes as its `faces`.
    """

    params: FloatArray
    param_names: tuple[str, ...]
    loglikelihood: float
    converged: bool
    message: str
    n_evals: int
    forecast_variance: float
    inverse_hessian: FloatArray
    on_bounds: tuple[str, ...]
    attempts: tuple[Attempt, ...]
    faces: Faces


def _free_positions(vol: VolKind, dist: DistKind, mean: MeanKind) -> IndexArray:
    """Positions in (mu, omega, alpha, gamma, beta, nu) that are free."""
    for name, value, allowed in (
        ("vol", vol, ("garch", "gjr")),
        ("dist", dist, ("normal", "t")),
        ("mean", mean, ("zero", "constant")),
    ):
        if value not in allowed:
            raise ValueError(f"{name}={value!r} is not one of {allowed}")
    return _FREE[mean == "constant", vol == "gjr", dist == "t"]


_FREE = {
    (constant, gjr, student): np.flatnonzero((constant, True, True, gjr, True, student))
    for constant in (False, True)
    for gjr in (False, True)
    for student in (False, True)
}


def _full_theta(params: np.ndarray, free: IndexArray) -> FloatArray:
    """Place ``params`` (arch's order) into (mu, omega, alpha, gamma, beta, nu)."""
    values = np.asarray(params, dtype=np.float64)
    if values.shape != free.shape:
        names = [_NAMES[i] for i in free]
        raise ValueError(f"params: expected {free.size} values {names}, got {values}")
    theta = np.zeros(6)
    theta[free] = values
    return theta


@functools.lru_cache(maxsize=16)
def _constraint_template(
    free_key: tuple[int, ...],
) -> tuple[FloatArray, FloatArray, FloatArray, tuple[str, ...]]:
    """Bounds and constraints of arch on the free parameters, as ``A @ x <= b``.

    Returns ``A``, then ``b`` as a constant part and a part proportional to the
    mean squared residual (omega's bounds), and a label per row.
    """
    free = list(free_key)
    lows = (-np.inf, 1e-8, 0.0, -1.0, 0.0, 2.05)
    highs = (np.inf, 10.0, 1.0, 2.0, 1.0, 500.0)
    rows: list[list[float]] = []
    consts: list[tuple[float, float]] = []
    labels: list[str] = []
    for i in free[1:] if free[0] == 0 else free:  # mu is unbounded
        unit = [float(j == i) for j in range(6)]
        rows += [[-u for u in unit], unit]
        scaled = i == 1
        consts += [(0.0, -lows[i]) if scaled else (-lows[i], 0.0)]
        consts += [(0.0, highs[i]) if scaled else (highs[i], 0.0)]
        unit_text = " * mean(resid**2)" if scaled else ""
        labels += [f"{_NAMES[i]} >= {lows[i]:g}{unit_text}"]
        labels += [f"{_NAMES[i]} <= {highs[i]:g}{unit_text}"]
    rows.append([0.0, 0.0, 1.0, 0.5, 1.0, 0.0])
    consts.append((1.0, 0.0))
    labels.append("alpha[1] + gamma[1]/2 + beta[1] <= 1")
    if 3 in free:
        rows.append([0.0, 0.0, -1.0, -1.0, 0.0, 0.0])
        consts.append((0.0, 0.0))
        labels.append("alpha[1] + gamma[1] >= 0")
    a_mat = np.ascontiguousarray(np.array(rows)[:, free])
    fixed, scaled_part = np.array(consts).T.copy()
    return a_mat, fixed, scaled_part, tuple(labels)


@functools.lru_cache(maxsize=16)
def _names(free_key: tuple[int, ...]) -> tuple[str, ...]:
    """The names arch gives the free parameters."""
    return tuple(_NAMES[i] for i in free_key)


def _checked(y: np.ndarray) -> FloatArray:
    """``y`` as a contiguous float array, validated for fitting."""
    values = np.ascontiguousarray(y, dtype=np.float64)
    nonfinite, spread = kernels.nonfinite_and_spread(values.reshape(-1))
    if values.ndim != 1 or values.size < _MIN_OBS or nonfinite:
        raise DataError(
            f"y: need a 1-d array of at least {_MIN_OBS} finite percent returns,"
            f" got shape {values.shape} with {nonfinite} non-finite values"
        )
    if not spread > 0.0:
        raise DataError("y: returns are all equal; GARCH needs some variation")
    return values


class _Problem:
    """arch's likelihood of one sample and model, with its start-up held fixed."""

    def __init__(self, y: np.ndarray, free: IndexArray) -> None:
        self.y = _checked(y)
        self.free = free
        self.student = bool(free[-1] == 5)
        self.resids = self.y - self.y.mean() if free[0] == 0 else self.y
        start = kernels.backcast(self.resids)
        self.startup = (start, *kernels.variance_bounds(self.resids, start))

    def __call__(self, x: FloatArray) -> tuple[float, FloatArray]:
        """Log-likelihood at free parameters ``x`` and its gradient."""
        grad = np.empty(6)
        theta = _full_theta(x, self.free)
        gjr = bool(np.any(self.free == 3))
        llf = kernels.loglik_grad(theta, self.y, self.student, gjr, *self.startup, grad)
        return llf, grad[self.free]


def fit(
    y: np.ndarray,
    *,
    vol: VolKind = "garch",
    dist: DistKind = "t",
    mean: MeanKind = "constant",
    starting_values: np.ndarray | None = None,
    inverse_hessian: np.ndarray | None = None,
    faces: Faces | None = None,
) -> GarchFit:
    """Fit a GARCH(1,1) or GJR-GARCH(1,1) by maximum likelihood, as arch does.

    Where the likelihood is flat (weak or no volatility clustering) it has several
    local maxima, and arch's SLSQP often ends on one that neither a warm start
    nor arch's own cold start reaches here: on beta = 0 (an ARCH(1)), or near
    alpha = 0, beta = 1 (the variance held near the backcast). So each fit also
    updates the maximum on each of those faces of the constraints (`faces`) and,
    where one is higher than the fit, climbs from it free to leave the face; the
    higher result is kept. A face whose last maximum starts more than
    `riskengine.volatility._refit_kernels.FACE_MARGIN` below the fit costs one
    evaluation.

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
        asset; moved onto arch's box bounds if outside them. The fit from arch's
        cold start (its grid of starting values) is also run, and the better
        kept, when the warm start breaks a constraint, the warm fit does not
        converge, ends on a bound (where a warm start can be held at a local
        maximum, e.g. alpha = 0) or gains more than `COLD_CHECK_GAIN` from its
        start (the optimum moved far, possibly to another local maximum).
        Without it, the fit starts cold.
    inverse_hessian : ndarray, shape (n_params, n_params), optional
        Inverse Hessian of -loglikelihood to start the warm fit with, typically
        the previous refit's `GarchFit.inverse_hessian`; by default finite
        differences of the gradient at the start.
    faces : Faces, optional
        The maxima reached from the faces of the constraints by the asset's
        previous refit (its `GarchFit.faces`); by default (`new_faces`) each
        face's maximum is sought afresh. Not changed.

    Returns
    -------
    GarchFit
        Estimates, log-likelihood, convergence report and one-step forecast.

    Raises
    ------
    DataError
        If ``y`` is not 1-d, is too short, constant or not finite.
    ValueError
        If an option is unknown or a warm start has the wrong shape.
    """
    free = _free_positions(vol, dist, mean)
    values = _checked(y)
    x0, hessian = _warm_start(free, starting_values, inverse_hessian)
    state = _copied(faces, free)
    result = refit_kernels.fit_checked(
        values,
        free,
        bool(free[-1] == 5),
        x0,
        hessian,
        _settings(free),
        COLD_CHECK_GAIN,
        state,
    )
    return _garch_fit(free, state, *result)


def fit_chain(
    y: np.ndarray,
    firsts: IndexArray,
    lasts: IndexArray,
    *,
    vol: VolKind = "garch",
    dist: DistKind = "t",
    mean: MeanKind = "constant",
    starting_values: np.ndarray | None = None,
    inverse_hessian: np.ndarray | None = None,
    bound_is_usable: bool = True,
    faces: Faces | None = None,
) -> list[GarchFit]:
    """`fit` the windows ``y[first:last + 1]`` in turn, in one compiled call.

    Each window starts warm from the last converged fit before it (from
    `starting_values` and `inverse_hessian` before the first); a fit on a bound
    counts as such only if `bound_is_usable`. The same fits as `fit` called in a
    loop, without the GIL between them.

    Parameters
    ----------
    y : ndarray, shape (n_observations,)
        Returns in percent.
    firsts, lasts : ndarray of int
        The first and last observation of each window, in order.
    vol, dist, mean, starting_values, inverse_hessian, faces
        As in `fit`.
    bound_is_usable : bool
        Whether a fit on a bound warm-starts the next window.

    Returns
    -------
    list of GarchFit
        One per window up to the first fit that did not converge (included), or
        up to the first window `fit` refuses (excluded): fewer than
        ``len(firsts)`` if either occurs.
    """
    free = _free_positions(vol, dist, mean)
    values = np.ascontiguousarray(y, dtype=np.float64)
    x0, hessian = _warm_start(free, starting_values, inverse_hessian)
    done, *rows = refit_kernels.fit_chain(
        values,
        np.ascontiguousarray(firsts, dtype=np.int64),
        np.ascontiguousarray(lasts, dtype=np.int64),
        free,
        bool(free[-1] == 5),
        x0,
        np.ascontiguousarray(hessian, dtype=np.float64),
        _settings(free),
        COLD_CHECK_GAIN,
        bound_is_usable,
        _copied(faces, free),
    )
    *columns, maxima, hessians, ages = _flat(rows)
    return [
        _garch_fit(
            free, (maxima[i], hessians[i], ages[i]), *(column[i] for column in columns)
        )
        for i in range(done)
    ]


def new_faces(
    *, vol: VolKind = "garch", dist: DistKind = "t", mean: MeanKind = "constant"
) -> Faces:
    """No maximum yet reached from the faces of the constraints (see `fit`)."""
    return refit_kernels.new_faces(_free_positions(vol, dist, mean).size)


def _copied(faces: Faces | None, free: IndexArray) -> Faces:
    """A copy of `faces` for the kernels to update (fresh ones for None)."""
    if faces is None:
        return refit_kernels.new_faces(free.size)
    maxima, hessians, ages = faces
    return maxima.copy(), hessians.copy(), ages.copy()


def _flat(rows: list[np.ndarray]) -> list[np.ndarray]:
    """`fit_chain`'s arrays, the runs' log-likelihoods and notes split by run.

    In `fit_checked`'s order: ..., warm gain, then each run's (warm, cold, face)
    llf and note, then which was kept; then the faces after each window.
    """
    *head, gains, llfs, notes, kept, maxima, hessians, ages = rows
    runs = [column for j in range(3) for column in (llfs[:, j], notes[:, j])]
    return [*head, gains, *runs, kept, maxima, hessians, ages]


def _settings(free: IndexArray) -> refit_kernels.Settings:
    """The constraints on the free parameters, the tolerances, the iterations."""
    a_mat, b_fixed, b_scaled, _ = _constraint_template(tuple(free))
    return a_mat, (b_fixed, b_scaled), _TOLERANCES, _MAX_ITER


def _warm_start(
    free: IndexArray,
    starting_values: np.ndarray | None,
    inverse_hessian: np.ndarray | None,
) -> tuple[FloatArray, FloatArray]:
    """The warm start and its inverse Hessian as the kernels take them (0: none)."""
    if starting_values is None:
        return np.empty(0), np.empty((0, 0))
    x0 = _full_theta(starting_values, free)[free]
    if inverse_hessian is None:
        return x0, np.empty((0, 0))
    if inverse_hessian.shape not in ((0, 0), (x0.size, x0.size)):
        raise ValueError(f"inverse_hessian: expected shape {(x0.size,) * 2}")
    return x0, np.ascontiguousarray(inverse_hessian, dtype=np.float64)


_NOTES = {
    refit_kernels.USABLE: "",
    refit_kernels.BREAKS: "breaks a constraint",
    refit_kernels.NOT_CONVERGED: "not converged",
}
_DOUBTS = {
    refit_kernels.DOUBT_BREAKS: "warm start breaks a constraint",
    refit_kernels.DOUBT_NOT_CONVERGED: "warm start did not converge",
    refit_kernels.DOUBT_BOUND: "warm start ended on a bound",
}


def _garch_fit(
    free: IndexArray,
    faces: Faces,
    params: FloatArray,
    llf: float,
    inverse_hessian: FloatArray,
    converged: bool,
    evals: int,
    on_bound: npt.NDArray[np.bool_],
    forecast: float,
    why: int,
    gain: float,
    warm_llf: float,
    warm_note: int,
    cold_llf: float,
    cold_note: int,
    face_llf: float,
    face_note: int,
    kept_run: int,
) -> GarchFit:
    """The `GarchFit` of what `refit_kernels.fit_checked` returns, and `faces`."""
    runs = (
        ("warm", warm_llf, warm_note),
        ("cold", cold_llf, cold_note),
        ("face", face_llf, face_note),
    )
    made = [(start, value, note) for start, value, note in runs if note >= 0]
    kept = runs[int(kept_run)][0]
    attempts = tuple(
        Attempt(start, float(value), _NOTES[int(note)], start == kept)
        for start, value, note in made
    )
    doubt = _DOUBTS.get(
        int(why), f"warm start gained {gain:.3g} > {COLD_CHECK_GAIN}" if why else ""
    )
    checked = [start for start, _, _ in made if start != "face"]
    if kept == "face":
        message = "from a face's maximum (higher than the " + " and ".join(checked)
        message += " starts')"
    elif len(checked) == 1:
        message = f"{kept} start"
    elif kept == "cold":
        message = f"cold start ({doubt})"
    else:
        message = f"warm start (kept; {doubt})"
    labels = _constraint_template(tuple(free))[3]
    return GarchFit(
        params=params,
        param_names=_names(tuple(free)),
        loglikelihood=float(llf),
        converged=bool(converged),
        message=message,
        n_evals=int(evals),
        forecast_variance=float(forecast),
        inverse_hessian=inverse_hessian,
        on_bounds=tuple(labels[i] for i in np.flatnonzero(on_bound)),
        attempts=attempts,
        faces=faces,
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
    return _Problem(y, free)(_full_theta(params, free)[free])


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
    problem = _Problem(y, free)
    theta = _full_theta(params, free)
    if backcast is not None and not backcast > 0.0:
        raise ValueError(f"backcast: must be a positive variance, got {backcast}")
    start = problem.startup[0] if backcast is None else float(backcast)
    resids = problem.y - theta[0]
    return kernels.clipped_filter(resids, theta, start, *problem.startup[1:])
