"""One day's accounting between two closes: drift and financing, written once.

The backtest's walk carries its holdings through every day with `drift`, and an
allocation job (`riskengine.allocate`) finds where today's trades start from with
the same function, so the two cannot disagree on the arithmetic.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from riskengine._typing import FloatArray
from riskengine.specs import CostSpec


class Drift(NamedTuple):
    """Holdings carried from one close to the next, before any trade.

    Attributes
    ----------
    weights : FloatArray
        The holdings as weights of the new net asset value, shape (n_assets,).
    gross : float
        The day's return of the net asset value before trading costs: the assets'
        moves plus `financing`.
    financing : float
        Interest on cash as a return on the net asset value: earned at the cash
        rate on positive cash, paid at the cash rate plus the spread on borrowed
        cash (gross long exposure above 1).
    """

    weights: FloatArray
    gross: float
    financing: float


def drift(
    weights: FloatArray, moves: FloatArray, accrual: float, costs: CostSpec
) -> Drift:
    """Carry holdings through one day's returns and cash interest.

    Parameters
    ----------
    weights : FloatArray
        Holdings after the previous close's trades, as weights of that close's net
        asset value, shape (n_assets,); cash is one minus their sum.
    moves : FloatArray
        Each asset's simple return over the day, shape (n_assets,); 0 where an
        asset has no new price (it is marked at its last price).
    accrual : float
        ACT/365 year fraction of the day (see `calendar.accrual_fractions`).
    costs : CostSpec
        The cash rate and the financing spread.

    Returns
    -------
    Drift
    """
    cash = 1.0 - np.add.reduce(weights)  # weights.sum(), without its wrapper
    borrow_rate = costs.cash_rate_annual + costs.financing_spread_annual
    rate = costs.cash_rate_annual if cash >= 0 else borrow_rate
    financing = cash * rate * accrual
    gross = float(weights @ moves) + financing
    return Drift(weights * (1.0 + moves) / (1.0 + gross), gross, float(financing))
