"""A policy's decision at one date: base weights, covariance, vol target, limits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from riskengine._typing import FloatArray
from riskengine.allocators import (
    Allocation,
    fixed_sleeve_weights,
    inverse_vol_weights,
    scale_to_vol_target,
    sleeve_equal_risk_weights,
)
from riskengine.covariance import covariance
from riskengine.specs import TargetSpec


def target_weights(
    target: TargetSpec,
    vol: FloatArray,
    correlation: FloatArray,
    sleeves: Sequence[str],
    periods_per_year: float,
) -> Allocation:
    """Target weights of the active assets from their forecasts at one date.

    Parameters
    ----------
    target : TargetSpec
        The policy's target section.
    vol : ndarray
        Daily vol forecasts of the active assets, shape (n,).
    correlation : ndarray
        Correlation forecast, shape (n, n).
    sleeves : sequence of str
        Sleeve of each active asset.
    periods_per_year : float
        Trading days per year of the calendar, to turn the annual target daily.

    Returns
    -------
    Allocation
        Weights as fractions of NAV, and the ex-ante daily vol.
    """
    cov = covariance(vol, correlation)
    if target.base == "inverse_vol":
        base = inverse_vol_weights(vol)
    elif target.base == "sleeve_equal_risk":
        base = sleeve_equal_risk_weights(vol, cov, sleeves)
    else:
        base = fixed_sleeve_weights(sleeves, target.sleeve_weights)
    daily_target = (
        None
        if target.target_vol_annual is None
        else target.target_vol_annual / np.sqrt(periods_per_year)
    )
    return scale_to_vol_target(base, cov, daily_target, target.max_gross_leverage)
