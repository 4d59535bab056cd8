"""GARCH-family forecasts of a panel: refits (compiled or arch), filtering, events."""

from __future__ import annotations

import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from arch import arch_model
from arch.univariate.base import ARCHModel, ARCHModelFixedResult, ARCHModelResult
from arch.utility.exceptions import StartingValueWarning
from scipy.optimize import minimize

from riskengine._typing import FloatArray, ReturnPanel
from riskengine.errors import DataError
from riskengine.events import Event
from riskengine.progress import Progress
from riskengine.specs import ModelSpec
from riskengine.volatility import _kernels as kernels
from riskengine.volatility import fast_fit
from riskengine.volatility.families import Core, GarchFamily, family_of
from riskengine.volatility.refit_schedule import period_close_rows, refit_sessions
from riskengine.volatility.simple import ewma_variance

PERCENT = 100.0
"""GARCH models are fitted on percent returns (arch's data-scale advice)."""
FIT_COLUMNS = [
    "asset",
    "date",
    "observations",
    "method",
    "status",
    "reason",
    "attempts",
]
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
class _Fit:
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
) -> _Fit:
    """A `_Fit`, with why it cannot be used.

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
    return _Fit(
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


def garch_panel(
    returns: ReturnPanel,
    spec: ModelSpec,
    horizon: int,
    start: pd.Timestamp | None,
    refit_dates: pd.DatetimeIndex | None,
    progress: Progress | None = None,
) -> tuple[FloatArray, FloatArray, tuple[Event, ...], pd.DataFrame]:
    """Forecasts, H-day sums, events and refit records of a GARCH-family spec.

    `progress` is told of each refit, counted over all assets, from the worker
    threads (see `riskengine.progress`).
    """
    values = returns.to_numpy(float)
    fallback = ewma_variance(values, spec.fallback_decay)
    one_day, total = np.full_like(values, np.nan), np.full_like(values, np.nan)
    events: list[Event] = []
    records: list[dict[str, object]] = []
    observed = [np.flatnonzero(~np.isnan(values[:, j])) for j in range(values.shape[1])]
    sessions = refit_sessions(returns.index, spec)
    ends = [
        _refit_ends(returns.index[rows], spec, start, refit_dates, sessions)
        for rows in observed
    ]
    fitted = _FitCounter(progress, f"{spec.name} fits", sum(map(len, ends)))

    def asset_path(j: int) -> _AssetPath:
        rows = observed[j]
        y, base = values[rows, j] * PERCENT, fallback[rows, j] * PERCENT**2
        try:
            return _asset_path(y, base, spec, horizon, ends[j], fitted)
        except _Stopped:
            raise
        except BaseException as exc:  # the panel fails: the other threads stop
            fitted.fail(exc)
            raise

    # assets are independent, and the compiled fits release the GIL: one thread a core
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        try:
            paths = list(pool.map(asset_path, range(values.shape[1])))
        except _Stopped:  # an earlier asset stopped for a later one's failure
            assert fitted.failure is not None  # recorded before the stop
            raise fitted.failure from None
        except BaseException as exc:  # e.g. Ctrl-C: the threads stop at their next fit
            fitted.fail(exc)
            raise
    for j, asset in enumerate(map(str, returns.columns)):
        rows = observed[j]
        if rows.size == 0:
            continue
        dates = returns.index[rows]
        path, path_total, refits, breakdowns = paths[j]
        one_day[rows, j] = path / PERCENT**2
        total[rows, j] = path_total / PERCENT**2
        early = _before_first_fit(asset, dates, spec, start)
        if early is not None:
            events.append(early)
        for row, reason in breakdowns:
            events.append(_event(spec, asset, dates[row], reason, "filter"))
        fit_dates = dates[[fit_end for fit_end, _, _ in refits]]  # boxed at once
        for (_, fit, observations), date in zip(refits, fit_dates, strict=True):
            status = "fallback" if fit.problem else "boundary" if fit.boundary else "ok"
            records.append(
                {
                    "asset": asset,
                    "date": date,
                    "observations": observations,
                    "method": fit.method,
                    "status": status,
                    "reason": fit.problem or fit.boundary,
                    "attempts": fit.attempts,
                    "loglikelihood": fit.loglikelihood,
                    "n_evals": fit.n_evals,
                    **dict(zip(fit.names, fit.params, strict=True)),
                }
            )
            if fit.problem or fit.boundary:
                reason = fit.problem or f"on a bound ({fit.boundary})"
                events.append(_event(spec, asset, date, reason, fit.method))
    fits = pd.DataFrame.from_records(records, columns=None if records else FIT_COLUMNS)
    return one_day, total, tuple(events), fits


def _before_first_fit(
    asset: str, dates: pd.DatetimeIndex, spec: ModelSpec, start: pd.Timestamp | None
) -> Event | None:
    """The fallback used before an asset's first fit, if a needed row uses it.

    Dated at the asset's first observation on or after `start` (its first if
    None), and stating only what is known there: how many observations it has
    so far. None if it already has `min_window_days` by then.
    """
    first = 0 if start is None else int(dates.searchsorted(start))
    if first >= dates.size or first + 1 >= spec.min_window_days:
        return None
    reason = (
        f"{first + 1} observation{'s' if first else ''} so far, fewer than "
        f"min_window_days ({spec.min_window_days})"
    )
    action = f"EWMA {spec.fallback_decay} used until the first fit"
    return _event(spec, asset, dates[first], reason, "none", action)


def _event(
    spec: ModelSpec,
    asset: str,
    date: pd.Timestamp,
    reason: str,
    method: str,
    action: str = "",
) -> Event:
    """A ``model_fallback`` event, or ``model_boundary`` for a bound kept."""
    kept = reason.startswith("on a bound")
    action = action or (
        "kept (on_boundary = 'keep')"
        if kept
        else f"EWMA {spec.fallback_decay} used until the next successful refit"
    )
    message = f"{spec.name} on {asset} at {date.date()}: {reason}; {action}"
    details = {"model": spec.name, "reason": reason, "method": method}
    kind = "model_boundary" if kept else "model_fallback"
    return Event(date, kind, asset, message, details)


_AssetPath = tuple[
    FloatArray, FloatArray, list[tuple[int, "_Fit", int]], list[tuple[int, str]]
]
"""One asset's forecasts, H-day sums, refits and filter breakdowns (`_asset_path`)."""


class _Stopped(Exception):
    """Raised in a worker thread whose refits are no longer wanted."""


class _FitCounter:
    """Refits done over all assets, told to a `Progress` from the worker threads.

    `stopped` is set when the panel's computation fails (an error in one asset's
    thread, or Ctrl-C in the main one), so that the threads still fitting stop
    at their next refit instead of finishing; `failure` is why.
    """

    def __init__(self, progress: Progress | None, label: str, total: int) -> None:
        self.progress, self.label, self.total = progress, label, total
        self.done = 0
        self.stopped = threading.Event()
        self.failure: BaseException | None = None
        self._lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        """Record the first failure, then stop every thread."""
        with self._lock:
            if self.failure is None:
                self.failure = exc
        self.stopped.set()

    def tick(self) -> None:
        """One more refit done."""
        if self.progress is None:
            return
        with self._lock:
            self.done += 1
            self.progress(self.label, self.done, self.total)


def _refit_ends(
    dates: pd.DatetimeIndex,
    spec: ModelSpec,
    start: pd.Timestamp | None,
    refit_dates: pd.DatetimeIndex | None,
    sessions: pd.DatetimeIndex | None,
) -> list[int]:
    """Indices (in the asset's own observations) of the last observation of each fit.

    Every `refit_every_days` observations from the first full window; the last
    observation at or before each of `refit_dates`; or, given the calendar's
    `sessions`, the rows that close a month, quarter or year
    (`refit_schedule.period_close_rows`) from the first full window. Fits whose
    forecasts all precede `start` are dropped.
    """
    first = spec.min_window_days - 1
    if sessions is not None:
        closes = period_close_rows(dates, sessions, spec.refit_on)
        ends = [int(p) for p in closes if p >= first]
    elif spec.refit_on == "rebalance" and refit_dates is not None:
        positions = dates.searchsorted(refit_dates, side="right") - 1
        ends = sorted({int(p) for p in positions if p >= first})
    else:
        ends = list(range(first, len(dates), spec.refit_every_days))
    if start is not None and ends:
        needed = int(dates.searchsorted(start))  # first observation on or after start
        keep = [k for k, end in enumerate(ends) if end >= needed]
        begin = max(keep[0] - 1, 0) if keep else len(ends) - 1
        ends = ends[begin:]
    return ends


def _asset_path(
    y: FloatArray,
    fallback: FloatArray,
    spec: ModelSpec,
    horizon: int,
    ends: list[int],
    fitted: _FitCounter,
) -> _AssetPath:
    """One asset's forecasts in percent^2 on its own observations.

    Parameters
    ----------
    y : ndarray
        Percent returns, shape (n,).
    fallback : ndarray
        The fallback's one-day forecasts, percent^2, shape (n,).
    fitted : _FitCounter
        Told of each refit; once it is stopped, the next refit raises `_Stopped`.

    Returns
    -------
    one_day, horizon_sum, refits, breakdowns
        Forecasts after each observation, their H-day sums, each refit as
        (index of the window's last observation, fit, window length), and the
        rows (with why) from which a filtered variance left arch's variance
        bounds or its H-day sum was not finite (the fallback is used from there
        to the next refit).
    """
    family = family_of(spec)
    one_day, total = fallback.copy(), fallback * horizon
    refits: list[tuple[int, _Fit, int]] = []
    breakdowns: list[tuple[int, str]] = []
    previous: _Fit | None = None
    stops = [*ends[1:], y.size] if ends else []
    for fit_end, stop in zip(ends, stops, strict=True):
        first = (
            0 if spec.window == "expanding" else max(0, fit_end + 1 - spec.window_days)
        )
        if fitted.stopped.is_set():
            raise _Stopped(str(fitted.failure))
        fit = _fit(y[first : fit_end + 1], spec, previous, horizon)
        fitted.tick()
        refits.append((fit_end, fit, fit_end + 1 - first))
        if fit.converged:
            previous = fit
        if fit.problem:
            continue
        resids, window = y[first:stop] - fit.core[0], fit_end + 1 - first
        with np.errstate(all="ignore"):  # a path that blows up is judged below
            segment = family.filter(resids[window:], fit.core, fit.forecast)
            summed = family.aggregate(fit.core, fit.horizon_terms, segment, horizon)
        lower, upper = kernels.path_bounds(resids, window)
        inside = (lower < segment) & (segment < upper)
        broken = np.flatnonzero(~(inside & (summed < horizon * upper)))
        if broken.size:  # from that row on only: earlier rows did not know
            row = int(broken[0])
            if inside[row]:
                reason = (
                    f"the {horizon}-day sum of the forecasts {summed[row]:.3g} is "
                    f"not below {horizon} times arch's upper variance bound "
                    f"{upper[row]:.3g}"
                )
            else:
                reason = (
                    f"the filtered variance {segment[row]:.3g} is outside arch's "
                    f"variance bounds [{lower[row]:.3g}, {upper[row]:.3g}]"
                )
            breakdowns.append((fit_end + row, reason))
            segment, summed = segment[:row], summed[:row]
        one_day[fit_end : fit_end + segment.size] = segment
        total[fit_end : fit_end + segment.size] = summed
    return one_day, total, refits, breakdowns


def _fit(y: FloatArray, spec: ModelSpec, previous: _Fit | None, horizon: int) -> _Fit:
    """Fit one window: the fast path where it applies and converges, else arch."""
    tried: tuple[str, ...] = ()
    fast_vol = family_of(spec).fast_vol
    if fast_vol is not None and spec.distribution in ("normal", "t"):
        hessian = None if previous is None else previous.inverse_hessian
        try:
            result = fast_fit.fit(
                y,
                vol=fast_vol,
                dist="t" if spec.distribution == "t" else "normal",
                mean=spec.mean,
                starting_values=None if previous is None else previous.params,
                inverse_hessian=hessian,
            )
        except DataError as exc:
            return _failed("fast", f"fit failed: {exc}", "fast(raised DataError)")
        if result.converged:
            return _judged(
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
        tried = tuple(
            _described("fast", run._replace(kept=False)) for run in result.attempts
        )
        previous = None  # the reference fit starts cold
    return _fit_arch(y, spec, previous, horizon, tried)


def _described(method: str, run: fast_fit.Attempt) -> str:
    """A link of a fit's chain: ``arch-warm(-715.27)``, ``fast-cold(-9.1, kept)``."""
    notes = [f"{run.loglikelihood:.2f}"] if math.isfinite(run.loglikelihood) else []
    notes += [note for note in (run.note, "kept" if run.kept else "") if note]
    return f"{method}-{run.start}({', '.join(notes)})"


def _failed(method: str, reason: str, attempts: str) -> _Fit:
    core = (0.0, 0.0, 0.0, 0.0, 0.0)
    return _Fit(
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


def _fit_arch(
    y: FloatArray,
    spec: ModelSpec,
    previous: _Fit | None,
    horizon: int,
    tried: tuple[str, ...] = (),
) -> _Fit:
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
