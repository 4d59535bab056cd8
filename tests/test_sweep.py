import gc
import os
import signal
import socket
from pathlib import Path

import pandas as pd
import psutil
import pytest
from distributed import Client

import riskengine.sweep.cluster as cluster_module
import riskengine.sweep.execute as execute_module
from riskengine.api import default_market
from riskengine.backtest import run_backtest
from riskengine.backtest.walk import WALK_FIELDS, prepare_walk
from riskengine.cli import main
from riskengine.errors import ClusterError, SpecError
from riskengine.specs import builtin_names, load_policy
from riskengine.sweep import plan_sweep, run_sweep

SWEEP = """
name = "t"
policies = ["static-60-40", "vol-target-fund"]
start = "2025-01-01"
[grid]
"costs.default_bps" = [0.0, 10.0]
[universes]
all = []
no_crypto = ["SPY", "EEM", "TLT", "HYG", "GLD"]
"""


@pytest.fixture(scope="module")
def market():
    return default_market()


def sweep_file(tmp_path: Path, text: str = SWEEP) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_plan_is_every_policy_grid_point_and_universe(tmp_path: Path, market) -> None:
    sweep = plan_sweep(sweep_file(tmp_path), market)
    assert sweep.name == "t"
    assert len(sweep.runs) == 2 * 2 * 2
    assert len({r.run_id for r in sweep.runs}) == 8
    first = sweep.runs[0]
    assert (first.policy.name, first.universe) == ("static-60-40", "all")
    assert first.policy.costs.default_bps == 0.0
    assert sweep.runs[2].policy.costs.default_bps == 10.0
    # the same file on the same data gives the same ids: that is how runs resume
    assert [r.run_id for r in plan_sweep(sweep_file(tmp_path), market).runs] == [
        r.run_id for r in sweep.runs
    ]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            ('"costs.default_bps"', '"costs.default_bsp"'),
            r"unknown field 'costs\.default_bsp'",
        ),
        (("[0.0, 10.0]", '["cheap"]'), r"costs\.default_bps: expected a number"),
        (
            ('"SPY", "EEM"', '"SPY", "XYZ"'),
            r"universes\.no_crypto: no such asset 'XYZ'",
        ),
        (('name = "t"', 'nmae = "t"'), r"unknown field 'nmae'"),
        (('start = "2025-01-01"', "start = 5"), r"start: expected a date"),
        (('start = "2025-01-01"', 'start = "soon"'), r"start: expected a date"),
        (
            ('policies = ["static-60-40", "vol-target-fund"]', "policies = []"),
            r"policies",
        ),
        (
            ('start = "2025-01-01"', 'start = "2040-01-02"'),
            r"start: 2040-01-02 leaves no day to walk \(the data end on 20\d\d-",
        ),
        (
            ('start = "2025-01-01"', 'end = "1900-01-02"'),
            r"end: 1900-01-02 is before the data begin \((19|20)\d\d-",
        ),
        (
            ('start = "2025-01-01"', 'start = "2025-01-01"\nend = "2024-12-31"'),
            r"start: 2025-01-01 is not before end \(2024-12-31\)",
        ),
    ],
    ids=[
        "field",
        "value",
        "asset",
        "sweep-field",
        "number",
        "text",
        "no-policy",
        "start-after-data",
        "end-before-data",
        "start-after-end",
    ],
)
def test_bad_sweeps_name_the_file_and_field(
    tmp_path: Path, market, change: tuple[str, str], match: str
) -> None:
    path = sweep_file(tmp_path, SWEEP.replace(*change))
    with pytest.raises(SpecError, match=match) as caught:
        plan_sweep(path, market)
    assert str(path) in str(caught.value)


def test_runs_match_direct_backtests_and_resume(tmp_path: Path, market) -> None:
    sweep = plan_sweep(sweep_file(tmp_path), market)
    runs = [r for r in sweep.runs if r.universe == "no_crypto"][:2]
    out = tmp_path / "out"
    report = run_sweep(runs, market, out, workers=1, processes=False)
    assert sorted(report.done) == sorted(r.run_id for r in runs)
    assert report.skipped == ()
    assert report.failed == {}
    dataset = pd.read_parquet(out / "runs")
    assert len(dataset) == 2
    for run in runs:
        direct = run_backtest(run.policy, _sub(market, run.assets), start=run.start)
        row = report.summary.set_index("run_id").loc[run.run_id]
        assert row["sharpe"] == direct.metrics()["sharpe"]
        returns = pd.read_parquet(out / "returns" / f"run_id={run.run_id}")
        pd.testing.assert_series_equal(
            returns.set_index("date")["return"], direct.returns, check_freq=False
        )
    # a second call skips both; a lost partition is the only run redone
    assert run_sweep(runs, market, out, workers=1, processes=False).skipped == tuple(
        r.run_id for r in runs
    )
    (out / "runs" / f"run_id={runs[0].run_id}" / "part-0.parquet").unlink()
    again = run_sweep(runs, market, out, workers=1, processes=False)
    assert again.done == (runs[0].run_id,)
    assert again.skipped == (runs[1].run_id,)


def _sub(market, assets):
    from riskengine.data.prices import make_market

    return make_market(
        market.prices[list(assets)].dropna(how="all"),
        source=market.source,
        sleeves=market.sleeves,
        simulated=market.simulated,
    )


def test_a_failing_run_is_reported_and_the_others_complete(
    tmp_path: Path, market
) -> None:
    # a crypto minimum cannot hold on the universe without crypto
    text = SWEEP.replace(
        '"costs.default_bps" = [0.0, 10.0]',
        '"limits.sleeve_min_weight" = [{crypto = 0.05}]',
    ).replace('"static-60-40", "vol-target-fund"', '"vol-target-fund"')
    sweep = plan_sweep(sweep_file(tmp_path, text), market)
    report = run_sweep(sweep.runs, market, tmp_path / "out", workers=1, processes=False)
    by_universe = {r.universe: r.run_id for r in sweep.runs}
    assert report.done == (by_universe["all"],)
    assert list(report.failed) == [by_universe["no_crypto"]]
    failure = report.failed[by_universe["no_crypto"]]
    assert "limits.sleeve_min_weight.crypto" in failure.message
    assert failure.exit_code == report.exit_code == 6  # InfeasibleError
    assert list(report.summary["run_id"]) == [by_universe["all"]]
    recorded = pd.read_parquet(tmp_path / "out" / "failures")
    assert list(recorded["universe"]) == ["no_crypto"]
    assert list(recorded["exit_code"]) == [6]
    assert "limits.sleeve_min_weight.crypto" in recorded["error"].iloc[0]
    # on the worker a failure is a result, not an exception Dask logs with a traceback
    failing = next(r for r in sweep.runs if r.universe == "no_crypto")
    universe = execute_module.universe_market(market, "no_crypto", failing.assets)
    assert execute_module._run_one(failing, universe, None) == failure


def test_an_unexpected_error_in_one_run_is_recorded_then_cleared(
    tmp_path: Path, market, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [r for r in plan_sweep(sweep_file(tmp_path), market).runs][:2]
    real_backtest = execute_module.run_backtest

    def broken_on_first(policy, universe, **kwargs):
        if universe.source.endswith(f"[{runs[0].universe}]"):
            raise KeyError("a bug")
        return real_backtest(policy, universe, **kwargs)

    monkeypatch.setattr(execute_module, "run_backtest", broken_on_first)
    out = tmp_path / "out"
    report = run_sweep(runs, market, out, workers=1, processes=False)
    assert report.done == (runs[1].run_id,)
    failure = report.failed[runs[0].run_id]
    assert failure.message == "internal error: KeyError: 'a bug'"
    assert failure.exit_code == report.exit_code == 1
    assert (out / "failures" / f"run_id={runs[0].run_id}").is_dir()
    monkeypatch.setattr(execute_module, "run_backtest", real_backtest)
    again = run_sweep(runs, market, out, workers=1, processes=False)
    assert (again.done, again.skipped, again.failed) == (
        (runs[0].run_id,),
        (runs[1].run_id,),
        {},
    )
    assert not list((out / "failures").glob("run_id=*/*.parquet"))


def test_cli_runs_a_sweep_on_worker_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SWEEP.replace('"static-60-40", "vol-target-fund"', '"static-60-40"')
    text = text.replace("[0.0, 10.0]", "[5.0]")
    out = tmp_path / "out"
    argv = ["sweep", str(sweep_file(tmp_path, text)), "--out", str(out)]
    assert main([*argv, "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "SIMULATED DATA" in printed
    assert "2 runs: 2 run now, 0 already done" in printed
    assert len(pd.read_parquet(out / "runs")) == 2
    assert main([*argv, "--workers", "1"]) == 0
    assert "2 runs: 0 run now, 2 already done" in capsys.readouterr().out


def test_a_failed_run_is_said_in_one_line_without_a_worker_traceback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Dask's worker logged the failed task's traceback to the terminal (stderr is
    the processes' file descriptor 2, captured here with theirs)."""
    text = 'name = "t"\npolicies = ["static-60-40"]\n[universes]\ngold = ["GLD"]\n'
    out = tmp_path / "out"
    argv = ["sweep", str(sweep_file(tmp_path, text)), "--out", str(out), "--quiet"]
    assert main([*argv, "--workers", "1"]) == 8  # static-60-40 holds no gold
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("riskengine: run ")
    assert "never invested" in lines[0]
    assert lines[1] == f"riskengine: 1 run failed; see {out / 'failures'}"


def test_a_folder_holding_other_runs_says_so(tmp_path: Path, market) -> None:
    """A sweep resumed after its policy (or riskengine) changed gets new run ids:
    its folder's datasets hold both, and the report names the others."""
    first = plan_sweep(sweep_file(tmp_path), market).runs[:1]
    out = tmp_path / "out"
    assert run_sweep(first, market, out, workers=1, processes=False).others == ()
    edited = SWEEP.replace("[0.0, 10.0]", "[5.0]")
    again = plan_sweep(sweep_file(tmp_path, edited), market).runs[:1]
    report = run_sweep(again, market, out, workers=1, processes=False)
    assert report.done == (again[0].run_id,)
    assert report.others == (first[0].run_id,)
    assert list(report.summary["run_id"]) == [again[0].run_id]


def test_runs_on_an_existing_scheduler(tmp_path: Path, market) -> None:
    from distributed import LocalCluster

    runs = plan_sweep(sweep_file(tmp_path), market).runs[:1]
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        report = run_sweep(
            runs, market, tmp_path / "out", scheduler=cluster.scheduler_address
        )
    assert report.done == (runs[0].run_id,)


def test_a_taken_dashboard_port_does_not_stop_a_sweep(tmp_path: Path, market) -> None:
    # Dask's dashboard port (8787) is often held by a user's own cluster
    runs = plan_sweep(sweep_file(tmp_path), market).runs[:1]
    blocker = socket.socket()
    try:
        blocker.bind(("0.0.0.0", 8787))
        blocker.listen()
    except OSError:
        pass  # already taken by something else: the same situation
    try:
        report = run_sweep(runs, market, tmp_path / "out", processes=False)
    finally:
        blocker.close()
    assert report.done == (runs[0].run_id,)


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_the_local_cluster_listens_on_localhost_only(processes: bool) -> None:
    # scheduler, workers and dashboards: never on an external interface
    this = psutil.Process()

    def listening() -> set[tuple[str, int]]:
        return {
            (c.laddr.ip, c.laddr.port)
            for p in [this, *this.children(recursive=True)]
            for c in p.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN
        }

    before = listening()
    with cluster_module.connect(None, 1, processes):
        opened = listening() - before
    assert len(opened) >= 2  # the scheduler's and the worker's HTTP servers at least
    assert {ip for ip, _ in opened} == {"127.0.0.1"}


def test_an_unreachable_scheduler_is_a_cluster_error(tmp_path: Path, market) -> None:
    runs = plan_sweep(sweep_file(tmp_path), market).runs[:1]
    with pytest.raises(ClusterError, match=r"--scheduler nonsense://x: cannot"):
        run_sweep(runs, market, tmp_path / "out", scheduler="nonsense://x")


def test_a_client_that_failed_to_connect_is_finalised_at_once(
    tmp_path: Path, market
) -> None:
    # left to the garbage collector, its finaliser deadlocked a later cluster's
    # start (distributed's class-wide loop-runner lock): none may be left behind
    runs = plan_sweep(sweep_file(tmp_path), market).runs[:1]

    def clients() -> int:
        return sum(isinstance(o, Client) for o in gc.get_objects())

    gc.collect()
    before = clients()
    gc.disable()  # only the explicit collection may finalise it
    try:
        with pytest.raises(ClusterError):
            run_sweep(runs, market, tmp_path / "out", scheduler="tcp://127.0.0.1:9")
        assert clients() == before
    finally:
        gc.enable()


def test_a_missing_sweep_file_is_named(tmp_path: Path, market) -> None:
    with pytest.raises(SpecError, match=r"none\.toml: no such file"):
        plan_sweep(tmp_path / "none.toml", market)


class _Reads:
    """A policy logging the fields read of it (of rebalance and each trigger, each)."""

    def __init__(self, spec: object, log: set[str], prefix: str = "") -> None:
        self._spec, self._log, self._prefix = spec, log, prefix

    def __getattr__(self, name: str) -> object:
        value = getattr(self._spec, name)
        if not self._prefix and name == "rebalance":
            return _Reads(value, self._log, "rebalance.")
        if not self._prefix and name == "triggers":
            return tuple(_Reads(t, self._log, "triggers.") for t in value)
        self._log.add(self._prefix + name)
        return value


@pytest.mark.parametrize("name", builtin_names("policies"))
def test_the_walk_key_covers_every_policy_field_prepare_walk_reads(
    market, name: str
) -> None:
    # derived from the code: run prepare_walk on a policy that logs what is read
    policy, read = load_policy(name), set()
    start = "2026-06-01"
    logged = prepare_walk(_Reads(policy, read), market, start, None)  # type: ignore[arg-type]
    names = {"name", "triggers.name"}  # they only label errors (a sweep's runs
    assert read - names <= set(WALK_FIELDS)  # then prepare their own inputs)
    direct = prepare_walk(policy, market, start, None)
    assert logged.key == direct.key
    pd.testing.assert_frame_equal(logged.volatility, direct.volatility)


GRID_SWEEP = """
name = "shared"
policies = ["safe-haven-risk-off", "safe-haven-risk-off-garch"]
start = "2026-01-01"
[grid]
"target.target_vol_annual" = [0.08, 0.12]
"triggers.0.enter_above" = [2.0, 3.0]
[universes]
all = []
no_crypto = ["GLD", "SLV", "SPY", "EEM", "TLT", "HYG"]
"""


def test_shared_walk_inputs_give_the_runs_of_separate_backtests_bit_for_bit(
    tmp_path: Path, market, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = plan_sweep(sweep_file(tmp_path, GRID_SWEEP), market).runs
    assert len(runs) == 16
    prepared = []
    real_prepare = execute_module.prepare_walk

    def counted(policy, universe, start, end):
        prepared.append((policy.name, universe.source))
        return real_prepare(policy, universe, start, end)

    monkeypatch.setattr(execute_module, "prepare_walk", counted)
    shared = run_sweep(runs, market, tmp_path / "shared", workers=1, processes=False)
    # one preparation per model and universe: 4, where 16 runs would prepare 16
    assert len(prepared) == 4
    alone = run_sweep(
        runs, market, tmp_path / "alone", workers=1, processes=False, share=False
    )
    assert len(shared.done) == len(alone.done) == 16
    pd.testing.assert_frame_equal(shared.summary, alone.summary, check_exact=True)
    for run in runs:
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "shared" / "returns" / f"run_id={run.run_id}"),
            pd.read_parquet(tmp_path / "alone" / "returns" / f"run_id={run.run_id}"),
            check_exact=True,
        )
    # and those of run_backtest itself, for one run of each model
    for run in (runs[0], runs[-1]):
        universe = execute_module.universe_market(market, run.universe, run.assets)
        direct = run_backtest(run.policy, universe, start=run.start, baseline=None)
        returns = pd.read_parquet(
            tmp_path / "shared" / "returns" / f"run_id={run.run_id}"
        )
        assert returns["return"].tolist() == direct.returns.tolist()


def test_inputs_of_another_walk_are_refused(market) -> None:
    policy = load_policy("safe-haven-risk-off")
    inputs = prepare_walk(policy, market, "2026-06-01", None)
    other = load_policy("safe-haven-risk-off", {"triggers.0.lookback_days": 126})
    same = load_policy("safe-haven-risk-off", {"triggers.0.enter_above": 3.0})
    assert run_backtest(same, market, start="2026-06-01", inputs=inputs).returns.size
    with pytest.raises(ValueError, match=r"prepared for another walk"):
        run_backtest(other, market, start="2026-06-01", inputs=inputs)
    with pytest.raises(ValueError, match=r"prepared for another walk"):
        run_backtest(policy, market, start="2026-05-01", inputs=inputs)


CLUSTER_SWEEP = """
name = "cluster"
policies = ["risk-parity-fund"]
start = "2026-03-01"
[grid]
"target.target_vol_annual" = [0.06, 0.08, 0.10, 0.12, 0.14]
[universes]
all = []
no_crypto = ["GLD", "SLV", "SPY", "EEM", "TLT", "HYG"]
"""


def _one_partition_per_run(out: Path, runs) -> None:
    for dataset in ("runs", "returns"):
        files = sorted((out / dataset).rglob("*.parquet"))
        assert sorted(f.parent.name for f in files) == sorted(
            f"run_id={r.run_id}" for r in runs
        )
    assert not list(out.rglob("*.riskengine-tmp"))


@pytest.fixture(scope="module")
def process_cluster():
    """Two single-threaded worker processes, as `riskengine sweep` starts them."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield cluster


def test_a_worker_killed_mid_sweep_leaves_one_result_per_run(
    tmp_path: Path, market, process_cluster
) -> None:
    from distributed import Client

    runs = plan_sweep(sweep_file(tmp_path, CLUSTER_SWEEP), market).runs
    out, killed = tmp_path / "out", []
    with Client(process_cluster) as client:
        pids = client.run(os.getpid)

    def kill_a_busy_worker(label: str, finished: int, total: int) -> None:
        # SIGKILL, as the kernel's OOM killer would, a worker running a task
        workers = process_cluster.scheduler.workers
        busy = [a for a, w in workers.items() if w.processing and a in pids]
        if not killed and busy:
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(busy[0])

    report = run_sweep(
        runs,
        market,
        out,
        scheduler=process_cluster.scheduler_address,
        progress=kill_a_busy_worker,
    )
    assert killed  # a worker died with a task running
    assert report.failed == {}
    assert sorted(report.done) == sorted(r.run_id for r in runs)
    _one_partition_per_run(out, runs)


def test_an_interrupted_sweep_resumes_without_redoing_finished_runs(
    tmp_path: Path, market, process_cluster
) -> None:
    runs = plan_sweep(sweep_file(tmp_path, CLUSTER_SWEEP), market).runs
    out, address = tmp_path / "out", process_cluster.scheduler_address

    def interrupt_after_three(label: str, finished: int, total: int) -> None:
        if finished == 3:
            raise KeyboardInterrupt  # Ctrl-C in the client, runs still in flight

    with pytest.raises(KeyboardInterrupt):
        run_sweep(runs, market, out, scheduler=address, progress=interrupt_after_three)
    finished = {p.name.removeprefix("run_id=") for p in (out / "runs").iterdir()}
    assert len(finished) == 3
    again = run_sweep(runs, market, out, scheduler=address)
    assert set(again.skipped) == finished
    assert set(again.done) == {r.run_id for r in runs} - finished
    _one_partition_per_run(out, runs)


def test_workers_with_another_riskengine_are_refused(
    tmp_path: Path, market, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = plan_sweep(sweep_file(tmp_path), market).runs[:1]
    real = cluster_module.package_version
    monkeypatch.setattr(
        cluster_module,
        "package_version",
        lambda name: "0.0.1" if name == "riskengine" else real(name),
    )
    with pytest.raises(
        ClusterError,
        match=r"local Dask cluster: worker \S+ has riskengine \S+, this machine 0\.0\.1",
    ):
        run_sweep(runs, market, tmp_path / "out", workers=1, processes=False)


def test_a_walk_on_shared_inputs_reads_the_correlations_an_earlier_one_computed(
    market, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nor does its model take the days' returns: it never has to compute a matrix
    from riskengine.covariance import EwmaCorrelation

    policy, start = load_policy("risk-parity-fund"), "2026-01-01"
    inputs = prepare_walk(policy, market, start, None)
    run_backtest(policy, market, start=start, baseline=None, inputs=inputs)
    assert inputs.correlations[policy.covariance].matrices
    computed, updated = [], []
    real_matrix, real_update = EwmaCorrelation.matrix, EwmaCorrelation.update

    def counted(self, assets=None):
        computed.append(1)
        return real_matrix(self, assets)

    def counted_update(self, returns):
        updated.append(1)
        real_update(self, returns)

    monkeypatch.setattr(EwmaCorrelation, "matrix", counted)
    monkeypatch.setattr(EwmaCorrelation, "update", counted_update)
    other = load_policy("risk-parity-fund", {"target.target_vol_annual": 0.06})
    shared = run_backtest(other, market, start=start, baseline=None, inputs=inputs)
    assert computed == updated == []  # every decision's matrix was read
    alone = run_backtest(other, market, start=start, baseline=None)
    assert computed  # the same walk on its own inputs computes them
    assert updated
    assert shared.returns.tolist() == alone.returns.tolist()
    assert shared.weights.equals(alone.weights)
