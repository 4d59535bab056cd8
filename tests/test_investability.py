"""Signal-only series are watched, never held; custom sleeves work end to end."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine import backtest, make_market
from riskengine.cli import main
from riskengine.data.sleeves import AssetInfo, SleeveTable
from riskengine.errors import DataError, SpecError

# the VIX path of the synthetic market: calm, exactly 30 (not above), above 30 from
# row SPIKE, back below 20 from row CALM
SPIKE, CALM, N_DAYS = 405, 430, 520


def vix_path() -> np.ndarray:
    vix = np.full(N_DAYS, 15.0)
    vix[400:SPIKE] = 30.0
    vix[SPIKE:CALM] = 35.0
    vix[CALM - 10 : CALM] = 25.0
    vix[CALM:] = 19.0
    return vix


def synthetic_prices(vix: np.ndarray | None = None) -> pd.DataFrame:
    """Seeded prices: three investable ETFs, the spot VIX, a user's index, VXX."""
    rng = np.random.default_rng(11)
    index = pd.bdate_range("2019-01-01", periods=N_DAYS)
    daily_vol = {"SPY": 0.012, "TLT": 0.008, "HYG": 0.005, "MYIDX": 0.012, "VXX": 0.04}
    prices = {
        name: 100.0 * np.exp(np.cumsum(vol * rng.standard_normal(N_DAYS)))
        for name, vol in daily_vol.items()
    }
    prices["VIX"] = vix_path() if vix is None else vix
    return pd.DataFrame(prices, index=index)


# MYIDX is an equity index the user marks as a signal, not something to buy
TABLE = SleeveTable({"MYIDX": AssetInfo("dm_equity", investable=False)})


def market(columns: list[str], vix: np.ndarray | None = None):
    prices = synthetic_prices(vix)[columns]
    return make_market(prices, source="synthetic", sleeves=TABLE)


def policy_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(
        f'name = "p"\ndescription = "d"\nsource = "s"\nmodel = "ewma-0.94"\n{body}'
    )
    return path


FIXED_ON_VOLATILITY = """
[universe]
sleeves = ["volatility", "dm_equity"]
[target]
base = "fixed"
sleeve_weights = { volatility = 0.5, dm_equity = 0.5 }
[rebalance]
frequency = "monthly"
"""


@pytest.mark.parametrize("name", ["vol-target-fund", "cta-vol-scaling", "fixed"])
def test_signal_only_assets_are_never_held_whatever_the_policy_says(
    name: str, tmp_path: Path
) -> None:
    data = market(["SPY", "TLT", "HYG", "VIX", "MYIDX"])
    assert data.signal_only == ["VIX", "MYIDX"]
    policy = name if name != "fixed" else policy_file(tmp_path, FIXED_ON_VOLATILITY)
    result = backtest(policy, data)
    for frame in (result.weights, result.targets, result.risk_contributions):
        assert not {"VIX", "MYIDX"} & set(frame.columns)
    assert (result.weights.abs().sum(axis=1) > 0).any()
    if name == "fixed":
        # the volatility sleeve has nothing to hold: its half stays in cash
        held = result.weights.loc[result.targets.index[-1]]
        assert held["SPY"] == pytest.approx(0.5, abs=0.05)


def test_vxx_is_investable_and_held_beside_the_spot_index() -> None:
    result = backtest("vol-target-fund", market(["SPY", "TLT", "VIX", "VXX"]))
    assert "VIX" not in result.weights.columns
    assert result.weights["VXX"].max() > 0


def test_a_policy_that_may_hold_only_signal_only_assets_is_a_data_error(
    tmp_path: Path,
) -> None:
    policy = policy_file(
        tmp_path,
        '[universe]\nsleeves = ["volatility"]\n[target]\nbase = "inverse_vol"\n',
    )
    with pytest.raises(
        DataError,
        match=r"^synthetic: no investable asset of this data belongs to the sleeves "
        r"the policy 'p' may hold \(volatility\); signal-only, never held: VIX$",
    ):
        backtest(policy, market(["SPY", "VIX"]))


def test_vix_level_trigger_cuts_at_the_first_close_above_and_holds_no_vix() -> None:
    data = market(["SPY", "TLT", "HYG", "VIX"])
    result = backtest("vix-risk-off", data)
    index = data.returns.index
    assert "VIX" not in result.weights.columns
    fired = result.events[result.events["kind"].str.startswith("trigger_")]
    assert list(fired["kind"]) == ["trigger_enter", "trigger_exit"]
    # five closes at exactly 30 do not fire; the first close above does
    assert list(fired["date"]) == [index[SPIKE], index[CALM]]
    assert fired["details"].iloc[0]["value"] == 35.0
    before = result.targets.loc[: index[SPIKE - 1]].iloc[-1]  # the last decision
    at = result.targets.loc[index[SPIKE]]  # a trigger change forces a decision
    for asset in ("SPY", "HYG"):  # equity and credit halved (0.5 a day at most)
        assert at[asset] < 0.6 * before[asset]
    assert at["TLT"] == pytest.approx(before["TLT"], rel=0.1)


def test_vix_level_trigger_is_point_in_time_in_the_backtest() -> None:
    """VIX after t (no exit, a far higher spike) moves nothing decided up to t."""
    t = CALM - 1
    moved_vix = vix_path()
    moved_vix[t + 1 :] = 80.0
    base = backtest("vix-risk-off", market(["SPY", "TLT", "HYG", "VIX"]))
    moved = backtest("vix-risk-off", market(["SPY", "TLT", "HYG", "VIX"], moved_vix))
    day = base.returns.index[t]
    pd.testing.assert_frame_equal(base.targets.loc[:day], moved.targets.loc[:day])
    pd.testing.assert_frame_equal(base.weights.loc[:day], moved.weights.loc[:day])
    assert "trigger_exit" in set(base.events["kind"])
    assert "trigger_exit" not in set(moved.events["kind"])


def test_a_trigger_without_its_watched_sleeve_in_the_data_says_it_never_fires() -> None:
    result = backtest("vix-risk-off", market(["SPY", "TLT", "HYG"]))
    blind = result.events[result.events["kind"] == "trigger_no_data"]
    assert list(blind["subject"]) == ["vix-above-30"]
    assert (
        "no asset of this data is in volatility: the trigger never fires"
        in (blind["message"].iloc[0])
    )


CUSTOM_POLICY = """
[universe]
custom_sleeves = ["infra"]
[target]
base = "fixed"
sleeve_weights = { infra = 0.3, dm_equity = 0.4, rates = 0.3 }
[limits]
sleeve_max_weight = { infra = 0.3 }
[costs]
sleeve_bps = { infra = 10.0 }
[rebalance]
frequency = "monthly"
"""


def test_a_declared_custom_sleeve_works_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = synthetic_prices().rename(columns={"HYG": "INFRA1", "VXX": "INFRA2"})
    prices[["SPY", "TLT", "INFRA1", "INFRA2"]].to_csv(tmp_path / "prices.csv")
    sleeves = tmp_path / "sleeves.csv"
    sleeves.write_text("asset,sleeve,custom_sleeve\nINFRA1,infra,true\nINFRA2,infra,\n")
    policy = policy_file(tmp_path, CUSTOM_POLICY)
    out = tmp_path / "run"
    args = ["backtest", "--prices", str(tmp_path / "prices.csv"), "--out", str(out)]
    assert main([*args, "--sleeves", str(sleeves), "--policy", str(policy)]) == 0
    targets = pd.read_parquet(out / "targets.parquet")
    infra = targets[["INFRA1", "INFRA2"]].sum(axis=1)
    assert infra.iloc[-1] == pytest.approx(0.3, rel=1e-9)
    assert targets["INFRA1"].iloc[-1] == pytest.approx(targets["INFRA2"].iloc[-1])
    assert targets["SPY"].iloc[-1] == pytest.approx(0.4, rel=1e-9)
    capsys.readouterr()
    # undeclared in the sleeve file: a data error; in the policy: a spec error
    sleeves.write_text("asset,sleeve\nINFRA1,infra\nINFRA2,infra\n")
    assert main([*args, "--sleeves", str(sleeves), "--policy", str(policy)]) == (
        DataError.exit_code
    )
    assert "line 2 (asset INFRA1): sleeve: unknown sleeve 'infra'" in (
        capsys.readouterr().err
    )
    declaration = '[universe]\ncustom_sleeves = ["infra"]\n'
    assert declaration in CUSTOM_POLICY
    undeclared = policy_file(tmp_path, CUSTOM_POLICY.replace(declaration, ""))
    assert main([*args, "--policy", str(undeclared)]) == SpecError.exit_code
    err = capsys.readouterr().err
    assert "target.sleeve_weights.infra: unknown sleeve 'infra'" in err
    assert "declare a custom sleeve in universe.custom_sleeves" in err


def test_a_misspelt_sleeve_row_stops_static_60_40_instead_of_holding_no_equity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synthetic_prices()[["SPY", "TLT"]].to_csv(tmp_path / "prices.csv")
    sleeves = tmp_path / "sleeves.csv"
    sleeves.write_text("asset,sleeve\nSPY,dm_equty\nTLT,rates\n")
    out = tmp_path / "run"
    code = main(
        [
            "backtest",
            "--prices",
            str(tmp_path / "prices.csv"),
            "--sleeves",
            str(sleeves),
            "--policy",
            "static-60-40",
            "--out",
            str(out),
        ]
    )
    assert code == DataError.exit_code
    err = capsys.readouterr().err
    assert err.strip() == (
        f"riskengine: error: {sleeves}: line 2 (asset SPY): sleeve: unknown sleeve "
        "'dm_equty' (did you mean 'dm_equity'?); a sleeve outside the built-in "
        "vocabulary needs custom_sleeve = true on one of its rows"
    )
    assert not out.exists()


def test_compare_checks_the_sleeves_whose_first_cut_it_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synthetic_prices()[["SPY", "TLT", "HYG"]].to_csv(tmp_path / "prices.csv")
    code = main(
        [
            "compare",
            "risk-parity-fund",
            "--prices",
            str(tmp_path / "prices.csv"),
            "--cut-sleeves",
            "credit,emequity",
        ]
    )
    assert code == SpecError.exit_code
    assert capsys.readouterr().err.strip() == (
        "riskengine: error: compare: --cut-sleeves: unknown sleeve 'emequity' "
        "(did you mean 'em_equity'?)"
    )
