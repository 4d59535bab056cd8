"""Price impact of the crowd's net orders: the square-root law and its decay.

A day's net order Q (dollars, negative for a sale) in an asset moves its log price
by the peak impact ``J = Y x daily_vol x sign(Q) x sqrt(|Q| / ADV)`` (Toth et al.
2011; Bouchaud et al. 2018, ch. 12). The orders are decided at a close and traded
there; the impact shows from the next row's price on: ``permanent_share`` of it
stays, the rest decays with ``temporary_half_life_days``. Each trade pays
``execution_share`` of its day's peak impact (2/3 for a square-root metaorder
executed at a constant rate), so a fund trading with the crowd pays and one
trading against it earns.
"""

from __future__ import annotations

import numpy as np

from riskengine._typing import FloatArray
from riskengine.stress.scenario import ImpactSpec


def peak_impact(
    net_orders: FloatArray, daily_vol: FloatArray, adv: FloatArray, spec: ImpactSpec
) -> FloatArray:
    """The square-root law: log-price impact of each asset's net order.

    Parameters
    ----------
    net_orders : ndarray
        Net dollar orders across funds, shape (n_assets,); negative for sales.
    daily_vol : ndarray
        Daily vol of each asset (decimal), shape (n_assets,); NaN counts as 0.
    adv : ndarray
        Average daily volume, dollars, shape (n_assets,).
    spec : ImpactSpec
        Y and the rest of the model.

    Returns
    -------
    ndarray
        ``Y x daily_vol x sign(Q) x sqrt(|Q| / ADV)``, shape (n_assets,).
    """
    vol = np.nan_to_num(daily_vol, nan=0.0)
    return spec.y * vol * np.sign(net_orders) * np.sqrt(np.abs(net_orders) / adv)


def decay_kernel(n_rows: int, spec: ImpactSpec) -> FloatArray:
    """Share of a peak impact left in the price 1..`n_rows` rows after the trade.

    ``permanent + (1 - permanent) x 0.5 ** ((k - 1) / half_life)``: all of it on
    the first row after the trade, then the temporary part decays.
    """
    lags = np.arange(n_rows, dtype=float)
    permanent = spec.permanent_share
    return permanent + (1.0 - permanent) * 0.5 ** (lags / spec.temporary_half_life_days)


def impacted_returns(base: FloatArray, log_impact: FloatArray) -> FloatArray:
    """Returns of prices moved by a cumulative log impact.

    Parameters
    ----------
    base : ndarray
        Returns without impact, shape (n_rows, n_assets); NaN where an asset has
        no new price (the impact accrued meanwhile shows at its next price).
    log_impact : ndarray
        Cumulative log-price impact at each row, same shape.

    Returns
    -------
    ndarray
        ``(1 + r) x exp(C_t - C_s) - 1``, s the asset's previous priced row.
    """
    out = base.copy()
    for j in range(base.shape[1]):
        rows = np.flatnonzero(~np.isnan(base[:, j]))
        if rows.size:
            steps = np.diff(log_impact[rows, j], prepend=0.0)
            out[rows, j] = (1.0 + base[rows, j]) * np.exp(steps) - 1.0
    return out
