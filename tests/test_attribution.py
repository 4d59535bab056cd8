"""De-risking attribution against the baseline: hand-computed and real-file cases."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine import backtest, load_market, load_policy, make_market
from riskengine.data.sleeves import SleeveTable
from riskengine.results.attribution import (
    COLUMNS,
    attribution_records,
    format_attribution,
)

# the VIX path of the synthetic market: calm at 15, above 30 from row SPIKE, between
# the thresholds for ten rows, below 20 from row CALM
SPIKE, CALM, N_DAYS = 120, 145, 220
WEIGHTS = {"dm_equity": 0.6, "rates": 0.4}

ONE_TRIGGER = """
[universe]
sleeves = ["dm_equity", "rates"]
[target]
base = "fixed"
sleeve_weights = { dm_equity = 0.6, rates = 0.4 }
[[triggers]]
name = "vix-spike"
watch_sleeves = ["volatility"]
signal = "level"
enter_above = 30.0
exit_below = 20.0
min_days_in_state = 1
act_on_sleeves = ["dm_equity"]
scale = 0.5
reentry_days = 1
[rebalance]
frequency = "daily"
min_history_days = 20
[costs]
default_bps = 0.0
cash_rate_annual = 0.0
financing_spread_annual = 0.0
"""


def vix_path(spike: int = SPIKE, calm: int = CALM) -> np.ndarray:
    vix = np.full(N_DAYS, 15.0)
    vix[spike:calm] = 35.0
    vix[calm - 10 : calm] = 25.0
    vix[calm:] = 19.0
    return vix


def synthetic(vix: np.ndarray) -> pd.DataFrame:
    """Seeded SPY and TLT closes, and the spot VIX (signal-only, never held)."""
    rng = np.random.default_rng(7)
    index = pd.bdate_range("2021-01-01", periods=N_DAYS)
    prices = {
        name: 100.0 * np.exp(np.cumsum(vol * rng.standard_normal(N_DAYS)))
        for name, vol in {"SPY": 0.012, "TLT": 0.008}.items()
    }
    return pd.DataFrame({**prices, "VIX": vix}, index=index)


def one_trigger(tmp_path: Path, lag: int = 1):
    path = tmp_path / "one-trigger.toml"
    body = ONE_TRIGGER.replace(
        "[rebalance]\n", f"[rebalance]\ninformation_lag_days = {lag}\n"
    )
    path.write_text(
        'name = "one-trigger"\ndescription = "d"\nsource = "s"\n'
        f'model = "ewma-0.94"\n{body}'
    )
    return load_policy(path)


def run(tmp_path: Path, vix: np.ndarray, lag: int = 1, **period: str):
    prices = synthetic(vix)
    market = make_market(prices, source="synthetic", sleeves=SleeveTable({}))
    return backtest(one_trigger(tmp_path, lag), market, start="2021-03-01", **period)


def wealth_path(returns: np.ndarray) -> tuple[float, float]:
    """(compounded return, deepest fall from 1 or a later peak), by hand."""
    wealth, peak, deepest = 1.0, 1.0, 0.0
    for r in returns:
        wealth *= 1.0 + r
        peak = max(peak, wealth)
        deepest = min(deepest, wealth / peak - 1.0)
    return wealth - 1.0, deepest


@pytest.mark.parametrize("lag", [1, 2])
def test_one_trigger_by_hand(tmp_path: Path, lag: int) -> None:
    """Fixed 60/40, daily rebalance, no costs: while cut, the policy earns
    0.3 SPY + 0.4 TLT and the baseline 0.6 SPY + 0.4 TLT, day by day; with an
    information lag of 2 days every trade, and so the windows, come a day later."""
    result = run(tmp_path, vix_path(), lag)
    shift = lag - 1
    frame = result.attribution()
    assert list(frame.columns) == list(COLUMNS)
    assert list(frame["episode"]) == ["vix-spike 2021-06-18", "total"]
    row = frame.iloc[0]
    index = synthetic(vix_path()).index
    moves = synthetic(vix_path())[["SPY", "TLT"]].pct_change()
    assert row["entry"] == index[SPIKE]
    assert row["exit"] == index[CALM]
    assert row["normal_date"] == index[CALM]
    assert not row["open"]
    assert row["sleeves"] == "dm_equity"
    assert row["exposure_before"] == pytest.approx(0.6, abs=1e-12)
    assert row["exposure_after"] == pytest.approx(0.3, abs=1e-12)
    assert row["exposure_change"] == "dm_equity 60.0% -> 30.0%"
    assert (row["signal_entry"], row["signal_peak"], row["signal_exit"]) == (
        35.0,
        35.0,
        19.0,
    )
    assert row["signal_peak_date"] == index[SPIKE]
    # the cut is traded at the close of SPIKE (lag 1) and held up to CALM's close
    held = moves.iloc[SPIKE + 1 + shift : CALM + 1 + shift]
    policy = (0.3 * held["SPY"] + 0.4 * held["TLT"]).to_numpy()
    baseline = (0.6 * held["SPY"] + 0.4 * held["TLT"]).to_numpy()
    ret_policy, dd_policy = wealth_path(policy)
    ret_baseline, dd_baseline = wealth_path(baseline)
    assert row["return_policy"] == pytest.approx(ret_policy, abs=1e-12)
    assert row["return_baseline"] == pytest.approx(ret_baseline, abs=1e-12)
    assert row["return_given_up"] == pytest.approx(ret_baseline - ret_policy, abs=1e-12)
    assert row["max_drawdown_policy"] == pytest.approx(dd_policy, abs=1e-12)
    assert row["max_drawdown_baseline"] == pytest.approx(dd_baseline, abs=1e-12)
    assert row["drawdown_avoided"] == pytest.approx(dd_policy - dd_baseline, abs=1e-12)
    # the 21 days after the exit: both hold 60/40 again
    after = moves.iloc[CALM + 1 + shift : CALM + 22 + shift]
    same = (0.6 * after["SPY"] + 0.4 * after["TLT"]).to_numpy()
    assert row["after_days"] == 21
    assert row["return_after_policy"] == pytest.approx(wealth_path(same)[0], abs=1e-12)
    assert row["return_after_baseline"] == pytest.approx(
        wealth_path(same)[0], abs=1e-12
    )
    assert row["days_derisked"] == CALM - SPIKE
    assert row["whipsaws"] == 0
    assert row["lateness_from_peak_days"] == CALM - SPIKE
    assert row["lateness_from_normal_days"] == 0
    assert row["cost_overlay"] == 0.0
    vol = np.std(policy, ddof=1) * np.sqrt(result.periods_per_year)
    assert row["realised_vol_annual_policy"] == pytest.approx(vol, rel=1e-12)
    assert np.isnan(row["target_vol_annual"])  # a fixed book has no vol target


def test_total_row_covers_the_invested_period(tmp_path: Path) -> None:
    result = run(tmp_path, vix_path())
    total = result.attribution().iloc[-1]
    assert total["episode"] == "total"
    policy, baseline = result.returns, result.baseline.returns
    held = slice(result.invested_period.start, None)
    expected = (1 + policy.loc[held]).prod() - 1
    assert total["return_policy"] == pytest.approx(expected, abs=1e-12)
    expected = (1 + baseline.loc[held]).prod() - 1
    assert total["return_baseline"] == pytest.approx(expected, abs=1e-12)
    turnover = (result.turnover - result.baseline.turnover).loc[held].sum()
    assert total["turnover_overlay"] == pytest.approx(turnover, abs=1e-12)
    assert total["days_derisked"] == CALM - SPIKE
    assert total["whipsaws"] == 0


def test_open_episode_at_the_end_of_the_data(tmp_path: Path) -> None:
    result = run(tmp_path, vix_path(), end="2021-07-01")
    row = result.attribution().iloc[0]
    index = result.returns.index
    assert bool(row["open"])
    assert pd.isna(row["exit"])
    assert row["after_days"] == 0
    assert np.isnan(row["return_after_policy"])
    assert np.isnan(row["lateness_from_peak_days"])
    assert row["days_derisked"] == len(index) - index.get_loc(row["entry"])


def test_a_cut_restored_within_the_window_is_a_whipsaw(tmp_path: Path) -> None:
    result = run(tmp_path, vix_path(spike=SPIKE, calm=SPIKE + 12))
    frame = result.attribution(after_days=21)
    assert frame["whipsaws"].tolist() == [1, 1]
    assert result.attribution(after_days=11)["whipsaws"].tolist() == [0, 0]


def test_attribution_needs_a_baseline_and_a_valid_window(tmp_path: Path) -> None:
    market = make_market(
        synthetic(vix_path()), source="synthetic", sleeves=SleeveTable({})
    )
    alone = backtest(one_trigger(tmp_path), market, baseline=None)
    with pytest.raises(ValueError, match="policy 'one-trigger': the run has no"):
        alone.attribution()
    with pytest.raises(ValueError, match="after_days: must be at least 1, got 0"):
        run(tmp_path, vix_path()).attribution(after_days=0)


def test_text_and_json_forms(tmp_path: Path) -> None:
    frame = run(tmp_path, vix_path()).attribution()
    text = format_attribution(frame)
    assert "baseline  one-trigger without its overlays (triggers)" in text
    assert "vix-spike 2021-06-18  2021-07-23" in text
    assert "  dm_equity 60.0% -> 30.0%" in text
    records = attribution_records(frame)
    assert records[0]["entry"] == "2021-06-18"
    assert records[-1]["signal_peak"] is None


@pytest.fixture(scope="module")
def safe_haven_2026(real_prices_path: Path):
    market = load_market(real_prices_path)
    return backtest("safe-haven-risk-off", market, start="2025-06-01")


def test_real_2026_episode_equals_pandas_on_the_two_return_series(
    safe_haven_2026,
) -> None:
    """The safe-haven cut of 2025-12-31, recomputed from the two return series."""
    result = safe_haven_2026
    frame = result.attribution()
    row = frame.set_index("episode").loc["safe-haven-vol-spike 2025-12-31"]
    assert row["entry"] == pd.Timestamp("2025-12-31")
    multiplier = result.trigger_multipliers["safe-haven-vol-spike"]
    restored = multiplier.loc["2025-12-31":].eq(1.0).idxmax()
    assert row["exit"] == restored
    # held window: returns dated after the cut's close, up to the restore's close
    window = slice(pd.Timestamp("2026-01-01"), restored)
    policy = result.returns.loc[window]
    baseline = result.baseline.returns.loc[window]

    def max_drawdown(returns: pd.Series) -> float:
        wealth = (1 + returns).cumprod()
        return float((wealth / wealth.cummax().clip(lower=1.0) - 1).min())

    assert row["return_policy"] == pytest.approx((1 + policy).prod() - 1, abs=1e-12)
    assert row["return_baseline"] == pytest.approx((1 + baseline).prod() - 1, abs=1e-12)
    assert row["max_drawdown_policy"] == pytest.approx(max_drawdown(policy), abs=1e-12)
    assert row["max_drawdown_baseline"] == pytest.approx(
        max_drawdown(baseline), abs=1e-12
    )
    after = result.returns.loc[restored:].iloc[1:22]
    assert row["return_after_policy"] == pytest.approx(
        (1 + after).prod() - 1, abs=1e-12
    )
    trades = slice(pd.Timestamp("2025-12-31"), restored)
    costs = (result.trading_costs - result.baseline.trading_costs).loc[trades].sum()
    assert row["cost_overlay"] == pytest.approx(costs, abs=1e-15)
    assert row["days_derisked"] == len(multiplier.loc["2025-12-31":restored]) - 1
    vol = policy.std(ddof=1) * np.sqrt(result.periods_per_year)
    assert row["realised_vol_annual_policy"] == pytest.approx(vol, rel=1e-12)
    # the cut: crypto, EM equity and credit halved
    assert row["exposure_after"] == pytest.approx(row["exposure_before"] / 2, rel=0.15)
    signal = result.trigger_signals["safe-haven-vol-spike"]
    assert row["signal_entry"] == pytest.approx(signal.loc["2025-12-31"])
    assert row["signal_entry"] > 2.5
    assert row["signal_peak"] == pytest.approx(signal.loc["2025-12-31":restored].max())


LADDER = """
[universe]
sleeves = ["dm_equity"]
[target]
base = "fixed"
sleeve_weights = { dm_equity = 1.0 }
[drawdown_control]
drawdowns = [0.05]
multipliers = [0.5]
[rebalance]
frequency = "daily"
min_history_days = 20
[costs]
default_bps = 0.0
cash_rate_annual = 0.0
financing_spread_annual = 0.0
"""


def test_a_drawdown_ladder_episode(tmp_path: Path) -> None:
    """Fully invested in one asset that falls 2% a day: the ladder halves the book
    at the first close 5% below the peak and restores it once back within 5%."""
    moves = np.zeros(160)
    moves[80:85] = -0.02
    moves[85:110] = 0.01
    index = pd.bdate_range("2021-01-01", periods=160)
    prices = pd.DataFrame({"SPY": 100.0 * np.cumprod(1.0 + moves)}, index=index)
    path = tmp_path / "ladder.toml"
    path.write_text(
        f'name = "ladder"\ndescription = "d"\nsource = "s"\n'
        f'model = "ewma-0.94"\n{LADDER}'
    )
    market = make_market(prices, source="synthetic", sleeves=SleeveTable({}))
    result = backtest(load_policy(path), market, start="2021-02-01")
    frame = result.attribution()
    assert list(frame["kind"]) == ["drawdown_ladder", "total"]
    row = frame.iloc[0]
    # NAV falls 2%, 3.96%, 5.88%: the third fall's close is the cut (the book is
    # first held at the close of the asset's first fall: flat prices have no vol)
    falls = result.returns.index[result.returns.lt(0)]
    assert row["entry"] == falls[2]
    assert row["exposure_before"] == pytest.approx(1.0, abs=1e-12)
    assert row["exposure_after"] == pytest.approx(0.5, abs=1e-12)
    assert row["signal_entry"] == pytest.approx(1 - 0.98**3, abs=1e-12)
    # restored at the first close within 5% of the peak: that close is the exit
    assert row["lateness_from_normal_days"] == 0
    fall = 1 - (1 + result.returns).cumprod() / (1 + result.returns).cumprod().cummax()
    restored = fall.loc[falls[2] :].lt(0.05).idxmax()
    assert row["exit"] == restored
    window = slice(falls[2] + pd.Timedelta(days=1), restored)
    held = result.returns.loc[window]
    assert row["return_policy"] == pytest.approx((1 + held).prod() - 1, abs=1e-12)
    base = result.baseline.returns.loc[window]
    assert row["return_baseline"] == pytest.approx((1 + base).prod() - 1, abs=1e-12)
    assert row["return_given_up"] > 0  # the half book missed part of the rebound
