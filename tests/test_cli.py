import json
from pathlib import Path

import pandas as pd
import pytest

from riskengine.cli import main
from riskengine.errors import DataError, RiskEngineError, SpecError


def test_default_run_on_simulated_market(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["backtest", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "SIMULATED DATA" in printed
    assert "Annual volatility" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["simulated"] is True
    assert "SIMULATED" in manifest["note"]
    assert manifest["policy"]["name"] == "vol-target-fund"
    assert len(manifest["data"]["sha256"]) == 64
    daily = pd.read_parquet(out / "daily.parquet")
    assert abs(daily["return"].std() * 252**0.5 - 0.10) < 0.02
    assert sorted(p.name for p in out.iterdir()) == [
        "daily.parquet",
        "decisions.parquet",
        "events.csv",
        "manifest.json",
        "report.html",
        "risk_contributions.parquet",
        "targets.parquet",
        "weights.parquet",
    ]


def test_json_output_is_machine_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert (
        main(["backtest", "--policy", "static-60-40", "--out", str(out), "--json"]) == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["simulated"] is True
    assert payload["metrics"]["annual_vol"] > 0


@pytest.mark.parametrize(
    ("prices", "policy", "error", "match"),
    [
        (
            "date,SPY\n2024-01-03,1\n2024-01-02,2\n",
            "vol-target-fund",
            DataError,
            "dates not sorted",
        ),
        (
            "date,SPY\n2024-01-02,1\n2024-01-03,x\n",
            "vol-target-fund",
            DataError,
            "column SPY @ 2024-01-03",
        ),
        (
            "date,SPY\n2024-01-02,1\n2024-01-03,2\n",
            "bad.toml",
            SpecError,
            "unknown field 'target.leverage'",
        ),
    ],
    ids=["unsorted", "non-numeric", "policy-field"],
)
def test_bad_input_exits_with_one_line_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    prices: str,
    policy: str,
    error: type[RiskEngineError],
    match: str,
) -> None:
    (tmp_path / "prices.csv").write_text(prices)
    (tmp_path / "bad.toml").write_text(
        'name = "b"\ndescription = "d"\nsource = "s"\nmodel = "ewma-0.94"\n'
        "[target]\nleverage = 2\n"
    )
    policy_arg = str(tmp_path / policy) if policy.endswith(".toml") else policy
    out = tmp_path / "run"
    code = main(
        [
            "backtest",
            "--prices",
            str(tmp_path / "prices.csv"),
            "--policy",
            policy_arg,
            "--out",
            str(out),
        ]
    )
    assert code == error.exit_code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert match in err
    assert not out.exists()
    assert list(tmp_path.glob(".run*")) == []


def test_multi_sleeve_vol_target_on_the_whole_real_file(
    real_prices_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 11 investable columns (VIX is a signal, never held), with their own start
    dates and calendars: realised vol near 10%."""
    out = tmp_path / "real"
    assert (
        main(
            ["backtest", "--prices", str(real_prices_path), "--out", str(out), "--json"]
        )
        == 0
    )
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert 0.085 <= metrics["annual_vol"] <= 0.115
    weights = pd.read_parquet(out / "weights.parquet")
    columns = list(pd.read_csv(real_prices_path, nrows=1).columns[1:])
    assert "VIX" in columns
    assert list(weights.columns) == [c for c in columns if c != "VIX"]
    assert (weights.loc["2026-01-02"] > 0).sum() >= 10
