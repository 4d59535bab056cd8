"""Limits as objects, and the ones the projection meets: the weight limits.

A `Limit` owns one family of a policy's limits: the spec fields it claims, those of
them that apply to a book, its breach test, and the combinations of fields that can
never hold on a universe. How it is met belongs to its kind: a `WeightLimit` is a
cvxpy constraint of the projection (asset bounds, sleeve bounds, gross leverage, the
vol cap, the turnover cap), with its parameter values for one date; the limits met
by scaling the portfolio down (VaR/ES, margin) or by cutting sleeves (risk caps) are
in `riskengine.policy.limits`. `WEIGHT_LIMITS` registers the weight limits in the
order the projection stacks their constraints.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from riskengine._typing import FloatArray
from riskengine.policy.context import DecisionContext
from riskengine.registry import Registry
from riskengine.specs import PolicySpec

LARGE = 1e6
"""Bound given to the projection where a limit is absent."""


@dataclass(frozen=True)
class Book:
    """What a limit reads besides the weights it judges, at one decision.

    Attributes
    ----------
    previous : ndarray
        Current weights of the active assets, shape (n,).
    sleeves : tuple of str
        Sleeve of each active asset.
    first_trade : bool
        True until the portfolio has first traded.
    vol : ndarray
        Daily vol forecasts, shape (n,).
    covariance : ndarray
        Daily covariance forecast, shape (n, n).
    target : ndarray
        The weights a projection starts from, shape (n,); their ex-ante vol is the
        vol cap (a projection never adds risk).
    sleeve_caps : mapping of str to float
        Extra sleeve maxima: the gross weight of each sleeve cut for risk.
    margin_multipliers : ndarray or None
        Exchange margin hikes in force, shape (n,) (see
        `DecisionContext.margin_multipliers`); None for none.
    """

    previous: FloatArray
    sleeves: tuple[str, ...]
    first_trade: bool
    vol: FloatArray
    covariance: FloatArray
    target: FloatArray
    sleeve_caps: Mapping[str, float] = field(default_factory=dict)
    margin_multipliers: FloatArray | None = None

    @classmethod
    def of(cls, context: DecisionContext, target: FloatArray) -> Book:
        """The book of a decision's context, aiming at `target`."""
        return cls(
            context.previous,
            context.sleeves,
            context.first_trade,
            context.vol,
            context.covariance,
            target,
            margin_multipliers=context.margin_multipliers,
        )


def ex_ante_vol(weights: FloatArray, cov: FloatArray) -> float:
    """Daily ex-ante vol ``sqrt(w' cov w)`` (0 when rounding makes it negative)."""
    return float(np.sqrt(max(float(weights @ cov @ weights), 0.0)))


def covariance_scale(cov: FloatArray) -> float:
    """Mean variance: the projection divides the covariance by it (data of order 1)."""
    return float(np.mean(np.diag(cov)))


class Limit(ABC):
    """One family of a policy's limits: its fields, breach test and conflicts."""

    name: str
    claims: tuple[str, ...]
    """Every dotted policy field this limit reads (``"limits.max_turnover"``)."""

    @abstractmethod
    def fields(self, policy: PolicySpec, book: Book) -> list[str]:
        """Dotted policy fields of this limit that are set and apply to `book`."""

    @abstractmethod
    def broken(
        self, weights: FloatArray, book: Book, policy: PolicySpec, tol: float
    ) -> list[str]:
        """The fields `weights` break by more than `tol`."""

    def conflicts(self, policy: PolicySpec, counts: Mapping[str, int]) -> list[str]:
        """Combinations of fields that cannot hold given the sleeves' asset counts."""
        return []


@dataclass(frozen=True)
class Frame:
    """What a weight limit's constraints are written on, in the projection.

    Attributes
    ----------
    weights : cp.Variable
        The projection's weights, shape (n,).
    factor : cp.Parameter
        Upper Cholesky factor of the covariance divided by `covariance_scale`, so
        that ``factor @ weights`` has the ex-ante vol over its square root as norm.
    sleeves : sequence of str
        Sleeve of each asset.
    """

    weights: cp.Variable
    factor: cp.Parameter
    sleeves: Sequence[str]


@dataclass(frozen=True)
class Compiled:
    """A limit's part of the projection: its cvxpy parameters (by name), constraints."""

    parameters: dict[str, cp.Parameter]
    constraints: list[cp.Constraint]


@dataclass(frozen=True)
class Polyhedral:
    """A limit's constraints at one date as ``lower <= rows @ w <= upper``.

    Attributes
    ----------
    rows : ndarray or None
        Shape (m, n); None for bounds on each weight (the identity).
    lower, upper : ndarray
        Shape (m,), or (n,) for bounds on each weight.
    """

    rows: FloatArray | None
    lower: FloatArray
    upper: FloatArray


class WeightLimit(Limit):
    """A limit met by projecting onto its cvxpy constraints (`ConstrainedProblem`)."""

    parameter_names: tuple[str, ...]
    """Names of its parameters: the keys of `compile`'s and of `values`' dicts."""

    def projected(self, policy: PolicySpec) -> bool:
        """Whether the policy's projection holds this limit's constraints."""
        return True

    def polyhedral(
        self, sleeves: Sequence[str], values: Mapping[str, FloatArray | float]
    ) -> Polyhedral | None:
        """The constraints with the projection's parameter `values`, as linear rows.

        For the projection's active-set path (`optimizers.ConstrainedProblem`);
        None when they are not linear with these values (cvxpy then solves).

        Parameters
        ----------
        sleeves : sequence of str
            Sleeve of each asset.
        values : mapping of str to ndarray or float
            Every limit's parameter values of the date, by name.
        """
        return None

    @abstractmethod
    def compile(self, frame: Frame) -> Compiled:
        """Parameters and constraints of this limit on the projection's weights."""

    @abstractmethod
    def values(self, policy: PolicySpec, book: Book) -> dict[str, FloatArray | float]:
        """Parameter values for one date."""


class AssetBounds(WeightLimit):
    """``limits.min_asset_weight`` and ``limits.max_asset_weight`` on every asset."""

    name = "asset_bounds"
    claims = ("limits.min_asset_weight", "limits.max_asset_weight")
    parameter_names = ("lower", "upper")

    def fields(self, policy: PolicySpec, book: Book) -> list[str]:
        """The bounds that are set."""
        limits, fields = policy.limits, []
        if limits.min_asset_weight != 0.0:
            fields.append("limits.min_asset_weight")
        if limits.max_asset_weight is not None:
            fields.append("limits.max_asset_weight")
        return fields

    def broken(
        self, weights: FloatArray, book: Book, policy: PolicySpec, tol: float
    ) -> list[str]:
        """A bound is broken when any asset is beyond it."""
        limits, broken = policy.limits, []
        if (weights < limits.min_asset_weight - tol).any():
            broken.append("limits.min_asset_weight")
        cap = limits.max_asset_weight
        if cap is not None and (weights > cap + tol).any():
            broken.append("limits.max_asset_weight")
        return broken

    def compile(self, frame: Frame) -> Compiled:
        """``lower <= w <= upper`` elementwise."""
        n, weights = len(frame.sleeves), frame.weights
        lower, upper = cp.Parameter(n), cp.Parameter(n)
        return Compiled(
            {"lower": lower, "upper": upper}, [weights >= lower, weights <= upper]
        )

    def polyhedral(
        self, sleeves: Sequence[str], values: Mapping[str, FloatArray | float]
    ) -> Polyhedral | None:
        """Bounds on each weight."""
        return Polyhedral(
            None, np.asarray(values["lower"]), np.asarray(values["upper"])
        )

    def values(self, policy: PolicySpec, book: Book) -> dict[str, FloatArray | float]:
        """The bounds for every asset (a large upper bound when uncapped)."""
        limits, n = policy.limits, len(book.sleeves)
        cap = LARGE if limits.max_asset_weight is None else limits.max_asset_weight
        return {
            "lower": np.full(n, limits.min_asset_weight),
            "upper": np.full(n, cap),
        }


class SleeveBounds(WeightLimit):
    """``limits.sleeve_min_weight`` and ``limits.sleeve_max_weight`` per sleeve."""

    name = "sleeve_bounds"
    claims = ("limits.sleeve_min_weight", "limits.sleeve_max_weight")
    parameter_names = ("sleeve_lower", "sleeve_upper")

    def fields(self, policy: PolicySpec, book: Book) -> list[str]:
        """The bounds of the sleeves present."""
        present, fields = set(book.sleeves), []
        for table in ("sleeve_min_weight", "sleeve_max_weight"):
            bounds = getattr(policy.limits, table)
            fields += [f"limits.{table}.{s}" for s in bounds if s in present]
        return fields

    def broken(
        self, weights: FloatArray, book: Book, policy: PolicySpec, tol: float
    ) -> list[str]:
        """A bound is broken when its sleeve's net weight is beyond it."""
        limits, broken = policy.limits, []
        labels = np.asarray(book.sleeves)
        for sleeve, low in limits.sleeve_min_weight.items():
            members = labels == sleeve
            if members.any() and weights[members].sum() < low - tol:
                broken.append(f"limits.sleeve_min_weight.{sleeve}")
        for sleeve, high in limits.sleeve_max_weight.items():
            if weights[labels == sleeve].sum() > high + tol:
                broken.append(f"limits.sleeve_max_weight.{sleeve}")
        return broken

    def compile(self, frame: Frame) -> Compiled:
        """``lower <= M w <= upper`` with M the sleeve membership matrix."""
        names = _sleeve_names(frame.sleeves)
        membership = np.array([[s == name for s in frame.sleeves] for name in names])
        lower, upper = cp.Parameter(len(names)), cp.Parameter(len(names))
        net = membership.astype(float) @ frame.weights
        return Compiled(
            {"sleeve_lower": lower, "sleeve_upper": upper}, [net >= lower, net <= upper]
        )

    def polyhedral(
        self, sleeves: Sequence[str], values: Mapping[str, FloatArray | float]
    ) -> Polyhedral | None:
        """One row per sleeve: the membership of its assets."""
        labels = np.asarray(sleeves)
        rows = np.array([labels == name for name in _sleeve_names(sleeves)], float)
        return Polyhedral(
            rows, np.asarray(values["sleeve_lower"]), np.asarray(values["sleeve_upper"])
        )

    def values(self, policy: PolicySpec, book: Book) -> dict[str, FloatArray | float]:
        """The bounds per sleeve, the book's `sleeve_caps` as extra maxima.

        A sleeve cut to its risk cap may fall below its minimum: the cap wins.
        """
        limits, names = policy.limits, _sleeve_names(book.sleeves)
        caps = book.sleeve_caps
        upper = {**limits.sleeve_max_weight, **caps}
        lower = {
            s: min(low, caps.get(s, LARGE))
            for s, low in limits.sleeve_min_weight.items()
        }
        return {
            "sleeve_lower": np.array([lower.get(s, -LARGE) for s in names]),
            "sleeve_upper": np.array([upper.get(s, LARGE) for s in names]),
        }

    def conflicts(self, policy: PolicySpec, counts: Mapping[str, int]) -> list[str]:
        """Impossible sleeve minima.

        A minimum above its maximum, on an absent sleeve or above its assets' caps,
        and minima summing above gross leverage.
        """
        limits, gross = policy.limits, policy.target.max_gross_leverage
        conflicts = []
        for sleeve, low in limits.sleeve_min_weight.items():
            high = limits.sleeve_max_weight.get(sleeve)
            if high is not None and low > high:
                conflicts.append(
                    f"limits.sleeve_min_weight.{sleeve} ({low:g}) > "
                    f"limits.sleeve_max_weight.{sleeve} ({high:g})"
                )
            if low > 0 and sleeve not in counts:
                conflicts.append(
                    f"limits.sleeve_min_weight.{sleeve} ({low:g}) but the data has no "
                    f"{sleeve} asset"
                )
            cap = limits.max_asset_weight
            if cap is not None and sleeve in counts and low > cap * counts[sleeve]:
                conflicts.append(
                    f"limits.sleeve_min_weight.{sleeve} ({low:g}) > limits."
                    f"max_asset_weight ({cap:g}) x {counts[sleeve]} {sleeve} assets"
                )
        total_min = sum(limits.sleeve_min_weight.values())
        if total_min > gross:
            conflicts.append(
                f"sum of limits.sleeve_min_weight ({total_min:g}) > "
                f"target.max_gross_leverage ({gross:g})"
            )
        return conflicts


class GrossLeverage(WeightLimit):
    """``target.max_gross_leverage``: the sum of absolute weights."""

    name = "gross_leverage"
    claims = ("target.max_gross_leverage",)
    parameter_names = ("gross",)

    def fields(self, policy: PolicySpec, book: Book) -> list[str]:
        """The cap, which every policy has."""
        return ["target.max_gross_leverage"]

    def broken(
        self, weights: FloatArray, book: Book, policy: PolicySpec, tol: float
    ) -> list[str]:
        """Broken when the absolute weights sum above the cap."""
        if float(np.abs(weights).sum()) > policy.target.max_gross_leverage + tol:
            return ["target.max_gross_leverage"]
        return []

    def compile(self, frame: Frame) -> Compiled:
        """``|w|_1 <= gross``."""
        gross = cp.Parameter(nonneg=True)
        return Compiled({"gross": gross}, [cp.norm1(frame.weights) <= gross])

    def polyhedral(
        self, sleeves: Sequence[str], values: Mapping[str, FloatArray | float]
    ) -> Polyhedral | None:
        """``sum(w) <= gross`` when every weight is bounded below by 0 (long only).

        Then ``|w|_1 = sum(w)``; with short sales allowed it is not linear (None).
        """
        lower = values.get("lower")
        if lower is None or np.min(lower) < 0.0:
            return None
        gross = float(values["gross"])
        return Polyhedral(
            np.ones((1, len(sleeves))), np.array([-LARGE]), np.array([gross])
        )

    def values(self, policy: PolicySpec, book: Book) -> dict[str, FloatArray | float]:
        """The cap."""
        return {"gross": policy.target.max_gross_leverage}


class VolCap(WeightLimit):
    """The projection never adds risk: ex-ante vol within that of the book's target.

    It has no field of its own: the cap is what the vol target, the gross leverage
    cap and the risk scales left (`target` of the book).
    """

    name = "vol_cap"
    claims = ()
    parameter_names = ("vol_cap",)

    def fields(self, policy: PolicySpec, book: Book) -> list[str]:
        """None: the cap is no policy field."""
        return []

    def cap(self, book: Book) -> float:
        """Daily vol cap: the target's ex-ante vol (at least 1e-12), plus 1e-9 of it."""
        return max(ex_ante_vol(book.target, book.covariance), 1e-12) * (1 + 1e-9)

    def broken(
        self, weights: FloatArray, book: Book, policy: PolicySpec, tol: float
    ) -> list[str]:
        """Broken when the weights' ex-ante vol exceeds the cap (named ``vol_cap``)."""
        if ex_ante_vol(weights, book.covariance) > self.cap(book) + tol:
            return [self.name]
        return []

    def compile(self, frame: Frame) -> Compiled:
        """``|factor w|_2 <= vol_cap`` (in the projection's scaled units)."""
        vol_cap = cp.Parameter(nonneg=True)
        return Compiled(
            {"vol_cap": vol_cap}, [cp.norm(frame.factor @ frame.weights) <= vol_cap]
        )

    def values(self, policy: PolicySpec, book: Book) -> dict[str, FloatArray | float]:
        """The cap in the projection's units."""
        return {"vol_cap": self.cap(book) / np.sqrt(covariance_scale(book.covariance))}

    def relaxed(self, book: Book) -> dict[str, FloatArray | float]:
        """Values that lift the cap (to tell it from the other limits' conflicts)."""
        return {"vol_cap": LARGE / np.sqrt(covariance_scale(book.covariance))}


class TurnoverCap(WeightLimit):
    """``limits.max_turnover``: one-way turnover of a rebalance, bar the first."""

    name = "turnover"
    claims = ("limits.max_turnover",)
    parameter_names = ("previous", "turnover")

    def projected(self, policy: PolicySpec) -> bool:
        """Only when the policy caps turnover."""
        return policy.limits.max_turnover is not None

    def fields(self, policy: PolicySpec, book: Book) -> list[str]:
        """The cap, unless this is the first trade."""
        if policy.limits.max_turnover is None or book.first_trade:
            return []
        return ["limits.max_turnover"]

    def broken(
        self, weights: FloatArray, book: Book, policy: PolicySpec, tol: float
    ) -> list[str]:
        """Broken when the trades' absolute sum exceeds the cap."""
        cap = policy.limits.max_turnover
        turnover = float(np.abs(weights - book.previous).sum())
        if not book.first_trade and cap is not None and turnover > cap + tol:
            return ["limits.max_turnover"]
        return []

    def compile(self, frame: Frame) -> Compiled:
        """``|w - previous|_1 <= turnover``."""
        previous = cp.Parameter(len(frame.sleeves))
        turnover = cp.Parameter(nonneg=True)
        return Compiled(
            {"previous": previous, "turnover": turnover},
            [cp.norm1(frame.weights - previous) <= turnover],
        )

    def polyhedral(
        self, sleeves: Sequence[str], values: Mapping[str, FloatArray | float]
    ) -> Polyhedral | None:
        """No rows while the cap is the large one of a first trade; else None.

        ``|w - previous|_1`` is not linear: a binding turnover cap needs cvxpy.
        """
        if float(values["turnover"]) < LARGE:
            return None
        return Polyhedral(np.zeros((0, len(sleeves))), np.zeros(0), np.zeros(0))

    def values(self, policy: PolicySpec, book: Book) -> dict[str, FloatArray | float]:
        """The holdings and the cap (a large one on the first trade)."""
        cap = policy.limits.max_turnover
        return {
            "previous": book.previous,
            "turnover": LARGE if book.first_trade or cap is None else cap,
        }


def _sleeve_names(sleeves: Sequence[str]) -> list[str]:
    """Distinct sleeves in order of first appearance."""
    return list(dict.fromkeys(sleeves))


VOL_CAP = VolCap()
WEIGHT_LIMITS: Registry[WeightLimit] = Registry(
    "weight limit",
    "limits",
    [AssetBounds(), SleeveBounds(), GrossLeverage(), VOL_CAP, TurnoverCap()],
)
"""The weight limits, in the order the projection stacks their constraints."""
