"""One refit of one window, judged: the compiled fitter or arch, and why it is not used.

`fit_window` fits a window of percent returns: GARCH and GJR with normal or t errors
by `riskengine.volatility.fast_fit` (which re-checks a doubtful warm start from
arch's cold start), everything else, or a fast fit that does not converge, by arch
from the previous fit and from arch's cold start, the better usable run kept. The
`WindowFit` says why it cannot be used, if so (`FALLBACK_KINDS`): a failure,
non-convergence, a degenerate or broken fit, a non-invertible EGARCH filter, a fit
below arch's cold one, non-stationary parameters, H-day sums that overflow, or a
bound with ``on_boundary = "fallback"``. `fit_windows` fits an asset's windows in
turn, each from the last usable fit, the compiled fitter's in chains that release
the GIL; `riskengine.volatility.garch` runs it per asset, on threads.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
from arch import arch_model
from arch.univariate.base import ARCHModel, ARCHModelFixedResult, ARCHModelResult
from arch.utility.exceptions import StartingValueWarning
from scipy.optimize import minimize

from riskengine._typing import FloatArray
from riskengine.errors import DataError
from riskengine.specs import ModelSpec
from riskengine.volatility import _kernels as kernels
from riskengine.volatility import fast_fit
from riskengine.volatility.families import Core, GarchFamily, family_of

FALLBACK_KINDS = {
    "below the cold run": "below arch's cold run",  # first: it quotes the cold's
    "not converged": "did not converge",
    "degenerate": "(a degenerate fit)",
    "broken": "(a broken fit)",
    "not invertible": "not invertible",
    "non-stationary": "non-stationary",
    "sums overflow": "forecast overflows",
    "on a bound": "converged on a bound",
    "failed": "fit failed",
    "raised": "fit raised",
    "non-finite": "non-finite",
}
"""Why a refit falls back, by kind: the phrase its recorded reason contains."""
_ARCH_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError)
_ARCH_LOCK = threading.Lock()
"""One arch fit at a time: arch's fit changes the process-wide warning filters
(inside and outside `warnings.catch_warnings`), which is not thread-safe: fits in
parallel threads left an "ignore every warning" filter behind for the rest of the
process. The compiled fits, which release the GIL, still run in parallel."""


@dataclass(frozen=True, slots=True)
class WindowFit:
    """One refit, judged: parameters by arch's names, forecast in percent^2."""

    method: str
    names: tuple[str, ...]
    params: FloatArray
    loglikelihood: float
    forecast: float
    n_evals: int
    problem: str  # why the fit is replaced by the fallback; "" if it is used
    boundary: str  # the bounds it lies on; "" if none
    core: Core  # mu, omega, alpha, gamma, beta
    converged: bool  # a maximum was found: the next refit may start from it
    attempts: str  # the optimiser runs made, e.g. "arch-warm(-715.27)>arch-cold(...)"
    inverse_hessian: FloatArray | None = None
    # what the family's H-day sum needs beyond `core` (`GarchFamily.horizon_terms`)
    horizon_terms: FloatArray = field(default_factory=lambda: np.empty(0))
    faces: fast_fit.Faces | None = None  # a compiled fit's, for the next refit


_CORE = ("mu", "omega", "alpha[1]", "gamma[1]", "beta[1]")


def _judged(
    spec: ModelSpec,
    method: str,
    names: tuple[str, ...],
    params: FloatArray,
    results: tuple[float, float, int],
    problem: str,
    boundary: str,
    attempts: str,
    inverse_hessian: FloatArray | None = None,
    horizon_terms: FloatArray | None = None,
) -> WindowFit:
    """A `WindowFit`, with why it cannot be used.

    A failure, non-stationary parameters, H-day terms that overflow, a bound.
    """
    loglikelihood, forecast, n_evals = results
    terms = np.empty(0) if horizon_terms is None else horizon_terms
    named = dict(zip(names, map(float, params), strict=True))
    mu, omega, alpha, gamma, beta = (named.get(name, 0.0) for name in _CORE)
    family = family_of(spec)
    unit_root = family.unit_root(alpha, gamma, beta)
    if method == "arch" and family.persistence_on_bound:
        if abs(unit_root - 1.0) <= fast_fit.BOUND_TOL:
            boundary = ", ".join(filter(None, (boundary, "persistence 1")))
    finite = np.isfinite(params).all() and math.isfinite(forecast) and forecast > 0
    converged = bool(finite) and not problem
    if converged and unit_root > 1.0 + fast_fit.BOUND_TOL:
        problem = f"non-stationary (persistence {unit_root:.6f})"
    elif converged and not _sums_finite(
        family, (mu, omega, alpha, gamma, beta), terms, forecast
    ):
        problem = f"its {terms.size + 1}-day forecast overflows (a wild fit)"
    elif converged and boundary and spec.on_boundary == "fallback":
        problem = f"converged on a bound ({boundary})"
    elif not problem and not finite:
        problem = "non-finite parameters or forecast"
    return WindowFit(
        method,
        names,
        params,
        loglikelihood,
        forecast,
        n_evals,
        problem,
        boundary,
        (mu, omega, alpha, gamma, beta),
        converged,
        attempts,
        inverse_hessian,
        terms,
    )


def _sums_finite(
    family: GarchFamily, core: Core, terms: FloatArray, forecast: float
) -> bool:
    """Whether the fit's 1..H-day sum (H: `terms` + 1) from its forecast is finite."""
    if not np.isfinite(terms).all():
        return False
    with np.errstate(over="ignore"):  # an overflow is the answer
        total = family.aggregate(core, terms, np.array([forecast]), terms.size + 1)
    return bool(np.isfinite(total).all())


def fallback_kind(reason: str) -> str:
    """The kind (a `FALLBACK_KINDS` key) of a refit's fallback reason."""
    return next(kind for kind, phrase in FALLBACK_KINDS.items() if phrase in reason)


CHAIN_CHUNK = 32
"""Windows the compiled fitter fits in one call (`fit_windows`): long enough that
threads rarely wait for each other's Python, short enough that progress is told
and a stop is seen between calls."""


def fit_windows(
    y: FloatArray,
    spans: list[tuple[int, int]],
    spec: ModelSpec,
    horizon: int,
    on_fit: Callable[[], None],
) -> list[WindowFit]:
    """Fit the windows ``y[first:last + 1]`` in turn, each from the last usable fit.

    The fits `fit_window` gives called in a loop (with `previous` the last fit
    that converged); where the compiled fitter applies, `CHAIN_CHUNK` windows at a
    time in one call that releases the GIL. `on_fit` is called after each fit,
    and may raise to stop.
    """
    fits: list[WindowFit] = []
    previous: WindowFit | None = None
    bound_is_usable = spec.on_boundary != "fallback"
    faces = faces_for(spec)

    def add(fit: WindowFit) -> None:
        nonlocal previous, faces
        fits.append(fit)
        on_fit()
        if fit.converged:
            previous = fit
        if fit.faces is not None:
            faces = fit.faces

    while len(fits) < len(spans):
        begun = len(fits)
        options = _fast_options(spec, previous)
        if options is not None:
            chunk = np.array(spans[begun : begun + CHAIN_CHUNK]).reshape(-1, 2)
            results = fast_fit.fit_chain(
                y,
                chunk[:, 0],
                chunk[:, 1],
                **options,
                bound_is_usable=bound_is_usable,
                faces=faces,
            )
            for result in results:
                first, last = spans[len(fits)]
                if not result.converged:  # arch refits it cold, as fit_window does
                    tried = _tried(result)
                    add(fit_with_arch(y[first : last + 1], spec, None, horizon, tried))
                    break
                fit = _fast_window_fit(spec, result)
                add(fit)
                if fit.converged != (bound_is_usable or not fit.boundary):
                    break  # the chain started the next window from another fit
            if len(fits) > begun:
                continue
        first, last = spans[begun]  # a window the compiled chain does not take
        add(fit_window(y[first : last + 1], spec, previous, horizon, faces))
    return fits


def faces_for(spec: ModelSpec) -> fast_fit.Faces | None:
    """A fresh `fast_fit.Faces` for `spec`'s refits (None: not the compiled fitter)."""
    options = _fast_options(spec, None)
    if options is None:
        return None
    return fast_fit.new_faces(
        vol=options["vol"], dist=options["dist"], mean=options["mean"]
    )


def _fast_options(spec: ModelSpec, previous: WindowFit | None) -> dict[str, Any] | None:
    """`fast_fit.fit`'s model and warm start for `spec` after `previous`.

    None where the compiled fitter does not apply (EGARCH, skewed errors).
    """
    fast_vol = family_of(spec).fast_vol
    if fast_vol is None or spec.distribution not in ("normal", "t"):
        return None
    return {
        "vol": fast_vol,
        "dist": "t" if spec.distribution == "t" else "normal",
        "mean": spec.mean,
        "starting_values": None if previous is None else previous.params,
        "inverse_hessian": None if previous is None else previous.inverse_hessian,
    }


def fit_window(
    y: FloatArray,
    spec: ModelSpec,
    previous: WindowFit | None,
    horizon: int,
    faces: fast_fit.Faces | None = None,
) -> WindowFit:
    """Fit one window: the fast path where it applies and converges, else arch.

    `faces` are the asset's last refit's (`WindowFit.faces`; `faces_for` before
    the first).
    """
    tried: tuple[str, ...] = ()
    options = _fast_options(spec, previous)
    if options is not None:
        try:
            result = fast_fit.fit(y, **options, faces=faces)
        except DataError as exc:
            return _failed("fast", f"fit failed: {exc}", "fast(raised DataError)")
        if result.converged:
            return _fast_window_fit(spec, result)
        tried = _tried(result)
        previous = None  # the reference fit starts cold
    return fit_with_arch(y, spec, previous, horizon, tried)


def _fast_window_fit(spec: ModelSpec, result: fast_fit.GarchFit) -> WindowFit:
    """The `WindowFit` of a compiled fit that converged."""
    judged = _judged(
        spec,
        "fast",
        result.param_names,
        result.params,
        (result.loglikelihood, result.forecast_variance, result.n_evals),
        "",
        ", ".join(result.on_bounds),
        ">".join(_described("fast", run) for run in result.attempts),
        result.inverse_hessian,
    )
    return replace(judged, faces=result.faces)


def _tried(result: fast_fit.GarchFit) -> tuple[str, ...]:
    """The runs of a compiled fit that did not converge, none kept."""
    runs = (run._replace(kept=False) for run in result.attempts)
    return tuple(_described("fast", run) for run in runs)


def _described(method: str, run: fast_fit.Attempt) -> str:
    """A link of a fit's chain: ``arch-warm(-715.27)``, ``fast-cold(-9.1, kept)``."""
    notes = [f"{run.loglikelihood:.2f}"] if math.isfinite(run.loglikelihood) else []
    notes += [note for note in (run.note, "kept" if run.kept else "") if note]
    return f"{method}-{run.start}({', '.join(notes)})"


def _failed(method: str, reason: str, attempts: str) -> WindowFit:
    core = (0.0, 0.0, 0.0, 0.0, 0.0)
    return WindowFit(
        method, (), np.empty(0), -np.inf, np.nan, 0, reason, "", core, False, attempts
    )


def arch_model_for(y: FloatArray, spec: ModelSpec) -> ARCHModel:
    """The arch model a GARCH-family spec describes, on percent returns `y`."""
    family = family_of(spec)
    return arch_model(
        y,
        mean="Constant" if spec.mean == "constant" else "Zero",
        vol=family.arch_vol,
        p=1,
        o=family.o,
        q=1,
        dist=spec.distribution,
        rescale=False,
    )


class _ArchRun(NamedTuple):
    """One run of an optimiser on arch's likelihood of a window (`_arch_run`)."""

    result: ARCHModelResult | ARCHModelFixedResult | None  # None if it raised
    forecast: float  # one-step variance, percent^2
    problem: str  # why it cannot be used; "" if it can
    note: str  # the same in a word or two, for the chain of attempts


LLF_RTOL = 1e-6
"""A kept fit's log-likelihood is at least arch's cold run's, to this relative
tolerance (arch's own optimiser stops at a relative change of about 1e-9)."""


def fit_with_arch(
    y: FloatArray,
    spec: ModelSpec,
    previous: WindowFit | None,
    horizon: int,
    tried: tuple[str, ...] = (),
) -> WindowFit:
    """Fit one window with arch, from `previous` and from arch's cold start.

    A warm start can end on a worse local maximum than arch's own start reaches
    (arch's S&P 500, EGARCH-skew-t, 650 observations: warm -715.27, cold -705.43,
    the warm run held where the likelihood is flat in nu), and no cheap sign
    tells such a run from a good one: over 1040 monthly EGARCH-skew-t refits of 8
    real assets the warm run ended lower in 74, some after moving the parameters
    by under 1% and gaining under 0.05 from its start, as a sound warm start does.
    So with `previous` both run; this about doubles the cost of an arch refit.
    When neither is acceptable and one stopped before converging, a third run
    (`_scaled_run`, "polish") goes on from the higher of the points where they
    stopped, on the same likelihood per observation: arch's SLSQP takes a first
    step of the raw gradient, hundreds of units on a window of 1000 days, and a
    restart of arch from where it stopped often ends far lower. On the real file
    (EGARCH-skew-t, 3065 monthly refits) 117 refits ran a polish and 8 use it;
    from where arch stopped, a monotone L-BFGS-B run ended on a non-invertible
    or degenerate maximum in all of 47 windows that still fell back: there the
    likelihood peaks where the model breaks down.

    The usable run with the highest log-likelihood is kept (the earlier one on a
    tie), provided it is not below the cold run's by more than `LLF_RTOL`
    relative: a fit that replaces a failed cold run never has a worse likelihood
    than the point arch stopped at. `tried` are the runs already made (a fast
    fit that did not converge).
    """
    family = family_of(spec)
    model = arch_model_for(y, spec)
    floor = _constant_variance_loglikelihood(y, spec)
    starts: dict[str, FloatArray | None] = {"cold": None}
    if previous is not None:
        starts = {"warm": previous.params, **starts}
    runs = {
        start: _arch_run(model, values, floor, family)
        for start, values in starts.items()
    }
    reference = _llf(runs["cold"])

    def acceptable(run: _ArchRun) -> bool:
        return not run.problem and not _llf(run) < reference - LLF_RTOL * abs(reference)

    stopped = [run for run in runs.values() if run.note == "not converged"]
    if stopped and not any(map(acceptable, runs.values())):
        furthest = max(stopped, key=_llf).result
        assert furthest is not None  # it ran
        runs["polish"] = _scaled_run(model, furthest.params.to_numpy(), floor, family)
    kept = max(
        runs,
        key=lambda start: (
            acceptable(runs[start]),
            not runs[start].problem,  # a usable run below the cold one: say so
            _llf(runs[start]),
        ),
    )
    result, value, problem, note = runs[kept]
    if not problem and not acceptable(runs[kept]):
        problem = (
            f"its best usable run ({kept}, log-likelihood {_llf(runs[kept]):.2f}) "
            f"is below arch's cold run ({reference:.2f}, {runs['cold'].note})"
        )
        note = "below cold"
    runs[kept] = _ArchRun(result, value, problem, note)
    links = [
        _described("arch", fast_fit.Attempt(start, _llf(run), run.note, start == kept))
        for start, run in runs.items()
    ]
    chain = ">".join((*tried, *links))
    if result is None:
        return _failed("arch", problem, chain)
    params = result.params.to_numpy()
    names = tuple(map(str, result.params.index))
    resids = model.resids(model.starting_values())
    bounds = model.bounds() + model.volatility.bounds(resids)
    bounds += model.distribution.bounds(resids)
    on_bounds = [
        f"{name} at {bound:g}"
        for name, value, pair in zip(names, params, bounds, strict=True)
        for bound in pair
        if np.isfinite(bound)
        and abs(value - bound) <= fast_fit.BOUND_TOL * max(1.0, abs(bound))
    ]
    terms = family.horizon_terms(names, params, result.std_resid, horizon)
    return _judged(
        spec,
        "arch",
        names,
        params,
        (float(result.loglikelihood), value, 0),
        problem,
        ", ".join(on_bounds),
        chain,
        horizon_terms=terms,
    )


def _constant_variance_loglikelihood(y: FloatArray, spec: ModelSpec) -> float:
    """The normal log-likelihood of `y` at its sample mean (or 0) and variance."""
    centred = y - y.mean() if spec.mean == "constant" else y
    return -0.5 * y.size * (math.log(2.0 * math.pi * np.mean(centred**2)) + 1.0)


def _arch_run(
    model: ARCHModel, start: FloatArray | None, floor: float, family: GarchFamily
) -> _ArchRun:
    """Run arch's optimiser from `start` (arch's own if None) and judge the end."""
    try:
        # convergence is judged here and recorded as an event, not warned, and a
        # warm start arch finds infeasible is its cold start (the chain shows the
        # likelihood); the optimiser's floating-point noise is silenced in this
        # thread only, and the filters arch sets are restored on the way out
        with _ARCH_LOCK, warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", StartingValueWarning)
            result = model.fit(disp="off", starting_values=start, show_warning=False)
            forecast = result.forecast(horizon=1, reindex=False).variance
    except _ARCH_ERRORS as exc:
        name = type(exc).__name__
        return _ArchRun(None, np.nan, f"fit raised {name}: {exc}", f"raised {name}")
    message = "" if result.convergence_flag == 0 else result.optimization_result.message
    return _judged_run(
        model, result, float(forecast.iloc[-1, 0]), message, floor, family
    )


def _scaled_run(
    model: ARCHModel, start: FloatArray, floor: float, family: GarchFamily
) -> _ArchRun:
    """The likelihood arch fits, per observation, maximised by SLSQP from `start`.

    The objective, bounds, constraints, backcast and variance bounds are the ones
    arch's `fit` sets up (its `_loglikelihood`, `bounds` and `constraints`), and
    the end is judged, its log-likelihood taken, by arch's `fix`. Only the scale
    differs: SLSQP's first step is the gradient itself, about one unit per
    parameter here instead of hundreds.
    """
    resids = model.resids(model.starting_values())
    vol, dist = model.volatility, model.distribution
    backcast, var_bounds = vol.backcast(resids), vol.variance_bounds(resids)
    start_vol = vol.starting_values(resids)
    sigma2 = np.zeros(resids.size)
    vol.compute_variance(start_vol, resids, sigma2, backcast, var_bounds)
    std_resids = resids / np.sqrt(sigma2)
    bounds = model.bounds() + vol.bounds(resids) + dist.bounds(std_resids)
    blocks = [
        (*part.constraints(), part.num_params) for part in (model, vol, dist)
    ]  # each part's constraints on its own parameters, as arch stacks them
    matrix = np.zeros((sum(a.shape[0] for a, _, _ in blocks), start.size))
    row = column = 0
    for a, _, size in blocks:
        matrix[row : row + a.shape[0], column : column + size] = a
        row, column = row + a.shape[0], column + size
    offset = np.concatenate([b for _, b, _ in blocks])

    def objective(params: FloatArray) -> float:
        return float(model._loglikelihood(params, sigma2, backcast, var_bounds))

    constraints = (
        [
            {
                "type": "ineq",
                "fun": lambda p: matrix @ p - offset,
                "jac": lambda _: matrix,
            }
        ]
        if matrix.shape[0]
        else []
    )
    try:
        with _ARCH_LOCK, warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # steps outside bounds
            optimum = minimize(
                lambda p: objective(p) / resids.size,
                start,
                method="SLSQP",
                bounds=bounds,
                constraints=constraints,
                tol=SCALED_TOL,
                options={"maxiter": SCALED_MAXITER},
            )
            result = model.fix(optimum.x)
            forecast = result.forecast(horizon=1, reindex=False).variance
    except _ARCH_ERRORS as exc:
        name = type(exc).__name__
        return _ArchRun(None, np.nan, f"fit raised {name}: {exc}", f"raised {name}")
    message = "" if optimum.status == 0 else str(optimum.message)
    return _judged_run(
        model, result, float(forecast.iloc[-1, 0]), message, floor, family
    )


SCALED_TOL = 1e-9
"""`_scaled_run`'s SLSQP tolerance on the per-observation objective (arch's
default 1e-6 is on the sum, a relative 1e-9 on 1000 days)."""
SCALED_MAXITER = 500
"""`_scaled_run`'s SLSQP iterations (arch's SLSQP stops at scipy's 100)."""


def _judged_run(
    model: ARCHModel,
    result: ARCHModelResult | ARCHModelFixedResult,
    value: float,
    message: str,
    floor: float,
    family: GarchFamily,
) -> _ArchRun:
    """Judge the end of an optimiser run whose one-step forecast is `value`.

    `message` is why the optimiser did not converge ("" if it did). A forecast
    on the lower of arch's variance bounds for its row (or outside them) is a
    degenerate fit. Every family nests a constant variance (and every
    distribution the normal, as a limit), so an end whose log-likelihood is below
    `floor`, a constant normal variance's, by over 1% is no maximum but a broken
    fit (arch's EGARCH-skew-t on TLT to 2018-03-01: -3277 against -650, with a
    daily mean of 208%). A filter that does not forget its start-up value
    (`GarchFamily.filter_exponent` at or above 0) is not invertible: its
    forecasts are an accident of the start-up (EGARCH on LQD to 2024-12-04 forecast
    a variance 75,000 times the window's, and kept forecasting it for a month).
    """
    resids = model.resids(model.starting_values())  # arch's start-up, as in its fit
    next_resids = np.append(resids, 0.0)  # bounds of the forecast's row
    lower, upper = kernels.variance_bounds(next_resids, kernels.backcast(resids))
    lower, upper = lower[-1], upper[-1]
    if message:
        problem = f"optimizer did not converge ({message})"
        return _ArchRun(result, value, problem, "not converged")
    if not lower * (1.0 + fast_fit.BOUND_TOL) < value < upper:
        problem = (
            f"forecast {value:.3g} outside arch's variance bounds "
            f"[{lower:.3g}, {upper:.3g}] (a degenerate fit)"
        )
        return _ArchRun(result, value, problem, "degenerate")
    loglikelihood = float(result.loglikelihood)
    if not loglikelihood >= floor - 0.01 * abs(floor):
        problem = (
            f"log-likelihood {loglikelihood:.2f} below a constant variance's "
            f"{floor:.2f} (a broken fit)"
        )
        return _ArchRun(result, value, problem, "broken")
    named = dict(zip(result.params.index, result.params.to_numpy(float), strict=True))
    core = tuple(named.get(name, 0.0) for name in _CORE)
    exponent = family.filter_exponent(core, np.asarray(result.std_resid))
    if not exponent < 0.0:
        problem = (
            f"its filter does not forget its start-up (Lyapunov exponent "
            f"{exponent:.4f} >= 0: not invertible)"
        )
        return _ArchRun(result, value, problem, "not invertible")
    return _ArchRun(result, value, "", "")


def _llf(run: _ArchRun) -> float:
    """The run's log-likelihood; -inf if it raised or is not a number."""
    value = -np.inf if run.result is None else float(run.result.loglikelihood)
    return value if math.isfinite(value) else -np.inf
