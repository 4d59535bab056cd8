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

Data shapes (``--shape``, also spelt ``--size``; several run one after the other)::

    small    8 real assets (../shared/data/multiasset_daily.csv), 15 years (CI)
    quick    the same, 3 years
    medium   30 simulated assets (the project's simulator), 15 years
    large    100 simulated assets, 20 years, refits every 21 days (riskengine alone)
    flat     8 assets of i.i.d. Student-t(5) returns, 3780 weekdays: the GARCH
             likelihood is flat, and about half the fits end on a bound
    regime   8 assets whose volatility follows a 2-state Markov chain (calm and
             stressed, 3x apart), Student-t(6) shocks, 3780 weekdays

Usage::

    python benchmarks/bench_backtest.py                        # small
    python benchmarks/bench_backtest.py --size small --repeat 3 --min-ratio 10  # CI
    python benchmarks/bench_backtest.py --shape small medium flat regime  # the table

Medium times the baseline on 24 random rebalance dates and extrapolates (each date
is independent of the others); large runs riskengine alone (the goal is under a
minute and 2 GiB).

Prints, per shape: stage times, the speed ratio (the median of --repeat runs of
riskengine, after one untimed run that loads the compiled kernels from numba's
cache and whose time is printed, against one baseline run, in the same process; also
as a ratio of CPU seconds, which other load on the machine disturbs less),
microseconds per GARCH fit for both (riskengine: its volatility stage over its fits,
threads included; arch: the baseline's time in ``fit_arch``), likelihood evaluations
per fit, the
share of fits that end on a bound and of those checked from arch's cold start, and
how far the answers agree: forecasts, weights, weights when both use riskengine's
forecasts, which fit has the higher likelihood, and, where the weights differ by
more than 1e-4, the weights arch gives when started from riskengine's parameters.
Then one summary row per shape. Never used to assert a wall-clock time; exits 1 if
a shape's ratio is below --min-ratio.
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
from typing import NamedTuple

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
SYNTHETIC_DAYS = 3780
N_SYNTHETIC = 8
SEEDS = {"flat": 0, "regime": 1}
RESTARTS = 60
"""At most this many of the dates whose weights differ get arch's restart check."""
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


def synthetic(kind: str, seed: int, days: int = SYNTHETIC_DAYS) -> Market:
    """Eight assets of synthetic daily returns on weekdays, prices from 100.

    ``"flat"``: i.i.d. Student-t(5) returns of 1% daily vol, no volatility
    clustering at all, so the GARCH likelihood is flat near alpha = 0 and many fits
    end on a bound. ``"regime"``: each asset's volatility follows its own 2-state
    Markov chain (calm 0.6%, stressed 1.8% a day, scaled per asset; a calm day stays
    calm with probability 0.995, a stressed one stressed with 0.98), Student-t(6)
    shocks.
    """
    rng = np.random.default_rng(seed)
    shocks = rng.standard_t(5 if kind == "flat" else 6, size=(days, N_SYNTHETIC))
    if kind == "flat":
        returns = 0.01 * shocks / np.sqrt(5.0 / 3.0)
    else:
        stay = np.array([0.995, 0.98])
        vols = np.array([0.006, 0.018]) * rng.uniform(0.6, 1.6, (N_SYNTHETIC, 1))
        states = np.zeros((days, N_SYNTHETIC), dtype=int)
        switch = rng.random((days, N_SYNTHETIC))
        for t in range(1, days):
            previous = states[t - 1]
            states[t] = np.where(switch[t] < stay[previous], previous, 1 - previous)
        scale = vols[np.arange(N_SYNTHETIC), states]  # (days, assets)
        returns = scale * shocks / np.sqrt(1.5)
    names = [f"{kind.upper()}_{i}" for i in range(N_SYNTHETIC)]
    dates = pd.bdate_range("2011-01-03", periods=days + 1)
    prices = 100.0 * np.vstack([np.ones(N_SYNTHETIC), np.cumprod(1.0 + returns, 0)])
    return make_market(
        pd.DataFrame(prices, index=dates, columns=names),
        source=f"{kind} panel, seed {seed}",
        sleeves=dict.fromkeys(names, "dm_equity"),
        simulated=True,
    )


def timed(function, *args, **kwargs):
    """The call's value, its wall-clock seconds and the process's CPU seconds."""
    clock, cpu = time.perf_counter(), time.process_time()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - clock, time.process_time() - cpu


class Shape(NamedTuple):
    """A data shape: where its panel comes from and how much of it is timed."""

    data: str  # "real", "simulated", "flat" or "regime"
    n_assets: int
    years: int
    sample: int | None  # baseline dates timed (None: all; 0: no baseline)


SHAPES = {
    "quick": Shape("real", 8, 3, None),
    "small": Shape("real", 8, 15, None),
    "medium": Shape("simulated", 30, 15, 24),
    "large": Shape("simulated", 100, 20, 0),
    "flat": Shape("flat", 8, 15, None),
    "regime": Shape("regime", 8, 15, None),
}


def load(shape: Shape) -> Market | None:
    """The shape's panel; None if it needs the real file and that is absent."""
    if shape.data == "real":
        path = DATA / "multiasset_daily.csv"
        if not path.is_file():
            return None
        full = load_market(path)
        prices = full.prices[ASSETS].dropna(how="all")
        return make_market(prices, source=str(path), sleeves=full.sleeves)
    if shape.data == "simulated":
        return simulated(shape.n_assets, shape.years)
    return synthetic(shape.data, SEEDS[shape.data])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shape",
        "--size",
        dest="shapes",
        nargs="+",
        choices=SHAPES,
        default=["small"],
        help="data shapes to run, one after the other (default: small)",
    )
    parser.add_argument("--quick", action="store_true", help="same as --size quick")
    parser.add_argument("--repeat", type=int, default=3, help="riskengine runs")
    parser.add_argument("--min-ratio", type=float, help="fail below this speed ratio")
    args = parser.parse_args()
    names = ["quick"] if args.quick else list(dict.fromkeys(args.shapes))
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rows = {}
    for name in names:
        market = load(SHAPES[name])
        if market is None:
            print(f"{name}: skipped: {DATA} has no multiasset_daily.csv")
            print("  (set RISKENGINE_DATA_DIR)")
            continue
        rows[name] = measure(name, SHAPES[name], market, args.repeat)
        print()
    if rows:
        summary(rows)
    ratios = {name: row["ratio"] for name, row in rows.items() if "ratio" in row}
    low = {n: r for n, r in ratios.items() if args.min_ratio and r < args.min_ratio}
    for name, ratio in low.items():
        print(f"FAIL: {name}: ratio {ratio:.1f}x is below the floor {args.min_ratio}x")
    return 1 if low else 0


def measure(name: str, shape: Shape, market: Market, repeat: int) -> dict:
    """Run one shape: riskengine `repeat` times, then the baseline; print, return."""
    end = market.returns.index[-1]
    start = end - pd.DateOffset(years=shape.years)
    spec = policy() if name != "large" else replace(policy(), model=large_model())
    if shape.data != "real":  # simulated panels trade every weekday
        spec = replace(spec, rebalance=replace(spec.rebalance, calendar="24/5"))

    _, first, _ = timed(run_backtest, spec, market, start=start)  # loads the kernels
    runs = [timed(run_backtest, spec, market, start=start) for _ in range(repeat)]
    result, seconds = runs[-1][0], statistics.median(t for _, t, _ in runs)
    cpu = statistics.median(c for _, _, c in runs)
    volatility = statistics.median(r.timings["volatility"] for r, _, _ in runs)
    tracemalloc.start()
    run_backtest(spec, market, start=start)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    dates = weekly_dates(market.returns.index, start)
    dates = dates[dates >= market.returns.index[baseline.WINDOW]]  # a full window
    n_assets = market.returns.shape[1]
    print(
        f"shape: {name}; {n_assets} {shape.data} assets, "
        f"{dates[0].date()}..{end.date()}, {len(dates)} weekly rebalances"
    )
    print(
        f"riskengine run_backtest, median of {repeat}: {seconds:8.2f} s "
        f"({cpu:.2f} s CPU, all threads); the process's first run, untimed: "
        f"{first:.2f} s"
    )
    for stage, value in result.timings.items():
        print(f"  {stage:<12} {value:8.3f} s")
    resident = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(
        f"peak memory: {peak:.0f} MiB traced in run_backtest, "
        f"{resident:.0f} MiB resident for the whole process so far"
    )
    fits = forecast_variance(
        market.returns, spec.model, refit_dates=dates, start=dates[0]
    ).fits
    row = {"assets": f"{n_assets} {shape.data}", "weeks": len(dates)}
    row |= {"riskengine": seconds, "peak": peak}
    row |= fit_figures(fits, volatility)
    if shape.sample == 0:
        return row

    chosen = dates
    if shape.sample is not None:
        rng = np.random.default_rng(0)
        chosen = dates[
            np.sort(rng.choice(len(dates), size=shape.sample, replace=False))
        ]
    base, base_seconds, base_cpu = timed(baseline.run, market.returns, chosen)
    base_seconds *= len(dates) / len(chosen)
    base_cpu *= len(dates) / len(chosen)
    sampled = "" if shape.sample is None else f", timed on {shape.sample} dates"
    print(
        f"baseline (arch per asset and week, cvxpy{sampled}): {base_seconds:8.2f} s "
        f"({base_cpu:.2f} s CPU)"
    )
    arch_us = 1e6 * base.fit_seconds / base.n_fits
    print(f"  arch fit and forecast: {arch_us:.0f} us a fit ({base.n_fits} fits)")
    row |= {"baseline": base_seconds, "ratio": base_seconds / seconds}
    row |= {"cpu_ratio": base_cpu / cpu}
    row |= {"arch_us": arch_us, "fit_ratio": arch_us / row["us_per_fit"]}
    print(
        f"speed ratio baseline / riskengine: {row['ratio']:.1f}x "
        f"(CPU seconds: {row['cpu_ratio']:.1f}x, less sensitive to other load)"
    )
    print(f"GARCH fits, arch / riskengine per fit: {row['fit_ratio']:.1f}x")
    row |= report_agreement(result, base, fits, market)
    return row


def fit_figures(fits: pd.DataFrame, volatility: float) -> dict:
    """Print and return what the refits cost and how they ended."""
    n = len(fits)
    chains = fits["attempts"].astype(str)
    checked = chains.str.contains("fast-warm") & chains.str.contains("fast-cold")
    figures = {
        "fits": n,
        "us_per_fit": 1e6 * volatility / n,
        "evals": float(fits["n_evals"].mean()),
        "boundary": float((fits["status"] == "boundary").mean()),
        "checked": float(checked.mean()),
    }
    print(
        f"GARCH refits: {n}; {figures['us_per_fit']:.0f} us a fit (volatility stage "
        f"over fits, {os.cpu_count()} threads); {figures['evals']:.1f} likelihood "
        f"evaluations a fit (median {fits['n_evals'].median():.0f}); "
        f"{figures['boundary']:.1%} end on a bound; {figures['checked']:.1%} "
        "checked from arch's cold start"
    )
    return figures


def report_agreement(
    result: BacktestResult,
    base: baseline.BaselineRun,
    fits: pd.DataFrame,
    market: Market,
) -> dict:
    """Print how far riskengine's answers are from the baseline's; return figures.

    The figures: forecasts within 1%, the same where both fits reach the same
    maximum, the share of fits at least arch's and the worst relative shortfall.

    Three checks separate the stages: the baseline's allocation fed riskengine's
    forecasts (covariance and allocation alone); which of the two GARCH fits
    reached the higher log-likelihood on each window; and, on the dates where the
    weights differ by more than `WEIGHT_TOLERANCE`, arch started from riskengine's
    parameters, then the baseline's allocation.
    """
    common = base.targets.index.intersection(result.targets.index)
    ours_vol = result.volatility.loc[common]
    ratio = (ours_vol / base.vols.loc[common]).stack().dropna()
    close = (ratio - 1).abs() <= 0.01
    print(
        f"1-day vol forecasts within 1% of the baseline's: "
        f"{close.mean():.2%} of {len(ratio)} asset-dates"
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

    def latest(column: str) -> pd.DataFrame:
        """Each asset's latest refit at or before each rebalance date."""
        table = fits.pivot(index="date", columns="asset", values=column).ffill()
        return table.reindex(common, method="ffill").reindex(columns=base.vols.columns)

    ours_loglik = latest("loglikelihood")
    theirs = base.loglikelihood.loc[common]
    relative = ((theirs - ours_loglik) / theirs.abs()).stack().dropna()
    shortfall = (theirs - ours_loglik).stack().dropna()
    at_least = float(np.mean(relative <= 1e-6))
    same_max = relative.abs() <= 1e-6
    close_same = float(close.reindex(same_max.index)[same_max].mean())
    print(
        f"log-likelihood: riskengine's fit at least arch's (to 1e-6 relative) on "
        f"{at_least:.2%} of {len(relative)} asset-dates; largest shortfall "
        f"{shortfall.max():.1e} ({relative.max():.1e} relative), largest gain "
        f"{-shortfall.min():.2f}"
    )
    print(
        f"where both reach the same maximum (to 1e-6, {same_max.mean():.2%} of "
        f"asset-dates), forecasts within 1%: {close_same:.2%}"
    )
    figures = {
        "within_1pct": float(close.mean()),
        "same_max_within_1pct": close_same,
        "at_least_arch": at_least,
        "worst_shortfall": float(relative.max()),
    }

    wide = gaps.index[gaps > WEIGHT_TOLERANCE]
    if wide.empty:
        return figures
    n_wide = len(wide)
    if n_wide > RESTARTS:  # evenly spaced: each restart is a full arch fit per asset
        wide = wide[np.unique(np.linspace(0, n_wide - 1, RESTARTS).astype(int))]
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
        f"{n_wide} of {len(common)} dates differ by more than "
        f"{WEIGHT_TOLERANCE:.0e}; on {len(wide)} of them, arch started from "
        "riskengine's parameters"
    )
    print(_describe("  weights", _gaps(result.targets, _frame(restarted, market))))
    if rows:
        print("asset-dates whose forecasts differ by more than 1% (log-likelihoods):")
        table = pd.DataFrame(rows)
        shown = table if len(table) <= 20 else table.head(20)
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if len(table) > 20:
            print(f"  ... and {len(table) - 20} more")
    return figures


def summary(rows: dict[str, dict]) -> None:
    """One markdown row per shape: the README's performance table."""
    print(
        "| shape | assets | weeks | baseline | riskengine | ratio (CPU) | arch "
        "us/fit | riskengine us/fit | evals/fit | on a bound | cold-checked | "
        "llf >= arch (1e-6) | forecasts within 1% (same maximum) |"
    )
    print("|---" * 13 + "|")
    for name, row in rows.items():
        if "ratio" not in row:
            print(
                f"| {name} | {row['assets']} | {row['weeks']} | - | "
                f"{row['riskengine']:.2f} s | - | - | {row['us_per_fit']:.0f} | "
                f"{row['evals']:.1f} | {row['boundary']:.1%} | {row['checked']:.1%} "
                "| - | - |"
            )
            continue
        print(
            f"| {name} | {row['assets']} | {row['weeks']} | {row['baseline']:.1f} s | "
            f"{row['riskengine']:.2f} s | {row['ratio']:.0f}x "
            f"({row['cpu_ratio']:.0f}x) | {row['arch_us']:.0f} | "
            f"{row['us_per_fit']:.0f} | {row['evals']:.1f} | {row['boundary']:.1%} | "
            f"{row['checked']:.1%} | {row['at_least_arch']:.2%} (worst "
            f"{row['worst_shortfall']:.0e}) | {row['within_1pct']:.2%} "
            f"({row['same_max_within_1pct']:.2%}) |"
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
