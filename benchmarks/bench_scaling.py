"""How the walk-forward backtest's cost grows with assets and years, up to 500 x 20.

The problem is the policy `large-universe.toml` beside this file, loaded as a user
would: risk budgets by sleeve at a 10% ex-ante vol (gross leverage capped at 2), with
sleeve bounds (``[limits] sleeve_max_weight``), weekly
decisions, GARCH(1,1)-t forecasts refitted every 21 days on a 1000-day window, an
EWMA correlation. The market tiles independent seeds of the project's simulator
(`bench_backtest.simulated`: 7 assets a seed, each asset in its simulated sleeve). One
market of the largest size is simulated; a point of n assets and y years takes its
first n assets and its last y + 4 years (4 years warm the models up before the
backtest's y years). Two sweeps:

- assets: a tenth, a fifth, half and all of ``--max-assets`` over ``--max-years``
  (50, 100, 250 and 500 assets over 20 years by default);
- years: a quarter, half and all of ``--max-years`` at ``--max-assets`` (5, 10 and 20
  years of 500 assets).

Each point runs in a fresh process: a warm-up run on 7 assets (loading the compiled
kernels), then ``--repeat`` timed runs (`run_backtest` runs BLAS on one thread:
`riskengine.blas`). It prints the median seconds in total and
by stage, the share of decisions the sleeve bounds projected, and the process's peak
resident memory (``ru_maxrss``: interpreter, libraries and market included). For each
sweep, the fitted exponent b of ``seconds ~ size ** b`` (least squares on logs): 1 is
linear. Exponents, not times, are the measure on a noisy machine.

Usage::

    python benchmarks/bench_scaling.py                  # up to 500 x 20 (~5 minutes)
    python benchmarks/bench_scaling.py --max-assets 30 --max-years 4     # quick
    python benchmarks/bench_scaling.py --only 500x20    # one point, e.g. to profile
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from bench_backtest import simulated

from riskengine import make_market
from riskengine.backtest import run_backtest
from riskengine.data.prices import Market
from riskengine.specs import PolicySpec, load_policy

POLICY = Path(__file__).with_name("large-universe.toml")
STAGES = ("volatility", "correlation", "allocation", "accounting")
WARM_UP_YEARS = 4
WARM_UP_ASSETS = 7


def policy() -> PolicySpec:
    """The benchmark's policy, from its file."""
    return load_policy(POLICY)


def point_market(market: Market, n_assets: int, years: int) -> Market:
    """The first `n_assets` of `market`, over its last `years` plus the warm-up."""
    end = market.prices.index[-1]
    first = end - pd.DateOffset(years=years + WARM_UP_YEARS)
    prices = market.prices.iloc[:, :n_assets].loc[first:].dropna(how="all")
    return make_market(
        prices,
        source=f"simulated blocks ({n_assets} assets, {years} years)",
        sleeves={a: market.sleeves[a] for a in prices.columns},
        simulated=True,
    )


def measure(market: Market, years: int, repeat: int) -> dict[str, float]:
    """Median seconds in total and by stage of `repeat` runs, and the peak memory.

    Run in a fresh process, so that the peak resident memory is this point's.
    """
    spec = policy()
    start = market.returns.index[-1] - pd.DateOffset(years=years)
    warm = point_market(market, WARM_UP_ASSETS, 1)
    run_backtest(spec, warm, start=warm.returns.index[-1] - pd.DateOffset(years=1))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    totals, stages = [], {stage: [] for stage in STAGES}
    for _ in range(repeat):
        clock = time.perf_counter()
        result = run_backtest(spec, market, start=start)
        totals.append(time.perf_counter() - clock)
        for stage in STAGES:
            stages[stage].append(result.timings[stage])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {
        "assets": market.returns.shape[1],
        "years": years,
        "decisions": len(result.decisions),
        "projected": float(result.decisions["projected"].mean()),
        "total": statistics.median(totals),
        **{stage: statistics.median(values) for stage, values in stages.items()},
        "peak_gib": peak,
        "before_gib": before,
    }


def in_fresh_process(market: Market, years: int, repeat: int) -> dict[str, float]:
    """`measure` in a newly spawned process (its own peak memory)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(measure, market, years, repeat).result()


def exponent(sizes: pd.Series, seconds: pd.Series) -> float:
    """Slope b of log(seconds) = a + b log(size)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def report(title: str, frame: pd.DataFrame, size: str | None) -> None:
    """Print one sweep's table and, for a sweep, its exponents by stage."""
    print(title)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if size is not None and len(frame) > 1:
        slopes = {
            column: exponent(frame[size], frame[column])
            for column in ("total", *STAGES)
        }
        print(
            f"exponent b in seconds ~ {size}**b: "
            + ", ".join(f"{k} {v:.2f}" for k, v in slopes.items())
        )
    print(flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-assets", type=int, default=500)
    parser.add_argument("--max-years", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per point")
    parser.add_argument("--only", help="one point, ASSETSxYEARS (e.g. 500x20)")
    args = parser.parse_args()
    if args.only:
        n_assets, years = map(int, args.only.lower().split("x"))
        asset_sweep, year_sweep = [], [(n_assets, years)]
    else:
        n_assets, years = args.max_assets, args.max_years
        asset_sweep = list(dict.fromkeys((n_assets // k, years) for k in (10, 5, 2)))
        year_sweep = list(dict.fromkeys((n_assets, years // k) for k in (4, 2, 1)))
        if min(n_assets // 10, years // 4) < 1:
            parser.error("--max-assets must be at least 10 and --max-years 4")
    clock = time.perf_counter()
    market = simulated(n_assets, years + WARM_UP_YEARS)
    print(
        f"simulated {n_assets} assets over {years + WARM_UP_YEARS} years in "
        f"{time.perf_counter() - clock:.0f} s; policy {POLICY.name}",
        flush=True,
    )
    rows = {}
    for point in dict.fromkeys([*year_sweep, *asset_sweep]):
        size, span = point
        sub = point_market(market, size, span)
        rows[point] = in_fresh_process(sub, span, args.repeat)
        print(
            f"  {size} assets x {span} years: {rows[point]['total']:.1f} s, peak "
            f"{rows[point]['peak_gib']:.2f} GiB",
            flush=True,
        )
    print()
    if args.only:
        report(f"{n_assets} assets x {years} years:", pd.DataFrame(rows.values()), None)
        return 0
    by_assets = pd.DataFrame([rows[p] for p in [*asset_sweep, (n_assets, years)]])
    report(f"assets ({years} years):", by_assets, "assets")
    by_years = pd.DataFrame([rows[p] for p in year_sweep])
    report(f"years ({n_assets} assets):", by_years, "years")
    return 0


if __name__ == "__main__":
    sys.exit(main())
