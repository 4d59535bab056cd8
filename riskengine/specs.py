"""Declarative specs: ``models/*.toml`` and ``policies/*.toml`` into frozen dataclasses.

Specs are data, never code. Each file is parsed with `tomllib` and validated once,
field by field, against the dataclass annotations below; every error names the file,
the field and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from riskengine.errors import SpecError

SpecKind = Literal["models", "policies"]
SPEC_NOUN: dict[SpecKind, str] = {"models": "model", "policies": "policy"}


class _FieldError(Exception):
    """A bad value, raised inside a spec's `__post_init__` and located by `_build`."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise _FieldError(name, message)


@dataclass(frozen=True)
class ModelSpec:
    """A volatility model: EWMA, realised variance or a GARCH family fitted as arch.

    Attributes
    ----------
    name, description : str
        Identifier and one-line description.
    family : {"ewma", "realised", "garch", "gjr", "egarch"}
        EWMA of squared returns (RiskMetrics); realised variance (mean squared
        return over the last `window_days` observations); or GARCH(1,1),
        GJR-GARCH(1,1,1), EGARCH(1,1,1) fitted by maximum likelihood on percent
        returns, as `arch` fits them.
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
    refit_on : {"schedule", "rebalance"}
        Refit every `refit_every_days` observations, or at the policy's scheduled
        rebalance dates (each asset's last observation at or before each).
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
    family: Literal["ewma", "realised", "garch", "gjr", "egarch"] = "ewma"
    decay: float = 0.94
    distribution: Literal["normal", "t", "skewt"] = "t"
    mean: Literal["zero", "constant"] = "constant"
    window: Literal["trailing", "expanding"] = "trailing"
    window_days: int = 1000
    min_window_days: int = 250
    refit_every_days: int = 21
    refit_on: Literal["schedule", "rebalance"] = "schedule"
    fallback: Literal["ewma"] = "ewma"
    fallback_decay: float = 0.94
    on_boundary: Literal["fallback", "keep"] = "keep"

    def __post_init__(self) -> None:
        for name in ("decay", "fallback_decay"):
            value = getattr(self, name)
            _require(0.0 < value < 1.0, name, f"must be in (0, 1), got {value}")
        _require(self.refit_every_days >= 1, "refit_every_days", "must be at least 1")
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


@dataclass(frozen=True)
class TargetSpec:
    """How target weights are formed: base weights, then an optional vol target.

    Attributes
    ----------
    base : {"inverse_vol", "sleeve_equal_risk", "fixed", "risk_budget", "per_asset_vol"}
        ``inverse_vol``: weights proportional to 1 / forecast vol over all assets;
        ``sleeve_equal_risk``: inverse vol within each sleeve, sleeves sized to
        equal stand-alone vol; ``fixed``: `sleeve_weights`, split equally over the
        sleeve's active assets; ``risk_budget``: risk contributions proportional to
        `risk_budgets` (equal risk contributions when empty); ``per_asset_vol``:
        each asset sized to `asset_vol_annual` on its own (CTA style).
    target_vol_annual : float or None
        Ex-ante portfolio vol target (annualised); None keeps the base weights.
    max_gross_leverage : float
        Cap on the sum of absolute weights, applied after the vol scaling.
    sleeve_weights : dict
        Fixed weight per sleeve (for ``base = "fixed"``).
    risk_budgets : dict
        Risk budget per sleeve (or per asset, see `risk_budget_by`), any positive
        scale; a sleeve's budget is split equally over its active assets. Sleeves or
        assets not listed get no allocation; empty means equal budgets for all.
    risk_budget_by : {"sleeve", "asset"}
        What the keys of `risk_budgets` name.
    asset_vol_annual : float or None
        Per-asset vol target for ``base = "per_asset_vol"``.
    risk_budget_solver : {"fast", "cvxpy"}
        Newton's method on the log-barrier problem (cvxpy if it fails), or cvxpy.
    """

    base: Literal[
        "inverse_vol", "sleeve_equal_risk", "fixed", "risk_budget", "per_asset_vol"
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
            _require(budget > 0.0, f"risk_budgets.{key}", "must be > 0")
        per_asset = self.asset_vol_annual
        _require(
            (self.base == "per_asset_vol") == (per_asset is not None),
            "asset_vol_annual",
            "required when base = 'per_asset_vol', and only then",
        )
        _require(
            per_asset is None or 0.0 < per_asset <= 2.0,
            "asset_vol_annual",
            "must be in (0, 2]",
        )


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
        Cap on a sleeve's share of ex-ante portfolio variance (0..1).
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
                0.0 < share <= 1.0, f"sleeve_max_risk.{sleeve}", "must be in (0, 1]"
            )
        for name in ("max_turnover", "var_99_max", "es_975_max"):
            value = getattr(self, name)
            _require(value is None or value > 0.0, name, "must be > 0")

    @property
    def needs_optimiser(self) -> bool:
        """True when weight bounds or a turnover cap call for the constrained solver."""
        return bool(
            self.max_asset_weight is not None
            or self.min_asset_weight < 0.0
            or self.sleeve_min_weight
            or self.sleeve_max_weight
            or self.max_turnover is not None
        )


@dataclass(frozen=True)
class TriggerSpec:
    """A cross-asset de-risking rule (see `riskengine.triggers`).

    Attributes
    ----------
    name : str
        Rule name, as it appears in the event log.
    watch_sleeves, act_on_sleeves : tuple of str
        Sleeves whose vol is watched; sleeves that are cut.
    signal : {"vol_zscore", "vol_ratio", "vol_of_vol", "realised_vs_forecast"}
        How the watched forecasts become a signal.
    aggregate : {"max", "mean"}
        How the watched assets' signals combine.
    lookback_days : int
        Trailing window of the signal's reference distribution.
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
    signal: Literal["vol_zscore", "vol_ratio", "vol_of_vol", "realised_vs_forecast"] = (
        "vol_zscore"
    )
    aggregate: Literal["max", "mean"] = "max"
    lookback_days: int = 252
    min_days_in_state: int = 5
    scale: float = 0.5
    apply_to: Literal["weights", "budgets"] = "weights"
    redistribute_to: tuple[str, ...] = ()
    reentry_days: int = 10
    max_daily_change: float = 1.0

    def __post_init__(self) -> None:
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
        overlap = set(self.act_on_sleeves) & set(self.redistribute_to)
        _require(not overlap, "redistribute_to", "must not include acted-on sleeves")
        _require(
            self.apply_to == "weights" or not self.redistribute_to,
            "redistribute_to",
            "only with apply_to = 'weights'",
        )


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


@dataclass(frozen=True)
class RebalanceSpec:
    """When weights are decided and how long until they earn returns.

    Attributes
    ----------
    frequency : {"daily", "weekly", "monthly"}
        Decision dates: every day, or the last trading day of each week or month.
    information_lag_days : int
        Trading days from the close whose data decide the weights to the close at
        which they are traded; 1 means decided at the close of t and earning t+1.
    min_history_days : int
        Returns an asset needs before it can be held.
    stale_after_days : int
        Calendar days without a new price after which an asset is dropped.
    """

    frequency: Literal["daily", "weekly", "monthly"] = "monthly"
    information_lag_days: int = 1
    min_history_days: int = 63
    stale_after_days: int = 7

    def __post_init__(self) -> None:
        lag = self.information_lag_days
        _require(1 <= lag <= 21, "information_lag_days", f"must be in 1..21, got {lag}")
        _require(self.min_history_days >= 2, "min_history_days", "must be at least 2")
        _require(self.stale_after_days >= 1, "stale_after_days", "must be at least 1")


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
    """Which sleeves of the data the policy may hold (empty `sleeves` means all)."""

    sleeves: tuple[str, ...] = ()
    exclude_sleeves: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicySpec:
    """One institutional risk framework, as a PM writes it in ``policies/*.toml``."""

    name: str
    description: str
    source: str
    model: ModelSpec
    target: TargetSpec = field(default_factory=TargetSpec)
    rebalance: RebalanceSpec = field(default_factory=RebalanceSpec)
    costs: CostSpec = field(default_factory=CostSpec)
    covariance: CovarianceSpec = field(default_factory=CovarianceSpec)
    universe: UniverseSpec = field(default_factory=UniverseSpec)
    limits: LimitsSpec = field(default_factory=LimitsSpec)
    triggers: tuple[TriggerSpec, ...] = ()
    drawdown_control: DrawdownSpec | None = None
    margin: MarginSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain data (for the run manifest)."""
        return dataclasses.asdict(self)


def builtin_dir(kind: SpecKind) -> Path:
    """Folder of the built-in specs: packaged in a wheel, or the repository's own."""
    packaged = Path(__file__).parent / "_specs" / kind
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[1] / kind


def builtin_names(kind: SpecKind) -> list[str]:
    """Names of the built-in specs of one kind."""
    return sorted(p.stem for p in builtin_dir(kind).glob("*.toml"))


def resolve_spec_path(name_or_path: str | Path, kind: SpecKind) -> Path:
    """Path of a spec given as a file path or as the name of a built-in spec.

    Raises
    ------
    SpecError
        If neither a file nor a built-in spec of that name exists.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    file_name = path.name if path.name.endswith(".toml") else f"{path.name}.toml"
    builtin = builtin_dir(kind) / file_name
    if path.parent == Path(".") and builtin.is_file():
        return builtin
    raise SpecError(
        f"{name_or_path}: no such file, nor a built-in {SPEC_NOUN[kind]} "
        f"(built-in: {', '.join(builtin_names(kind))})"
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from exc


def load_model(name_or_path: str | Path) -> ModelSpec:
    """Load and validate a volatility-model spec (a path or a built-in name)."""
    path = resolve_spec_path(name_or_path, "models")
    table = _read_toml(path)
    half_life = table.pop("half_life_days", None)
    if half_life is not None:
        if "decay" in table:
            raise SpecError(f"{path}: give decay or half_life_days, not both")
        if not isinstance(half_life, int | float) or half_life <= 0:
            raise SpecError(f"{path}: half_life_days: expected a positive number")
        table["decay"] = 0.5 ** (1.0 / half_life)
    return _build(ModelSpec, table, path, "")


def load_policy(
    name_or_path: str | Path, overrides: Mapping[str, Any] | None = None
) -> PolicySpec:
    """Load and validate a policy spec and the model it names.

    The ``model`` field is a built-in model name (``"ewma-0.94"``) or a path ending
    in ``.toml``, relative to the policy file.

    Parameters
    ----------
    name_or_path : str or Path
        A built-in policy name or a TOML path.
    overrides : Mapping, optional
        Values replacing fields of the file before validation, by dotted field
        (``"target.target_vol_annual"``; an integer picks an item of a list, as in
        ``"triggers.0.enter_above"``), so a bad one is reported like a bad file.
    """
    path = resolve_spec_path(name_or_path, "policies")
    table = _read_toml(path)
    for field_name, value in (overrides or {}).items():
        _override(table, field_name, value, path)
    model_ref = table.get("model")
    if not isinstance(model_ref, str):
        raise SpecError(f"{path}: model: expected the name or path of a model spec")
    model_path: str | Path = model_ref
    if model_ref.endswith(".toml"):
        model_path = path.parent / model_ref
    try:
        table["model"] = load_model(model_path)
    except SpecError as exc:
        raise SpecError(f"{path}: model: {exc}") from exc
    return _build(PolicySpec, table, path, "")


def _override(table: dict[str, Any], dotted: str, value: Any, path: Path) -> None:
    """Set the field `dotted` of a parsed TOML table (tables created as needed)."""
    *parents, last = dotted.split(".")
    node: Any = table
    for depth, key in enumerate(parents):
        where = ".".join(parents[: depth + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise SpecError(f"{path}: {where}: no such item ({len(node)} in list)")
            node = node[int(key)]
        else:
            node = node.setdefault(key, {})
        if not isinstance(node, dict | list):
            raise SpecError(f"{path}: {where}: not a table, cannot set {dotted}")
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise SpecError(f"{path}: {dotted}: no such item ({len(node)} in list)")
        node[int(last)] = value
    else:
        node[last] = value


def _build(cls: type, table: Mapping[str, Any], path: Path, prefix: str) -> Any:
    """Construct dataclass `cls` from a TOML table, checking every field's type."""
    if not isinstance(table, Mapping):
        raise SpecError(f"{path}: {prefix.rstrip('.')}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise SpecError(
            f"{path}: unknown field '{prefix}{unknown[0]}' "
            f"(expected one of: {', '.join(fields)})"
        )
    missing = [
        name
        for name, f in fields.items()
        if name not in table
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise SpecError(f"{path}: missing field '{prefix}{missing[0]}'")
    values = {
        name: _convert(value, hints[name], path, f"{prefix}{name}")
        for name, value in table.items()
    }
    try:
        return cls(**values)
    except _FieldError as exc:
        raise SpecError(f"{path}: {prefix}{exc.name}: {exc}") from None


def _convert(value: Any, hint: Any, path: Path, name: str) -> Any:
    """Check one value against its annotation and convert it (int -> float, ...)."""
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return (
            value if isinstance(value, hint) else _build(hint, value, path, f"{name}.")
        )
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None or (isinstance(value, str) and value == "none"):
            if type(None) in options:
                return None
        inner = next(o for o in options if o is not type(None))
        return _convert(value, inner, path, name)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            expected = ", ".join(repr(a) for a in allowed)
            raise SpecError(
                f"{path}: {name}: expected one of {expected}, got {value!r}"
            )
        return value
    if origin is dict:
        if not isinstance(value, Mapping):
            raise SpecError(f"{path}: {name}: expected a table")
        _, value_type = typing.get_args(hint)
        return {
            str(k): _convert(v, value_type, path, f"{name}.{k}")
            for k, v in value.items()
        }
    if origin is tuple:
        if not isinstance(value, list):
            raise SpecError(f"{path}: {name}: expected a list")
        item_type = typing.get_args(hint)[0]
        return tuple(
            _convert(v, item_type, path, f"{name}[{i}]") for i, v in enumerate(value)
        )
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"{path}: {name}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise SpecError(f"{path}: {name}: expected a finite number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{path}: {name}: expected an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise SpecError(f"{path}: {name}: expected a string, got {value!r}")
        return value
    raise TypeError(
        f"unsupported spec annotation {hint!r} for {name}"
    )  # pragma: no cover
