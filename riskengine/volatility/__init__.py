"""Point-in-time variance forecasts: EWMA, realised, and the GARCH family.

``forecast`` is the entry point (`forecast_variance`, `VolForecast`); ``garch``
refits and filters the GARCH family; ``simple`` holds EWMA and realised variance.
"""

from riskengine.volatility.forecast import VolForecast, forecast_variance
from riskengine.volatility.garch import FIT_COLUMNS, PERCENT, arch_model_for
from riskengine.volatility.simple import ewma_variance, realised_variance

__all__ = [
    "FIT_COLUMNS",
    "PERCENT",
    "VolForecast",
    "arch_model_for",
    "ewma_variance",
    "forecast_variance",
    "realised_variance",
]
