"""The crowded-exit stress test: funds on the backtest's decision path, with impact.

``scenario`` reads scenarios (TOML) into frozen specs; ``impact`` is the
square-root law; ``engine`` walks the funds together, netting their orders into
price impact that feeds their next decisions; ``analysis`` and ``result`` compare
the walk with and without feedback; ``report`` writes the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from riskengine.data.prices import Market, load_market, make_market, sleeve_table
from riskengine.stress.result import StressResult, run_stress
from riskengine.stress.scenario import Scenario, builtin_scenarios, load_scenario

DEFAULT_SCENARIO = "2026-metals-unwind"

__all__ = [
    "DEFAULT_SCENARIO",
    "Scenario",
    "StressResult",
    "builtin_scenarios",
    "load_scenario",
    "run_stress",
    "stress",
]


def stress(
    scenario: str | Path | Scenario = DEFAULT_SCENARIO,
    prices: str | Path | pd.DataFrame | Market | None = None,
    *,
    sleeves: str | Path | Mapping[str, str] | None = None,
    sensitivity: bool = True,
    variants: bool = True,
) -> StressResult:
    """Run a crowded-exit stress test on a price panel.

    Parameters
    ----------
    scenario : str, Path or Scenario
        A built-in scenario's name (``"2026-metals-unwind"``), a TOML path, or a
        loaded `Scenario`.
    prices : str, Path, DataFrame or Market
        The price file the scenario's dates refer to (CSV or Parquet), a wide
        price frame, or a `Market`.
    sleeves : str, Path or Mapping, optional
        Sleeve table (CSV path or asset -> sleeve); the built-in one otherwise.
    sensitivity : bool, default True
        Also run the scenario's sensitivity grid over Y and fund sizes.
    variants : bool, default True
        Also run the scenario's rule variants (``[[variants]]``).

    Returns
    -------
    StressResult

    Raises
    ------
    SpecError
        If the scenario is unknown or invalid (naming the file and field).
    DataError
        If no prices are given, or they do not cover the scenario's window.
    """
    from riskengine.errors import DataError

    spec = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if prices is None:
        raise DataError(
            f"scenario '{spec.name}' replays dated prices ({spec.start} to "
            f"{spec.end}): give the price file (prices=..., --prices FILE)"
        )
    if isinstance(prices, Market):
        market = prices
    elif isinstance(prices, pd.DataFrame):
        market = make_market(
            prices,
            source="DataFrame",
            sleeves=sleeve_table(sleeves, prices, "DataFrame"),
        )
    else:
        market = load_market(prices, sleeves=sleeves)
    return run_stress(spec, market, sensitivity=sensitivity, variants=variants)
