"""How the walk-forward backtest's cost grows with assets and with days.

The problem is `bench_backtest.py`'s large size (weekly ERC at 10% vol on GARCH(1,1)-t
forecasts refitted every 21 observations on a 1000-day window, EWMA correlation) on
tiled seeds of the project's simulator (`bench_backtest.simulated`). Two sweeps:

- assets: 10, 25, 50 and 100 assets over 10 years;
- days: 30 assets over 5, 10 and 20 years.

For each point it prints the median of ``--repeat`` runs by stage, and for each sweep
the fitted exponent b of ``seconds ~ size ** b`` (least squares on logs): 1 is linear.
Exponents, not times, are the measure on a noisy machine.

Usage::

    python benchmarks/bench_scaling.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd
from bench_backtest import large_model, policy, simulated

from riskengine.backtest import run_backtest

STAGES = ("volatility", "correlation", "allocation", "accounting")
ASSET_COUNTS = (10, 25, 50, 100)
ASSET_YEARS = 10
DAY_ASSETS = 30
DAY_YEARS = (5, 10, 20)


def measure(n_assets: int, years: int, repeat: int) -> dict[str, float]:
    """Median seconds in total and by stage of `repeat` runs at one size."""
    market = simulated(n_assets, years)
    start = market.returns.index[-1] - pd.DateOffset(years=years)
    spec = replace(policy(), model=large_model())
    totals, stages = [], {stage: [] for stage in STAGES}
    for _ in range(repeat):
        clock = time.perf_counter()
        result = run_backtest(spec, market, start=start)
        totals.append(time.perf_counter() - clock)
        for stage in STAGES:
            stages[stage].append(result.timings[stage])
    row = {"assets": n_assets, "years": years, "total": statistics.median(totals)}
    return row | {stage: statistics.median(values) for stage, values in stages.items()}


def exponent(sizes: pd.Series, seconds: pd.Series) -> float:
    """Slope b of log(seconds) = a + b log(size)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def report(title: str, rows: list[dict[str, float]], size: str) -> None:
    """Print one sweep's table and its exponents by stage."""
    frame = pd.DataFrame(rows)
    print(title)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    slopes = {
        column: exponent(frame[size], frame[column]) for column in ("total", *STAGES)
    }
    print(
        f"exponent b in seconds ~ {size}**b: "
        + ", ".join(f"{k} {v:.2f}" for k, v in slopes.items())
    )
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per point")
    args = parser.parse_args()
    measure(7, DAY_YEARS[0], 1)  # load the compiled kernels before timing
    by_assets = [measure(n, ASSET_YEARS, args.repeat) for n in ASSET_COUNTS]
    report(f"assets ({ASSET_YEARS} years):", by_assets, "assets")
    by_days = [measure(DAY_ASSETS, y, args.repeat) for y in DAY_YEARS]
    report(f"years ({DAY_ASSETS} assets):", by_days, "years")
    return 0


if __name__ == "__main__":
    sys.exit(main())
