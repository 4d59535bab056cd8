"""The policy library on the real file, from the CLI, and the January 2026 episode."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine import backtest, load_market
from riskengine.cli import main
from riskengine.specs import builtin_names

HIGH_BETA = ["crypto", "em_equity", "credit"]


@pytest.fixture(scope="module")
def market(real_prices_path: Path):
    return load_market(real_prices_path)


@pytest.mark.parametrize("name", builtin_names("policies"))
def test_every_policy_runs_on_the_real_file_from_the_cli(
    name: str,
    real_prices_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / name
    args = ["backtest", "--prices", str(real_prices_path), "--policy", name]
    code = main(
        [
            *args,
            "--from",
            "2019-01-01",
            "--to",
            "2021-12-31",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert 0.0 < metrics["annual_vol"] < 0.4
    weights = pd.read_parquet(out / "weights.parquet")
    assert weights.index[0] >= pd.Timestamp("2019-01-01")
    assert weights.index[-1] <= pd.Timestamp("2021-12-31")
    assert (weights.abs().sum(axis=1) > 0).mean() > 0.9


def sleeve_weights(result, market, sleeves: list[str]) -> pd.Series:
    held = [a for a in result.weights.columns if market.sleeves[a] in sleeves]
    return result.weights[held].sum(axis=1)


def test_safe_haven_overlay_cuts_high_beta_before_the_crypto_crash(market) -> None:
    """January 2026: the rule fires in the metals spike and has halved crypto, EM
    equity and credit, against the same risk-parity core without it, by 2026-02-04,
    the close before the 5 February crash."""
    overlay = backtest("safe-haven-risk-off", market, start="2025-01-01")
    core = backtest("risk-parity-fund", market, start="2025-01-01")
    fired = overlay.events[overlay.events["kind"] == "trigger_enter"]
    assert len(fired) == 1
    fired_on = fired["date"].iloc[0]
    assert pd.Timestamp("2025-12-15") <= fired_on <= pd.Timestamp("2026-01-31")
    details = fired["details"].iloc[0]
    assert details["value"] > details["threshold"] == 2.5
    assert set(details["weights_after"]) == set(HIGH_BETA)
    for sleeve in HIGH_BETA:
        assert (
            details["weights_after"][sleeve] < 0.6 * details["weights_before"][sleeve]
        )
    on_eve = pd.Timestamp("2026-02-04")
    cut = sleeve_weights(overlay, market, HIGH_BETA)[on_eve]
    uncut = sleeve_weights(core, market, HIGH_BETA)[on_eve]
    assert cut == pytest.approx(0.5 * uncut, rel=0.05)
    # nothing else is cut: the other sleeves hold the same weights as the core
    others = ["dm_equity", "rates", "safe_haven", "commodity"]
    assert sleeve_weights(overlay, market, others)[on_eve] == pytest.approx(
        sleeve_weights(core, market, others)[on_eve], rel=0.05
    )


def test_compare_prints_policies_side_by_side(
    real_prices_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "compare",
            "risk-parity-fund",
            "safe-haven-risk-off",
            "--prices",
            str(real_prices_path),
            "--from",
            "2025-11-01",
            "--to",
            "2026-03-31",
            "--json",
        ]
    )
    assert code == 0
    table = json.loads(capsys.readouterr().out)
    assert set(table) == {"risk-parity-fund", "safe-haven-risk-off"}
    overlay = table["safe-haven-risk-off"]
    assert overlay["first_cut"] <= "2026-01-31"
    assert overlay["cut_to"] < 0.75 * overlay["cut_from"]
    assert overlay["annual_vol"] < table["risk-parity-fund"]["annual_vol"]


@pytest.mark.slow
@pytest.mark.parametrize("name", builtin_names("policies"))
def test_every_policy_over_the_whole_real_file(name: str, market) -> None:
    """Slow: all 12 columns from 1990, with their own starts, ends and calendars;
    the signal-only VIX index is never held, targeted or given risk."""
    result = backtest(name, market)
    assert market.signal_only == ["VIX"]
    for frame in (result.weights, result.targets, result.risk_contributions):
        never = frame.reindex(columns=market.signal_only, fill_value=0.0)
        assert (never == 0.0).all().all()
        assert set(frame.columns) <= {a for a in market.assets if market.investable[a]}
    assert np.isfinite(result.returns).all()
    assert result.returns.index[0] == market.returns.index[0]
    vol = result.metrics()["annual_vol"]
    assert 0.02 < vol < 0.3


def test_vix_risk_off_fires_on_the_vix_close_in_2008_and_march_2020(market) -> None:
    """The VIX closes above 30 on 2008-09-15 (Lehman) and 2020-02-27 (Covid): the
    rule enters risk-off at those closes, on the close itself (no look-ahead), and
    halves equity and credit against the same core without it; VIX is never held."""
    overlay = backtest("vix-risk-off", market, start="2007-01-01", end="2020-12-31")
    core = backtest("risk-parity-fund", market, start="2007-01-01", end="2020-12-31")
    assert "VIX" not in overlay.weights.columns
    fired = overlay.events[overlay.events["kind"] == "trigger_enter"]
    vix = market.prices["VIX"]
    for first, last in [("2008-09-01", "2008-10-31"), ("2020-02-20", "2020-03-16")]:
        in_stress = fired[fired["date"].between(first, last)]
        assert len(in_stress) == 1
        day = in_stress["date"].iloc[0]
        closes = vix.loc[first:day].dropna()
        assert closes.iloc[-1] > 30.0 >= closes.iloc[:-1].max()
        assert in_stress["details"].iloc[0]["value"] == closes.iloc[-1]
        after = market.returns.index[market.returns.index.searchsorted(day) + 3]
        cut = sleeve_weights(overlay, market, ["dm_equity", "credit"])[after]
        uncut = sleeve_weights(core, market, ["dm_equity", "credit"])[after]
        assert cut < 0.6 * uncut
    assert {str(d.date()) for d in fired["date"]} >= {"2008-09-15", "2020-02-27"}


@pytest.mark.parametrize(
    ("episode", "ewma_entry", "shock_entry"),
    [
        ("2013-taper-tantrum", "2013-04-15", "2013-04-12"),
        ("2020-covid-crash", "2020-03-13", "2020-02-28"),
    ],
)
def test_garch_safe_haven_shock_rule_cuts_before_the_ewma_vol_spike(
    market, episode: str, ewma_entry: str, shock_entry: str
) -> None:
    """On gjr11-t the vol-spike rule stays quiet in the 2013 gold crash and the 2020
    crash, but gold or silver moves more than 5 GJR sigmas at the close where the
    shock rule cuts, before the EWMA policy's vol-spike rule; the value it logs is
    |r_t| / the forecast of the close before, and it halves high-beta exposure."""
    garch = backtest("safe-haven-risk-off-garch", market, episode=episode)
    ewma = backtest("safe-haven-risk-off", market, episode=episode)
    assert garch.policy.model.name == "gjr11-t"
    entered = garch.events[garch.events["kind"] == "trigger_enter"]
    assert list(entered["subject"]) == ["safe-haven-shock"]
    day = pd.Timestamp(shock_entry)
    assert entered["date"].iloc[0] == day
    ewma_entered = ewma.events[ewma.events["kind"] == "trigger_enter"]
    assert str(ewma_entered["date"].iloc[0].date()) == ewma_entry > shock_entry
    rows = garch.volatility.index
    before = rows[rows.get_loc(day) - 1]
    shocks = (
        market.returns.loc[day, ["GLD", "SLV"]].abs()
        / garch.volatility.loc[before, ["GLD", "SLV"]]
    )
    value = entered["details"].iloc[0]["value"]
    assert value == pytest.approx(shocks.max(), rel=1e-12)
    assert value > 5.0
    after = rows[rows.get_loc(day) + 3]
    cut = sleeve_weights(garch, market, HIGH_BETA)[after]
    uncut = sleeve_weights(garch.baseline, market, HIGH_BETA)[after]
    assert cut < 0.6 * uncut
