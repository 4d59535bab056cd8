"""A policy's triggers: the signal watched, its thresholds and what the trigger does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from riskengine.specs._validation import LABEL_RULE, _require, is_label

_NEVER_NEGATIVE = ("residual_shock", "vol_term_structure", "persistence")
"""Signals whose exit threshold must be positive."""


@dataclass(frozen=True)
class TriggerSpec:
    """A cross-asset de-risking rule (see `riskengine.policy.triggers`).

    Attributes
    ----------
    name : str
        Rule name, as it appears in the event log.
    watch_sleeves, act_on_sleeves : tuple of str
        Sleeves watched (every asset of the data in them, held or not, signal-only
        series such as the VIX index included); sleeves that are cut.
    signal : {"vol_zscore", "vol_ratio", "vol_of_vol", "realised_vs_forecast", \
"level", "level_zscore", "residual_shock", "vol_term_structure", \
"persistence"}
        How the watched series become a signal (see `riskengine.policy.signals`): four
        read the forecast vol; ``residual_shock`` the day's standardised residual
        |r_t| / sigma_t (sigma_t forecast at the previous close), shocks as the
        policy's model sees them (risk-off above k sigmas, e.g. 4);
        ``vol_term_structure`` the one-day forecast vol over the model's average
        daily vol for the next 21 days (above 1: vol above where a GARCH model
        expects it to settle; a flat model such as EWMA is refused);
        ``persistence`` the persistence of the GARCH fit in force (alpha + gamma/2 +
        beta, EGARCH's beta: risk-off when shocks are expected to last, e.g. above
        0.995, a half-life of 138 days; GARCH models only); ``level`` reads
        the close itself, as desks watch the VIX index (risk-off when it closes
        above 30, back below 20); ``level_zscore`` the close's z-score over
        `lookback_days`. ``level`` takes prices as they are: watch a sleeve whose
        series share a scale (an index beside an ETN on it does not; prefer
        ``level_zscore`` there).
    aggregate : {"max", "mean"}
        How the watched assets' signals combine.
    lookback_days : int
        Trailing window of the signal's reference distribution (unused by
        ``level``, ``realised_vs_forecast`` and ``vol_term_structure``); for
        ``residual_shock``, the returns an asset needs before its shocks count (the
        forecast's warm-up).
    enter_above, exit_below : float
        Hysteresis thresholds: enter risk-off strictly above, leave strictly below.
    min_days_in_state : int
        Fewest days between two state changes.
    scale : float
        Multiplier on the acted-on sleeves while risk-off.
    apply_to : {"weights", "budgets"}
        Scale the sleeves' weights after the vol target (freed weight goes to cash or
        `redistribute_to`), or their risk budgets before it.
    redistribute_to : tuple of str
        Defensive sleeves that receive the freed weight, pro rata; empty = cash.
    reentry_days : int
        Days over which the cut is restored, in equal steps, after exit.
    max_daily_change : float
        Largest change of the multiplier in one day.
    """

    name: str
    watch_sleeves: tuple[str, ...]
    act_on_sleeves: tuple[str, ...]
    enter_above: float
    exit_below: float
    signal: Literal[
        "vol_zscore",
        "vol_ratio",
        "vol_of_vol",
        "realised_vs_forecast",
        "level",
        "level_zscore",
        "residual_shock",
        "vol_term_structure",
        "persistence",
    ] = "vol_zscore"
    aggregate: Literal["max", "mean"] = "max"
    lookback_days: int = 252
    min_days_in_state: int = 5
    scale: float = 0.5
    apply_to: Literal["weights", "budgets"] = "weights"
    redistribute_to: tuple[str, ...] = ()
    reentry_days: int = 10
    max_daily_change: float = 1.0

    def __post_init__(self) -> None:
        _require(is_label(self.name), "name", LABEL_RULE)
        _require(bool(self.watch_sleeves), "watch_sleeves", "must name a sleeve")
        _require(bool(self.act_on_sleeves), "act_on_sleeves", "must name a sleeve")
        _require(
            self.exit_below < self.enter_above,
            "exit_below",
            f"must be below enter_above ({self.enter_above}) for hysteresis",
        )
        _require(self.lookback_days >= 21, "lookback_days", "must be at least 21")
        _require(self.min_days_in_state >= 1, "min_days_in_state", "must be >= 1")
        _require(0.0 <= self.scale < 1.0, "scale", "must be in [0, 1)")
        _require(self.reentry_days >= 1, "reentry_days", "must be >= 1")
        _require(0.0 < self.max_daily_change <= 1.0, "max_daily_change", "in (0, 1]")
        _require(
            self.signal not in _NEVER_NEGATIVE or self.exit_below > 0.0,
            "exit_below",
            f"must be above 0 for {self.signal} (a ratio of magnitudes, never below "
            "0: the trigger would never leave risk-off)",
        )
        overlap = set(self.act_on_sleeves) & set(self.redistribute_to)
        _require(not overlap, "redistribute_to", "must not include acted-on sleeves")
        _require(
            self.apply_to == "weights" or not self.redistribute_to,
            "redistribute_to",
            "only with apply_to = 'weights'",
        )
