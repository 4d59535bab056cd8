"""The policy spec (``policies/*.toml``): one institutional risk framework."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from riskengine.data.sleeves import unknown_sleeve
from riskengine.specs._validation import LABEL_RULE, _require, is_label
from riskengine.specs.limits import DrawdownSpec, LimitsSpec, MarginSpec
from riskengine.specs.model import ModelSpec
from riskengine.specs.screen import ScreenSpec
from riskengine.specs.targets import (
    CostSpec,
    CovarianceSpec,
    RebalanceSpec,
    TargetSpec,
    UniverseSpec,
)
from riskengine.specs.triggers import TriggerSpec


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
    screen: ScreenSpec = field(default_factory=ScreenSpec)

    def __post_init__(self) -> None:
        _require(is_label(self.name), "name", LABEL_RULE)
        names = [trigger.name for trigger in self.triggers]
        for i, name in enumerate(names):
            _require(
                name not in names[:i],
                f"triggers[{i}].name",
                f"'{name}' is the name of triggers[{names.index(name)}] too; each "
                "trigger names its events, signals and columns, so names must differ",
            )
        for field_name, sleeve in self.sleeve_names():
            problem = unknown_sleeve(sleeve, self.universe.custom_sleeves)
            _require(
                problem is None,
                field_name,
                f"{problem}; declare a custom sleeve in universe.custom_sleeves",
            )

    def sleeve_names(self) -> Iterator[tuple[str, str]]:
        """Every sleeve name the policy writes, with the field that holds it.

        Yields
        ------
        tuple of (str, str)
            The field as written in the file (``"limits.sleeve_max_risk.crypto"``,
            ``"triggers[0].watch_sleeves[1]"``) and the sleeve name.
        """
        tables = {
            "target.sleeve_weights": self.target.sleeve_weights,
            "limits.sleeve_min_weight": self.limits.sleeve_min_weight,
            "limits.sleeve_max_weight": self.limits.sleeve_max_weight,
            "limits.sleeve_max_risk": self.limits.sleeve_max_risk,
            "costs.sleeve_bps": self.costs.sleeve_bps,
        }
        if self.target.risk_budget_by == "sleeve":
            tables["target.risk_budgets"] = self.target.risk_budgets
        for prefix, table in tables.items():
            yield from ((f"{prefix}.{sleeve}", sleeve) for sleeve in table)
        lists = {
            "universe.sleeves": self.universe.sleeves,
            "universe.exclude_sleeves": self.universe.exclude_sleeves,
        }
        for i, trigger in enumerate(self.triggers):
            lists[f"triggers[{i}].watch_sleeves"] = trigger.watch_sleeves
            lists[f"triggers[{i}].act_on_sleeves"] = trigger.act_on_sleeves
            lists[f"triggers[{i}].redistribute_to"] = trigger.redistribute_to
        for prefix, names in lists.items():
            yield from ((f"{prefix}[{j}]", sleeve) for j, sleeve in enumerate(names))

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain data (for the run manifest)."""
        return dataclasses.asdict(self)
