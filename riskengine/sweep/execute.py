"""A sweep's runs on Dask: shared walk inputs, one partition per run, resumable."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from distributed import Client, Future, as_completed

from riskengine.backtest import run_backtest
from riskengine.backtest.walk import WalkInputs, prepare_walk, walk_key
from riskengine.data.prices import Market, make_market
from riskengine.errors import OutputError, RiskEngineError
from riskengine.output import datasets_folder, replace_file
from riskengine.progress import Progress
from riskengine.specs import PolicySpec
from riskengine.sweep.cluster import connect
from riskengine.sweep.plan import SweepRun

DATASETS = ("runs", "returns", "failures")


@dataclass(frozen=True)
class RunFailure:
    """Why a run failed: the error in one line, and the exit code of its class."""

    message: str
    exit_code: int


@dataclass(frozen=True)
class RunOutput:
    """What a worker sends back for a run done: its summary row and daily returns."""

    row: dict[str, object]
    returns: pd.DataFrame


@dataclass(frozen=True)
class SweepReport:
    """What a sweep did: runs done now, skipped as already done, and failures.

    `others` are runs the folder holds that are not this sweep's (another sweep's,
    or this one's before a policy, the data or riskengine changed): its datasets
    hold them beside this sweep's, told apart by ``run_id``.
    """

    done: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: dict[str, RunFailure]
    summary: pd.DataFrame
    others: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 if no run failed, else the exit code of the first failure in run order."""
        return next((f.exit_code for f in self.failed.values()), 0)


def run_sweep(
    runs: Sequence[SweepRun],
    market: Market,
    out_dir: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
    share: bool = True,
    progress: Progress | None = None,
) -> SweepReport:
    """Run the runs not yet in `out_dir` on Dask, and summarise all of them.

    Parameters
    ----------
    runs : sequence of SweepRun
        From `plan_sweep`.
    market : Market
        The prices every run reads, read here and shipped to the workers (each
        universe's market once to the workers that need it).
    out_dir : str or Path
        Folder of the ``runs``, ``returns`` and ``failures`` datasets, written by
        this process only (workers need no access to it).
    scheduler : str, optional
        Address of a Dask scheduler; by default a `LocalCluster` is started.
    workers : int, optional
        Workers of the local cluster (default: one per core).
    processes : bool
        Local workers as processes (parallel) or threads (cheap to start).
    share : bool
        Prepare the walk inputs (screen, forecasts, schedule; see
        `riskengine.backtest.walk.prepare_walk`) once per `walk_key` and share them
        between the runs that have it, as one Dask task the runs depend on; False
        prepares them in every run (the same results, for measuring the saving).
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
            with connect(scheduler, workers, processes) as client:
                finished = 0
                for run, outcome in _execute(client, pending, market, share):
                    if isinstance(outcome, RunFailure):
                        failed[run.run_id] = outcome
                        _record_failure(out, run, outcome)
                    else:
                        _write_partitions(out, run.run_id, outcome)
                        done.add(run.run_id)
                        _partition(out, "failures", run.run_id).unlink(missing_ok=True)
                    finished += 1
                    if progress is not None:
                        progress("sweep runs", finished, len(pending))
        summary = _summary(out, [r.run_id for r in runs])
        ours = {r.run_id for r in runs}
        held = sorted(
            p.name.removeprefix("run_id=") for p in (out / "runs").glob("run_id=*")
        )
    in_order = [r.run_id for r in runs]
    return SweepReport(
        tuple(i for i in in_order if i in done),
        skipped,
        {i: failed[i] for i in in_order if i in failed},
        summary,
        tuple(i for i in held if i not in ours),
    )


def _execute(
    client: Client, runs: list[SweepRun], market: Market, share: bool
) -> Iterator[tuple[SweepRun, RunOutput | RunFailure]]:
    """Submit the runs and yield each with its outcome, in the order they finish.

    Each universe's market is a task holding it: unlike scattered data, whose
    copies Dask may drop down to one, the scheduler keeps a task's definition and
    computes it again if the worker holding its result dies. With `share`, each
    `walk_key` gets one task preparing its inputs, which its runs depend on. Tasks
    held by a worker that dies are computed again on another, as are its runs.
    """
    universes = {
        name: universe_market(market, name, assets)
        for name, assets in {r.universe: r.assets for r in runs}.items()
    }
    markets = {
        name: client.submit(_held, data, key=f"market-{name}-{data.fingerprint[:16]}")
        for name, data in universes.items()
    }
    walks: dict[str, Future] = {}
    futures: dict[Future, SweepRun] = {}
    for run in runs:
        walk = None
        if share:
            key = walk_key(run.policy, universes[run.universe], run.start, run.end)
            if key not in walks:
                walks[key] = client.submit(
                    _prepare,
                    run.policy,
                    markets[run.universe],
                    run.start,
                    run.end,
                    key=f"walk-{key[:16]}",
                )
            walk = walks[key]
        futures[
            client.submit(
                _run_one, run, markets[run.universe], walk, key=f"run-{run.run_id}"
            )
        ] = run
    walks.clear()  # each is held by its runs' tasks until they are done
    for future in as_completed(futures):
        try:
            outcome = future.result()
        except Exception as exc:  # the run's workers kept dying: one run, not all
            outcome = _failure(exc)
        yield futures[future], outcome


def universe_market(market: Market, universe: str, assets: Sequence[str]) -> Market:
    """The market of one universe: its assets' prices, named after the universe."""
    return make_market(
        market.prices[list(assets)].dropna(how="all"),
        source=f"{market.source} [{universe}]",
        sleeves=market.asset_table,
        simulated=market.simulated,
    )


def _held(market: Market) -> Market:
    """The market its task was given: data Dask can compute again."""
    return market


def _prepare(
    policy: PolicySpec,
    market: Market,
    start: str | None,
    end: str | None,
) -> WalkInputs | None:
    """The shared walk inputs, or None when they cannot be prepared.

    On None each run prepares its own and reports its own error, naming its policy.
    """
    try:
        return prepare_walk(policy, market, start, end)
    except Exception:  # reported by each run, in its own words
        return None


def _run_one(
    run: SweepRun, market: Market, inputs: WalkInputs | None
) -> RunOutput | RunFailure:
    """Backtest one run on a worker: its summary row and returns, or its failure.

    A failure is a result, not an exception for Dask to log with its traceback.
    """
    try:
        # A sweep compares its runs with each other: no per-run baseline book.
        result = run_backtest(
            run.policy,
            market,
            start=run.start,
            end=run.end,
            baseline=None,
            inputs=inputs,
        )
    except Exception as exc:  # any failure stops this run, not the sweep
        return _failure(exc)
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
    return RunOutput(row, result.returns.rename_axis("date").reset_index())


def _failure(exc: Exception) -> RunFailure:
    """A run's exception as a one-line failure; not ours is an internal error."""
    if isinstance(exc, RiskEngineError):
        return RunFailure(" ".join(str(exc).split()), exc.exit_code)
    detail = " ".join(str(exc).split())
    return RunFailure(f"internal error: {type(exc).__name__}: {detail}", 1)


def _write_partitions(out: Path, run_id: str, output: RunOutput) -> None:
    """A run's two partitions, the returns first: ``runs`` marks it done."""
    _write_atomically(output.returns, _partition(out, "returns", run_id))
    _write_atomically(pd.DataFrame([output.row]), _partition(out, "runs", run_id))


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
