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
    """Thresholds and actions of the data screen (see `riskengine.data.screen`).

    The screen reads the prices of every asset a run uses (signal-only ones
    included) up to the run's last date, before any model. It never repairs data:
    each finding either stops the run or is recorded as an event. Moves are log
    price changes between an asset's consecutive prices, measured in robust
    sigmas: ``1.4826 x`` the larger of the median absolute moves over the
    `robust_window_days` moves before it and over the 21 before it (a month: a
    calm year does not make every move of a new storm an outlier). Every recorded
    finding is a function of the prices up to its date, and dated when it becomes
    known (a bad tick at the close of the price that takes it back, a gap on the
    first date it has lasted too long), so data cut at a date record the same
    findings up to it. Defaults stop on what is almost surely an error and record
    what is merely suspect; they were set on the real multi-asset file, 1990-2026,
    which passes.

    Attributes
    ----------
    robust_window_days : int
        Moves before each one in the long window of an asset's robust sigma.
    bad_tick_sigmas, bad_tick_min_ratio : float
        A bad tick (a bad print) is a move beyond this many robust sigmas that
        multiplies or divides the price by at least this ratio, and that the next
        move, also beyond both and of opposite sign, takes back; it is found at
        the close of that next price. In the real file the largest such pair in
        sigmas is HYG's of 17-18 September 2008 (x0.94 then x1.08, 14.6 and 17.8
        sigmas), in size the VIX's of 5-6 August 2024 (x1.65 then x0.72, 9.3 and
        4.3 sigmas); neither is a bad tick.
    bad_tick_min_reversal : float
        Share of the jump the next move must take back, in (0, 1].
    outlier_sigmas : float
        A single move beyond this many robust sigmas (5 in the real file: HYG on
        18 and 29 September 2008, the VIX on 5 February 2018, LQD and BTC on
        12 March 2020; next comes LQD on 29 September 2008 at 14.9, and the
        metals' largest in January 2026 is GLD's on the 30th, 7.2).
    max_price_ratio : float
        A price over the previous one (or its inverse) beyond this is absurd, as is
        a ratio too large for a float (largest in the real file: 2.2, the VIX on
        5 February 2018).
    absurd_sigmas : float
        A move beyond this many robust sigmas that multiplies or divides the price
        by at least `bad_tick_min_ratio` is absurd too, whether or not the next
        price takes it back: a bad print on the data's last date or lasting
        days, an unadjusted split (x0.25). The largest move of the real file in
        sigmas is BTC's of 12 March 2020 (x0.63, -20.0); of a print tripling SPY,
        about 100.
    stray_gap_days : int
        Calendar days that isolate a few first or last prices of an asset from the
        rest of its history (a stray row such as 1600-01-03).
    stray_max_prices : int
        At most this many isolated prices make a stray; more make a gap.
    max_calendar_gap_days : int
        Longest stretch of calendar days without a price in any screened asset
        (longest in the real file: 7 days, 10 to 17 September 2001).
    max_asset_gap_days : int
        Longest stretch without a price of one asset; found on the first date
        of the screened calendar beyond it, so an asset whose prices stop early
        has a gap too.
    min_vol_annual : float
        An asset whose volatility over its history up to a price (log moves,
        annualised by the engine's calendar, from its 21st price) is below this
        is near-constant there (lowest in the real file: 2.7%, HYG's first weeks
        in 2007; over their whole history, IEF's 6.9%).
    max_unchanged_prices : int
        Most consecutive prices equal to the one before (a stale feed); the real
        file's longest run is 3.
    on_bad_tick, on_absurd_move, on_stray_date, on_calendar_gap : ScreenAction
        Actions on what is almost surely an error: ``stop`` by default.
    on_non_daily : ScreenAction
        Action on an asset whose prices so far are a median of more than 4
        calendar days apart (weekly, monthly; judged from its 6th price on):
        ``stop`` by default, as every policy's models, windows and annualisation
        count days; ``record`` runs it as if each price were a day.
    on_outlier, on_asset_gap, on_near_constant, on_flat_run : ScreenAction
        Actions on what is merely suspect: ``record`` by default.
    """

    robust_window_days: int = 252
    bad_tick_sigmas: float = 20.0
    bad_tick_min_ratio: float = 1.5
    bad_tick_min_reversal: float = 0.5
    outlier_sigmas: float = 15.0
    max_price_ratio: float = 10.0
    absurd_sigmas: float = 40.0
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
        for name in ("bad_tick_sigmas", "outlier_sigmas", "absurd_sigmas"):
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
