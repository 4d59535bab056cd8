"""Compiled refits: one window's fit with its checks, and a chain of windows.

`fit_checked` is `riskengine.volatility.fast_fit.fit` in one compiled call: the warm
run, the doubt that calls for arch's cold start, the cold run, the choice between
them, and the runs from the faces of the constraints (`FACES`). `fit_chain` runs
it on an asset's windows in turn, each warm-started from the last usable fit,
without the GIL: threads fitting different assets then run in parallel instead of
taking turns at Python between kernel calls.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from riskengine._typing import BoolArray, FloatArray, IndexArray
from riskengine.volatility._kernels import (
    cold_start,
    fit_from,
    forecast,
    hessian,
    nonfinite_and_spread,
    sample_startup,
)

MIN_OBS = 10
"""The fewest observations a window is fitted on."""
NO_RUN, USABLE, BREAKS, NOT_CONVERGED = -1, 0, 1, 2
"""How a run ended (`fit_checked`'s ``warm_note`` and ``cold_note``)."""
NO_DOUBT, DOUBT_BREAKS, DOUBT_NOT_CONVERGED, DOUBT_BOUND, DOUBT_GAIN = 0, 1, 2, 3, 4
"""Why a warm run was checked from arch's cold start (`fit_checked`'s ``why``)."""
KEPT_WARM, KEPT_COLD, KEPT_FACE = 0, 1, 2
"""Which run a fit kept (`fit_checked`'s ``kept``)."""
BETA_ZERO, BACKCAST_HELD = 0, 1
FACES = 2
"""Faces of the constraints from which flat likelihoods climb to local maxima that
warm and cold runs rarely reach: ``beta = 0`` (an ARCH(1)) and ``alpha = 0,
beta = 1`` with omega on its lower bound (the variance held at the backcast)."""
FACE_MARGIN = 1.0
"""A face's last maximum this far below the fit (in log-likelihood) is not updated."""
FACE_GAIN = 1e-9
"""A face's maximum must beat the fit by this much, relative, to count as higher:
the same maximum reached from two starts differs by less."""
FACE_REFRESH = 32
"""A face's maximum is sought afresh after this many fits (a kept one goes stale)."""

Settings = tuple[
    FloatArray, tuple[FloatArray, FloatArray], tuple[float, float, float], int
]
"""The constraints ``A``, the right-hand side's parts, the tolerances and the
iteration limit (what `fit_from` takes after the start)."""
Faces = tuple[FloatArray, FloatArray, IndexArray]
"""Each face's last maximum (NaN: none), its inverse Hessian, and the fits since
it was last sought afresh."""


@njit(cache=True, nogil=True)
def positive_inverse(matrix: FloatArray) -> FloatArray:
    """Inverse of a Hessian with its eigenvalues made positive.

    Absolute values, floored: the result can start a quasi-Newton method anywhere.
    """
    values, vectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    values = np.maximum(np.abs(values), 1e-10 * np.max(np.abs(values)))
    return (vectors / values) @ vectors.T


@njit(cache=True, nogil=True)
def _run(
    y: FloatArray,
    free: IndexArray,
    student: bool,
    sample: tuple[float, FloatArray, FloatArray, float],
    x0: FloatArray,
    inv_hess0: FloatArray,
    settings: Settings,
    on_face: bool = False,
    floor: float = -np.inf,
) -> tuple[FloatArray, float, FloatArray, bool, int, BoolArray, float]:
    """`fit_from` `x0`; without `inv_hess0` (size 0), from a finite-difference one."""
    extra = 0
    if inv_hess0.size == 0:
        inv_hess0 = positive_inverse(hessian(y, free, student, sample, x0))
        extra = 1 + x0.shape[0]
    a_mat, b_parts, tolerances, max_iter = settings
    x, llf, inv_hess, converged, evals, on_bound, start_llf = fit_from(
        y, free, student, sample, x0, inv_hess0, a_mat, b_parts, tolerances,
        max_iter, on_face, floor,
    )  # fmt: skip
    evals = evals + extra if evals else 0
    return x, llf, inv_hess, converged, evals, on_bound, start_llf


@njit(cache=True, nogil=True)
def _note(converged: bool, evals: int) -> int:
    """`USABLE`, `BREAKS` or `NOT_CONVERGED`."""
    if not evals:
        return BREAKS
    return USABLE if converged else NOT_CONVERGED


@njit(cache=True, nogil=True)
def new_faces(k: int) -> Faces:
    """`Faces` before any fit: no maximum known (NaN rows)."""
    return (
        np.full((FACES, k), np.nan),
        np.zeros((FACES, k, k)),
        np.zeros(FACES, dtype=np.int64),
    )


@njit(cache=True, nogil=True)
def face_start(face: int, free: IndexArray, x: FloatArray, target: float) -> FloatArray:
    """`x` moved onto `face`: where the face's own maximum is sought from.

    The mean and nu are `x`'s; on ``beta = 0``, alpha = 0.05 (gamma 0) with omega
    matching the sample variance `target`; at ``alpha = 0, beta = 1``, omega = 0
    (moved onto its lower bound by `fit_from`) and gamma 0.
    """
    theta = np.zeros(6)
    for i in range(free.shape[0]):
        theta[free[i]] = x[i]
    theta[3] = 0.0
    if face == BETA_ZERO:
        theta[1], theta[2], theta[4] = 0.95 * target, 0.05, 0.0
    else:
        theta[1], theta[2], theta[4] = 0.0, 0.0, 1.0
    return theta[free]


@njit(cache=True, nogil=True)
def fit_checked(
    y: FloatArray,
    free: IndexArray,
    student: bool,
    warm_x: FloatArray,
    warm_inv_hess: FloatArray,
    settings: Settings,
    cold_check_gain: float,
    faces: Faces,
) -> tuple[
    FloatArray, float, FloatArray, bool, int, BoolArray, float, int, float, float, int,
    float, int, float, int, int,
]:  # fmt: skip
    """Fit one window from `warm_x` (size 0: none), re-checked from other starts.

    As `riskengine.volatility.fast_fit.fit` documents it: the cold run is made when
    there is no warm start, or the warm run breaks a constraint, does not converge,
    ends on a bound or gains more than `cold_check_gain`; the warm run is kept if
    (converged, log-likelihood) is higher. Then each of the `FACES` has its
    maximum updated on this window, from the last one (in `faces`, updated in
    place; sought afresh from `face_start` the first time and every
    `FACE_REFRESH` fits), unless that starts more than `FACE_MARGIN` below the
    fit. A face maximum above the fit starts a run free to leave the face, kept
    if it converges higher.

    Returns
    -------
    params, loglikelihood, inverse Hessian, converged, evaluations, on_bound,
    forecast, why, warm_gain, warm_llf, warm_note, cold_llf, cold_note, face_llf,
    face_note, kept
        Of the kept run, then the one-step forecast (NaN if the run broke a
        constraint), why the cold run was made (a ``DOUBT_*`` code), what the warm
        run gained from its start (NaN if none), each run's log-likelihood and
        note (a run code, `NO_RUN` if not made; a face's run only if kept), and
        which run was kept (``KEPT_*``).
    """
    sample = sample_startup(y, free)
    warm_note, warm_llf, gain = NO_RUN, -np.inf, np.nan
    x, llf, inv_hess, converged, evals = warm_x, -np.inf, warm_inv_hess, False, 0
    on_bound = np.zeros(settings[0].shape[0], dtype=np.bool_)
    why, kept = NO_DOUBT, KEPT_WARM
    cold_llf, cold_note, used = -np.inf, NO_RUN, 0
    if warm_x.shape[0]:
        x, llf, inv_hess, converged, evals, on_bound, start_llf = _run(
            y, free, student, sample, warm_x, warm_inv_hess, settings
        )
        warm_note, warm_llf, gain = _note(converged, evals), llf, llf - start_llf
        used = evals
        if not evals:
            why = DOUBT_BREAKS
        elif not converged:
            why = DOUBT_NOT_CONVERGED
        elif on_bound.any():
            why = DOUBT_BOUND
        elif gain > cold_check_gain:
            why = DOUBT_GAIN
    if why != NO_DOUBT or not warm_x.shape[0]:
        # the warm run's inverse Hessian speeds up the cold run, unless the warm
        # run was held on a bound: its curvature there misleads (it can send the
        # cold run to that bound's local maximum instead of arch's)
        reuse = warm_note == USABLE and not on_bound.any()
        start_hess = inv_hess if reuse else np.empty((0, 0))
        c_x, c_llf, c_hess, c_conv, c_evals, c_bound, _ = _run(
            y, free, student, sample, cold_start(y, free, sample), start_hess, settings
        )
        cold_llf, cold_note = c_llf, _note(c_conv, c_evals)
        used += c_evals
        if warm_note == NO_RUN or (c_conv if converged != c_conv else c_llf >= llf):
            x, llf, inv_hess, converged = c_x, c_llf, c_hess, c_conv
            evals, on_bound, kept = c_evals, c_bound, KEPT_COLD
    face_llf, face_note = -np.inf, NO_RUN
    if converged:
        maxima, hessians, ages = faces
        for face in range(FACES):
            ages[face] += 1
            known = not np.isnan(maxima[face, 0]) and ages[face] <= FACE_REFRESH
            floor = llf - FACE_MARGIN if known else -np.inf
            f_x, f_llf, f_hess, f_conv, f_evals, _, _ = _run(
                y,
                free,
                student,
                sample,
                maxima[face] if known else face_start(face, free, x, sample[3]),
                hessians[face] if known else np.empty((0, 0)),
                settings,
                True,
                floor,
            )
            used += f_evals
            if f_evals and not f_conv and f_llf < floor:
                continue  # too far below the fit to be worth the run: kept as it was
            maxima[face, 0] = np.nan
            if not f_conv:
                continue
            maxima[face], hessians[face] = f_x, f_hess
            if not known:
                ages[face] = 0
            higher = llf + FACE_GAIN * abs(llf)
            if f_llf <= higher:
                continue
            # above the fit: climb from the face's maximum, free to leave it
            b_x, b_llf, b_hess, b_conv, b_evals, b_bound, _ = _run(
                y, free, student, sample, f_x, f_hess, settings
            )
            used += b_evals
            if b_conv and b_llf > higher:
                x, llf, inv_hess, evals, on_bound = b_x, b_llf, b_hess, b_evals, b_bound
                face_llf, face_note, kept = b_llf, USABLE, KEPT_FACE
    value = forecast(y, free, sample, x) if evals else np.nan
    return (
        x, llf, inv_hess, converged, used, on_bound, value, why, gain, warm_llf,
        warm_note, cold_llf, cold_note, face_llf, face_note, kept,
    )  # fmt: skip


@njit(cache=True, nogil=True)
def fit_chain(
    y: FloatArray,
    firsts: IndexArray,
    lasts: IndexArray,
    free: IndexArray,
    student: bool,
    warm_x: FloatArray,
    warm_inv_hess: FloatArray,
    settings: Settings,
    cold_check_gain: float,
    bound_is_usable: bool,
    faces: Faces,
) -> tuple[
    int,
    FloatArray,
    FloatArray,
    FloatArray,
    BoolArray,
    IndexArray,
    BoolArray,
    FloatArray,
    IndexArray,
    FloatArray,
    FloatArray,
    IndexArray,
    IndexArray,
    FloatArray,
    FloatArray,
    IndexArray,
]:
    """`fit_checked` on the windows ``y[first:last + 1]`` in turn.

    Each window is warm-started from the last converged fit before it (`warm_x`,
    `warm_inv_hess` before the first; a fit on a bound counts only if
    `bound_is_usable`), with `faces` (updated in place) carried from window to
    window. Stops after the first fit that does not converge, and before a window
    too short, not finite or constant (which the caller reports).

    Returns
    -------
    done, params, loglikelihood, inverse Hessians, converged, evaluations,
    on_bound, forecast, why, warm_gain, warm, cold and face log-likelihoods,
    warm, cold and face notes, kept, and `faces` after each window
        ``done`` windows were fitted; the arrays hold one row per window, as
        `fit_checked` returns them, with the three log-likelihoods as the columns
        of one array and the three notes likewise.
    """
    n, k, m = firsts.shape[0], free.shape[0], settings[0].shape[0]
    params, llfs = np.full((n, k), np.nan), np.full(n, -np.inf)
    inv_hess = np.zeros((n, k, k))
    converged, evals = np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.int64)
    on_bound, forecasts = np.zeros((n, m), dtype=np.bool_), np.full(n, np.nan)
    whys, gains = np.zeros(n, dtype=np.int64), np.full(n, np.nan)
    run_llfs, notes = np.full((n, 3), -np.inf), np.full((n, 3), NO_RUN)
    kept = np.zeros(n, dtype=np.int64)
    face_maxima = np.full((n, FACES, k), np.nan)
    face_hessians = np.zeros((n, FACES, k, k))
    face_ages = np.zeros((n, FACES), dtype=np.int64)
    done = 0
    for i in range(n):
        window = y[firsts[i] : lasts[i] + 1]
        nonfinite, spread = nonfinite_and_spread(window)
        if window.shape[0] < MIN_OBS or nonfinite or not spread > 0.0:
            break
        fit = fit_checked(
            window, free, student, warm_x, warm_inv_hess, settings, cold_check_gain,
            faces,
        )  # fmt: skip
        x, llf, hess, ok, used, bound, value, why, gain = fit[:9]
        params[i], llfs[i], inv_hess[i], converged[i], evals[i] = x, llf, hess, ok, used
        on_bound[i], forecasts[i], whys[i], gains[i] = bound, value, why, gain
        run_llfs[i, 0], notes[i, 0] = fit[9], fit[10]
        run_llfs[i, 1], notes[i, 1] = fit[11], fit[12]
        run_llfs[i, 2], notes[i, 2], kept[i] = fit[13], fit[14], fit[15]
        face_maxima[i], face_hessians[i], face_ages[i] = faces
        done = i + 1
        if not ok:
            break
        if bound_is_usable or not bound.any():
            warm_x, warm_inv_hess = x, hess
    return (
        done, params, llfs, inv_hess, converged, evals, on_bound, forecasts,
        whys, gains, run_llfs, notes, kept, face_maxima, face_hessians, face_ages,
    )  # fmt: skip
