"""Covariance forecasts: vol forecasts times an EWMA or DCC correlation, always PSD.

Each correlation model is one `CorrelationModel` object in `CORRELATIONS`, keyed by
`CovarianceSpec.correlation`: it says which rows it reads and starts the state
(`Correlation`) that the walk updates at each close.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from numba import njit
from scipy import optimize

from riskengine._typing import BoolArray, FloatArray, ReturnPanel
from riskengine.registry import Registry
from riskengine.specs import CovarianceSpec

DCC_MIN_WINDOW_DAYS = 250
"""Complete rows DCC needs to estimate (a, b) (or the whole window if shorter)."""


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
        _ewma_update(self.products, self.weights, returns, self.decay)

    def matrix(self, assets: BoolArray | None = None) -> FloatArray:
        """Current correlation of `assets` (default all): PSD, unit diagonal.

        Unseen pairs are 0. Only the selected block is projected, so an asset left
        out (say one with two days of history) cannot move the others.
        """
        block = np.ix_(assets, assets) if assets is not None else np.s_[:, :]
        return nearest_correlation(_pairwise(self.products[block], self.weights[block]))


class DccCorrelation:
    """DCC(1,1) correlation of standardised residuals, updated one row at a time.

    Engle's (2002) dynamic conditional correlation with correlation targeting::

        Q_t+1 = (1 - a - b) S + a z_t z_t' + b Q_t,
        R_t+1 = diag(Q_t+1)^-1/2 Q_t+1 diag(Q_t+1)^-1/2,

    where z_t are standardised residuals (returns over their own one-day vol
    forecast). Every `refit_every_days` rows, S becomes the pairwise correlation
    of the last `window_days` rows, and (a, b) are re-estimated by quasi maximum
    likelihood (the second DCC stage) on the rows of that window where every
    asset is observed, once there are `min_window_days` of them. Until then
    ``a = b = 0``: a constant correlation S. Between refits the recursion runs
    with fixed parameters; an asset without a residual on a row leaves its row
    and column of Q unchanged. The matrix is projected onto the correlation
    matrices (see `nearest_correlation`), so it is always symmetric PSD with a
    unit diagonal.

    Parameters
    ----------
    n_assets : int
        Number of assets.
    window_days : int
        Rows in the trailing estimation window.
    refit_every_days : int
        Rows between refits.
    min_window_days : int
        Complete rows (every asset observed) needed to estimate (a, b).

    Attributes
    ----------
    a_, b_ : float
        Current parameters; ``a_ >= 0``, ``b_ >= 0``, ``a_ + b_ < 1``.
    n_fits_ : int
        Successful estimations so far.
    refits_ : list of tuple
        Every refit as (row count so far, outcome): ``"ok"``, or why (a, b) were
        kept (``"too few complete rows"``, ``"optimizer failed"``).
    """

    def __init__(
        self,
        n_assets: int,
        *,
        window_days: int = 1000,
        refit_every_days: int = 21,
        min_window_days: int = 250,
    ) -> None:
        if not 2 <= min_window_days <= window_days or refit_every_days < 1:
            raise ValueError(
                "need 2 <= min_window_days <= window_days and refit_every_days >= 1,"
                f" got {min_window_days}, {window_days}, {refit_every_days}"
            )
        self.window_days = window_days
        self.refit_every_days = refit_every_days
        self.min_window_days = min_window_days
        self.a_, self.b_, self.n_fits_ = 0.0, 0.0, 0
        self.refits_: list[tuple[int, str]] = []
        self._rows: deque[FloatArray] = deque(maxlen=window_days)
        self._target = np.eye(n_assets)
        self._q = np.eye(n_assets)
        self._since_refit = 0
        self._n_rows = 0

    def update(self, residuals: FloatArray) -> None:
        """Add one row of standardised residuals (NaN where an asset has none)."""
        row = np.asarray(residuals, dtype=float)
        self._rows.append(row)
        self._n_rows += 1
        self._since_refit += 1
        if self._since_refit >= self.refit_every_days:
            self._since_refit = 0
            self._refit()
        observed = ~np.isnan(row)
        filled = np.where(observed, row, 0.0)
        updated = (1.0 - self.a_ - self.b_) * self._target
        updated += self.a_ * np.outer(filled, filled) + self.b_ * self._q
        self._q = np.where(np.outer(observed, observed), updated, self._q)

    def matrix(self, assets: BoolArray | None = None) -> FloatArray:
        """Correlation forecast of `assets` (default all) for the next row.

        Symmetric PSD with a unit diagonal; only the selected block is projected.
        """
        q = self._q[np.ix_(assets, assets)] if assets is not None else self._q
        scale = np.sqrt(np.diag(q))
        return nearest_correlation(q / np.outer(scale, scale))

    def _refit(self) -> None:
        window = np.array(self._rows)
        observed = ~np.isnan(window)
        filled = np.where(observed, window, 0.0)
        pairs = observed.T.astype(float) @ observed
        products = filled.T @ filled
        self._target = _pairwise(products, pairs)
        complete = window[observed.all(axis=1)]
        if complete.shape[0] < self.min_window_days:
            self.refits_.append((self._n_rows, "too few complete rows"))
            return
        fitted = fit_dcc(complete, start=(self.a_, self.b_))
        if fitted is None:
            self.refits_.append((self._n_rows, "optimizer failed"))
            return
        self.a_, self.b_ = fitted
        self.n_fits_ += 1
        self.refits_.append((self._n_rows, "ok"))


class Correlation(Protocol):
    """A correlation forecast's state, updated one row at a time (the walk's view)."""

    def update(self, row: FloatArray) -> None:
        """Add one row (NaN where an asset has none)."""

    def matrix(self, assets: BoolArray | None = None) -> FloatArray:
        """Correlation of `assets` (default all) for the next row (PSD)."""


class CorrelationModel(ABC):
    """One correlation model, named by `CovarianceSpec.correlation`.

    Attributes
    ----------
    name : str
        The `CovarianceSpec.correlation` value.
    fallback : str
        What the model uses while it cannot estimate itself (recorded by its
        state); empty when it always can.
    """

    name: str
    fallback: str = ""

    @abstractmethod
    def rows(self, returns: FloatArray, vol: FloatArray) -> FloatArray:
        """The rows the model reads at each close, shape (n_days, n_assets).

        Parameters
        ----------
        returns : ndarray
            Returns, NaN where an asset has none.
        vol : ndarray
            One-day vol forecasts made at each close, same shape.
        """

    @abstractmethod
    def start(self, spec: CovarianceSpec, n_assets: int) -> Correlation:
        """A fresh state for `n_assets` assets, before any row."""


@dataclass(frozen=True)
class EwmaModel(CorrelationModel):
    """`EwmaCorrelation` of the returns, with `correlation_half_life_days`."""

    name: str = "ewma"

    def rows(self, returns: FloatArray, vol: FloatArray) -> FloatArray:
        """The returns."""
        return returns

    def start(self, spec: CovarianceSpec, n_assets: int) -> Correlation:
        """A fresh `EwmaCorrelation`."""
        return EwmaCorrelation(n_assets, spec.correlation_half_life_days)


@dataclass(frozen=True)
class DccModel(CorrelationModel):
    """`DccCorrelation` of the returns standardised by the vol forecasts."""

    name: str = "dcc"
    fallback: str = (
        "the window's constant correlation (a = b = 0) until enough complete rows; "
        "the previous (a, b) when an estimation fails"
    )

    def rows(self, returns: FloatArray, vol: FloatArray) -> FloatArray:
        """Returns over the vol forecast made at the close before (NaN without)."""
        previous = np.vstack([np.full(vol.shape[1], np.nan), vol[:-1]])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(previous > 0, returns / previous, np.nan)

    def start(self, spec: CovarianceSpec, n_assets: int) -> Correlation:
        """A fresh `DccCorrelation` with the spec's window and refit interval."""
        return DccCorrelation(
            n_assets,
            window_days=spec.dcc_window_days,
            refit_every_days=spec.dcc_refit_every_days,
            min_window_days=min(DCC_MIN_WINDOW_DAYS, spec.dcc_window_days),
        )


CORRELATIONS: Registry[CorrelationModel] = Registry(
    "correlation model", "covariance.correlation", [EwmaModel(), DccModel()]
)
"""Every correlation model by `CovarianceSpec.correlation` name."""


def fit_dcc(
    residuals: FloatArray, start: tuple[float, float] = (0.0, 0.0)
) -> tuple[float, float] | None:
    """Quasi-ML estimate of DCC(1,1)'s (a, b) with correlation targeting.

    Maximises ``-1/2 sum_t (log det R_t + z_t' R_t^-1 z_t)`` with Q started at
    and targeted to the sample correlation of the residuals, over
    ``a = p s``, ``b = p (1 - s)`` with persistence ``p`` in [0, 0.999] and
    share ``s`` in [0, 1] (so ``a, b >= 0`` and ``a + b < 1``).

    Parameters
    ----------
    residuals : ndarray
        Standardised residuals without NaN, shape (n_rows, n_assets).
    start : tuple of float
        Starting (a, b), e.g. the previous estimate; (0, 0) starts from
        (0.02, 0.95).

    Returns
    -------
    tuple of float or None
        (a, b), or None if the optimiser fails.
    """
    z = np.ascontiguousarray(residuals, dtype=float)
    scale = np.sqrt(np.mean(z * z, axis=0))
    target = (z.T @ z / z.shape[0]) / np.outer(scale, scale)
    a0, b0 = start if sum(start) > 0 else (0.02, 0.95)
    x0 = np.array([min(a0 + b0, 0.998), a0 / (a0 + b0)])

    def objective(x: FloatArray) -> float:
        return _dcc_negative_loglik(x[0] * x[1], x[0] * (1.0 - x[1]), z, target)

    result = optimize.minimize(
        objective, x0, method="L-BFGS-B", bounds=[(0.0, 0.999), (0.0, 1.0)]
    )
    if not (result.success and np.isfinite(result.fun)):
        return None
    persistence, share = map(float, result.x)
    return persistence * share, persistence * (1.0 - share)


@njit(cache=True)
def _ewma_update(
    products: FloatArray, weights: FloatArray, returns: FloatArray, decay: float
) -> None:
    """Decay both sums in place, then add the row's products over observed pairs."""
    n = returns.size
    for i in range(n):
        for j in range(n):
            products[i, j] *= decay
            weights[i, j] *= decay
            if not (np.isnan(returns[i]) or np.isnan(returns[j])):
                products[i, j] += returns[i] * returns[j]
                weights[i, j] += 1.0


@njit(cache=True)
def _dcc_negative_loglik(
    a: float, b: float, z: FloatArray, target: FloatArray
) -> float:
    """``1/2 sum_t (log det R_t + z_t' R_t^-1 z_t)``, inf if some R_t is not PD."""
    n_rows, n = z.shape
    q = target.copy()
    lower = np.zeros((n, n))
    solved, scale = np.empty(n), np.empty(n)
    total = 0.0
    for t in range(n_rows):
        for i in range(n):
            scale[i] = math.sqrt(q[i, i])
        for i in range(n):  # Cholesky factor of R_t, then L y = z_t
            for j in range(i + 1):
                value = q[i, j] / (scale[i] * scale[j])
                for k in range(j):
                    value -= lower[i, k] * lower[j, k]
                if i == j:
                    if value <= 0.0:
                        return math.inf
                    lower[i, i] = math.sqrt(value)
                else:
                    lower[i, j] = value / lower[j, j]
            value = z[t, i]
            for k in range(i):
                value -= lower[i, k] * solved[k]
            solved[i] = value / lower[i, i]
            total += 2.0 * math.log(lower[i, i]) + solved[i] * solved[i]
        for i in range(n):
            for j in range(n):
                q[i, j] = (
                    (1.0 - a - b) * target[i, j] + a * z[t, i] * z[t, j] + b * q[i, j]
                )
    return 0.5 * total


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


def _pairwise(products: FloatArray, weights: FloatArray) -> FloatArray:
    """Pairwise correlations from (weighted) sums of products, 0 where undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        moments = np.where(weights > 0, products / weights, 0.0)
        scale = np.sqrt(np.diag(moments))
        corr = moments / np.outer(scale, scale)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    np.fill_diagonal(corr, 1.0)
    return corr


def nearest_correlation(matrix: FloatArray, floor: float = 0.0) -> FloatArray:
    """Symmetric PSD matrix with unit diagonal close to `matrix` (eigenvalue clipping).

    A matrix whose Cholesky factorisation succeeds (positive definite, up to
    rounding) is returned symmetrised as it is; only the others pay for an
    eigendecomposition, O(n^3) with a constant about ten times larger.

    Parameters
    ----------
    matrix : ndarray
        Square, approximately a correlation matrix.
    floor : float
        Smallest eigenvalue kept before the diagonal is rescaled to one.
    """
    symmetric = 0.5 * (matrix + matrix.T)
    if _positive_definite(symmetric - floor * np.eye(len(symmetric))):
        return symmetric  # the usual case: a Cholesky factor is ~10x cheaper than eigh
    eigenvalues, vectors = np.linalg.eigh(symmetric)
    if eigenvalues[0] >= floor:
        return symmetric
    clipped = (vectors * np.maximum(eigenvalues, floor)) @ vectors.T
    scale = np.sqrt(np.diag(clipped))
    scale[scale == 0] = 1.0
    result = clipped / np.outer(scale, scale)
    return 0.5 * (result + result.T)


def _positive_definite(matrix: FloatArray) -> bool:
    """Whether `matrix` has a Cholesky factor: positive definite up to rounding."""
    try:
        factor = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return bool(np.isfinite(factor).all())  # LAPACK passes NaN through


def covariance(volatility: FloatArray, correlation: FloatArray) -> FloatArray:
    """Covariance ``diag(vol) @ corr @ diag(vol)``, symmetric by construction."""
    cov = correlation * np.outer(volatility, volatility)
    return 0.5 * (cov + cov.T)
