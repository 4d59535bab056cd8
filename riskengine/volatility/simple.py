"""Variance forecasts without estimation: EWMA (RiskMetrics) and realised variance."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import signal

from riskengine._typing import FloatArray


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
    out = np.full(returns.shape, np.nan)
    for j in range(returns.shape[1]):
        rows = np.flatnonzero(~np.isnan(returns[:, j]))
        if rows.size:
            recursion = ([1.0], [1.0, -decay])
            weighted_sum = signal.lfilter(*recursion, returns[rows, j] ** 2)
            weight_total = signal.lfilter(*recursion, np.ones(rows.size))
            out[rows, j] = weighted_sum / weight_total
            out[rows[0] :, j] = pd.Series(out[rows[0] :, j]).ffill().to_numpy()
    return out


def realised_variance(returns: FloatArray, window_days: int) -> FloatArray:
    """Mean squared return over each asset's last `window_days` observations.

    Parameters
    ----------
    returns : ndarray
        Returns, shape (n_days, n_assets); NaN where an asset has no observation.
    window_days : int
        Observations averaged; fewer (all so far) until an asset has that many.

    Returns
    -------
    ndarray
        Shape (n_days, n_assets), NaN on days without an observation.
    """
    out = np.full(returns.shape, np.nan)
    for j in range(returns.shape[1]):
        rows = np.flatnonzero(~np.isnan(returns[:, j]))
        total = np.concatenate(([0.0], np.cumsum(returns[rows, j] ** 2)))
        ends = np.arange(1, rows.size + 1)
        starts = np.maximum(ends - window_days, 0)
        out[rows, j] = (total[ends] - total[starts]) / (ends - starts)
    return out
