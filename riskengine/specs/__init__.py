"""Declarative specs: ``models/*.toml`` and ``policies/*.toml`` into frozen dataclasses.

Specs are data, never code. Each file is parsed with `tomllib` and validated once,
field by field, against the dataclass annotations below; every error names the file,
the field and what was expected.
"""

from riskengine.specs.files import (
    SPEC_NOUN,
    SpecKind,
    builtin_dir,
    builtin_names,
    load_model,
    load_policy,
    resolve_spec_path,
)
from riskengine.specs.limits import DrawdownSpec, LimitsSpec, MarginSpec
from riskengine.specs.model import ModelSpec
from riskengine.specs.policy import PolicySpec
from riskengine.specs.screen import ScreenAction, ScreenSpec
from riskengine.specs.targets import (
    CostSpec,
    CovarianceSpec,
    RebalanceSpec,
    TargetSpec,
    UniverseSpec,
)
from riskengine.specs.triggers import TriggerSpec

__all__ = [
    "SPEC_NOUN",
    "CostSpec",
    "CovarianceSpec",
    "DrawdownSpec",
    "LimitsSpec",
    "MarginSpec",
    "ModelSpec",
    "PolicySpec",
    "RebalanceSpec",
    "ScreenAction",
    "ScreenSpec",
    "SpecKind",
    "TargetSpec",
    "TriggerSpec",
    "UniverseSpec",
    "builtin_dir",
    "builtin_names",
    "load_model",
    "load_policy",
    "resolve_spec_path",
]
