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
    """A volatility model: EWMA (RiskMetrics) or GARCH(1,1)/GJR(1,1) fitted by arch.

    Attributes
    ----------
    name, description : str
        Identifier and one-line description.
    family : {"ewma", "garch", "gjr"}
        EWMA of squared returns, or GARCH(1,1) / GJR-GARCH(1,1) fitted with `arch` on
        percent returns.
    decay : float
        EWMA decay lambda (daily); `half_life_days` in the file is an alias.
    distribution : {"normal", "t"}
        GARCH error distribution.
    mean : {"zero", "constant"}
        GARCH mean model.
    window_days : int
        Trailing estimation window, in observations of the asset.
    min_window_days : int
        Fewest observations for a first fit; EWMA is used before.
    refit_every_days : int
        Observations between refits; in between the fit is filtered with fixed
        parameters.
    fallback_decay : float
        Decay of the EWMA used when a fit fails or does not converge.
    """

    name: str
    description: str = ""
    family: Literal["ewma", "garch", "gjr"] = "ewma"
    decay: float = 0.94
    distribution: Literal["normal", "t"] = "t"
    mean: Literal["zero", "constant"] = "constant"
    window_days: int = 1000
    min_window_days: int = 250
    refit_every_days: int = 21
    fallback_decay: float = 0.94

    def __post_init__(self) -> None:
        for name in ("decay", "fallback_decay"):
            value = getattr(self, name)
            _require(0.0 < value < 1.0, name, f"must be in (0, 1), got {value}")
        _require(self.min_window_days >= 100, "min_window_days", "must be at least 100")
        _require(
            self.window_days >= self.min_window_days,
            "window_days",
            f"must be at least min_window_days ({self.min_window_days})",
        )
        _require(self.refit_every_days >= 1, "refit_every_days", "must be at least 1")


@dataclass(frozen=True)
class TargetSpec:
    """How target weights are formed: base weights, then an optional vol target.

    Attributes
    ----------
    base : {"inverse_vol", "sleeve_equal_risk", "fixed"}
        ``inverse_vol``: weights proportional to 1 / forecast vol over all assets;
        ``sleeve_equal_risk``: inverse vol within each sleeve, sleeves sized to
        equal stand-alone vol; ``fixed``: `sleeve_weights`, split equally over the
        sleeve's active assets.
    target_vol_annual : float or None
        Ex-ante portfolio vol target (annualised); None keeps the base weights.
    max_gross_leverage : float
        Cap on the sum of absolute weights, applied after the vol scaling.
    sleeve_weights : dict
        Fixed weight per sleeve (for ``base = "fixed"``).
    """

    base: Literal["inverse_vol", "sleeve_equal_risk", "fixed"] = "inverse_vol"
    target_vol_annual: float | None = None
    max_gross_leverage: float = 1.0
    sleeve_weights: dict[str, float] = field(default_factory=dict)

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
    correlation_half_life_days : float
        Half-life of the EWMA correlation, in observations.
    """

    correlation_half_life_days: float = 63.0

    def __post_init__(self) -> None:
        half_life = self.correlation_half_life_days
        _require(half_life >= 1.0, "correlation_half_life_days", "must be at least 1")


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


def load_policy(name_or_path: str | Path) -> PolicySpec:
    """Load and validate a policy spec and the model it names.

    The ``model`` field is a built-in model name (``"ewma-0.94"``) or a path ending
    in ``.toml``, relative to the policy file.
    """
    path = resolve_spec_path(name_or_path, "policies")
    table = _read_toml(path)
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
        return tuple(_convert(v, item_type, path, name) for v in value)
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
