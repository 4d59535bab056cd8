"""Seeded multi-asset market simulator calibrated to real prices: the embedded default.

Everything `simulate_market` returns is SIMULATED, not market data. Its parameters,
shipped in ``simulator_params.json``, are derived from a real price file by
`calibrate`, except the drifts, which come from the documented long-run premia
of `PREMIA`; re-derive them with
``riskengine calibrate-simulator --prices CSV --out JSON``.
"""

from riskengine.scenarios.calibration import calibrate, write_calibration
from riskengine.scenarios.premia import PREMIA, Premium, daily_log_drift
from riskengine.scenarios.settings import (
    DAILY_ASSETS,
    PERIODS_PER_YEAR,
    RV_DAYS,
    SLEEVES,
    SPIKE_ASSETS,
    YEAR_DAYS,
)
from riskengine.scenarios.simulation import (
    SimulatedMarket,
    SpikeEpisode,
    default_params,
    simulate_market,
)

__all__ = [
    "DAILY_ASSETS",
    "PERIODS_PER_YEAR",
    "PREMIA",
    "RV_DAYS",
    "SLEEVES",
    "SPIKE_ASSETS",
    "YEAR_DAYS",
    "Premium",
    "SimulatedMarket",
    "SpikeEpisode",
    "calibrate",
    "daily_log_drift",
    "default_params",
    "simulate_market",
    "write_calibration",
]
