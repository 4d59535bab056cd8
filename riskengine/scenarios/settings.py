"""The simulated universe and the calibration's fixed choices, shared by both."""

from __future__ import annotations

from pathlib import Path

from riskengine.calendar import CALENDAR_DAYS_PER_YEAR, TRADING_DAYS_PER_YEAR

SLEEVES: dict[str, str] = {
    "GLD": "safe_haven",
    "SLV": "safe_haven",
    "SPY": "dm_equity",
    "EEM": "em_equity",
    "HYG": "credit",
    "TLT": "rates",
    "BTC_USD": "crypto",
}


DAILY_ASSETS = frozenset({"BTC_USD"})  # trade every calendar day, others on weekdays


SPIKE_ASSETS = ("GLD", "SLV")


FIT_START, FIT_END = "2008-01-01", "2025-12-31"


SPIKE_WINDOW = ("2026-01-01", "2026-02-28")


EWMA_LAMBDA, STRESS_QUANTILE = 0.94, 0.8


RV_DAYS, YEAR_DAYS = 21, 252  # realised-vol window; trading days a year


PERIODS_PER_YEAR = {"exchange": TRADING_DAYS_PER_YEAR, "daily": CALENDAR_DAYS_PER_YEAR}
"""Steps in a year of each ``calendar``, by the engine's convention (252, 365)."""


PARAMS_PATH = Path(__file__).with_name("simulator_params.json")
