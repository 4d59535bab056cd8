import io
import os
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from riskengine.api import default_market
from riskengine.backtest import run_backtest
from riskengine.cli import main
from riskengine.progress import TerminalProgress, progress_bars
from riskengine.specs import load_model, load_policy
from riskengine.sweep import plan_sweep, run_sweep

START = "2025-06-01"
GARCH_RUN = ["backtest", "--policy", "var-limited-desk", "--from", START]


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal (and states no size, as under `script`)."""

    def isatty(self) -> bool:
        return True


class Recorder:
    """A `Progress` that keeps every call, by label."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def __call__(self, label: str, done: int, total: int) -> None:
        self.calls[label].append((done, total))


@pytest.fixture(scope="module")
def market():
    return default_market()


def counted_once_each(calls: list[tuple[int, int]]) -> bool:
    total = calls[0][1]
    return total > 0 and calls == [(done, total) for done in range(1, total + 1)]


def test_a_backtest_reports_each_refit_and_decision_and_is_unchanged(market) -> None:
    policy = load_policy("var-limited-desk")
    recorder = Recorder()
    watched = run_backtest(policy, market, start=START, progress=recorder)
    alone = run_backtest(policy, market, start=START)
    assert set(recorder.calls) == {"garch11-t fits", "var-limited-desk decisions"}
    assert all(counted_once_each(calls) for calls in recorder.calls.values())
    decided = recorder.calls["var-limited-desk decisions"][-1][1]
    assert decided <= len(watched.decisions)
    pd.testing.assert_frame_equal(watched.weights, alone.weights)
    pd.testing.assert_series_equal(watched.returns, alone.returns)
    assert watched.baseline is not None
    assert alone.baseline is not None
    pd.testing.assert_series_equal(watched.baseline.returns, alone.baseline.returns)


def test_an_interrupt_during_the_refits_stops_every_thread(market) -> None:
    from riskengine.volatility import forecast_variance

    made: list[int] = []

    def interrupt(label: str, done: int, total: int) -> None:
        made.append(total)
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        forecast_variance(market.returns, load_model("garch11-t"), progress=interrupt)
    # hundreds of refits planned; each other thread makes at most the one under way
    assert made[0] > 100
    assert len(made) <= 3 + 2 * (os.cpu_count() or 1)


def test_a_sweep_reports_each_run(tmp_path: Path, market) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(
        'name = "t"\npolicies = ["static-60-40"]\nstart = "2026-01-01"\n'
        '[grid]\n"costs.default_bps" = [0.0, 10.0]\n'
    )
    runs = plan_sweep(path, market).runs
    recorder = Recorder()
    run_sweep(
        runs, market, tmp_path / "out", workers=1, processes=False, progress=recorder
    )
    assert recorder.calls == {"sweep runs": [(1, 2), (2, 2)]}


def test_bars_only_on_a_terminal_and_not_when_quiet() -> None:
    with progress_bars(False, io.StringIO(), FakeTerminal()) as progress:
        assert progress is None  # stderr piped
    with progress_bars(False, FakeTerminal(), io.StringIO()) as progress:
        assert progress is None  # stdout piped (`| head`, a cron job)
    with progress_bars(True, FakeTerminal(), FakeTerminal()) as progress:
        assert progress is None
    terminal = FakeTerminal()
    with progress_bars(False, terminal, FakeTerminal()) as progress:
        assert isinstance(progress, TerminalProgress)
        progress("egarch fits", 1, 4)
        assert "egarch fits:   0%|" in terminal.getvalue()
        assert "| 0/4 [" in terminal.getvalue()
    # left open (an interrupted run): the bar is cleared on the way out
    assert terminal.getvalue().endswith("\r")


def test_the_cli_draws_bars_on_a_terminal_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main([*GARCH_RUN, "--out", str(tmp_path / "piped")]) == 0
    piped = capsys.readouterr()
    assert piped.err == ""  # stdout and stderr are not terminals: no bars

    terminal, screen = FakeTerminal(), FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr("sys.stdout", screen)
    assert main([*GARCH_RUN, "--out", str(tmp_path / "tty")]) == 0
    drawn = terminal.getvalue()
    assert "\rgarch11-t fits:   0%|" in drawn
    assert "\rvar-limited-desk decisions:   0%|" in drawn
    assert drawn.endswith("\r")  # each bar cleared when done
    assert screen.getvalue().replace("tty", "piped") == piped.out  # the same summary

    quiet = FakeTerminal()
    monkeypatch.setattr("sys.stderr", quiet)
    assert main([*GARCH_RUN, "--quiet", "--out", str(tmp_path / "quiet")]) == 0
    assert quiet.getvalue() == ""
    redirected = FakeTerminal()
    monkeypatch.setattr("sys.stderr", redirected)
    monkeypatch.setattr("sys.stdout", io.StringIO())  # `riskengine ... > file`
    assert main([*GARCH_RUN, "--out", str(tmp_path / "redirected")]) == 0
    assert redirected.getvalue() == ""
    for name in ("tty", "quiet", "redirected"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / name / "daily.parquet"),
            pd.read_parquet(tmp_path / "piped" / "daily.parquet"),
        )
