"""A policy's limits: weight and risk limits, the drawdown ladder, exchange margin."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from riskengine.specs._validation import _require


@dataclass(frozen=True)
class LimitsSpec:
    """Constraints a PM writes, enforced at every decision.

    Attributes
    ----------
    min_asset_weight, max_asset_weight : float
        Bounds on every asset's weight (long-only when the minimum is 0).
    sleeve_min_weight, sleeve_max_weight : dict
        Bounds on the total weight of a sleeve.
    sleeve_max_risk : dict
        Cap on a sleeve's share of ex-ante portfolio variance, in [1e-6, 1].
    max_turnover : float or None
        Cap on ``sum |w_new - w_before|`` per rebalance.
    var_99_max, es_975_max : float or None
        Caps on the one-day 99% VaR and 97.5% expected shortfall (fractions of NAV,
        normal approximation from the forecast covariance); gross exposure is
        scaled down to fit.
    on_solver_failure : {"raise", "hold"}
        After both solvers fail at a date: stop, or hold the previous weights (an
        event is logged either way).
    """

    min_asset_weight: float = 0.0
    max_asset_weight: float | None = None
    sleeve_min_weight: dict[str, float] = field(default_factory=dict)
    sleeve_max_weight: dict[str, float] = field(default_factory=dict)
    sleeve_max_risk: dict[str, float] = field(default_factory=dict)
    max_turnover: float | None = None
    var_99_max: float | None = None
    es_975_max: float | None = None
    on_solver_failure: Literal["raise", "hold"] = "raise"

    def __post_init__(self) -> None:
        _require(
            -1.0 <= self.min_asset_weight <= 0.0,
            "min_asset_weight",
            "must be in [-1, 0] (0 means long-only)",
        )
        upper = self.max_asset_weight
        _require(
            upper is None or 0.0 < upper <= 10.0,
            "max_asset_weight",
            "must be in (0, 10]",
        )
        for table in ("sleeve_min_weight", "sleeve_max_weight"):
            for sleeve, value in getattr(self, table).items():
                _require(
                    0.0 <= value <= 10.0, f"{table}.{sleeve}", "must be in [0, 10]"
                )
        for sleeve, share in self.sleeve_max_risk.items():
            _require(
                1e-6 <= share <= 1.0,
                f"sleeve_max_risk.{sleeve}",
                f"must be in [1e-06, 1], got {share:g}",
            )
        for name in ("max_turnover", "var_99_max", "es_975_max"):
            value = getattr(self, name)
            _require(value is None or value > 0.0, name, "must be > 0")


@dataclass(frozen=True)
class DrawdownSpec:
    """A drawdown ladder: the risk target shrinks as the NAV falls from its peak.

    Attributes
    ----------
    drawdowns : tuple of float
        Increasing drawdown levels (fractions, e.g. 0.05, 0.10).
    multipliers : tuple of float
        Multiplier on the vol target (or on the base weights without one) once the
        drawdown reaches the matching level; decreasing, in [0, 1].
    """

    drawdowns: tuple[float, ...]
    multipliers: tuple[float, ...]

    def __post_init__(self) -> None:
        _require(
            len(self.drawdowns) == len(self.multipliers) > 0,
            "multipliers",
            "must have one entry per drawdown level",
        )
        levels, multipliers = self.drawdowns, self.multipliers
        _require(
            all(0 < d < 1 for d in levels) and all(x < y for x, y in pairwise(levels)),
            "drawdowns",
            "must increase strictly within (0, 1)",
        )
        _require(
            all(0 <= m <= 1 for m in multipliers)
            and all(x >= y for x, y in pairwise(multipliers)),
            "multipliers",
            "must decrease within [0, 1]",
        )

    def multiplier(self, drawdown: float) -> float:
        """Multiplier at a drawdown (a positive fraction below the peak)."""
        reached = [
            m
            for d, m in zip(self.drawdowns, self.multipliers, strict=True)
            if drawdown >= d
        ]
        return reached[-1] if reached else 1.0


@dataclass(frozen=True)
class MarginSpec:
    """An exchange-margined account: margin per unit rises with forecast vol.

    Initial margin per unit of notional is ``max(floor_rate, z(confidence) *
    daily_vol * sqrt(horizon_days))``, as exchanges' risk-based margins (SPAN-like)
    rise when volatility does; the position is cut so that total margin stays within
    `max_margin_usage` of equity.
    """

    confidence: float = 0.99
    horizon_days: int = 2
    floor_rate: float = 0.05
    max_margin_usage: float = 0.5

    def __post_init__(self) -> None:
        _require(0.5 < self.confidence < 1.0, "confidence", "must be in (0.5, 1)")
        _require(1 <= self.horizon_days <= 10, "horizon_days", "must be in 1..10")
        _require(0.0 <= self.floor_rate < 1.0, "floor_rate", "must be in [0, 1)")
        _require(0.0 < self.max_margin_usage <= 1.0, "max_margin_usage", "in (0, 1]")
