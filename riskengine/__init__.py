"""riskengine: a portfolio risk-budget engine.

Price panel -> returns -> volatility models (EWMA, GARCH via arch) -> covariance ->
policy (vol target, risk budgets) -> allocator -> walk-forward backtest -> metrics,
event log, report.
"""

from importlib.metadata import PackageNotFoundError, version

from riskengine.allocate import allocate
from riskengine.api import backtest, default_market
from riskengine.backtest import BacktestResult, run_backtest
from riskengine.data import Market, load_market, make_market
from riskengine.errors import (
    DataError,
    InfeasibleError,
    ModelError,
    RiskEngineError,
    SpecError,
)
from riskengine.specs import ModelSpec, PolicySpec, load_model, load_policy
from riskengine.volatility import VolForecast, forecast_variance

try:
    __version__ = version("riskengine")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "BacktestResult",
    "DataError",
    "InfeasibleError",
    "Market",
    "ModelError",
    "ModelSpec",
    "PolicySpec",
    "RiskEngineError",
    "SpecError",
    "VolForecast",
    "__version__",
    "allocate",
    "backtest",
    "default_market",
    "forecast_variance",
    "load_market",
    "load_model",
    "load_policy",
    "make_market",
    "run_backtest",
]
