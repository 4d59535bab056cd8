"""GARCH-family forecasts of a panel: refits (compiled or arch), filtering, events."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray, ReturnPanel
from riskengine.events import Event
from riskengine.progress import Progress
from riskengine.specs import ModelSpec
from riskengine.volatility import _kernels as kernels
from riskengine.volatility.families import family_of
from riskengine.volatility.refit_schedule import period_close_rows, refit_sessions
from riskengine.volatility.simple import ewma_variance
from riskengine.volatility.window_fit import WindowFit, fit_windows

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
    FloatArray, FloatArray, list[tuple[int, WindowFit, int]], list[tuple[int, str]]
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
        Told of each refit; once it is stopped, the next refit told raises
        `_Stopped` (within one chain of `window_fit.CHAIN_CHUNK` windows).

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
    refits: list[tuple[int, WindowFit, int]] = []
    breakdowns: list[tuple[int, str]] = []
    stops = [*ends[1:], y.size] if ends else []
    firsts = [
        0 if spec.window == "expanding" else max(0, end + 1 - spec.window_days)
        for end in ends
    ]

    def on_fit() -> None:
        fitted.tick()
        if fitted.stopped.is_set():
            raise _Stopped(str(fitted.failure))

    if fitted.stopped.is_set():
        raise _Stopped(str(fitted.failure))
    fits = fit_windows(y, list(zip(firsts, ends, strict=True)), spec, horizon, on_fit)
    for fit_end, stop, first, fit in zip(ends, stops, firsts, fits, strict=True):
        refits.append((fit_end, fit, fit_end + 1 - first))
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
