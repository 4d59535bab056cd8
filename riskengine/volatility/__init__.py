"""Point-in-time variance forecasts: EWMA, realised, and the GARCH family.

``forecast`` is the entry point (`forecast_variance`, `VolForecast`) and registers
every model kind (`MODELS`); ``families`` holds the GARCH families (`GARCH_FAMILIES`),
``garch`` refits and filters them; ``simple`` holds EWMA and realised variance.
"""

from riskengine.volatility.families import GARCH_FAMILIES, GarchFamily
from riskengine.volatility.forecast import (
    MODELS,
    VolatilityModel,
    VolForecast,
    forecast_variance,
)
from riskengine.volatility.garch import FIT_COLUMNS, PERCENT
from riskengine.volatility.simple import ewma_variance, realised_variance
from riskengine.volatility.window_fit import arch_model_for

__all__ = [
    "FIT_COLUMNS",
    "GARCH_FAMILIES",
    "MODELS",
    "PERCENT",
    "GarchFamily",
    "VolForecast",
    "VolatilityModel",
    "arch_model_for",
    "ewma_variance",
    "forecast_variance",
    "realised_variance",
]
