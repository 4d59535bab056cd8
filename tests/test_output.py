"""Output safety: riskengine writes only where it may, swaps atomically, fails cleanly."""

import csv
import dataclasses
import errno
import fcntl
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskengine.api
import riskengine.output._fs
import riskengine.results.report
import riskengine.sweep
from riskengine import backtest
from riskengine.allocate import write_json
from riskengine.api import default_market
from riskengine.cli import main
from riskengine.errors import OutputError
from riskengine.output import csv_safe, dumps, slug
from riskengine.results.report import RESULT_FILES, write_results
from riskengine.scenarios import calibration, write_calibration
from riskengine.sweep import run_sweep

REPO_ROOT = Path(__file__).resolve().parents[1]
RECENT = ["--from", "2026-06-01"]  # a short backtest on the simulated default
WRITER = """
import pickle, sys, time
from pathlib import Path
import riskengine.results.report as report
result = pickle.loads(Path(sys.argv[1]).read_bytes())
Path(sys.argv[3]).write_text("started")
def page(_):
    if sys.argv[4] == "hang":
        Path(sys.argv[3]).write_text("writing")
        time.sleep(600)
    return "<html></html>"
report.render_html = page  # the page is not what these tests are about
report.write_results(result, sys.argv[2])
"""


@pytest.fixture(scope="module")
def result():
    return backtest("static-60-40", start="2026-06-01")


@pytest.fixture(autouse=True)
def plain_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-line report page: rendering charts is not what these tests are about."""
    monkeypatch.setattr(
        riskengine.results.report, "render_html", lambda _: "<html></html>"
    )


@pytest.fixture
def fast_cli(monkeypatch: pytest.MonkeyPatch, result) -> None:
    """The CLI's backtest returns the module's result: these tests are about output."""
    monkeypatch.setattr(riskengine.api, "backtest", lambda *_, **__: result)


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under `root`: file bytes, link targets, folder markers."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[key] = "dir"
        elif path.is_file():
            found[key] = path.read_bytes()
        else:
            found[key] = f"mode {path.lstat().st_mode:o}"
    return found


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and stderr of a CLI call; an error is exactly one line."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    if code:
        assert len(err.splitlines()) == 1, err
    return code, err


def versions(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir() if p.name.startswith("v-"))


# --- never a user's files ----------------------------------------------------------


def test_out_at_a_users_folder_is_refused_and_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "thesis.docx").write_bytes(b"four years of work")
    before = snapshot(tmp_path)
    code, err = cli(["backtest", *RECENT, "--out", str(folder)], capsys)
    assert code == OutputError.exit_code == 7
    assert (
        f"{folder}: is a folder riskengine did not make (it holds thesis.docx)" in err
    )
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["../x", "ABSOLUTE", "..", "/", ".x", "a/../../x"])
def test_a_policy_name_never_becomes_a_path_outside_results(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    victim = tmp_path / "x"
    victim.mkdir()
    (victim / "notes.txt").write_text("mine")
    name = str(victim) if name == "ABSOLUTE" else name
    text = (REPO_ROOT / "policies" / "static-60-40.toml").read_text()
    policy = tmp_path / "evil.toml"
    policy.write_text(text.replace('name = "static-60-40"', f"name = {name!r}"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = snapshot(victim)
    assert main(["backtest", "--policy", str(policy), *RECENT, "--json"]) == 0
    assert snapshot(victim) == before
    written = json.loads(capsys.readouterr().out)["results"]
    assert Path(written).parent == Path("results")
    assert (work / written / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.toml", "work", "x"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("vol-target-fund", "vol-target-fund"),
        ("../victim", "victim"),
        ("/etc/passwd", "etc-passwd"),
        ("a\0b", "a-b"),
        (".hidden", "hidden"),
        ("..", "unnamed"),
        ("fonds de pension été", "fonds-de-pension-t"),
        ("C:\\Users\\x", "C-Users-x"),
    ],
)
def test_slug_is_one_safe_path_component(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_out_at_an_existing_file_is_refused_and_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "existing.txt"
    existing.write_text("a user's file")
    before = snapshot(tmp_path)
    code, err = cli(["backtest", *RECENT, "--out", str(existing)], capsys)
    assert code == 7
    assert f"{existing}: is a file, not a results folder" in err
    assert snapshot(tmp_path) == before  # never moved to a hidden .existing.txt.old


@pytest.mark.parametrize("kind", ["fifo", "socket", "link-to-folder", "link-to-file"])
@pytest.mark.parametrize("command", ["backtest", "allocate"])
def test_out_at_anything_else_is_refused_and_untouched(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fast_cli: None,
    kind: str,
    command: str,
) -> None:
    users = tmp_path / "users"
    users.mkdir()
    (users / "data.csv").write_text("1,2\n")
    out = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(out))
    elif kind == "link-to-folder":
        out.symlink_to(users)
    else:
        out.symlink_to(users / "data.csv")
    before = snapshot(tmp_path)
    code, err = cli([command, "--out", str(out)], capsys)
    assert code == 7
    expected = {"fifo": "a named pipe", "socket": "a socket"}.get(kind, "symbolic link")
    assert f"{out}: is" in err
    assert expected in err
    assert snapshot(tmp_path) == before
    if kind == "socket":
        server.close()


@pytest.mark.parametrize("out", [".", "..", "sub/..", "/"])
@pytest.mark.parametrize("command", ["backtest", "allocate"])
def test_out_dot_is_a_clear_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fast_cli: None,
    out: str,
    command: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    before = snapshot(tmp_path)
    code, err = cli([command, "--out", out], capsys)
    assert code == 7
    assert f"{out}: --out must name a folder or file of its own" in err
    assert snapshot(tmp_path) == before


def test_out_the_current_folder_by_its_name_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fast_cli: None,
) -> None:
    here = tmp_path / "empty"
    here.mkdir()
    monkeypatch.chdir(here)
    code, err = cli(["backtest", "--out", str(here)], capsys)
    assert code == 7
    assert "is the current folder or one above it" in err
    assert here.is_dir()
    assert not here.is_symlink()


def test_a_users_folder_at_the_stores_name_is_refused(tmp_path: Path, result) -> None:
    store = tmp_path / ".run.riskengine"
    store.mkdir()
    (store / "mine.txt").write_text("x")
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match=r"riskengine's store for .*run.*mine\.txt"):
        write_results(result, tmp_path / "run")
    assert snapshot(tmp_path) == before


# --- riskengine's own outputs are replaced, atomically --------------------------------


def test_rerun_replaces_the_previous_result_in_one_rename(
    tmp_path: Path, result
) -> None:
    out = tmp_path / "run"
    write_results(result, out)
    first = os.readlink(out)
    (out / "stray.txt").write_text("from an older run")
    write_results(result, out)
    assert os.readlink(out) != first
    assert sorted(p.name for p in out.iterdir()) == sorted(RESULT_FILES)
    store = tmp_path / ".run.riskengine"
    assert versions(store) == [os.readlink(out).partition("/")[2]]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["policy"]["name"] == "static-60-40"


def test_an_empty_folder_is_adopted(tmp_path: Path, result) -> None:
    out = tmp_path / "run"
    out.mkdir()
    write_results(result, out)
    assert out.is_symlink()
    assert (out / "report.html").is_file()


def test_an_older_riskengines_results_folder_moves_into_the_store(
    tmp_path: Path, result
) -> None:
    write_results(result, tmp_path / "a")
    legacy = tmp_path / "legacy"
    shutil.copytree((tmp_path / "a").resolve(), legacy)
    write_results(result, legacy)
    assert legacy.is_symlink()
    assert versions(tmp_path / ".legacy.riskengine") == [
        os.readlink(legacy).partition("/")[2]
    ]
    # the same folder with a user's note in it is the user's
    other = tmp_path / "other"
    shutil.copytree((tmp_path / "a").resolve(), other)
    (other / "notes.txt").write_text("mine")
    before = snapshot(other)
    with pytest.raises(OutputError, match=r"other: is a folder riskengine did not"):
        write_results(result, other)
    assert snapshot(other) == before


def test_a_path_inside_the_store_is_refused(tmp_path: Path, result) -> None:
    out = tmp_path / "run"
    write_results(result, out)
    version = out.resolve()
    with pytest.raises(
        OutputError, match=r"inside riskengine's store.*use --out .*run"
    ):
        write_results(result, version)
    assert os.readlink(out).endswith(version.name)


# --- faults: kills, OS errors, concurrent runs --------------------------------------


def spawn_writer(
    tmp_path: Path, result, out: Path, tag: str, mode: str
) -> tuple[subprocess.Popen[bytes], Path]:
    pickled = tmp_path / "result.pkl"
    if not pickled.exists():
        pickled.write_bytes(pickle.dumps(result))
    signal_file = tmp_path / f"{tag}.state"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(pickled), str(out), str(signal_file), mode],
        env=env,
        stderr=subprocess.PIPE,
    )
    return process, signal_file


def wait_for(condition, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the writer ended early: {process.communicate()[1].decode()}")
        assert time.monotonic() < deadline, "the writer never got there"
        time.sleep(0.05)


def test_a_run_killed_while_writing_leaves_the_previous_result(
    tmp_path: Path, result
) -> None:
    out = tmp_path / "run"
    write_results(result, out)
    before = snapshot(out.resolve())
    link = os.readlink(out)
    process, state = spawn_writer(tmp_path, result, out, "victim", "hang")
    wait_for(lambda: state.exists() and state.read_text() == "writing", process)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    store = tmp_path / ".run.riskengine"
    assert os.readlink(out) == link
    assert snapshot(out.resolve()) == before
    stale = [v for v in versions(store) if v != link.partition("/")[2]]
    assert len(stale) == 1  # the killed run's half-written version
    assert "report.html" not in os.listdir(store / stale[0])
    write_results(result, out)  # the next run cleans it
    assert versions(store) == [os.readlink(out).partition("/")[2]]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_an_os_error_midway_is_one_line_and_keeps_the_previous_result(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fast_cli: None,
    result,
    code: int,
) -> None:
    out = tmp_path / "run"
    write_results(result, out)
    before = snapshot(tmp_path)

    def fail(_: object) -> str:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(riskengine.results.report, "render_html", fail)
    exit_code, err = cli(["backtest", "--out", str(out)], capsys)
    assert exit_code == 7
    assert f"{out}: cannot write the results: {os.strerror(code)}" in err
    assert "nothing was replaced" in err
    assert snapshot(tmp_path) == before


def test_a_read_only_parent_is_one_line_with_the_output_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fast_cli: None
) -> None:
    parent = tmp_path / "read-only"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("running as root: chmod cannot make a folder read-only")
        code, err = cli(["backtest", "--out", str(parent / "run")], capsys)
        assert code == 7
        assert "Permission denied" in err
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


def test_two_runs_at_once_are_serialised_and_both_complete(
    tmp_path: Path, result
) -> None:
    out = tmp_path / "run"
    write_results(result, out)
    store = tmp_path / ".run.riskengine"
    holder = os.open(store / "lock", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a third writer holds it: both must wait
    try:
        runs = [spawn_writer(tmp_path, result, out, f"w{i}", "plain") for i in (1, 2)]
        for process, state in runs:
            wait_for(state.exists, process)
    finally:
        os.close(holder)
    for process, _ in runs:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
    assert sorted(p.name for p in out.iterdir()) == sorted(RESULT_FILES)
    assert json.loads((out / "manifest.json").read_text())["manifest_version"] == 1
    assert versions(store) == [os.readlink(out).partition("/")[2]]
    hidden = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert hidden == [".run.riskengine"]


def test_a_run_is_refused_when_another_holds_the_output_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, result
) -> None:
    out = tmp_path / "run"
    write_results(result, out)
    before = snapshot(tmp_path)
    holder = os.open(tmp_path / ".run.riskengine" / "lock", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    os.ftruncate(holder, 0)
    os.pwrite(holder, b"4242\n", 0)  # as a writer does
    monkeypatch.setattr(riskengine.output._fs, "WAIT_SECONDS", 0.2)
    try:
        with pytest.raises(
            OutputError, match=r"run: another riskengine process \(pid 4242\) is"
        ):
            write_results(result, out)
        assert snapshot(tmp_path) == {**before, ".run.riskengine/lock": b"4242\n"}
    finally:
        os.close(holder)


# --- single files and datasets folders ----------------------------------------------


def test_allocate_out_replaces_only_its_own_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "alloc"
    folder.mkdir()
    code, err = cli(["allocate", "--out", str(folder)], capsys)
    assert code == 7
    assert "is a folder, not a riskengine allocation file" in err
    today = tmp_path / "today.json"
    write_json({"schema": "riskengine.allocation/1", "cash": float("nan")}, today)
    assert json.loads(today.read_text(), parse_constant=_reject) == {
        "schema": "riskengine.allocation/1",
        "cash": None,
    }
    write_json({"schema": "riskengine.allocation/1", "cash": 0.5}, today)
    assert json.loads(today.read_text())["cash"] == 0.5
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": 1}')
    with pytest.raises(OutputError, match=r"notes\.json: is a file riskengine did not"):
        write_json({"schema": "riskengine.allocation/1"}, notes)
    assert notes.read_text() == '{"mine": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "alloc",
        "notes.json",
        "today.json",
    ]


def test_a_dead_writers_temporary_is_cleaned_and_a_live_ones_kept(
    tmp_path: Path,
) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead = tmp_path / f".today.json.{finished.pid}-0badc0de.riskengine-tmp"
    live = tmp_path / f".today.json.{os.getpid()}-0badc0de.riskengine-tmp"
    dead.write_text("{")
    live.write_text("{")
    write_json({"schema": "riskengine.allocation/1"}, tmp_path / "today.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "today.json"]


def test_calibration_refuses_a_users_file_before_calibrating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv_file = tmp_path / "prices.csv"
    pd.DataFrame({"date": ["2026-01-02"], "SPY": [1.0]}).to_csv(csv_file, index=False)
    mine = tmp_path / "params.json"
    mine.write_text('{"description": "my own parameters"}')

    def never(*_: object, **__: object) -> dict:
        raise AssertionError("calibrated although the output was refused")

    monkeypatch.setattr(calibration, "calibrate", never)
    with pytest.raises(OutputError, match=r"params\.json: is a file riskengine did"):
        write_calibration(csv_file, mine)
    assert mine.read_text() == '{"description": "my own parameters"}'
    params = {
        "description": "parameters of riskengine's simulated default market",
        "rho": [[1.0, float("nan")]],
    }
    monkeypatch.setattr(calibration, "calibrate", lambda *_, **__: params)
    ours = tmp_path / "ours.json"
    write_calibration(csv_file, ours)
    write_calibration(csv_file, ours)  # its own file is replaced
    assert json.loads(ours.read_text(), parse_constant=_reject)["rho"] == [[1.0, None]]


@pytest.fixture(scope="module")
def market():
    return default_market()


def test_a_sweep_folder_is_claimed_cleaned_and_held(tmp_path: Path, market) -> None:
    users = tmp_path / "users"
    users.mkdir()
    (users / "thesis.docx").write_text("x")
    with pytest.raises(OutputError, match=r"users: is a folder riskengine did not"):
        run_sweep([], market, users)
    assert sorted(p.name for p in users.iterdir()) == ["thesis.docx"]
    # a sweep folder of an older riskengine (its datasets only) is adopted
    out = tmp_path / "sweep"
    partition = out / "runs" / "run_id=abc"
    partition.mkdir(parents=True)
    (partition / "part-0.parquet").write_bytes(b"kept")
    left = partition / f".part-0.parquet.{os.getpid()}-0badc0de.riskengine-tmp"
    left.write_bytes(b"half")
    run_sweep([], market, out)
    assert sorted(p.name for p in partition.iterdir()) == ["part-0.parquet"]
    assert (out / ".riskengine-sweep").is_file()
    holder = os.open(out / ".riskengine-lock", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(OutputError, match=r"sweep: another riskengine process"):
            run_sweep([], market, out)
    finally:
        os.close(holder)


def test_cli_sweep_default_out_uses_a_slug_of_the_sweep_name(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "victim").mkdir()
    sweep = tmp_path / "s.toml"
    sweep.write_text('name = "../../victim"\npolicies = ["static-60-40"]\n')
    monkeypatch.setattr(riskengine.sweep, "run_sweep", _fake_sweep)
    assert main(["sweep", str(sweep)]) == 0
    assert "results/sweeps/victim/runs" in capsys.readouterr().out
    assert list((tmp_path / "victim").iterdir()) == []


def _fake_sweep(runs, market, out, **_):
    from riskengine.sweep import SweepReport

    return SweepReport((), (), {}, pd.DataFrame())


# --- strict JSON and spreadsheet-safe CSV ---------------------------------------------


def _reject(constant: str) -> None:
    raise ValueError(f"bare {constant} in JSON")


def test_json_is_strict_everywhere() -> None:
    text = dumps(
        {"nan": float("nan"), "inf": [np.float64("inf"), -np.inf], "n": np.int64(3)}
    )
    assert json.loads(text, parse_constant=_reject) == {
        "nan": None,
        "inf": [None, None],
        "n": 3,
    }


def test_manifest_and_events_are_strict_and_formula_safe(
    tmp_path: Path, result
) -> None:
    hostile = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-06-02"] * 6),
            "kind": ["asset_added"] * 6,
            "subject": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "SPY"],
            "message": ["=cmd|' /C calc'!A0", "ok", "ok", "ok", "\rx", "-5% drawdown"],
            "details": [{"value": float("nan")}] * 6,
        }
    )
    out = write_results(dataclasses.replace(result, events=hostile), tmp_path / "run")
    json.loads((out / "manifest.json").read_text(), parse_constant=_reject)
    with (out / "events.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["subject"] for r in rows] == [
        '\'=HYPERLINK("x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "SPY",
    ]
    assert rows[0]["message"] == "'=cmd|' /C calc'!A0"
    assert rows[4]["message"] == "'\rx"
    assert rows[5]["message"] == "'-5% drawdown"
    assert json.loads(rows[0]["details"], parse_constant=_reject) == {"value": None}


def test_csv_safe_escapes_text_cells_only() -> None:
    frame = pd.DataFrame(
        {"number": [-1.5, 2.0], "text": ["=1+1", "plain"], "mixed": [-3, "-3"]}
    )
    safe = csv_safe(frame)
    assert safe["number"].tolist() == [-1.5, 2.0]
    assert safe["text"].tolist() == ["'=1+1", "plain"]
    assert safe["mixed"].tolist() == [-3, "'-3"]
    assert frame["text"].tolist() == ["=1+1", "plain"]  # the input is not mutated
