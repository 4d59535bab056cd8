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
        "attribution.parquet",
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
    # a policy without overlays is its own baseline: nothing to attribute
    assert payload["baseline"]["policy"] == "static-60-40"
    assert "its own baseline (run once)" in payload["baseline"]["note"]
    assert [row["episode"] for row in payload["attribution"]] == ["total"]
    assert payload["attribution"][0]["return_given_up"] == 0.0


def test_backtest_against_a_named_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["backtest", "--policy", "safe-haven-risk-off", "--from", "2024-01-01"]
    assert main([*argv, "--baseline", "static-60-40", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "baseline  policy 'static-60-40' (named as baseline)" in printed
    assert "de-risking episode" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["baseline"]["policy"] == "static-60-40"
    daily = pd.read_parquet(out / "daily.parquet")
    assert {"baseline_return", "baseline_nav"} <= set(daily.columns)
    frame = pd.read_parquet(out / "attribution.parquet")
    assert frame["episode"].iloc[-1] == "total"
    assert main([*argv, "--baseline", "no-such-policy", "--out", str(out)]) == 4
    assert "no-such-policy" in capsys.readouterr().err


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


def test_episodes_lists_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["episodes"]) == 0
    printed = capsys.readouterr().out
    assert "2026-metals-unwind  2025-12-24 to 2026-02-27" in printed
    assert max(len(line) for line in printed.splitlines()) <= 100
    assert main(["episodes", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    covid = next(e for e in listed if e["name"] == "2020-covid-crash")
    assert (covid["start"], covid["end"]) == ("2020-02-19", "2020-03-23")
    assert covid["source"]


@pytest.mark.parametrize(
    ("argv", "exit_code", "message"),
    [
        (
            ["backtest", "--episode", "2020-covid-crash", "--from", "2020-01-02"],
            2,
            "riskengine: error: backtest: --episode sets the window; give it or "
            "--from, not both (see riskengine backtest --help)",
        ),
        (
            [
                "compare",
                "static-60-40",
                "--episode",
                "2020-covid-crash",
                "--to",
                "2020-05-01",
            ],
            2,
            "riskengine: error: compare: --episode sets the window; give it or --to, "
            "not both (see riskengine compare --help)",
        ),
        (
            ["backtest", "--episode", "covid"],
            SpecError.exit_code,
            "riskengine: error: unknown episode 'covid' (did you mean "
            "'2020-covid-crash'?)",
        ),
        (
            ["compare", "static-60-40", "--episode", "2008-financial-crisis"],
            DataError.exit_code,
            "episode '2008-financial-crisis' (2007-10-09 to 2009-03-09) is not "
            "covered by the data (2012-01-03 to 2026-08-21)",
        ),
        (
            ["compare", "--episode", "all", "--cut-sleeves", "crypto"],
            2,
            "compare: --cut-sleeves reports a first cut in one window",
        ),
    ],
    ids=["backtest-from", "compare-to", "unknown", "not-covered", "table-cut-sleeves"],
)
def test_episode_arguments_are_checked(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    exit_code: int,
    message: str,
) -> None:
    out = tmp_path / "run"
    assert main([*argv, "--out", str(out)]) == exit_code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert not out.exists()


def test_backtest_over_an_episode_covers_its_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["backtest", "--policy", "static-60-40", "--episode", "2020-covid-crash"]
    assert main([*argv, "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    daily = pd.read_parquet(out / "daily.parquet")
    assert str(daily.index[0].date()) == "2020-02-19"
    assert str(daily.index[-1].date()) == "2020-03-23"


def test_compare_over_an_episode_fits_a_terminal_and_writes_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = tmp_path / "cmp"
    argv = ["compare", "static-60-40", "safe-haven-risk-off", "vol-target-fund"]
    argv += ["--episode", "2020-covid-crash", "--against", "static-60-40"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert max(len(line) for line in printed.splitlines()) <= 80
    assert "Total return - static-60-40" in printed
    assert "Annual return" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "comparison.csv",
        "comparison.html",
        "manifest.json",
    ]


def test_compare_episode_table_for_every_shipped_policy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No policy named: every built-in one, over the two episodes given."""
    from riskengine.specs.files import builtin_names

    argv = ["compare", "--episode", "2020-covid-crash", "--episode", "2022-rates-shock"]
    assert main([*argv, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 * len(builtin_names("policies"))
    assert {r["episode"] for r in rows} == {"2020-covid-crash", "2022-rates-shock"}
    assert all(r["total_return"] is not None for r in rows)


def allocation_schema():
    import jsonschema

    from riskengine.allocate import SCHEMA_FILE

    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (
            ["allocate", "--asof", "04-02-2026"],
            "'04-02-2026' (day and month order is ambiguous: write 2026-02-04 or "
            "2026-04-02)",
        ),
        (
            ["backtest", "--from", "01/02/2020"],
            "'01/02/2020' (day and month order is ambiguous: write 2020-02-01 or "
            "2020-01-02)",
        ),
        (
            ["compare", "static-60-40", "--to", "31/12/2020"],
            "'31/12/2020' (write 2020-12-31)",
        ),
    ],
    ids=["allocate-dd-mm", "backtest-slashes", "compare-day-first"],
)
def test_dates_in_day_month_order_are_refused_naming_the_iso_form(
    capsys: pytest.CaptureFixture[str], argv: list[str], shown: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"expected a date YYYY-MM-DD, got {shown}" in err


def test_set_overrides_a_policy_field_checked_like_the_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["allocate", "--policy", "vol-target-fund", "--asof", "2025-06-30"]
    assert main(argv) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*argv, "--set", "target.target_vol_annual=0.03"]) == 0
    lower = json.loads(capsys.readouterr().out)
    for payload in (plain, lower):
        assert allocation_schema().is_valid(payload)
    assert lower["policy"]["fingerprint"] != plain["policy"]["fingerprint"]
    # daily decisions traded at their close: the holdings are the targets; 10% needs
    # more than the 1.5x cap on the simulated market, 3% does not
    assert plain["rebalance_day"]
    assert lower["rebalance_day"]
    assert lower["risk"]["holdings"]["ex_ante_vol_annual"] == pytest.approx(0.03)
    assert lower["binding_limits"] == []
    assert plain["risk"]["holdings"]["ex_ante_vol_annual"] < 0.10
    assert plain["weights"]["target"]["gross_leverage"] == pytest.approx(1.5)
    assert [b["limit"] for b in plain["binding_limits"]] == [
        "target.max_gross_leverage"
    ]
    for setting, code, message in [
        (
            "target.vol_annual=0.08",
            4,
            "--set on policy vol-target-fund: unknown field 'target.vol_annual' "
            "(expected one of: base, target_vol_annual,",
        ),
        (
            "target.target_vol_annual=3",
            4,
            "--set on policy vol-target-fund: target.target_vol_annual: must be in "
            "(0, 2]",
        ),
        (
            "rebalance.frequency=hourly",
            4,
            "rebalance.frequency: expected one of 'daily', 'weekly', 'monthly', got "
            "'hourly'",
        ),
        ("target.target_vol_annual", 2, "argument --set: expected FIELD=VALUE"),
    ]:
        assert main([*argv, "--set", setting]) == code
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert message in err


def test_set_applies_to_backtest_and_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--set", "target.target_vol_annual=0.05", "--set", "name=five"]
    out = tmp_path / "run"
    assert (
        main(["backtest", "--policy", "vol-target-fund", "--out", str(out), *argv]) == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["policy"]["name"] == "five"
    assert manifest["policy"]["target"]["target_vol_annual"] == 0.05
    capsys.readouterr()
    bad = ["--set", "limits.max_turnover=-1"]
    assert main(["compare", "vol-target-fund", "static-60-40", *bad]) == 4
    assert "--set on policy vol-target-fund: limits.max_turnover" in (
        capsys.readouterr().err
    )


def test_help_lists_the_builtin_policies_models_episodes_date_format_and_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from riskengine.specs import builtin_names

    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for kind in ("policies", "models"):
        for name in builtin_names(kind):
            assert name in text
    from riskengine.scenarios.episodes import load_episodes

    for episode in load_episodes():
        assert episode.name in text
    assert "dates: ISO YYYY-MM-DD only" in text
    assert "10 stale prices (allocate)" in text
    assert "riskengine allocate --prices prices.csv" in text


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "riskengine", "allocate", "--policy"]
    command.append("static-60-40")
    reader = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert reader.stdout is not None
    assert reader.stderr is not None
    reader.stdout.close()  # the reader goes away before a byte is written
    with reader.stderr:
        err = reader.stderr.read()
    assert reader.wait(timeout=300) == 141
    assert err == b""


def test_stress_writes_its_files_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    rng = np.random.default_rng(16)
    returns = rng.standard_normal((260, 2)) * [0.01, 0.009]
    returns[200:] *= 4.0
    index = pd.bdate_range("2024-01-01", periods=260)
    prices = pd.DataFrame(
        100.0 * np.cumprod(1.0 + returns, axis=0), index=index, columns=["SPY", "GLD"]
    )
    prices.rename_axis("date").to_csv(tmp_path / "prices.csv")
    (tmp_path / "crowd.toml").write_text(
        f'name = "crowd"\nstart = {index[199].date()}\nend = {index[215].date()}\n'
        "warmup_days = 100\n[report]\nsensitivity_y = [0.7]\nsensitivity_size = [1.0]\n"
        '[[funds]]\npolicy = "vol-target-fund"\naum = 2e9\n'
        "[adv]\nSPY = 5e8\nGLD = 5e8\n"
    )
    out = tmp_path / "stress"
    args = ["stress", str(tmp_path / "crowd.toml"), "--prices"]
    code = main([*args, str(tmp_path / "prices.csv"), "--out", str(out), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["first_sellers"]["dm_equity"] == "vol-target-fund"
    assert set(payload["amplification"]) == {"dm_equity", "safe_haven"}
    assert len(payload["sensitivity"]) == 1
    assert (out / "report.html").is_file()
    assert (out / "amplification.parquet").is_file()
    (tmp_path / "crowd.toml").write_text('name = "crowd"\nstart = 2024-01-01\n')
    code = main([*args, str(tmp_path / "prices.csv"), "--out", str(out)])
    assert code == SpecError.exit_code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "crowd.toml: end: missing" in err


def test_backtest_without_a_baseline_and_with_its_total_return(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backtest", "--policy", "safe-haven-risk-off", "--from", "2026-01-02"]
    argv += ["--to", "2026-05-29", "--baseline", "none"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "de-risking episode" not in printed  # nothing to attribute against
    assert "baseline" not in printed
    # a five-month window (invested from its first day) states its total return
    total = next(line for line in printed.splitlines() if line.startswith("Total"))
    daily = pd.read_parquet(tmp_path / "run" / "daily.parquet")
    assert daily.index[0] == pd.Timestamp("2026-01-02")
    assert total.split()[-1] == f"{daily['nav'].iloc[-1] - 1:.2%}"
    assert "Annual return" in printed
    assert main([*argv, "--json", "--out", str(tmp_path / "json")]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["invested_period"]["warmup_days"] == 0
    assert payload["baseline"] is None
    assert payload["attribution"] is None
    assert main(["backtest", "--help"]) == 0
    assert "'none' runs none" in " ".join(capsys.readouterr().out.split())


def test_models_list_aligns_every_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    starts = set()
    for line in lines:
        name, family, description = line.split(maxsplit=2)
        starts.add(line.index(description, len(name) + len(family)))
    assert len(lines) >= 7
    assert len(starts) == 1
