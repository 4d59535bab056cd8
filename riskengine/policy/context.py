"""One door to the past: what a decision at the close of row t may read.

The walk computes its panels (returns, forecast vols, trigger multipliers,
eligibility) in batch up front, for speed; `DecisionPanels.serve` hands each
decision a `DecisionContext` holding their rows up to t only, as read-only arrays,
so a policy can neither look ahead nor write into the panels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from riskengine._typing import BoolArray, FloatArray
from riskengine.covariance import Correlation, covariance


def read_only(values: np.ndarray) -> np.ndarray:
    """A view of `values` that raises ValueError on any write (`values` unchanged)."""
    view = np.asarray(values).view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True)
class DecisionContext:
    """Everything known at the close of one decision date, read-only.

    Values of the active assets (those eligible at the date) are in the order of
    `assets`; `returns` and `active` cover the whole universe.

    Attributes
    ----------
    date : Timestamp
        The decision's close.
    row : int
        Position of `date` in the walk's index.
    assets, sleeves : tuple of str
        Name and sleeve of each active asset.
    vol : ndarray
        Daily vol forecasts made at the close, shape (n_active,).
    correlation : ndarray
        Correlation forecast at the close, shape (n_active, n_active).
    multipliers : ndarray
        Trigger multiplier of each active asset (1 = untouched), shape (n_active,).
    previous : ndarray
        Current weights (fractions of NAV) of the active assets, shape (n_active,).
    first_trade : bool
        True until the portfolio has first traded (the initial build, which the
        turnover cap does not restrict).
    nav : float
        Portfolio value at the close, before the decision's trades (starts at 1).
    drawdown : float
        Drawdown of `nav` from its peak (a positive fraction).
    periods_per_year : float
        Periods per year of the universe (`calendar.periods_per_year`).
    active : ndarray of bool
        Eligibility of every universe asset at the close, shape (n_universe,).
    returns : ndarray
        Daily returns of every universe asset up to and including the close (NaN
        before an asset's first price), shape (row + 1, n_universe).
    margin_multipliers : ndarray or None
        Exchange margin hikes in force at the close: each active asset's margin
        per unit is multiplied by its value, shape (n_active,); None for none (a
        backtest; the stress test's margin-hike schedule sets them).
    """

    date: pd.Timestamp
    row: int
    assets: tuple[str, ...]
    sleeves: tuple[str, ...]
    vol: FloatArray
    correlation: FloatArray
    multipliers: FloatArray
    previous: FloatArray
    first_trade: bool
    nav: float
    drawdown: float
    periods_per_year: float
    active: BoolArray
    returns: FloatArray
    margin_multipliers: FloatArray | None = None

    def __post_init__(self) -> None:
        """Hold read-only views of the arrays (the caller's arrays stay writeable)."""
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                object.__setattr__(self, name, read_only(value))

    @cached_property
    def covariance(self) -> FloatArray:
        """Daily covariance forecast of the active assets (read-only).

        ``vol x correlation x vol``, shape (n_active, n_active).
        """
        return read_only(covariance(self.vol, self.correlation))


@dataclass(frozen=True)
class DecisionPanels:
    """The walk's batch panels, served to each decision up to its close.

    Parameters
    ----------
    index : DatetimeIndex
        Dates of the rows.
    returns : ndarray
        Daily returns, shape (n_rows, n_universe).
    vol : ndarray
        Daily vol forecasts made at each close, shape (n_rows, n_universe).
    multipliers : ndarray
        Trigger multipliers at each close, shape (n_rows, n_universe).
    eligible : ndarray of bool
        Eligibility at each close, shape (n_rows, n_universe).
    assets, sleeves : tuple of str
        Name and sleeve of each universe asset.
    periods_per_year : float
        Periods per year of the universe.
    margin_multipliers : ndarray or None
        Exchange margin hikes in force at each close, shape (n_rows, n_universe)
        (see `DecisionContext.margin_multipliers`); None for none.
    """

    index: pd.DatetimeIndex
    returns: FloatArray
    vol: FloatArray
    multipliers: FloatArray
    eligible: BoolArray
    assets: tuple[str, ...]
    sleeves: tuple[str, ...]
    periods_per_year: float
    margin_multipliers: FloatArray | None = None
    _names: dict[bytes, tuple[tuple[str, ...], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Hold read-only views, so every row served is read-only too."""
        for name in ("returns", "vol", "multipliers", "eligible"):
            object.__setattr__(self, name, read_only(getattr(self, name)))

    @cached_property
    def _stamps(self) -> np.ndarray:
        """`index`'s values, which box one at a time faster than the index does."""
        return self.index.to_numpy()

    def date(self, row: int) -> pd.Timestamp:
        """The date of `row`; NaT past the last row (a trade after the data's end)."""
        stamps = self._stamps
        return pd.Timestamp(stamps[row]) if row < len(stamps) else pd.NaT

    def _active_names(self, active: BoolArray) -> tuple[tuple[str, ...], ...]:
        """Names and sleeves of the `active` assets, worked out once per set."""
        key = active.tobytes()
        if key not in self._names:
            self._names[key] = tuple(
                tuple(x for x, on in zip(names, active, strict=True) if on)
                for names in (self.assets, self.sleeves)
            )
        return self._names[key]

    def serve(
        self,
        row: int,
        correlation: Correlation,
        holdings: FloatArray,
        *,
        nav: float,
        peak: float,
        first_trade: bool,
    ) -> DecisionContext:
        """The context at the close of `row`: panel rows up to `row`, and the state.

        Parameters
        ----------
        row : int
            The decision's row.
        correlation : Correlation
            The walk's correlation model, updated with the returns up to the close.
        holdings : ndarray
            Current weights of every universe asset, shape (n_universe,).
        nav, peak : float
            Portfolio value at the close and its running peak.
        first_trade : bool
            True until the portfolio has first traded.
        """
        active = self.eligible[row]
        assets, sleeves = self._active_names(active)
        return DecisionContext(
            date=self.date(row),
            row=row,
            assets=assets,
            sleeves=sleeves,
            vol=self.vol[row, active],
            correlation=correlation.matrix(active) if active.any() else np.eye(0),
            multipliers=self.multipliers[row, active],
            previous=holdings[active],
            first_trade=first_trade,
            nav=nav,
            drawdown=1.0 - nav / peak,
            periods_per_year=self.periods_per_year,
            active=active,
            returns=self.returns[: row + 1],
            margin_multipliers=None
            if self.margin_multipliers is None
            else self.margin_multipliers[row, active],
        )
