"""Whole walk-forward backtest: riskengine against a hand-rolled arch + cvxpy loop.

The problem (the same for both): weekly rebalancing (last trading day of the week);
at each rebalance, per asset, a GARCH(1,1)-t with a constant mean fitted on the
trailing 1000 percent returns and its one-day forecast; an EWMA correlation
(half-life 63 days, zero mean); equal risk contributions scaled to a 10% annual
ex-ante vol, gross leverage capped at 2; holdings drift between rebalances; no costs.

The baseline is written the way a PM would write it in a notebook: a loop over dates
and assets calling ``arch_model(...).fit()``, and a fresh cvxpy problem per date.
riskengine runs the same problem through `run_backtest`, with its GARCH refitted at
the same weekly rebalance dates (``refit_on = "rebalance"``; fits on a bound kept, as
arch keeps them).

Usage::

    python benchmarks/bench_backtest.py            # small: 8 real assets, 15 years
    python benchmarks/bench_backtest.py --quick    # CI: 8 real assets, 3 years
    python benchmarks/bench_backtest.py --quick --min-ratio 5   # fail below a floor

Prints stage times, the speed ratio (medians of --repeat runs of riskengine against
one baseline run, in the same process), and the largest differences in forecasts and
weights. Never used to assert a wall-clock time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from dataclasses import replace
from pathlib import Path

import cvxpy as cp
import numpy as np
import pandas as pd
from arch import arch_model

from riskengine import load_market, make_market
from riskengine.backtest import BacktestResult, run_backtest
from riskengine.specs import (
    CostSpec,
    CovarianceSpec,
    PolicySpec,
    RebalanceSpec,
    TargetSpec,
    load_model,
)

ASSETS = ["GLD", "SLV", "SPY", "EEM", "HYG", "TLT", "BTC_USD", "USO"]
WINDOW = 1000
HALF_LIFE = 63.0
TARGET = 0.10
CAP = 2.0
PPY = 252.0
DATA = Path(
    os.environ.get(
        "RISKENGINE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)


def policy() -> PolicySpec:
    """The benchmark problem as a riskengine policy."""
    model = replace(
        load_model("garch11-t"),
        name="garch11-t-weekly",
        window_days=WINDOW,
        min_window_days=WINDOW,
        refit_on="rebalance",
        on_boundary="keep",
    )
    return PolicySpec(
        name="bench-erc-garch",
        description="ERC at 10% vol on weekly GARCH(1,1)-t forecasts",
        source="benchmarks/bench_backtest.py",
        model=model,
        target=TargetSpec(
            base="risk_budget", target_vol_annual=TARGET, max_gross_leverage=CAP
        ),
        rebalance=RebalanceSpec(frequency="weekly", min_history_days=WINDOW),
        covariance=CovarianceSpec(correlation_half_life_days=HALF_LIFE),
        costs=CostSpec(),
    )


def weekly_dates(index: pd.DatetimeIndex, start: pd.Timestamp) -> pd.DatetimeIndex:
    """Last trading day of each week, from `start` on."""
    week = index.to_period("W")
    last = index[np.append(week[1:] != week[:-1], True)]
    return last[last >= start]


def baseline(
    returns: pd.DataFrame, start: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The hand-rolled loop: arch refits, pandas EWMA correlation, fresh cvxpy problems.

    Returns target weights and daily vol forecasts at each rebalance date.
    """
    products = {
        (a, b): (returns[a] * returns[b]).ewm(halflife=HALF_LIFE, adjust=True).mean()
        for a in returns
        for b in returns
    }
    targets, forecasts = {}, {}
    for date in weekly_dates(returns.index, start):
        vols = {}
        for asset in returns:
            history = returns[asset].loc[:date].dropna()
            if len(history) < WINDOW:
                continue
            model = arch_model(
                100 * history.iloc[-WINDOW:].to_numpy(),
                mean="Constant",
                vol="GARCH",
                p=1,
                q=1,
                dist="t",
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = model.fit(disp="off")
            vols[asset] = (
                float(
                    np.sqrt(fit.forecast(horizon=1, reindex=False).variance.iloc[-1, 0])
                )
                / 100
            )
        names = list(vols)
        if not names:
            continue
        moments = np.array([[products[a, b][date] for b in names] for a in names])
        scale = np.sqrt(np.diag(moments))
        corr = moments / np.outer(scale, scale)
        vol = np.array([vols[a] for a in names])
        cov = corr * np.outer(vol, vol)
        x = cp.Variable(len(names), pos=True)
        factor = np.linalg.cholesky(corr).T
        problem = cp.Problem(
            cp.Minimize(cp.sum_squares(factor @ x)),
            [cp.sum(cp.log(x)) / len(names) >= 0],
        )
        problem.solve(solver="CLARABEL")
        weights = np.asarray(x.value) / vol
        weights /= weights.sum()
        ex_ante = np.sqrt(weights @ cov @ weights) * np.sqrt(PPY)
        weights *= min(TARGET / ex_ante, CAP / weights.sum())
        targets[date] = pd.Series(weights, index=names)
        forecasts[date] = pd.Series(vol, index=names)
    frame = pd.DataFrame(targets).T.reindex(columns=returns.columns).fillna(0.0)
    return frame, pd.DataFrame(forecasts).T.reindex(columns=returns.columns)


def timed(function, *args, **kwargs):
    clock = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - clock


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 years instead of 15 (CI)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="riskengine runs (median)"
    )
    parser.add_argument(
        "--min-ratio", type=float, default=None, help="fail below this ratio"
    )
    args = parser.parse_args()
    path = DATA / "multiasset_daily.csv"
    if not path.is_file():
        print(f"skipped: {path} not found (set RISKENGINE_DATA_DIR)")
        return 0
    full = load_market(path)
    end = full.returns.index[-1]
    start = end - pd.DateOffset(years=3 if args.quick else 15)
    market = make_market(
        full.prices[ASSETS].dropna(how="all"), source=str(path), sleeves=full.sleeves
    )

    (base_targets, base_vols), base_seconds = timed(baseline, market.returns, start)
    runs: list[tuple[BacktestResult, float]] = []
    for _ in range(args.repeat):
        runs.append(timed(run_backtest, policy(), market, start=start))
    result = runs[-1][0]
    seconds = statistics.median(t for _, t in runs)
    tracemalloc.start()
    run_backtest(policy(), market, start=start)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    dates = base_targets.index.intersection(result.targets.index)
    weight_gap = (
        (result.targets.loc[dates] - base_targets.loc[dates]).abs().to_numpy().max()
    )
    ours = result.volatility.loc[dates]
    ratio_vol = (ours / base_vols.loc[dates]).to_numpy()
    ratio_vol = ratio_vol[np.isfinite(ratio_vol)]
    within = float(np.mean(np.abs(ratio_vol - 1) <= 0.01))
    size = "quick" if args.quick else "small"
    print(
        f"size: {size}; {len(ASSETS)} assets, {start.date()}..{end.date()}, "
        f"{len(dates)} weekly rebalances"
    )
    print(
        f"baseline (arch refit per asset per week + fresh cvxpy): {base_seconds:8.2f} s"
    )
    print(
        f"riskengine run_backtest, median of {args.repeat}:          {seconds:8.2f} s"
    )
    for stage, value in result.timings.items():
        print(f"  {stage:<12} {value:8.3f} s")
    print(f"peak traced memory (riskengine): {peak:.0f} MiB")
    ratio = base_seconds / seconds
    print(f"speed ratio baseline / riskengine: {ratio:.1f}x")
    print(
        f"1-day vol forecasts within 1% of the baseline's: {within:.2%} of asset-dates"
    )
    print(f"max |weight difference| at common rebalance dates: {weight_gap:.2e}")
    if args.min_ratio is not None and ratio < args.min_ratio:
        print(f"FAIL: ratio {ratio:.1f}x is below the floor {args.min_ratio}x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
