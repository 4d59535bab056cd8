"""riskengine: a portfolio risk-budget engine.

Price panel -> returns -> volatility models (EWMA, GARCH via arch) -> covariance ->
policy (vol target, risk budgets) -> allocator -> walk-forward backtest -> metrics,
event log, report.

The public names below load on first use (PEP 562), so ``import riskengine`` and
``riskengine --help`` do not import pandas, the solvers or the plotting library;
``riskengine.backtest(...)`` loads what it needs then.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riskengine.allocate import allocate
    from riskengine.api import backtest, default_market
    from riskengine.backtest import BacktestResult, run_backtest
    from riskengine.data.prices import Market, load_market, make_market
    from riskengine.errors import (
        DataError,
        InfeasibleError,
        ModelError,
        RiskEngineError,
        SpecError,
    )
    from riskengine.evaluation import Evaluation, evaluate_models
    from riskengine.specs import ModelSpec, PolicySpec, load_model, load_policy
    from riskengine.stress import StressResult, stress
    from riskengine.volatility import VolForecast, forecast_variance

    __version__: str

_HOMES = {
    "BacktestResult": "riskengine.backtest",
    "DataError": "riskengine.errors",
    "Evaluation": "riskengine.evaluation",
    "InfeasibleError": "riskengine.errors",
    "Market": "riskengine.data.prices",
    "ModelError": "riskengine.errors",
    "ModelSpec": "riskengine.specs",
    "PolicySpec": "riskengine.specs",
    "RiskEngineError": "riskengine.errors",
    "SpecError": "riskengine.errors",
    "StressResult": "riskengine.stress",
    "VolForecast": "riskengine.volatility",
    "allocate": "riskengine.allocate",
    "backtest": "riskengine.api",
    "default_market": "riskengine.api",
    "evaluate_models": "riskengine.evaluation",
    "forecast_variance": "riskengine.volatility",
    "load_market": "riskengine.data.prices",
    "load_model": "riskengine.specs",
    "load_policy": "riskengine.specs",
    "make_market": "riskengine.data.prices",
    "run_backtest": "riskengine.backtest",
    "stress": "riskengine.stress",
}
"""The module each public name is defined in or re-exported from."""

__all__ = [
    "BacktestResult",
    "DataError",
    "Evaluation",
    "InfeasibleError",
    "Market",
    "ModelError",
    "ModelSpec",
    "PolicySpec",
    "RiskEngineError",
    "SpecError",
    "StressResult",
    "VolForecast",
    "__version__",
    "allocate",
    "backtest",
    "default_market",
    "evaluate_models",
    "forecast_variance",
    "load_market",
    "load_model",
    "load_policy",
    "make_market",
    "run_backtest",
    "stress",
]


def __getattr__(name: str) -> object:
    """Load a public name from its module on first use, then keep it here."""
    if name == "__version__":
        from riskengine.results.provenance import package_version

        value: object = package_version() or "0+unknown"  # a source tree, not installed
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'riskengine' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, loaded or not, and the submodules loaded so far."""
    return sorted({*globals(), *__all__})


class _Package(ModuleType):
    """riskengine's module type: a public function keeps its name.

    ``riskengine.backtest``, ``riskengine.allocate`` and ``riskengine.stress`` are
    each a function of the public API and a submodule. Importing a submodule binds
    it on its package; here the binding of those is skipped, so the names always
    mean the functions (as they did when this package imported them eagerly),
    whatever was imported first. The submodules stay importable by their full
    names.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name in _HOMES and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
