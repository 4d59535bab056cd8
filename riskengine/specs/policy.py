"""The policy spec (``policies/*.toml``): one institutional risk framework."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from riskengine.specs.limits import DrawdownSpec, LimitsSpec, MarginSpec
from riskengine.specs.model import ModelSpec
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

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain data (for the run manifest)."""
        return dataclasses.asdict(self)
