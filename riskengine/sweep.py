"""Sweeps: many policy x parameter x universe backtests on Dask, resumable.

A sweep file (TOML) names the policies, a grid of policy fields and the universes::

    name = "overlay-thresholds"
    policies = ["risk-parity-fund", "safe-haven-risk-off"]
    start = "2025-06-01"                     # optional, as is end
    [grid]                                   # dotted policy field -> values
    "target.target_vol_annual" = [0.08, 0.10, 0.12]
    [universes]                              # name -> assets ([] = every asset)
    all = []
    no_crypto = ["GLD", "SLV", "SPY", "EEM", "HYG", "LQD", "TLT", "IEF"]

The runs are every policy x grid point x universe; every grid field must be valid
for every policy listed (an invalid one is an error naming the policy's field).
Each run is identified by a hash of what defines it (the resolved policy, the
universe's name and assets, the period and the data's SHA-256) and writes one
partition of two Parquet datasets under the output folder, atomically:
``runs/run_id=<id>/`` (one row: the run's definition and metrics) and
``returns/run_id=<id>/`` (its daily net returns).
A run whose partition exists is skipped, so an interrupted sweep resumes where it
stopped. A run that fails, for whatever reason, does not stop the others: it is
recorded in a third dataset, ``failures/run_id=<id>/`` (its definition, the
one-line error and its exit code), and retried next time; the record goes when
the run succeeds.
The output folder is riskengine's own (marked ``.riskengine-sweep``; see
`riskengine.output`): a second sweep on it while one runs is refused, and
partition files a killed sweep left half-written are removed by the next one.

Runs execute on Dask distributed: a `LocalCluster` (one single-threaded worker
process per core) by default, or the scheduler at ``scheduler`` to use a cluster.
The local cluster listens on 127.0.0.1 only (scheduler, workers and dashboard).
Trust: Dask ships tasks and data as pickles, and unpickling runs code, so join
only a scheduler you trust, on a network you trust; anyone who can reach a
scheduler can run code on its workers, and it can run code on this machine.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from distributed import Client, LocalCluster, as_completed

from riskengine.backtest import run_backtest
from riskengine.data.dates import iso_date
from riskengine.data.prices import Market, make_market
from riskengine.errors import ClusterError, OutputError, RiskEngineError, SpecError
from riskengine.messages import shown
from riskengine.output import datasets_folder, replace_file
from riskengine.progress import Progress
from riskengine.specs import PolicySpec, load_policy
from riskengine.specs.files import read_toml

SWEEP_FIELDS = {"name", "policies", "start", "end", "grid", "universes"}
DATASETS = ("runs", "returns", "failures")
LOCALHOST = "127.0.0.1"
"""The only interface the local cluster listens on."""
SCHEDULER_TIMEOUT = "10s"
"""How long to try to reach a ``--scheduler`` before giving up."""


@dataclass(frozen=True)
class SweepRun:
    """One backtest of a sweep: a policy with overrides, on a universe and period."""

    run_id: str
    policy: PolicySpec
    overrides: dict[str, Any]
    universe: str
    assets: tuple[str, ...]
    start: str | None
    end: str | None


@dataclass(frozen=True)
class Sweep:
    """A sweep file, expanded: its name and its runs."""

    name: str
    runs: tuple[SweepRun, ...]


@dataclass(frozen=True)
class RunFailure:
    """Why a run failed: the error in one line, and the exit code of its class."""

    message: str
    exit_code: int


@dataclass(frozen=True)
class SweepReport:
    """What a sweep did: runs done now, skipped as already done, and failures."""

    done: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: dict[str, RunFailure]
    summary: pd.DataFrame

    @property
    def exit_code(self) -> int:
        """0 if no run failed, else the exit code of the first failure in run order."""
        return next((f.exit_code for f in self.failed.values()), 0)


def plan_sweep(path: str | Path, market: Market) -> Sweep:
    """Expand a sweep file into its runs, validating every policy they use.

    Raises
    ------
    SpecError
        Naming the sweep file and the field for a bad sweep, and the policy's field
        for a grid value the policy rejects.
    """
    path = Path(path)
    table = _read(path)
    grid = table.get("grid", {})
    universes = table.get("universes", {"all": []})
    start, end = table.get("start"), table.get("end")
    for name, assets in universes.items():
        unknown = sorted(set(assets) - set(market.prices.columns))
        if unknown:
            raise SpecError(f"{path}: universes.{name}: no such asset {unknown[0]!r}")
    fields = list(grid)
    runs = []
    for policy_name in table["policies"]:
        for point in itertools.product(*(grid[f] for f in fields)):
            overrides = dict(zip(fields, point, strict=True))
            try:
                policy = load_policy(policy_name, overrides)
            except SpecError as exc:
                values = ", ".join(f"{k} = {shown(v)}" for k, v in overrides.items())
                raise SpecError(f"{path}: grid {{{values}}}: {exc}") from exc
            for universe, assets in universes.items():
                chosen = tuple(assets) or tuple(market.prices.columns)
                runs.append(
                    SweepRun(
                        _run_id(policy, universe, chosen, (start, end), market),
                        policy,
                        overrides,
                        universe,
                        chosen,
                        start,
                        end,
                    )
                )
    return Sweep(str(table.get("name", path.stem)), tuple(runs))


def run_sweep(
    runs: Sequence[SweepRun],
    market: Market,
    out_dir: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
    progress: Progress | None = None,
) -> SweepReport:
    """Run the runs not yet in `out_dir` on Dask, and summarise all of them.

    Parameters
    ----------
    runs : sequence of SweepRun
        From `plan_sweep`.
    market : Market
        The prices every run reads (sent once to each worker).
    out_dir : str or Path
        Folder of the ``runs`` and ``returns`` datasets.
    scheduler : str, optional
        Address of a Dask scheduler; by default a `LocalCluster` is started.
    workers : int, optional
        Workers of the local cluster (default: one per core).
    processes : bool
        Local workers as processes (parallel) or threads (cheap to start).
    progress : Progress, optional
        Told of each run finished, in the order they finish (see
        `riskengine.progress`).
    """
    with datasets_folder(out_dir, DATASETS) as out:
        pending = [r for r in runs if not _partition(out, "runs", r.run_id).is_file()]
        waiting = {r.run_id for r in pending}
        skipped = tuple(r.run_id for r in runs if r.run_id not in waiting)
        done, failed = set(), {}
        if pending:
            with _client(scheduler, workers, processes) as client:
                shared = client.scatter(market, broadcast=True)
                futures = {
                    client.submit(
                        _run_one, run, shared, str(out), key=f"run-{run.run_id}"
                    ): run
                    for run in pending
                }
                for finished, future in enumerate(as_completed(futures), 1):
                    run = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as exc:  # the worker died: one run, not all
                        outcome = _failure(exc)
                    if isinstance(outcome, RunFailure):
                        failed[run.run_id] = outcome
                        _record_failure(out, run, outcome)
                    else:
                        done.add(run.run_id)
                        _partition(out, "failures", run.run_id).unlink(missing_ok=True)
                    if progress is not None:
                        progress("sweep runs", finished, len(futures))
        summary = _summary(out, [r.run_id for r in runs])
    in_order = [r.run_id for r in runs]
    return SweepReport(
        tuple(i for i in in_order if i in done),
        skipped,
        {i: failed[i] for i in in_order if i in failed},
        summary,
    )


def _failure(exc: Exception) -> RunFailure:
    """A run's exception as a one-line failure; not ours is an internal error."""
    if isinstance(exc, RiskEngineError):
        return RunFailure(" ".join(str(exc).split()), exc.exit_code)
    detail = " ".join(str(exc).split())
    return RunFailure(f"internal error: {type(exc).__name__}: {detail}", 1)


def _record_failure(out: Path, run: SweepRun, failure: RunFailure) -> None:
    """The failure's partition: the run's definition, its error and exit code."""
    row = {
        "policy": run.policy.name,
        "universe": run.universe,
        **{f"grid.{k}": v for k, v in run.overrides.items()},
        "error": failure.message,
        "exit_code": failure.exit_code,
        "failed_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    _write_atomically(pd.DataFrame([row]), _partition(out, "failures", run.run_id))


def _read(path: Path) -> dict[str, Any]:
    table = read_toml(path)
    unknown = sorted(set(table) - SWEEP_FIELDS)
    if unknown:
        expected = ", ".join(sorted(SWEEP_FIELDS))
        raise SpecError(
            f"{path}: unknown field {unknown[0]!r} (expected one of: {expected})"
        )
    policies = table.get("policies")
    if not (
        isinstance(policies, list)
        and policies
        and all(isinstance(p, str) for p in policies)
    ):
        raise SpecError(
            f"{path}: policies: expected a non-empty list of policy names or paths"
        )
    if not isinstance(table.get("name", ""), str):
        raise SpecError(f"{path}: name: expected a string")
    for key in ("grid", "universes"):
        value = table.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(v, list) for v in value.values()
        ):
            raise SpecError(f"{path}: {key}: expected a table of lists")
    for name, assets in table.get("universes", {}).items():
        if not all(isinstance(a, str) for a in assets):
            raise SpecError(f"{path}: universes.{name}: expected a list of asset names")
    for key in ("start", "end"):
        if key in table:
            table[key] = _iso_date(table[key], path, key)
    for field, values in table.get("grid", {}).items():
        if not values:
            raise SpecError(f"{path}: grid.{field}: expected at least one value")
    return table


def _iso_date(value: object, path: Path, key: str) -> str:
    """A TOML date or ISO date string, as YYYY-MM-DD (see `riskengine.data.dates`)."""
    try:
        return iso_date(value)
    except ValueError as exc:
        raise SpecError(f"{path}: {key}: {exc}") from None


def _run_id(
    policy: PolicySpec,
    universe: str,
    assets: tuple[str, ...],
    period: tuple[str | None, str | None],
    market: Market,
) -> str:
    """Hash of what defines a run: the same definition, the same id."""
    definition = {
        "policy": policy.to_dict(),
        "universe": [universe, assets],
        "period": period,
        "data": market.fingerprint,
    }
    text = json.dumps(definition, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def _client(
    scheduler: str | None, workers: int | None, processes: bool
) -> Iterator[Client]:
    """A client of the given scheduler, or of a local cluster closed after use.

    The local cluster listens on `LOCALHOST` only, its dashboard on any free port
    there (8787 may be taken).

    Raises
    ------
    ClusterError
        If the scheduler cannot be reached or the local cluster cannot start.
    """
    where = f"--scheduler {scheduler}" if scheduler else "local Dask cluster"
    with ExitStack() as stack:
        try:
            if scheduler is not None:
                client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
            else:
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=workers or os.cpu_count() or 1,
                        threads_per_worker=1,
                        processes=processes,
                        host=LOCALHOST if processes else None,  # threads: inproc
                        dashboard_address=f"{LOCALHOST}:0",
                        worker_dashboard_address=f"{LOCALHOST}:0",
                    )
                )
                client = Client(cluster)
        except (OSError, ValueError, RuntimeError) as exc:
            detail = " ".join(str(exc).split())
            raise ClusterError(f"{where}: cannot start or connect ({detail})") from None
        with client:
            yield client


def _run_one(run: SweepRun, market: Market, out_dir: str) -> str | RunFailure:
    """Backtest one run on a worker and write its two partitions.

    Returns the run's id, or its failure: a failure is a result, not an exception
    for Dask to log with its traceback.
    """
    try:
        return _backtest_one(run, market, Path(out_dir))
    except Exception as exc:  # any failure stops this run, not the sweep
        return _failure(exc)


def _backtest_one(run: SweepRun, market: Market, out: Path) -> str:
    """The backtest of one run, its two partitions written."""
    prices = market.prices[list(run.assets)].dropna(how="all")
    universe = make_market(
        prices,
        source=f"{market.source} [{run.universe}]",
        sleeves=market.asset_table,
        simulated=market.simulated,
    )
    # A sweep compares its runs with each other: no per-run baseline book.
    result = run_backtest(
        run.policy, universe, start=run.start, end=run.end, baseline=None
    )
    row = {
        "policy": run.policy.name,
        "universe": run.universe,
        "start": str(result.returns.index[0].date()),
        "end": str(result.returns.index[-1].date()),
        "simulated": result.simulated,
        **{f"grid.{k}": v for k, v in run.overrides.items()},
        **result.metrics(),
        "events": len(result.events),
    }
    returns = result.returns.rename_axis("date").reset_index()
    _write_atomically(returns, _partition(out, "returns", run.run_id))
    _write_atomically(pd.DataFrame([row]), _partition(out, "runs", run.run_id))
    return run.run_id


def _partition(out: Path, dataset: str, run_id: str) -> Path:
    return out / dataset / f"run_id={run_id}" / "part-0.parquet"


def _write_atomically(frame: pd.DataFrame, path: Path) -> None:
    """One partition file, put in place in one rename (see `replace_file`)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, lambda temporary: frame.to_parquet(temporary, index=False))
    except OSError as exc:
        detail = exc.strerror or str(exc)
        raise OutputError(f"{path}: cannot write the partition: {detail}") from exc


def _summary(out: Path, run_ids: list[str]) -> pd.DataFrame:
    frames = [
        pd.read_parquet(_partition(out, "runs", run_id)).assign(run_id=run_id)
        for run_id in run_ids
        if _partition(out, "runs", run_id).is_file()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
