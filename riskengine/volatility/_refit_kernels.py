"""Compiled refits: one window's fit with its cold check, and a chain of windows.

`fit_checked` is `riskengine.volatility.fast_fit.fit` in one compiled call: the warm
run, the doubt that calls for arch's cold start, the cold run and the choice
between them. `fit_chain` runs it on an asset's windows in turn, each warm-started
from the last usable fit, without the GIL: threads fitting different assets then
run in parallel instead of taking turns at Python between kernel calls.
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

Settings = tuple[
    FloatArray, tuple[FloatArray, FloatArray], tuple[float, float, float], int
]
"""The constraints ``A``, the right-hand side's parts, the tolerances and the
iteration limit (what `fit_from` takes after the start)."""


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
) -> tuple[FloatArray, float, FloatArray, bool, int, BoolArray, float]:
    """`fit_from` `x0`; without `inv_hess0` (size 0), from a finite-difference one."""
    extra = 0
    if inv_hess0.size == 0:
        inv_hess0 = positive_inverse(hessian(y, free, student, sample, x0))
        extra = 1 + x0.shape[0]
    a_mat, b_parts, tolerances, max_iter = settings
    x, llf, inv_hess, converged, evals, on_bound, start_llf = fit_from(
        y, free, student, sample, x0, inv_hess0, a_mat, b_parts, tolerances, max_iter
    )
    evals = evals + extra if evals else 0
    return x, llf, inv_hess, converged, evals, on_bound, start_llf


@njit(cache=True, nogil=True)
def _note(converged: bool, evals: int) -> int:
    """`USABLE`, `BREAKS` or `NOT_CONVERGED`."""
    if not evals:
        return BREAKS
    return USABLE if converged else NOT_CONVERGED


@njit(cache=True, nogil=True)
def fit_checked(
    y: FloatArray,
    free: IndexArray,
    student: bool,
    warm_x: FloatArray,
    warm_inv_hess: FloatArray,
    settings: Settings,
    cold_check_gain: float,
) -> tuple[
    FloatArray, float, FloatArray, bool, int, BoolArray, float, int, float, float, int,
    float, int, bool,
]:  # fmt: skip
    """Fit one window from `warm_x` (size 0: none), re-checked from arch's cold start.

    As `riskengine.volatility.fast_fit.fit` documents it: the cold run is made when
    there is no warm start, or the warm run breaks a constraint, does not converge,
    ends on a bound or gains more than `cold_check_gain`; the warm run is kept if
    (converged, log-likelihood) is higher.

    Returns
    -------
    params, loglikelihood, inverse Hessian, converged, evaluations, on_bound,
    forecast, why, warm_gain, warm_llf, warm_note, cold_llf, cold_note, kept_cold
        Of the kept run, then the one-step forecast (NaN if the run broke a
        constraint), why the cold run was made (a ``DOUBT_*`` code), what the warm
        run gained from its start (NaN if none), and each run's log-likelihood and
        note (a run code, `NO_RUN` if not made).
    """
    sample = sample_startup(y, free)
    warm_note, warm_llf, gain = NO_RUN, -np.inf, np.nan
    x, llf, inv_hess, converged, evals = warm_x, -np.inf, warm_inv_hess, False, 0
    on_bound = np.zeros(settings[0].shape[0], dtype=np.bool_)
    if warm_x.shape[0]:
        x, llf, inv_hess, converged, evals, on_bound, start_llf = _run(
            y, free, student, sample, warm_x, warm_inv_hess, settings
        )
        warm_note, warm_llf, gain = _note(converged, evals), llf, llf - start_llf
        if not evals:
            why = DOUBT_BREAKS
        elif not converged:
            why = DOUBT_NOT_CONVERGED
        elif on_bound.any():
            why = DOUBT_BOUND
        elif gain > cold_check_gain:
            why = DOUBT_GAIN
        else:
            value = forecast(y, free, sample, x)
            return (
                x, llf, inv_hess, converged, evals, on_bound, value,
                NO_DOUBT, gain, warm_llf, warm_note, -np.inf, NO_RUN, False,
            )  # fmt: skip
        # the warm run's inverse Hessian speeds up the cold run, unless the warm
        # run was held on a bound: its curvature there misleads (it can send the
        # cold run to that bound's local maximum instead of arch's)
        reuse = converged and not on_bound.any()
        start_hess = inv_hess if reuse else np.empty((0, 0))
    else:
        why, start_hess = NO_DOUBT, np.empty((0, 0))
    c_x, c_llf, c_hess, c_conv, c_evals, c_bound, _ = _run(
        y, free, student, sample, cold_start(y, free, sample), start_hess, settings
    )
    cold_note = _note(c_conv, c_evals)
    keep_warm = False
    if warm_note != NO_RUN:
        keep_warm = converged if converged != c_conv else llf > c_llf
        c_evals += evals
    if keep_warm:
        value = forecast(y, free, sample, x) if evals else np.nan
        return (
            x, llf, inv_hess, converged, c_evals, on_bound, value,
            why, gain, warm_llf, warm_note, c_llf, cold_note, False,
        )  # fmt: skip
    value = forecast(y, free, sample, c_x) if cold_note != BREAKS else np.nan
    return (
        c_x, c_llf, c_hess, c_conv, c_evals, c_bound, value,
        why, gain, warm_llf, warm_note, c_llf, cold_note, True,
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
    BoolArray,
]:
    """`fit_checked` on the windows ``y[first:last + 1]`` in turn.

    Each window is warm-started from the last converged fit before it (`warm_x`,
    `warm_inv_hess` before the first; a fit on a bound counts only if
    `bound_is_usable`). Stops after the first fit that does not converge, and
    before a window too short, not finite or constant (which the caller reports).

    Returns
    -------
    done, params, loglikelihood, inverse Hessians, converged, evaluations,
    on_bound, forecast, why, warm_gain, warm and cold log-likelihoods, warm and
    cold notes, kept_cold
        ``done`` windows were fitted; the arrays hold one row per window, as
        `fit_checked` returns them, with the two log-likelihoods as the columns of
        one array and the two notes likewise.
    """
    n, k, m = firsts.shape[0], free.shape[0], settings[0].shape[0]
    params, llfs = np.full((n, k), np.nan), np.full(n, -np.inf)
    inv_hess = np.zeros((n, k, k))
    converged, evals = np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.int64)
    on_bound, forecasts = np.zeros((n, m), dtype=np.bool_), np.full(n, np.nan)
    whys, gains = np.zeros(n, dtype=np.int64), np.full(n, np.nan)
    run_llfs, notes = np.full((n, 2), -np.inf), np.full((n, 2), NO_RUN)
    kept_cold = np.zeros(n, dtype=np.bool_)
    done = 0
    for i in range(n):
        window = y[firsts[i] : lasts[i] + 1]
        nonfinite, spread = nonfinite_and_spread(window)
        if window.shape[0] < MIN_OBS or nonfinite or not spread > 0.0:
            break
        fit = fit_checked(
            window, free, student, warm_x, warm_inv_hess, settings, cold_check_gain
        )
        x, llf, hess, ok, used, bound, value, why, gain = fit[:9]
        w_llf, w_note, c_llf, c_note, cold = fit[9:]
        params[i], llfs[i], inv_hess[i], converged[i], evals[i] = x, llf, hess, ok, used
        on_bound[i], forecasts[i], whys[i], gains[i] = bound, value, why, gain
        kept_cold[i] = cold
        run_llfs[i, 0], notes[i, 0], run_llfs[i, 1], notes[i, 1] = (
            w_llf,
            w_note,
            c_llf,
            c_note,
        )
        done = i + 1
        if not ok:
            break
        if bound_is_usable or not bound.any():
            warm_x, warm_inv_hess = x, hess
    return (
        done, params, llfs, inv_hess, converged, evals, on_bound, forecasts,
        whys, gains, run_llfs, notes, kept_cold,
    )  # fmt: skip
