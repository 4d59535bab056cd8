"""Weight limits as objects: each knows its fields, breach test, constraints, conflicts.

A `WeightLimit` owns one family of a policy's weight limits (asset bounds, sleeve
bounds, the turnover cap): the dotted spec fields that apply, which of them a weight
vector breaks given the holdings, its cvxpy constraints in the projection with the
parameter values for one date, and the combinations that can never hold on a
universe. `WEIGHT_LIMITS` registers them, in the order the projection stacks their
constraints; `limits` and `optimizers` loop over it instead of naming each limit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import cvxpy as cp
import numpy as np

from riskengine._typing import FloatArray
from riskengine.registry import Registry
from riskengine.specs import PolicySpec

LARGE = 1e6
"""Bound given to the projection where a limit is absent."""


class Holdings(Protocol):
    """What a breach test reads besides the weights (a `DecisionContext` is one)."""

    @property
    def previous(self) -> FloatArray:
        """Current weights of the active assets."""
        ...

    @property
    def sleeves(self) -> Sequence[str]:
        """Sleeve of each active asset."""
        ...

    @property
    def first_trade(self) -> bool:
        """True until the portfolio has first traded."""
        ...


@dataclass(frozen=True)
class Book:
    """Plain `Holdings`: current weights, sleeves, whether this is the first trade."""

    previous: FloatArray
    sleeves: Sequence[str]
    first_trade: bool


@dataclass(frozen=True)
class Compiled:
    """A limit's part of the projection: its cvxpy parameters (by name), constraints."""

    parameters: dict[str, cp.Parameter]
    constraints: list[cp.Constraint]


class WeightLimit(ABC):
    """One family of weight limits, from its spec fields to its cvxpy constraints."""

    name: str
    optional: bool = False
    """Whether the projection includes its constraints only on request (after the
    gross and vol caps, where the others come before them)."""

    @abstractmethod
    def fields(self, policy: PolicySpec, holdings: Holdings) -> list[str]:
        """Dotted policy fields of this limit that apply to these holdings."""

    @abstractmethod
    def broken(
        self, weights: FloatArray, holdings: Holdings, policy: PolicySpec, tol: float
    ) -> list[str]:
        """The fields `weights` break by more than `tol`."""

    @abstractmethod
    def compile(self, weights: cp.Variable, sleeves: Sequence[str]) -> Compiled:
        """Parameters and constraints of this limit on the projection's `weights`."""

    @abstractmethod
    def values(
        self,
        policy: PolicySpec,
        holdings: Holdings,
        override: Mapping[str, float],
    ) -> dict[str, FloatArray | float]:
        """Parameter values for one date; `override` caps sleeves cut for risk."""

    def conflicts(self, policy: PolicySpec, counts: Mapping[str, int]) -> list[str]:
        """Combinations of fields that cannot hold given the sleeves' asset counts."""
        return []


class AssetBounds(WeightLimit):
    """``limits.min_asset_weight`` and ``limits.max_asset_weight`` on every asset."""

    name = "asset_bounds"

    def fields(self, policy: PolicySpec, holdings: Holdings) -> list[str]:
        """The bounds that are set."""
        limits, fields = policy.limits, []
        if limits.min_asset_weight != 0.0:
            fields.append("limits.min_asset_weight")
        if limits.max_asset_weight is not None:
            fields.append("limits.max_asset_weight")
        return fields

    def broken(
        self, weights: FloatArray, holdings: Holdings, policy: PolicySpec, tol: float
    ) -> list[str]:
        """A bound is broken when any asset is beyond it."""
        limits, broken = policy.limits, []
        if (weights < limits.min_asset_weight - tol).any():
            broken.append("limits.min_asset_weight")
        cap = limits.max_asset_weight
        if cap is not None and (weights > cap + tol).any():
            broken.append("limits.max_asset_weight")
        return broken

    def compile(self, weights: cp.Variable, sleeves: Sequence[str]) -> Compiled:
        """``lower <= w <= upper`` elementwise."""
        n = len(sleeves)
        lower, upper = cp.Parameter(n), cp.Parameter(n)
        return Compiled(
            {"lower": lower, "upper": upper}, [weights >= lower, weights <= upper]
        )

    def values(
        self,
        policy: PolicySpec,
        holdings: Holdings,
        override: Mapping[str, float],
    ) -> dict[str, FloatArray | float]:
        """The bounds for every asset (a large upper bound when uncapped)."""
        limits, n = policy.limits, len(holdings.sleeves)
        cap = LARGE if limits.max_asset_weight is None else limits.max_asset_weight
        return {
            "lower": np.full(n, limits.min_asset_weight),
            "upper": np.full(n, cap),
        }


class SleeveBounds(WeightLimit):
    """``limits.sleeve_min_weight`` and ``limits.sleeve_max_weight`` per sleeve."""

    name = "sleeve_bounds"

    def fields(self, policy: PolicySpec, holdings: Holdings) -> list[str]:
        """The bounds of the sleeves present."""
        present, fields = set(holdings.sleeves), []
        for table in ("sleeve_min_weight", "sleeve_max_weight"):
            bounds = getattr(policy.limits, table)
            fields += [f"limits.{table}.{s}" for s in bounds if s in present]
        return fields

    def broken(
        self, weights: FloatArray, holdings: Holdings, policy: PolicySpec, tol: float
    ) -> list[str]:
        """A bound is broken when its sleeve's net weight is beyond it."""
        limits, broken = policy.limits, []
        labels = np.asarray(holdings.sleeves)
        for sleeve, low in limits.sleeve_min_weight.items():
            members = labels == sleeve
            if members.any() and weights[members].sum() < low - tol:
                broken.append(f"limits.sleeve_min_weight.{sleeve}")
        for sleeve, high in limits.sleeve_max_weight.items():
            if weights[labels == sleeve].sum() > high + tol:
                broken.append(f"limits.sleeve_max_weight.{sleeve}")
        return broken

    def compile(self, weights: cp.Variable, sleeves: Sequence[str]) -> Compiled:
        """``lower <= M w <= upper`` with M the sleeve membership matrix."""
        names = _sleeve_names(sleeves)
        membership = np.array([[s == name for s in sleeves] for name in names])
        lower, upper = cp.Parameter(len(names)), cp.Parameter(len(names))
        net = membership.astype(float) @ weights
        return Compiled(
            {"sleeve_lower": lower, "sleeve_upper": upper}, [net >= lower, net <= upper]
        )

    def values(
        self,
        policy: PolicySpec,
        holdings: Holdings,
        override: Mapping[str, float],
    ) -> dict[str, FloatArray | float]:
        """The bounds per sleeve.

        A sleeve cut to its risk cap may fall below its minimum: the cap wins.
        """
        limits, names = policy.limits, _sleeve_names(holdings.sleeves)
        upper = {**limits.sleeve_max_weight, **override}
        lower = {
            s: min(low, override.get(s, LARGE))
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


class TurnoverCap(WeightLimit):
    """``limits.max_turnover``: one-way turnover of a rebalance, bar the first."""

    name = "turnover"
    optional = True

    def fields(self, policy: PolicySpec, holdings: Holdings) -> list[str]:
        """The cap, unless this is the first trade."""
        if policy.limits.max_turnover is None or holdings.first_trade:
            return []
        return ["limits.max_turnover"]

    def broken(
        self, weights: FloatArray, holdings: Holdings, policy: PolicySpec, tol: float
    ) -> list[str]:
        """Broken when the trades' absolute sum exceeds the cap."""
        cap = policy.limits.max_turnover
        turnover = float(np.abs(weights - holdings.previous).sum())
        if not holdings.first_trade and cap is not None and turnover > cap + tol:
            return ["limits.max_turnover"]
        return []

    def compile(self, weights: cp.Variable, sleeves: Sequence[str]) -> Compiled:
        """``|w - previous|_1 <= turnover``."""
        previous = cp.Parameter(len(sleeves))
        turnover = cp.Parameter(nonneg=True)
        return Compiled(
            {"previous": previous, "turnover": turnover},
            [cp.norm1(weights - previous) <= turnover],
        )

    def values(
        self,
        policy: PolicySpec,
        holdings: Holdings,
        override: Mapping[str, float],
    ) -> dict[str, FloatArray | float]:
        """The holdings and the cap (a large one on the first trade)."""
        cap = policy.limits.max_turnover
        return {
            "previous": holdings.previous,
            "turnover": LARGE if holdings.first_trade or cap is None else cap,
        }


def _sleeve_names(sleeves: Sequence[str]) -> list[str]:
    """Distinct sleeves in order of first appearance."""
    return list(dict.fromkeys(sleeves))


WEIGHT_LIMITS: Registry[WeightLimit] = Registry(
    "weight limit", "limits", [AssetBounds(), SleeveBounds(), TurnoverCap()]
)
"""The weight limits, in the order the projection stacks their constraints."""
