"""A stress scenario as data: a TOML file, validated into a frozen `Scenario`.

A scenario names its window on the price file, the exogenous shock, the funds
(each a policy with its assets under management), the impact model's parameters,
the average daily volume (ADV) of each asset, the report's thresholds and the
rule variants to compare (policy-field overrides, checked like ``--set``). Every
error names the file and the field. Built-in scenarios live in
``riskengine/stress/scenarios/``; the default ADV table in ``default_adv.toml``
beside this module (labelled there with where its figures come from).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from riskengine.errors import SpecError
from riskengine.specs import PolicySpec, load_policy
from riskengine.specs._validation import is_list_index
from riskengine.specs.files import read_toml

SCENARIOS_DIR = Path(__file__).with_name("scenarios")
DEFAULT_ADV_FILE = Path(__file__).with_name("default_adv.toml")


@dataclass(frozen=True)
class ImpactSpec:
    """The square-root impact law and how its effect splits and decays.

    Impact of a day's net order Q (dollars) on an asset's price:
    ``Y x daily_vol x sign(Q) x sqrt(|Q| / ADV)``.

    Attributes
    ----------
    y : float
        The prefactor Y (dimensionless, of order 1); 0 switches impact off.
    y_source : str
        Where the value of Y comes from.
    permanent_share : float
        Share of the peak impact that stays in the price, in [0, 1].
    temporary_half_life_days : float
        Half-life, in trading rows, of the decay of the rest.
    execution_share : float
        Share of the peak impact each trade pays on average (2/3 for a
        square-root metaorder executed at a constant rate).
    vol_decay : float
        EWMA decay of the daily vol in the law, re-estimated on the impacted path.
    """

    y: float = 0.7
    y_source: str = ""
    permanent_share: float = 2.0 / 3.0
    temporary_half_life_days: float = 2.0
    execution_share: float = 2.0 / 3.0
    vol_decay: float = 0.94


@dataclass(frozen=True)
class ShockSpec:
    """The exogenous path the funds trade on.

    ``replay``: the price file's own returns. ``vol_multiplier``: within the
    window, the returns of the assets in `sleeves` multiplied by `multiplier`.
    """

    kind: Literal["replay", "vol_multiplier"] = "replay"
    multiplier: float = 1.0
    sleeves: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fund:
    """One fund: a policy and its assets under management (dollars) at the start."""

    policy: PolicySpec
    aum: float


@dataclass(frozen=True)
class MarginHike:
    """An exchange's margin change, read by funds with a ``[margin]`` rule.

    From the close of `date`, the margin per unit of `asset` is `multiplier` times
    what the fund's margin model sets; the latest hike of an asset replaces the
    earlier ones.
    """

    date: datetime.date
    asset: str
    multiplier: float


@dataclass(frozen=True)
class ReportSpec:
    """Thresholds of the report and the sensitivity grid.

    Attributes
    ----------
    first_sale_share : float
        A fund has sold a sleeve once its cumulative net sales since the start
        reach this share of its holding of the sleeve at the start.
    sustained_adv_share : float
        Feedback sustains itself in a sleeve on a day when the crowd's net selling
        was at least this share of the sleeve's ADV on that day and the day before,
        and the impacted vol of the sleeve exceeded the unimpacted.
    sensitivity_y : tuple of float
        Values of Y in the sensitivity table.
    sensitivity_size : tuple of float
        Multipliers of every fund's AUM in the sensitivity table.
    """

    first_sale_share: float = 0.1
    sustained_adv_share: float = 0.01
    sensitivity_y: tuple[float, ...] = (0.35, 0.7, 1.0)
    sensitivity_size: tuple[float, ...] = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Variant:
    """The crowd with other rules: policy-field overrides, as ``--set`` gives them.

    Attributes
    ----------
    name : str
        What the variant changes (``"no staged re-entry"``).
    settings : Mapping[str, object]
        The overrides by dotted policy field (``"triggers.0.reentry_days"``).
    policies : tuple of PolicySpec
        Every fund's policy under the variant, in the scenario's fund order: the
        overrides applied to each policy that has the field, the others as given.
    changed : tuple of str
        Names of the policies the overrides reached.
    """

    name: str
    settings: Mapping[str, object]
    policies: tuple[PolicySpec, ...]
    changed: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    """A crowded-exit scenario.

    Attributes
    ----------
    name, description : str
        What it is.
    start, end : date
        First day whose orders move prices, and the last day of the scenario.
    warmup_days : int
        Trading rows walked before `start` (without impact) so that every fund
        enters the scenario invested.
    shock : ShockSpec
        The exogenous path.
    funds : tuple of Fund
        The crowd.
    impact : ImpactSpec
        The impact model.
    adv : Mapping[str, float]
        Average daily volume per asset, dollars.
    adv_source : str
        Where the ADV figures come from (the default table's label, or the file).
    margin_hikes : tuple of MarginHike
        The exchanges' margin-hike schedule, in date order.
    report : ReportSpec
        Thresholds and the sensitivity grid.
    path : str
        The file it was read from.
    variants : tuple of Variant
        Rule variants run beside the scenario (same crowd, same impact).
    """

    name: str
    description: str
    start: datetime.date
    end: datetime.date
    warmup_days: int
    shock: ShockSpec
    funds: tuple[Fund, ...]
    impact: ImpactSpec
    adv: Mapping[str, float]
    adv_source: str
    margin_hikes: tuple[MarginHike, ...]
    report: ReportSpec
    path: str
    variants: tuple[Variant, ...] = ()

    def with_changes(self, *, y: float | None = None, size: float = 1.0) -> Scenario:
        """The scenario with another Y and every fund's AUM multiplied by `size`."""
        impact = self.impact if y is None else dataclasses.replace(self.impact, y=y)
        funds = tuple(dataclasses.replace(f, aum=f.aum * size) for f in self.funds)
        return dataclasses.replace(self, impact=impact, funds=funds)

    def with_variant(self, variant: Variant) -> Scenario:
        """The scenario with every fund on its policy under `variant` (same AUM)."""
        funds = tuple(
            dataclasses.replace(f, policy=p)
            for f, p in zip(self.funds, variant.policies, strict=True)
        )
        return dataclasses.replace(self, funds=funds, variants=())


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with riskengine."""
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario: a TOML path or a built-in scenario's name.

    Raises
    ------
    SpecError
        Naming the file and the field: unknown or missing fields, values of the
        wrong type or out of range, an unknown policy, a window that ends before
        it starts.
    """
    path = _resolve(name_or_path)
    table = read_toml(path)
    fields = _Fields(table, path, "")
    name = fields.text("name", required=True)
    description = fields.text("description")
    start = fields.date("start")
    end = fields.date("end")
    if end <= start:
        raise SpecError(f"{path}: end: {end} is not after start ({start})")
    warmup = fields.integer("warmup_days", 126, 1, 100_000)
    shock = _shock(fields.table("shock"), path)
    impact = _impact(fields.table("impact"), path)
    report = _report(fields.table("report"), path)
    funds, sources = _funds(fields.tables("funds"), path)
    variants = _variants(fields.tables("variants"), path, funds, sources)
    hikes = _margin_hikes(fields.tables("margin_hikes"), path)
    adv_default, adv_source = default_adv()
    overrides = fields.table("adv")
    adv = dict(adv_default)
    for asset in list(overrides):
        adv[asset] = _Fields(overrides, path, "adv.").number(
            asset, None, 1.0, 1e15, required=True
        )
    if overrides:
        adv_source = f"{adv_source}; overridden in {path} for {', '.join(overrides)}"
    fields.done()
    return Scenario(
        name=name,
        description=description,
        start=start,
        end=end,
        warmup_days=warmup,
        shock=shock,
        funds=funds,
        impact=impact,
        adv=adv,
        adv_source=adv_source,
        margin_hikes=hikes,
        report=report,
        path=str(path),
        variants=variants,
    )


def default_adv() -> tuple[dict[str, float], str]:
    """The built-in ADV table (dollars per day by asset) and its label."""
    table = read_toml(DEFAULT_ADV_FILE)
    fields = _Fields(table, DEFAULT_ADV_FILE, "")
    source = fields.text("source", required=True)
    volumes = fields.table("adv")
    adv = {
        asset: _Fields(volumes, DEFAULT_ADV_FILE, "adv.").number(
            asset, None, 1.0, 1e15, required=True
        )
        for asset in list(volumes)
    }
    return adv, source


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = SCENARIOS_DIR / f"{path.name.removesuffix('.toml')}.toml"
    if path.parent == Path(".") and builtin.is_file():
        return builtin
    raise SpecError(
        f"{name_or_path}: no such file, nor a built-in scenario "
        f"(built-in: {', '.join(builtin_scenarios())})"
    )


def _shock(table: dict[str, Any], path: Path) -> ShockSpec:
    fields = _Fields(table, path, "shock.")
    kind = fields.choice("kind", ("replay", "vol_multiplier"), "replay")
    if kind == "replay":
        fields.done()
        return ShockSpec()
    multiplier = fields.number("multiplier", None, 0.0, 100.0, required=True)
    sleeves = fields.texts("sleeves", required=True)
    fields.done()
    return ShockSpec("vol_multiplier", multiplier, sleeves)


def _impact(table: dict[str, Any], path: Path) -> ImpactSpec:
    fields = _Fields(table, path, "impact.")
    spec = ImpactSpec(
        y=fields.number("y", ImpactSpec.y, 0.0, 100.0),
        y_source=fields.text("y_source"),
        permanent_share=fields.number(
            "permanent_share", ImpactSpec.permanent_share, 0.0, 1.0
        ),
        temporary_half_life_days=fields.number(
            "temporary_half_life_days", ImpactSpec.temporary_half_life_days, 0.01, 1e4
        ),
        execution_share=fields.number(
            "execution_share", ImpactSpec.execution_share, 0.0, 1.0
        ),
        vol_decay=fields.number("vol_decay", ImpactSpec.vol_decay, 0.5, 0.9999),
    )
    fields.done()
    return spec


def _report(table: dict[str, Any], path: Path) -> ReportSpec:
    fields = _Fields(table, path, "report.")
    spec = ReportSpec(
        first_sale_share=fields.number(
            "first_sale_share", ReportSpec.first_sale_share, 1e-6, 1.0
        ),
        sustained_adv_share=fields.number(
            "sustained_adv_share", ReportSpec.sustained_adv_share, 0.0, 100.0
        ),
        sensitivity_y=fields.numbers(
            "sensitivity_y", ReportSpec.sensitivity_y, 0.0, 100.0
        ),
        sensitivity_size=fields.numbers(
            "sensitivity_size", ReportSpec.sensitivity_size, 0.0, 1000.0
        ),
    )
    fields.done()
    return spec


def _funds(
    tables: list[dict[str, Any]], path: Path
) -> tuple[tuple[Fund, ...], tuple[str, ...]]:
    """The funds, and the name or path each policy was loaded from."""
    if not tables:
        raise SpecError(f"{path}: funds: expected at least one [[funds]] table")
    funds, sources = [], []
    for k, table in enumerate(tables):
        fields = _Fields(table, path, f"funds[{k}].")
        policy_name = fields.text("policy", required=True)
        aum = fields.number("aum", None, 0.0, 1e15, required=True)
        fields.done()
        sources.append(_relative(policy_name, path))
        try:
            policy = load_policy(sources[-1])
        except SpecError as exc:
            raise SpecError(f"{path}: funds[{k}].policy: {exc}") from None
        funds.append(Fund(policy, aum))
    names = [f.policy.name for f in funds]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SpecError(
            f"{path}: funds: policy {', '.join(repeated)} listed twice: "
            "give each framework once, with the AUM of all its followers"
        )
    return tuple(funds), tuple(sources)


def _variants(
    tables: list[dict[str, Any]],
    path: Path,
    funds: tuple[Fund, ...],
    sources: tuple[str, ...],
) -> tuple[Variant, ...]:
    """The ``[[variants]]``: each override applied to the funds whose policy has it.

    A field no fund's policy has is an error, as is a value the policy rejects
    (checked by `load_policy` exactly as ``--set`` is); each names the file, the
    variant and the field.
    """
    variants: list[Variant] = []
    for k, table in enumerate(tables):
        fields = _Fields(table, path, f"variants[{k}].")
        name = fields.text("name", required=True)
        settings = fields.table("set")
        fields.done()
        where = f"{path}: variants[{k}] ({name})"
        if name in {v.name for v in variants}:
            raise SpecError(f"{where}: name: listed twice")
        if not settings:
            raise SpecError(f"{where}: set: expected at least one FIELD = VALUE")
        reached: dict[int, dict[str, object]] = {}
        for field, value in settings.items():
            holders = [i for i, f in enumerate(funds) if has_field(f.policy, field)]
            if not holders:
                names = ", ".join(f.policy.name for f in funds)
                raise SpecError(
                    f"{where}: set.{field}: no fund's policy has this field ({names})"
                )
            for i in holders:
                reached.setdefault(i, {})[field] = value
        policies: list[PolicySpec] = []
        for i, fund in enumerate(funds):
            if i not in reached:
                policies.append(fund.policy)
                continue
            try:
                policies.append(load_policy(sources[i], reached[i]))
            except SpecError as exc:
                raise SpecError(
                    f"{where}: set on policy {fund.policy.name}: {exc}"
                ) from None
        changed = tuple(funds[i].policy.name for i in sorted(reached))
        variants.append(Variant(name, dict(settings), tuple(policies), changed))
    return tuple(variants)


def has_field(spec: object, dotted: str) -> bool:
    """Whether a spec has the dotted field (an integer picks an item of a list).

    An optional part the spec leaves out (``margin`` without a margin rule) is a
    field the spec does not have; so is an item past the end of a list.
    """
    node = spec
    for key in dotted.split("."):
        if isinstance(node, tuple | list):
            if not is_list_index(key) or int(key) >= len(node):
                return False
            node = node[int(key)]
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            if key not in {f.name for f in dataclasses.fields(node)}:
                return False
            node = getattr(node, key)
        elif isinstance(node, Mapping):
            if key not in node:
                return False
            node = node[key]
        else:
            return False
    return True


def _margin_hikes(tables: list[dict[str, Any]], path: Path) -> tuple[MarginHike, ...]:
    hikes = []
    for k, table in enumerate(tables):
        fields = _Fields(table, path, f"margin_hikes[{k}].")
        hike = MarginHike(
            date=fields.date("date"),
            asset=fields.text("asset", required=True),
            multiplier=fields.number("multiplier", None, 0.01, 100.0, required=True),
        )
        fields.done()
        hikes.append(hike)
    return tuple(sorted(hikes, key=lambda h: h.date))


def _relative(name: str, path: Path) -> str:
    """A policy path relative to the scenario file, or a built-in policy's name."""
    beside = path.parent / name
    return str(beside) if name.endswith(".toml") and beside.is_file() else name


class _Fields:
    """Typed reads from one TOML table; each error names the file and the field."""

    def __init__(self, table: dict[str, Any], path: Path, prefix: str) -> None:
        self.values, self.path, self.prefix = dict(table), path, prefix

    def _fail(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {self.prefix}{key}: {message}")

    def _take(self, key: str, required: bool) -> Any:
        if key not in self.values:
            if required:
                raise self._fail(key, "missing")
            return None
        return self.values.pop(key)

    def text(self, key: str, *, required: bool = False) -> str:
        value = self._take(key, required)
        if value is None:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self._fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def texts(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        value = self._take(key, required)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, f"expected a list of strings, got {value!r}")
        if required and not value:
            raise self._fail(key, "expected at least one name")
        return tuple(value)

    def date(self, key: str) -> datetime.date:
        value = self._take(key, True)
        if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
            raise self._fail(key, f"expected a date such as 2026-01-02, got {value!r}")
        return value

    def number(
        self,
        key: str,
        default: float | None,
        low: float,
        high: float,
        *,
        required: bool = False,
    ) -> float:
        value = self._take(key, required)
        if value is None:
            assert default is not None
            return default
        return self._checked(key, value, low, high)

    def numbers(
        self, key: str, default: tuple[float, ...], low: float, high: float
    ) -> tuple[float, ...]:
        value = self._take(key, False)
        if value is None:
            return default
        if not isinstance(value, list) or not value:
            raise self._fail(
                key, f"expected a non-empty list of numbers, got {value!r}"
            )
        return tuple(self._checked(key, v, low, high) for v in value)

    def _checked(self, key: str, value: Any, low: float, high: float) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            raise self._fail(
                key, f"expected a number in [{low:g}, {high:g}], got {value!r}"
            )
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._take(key, False)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not low <= value <= high
        ):
            raise self._fail(
                key, f"expected an integer in [{low}, {high}], got {value!r}"
            )
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> Any:
        value = self._take(key, False)
        if value is None:
            return default
        if value not in allowed:
            raise self._fail(
                key, f"expected one of {', '.join(allowed)}, got {value!r}"
            )
        return value

    def table(self, key: str) -> dict[str, Any]:
        value = self._take(key, False)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._fail(key, f"expected a table, got {value!r}")
        return value

    def tables(self, key: str) -> list[dict[str, Any]]:
        value = self._take(key, False)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._fail(key, f"expected an array of tables ([[{key}]])")
        return value

    def done(self) -> None:
        """Fail on any field not read: a typo is an error, never ignored."""
        if self.values:
            unknown = ", ".join(f"{self.prefix}{k}" for k in self.values)
            raise SpecError(f"{self.path}: unknown field(s): {unknown}")
