"""One-day value at risk from a model's forecast and the distribution in force.

The VaR at level c (0.99) for the return of t+1, known at the close of t, is the
lower (1 - c) quantile of that return under the model:
``q_t = mu_t + sqrt(h_t) z_(1-c)``, with h_t the one-day variance forecast and
z the quantile of the model's standardised (zero mean, unit variance) error
distribution, computed by arch's own distribution (`ppf`):

- a GARCH fit in force at t: its constant mean mu and its distribution with the
  fitted parameters (normal; Student's t with the fitted nu, scaled to unit
  variance, ``t_nu^-1(1 - c) sqrt((nu - 2) / nu)``; Hansen's skewed t with the
  fitted eta and lambda);
- the fallback (before an asset's first fit, a refit rejected, or a filtered path
  that broke down, to the next refit) and EWMA or realised variance: the
  RiskMetrics convention, a normal with zero mean.

The return "exceeds" the VaR when it falls below q_t.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from arch.univariate import Normal, SkewStudent, StudentsT
from arch.univariate.distribution import Distribution

from riskengine._typing import BoolArray, FloatArray
from riskengine.volatility import MODELS, VolForecast
from riskengine.volatility.garch import PERCENT

_DISTRIBUTIONS: dict[str, type[Distribution]] = {
    "normal": Normal,
    "t": StudentsT,
    "skewt": SkewStudent,
}


@dataclass(frozen=True)
class InForce:
    """What produced each forecast of one asset: the fit in force or the fallback.

    Attributes
    ----------
    fallback : ndarray of bool
        True where the forecast came from the fallback, shape (n,).
    mean : ndarray
        The mean of the next return, decimal, shape (n,) (0 on the fallback).
    quantiles : dict
        VaR level -> the standardised quantile z in force, shape (n,).
    """

    fallback: BoolArray
    mean: FloatArray
    quantiles: dict[float, FloatArray]

    def value_at_risk(self, variance: FloatArray, level: float) -> FloatArray:
        """The return quantile ``mu + sqrt(h) z`` (negative: a loss) for `level`."""
        return self.mean + np.sqrt(variance) * self.quantiles[level]


def in_force(
    forecast: VolForecast,
    asset: str,
    dates: pd.DatetimeIndex,
    levels: tuple[float, ...],
) -> InForce:
    """The distribution behind each of an asset's forecasts, dated `dates`.

    Parameters
    ----------
    forecast : VolForecast
        The model's forecasts of a panel that holds `asset`.
    asset : str
        The asset.
    dates : DatetimeIndex
        The asset's own observation dates (sorted), where forecasts are made.
    levels : tuple of float
        VaR confidence levels, e.g. (0.99, 0.975).
    """
    normal = {level: _ppf(Normal(), 1.0 - level, ()) for level in levels}
    n = dates.size
    if not MODELS[forecast.model.family].fallback:  # EWMA, realised: never falls back
        quantiles = {level: np.full(n, z) for level, z in normal.items()}
        return InForce(np.zeros(n, bool), np.zeros(n), quantiles)
    fits = forecast.fits
    fits = fits[fits["asset"] == asset].sort_values("date", kind="stable")
    position = fits["date"].to_numpy().searchsorted(dates.to_numpy(), "right") - 1
    rejected = np.append(fits["status"].to_numpy() == "fallback", True)
    fallback = rejected[position]  # position -1 (before the first fit) -> True
    for event in forecast.events:
        if (
            event.kind == "model_fallback"
            and event.subject == asset
            and event.details.get("method") == "filter"
        ):
            fit_at = position[dates.searchsorted(event.date)]
            fallback |= (dates >= event.date) & (position == fit_at)
    mean = np.zeros(len(fits) + 1)
    if "mu" in fits:
        mean[:-1] = fits["mu"].to_numpy(float) / PERCENT
    distribution = _DISTRIBUTIONS[forecast.model.distribution]()
    names = distribution.parameter_names()
    parameters = fits[names].to_numpy(float) if names else np.empty((len(fits), 0))
    # a fit kept on a bound can pass it by the optimiser's tolerance (the compiled
    # fitter's nu just above 500): its quantile is the bound's
    bounds = np.array(distribution.bounds(np.empty(0))).reshape(-1, 2)
    parameters = np.clip(parameters, bounds[:, 0], bounds[:, 1])
    quantiles = {}
    for level in levels:
        z = np.full(len(fits) + 1, normal[level])
        for k, values in enumerate(parameters):
            if not rejected[k]:
                z[k] = _ppf(distribution, 1.0 - level, values)
        quantiles[level] = np.where(fallback, normal[level], z[position])
    return InForce(fallback, np.where(fallback, 0.0, mean[position]), quantiles)


def _ppf(distribution: Distribution, tail: float, parameters: Sequence[float]) -> float:
    """The standardised `tail` quantile of an arch distribution."""
    return float(np.asarray(distribution.ppf([tail], np.asarray(parameters)))[0])
