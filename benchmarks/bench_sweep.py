"""Sweep throughput: runs per second with and without shared walk inputs.

The grid (100 runs): safe-haven-risk-off-garch (GJR-GARCH(1,1)-t forecasts refitted
weekly, two triggers on gold and silver) with ``target.target_vol_annual`` in 0.06 ..
0.14 and ``triggers.0.enter_above`` in 2.0 .. 4.0 (5 x 5), on four universes of
../shared/data/multiasset_daily.csv, from 2016-01-01 to the file's end. Runs that
differ only in their target and threshold read the same forecasts: 4 preparations
serve the 100 runs when they are shared (``run_sweep(share=True)``, the default),
100 are made when they are not (``share=False``).

Each worker count gets its own local cluster of single-threaded worker processes,
started and warmed (one short sweep, so that imports and compiled kernels are
loaded) before it is timed; each timing is one `run_sweep` into a fresh output
folder, cluster start excluded. Prints runs per second and the speed-up from
sharing for each worker count; ``--min-ratio`` fails if a speed-up is below it.
Both modes write the same results (checked: the run tables are compared).

Usage::

    python benchmarks/bench_sweep.py                  # 100 runs, 1 and 2 workers
    python benchmarks/bench_sweep.py --quick --min-ratio 2   # CI: 20 runs, 2023 on
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from distributed import LocalCluster

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing
from riskengine.data.prices import Market, load_market  # noqa: E402
from riskengine.sweep import SweepRun, plan_sweep, run_sweep  # noqa: E402

DATA = Path(os.environ.get("RISKENGINE_DATA_DIR", REPO.parent / "shared" / "data"))
POLICY = "safe-haven-risk-off-garch"
UNIVERSES = {
    "all": [],
    "no_crypto": ["GLD", "SLV", "SPY", "EEM", "HYG", "LQD", "TLT", "IEF", "USO"],
    "core": ["GLD", "SLV", "SPY", "TLT", "IEF"],
    "credit": ["GLD", "SLV", "SPY", "EEM", "HYG", "LQD"],
}
SIZES = {
    # name: (start, target vols, trigger thresholds, universes)
    "full": (
        "2016-01-01",
        [0.06, 0.08, 0.10, 0.12, 0.14],
        [2.0, 2.5, 3.0, 3.5, 4.0],
        list(UNIVERSES),
    ),
    "quick": (
        "2023-01-01",
        [0.06, 0.08, 0.10, 0.12, 0.14],
        [2.0, 3.0],
        ["all", "core"],
    ),
}


def sweep_text(
    start: str, vols: list[float], enters: list[float], names: list[str]
) -> str:
    """The benchmark's sweep file."""
    universes = "\n".join(f"{name} = {json.dumps(UNIVERSES[name])}" for name in names)
    return (
        f'name = "bench-sweep"\npolicies = ["{POLICY}"]\nstart = "{start}"\n'
        f'[grid]\n"target.target_vol_annual" = {vols!r}\n'
        f'"triggers.0.enter_above" = {enters!r}\n'
        f"[universes]\n{universes}\n"
    )


def timed_sweep(
    runs: tuple[SweepRun, ...], market: Market, scheduler: str, out: Path, share: bool
) -> tuple[float, pd.DataFrame]:
    """Seconds of one sweep into `out`, and its run table."""
    clock = time.perf_counter()
    report = run_sweep(runs, market, out, scheduler=scheduler, share=share)
    seconds = time.perf_counter() - clock
    if report.failed or len(report.done) != len(runs):
        raise SystemExit(f"FAIL: {len(report.failed)} runs failed: {report.failed}")
    return seconds, report.summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 runs from 2023")
    parser.add_argument(
        "--workers", type=int, nargs="+", help="worker counts (default: 1 2)"
    )
    parser.add_argument("--min-ratio", type=float, help="fail below this speed-up")
    args = parser.parse_args()
    path = DATA / "multiasset_daily.csv"
    if not path.is_file():
        print(f"skipped: {path} not found (set RISKENGINE_DATA_DIR)")
        return 0
    market = load_market(path)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as folder:
        return measure(market, Path(folder), path, args)


def measure(market: Market, scratch: Path, path: Path, args: argparse.Namespace) -> int:
    """Time the grid with and without sharing, per worker count; 1 below the floor."""
    start, vols, enters, names = SIZES["quick" if args.quick else "full"]
    sweep_file = scratch / "sweep.toml"
    sweep_file.write_text(sweep_text(start, vols, enters, names))
    runs = plan_sweep(sweep_file, market).runs
    sweep_file.write_text(sweep_text("2026-06-01", vols[:1], enters[:1], names[:1]))
    warm_up = plan_sweep(sweep_file, market).runs
    print(
        f"{len(runs)} runs: {POLICY}, target vol {vols} x triggers.0.enter_above "
        f"{enters} x universes {names}; {start}..{market.prices.index[-1].date()}; "
        f"{path}"
    )
    print(f"{'workers':>7} {'sharing':>8} {'seconds':>8} {'runs/s':>7}")
    ratios = {}
    for n_workers in args.workers or [1, 2]:
        with LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster:
            address = cluster.scheduler_address
            run_sweep(warm_up, market, scratch / f"warm-{n_workers}", scheduler=address)
            seconds = {}
            tables = {}
            for share in (False, True):
                out = scratch / f"w{n_workers}-{'shared' if share else 'alone'}"
                seconds[share], tables[share] = timed_sweep(
                    runs, market, address, out, share
                )
                label = "yes" if share else "no"
                rate = len(runs) / seconds[share]
                print(f"{n_workers:>7} {label:>8} {seconds[share]:8.1f} {rate:7.2f}")
        pd.testing.assert_frame_equal(
            tables[True].sort_values("run_id", ignore_index=True),
            tables[False].sort_values("run_id", ignore_index=True),
            check_exact=True,
        )
        ratios[n_workers] = seconds[False] / seconds[True]
    for n_workers, ratio in ratios.items():
        print(f"speed-up from sharing, {n_workers} worker(s): {ratio:.1f}x")
    print("results with and without sharing: identical")
    worst = min(ratios.values())
    if args.min_ratio is not None and worst < args.min_ratio:
        print(f"FAIL: speed-up {worst:.1f}x is below the floor {args.min_ratio}x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
