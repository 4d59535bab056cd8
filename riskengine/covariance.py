"""Covariance forecasts: vol forecasts times an EWMA correlation, always PSD."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray, ReturnPanel


class EwmaCorrelation:
    """Zero-mean EWMA correlation, updated one row of returns at a time.

    Each pair is weighted over the rows on which both assets have a return, with
    weights decaying once per row: the pairwise analogue of
    ``(r_i * r_j).ewm(halflife=..., adjust=True).mean()`` in pandas, normalised to a
    correlation and projected onto the PSD cone (see `nearest_correlation`).

    Parameters
    ----------
    n_assets : int
        Number of assets.
    half_life_days : float
        Half-life of the weights, in rows.
    """

    def __init__(self, n_assets: int, half_life_days: float) -> None:
        self.decay = 0.5 ** (1.0 / half_life_days)
        self.products = np.zeros((n_assets, n_assets))
        self.weights = np.zeros((n_assets, n_assets))

    def update(self, returns: FloatArray) -> None:
        """Add one row of returns (NaN where an asset has none)."""
        observed = ~np.isnan(returns)
        filled = np.where(observed, returns, 0.0)
        mask = observed.astype(float)
        self.products *= self.decay
        self.products += np.outer(filled, filled)
        self.weights *= self.decay
        self.weights += np.outer(mask, mask)

    def matrix(self) -> FloatArray:
        """Current correlation: symmetric PSD, unit diagonal; 0 for unseen pairs."""
        return _correlation(self.products, self.weights)


def ewma_correlations(
    returns: ReturnPanel, half_life_days: float, at: pd.DatetimeIndex
) -> FloatArray:
    """`EwmaCorrelation` matrices known at the close of each date of `at`.

    Parameters
    ----------
    returns : pd.DataFrame
        Simple returns, shape (n_days, n_assets), NaN where an asset has no return.
    half_life_days : float
        Half-life of the weights, in rows of `returns`.
    at : pd.DatetimeIndex
        Dates (a subset of ``returns.index``) at which to report the matrix.

    Returns
    -------
    ndarray
        Shape (len(at), n_assets, n_assets).
    """
    wanted = returns.index.get_indexer(at)
    if (wanted < 0).any():
        raise KeyError(f"date {at[wanted < 0][0].date()} is not in the returns index")
    values = returns.to_numpy(float)
    state = EwmaCorrelation(values.shape[1], half_life_days)
    out = np.empty((len(at), values.shape[1], values.shape[1]))
    slot = {t: k for k, t in enumerate(wanted)}
    for t in range(wanted.max(initial=-1) + 1):
        state.update(values[t])
        if t in slot:
            out[slot[t]] = state.matrix()
    return out


def _correlation(products: FloatArray, weights: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        moments = np.where(weights > 0, products / weights, 0.0)
        scale = np.sqrt(np.diag(moments))
        corr = moments / np.outer(scale, scale)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    np.fill_diagonal(corr, 1.0)
    return nearest_correlation(corr)


def nearest_correlation(matrix: FloatArray, floor: float = 0.0) -> FloatArray:
    """Symmetric PSD matrix with unit diagonal close to `matrix` (eigenvalue clipping).

    Parameters
    ----------
    matrix : ndarray
        Square, approximately a correlation matrix.
    floor : float
        Smallest eigenvalue kept before the diagonal is rescaled to one.
    """
    symmetric = 0.5 * (matrix + matrix.T)
    eigenvalues, vectors = np.linalg.eigh(symmetric)
    if eigenvalues[0] >= floor:
        return symmetric
    clipped = (vectors * np.maximum(eigenvalues, floor)) @ vectors.T
    scale = np.sqrt(np.diag(clipped))
    scale[scale == 0] = 1.0
    result = clipped / np.outer(scale, scale)
    return 0.5 * (result + result.T)


def covariance(volatility: FloatArray, correlation: FloatArray) -> FloatArray:
    """Covariance ``diag(vol) @ corr @ diag(vol)``, symmetric by construction."""
    cov = correlation * np.outer(volatility, volatility)
    return 0.5 * (cov + cov.T)
