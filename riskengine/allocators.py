"""Allocators in closed form: base weights, then scaling to a volatility target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from riskengine._typing import FloatArray


@dataclass(frozen=True)
class Allocation:
    """Target weights of the active assets at one decision date.

    Attributes
    ----------
    weights : ndarray
        Fractions of NAV, shape (n_active,); the rest is cash (negative: borrowed).
    ex_ante_vol : float
        Daily portfolio vol of `weights` under the forecast covariance.
    scale : float
        Factor applied to the base weights (1 when there is no vol target).
    leverage_capped : bool
        True when the gross leverage cap bound the vol-target scaling.
    """

    weights: FloatArray
    ex_ante_vol: float
    scale: float
    leverage_capped: bool


def inverse_vol_weights(vol: FloatArray) -> FloatArray:
    """Weights proportional to 1 / vol, summing to one."""
    inverse = 1.0 / vol
    return inverse / inverse.sum()


def sleeve_equal_risk_weights(
    vol: FloatArray, cov: FloatArray, sleeves: Sequence[str]
) -> FloatArray:
    """Inverse vol within each sleeve; sleeves sized to equal stand-alone vol.

    Each sleeve's inverse-vol portfolio gets a weight proportional to one over its
    own forecast vol, so every sleeve contributes the same stand-alone risk.
    """
    labels = np.asarray(sleeves)
    weights = np.zeros_like(vol)
    for sleeve in dict.fromkeys(sleeves):
        members = labels == sleeve
        inner = np.zeros_like(vol)
        inner[members] = inverse_vol_weights(vol[members])
        weights += inner / np.sqrt(inner @ cov @ inner)
    return weights / weights.sum()


def fixed_sleeve_weights(
    sleeves: Sequence[str], sleeve_weights: Mapping[str, float]
) -> FloatArray:
    """Each sleeve's fixed weight split equally over its active assets.

    A sleeve without an active asset leaves its weight in cash.
    """
    labels = list(sleeves)
    return np.array(
        [sleeve_weights.get(s, 0.0) / labels.count(s) for s in labels], dtype=float
    )


def scale_to_vol_target(
    weights: FloatArray,
    cov: FloatArray,
    target_vol: float | None,
    max_gross_leverage: float,
) -> Allocation:
    """Scale weights to an ex-ante vol target, then cap gross leverage.

    Parameters
    ----------
    weights : ndarray
        Base weights, shape (n,).
    cov : ndarray
        Forecast covariance for the next day, shape (n, n).
    target_vol : float or None
        Daily vol target; None leaves the base weights unscaled.
    max_gross_leverage : float
        Largest sum of absolute weights.

    Returns
    -------
    Allocation
        ``scale * weights`` with ``scale = min(target / vol, cap / gross)``.
    """
    base_vol = float(np.sqrt(max(float(weights @ cov @ weights), 0.0)))
    gross = float(np.abs(weights).sum())
    if gross == 0.0:
        return Allocation(weights, 0.0, 1.0, False)
    wanted = 1.0 if target_vol is None else target_vol / base_vol
    cap = max_gross_leverage / gross
    scale = min(wanted, cap)
    return Allocation(weights * scale, base_vol * scale, scale, wanted > cap)
