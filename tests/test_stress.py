"""The crowded-exit stress test (issue 16).

A seeded synthetic market (four ETFs, a vol spike inside the scenario) keeps these
fast; the slow test replays the real January-February 2026 file.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine.backtest import run_backtest
from riskengine.data.prices import Market, make_market
from riskengine.errors import DataError, SpecError
from riskengine.specs import load_policy
from riskengine.stress import load_scenario, run_stress, stress
from riskengine.stress.analysis import amplification
from riskengine.stress.engine import run_crowd
from riskengine.stress.impact import decay_kernel, impacted_returns, peak_impact
from riskengine.stress.scenario import Fund, ImpactSpec, Scenario

ASSETS = ["SPY", "EEM", "GLD", "TLT"]
N_ROWS = 260
SPIKE = 200  # first row of the vol spike; the scenario is rows 199 to 215


@pytest.fixture(scope="module")
def market() -> Market:
    """Four ETFs, 260 business days, daily vol x4 from row 200."""
    rng = np.random.default_rng(16)
    vol = np.array([0.010, 0.014, 0.009, 0.006])
    returns = rng.standard_normal((N_ROWS, 4)) * vol
    returns[SPIKE:] *= 4.0
    index = pd.bdate_range("2024-01-01", periods=N_ROWS)
    prices = 100.0 * np.cumprod(1.0 + returns, axis=0)
    return make_market(
        pd.DataFrame(prices, index=index, columns=ASSETS), source="synthetic"
    )


def _scenario(market: Market, tmp_path: Path, funds: str, extra: str = "") -> Scenario:
    index = market.returns.index
    text = f"""
name = "synthetic"
start = {index[199].date()}
end = {index[215].date()}
warmup_days = 100
[impact]
y = 0.7
[adv]
SPY = 5e8
EEM = 5e8
GLD = 5e8
TLT = 5e8
{extra}
{funds}
"""
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return load_scenario(path)


CROWD = """
[[funds]]
policy = "vol-target-fund"
aum = 2e9
[[funds]]
policy = "margin-account"
aum = 1e9
"""


@pytest.fixture
def scenario(market: Market, tmp_path: Path) -> Scenario:
    return _scenario(market, tmp_path, CROWD)


def test_zero_aum_equals_the_ordinary_backtests_bit_for_bit(
    market: Market, scenario: Scenario
) -> None:
    crowd = run_crowd(scenario.with_changes(size=0.0), market)
    walk_start = market.returns.index[99]  # 100 warm-up rows before 199
    end = market.returns.index[215]
    for fund in scenario.funds:
        alone = run_backtest(
            fund.policy, market, start=walk_start, end=end, baseline=None
        )
        ran = crowd.funds[fund.policy.name]
        for part in ("returns", "weights", "targets", "decisions", "trading_costs"):
            pd.testing.assert_frame_equal(
                pd.DataFrame(getattr(ran, part)),
                pd.DataFrame(getattr(alone, part)),
                check_exact=True,
            )
    assert (crowd.impact.to_numpy() == 0.0).all()


def test_no_impact_means_no_amplification(market: Market, scenario: Scenario) -> None:
    without = run_crowd(scenario, market, feedback=False)
    flat = run_crowd(scenario.with_changes(y=0.0), market)
    assert (flat.net_orders.abs().to_numpy().sum()) > 0.0  # the crowd did trade
    table = amplification(without, flat, market.sleeves)
    assert (table["amplification"] == 0.0).all()
    pd.testing.assert_frame_equal(flat.returns, without.returns, check_exact=True)


def test_amplification_grows_with_fund_size_and_y(
    market: Market, tmp_path: Path
) -> None:
    one = _scenario(market, tmp_path, CROWD.split('[[funds]]\npolicy = "margin')[0])
    without = run_crowd(one, market, feedback=False)

    def extra(scenario: Scenario) -> pd.Series:
        return amplification(without, run_crowd(scenario, market), market.sleeves)[
            "amplification"
        ]

    for changes in (
        ({"size": s} for s in (0.5, 1.0, 2.0)),
        ({"y": y} for y in (0.35, 0.7, 1.4)),
    ):
        small, middle, large = (extra(one.with_changes(**c)) for c in changes)
        assert (small > 0.0).all()
        assert (middle > small).all()
        assert (large > middle).all()


def test_orders_net_across_funds_before_impact(
    market: Market, scenario: Scenario
) -> None:
    # two followers of one framework move prices as one fund of their combined size
    # (the square root of the sum, not the sum of the square roots)
    policy = scenario.funds[0].policy
    twin = dataclasses.replace(policy, name=f"{policy.name}-twin")
    split = dataclasses.replace(
        scenario, funds=(Fund(policy, 1.5e9), Fund(twin, 0.5e9))
    )
    whole = dataclasses.replace(scenario, funds=(Fund(policy, 2e9),))
    a, b = run_crowd(split, market), run_crowd(whole, market)
    np.testing.assert_allclose(a.impact, b.impact, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(a.returns, b.returns, rtol=1e-9, atol=1e-15)
    separate = peak_impact(
        a.fund_orders[policy.name].to_numpy(),
        a.daily_vol.to_numpy(),
        5e8,
        scenario.impact,
    )
    assert np.abs(separate).sum() < np.abs(a.impact.to_numpy()).sum()


def test_opposite_orders_cause_no_impact() -> None:
    spec = ImpactSpec(y=1.0)
    orders = np.array([3e8, -3e8]) + np.array([-3e8, 3e8])
    assert (
        peak_impact(orders, np.array([0.02, 0.02]), np.array([1e9, 1e9]), spec) == 0
    ).all()
    alone = peak_impact(np.array([3e8]), np.array([0.02]), np.array([1e9]), spec)
    assert alone[0] == pytest.approx(0.02 * np.sqrt(0.3), rel=1e-12)


def test_no_look_ahead_truncation(market: Market, scenario: Scenario) -> None:
    full = run_crowd(scenario, market)
    k = 208
    cut_date = market.returns.index[k]
    cut = make_market(market.prices.loc[:cut_date], source="synthetic")
    short = dataclasses.replace(scenario, end=cut_date.date())
    truncated = run_crowd(short, cut)
    for name in ("net_orders", "impact", "returns", "impact_cost", "nav"):
        pd.testing.assert_frame_equal(
            getattr(truncated, name),
            getattr(full, name).loc[:cut_date],
            check_exact=True,
        )
    for fund, result in truncated.funds.items():
        pd.testing.assert_series_equal(
            result.returns, full.funds[fund].returns.loc[:cut_date], check_exact=True
        )


def test_decay_and_impacted_returns() -> None:
    spec = ImpactSpec(permanent_share=0.5, temporary_half_life_days=1.0)
    np.testing.assert_allclose(decay_kernel(3, spec), [1.0, 0.75, 0.625], rtol=1e-15)
    base = np.array([[0.01], [np.nan], [0.02]])
    log_impact = np.array([[0.0], [-0.1], [-0.05]])
    moved = impacted_returns(base, log_impact)
    assert np.isnan(moved[1, 0])  # no price that day: the impact shows at the next
    assert moved[2, 0] == pytest.approx(1.02 * np.exp(-0.05) - 1.0, rel=1e-14)


def test_report_tables(market: Market, scenario: Scenario) -> None:
    result = run_stress(scenario, market, sensitivity=False)
    assert set(result.amplification.index) == set(market.sleeves.values())
    assert result.sales["first_sale"].notna().any()
    assert (result.costs["impact_cost"] > 0).all()  # both sold with the crowd
    growth = result.prices()
    assert growth.iloc[0].eq(1.0).all()


def test_scenario_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    base = 'name = "x"\nstart = 2026-01-02\nend = 2026-02-27\n'
    path.write_text(
        base + '[impact]\ny = -1\n[[funds]]\npolicy = "vol-target-fund"\naum = 1e9\n'
    )
    with pytest.raises(SpecError, match=r"bad\.toml: impact\.y: expected a number"):
        load_scenario(path)
    path.write_text(
        base + '[[funds]]\npolicy = "vol-target-fund"\naum = 1e9\nsize = 2\n'
    )
    with pytest.raises(
        SpecError, match=r"bad\.toml: unknown field\(s\): funds\[0\]\.size"
    ):
        load_scenario(path)
    path.write_text(base + '[[funds]]\npolicy = "no-such"\naum = 1e9\n')
    with pytest.raises(SpecError, match=r"bad\.toml: funds\[0\]\.policy: no-such"):
        load_scenario(path)
    path.write_text('name = "x"\nstart = 2026-03-02\nend = 2026-02-27\n')
    with pytest.raises(SpecError, match=r"bad\.toml: end: 2026-02-27 is not after"):
        load_scenario(path)
    with pytest.raises(SpecError, match="built-in: 2026-metals-unwind"):
        load_scenario("no-such-scenario")


def test_shipped_scenario_loads() -> None:
    scenario = load_scenario("2026-metals-unwind")
    assert scenario.start == datetime.date(2025, 12, 24)
    assert [f.policy.name for f in scenario.funds] == [
        "vol-target-fund",
        "safe-haven-risk-off",
        "margin-account",
        "var-limited-desk",
    ]
    assert "public exchange volume" in scenario.adv_source
    assert "Toth" in scenario.impact.y_source


def test_window_outside_the_data(market: Market, scenario: Scenario) -> None:
    late = dataclasses.replace(scenario, end=datetime.date(2030, 1, 1))
    with pytest.raises(
        DataError, match=r"synthetic: scenario 'synthetic'.*the data cover"
    ):
        run_crowd(late, market)
    with pytest.raises(DataError, match="give the price file"):
        stress(scenario)


@pytest.mark.slow
def test_real_2026_replay(real_prices_path: Path) -> None:
    result = stress("2026-metals-unwind", real_prices_path, sensitivity=False)
    assert np.isfinite(result.amplification.to_numpy()).all()
    assert "crypto" in result.first_sellers()
    assert result.amplification.loc["safe_haven", "amplification"] > 0.0


def test_written_report_is_self_contained(
    market: Market, scenario: Scenario, tmp_path: Path
) -> None:
    from riskengine.stress.report import STRESS_FILES, write_stress

    result = run_stress(scenario, market, sensitivity=False)
    out = write_stress(result, tmp_path / "out")
    assert {p.name for p in out.iterdir()} == STRESS_FILES
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page
    assert "http" not in page.replace('http-equiv="Content-Security-Policy"', "")
    assert "<svg" in page
    amplification_file = pd.read_parquet(out / "amplification.parquet")
    pd.testing.assert_frame_equal(amplification_file, result.amplification)


def test_margin_hikes_cut_the_margined_fund_only(
    market: Market, tmp_path: Path
) -> None:
    day = market.returns.index[205]
    hikes = f"""
[[margin_hikes]]
date = {day.date()}
asset = "GLD"
multiplier = 20.0
"""
    plain = _scenario(market, tmp_path, CROWD)
    hiked = _scenario(market, tmp_path, CROWD, hikes)
    assert hiked.margin_hikes[0].multiplier == 20.0
    a = run_crowd(plain, market, feedback=False)
    b = run_crowd(hiked, market, feedback=False)
    margined, other = a.funds["margin-account"], a.funds["vol-target-fund"]
    hit = b.funds["margin-account"]
    # the same up to the close before the hike, then less gold
    before = market.returns.index[204]
    pd.testing.assert_frame_equal(
        hit.weights.loc[:before], margined.weights.loc[:before], check_exact=True
    )
    gold, unhiked = hit.weights["GLD"].loc[day:], margined.weights["GLD"].loc[day:]
    assert (gold.iloc[:5] < unhiked.iloc[:5]).all()  # binds while vol is moderate
    assert (gold <= unhiked + 1e-12).all()
    pd.testing.assert_frame_equal(
        b.funds["vol-target-fund"].weights, other.weights, check_exact=True
    )


def test_margin_hike_on_an_unknown_asset(market: Market, tmp_path: Path) -> None:
    extra = '[[margin_hikes]]\ndate = 2024-10-10\nasset = "XAU"\nmultiplier = 2\n'
    scenario = _scenario(market, tmp_path, CROWD, extra)
    with pytest.raises(SpecError, match=r"margin_hikes\[0\]\.asset: XAU is not in"):
        run_crowd(scenario, market)


def test_prices_depend_on_y_times_the_square_root_of_size(
    market: Market, scenario: Scenario
) -> None:
    # impact = Y vol sqrt(Q / ADV) with Q proportional to size: Y = 0.35 at twice
    # the size moves prices as Y = 0.7 at half of it; the dollars paid are 4x
    a = run_crowd(scenario.with_changes(y=0.35, size=2.0), market)
    b = run_crowd(scenario.with_changes(y=0.7, size=0.5), market)
    np.testing.assert_allclose(a.returns, b.returns, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a.impact_cost, 4.0 * b.impact_cost, rtol=1e-8)


def test_each_fund_decides_as_its_backtest_on_the_impacted_path(
    market: Market, scenario: Scenario
) -> None:
    # the walk recomputes forecasts, triggers and correlations over the impacted
    # history as the backtest would: on a market holding the impacted returns the
    # ordinary backtest makes the same decisions (only the NAV differs, by the
    # impact costs the stress walk charged)
    path = run_crowd(scenario, market)
    without = run_crowd(scenario, market, feedback=False)
    index = market.returns.index
    returns = market.returns.loc[: index[215]].copy()
    returns.loc[path.returns.index, path.returns.columns] = path.returns
    impacted = dataclasses.replace(market, returns=returns)
    for fund in scenario.funds:
        name = fund.policy.name
        alone = run_backtest(
            fund.policy, impacted, start=index[99], end=index[215], baseline=None
        )
        ran = path.funds[name]
        assert not ran.weights.equals(without.funds[name].weights)  # impact mattered
        pd.testing.assert_frame_equal(ran.targets, alone.targets, check_exact=True)
        pd.testing.assert_frame_equal(ran.weights, alone.weights, check_exact=True)


def test_a_term_structure_trigger_reads_the_recomputed_month_ahead_forecasts(
    market: Market, scenario: Scenario
) -> None:
    # a vol_term_structure rule reads the model's 21-day forecasts: the walk asks
    # for them again each time it recomputes the forecasts over the impacted path,
    # and the fund decides as its backtest on that path
    policy = load_policy(
        "safe-haven-risk-off-garch",
        {
            "triggers.1.signal": "vol_term_structure",
            "triggers.1.enter_above": 1.1,
            "triggers.1.exit_below": 1.0,
        },
    )
    # fitted from the 100th row on (the synthetic data are short)
    model = dataclasses.replace(policy.model, min_window_days=100)
    policy = dataclasses.replace(policy, model=model)
    crowd = dataclasses.replace(scenario, funds=(Fund(policy, 2e9),))
    path = run_crowd(crowd, market)
    index = market.returns.index
    returns = market.returns.loc[: index[215]].copy()
    returns.loc[path.returns.index, path.returns.columns] = path.returns
    impacted = dataclasses.replace(market, returns=returns)
    alone = run_backtest(
        policy, impacted, start=index[99], end=index[215], baseline=None
    )
    ran = path.funds[policy.name]
    assert not path.impact.eq(0.0).all().all()
    signal = ran.trigger_signals["safe-haven-shock"]
    assert signal.notna().all()
    assert signal.max() > 1.1  # the rule fired
    pd.testing.assert_frame_equal(
        ran.trigger_signals, alone.trigger_signals, check_exact=True
    )
    pd.testing.assert_frame_equal(ran.weights, alone.weights, check_exact=True)


def _trigger_policy(tmp_path: Path) -> None:
    """safe-haven-risk-off beside the scenario, its signal on a 21-day reference.

    The synthetic data are too short for the shipped 252-day reference.
    """
    shipped = Path(__file__).resolve().parents[1] / "policies"
    text = (shipped / "safe-haven-risk-off.toml").read_text()
    assert "lookback_days = 252" in text
    (tmp_path / "risk-off.toml").write_text(
        text.replace("lookback_days = 252", "lookback_days = 21")
    )


def test_a_variant_without_hysteresis_changes_the_outcome(
    market: Market, tmp_path: Path
) -> None:
    _trigger_policy(tmp_path)
    funds = CROWD + '[[funds]]\npolicy = "risk-off.toml"\naum = 2e9\n'
    variants = """
[[variants]]
name = "no hysteresis"
set = { "triggers.0.exit_below" = 2.49, "triggers.0.min_days_in_state" = 1 }
"""
    scenario = _scenario(market, tmp_path, funds, variants)
    (variant,) = scenario.variants
    assert variant.changed == ("safe-haven-risk-off",)  # the only one with a trigger
    trigger = variant.policies[2].triggers[0]
    assert (trigger.exit_below, trigger.min_days_in_state) == (2.49, 1)
    assert variant.policies[:2] == tuple(f.policy for f in scenario.funds[:2])
    result = run_stress(scenario, market, sensitivity=False)
    table = result.variants.set_index("variant")
    assert list(table.index) == ["base", "no hysteresis"]
    assert table.loc["no hysteresis", "changed"] == "safe-haven-risk-off"
    # the trigger fired; without hysteresis it leaves risk-off sooner, and the
    # crowd trades otherwise
    multipliers = result.feedback.funds["safe-haven-risk-off"].trigger_multipliers
    assert (multipliers.to_numpy() < 1.0).any()
    assert table.loc["base", "impact_cost"] != table.loc["no hysteresis", "impact_cost"]
    for sleeve, extra in result.amplification["amplification"].items():
        assert table.loc["base", f"amplification_{sleeve}"] == extra
    assert run_stress(
        scenario, market, sensitivity=False, variants=False
    ).variants.empty


def test_variant_errors_name_the_file_variant_and_field(
    market: Market, tmp_path: Path
) -> None:
    def variant(settings: str) -> str:
        return f'[[variants]]\nname = "v"\nset = {{ {settings} }}\n'

    with pytest.raises(
        SpecError,
        match=r"scenario\.toml: variants\[0\] \(v\): set\.triggers\.0\.no_such: "
        r"no fund's policy has this field",
    ):
        _scenario(market, tmp_path, CROWD, variant('"triggers.0.no_such" = 1'))
    # a field the policies have, with a value they reject: checked like --set
    with pytest.raises(
        SpecError,
        match=r"scenario\.toml: variants\[0\] \(v\): set on policy "
        r"vol-target-fund: .*target_vol_annual",
    ):
        _scenario(market, tmp_path, CROWD, variant('"target.target_vol_annual" = -1'))


def test_shipped_scenario_variants() -> None:
    variants = load_scenario("2026-metals-unwind").variants
    assert [v.name for v in variants] == [
        "no staged re-entry",
        "no hysteresis",
        "GJR-GARCH model",
    ]
    assert variants[0].changed == variants[1].changed == ("safe-haven-risk-off",)
    assert {p.model.name for p in variants[2].policies} == {"gjr11-t"}
