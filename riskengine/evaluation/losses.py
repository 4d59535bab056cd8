"""Variance-forecast losses against realised variance: QLIKE and squared error.

The realised variance of the H days after t is the sum of the asset's next H
squared daily returns (its own observations), the proxy Patton (2011) shows keeps
both losses robust: a noisy but unbiased proxy ranks forecasts as the true
variance would. Losses are in percent^2 (returns times 100), so that QLIKE's
logarithm and the squared errors are numbers of ordinary size.

QLIKE is ``log h + RV / h`` (h the forecast): Patton's ``RV / h - log(RV / h) - 1``
less ``-log RV - 1``, which does not depend on the forecast, so model differences
(and the model confidence set built on them) are the same, and a day with a zero
return (RV = 0) has a finite loss.
"""

from __future__ import annotations

import numpy as np

from riskengine._typing import FloatArray

PERCENT = 100.0
"""Losses are computed on percent returns."""


def realised_variance(returns: FloatArray, horizon_days: int) -> FloatArray:
    """Sum of the next `horizon_days` squared returns after each observation.

    Parameters
    ----------
    returns : ndarray
        One asset's returns on its own observations (no NaN), shape (n,).
    horizon_days : int
        H, the observations summed.

    Returns
    -------
    ndarray
        Shape (n,): element i is ``sum(returns[i+1 : i+1+H] ** 2)``, NaN for the
        last H observations (their H days are not all known).
    """
    squares = np.asarray(returns, float) ** 2
    out = np.full(squares.size, np.nan)
    if squares.size > horizon_days:  # summed window by window: no cancellation
        windows = np.lib.stride_tricks.sliding_window_view(squares[1:], horizon_days)
        out[: windows.shape[0]] = windows.sum(axis=1)
    return out


def qlike(realised: FloatArray, forecast: FloatArray) -> FloatArray:
    """QLIKE loss ``log h + RV / h`` in percent^2, element by element.

    Parameters
    ----------
    realised, forecast : ndarray
        Realised and forecast variances of decimal returns, same shape.
    """
    h = np.asarray(forecast, float) * PERCENT**2
    return np.log(h) + np.asarray(realised, float) * PERCENT**2 / h


def squared_error(realised: FloatArray, forecast: FloatArray) -> FloatArray:
    """Squared error ``(RV - h)^2`` of variances in percent^2, element by element."""
    difference = (
        np.asarray(realised, float) - np.asarray(forecast, float)
    ) * PERCENT**2
    return difference**2
