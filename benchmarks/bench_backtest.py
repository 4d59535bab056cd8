"""Whole walk-forward backtest: riskengine against a hand-rolled arch + cvxpy loop.

The problem (the same for both): weekly rebalancing (last trading day of the week);
at each rebalance, per asset, a GARCH(1,1)-t with a constant mean fitted on the
trailing 1000 percent returns and its one-day forecast; an EWMA correlation
(half-life 63 days, zero mean); equal risk contributions scaled to a 10% annual
ex-ante vol, gross leverage capped at 2; holdings drift between rebalances; no costs.

The baseline (`baseline.py`) is written the way a PM would write it in a notebook: a
loop over dates and assets calling ``arch_model(...).fit()``, and a fresh cvxpy
problem per date. riskengine runs the same problem through `run_backtest`, with its
GARCH refitted at the same weekly rebalance dates (``refit_on = "rebalance"``; fits
on a bound kept, as arch keeps them).

Usage::

    python benchmarks/bench_backtest.py --quick    # 8 real assets, 3 years
    python benchmarks/bench_backtest.py            # small (CI): 8 real, 15 years
    python benchmarks/bench_backtest.py --size medium   # 30 simulated assets, 15 years
    python benchmarks/bench_backtest.py --size large    # 100 simulated, 20 years
    python benchmarks/bench_backtest.py --min-ratio 10  # fail below a floor

Sizes medium and large tile independent seeds of the project's simulator (7 assets
each, the last seed cut to the size); medium times the baseline on 24 random
rebalance dates and extrapolates (each date is independent of the others), large
runs riskengine alone (GARCH refits every 21 observations; the goal is under a
minute and 2 GiB).

Prints stage times, the speed ratio (medians of --repeat runs of riskengine against
one baseline run, in the same process), and how far the answers agree: forecasts,
weights, weights when both use riskengine's forecasts, which fit has the higher
likelihood, and, where the weights differ by more than 1e-4, the weights arch gives
when started from riskengine's parameters. Never used to assert a wall-clock time.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import baseline
import numpy as np
import pandas as pd

from riskengine import load_market, make_market
from riskengine.backtest import BacktestResult, run_backtest
from riskengine.data.prices import Market
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
WEIGHT_TOLERANCE = 1e-4
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
        window_days=baseline.WINDOW,
        min_window_days=baseline.WINDOW,
        refit_on="rebalance",
        on_boundary="keep",
    )
    return PolicySpec(
        name="bench-erc-garch",
        description="ERC at 10% vol on weekly GARCH(1,1)-t forecasts",
        source="benchmarks/bench_backtest.py",
        model=model,
        target=TargetSpec(
            base="risk_budget",
            target_vol_annual=baseline.TARGET,
            max_gross_leverage=baseline.CAP,
        ),
        rebalance=RebalanceSpec(frequency="weekly", min_history_days=baseline.WINDOW),
        covariance=CovarianceSpec(correlation_half_life_days=baseline.HALF_LIFE),
        costs=CostSpec(),
    )


def weekly_dates(index: pd.DatetimeIndex, start: pd.Timestamp) -> pd.DatetimeIndex:
    """Last trading day of each week, from `start` on."""
    week = index.to_period("W")
    last = index[np.append(week[1:] != week[:-1], True)]
    return last[last >= start]


def simulated(n_assets: int, years: int) -> Market:
    """`n_assets` from independent seeds of the project's simulator (7 assets each)."""
    frames, sleeves = [], {}
    start = str((pd.Timestamp("2026-08-21") - pd.DateOffset(years=years + 4)).date())
    for block in range(-(-n_assets // 7)):
        market = simulate_market(seed=1000 + block, start=start)
        frames.append(market.prices.add_suffix(f"_{block}"))
        sleeves |= {f"{a}_{block}": s for a, s in market.sleeves.items()}
    prices = pd.concat(frames, axis=1).iloc[:, :n_assets].dropna(how="all")
    return make_market(
        prices, source="simulated blocks", sleeves=sleeves, simulated=True
    )


def timed(function, *args, **kwargs):
    clock = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - clock


SIZES = {
    # name: (real data?, simulated assets, years, baseline dates sampled)
    "quick": (True, 0, 3, None),
    "small": (True, 0, 15, None),
    "medium": (False, 30, 15, 24),
    "large": (False, 100, 20, 0),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--quick", action="store_true", help="same as --size quick")
    parser.add_argument("--repeat", type=int, default=3, help="riskengine runs")
    parser.add_argument("--min-ratio", type=float, help="fail below this speed ratio")
    args = parser.parse_args()
    size = "quick" if args.quick else args.size
    real, n_simulated, years, sample = SIZES[size]
    path = DATA / "multiasset_daily.csv"
    if real and not path.is_file():
        print(f"skipped: {path} not found (set RISKENGINE_DATA_DIR)")
        return 0
    if real:
        full = load_market(path)
        prices = full.prices[ASSETS].dropna(how="all")
        market = make_market(prices, source=str(path), sleeves=full.sleeves)
    else:
        market = simulated(n_simulated, years)
    end = market.returns.index[-1]
    start = end - pd.DateOffset(years=years)
    spec = policy() if size != "large" else replace(policy(), model=large_model())
    if not real:  # the simulator trades every weekday: its weeks end on Fridays
        spec = replace(spec, rebalance=replace(spec.rebalance, calendar="24/5"))

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
    resident = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(
        f"peak memory: {peak:.0f} MiB traced in run_backtest, "
        f"{resident:.0f} MiB resident for the whole process so far"
    )
    if sample == 0:
        return 0

    chosen = dates
    if sample is not None:
        rng = np.random.default_rng(0)
        chosen = dates[np.sort(rng.choice(len(dates), size=sample, replace=False))]
    base, base_seconds = timed(baseline.run, market.returns, chosen)
    base_seconds *= len(dates) / len(chosen)
    sampled = "" if sample is None else f", timed on {sample} dates and extrapolated"
    print(f"baseline (arch per asset and week, cvxpy{sampled}): {base_seconds:8.2f} s")
    ratio = base_seconds / seconds
    print(f"speed ratio baseline / riskengine: {ratio:.1f}x")
    report_agreement(result, base, spec, market, dates)
    if args.min_ratio is not None and ratio < args.min_ratio:
        print(f"FAIL: ratio {ratio:.1f}x is below the floor {args.min_ratio}x")
        return 1
    return 0


def report_agreement(
    result: BacktestResult,
    base: baseline.BaselineRun,
    spec: PolicySpec,
    market: Market,
    dates: pd.DatetimeIndex,
) -> None:
    """Print how far riskengine's answers are from the baseline's, and why.

    Three checks separate the stages: the baseline's allocation fed riskengine's
    forecasts (covariance and allocation alone); which of the two GARCH fits
    reached the higher log-likelihood on each window; and, on the dates where the
    weights differ by more than `WEIGHT_TOLERANCE`, arch started from riskengine's
    parameters, then the baseline's allocation.
    """
    common = base.targets.index.intersection(result.targets.index)
    ours_vol = result.volatility.loc[common]
    ratio = (ours_vol / base.vols.loc[common]).stack().dropna()
    print(
        f"1-day vol forecasts within 1% of the baseline's: "
        f"{np.mean((ratio - 1).abs() <= 0.01):.2%} of {len(ratio)} asset-dates"
    )
    gaps = _gaps(result.targets, base.targets.loc[common])
    print(_describe("weights, riskengine vs baseline", gaps))

    moments = baseline.ewma_moments(market.returns)
    same = {
        date: baseline.allocate(
            moments, date, ours_vol.loc[date, base.vols.loc[date].notna()]
        )
        for date in common
    }
    print(
        _describe(
            "weights, both on riskengine's forecasts",
            _gaps(result.targets, _frame(same, market)),
        )
    )

    fits = forecast_variance(
        market.returns, spec.model, refit_dates=dates, start=dates[0]
    ).fits

    def latest(column: str) -> pd.DataFrame:
        """Each asset's latest refit at or before each rebalance date."""
        table = fits.pivot(index="date", columns="asset", values=column).ffill()
        return table.reindex(common, method="ffill").reindex(columns=base.vols.columns)

    ours_loglik = latest("loglikelihood")
    shortfall = (base.loglikelihood.loc[common] - ours_loglik).stack().dropna()
    print(
        f"log-likelihood: riskengine's fit at least arch's (to 1e-6) on "
        f"{np.mean(shortfall <= 1e-6):.2%} of {len(shortfall)} asset-dates; "
        f"largest shortfall {shortfall.max():.1e}, largest gain {-shortfall.min():.2f}"
    )

    wide = gaps.index[gaps > WEIGHT_TOLERANCE]
    if wide.empty:
        return
    params = {name: latest(name) for name in baseline.PARAMETERS}
    restarted, rows = {}, []
    for date in wide:
        vols = {}
        for asset in base.vols.loc[date].dropna().index:
            start_at = np.array([params[name].loc[date, asset] for name in params])
            fit = baseline.fit_arch(market.returns[asset].loc[:date], start_at)
            vols[asset] = fit.vol
            if abs(ratio[date, asset] - 1) > 0.01:
                rows.append(
                    {
                        "date": date.date(),
                        "asset": asset,
                        "forecast_ratio": ratio[date, asset],
                        "arch_loglik": base.loglikelihood.loc[date, asset],
                        "riskengine_loglik": ours_loglik.loc[date, asset],
                        "arch_from_riskengine": fit.loglikelihood,
                    }
                )
        restarted[date] = baseline.allocate(moments, date, pd.Series(vols))
    print(
        f"{len(wide)} of {len(common)} dates differ by more than "
        f"{WEIGHT_TOLERANCE:.0e}; there, arch started from riskengine's parameters"
    )
    print(_describe("  weights", _gaps(result.targets, _frame(restarted, market))))
    if rows:
        print("asset-dates whose forecasts differ by more than 1% (log-likelihoods):")
        print(
            pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}")
        )


def _frame(targets: dict, market: Market) -> pd.DataFrame:
    return pd.DataFrame(targets).T.reindex(columns=market.returns.columns).fillna(0.0)


def _gaps(ours: pd.DataFrame, theirs: pd.DataFrame) -> pd.Series:
    """Largest absolute weight difference on each of `theirs`' dates."""
    return (ours.loc[theirs.index] - theirs).abs().max(axis=1)


def _describe(label: str, gaps: pd.Series) -> str:
    return (
        f"{label}: |difference| median {gaps.median():.1e}, 99th percentile "
        f"{gaps.quantile(0.99):.1e}, max {gaps.max():.1e} ({gaps.idxmax().date()}),"
        f" above {WEIGHT_TOLERANCE:.0e} on {(gaps > WEIGHT_TOLERANCE).sum()} of "
        f"{len(gaps)} dates"
    )


def large_model() -> ModelSpec:
    """The large size's model: GARCH(1,1)-t refit every 21 observations."""
    return replace(policy().model, refit_on="schedule", refit_every_days=21)


if __name__ == "__main__":
    sys.exit(main())
