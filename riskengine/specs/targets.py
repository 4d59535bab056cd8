"""What a policy aims at and how it trades: target, rebalance, costs, universe."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from riskengine.calendar import AUTO_CALENDAR, unknown_calendar
from riskengine.data.sleeves import SLEEVE_NAMES
from riskengine.specs._validation import _require


@dataclass(frozen=True)
class TargetSpec:
    """How target weights are formed: base weights, then an optional vol target.

    Attributes
    ----------
    base : str
        ``inverse_vol``: weights proportional to 1 / forecast vol over all assets;
        ``sleeve_equal_risk``: inverse vol within each sleeve, sleeves sized to
        equal stand-alone vol; ``fixed``: `sleeve_weights`, split equally over the
        sleeve's active assets; ``risk_budget``: risk contributions proportional to
        `risk_budgets` (equal risk contributions when empty); ``per_asset_vol``:
        each asset sized to `asset_vol_annual` on its own (CTA style);
        ``inverse_variance``: each asset's weight ``c / forecast variance`` with
        ``c`` the variance of `asset_vol_annual`, so that an asset is held at
        100% when its forecast vol is `asset_vol_annual` (Moreira and Muir's
        vol-managed portfolios).
    target_vol_annual : float or None
        Ex-ante portfolio vol target (annualised); None keeps the base weights.
    max_gross_leverage : float
        Cap on the sum of absolute weights, applied after the vol scaling.
    sleeve_weights : dict
        Fixed weight per sleeve (for ``base = "fixed"``).
    risk_budgets : dict
        Risk budget per sleeve (or per asset, see `risk_budget_by`), on any scale
        within [1e-6, 1e6]; a sleeve's budget is split equally over its active
        assets. Sleeves or assets not listed get no allocation; empty means equal
        budgets for all.
    risk_budget_by : {"sleeve", "asset"}
        What the keys of `risk_budgets` name.
    asset_vol_annual : float or None
        Per-asset vol target for ``base = "per_asset_vol"``; the vol held at
        100% for ``base = "inverse_variance"``.
    risk_budget_solver : {"fast", "cvxpy"}
        Newton's method on the log-barrier problem (cvxpy if it fails), or cvxpy.
    """

    base: Literal[
        "inverse_vol",
        "sleeve_equal_risk",
        "fixed",
        "risk_budget",
        "per_asset_vol",
        "inverse_variance",
    ] = "inverse_vol"
    target_vol_annual: float | None = None
    max_gross_leverage: float = 1.0
    sleeve_weights: dict[str, float] = field(default_factory=dict)
    risk_budgets: dict[str, float] = field(default_factory=dict)
    risk_budget_by: Literal["sleeve", "asset"] = "sleeve"
    asset_vol_annual: float | None = None
    risk_budget_solver: Literal["fast", "cvxpy"] = "fast"

    def __post_init__(self) -> None:
        vol = self.target_vol_annual
        _require(
            vol is None or 0.0 < vol <= 2.0, "target_vol_annual", "must be in (0, 2]"
        )
        _require(
            0.0 < self.max_gross_leverage <= 20.0,
            "max_gross_leverage",
            f"must be in (0, 20], got {self.max_gross_leverage}",
        )
        fixed = self.base == "fixed"
        _require(
            fixed == bool(self.sleeve_weights),
            "sleeve_weights",
            "required when base = 'fixed', and only then",
        )
        for sleeve, weight in self.sleeve_weights.items():
            _require(weight >= 0.0, f"sleeve_weights.{sleeve}", "must be >= 0")
        _require(
            not self.risk_budgets or self.base == "risk_budget",
            "risk_budgets",
            "only used with base = 'risk_budget'",
        )
        for key, budget in self.risk_budgets.items():
            _require(
                1e-6 <= budget <= 1e6,
                f"risk_budgets.{key}",
                f"must be in [1e-06, 1e+06] (budgets are relative), got {budget:g}",
            )
        per_asset = self.asset_vol_annual
        _require(
            (self.base in ("per_asset_vol", "inverse_variance"))
            == (per_asset is not None),
            "asset_vol_annual",
            "required with base = 'per_asset_vol' or 'inverse_variance', and only then",
        )
        _require(
            per_asset is None or 0.0 < per_asset <= 2.0,
            "asset_vol_annual",
            "must be in (0, 2]",
        )


@dataclass(frozen=True)
class RebalanceSpec:
    """When weights are decided and how long until they earn returns.

    Attributes
    ----------
    frequency : {"daily", "weekly", "monthly"}
        Decision dates: every day, or the last session of each week (Monday to
        Sunday) or month on `calendar`.
    calendar : str
        The trading calendar whose sessions close weeks and months, known in
        advance (the Thursday before Good Friday closes its week on ``"XNYS"``):
        ``"auto"`` (``"24/7"`` when every column of the data trades every day,
        ``"XNYS"`` otherwise), or any name of ``exchange_calendars`` (``"XNYS"``,
        ``"XLON"``, ``"XTKS"``, ``"24/7"``, ...). The data's dates stay the rows;
        a row that is no session (a holiday print) closes no period, and a
        session missing from the data moves its close to the next row.
    information_lag_days : int
        Trading days from the close whose data decide the weights to the close at
        which they are traded; 1 means decided at the close of t and earning t+1.
    min_history_days : int
        Returns an asset needs before it can be held.
    stale_after_days : int
        Calendar days without a new price after which an asset is dropped.
    max_price_age_days : int
        For an allocation job (``riskengine allocate``): trading days of its own
        calendar (every calendar day for an asset that trades every day) by which
        the last price of an asset the decision rests on may precede the as-of
        date; older stops the job (`riskengine.errors.StaleDataError`). 0 wants
        every such price of the as-of close itself.
    """

    frequency: Literal["daily", "weekly", "monthly"] = "monthly"
    calendar: str = AUTO_CALENDAR
    information_lag_days: int = 1
    min_history_days: int = 63
    stale_after_days: int = 7
    max_price_age_days: int = 0

    def __post_init__(self) -> None:
        unknown = unknown_calendar(self.calendar)
        _require(unknown is None, "calendar", str(unknown))
        lag = self.information_lag_days
        _require(1 <= lag <= 21, "information_lag_days", f"must be in 1..21, got {lag}")
        _require(self.min_history_days >= 2, "min_history_days", "must be at least 2")
        _require(self.stale_after_days >= 1, "stale_after_days", "must be at least 1")
        _require(
            0 <= self.max_price_age_days <= 21,
            "max_price_age_days",
            "must be in 0..21",
        )


@dataclass(frozen=True)
class CostSpec:
    """Trading and financing costs.

    Attributes
    ----------
    default_bps : float
        Cost per unit of notional traded, in basis points, for sleeves not listed.
    sleeve_bps : dict
        Cost per sleeve, in basis points of notional traded.
    cash_rate_annual : float
        Rate earned on positive cash and paid on borrowed cash.
    financing_spread_annual : float
        Extra rate paid on borrowed cash (gross long exposure above 1).
    """

    default_bps: float = 0.0
    sleeve_bps: dict[str, float] = field(default_factory=dict)
    cash_rate_annual: float = 0.0
    financing_spread_annual: float = 0.0

    def __post_init__(self) -> None:
        _require(
            0.0 <= self.default_bps <= 1000.0, "default_bps", "must be in [0, 1000]"
        )
        for sleeve, bps in self.sleeve_bps.items():
            _require(
                0.0 <= bps <= 1000.0, f"sleeve_bps.{sleeve}", "must be in [0, 1000]"
            )
        _require(
            -0.05 <= self.cash_rate_annual <= 0.5,
            "cash_rate_annual",
            "must be in [-0.05, 0.5]",
        )
        _require(
            0.0 <= self.financing_spread_annual <= 0.5,
            "financing_spread_annual",
            "must be in [0, 0.5]",
        )

    def bps_for(self, sleeve: str) -> float:
        """Trading cost of a sleeve, in basis points of notional."""
        return self.sleeve_bps.get(sleeve, self.default_bps)


@dataclass(frozen=True)
class CovarianceSpec:
    """Correlation model combined with the vol forecasts.

    Attributes
    ----------
    correlation : {"ewma", "dcc"}
        Zero-mean EWMA correlation of returns, or DCC(1,1) of the returns
        standardised by the model's own vol forecasts (see `riskengine.covariance`).
    correlation_half_life_days : float
        Half-life of the EWMA correlation, in observations.
    dcc_window_days, dcc_refit_every_days : int
        DCC estimation window and refit interval, in rows.
    """

    correlation: Literal["ewma", "dcc"] = "ewma"
    correlation_half_life_days: float = 63.0
    dcc_window_days: int = 1000
    dcc_refit_every_days: int = 21

    def __post_init__(self) -> None:
        half_life = self.correlation_half_life_days
        _require(half_life >= 1.0, "correlation_half_life_days", "must be at least 1")
        _require(self.dcc_window_days >= 250, "dcc_window_days", "must be >= 250")
        _require(self.dcc_refit_every_days >= 1, "dcc_refit_every_days", "must be >= 1")


@dataclass(frozen=True)
class UniverseSpec:
    """Which sleeves of the data the policy may hold, and the custom sleeves it uses.

    Signal-only assets (an index such as the spot VIX) are never held, whatever
    these fields say; triggers may still watch them.

    Attributes
    ----------
    sleeves : tuple of str
        Sleeves the policy may hold; empty means every sleeve of the data.
    exclude_sleeves : tuple of str
        Sleeves it never holds.
    custom_sleeves : tuple of str
        Sleeves outside the built-in vocabulary (`riskengine.data.sleeves.SLEEVE_NAMES`)
        that the policy names; every other sleeve name in the policy must be
        built-in, so that a misspelt one is an error.
    """

    sleeves: tuple[str, ...] = ()
    exclude_sleeves: tuple[str, ...] = ()
    custom_sleeves: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for i, sleeve in enumerate(self.custom_sleeves):
            _require(
                sleeve not in SLEEVE_NAMES,
                f"custom_sleeves[{i}]",
                f"'{sleeve}' is a built-in sleeve; declare only sleeves outside "
                f"the built-in vocabulary ({', '.join(SLEEVE_NAMES)})",
            )
            _require(bool(sleeve.strip()), f"custom_sleeves[{i}]", "empty sleeve name")
