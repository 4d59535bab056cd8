"""One-day-ahead variance forecasts for a whole return panel, point in time.

Row t of a forecast is the variance of the return of t+1 as known at the close of t,
from the asset's own returns up to t. Each asset is modelled on its own observations
(days without a new price do not update it), so assets that start late or miss an
exchange holiday need no special case.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from arch import arch_model
from arch.univariate.base import ARCHModel

from riskengine._typing import FloatArray, ReturnPanel
from riskengine.events import Event
from riskengine.specs import ModelSpec

PERCENT = 100.0
"""arch is fitted on percent returns (its data-scale advice); forecasts return /1e4."""


@dataclass(frozen=True)
class VolForecast:
    """Variance forecasts of a panel and the fallbacks taken to produce them.

    Attributes
    ----------
    variance : pd.DataFrame
        Daily variance (decimal returns squared) of t+1 known at the close of t,
        shape (n_days, n_assets); NaN before an asset's first return.
    model : ModelSpec
        The model that produced it.
    events : tuple of Event
        One ``model_fallback`` event per refit that fell back to EWMA.
    """

    variance: pd.DataFrame
    model: ModelSpec
    events: tuple[Event, ...]

    @property
    def volatility(self) -> pd.DataFrame:
        """Daily volatility forecasts (square root of `variance`)."""
        return np.sqrt(self.variance)


def ewma_variance(returns: FloatArray, decay: float) -> FloatArray:
    """EWMA of squared returns per column, decaying once per observation.

    Equals ``(r**2).ewm(alpha=1 - decay, adjust=True, ignore_na=True).mean()`` of
    pandas: a zero-mean RiskMetrics estimate, normalised by the sum of its weights so
    that it is unbiased from the first observation.

    Parameters
    ----------
    returns : ndarray
        Returns, shape (n_days, n_assets); NaN where an asset has no observation.
    decay : float
        Decay per observation, lambda in (0, 1).

    Returns
    -------
    ndarray
        Shape (n_days, n_assets): the forecast after each day's close, NaN before an
        asset's first observation, unchanged on days without an observation.
    """
    observed = ~np.isnan(returns)
    squared = np.where(observed, returns, 0.0) ** 2
    weighted_sum = np.zeros(returns.shape[1])
    weight_total = np.zeros(returns.shape[1])
    out = np.full_like(squared, np.nan)
    for t in range(returns.shape[0]):
        mask = observed[t]
        weighted_sum[mask] = decay * weighted_sum[mask] + squared[t, mask]
        weight_total[mask] = decay * weight_total[mask] + 1.0
        started = weight_total > 0
        out[t, started] = weighted_sum[started] / weight_total[started]
    return out


def forecast_variance(returns: ReturnPanel, spec: ModelSpec) -> VolForecast:
    """Point-in-time one-day-ahead variance forecasts of every asset of a panel.

    Parameters
    ----------
    returns : pd.DataFrame
        Simple returns, shape (n_days, n_assets), NaN where an asset has no new price.
    spec : ModelSpec
        The volatility model.

    Returns
    -------
    VolForecast
        Forecasts aligned with `returns`, and the fallback events.
    """
    values = returns.to_numpy(float)
    if spec.family == "ewma":
        return VolForecast(
            _as_frame(ewma_variance(values, spec.decay), returns), spec, ()
        )
    fallback = ewma_variance(values, spec.fallback_decay)
    variance = np.full_like(values, np.nan)
    events: list[Event] = []
    for j, asset in enumerate(returns.columns):
        rows = np.flatnonzero(~np.isnan(values[:, j]))
        path = fallback[rows, j].copy()
        for fit_end, reason in _garch_path(values[rows, j], spec, path):
            date = returns.index[rows[fit_end]]
            events.append(
                Event(
                    date,
                    "model_fallback",
                    str(asset),
                    f"{spec.name} fit on {asset} at {date.date()} failed ({reason}): "
                    f"EWMA {spec.fallback_decay} used until the next refit",
                    {"model": spec.name, "reason": reason},
                )
            )
        variance[rows, j] = path
    filled = pd.DataFrame(
        variance, index=returns.index, columns=returns.columns
    ).ffill()
    return VolForecast(filled, spec, tuple(events))


def _as_frame(values: FloatArray, like: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(values, index=like.index, columns=like.columns)


def _garch_path(
    returns: FloatArray, spec: ModelSpec, path: FloatArray
) -> list[tuple[int, str]]:
    """Overwrite `path` (pre-filled with the EWMA fallback) with GARCH forecasts.

    Refits on a trailing window every `spec.refit_every_days` observations, warm
    started from the previous good fit, and filters with fixed parameters in between.
    Segments whose fit failed keep the fallback.

    Returns
    -------
    list of (int, str)
        Observation index and reason of every refit that fell back.
    """
    y = returns * PERCENT
    failures: list[tuple[int, str]] = []
    previous: pd.Series | None = None
    for fit_end in range(spec.min_window_days - 1, len(y), spec.refit_every_days):
        segment_end = min(fit_end + spec.refit_every_days, len(y))
        window = y[max(0, fit_end + 1 - spec.window_days) : fit_end + 1]
        params, forecast, reason = fit_garch(window, spec, previous)
        if reason:
            failures.append((fit_end, reason))
            continue
        previous = params
        path[fit_end:segment_end] = (
            filter_garch(y[fit_end + 1 : segment_end], params, forecast) / PERCENT**2
        )
    return failures


def garch_model(y: FloatArray, spec: ModelSpec) -> ARCHModel:
    """The arch model a spec describes, on percent returns `y`."""
    return arch_model(
        y,
        mean="Constant" if spec.mean == "constant" else "Zero",
        vol="GARCH",
        p=1,
        o=1 if spec.family == "gjr" else 0,
        q=1,
        dist="t" if spec.distribution == "t" else "normal",
        rescale=False,
    )


def fit_garch(
    y: FloatArray, spec: ModelSpec, starting_values: pd.Series | None = None
) -> tuple[pd.Series, float, str]:
    """Fit the spec's GARCH on percent returns `y` with arch and forecast one day.

    Returns
    -------
    params : pd.Series
        Fitted parameters, arch's names.
    forecast : float
        Variance of the next observation, percent squared.
    reason : str
        Empty when the fit is usable; otherwise why not (failure, no convergence,
        non-stationary, non-finite).
    """
    model = garch_model(y, spec)
    start = None if starting_values is None else starting_values.to_numpy()
    try:
        with warnings.catch_warnings():
            # convergence is checked below and recorded as an event, not warned
            warnings.simplefilter("ignore")
            result = model.fit(disp="off", starting_values=start, show_warning=False)
            forecast = float(
                result.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]
            )
    except (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError) as exc:
        return pd.Series(dtype=float), np.nan, f"fit raised {type(exc).__name__}: {exc}"
    params = result.params
    persistence = (
        params["alpha[1]"] + params["beta[1]"] + 0.5 * params.get("gamma[1]", 0.0)
    )
    if result.convergence_flag != 0:
        reason = f"optimizer did not converge (flag {result.convergence_flag})"
    elif not (np.isfinite(params).all() and np.isfinite(forecast) and forecast > 0):
        reason = "non-finite parameters or forecast"
    elif persistence >= 1.0:
        reason = (
            f"persistence {persistence:.6f} >= 1 (non-stationary or on the boundary)"
        )
    else:
        reason = ""
    return params, forecast, reason


def filter_garch(y: FloatArray, params: pd.Series, forecast: float) -> FloatArray:
    """Variance forecasts with fixed parameters, starting from a one-day forecast.

    Parameters
    ----------
    y : ndarray
        Percent returns observed after the fit, shape (n,).
    params : pd.Series
        GARCH or GJR parameters with arch's names.
    forecast : float
        Forecast for the first of `y`, made at the end of the fit window.

    Returns
    -------
    ndarray
        Shape (n + 1,): `forecast`, then the forecast after each of `y`.
    """
    omega, alpha, beta = params["omega"], params["alpha[1]"], params["beta[1]"]
    gamma = params.get("gamma[1]", 0.0)
    residuals = y - params.get("mu", 0.0)
    out = np.empty(len(y) + 1)
    out[0] = forecast
    for i, e in enumerate(residuals):
        out[i + 1] = omega + (alpha + gamma * (e < 0)) * e * e + beta * out[i]
    return out
