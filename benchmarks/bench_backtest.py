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

    python benchmarks/bench_backtest.py --quick    # CI: 8 real assets, 3 years
    python benchmarks/bench_backtest.py            # small: 8 real assets, 15 years
    python benchmarks/bench_backtest.py --size medium   # 28 simulated assets, 15 years
    python benchmarks/bench_backtest.py --size large    # 105 simulated, 20 years
    python benchmarks/bench_backtest.py --quick --min-ratio 10  # fail below a floor

Sizes medium and large tile independent seeds of the project's simulator (7 assets
each); medium times the baseline on 24 random rebalance dates and extrapolates (each
date is independent of the others), large runs riskengine alone (GARCH refits every
21 observations; the goal is under a minute and 2 GiB).

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
from riskengine.backtest import run_backtest
from riskengine.data import Market
from riskengine.scenarios import simulate_market
from riskengine.specs import (
    CostSpec,
    CovarianceSpec,
    ModelSpec,
    PolicySpec,
    RebalanceSpec,
    TargetSpec,
    load_model,
)
from riskengine.volatility import forecast_variance

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
    returns: pd.DataFrame, dates: pd.DatetimeIndex
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The hand-rolled loop: arch refits, pandas EWMA correlation, fresh cvxpy problems.

    Each date is computed from the data up to it alone, so a sample of dates gives
    the same answers there as the full loop. Returns target weights, daily vol
    forecasts and arch's fitted log-likelihoods at each date.
    """
    products = {
        (a, b): (returns[a] * returns[b]).ewm(halflife=HALF_LIFE, adjust=True).mean()
        for a in returns
        for b in returns
    }
    targets, forecasts, likelihoods = {}, {}, {}
    for date in dates:
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
            variance = fit.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]
            vols[asset] = float(np.sqrt(variance)) / 100
            likelihoods[date, asset] = fit.loglikelihood
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
    vol_frame = pd.DataFrame(forecasts).T.reindex(columns=returns.columns)
    loglik = pd.Series(likelihoods).unstack().reindex(columns=returns.columns)
    return frame, vol_frame, loglik


def simulated(n_blocks: int, years: int) -> Market:
    """`n_blocks` independent seeds of the project's simulator, 7 assets each."""
    frames, sleeves = [], {}
    start = str((pd.Timestamp("2026-08-21") - pd.DateOffset(years=years + 4)).date())
    for block in range(n_blocks):
        market = simulate_market(seed=1000 + block, start=start)
        frames.append(market.prices.add_suffix(f"_{block}"))
        sleeves |= {f"{a}_{block}": s for a, s in market.sleeves.items()}
    prices = pd.concat(frames, axis=1)
    return make_market(
        prices, source="simulated blocks", sleeves=sleeves, simulated=True
    )


def timed(function, *args, **kwargs):
    clock = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - clock


SIZES = {
    # name: (real data?, simulator blocks of 7 assets, years, baseline dates sampled)
    "quick": (True, 0, 3, None),
    "small": (True, 0, 15, None),
    "medium": (False, 4, 15, 24),
    "large": (False, 15, 20, 0),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--quick", action="store_true", help="same as --size quick")
    parser.add_argument("--repeat", type=int, default=3, help="riskengine runs")
    parser.add_argument("--min-ratio", type=float, help="fail below this speed ratio")
    args = parser.parse_args()
    size = "quick" if args.quick else args.size
    real, blocks, years, sample = SIZES[size]
    path = DATA / "multiasset_daily.csv"
    if real and not path.is_file():
        print(f"skipped: {path} not found (set RISKENGINE_DATA_DIR)")
        return 0
    if real:
        full = load_market(path)
        prices = full.prices[ASSETS].dropna(how="all")
        market = make_market(prices, source=str(path), sleeves=full.sleeves)
    else:
        market = simulated(blocks, years)
    end = market.returns.index[-1]
    start = end - pd.DateOffset(years=years)
    spec = policy() if size != "large" else replace(policy(), model=large_model())

    runs = [timed(run_backtest, spec, market, start=start) for _ in range(args.repeat)]
    result, seconds = runs[-1][0], statistics.median(t for _, t in runs)
    tracemalloc.start()
    run_backtest(spec, market, start=start)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    dates = weekly_dates(market.returns.index, start)
    n_assets = market.returns.shape[1]
    print(
        f"size: {size}; {n_assets} {'real' if real else 'simulated'} assets, "
        f"{start.date()}..{end.date()}, {len(dates)} weekly rebalances"
    )
    print(f"riskengine run_backtest, median of {args.repeat}: {seconds:8.2f} s")
    for stage, value in result.timings.items():
        print(f"  {stage:<12} {value:8.3f} s")
    print(f"peak traced memory (riskengine): {peak:.0f} MiB")
    if sample == 0:
        return 0

    chosen = dates
    if sample is not None:
        rng = np.random.default_rng(0)
        chosen = dates[np.sort(rng.choice(len(dates), size=sample, replace=False))]
    (base_targets, base_vols, base_loglik), base_seconds = timed(
        baseline, market.returns, chosen
    )
    base_seconds *= len(dates) / len(chosen)
    sampled = "" if sample is None else f", timed on {sample} dates and extrapolated"
    print(f"baseline (arch per asset and week, cvxpy{sampled}): {base_seconds:8.2f} s")
    common = base_targets.index.intersection(result.targets.index)
    gaps = (result.targets.loc[common] - base_targets.loc[common]).abs().max(axis=1)
    ratio_vol = (result.volatility.loc[common] / base_vols.loc[common]).to_numpy()
    ratio_vol = ratio_vol[np.isfinite(ratio_vol)]
    within = float(np.mean(np.abs(ratio_vol - 1) <= 0.01))
    ratio = base_seconds / seconds
    print(f"speed ratio baseline / riskengine: {ratio:.1f}x")
    print(
        f"1-day vol forecasts within 1% of the baseline's: {within:.2%} of asset-dates"
    )
    print(
        f"|weight difference| at {len(common)} rebalance dates: median "
        f"{gaps.median():.1e}, 99th percentile {gaps.quantile(0.99):.1e}, "
        f"max {gaps.max():.1e} ({gaps.idxmax().date()})"
    )
    divergent = _divergent_fits(
        result.volatility, base_vols, base_loglik, spec, market, dates
    )
    if not divergent.empty:
        print("asset-dates whose 1-day forecasts differ by more than 1%, and which fit")
        print("reached the higher log-likelihood on the same window:")
        print(divergent.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.min_ratio is not None and ratio < args.min_ratio:
        print(f"FAIL: ratio {ratio:.1f}x is below the floor {args.min_ratio}x")
        return 1
    return 0


def _divergent_fits(
    ours: pd.DataFrame,
    base_vols: pd.DataFrame,
    base_loglik: pd.DataFrame,
    spec: PolicySpec,
    market: Market,
    dates: pd.DatetimeIndex,
) -> pd.DataFrame:
    """Where the two forecasts differ by more than 1%: both fits' log-likelihoods."""
    ratio = (ours.loc[base_vols.index] / base_vols).stack()
    rows = []
    for (date, asset), value in ratio[(ratio - 1).abs() > 0.01].items():
        # the backtest's own chain of warm-started refits up to that date
        refit = forecast_variance(
            market.returns[[asset]].loc[:date],
            spec.model,
            refit_dates=dates[dates <= date],
            start=dates[0],
        ).fits.iloc[-1]
        arch_ll, ours_ll = base_loglik.loc[date, asset], refit["loglikelihood"]
        rows.append(
            {
                "date": date.date(),
                "asset": asset,
                "forecast_ratio": value,
                "arch_loglik": arch_ll,
                "riskengine_loglik": ours_ll,
                "higher": "riskengine" if ours_ll > arch_ll else "arch",
            }
        )
    return pd.DataFrame(rows)


def large_model() -> ModelSpec:
    """The large size's model: GARCH(1,1)-t refit every 21 observations."""
    return replace(policy().model, refit_on="schedule", refit_every_days=21)


if __name__ == "__main__":
    sys.exit(main())
