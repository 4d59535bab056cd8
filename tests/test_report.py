import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import riskengine.results.report
from riskengine import backtest, default_market, load_policy, run_backtest
from riskengine.cli import format_comparison, format_summary
from riskengine.compare import compare
from riskengine.results.html_report import render_html
from riskengine.results.report import write_results


@pytest.fixture(scope="module")
def result():
    return backtest("static-60-40")


def test_rewrite_replaces_the_folder_whole(tmp_path: Path, result) -> None:
    out = tmp_path / "run"
    write_results(result, out)
    (out / "stray.txt").write_text("from an older run")
    write_results(result, out)
    assert not (out / "stray.txt").exists()
    assert (
        json.loads((out / "manifest.json").read_text())["policy"]["name"]
        == "static-60-40"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.riskengine", "run"]


def test_failure_midway_leaves_the_previous_results(
    tmp_path: Path, result, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    write_results(result, out)
    before = (out / "manifest.json").read_bytes()

    def broken(_: object) -> dict:
        raise OSError("disk full")

    monkeypatch.setattr(riskengine.results.report, "manifest", broken)
    with pytest.raises(OSError, match="disk full"):
        write_results(result, out)
    assert (out / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.riskengine", "run"]


def test_manifest_records_provenance(tmp_path: Path, result) -> None:
    manifest = json.loads(
        (write_results(result, tmp_path / "m") / "manifest.json").read_text()
    )
    assert set(manifest["versions"]) >= {"python", "numpy", "pandas", "arch", "cvxpy"}
    assert manifest["policy"]["target"]["sleeve_weights"] == {
        "dm_equity": 0.6,
        "rates": 0.4,
    }
    assert manifest["data"]["simulated"] is True
    assert set(manifest["timings_seconds"]) == {
        "setup",
        "volatility",
        "triggers",
        "correlation",
        "allocation",
        "accounting",
    }


def test_manifest_states_the_invested_period_its_metrics_cover(
    tmp_path: Path, result
) -> None:
    out = write_results(result, tmp_path / "run")
    manifest = json.loads((out / "manifest.json").read_text())
    period = result.invested_period
    assert period.warmup_days > 0  # the models' warm-up holds nothing
    assert manifest["invested_period"] == period.to_dict()
    assert manifest["periods_per_year"] == 252.0
    assert manifest["metrics"] == pytest.approx(result.metrics(), nan_ok=True)
    # the daily rows stay complete: warm-up included
    daily = pd.read_parquet(out / "daily.parquet")
    assert len(daily) == len(result.returns) == period.warmup_days + period.days
    assert manifest["data"]["first_date"] == str(daily.index[0].date())


def test_a_run_that_never_holds_is_written_without_metrics(
    tmp_path: Path, result
) -> None:
    idle = replace(
        result,
        weights=result.weights * 0.0,
        risk_contributions=result.risk_contributions * 0.0,
    )
    manifest = json.loads(
        (write_results(idle, tmp_path / "idle") / "manifest.json").read_text()
    )
    assert manifest["metrics"] is None
    assert manifest["invested_period"]["invested_from"] is None
    assert manifest["invested_period"]["warmup_days"] == len(result.returns)


def test_printed_header_states_the_invested_period(result) -> None:
    period = result.invested_period
    first, last = result.returns.index[[0, -1]]
    text = format_summary(result)
    assert (
        f"period  {first.date()} .. {last.date()}  ({len(result.returns)} days; "
        f"invested from {period.start.date()}, {period.warmup_days} warm-up days "
        "before)"
    ) in text
    assert "; metrics exclude the warm-up" in text
    assert "Sharpe ratio" in text


def test_printed_header_of_a_run_that_never_holds(result) -> None:
    idle = replace(result, weights=result.weights * 0.0)
    text = format_summary(idle)
    assert (
        f"never invested: no holding on any of the {len(result.returns)} days" in text
    )
    assert "no metrics: the policy held nothing long enough to measure" in text
    assert "Sharpe ratio" not in text


def test_compare_states_each_policys_invested_period() -> None:
    market = default_market()
    policies = [load_policy("static-60-40"), load_policy("equity-risk-control-10")]
    table = compare(policies, market, start="2013-01-01")
    for policy in policies:
        run = run_backtest(policy, market, start="2013-01-01")
        period = run.invested_period.to_dict()
        column = table[policy.name]
        assert column["invested_from"] == period["invested_from"]
        assert column["warmup_days"] == period["warmup_days"]
        assert column["sharpe"] == run.metrics()["sharpe"]
    text = format_comparison(table, ["crypto"])
    assert "Invested from (first holding)" in text


def test_figures_are_written_as_png_for_slides_when_asked(
    tmp_path: Path, result
) -> None:
    from riskengine.results.html_report import report_figures
    from riskengine.results.report import FIGURES_FOLDER

    out = write_results(result, tmp_path / "run")
    assert not (out / FIGURES_FOLDER).exists()
    out = write_results(result, tmp_path / "run", png_figures=True)
    names = sorted(p.name for p in (out / FIGURES_FOLDER).iterdir())
    assert names == sorted(f"{n}.png" for n in report_figures(result).figures)
    assert "growth.png" in names
    for name in names:
        assert (out / FIGURES_FOLDER / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the page is the same with or without the PNG files
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page == render_html(result)


def test_backtest_png_flag_writes_the_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskengine.cli import main
    from riskengine.results.report import FIGURES_FOLDER

    out = tmp_path / "run"
    argv = ["backtest", "--policy", "static-60-40", "--from", "2024-01-01"]
    assert main([*argv, "--out", str(out), "--png"]) == 0
    assert f"results written to {out}/" in capsys.readouterr().out
    assert (out / FIGURES_FOLDER / "growth.png").read_bytes()[:4] == b"\x89PNG"
    assert main([*argv, "--out", str(out)]) == 0  # without the flag: no figures
    assert not (out / FIGURES_FOLDER).exists()
