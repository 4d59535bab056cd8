"""A policy's data screen: what counts as suspect data, and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from riskengine.specs._validation import _require

ScreenAction = Literal["stop", "record"]
"""``stop``: the run ends with a `DataError` before any model runs; ``record``: the
finding becomes a ``screen_*`` event and the run goes on with the data unchanged."""


@dataclass(frozen=True)
class ScreenSpec:
    """Thresholds and actions of the data screen (see `riskengine.screen`).

    The screen reads the prices of every asset a run uses (signal-only ones
    included) up to the run's last date, before any model. It never repairs data:
    each finding either stops the run or is recorded as an event. Moves are log
    price changes between an asset's consecutive prices, measured in robust
    sigmas: ``1.4826 x`` the median absolute move over a centred window of
    `robust_window_days` of the asset's own prices (its whole history when shorter).
    Defaults stop on what is almost surely an error and record what is merely
    suspect; they were set on the real multi-asset file, 1990-2026, which passes.

    Attributes
    ----------
    robust_window_days : int
        Prices in the centred window of an asset's robust sigma.
    bad_tick_sigmas, bad_tick_min_ratio : float
        A bad tick (a bad print) is a move beyond this many robust sigmas that
        multiplies or divides the price by at least this ratio, and that the next
        move, also beyond both and of opposite sign, takes back. In the real file
        the largest such pair in sigmas is 13.4 (LQD, 29-30 September 2008, x0.91
        then x1.10), in size x1.65 then x0.72 (the VIX, 5-6 August 2024, 9.5 and
        6.3 sigmas); neither is a bad tick.
    bad_tick_min_reversal : float
        Share of the jump the next move must take back, in (0, 1].
    outlier_sigmas : float
        A single move beyond this many robust sigmas (5 in the real file, all in
        2020: the March crash and the Fed's April credit support).
    max_price_ratio : float
        A price over the previous one (or its inverse) beyond this is absurd, as is
        a ratio too large for a float (largest in the real file: 2.2, the VIX on
        5 February 2018).
    stray_gap_days : int
        Calendar days that isolate a few first or last prices of an asset from the
        rest of its history (a stray row such as 1600-01-03).
    stray_max_prices : int
        At most this many isolated prices make a stray; more make a gap.
    max_calendar_gap_days : int
        Longest stretch of calendar days without a price in any screened asset
        (longest in the real file: 7 days, 10 to 17 September 2001).
    max_asset_gap_days : int
        Longest stretch without a price of one asset, counted up to the last date
        screened (an asset whose prices stop early has a gap at the end).
    min_vol_annual : float
        An asset whose volatility over its history (log moves, annualised by the
        engine's calendar) is below this is near-constant (lowest in the real
        file: IEF, 6.8%).
    max_unchanged_prices : int
        Most consecutive prices equal to the one before (a stale feed); the real
        file's longest run is 3.
    on_bad_tick, on_absurd_move, on_stray_date, on_calendar_gap : ScreenAction
        Actions on what is almost surely an error: ``stop`` by default.
    on_non_daily : ScreenAction
        Action on an asset whose prices are a median of more than 4 calendar days
        apart (weekly, monthly): ``stop`` by default, as every policy's models,
        windows and annualisation count days; ``record`` runs it as if each price
        were a day.
    on_outlier, on_asset_gap, on_near_constant, on_flat_run : ScreenAction
        Actions on what is merely suspect: ``record`` by default.
    """

    robust_window_days: int = 252
    bad_tick_sigmas: float = 20.0
    bad_tick_min_ratio: float = 1.5
    bad_tick_min_reversal: float = 0.5
    outlier_sigmas: float = 15.0
    max_price_ratio: float = 10.0
    stray_gap_days: int = 365
    stray_max_prices: int = 5
    max_calendar_gap_days: int = 30
    max_asset_gap_days: int = 30
    min_vol_annual: float = 0.005
    max_unchanged_prices: int = 5
    on_bad_tick: ScreenAction = "stop"
    on_absurd_move: ScreenAction = "stop"
    on_non_daily: ScreenAction = "stop"
    on_stray_date: ScreenAction = "stop"
    on_calendar_gap: ScreenAction = "stop"
    on_outlier: ScreenAction = "record"
    on_asset_gap: ScreenAction = "record"
    on_near_constant: ScreenAction = "record"
    on_flat_run: ScreenAction = "record"

    def __post_init__(self) -> None:
        _require(
            20 <= self.robust_window_days <= 5000,
            "robust_window_days",
            "must be in 20..5000",
        )
        for name in ("bad_tick_sigmas", "outlier_sigmas"):
            _require(getattr(self, name) >= 3.0, name, "must be at least 3")
        _require(
            0.0 < self.bad_tick_min_reversal <= 1.0,
            "bad_tick_min_reversal",
            "must be in (0, 1]",
        )
        for name in ("bad_tick_min_ratio", "max_price_ratio"):
            _require(getattr(self, name) > 1.0, name, "must be above 1")
        _require(self.stray_gap_days >= 30, "stray_gap_days", "must be at least 30")
        _require(self.stray_max_prices >= 1, "stray_max_prices", "must be >= 1")
        for name in ("max_calendar_gap_days", "max_asset_gap_days"):
            _require(getattr(self, name) >= 5, name, "must be at least 5")
        _require(
            0.0 <= self.min_vol_annual < 1.0, "min_vol_annual", "must be in [0, 1)"
        )
        _require(self.max_unchanged_prices >= 1, "max_unchanged_prices", "must be >= 1")

    def action(self, kind: str) -> ScreenAction:
        """The action on findings of one kind (``"bad_tick"`` reads `on_bad_tick`)."""
        action: ScreenAction = getattr(self, f"on_{kind}")
        return action
