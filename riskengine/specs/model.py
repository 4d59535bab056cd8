"""The volatility-model spec (``models/*.toml``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from riskengine.calendar import EXCHANGE_CALENDAR, unknown_calendar
from riskengine.specs._validation import LABEL_RULE, _require, is_label

CALENDAR_REFITS = ("month_end", "quarter_end", "year_end")
"""`ModelSpec.refit_on` values that refit at the close of a calendar period."""


@dataclass(frozen=True)
class ModelSpec:
    """A volatility model: EWMA, realised variance or a GARCH family fitted as arch.

    Attributes
    ----------
    name, description : str
        Identifier and one-line description.
    family : {"ewma", "realised", "garch", "gjr", "egarch", "realised_month"}
        EWMA of squared returns (RiskMetrics); realised variance (mean squared
        return over the last `window_days` observations); GARCH(1,1),
        GJR-GARCH(1,1,1), EGARCH(1,1,1) fitted by maximum likelihood on percent
        returns, as `arch` fits them; or the previous calendar month's realised
        variance (demeaned sum of squared daily returns, Moreira and Muir 2017).
    decay : float
        EWMA decay lambda (daily); `half_life_days` in the file is an alias.
    distribution : {"normal", "t", "skewt"}
        GARCH error distribution (skewt is Hansen's skewed Student-t).
    mean : {"zero", "constant"}
        GARCH mean model.
    window : {"trailing", "expanding"}
        GARCH estimation sample: the last `window_days` observations, or every
        observation of the asset so far.
    window_days : int
        Trailing GARCH estimation window, or the realised-variance window, in
        observations of the asset.
    min_window_days : int
        Fewest observations for a first GARCH fit; the fallback is used before.
    refit_every_days : int
        Observations between GARCH refits; in between the last fit is filtered
        with fixed parameters.
    refit_on : {"schedule", "rebalance", "month_end", "quarter_end", "year_end"}
        Refit every `refit_every_days` observations; at the policy's scheduled
        rebalance dates (each asset's last observation at or before each); or at
        the close of each month, quarter or year of `refit_calendar`: the session
        whose next session falls in another period, a fact of the calendar known
        in advance (the asset's own row on that session or, if it has none, its
        first row after it).
    refit_calendar : str
        The trading calendar whose sessions close months, quarters and years for
        a calendar `refit_on`: a name of ``exchange_calendars`` (``"XNYS"``, the
        default, ``"XLON"``, ...) or ``"24/7"``.
    fallback : {"ewma"}
        What replaces a GARCH fit that fails or is rejected, until the next refit.
    fallback_decay : float
        Decay of the fallback EWMA.
    on_boundary : {"fallback", "keep"}
        A fit that converged onto a bound (persistence within 1e-6 of 1, or a
        parameter at the edge of its range, as arch bounds it) is replaced by the
        fallback, or kept; either way it is recorded as an event.
    """

    name: str
    description: str = ""
    family: Literal["ewma", "realised", "garch", "gjr", "egarch", "realised_month"] = (
        "ewma"
    )
    decay: float = 0.94
    distribution: Literal["normal", "t", "skewt"] = "t"
    mean: Literal["zero", "constant"] = "constant"
    window: Literal["trailing", "expanding"] = "trailing"
    window_days: int = 1000
    min_window_days: int = 250
    refit_every_days: int = 21
    refit_on: Literal[
        "schedule", "rebalance", "month_end", "quarter_end", "year_end"
    ] = "schedule"
    refit_calendar: str = EXCHANGE_CALENDAR
    fallback: Literal["ewma"] = "ewma"
    fallback_decay: float = 0.94
    on_boundary: Literal["fallback", "keep"] = "keep"

    def __post_init__(self) -> None:
        _require(is_label(self.name), "name", LABEL_RULE)
        for name in ("decay", "fallback_decay"):
            value = getattr(self, name)
            _require(0.0 < value < 1.0, name, f"must be in (0, 1), got {value}")
        _require(self.refit_every_days >= 1, "refit_every_days", "must be at least 1")
        if self.refit_on in CALENDAR_REFITS or self.refit_calendar != EXCHANGE_CALENDAR:
            unknown = unknown_calendar(self.refit_calendar)
            why = (unknown or "").split("; ")[0] or "'auto' is a policy's calendar"
            _require(
                unknown is None and self.refit_calendar != "auto",
                "refit_calendar",
                f"{why}; expected a name of exchange_calendars.get_calendar_names()",
            )
        if self.family == "realised":
            _require(self.window_days >= 2, "window_days", "must be at least 2")
        elif self.family != "ewma":
            min_days = self.min_window_days
            _require(min_days >= 100, "min_window_days", "must be at least 100")
            _require(
                self.window == "expanding" or self.window_days >= min_days,
                "window_days",
                f"must be at least min_window_days ({min_days})",
            )
