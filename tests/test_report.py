import json
from pathlib import Path

import pytest

import riskengine.report
from riskengine import backtest
from riskengine.report import write_results


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failure_midway_leaves_the_previous_results(
    tmp_path: Path, result, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    write_results(result, out)
    before = (out / "manifest.json").read_bytes()

    def broken(_: object) -> dict:
        raise OSError("disk full")

    monkeypatch.setattr(riskengine.report, "manifest", broken)
    with pytest.raises(OSError, match="disk full"):
        write_results(result, out)
    assert (out / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


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
