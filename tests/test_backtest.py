from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine import backtest, load_market, load_policy, make_market
from riskengine.backtest import run_backtest
from riskengine.backtest.baseline import overlays, shares_panels, without_overlays
from riskengine.covariance import EwmaCorrelation
from riskengine.policy.context import DecisionContext, DecisionPanels
from riskengine.policy.decision import Decision, PolicyAllocator
from riskengine.policy.decision import without_overlays as counterfactual
from riskengine.results.metrics import annualized_volatility, vol_of_vol
from riskengine.specs import PolicySpec, builtin_names


def policy_file(tmp_path: Path, body: str, model: str = "ewma-0.94") -> PolicySpec:
    path = tmp_path / "policy.toml"
    path.write_text(
        f'name = "test"\ndescription = "d"\nsource = "s"\nmodel = "{model}"\n{body}'
    )
    return load_policy(path)


@pytest.fixture(scope="module")
def market(real_prices_path: Path):
    return load_market(real_prices_path)


def sub_market(market, columns: list[str], start: str, end: str):
    prices = market.prices.loc[start:end, columns].dropna(how="all")
    return make_market(prices, source="slice", sleeves=market.sleeves)


SPY_VOL_TARGET = """
[target]
base = "inverse_vol"
target_vol_annual = 0.10
max_gross_leverage = 2.0
[rebalance]
frequency = "daily"
"""


def test_spy_vol_target_realises_its_target(tmp_path: Path, market) -> None:
    """Issue figure: 10% target on SPY alone, EWMA 0.94, daily, cap 2, no costs."""
    policy = policy_file(tmp_path, SPY_VOL_TARGET)
    spy = make_market(
        market.prices[["SPY"]].dropna(), source="SPY", sleeves=market.sleeves
    )
    result = backtest(policy, spy, start="1994-01-01")
    realised = annualized_volatility(result.returns)
    assert 0.09 <= realised <= 0.11
    buy_and_hold = spy.returns["SPY"].loc["1994-01-01":]
    assert result.metrics()["vol_of_vol"] < 0.5 * vol_of_vol(buy_and_hold)
    assert result.trading_costs.sum() == 0.0


def test_fixed_weight_one_asset_earns_the_asset_return(tmp_path: Path, market) -> None:
    policy = policy_file(
        tmp_path,
        '[target]\nbase = "fixed"\nsleeve_weights = { dm_equity = 1.0 }\n'
        '[rebalance]\nfrequency = "monthly"\nmin_history_days = 2\n',
    )
    spy = sub_market(market, ["SPY"], "2019-01-01", "2020-12-31")
    result = backtest(policy, spy)
    held = result.weights["SPY"].shift(1) == 1.0
    asset = spy.returns["SPY"].reindex(result.returns.index)
    np.testing.assert_allclose(result.returns[held], asset[held], rtol=1e-12)


def test_costs_financing_and_drift(tmp_path: Path, market) -> None:
    policy = policy_file(
        tmp_path,
        '[target]\nbase = "fixed"\nsleeve_weights = { dm_equity = 0.9, rates = 0.6 }\n'
        "max_gross_leverage = 2.0\n"
        '[rebalance]\nfrequency = "monthly"\nmin_history_days = 2\n'
        "[costs]\ndefault_bps = 10.0\ncash_rate_annual = 0.02\n"
        "financing_spread_annual = 0.01\n",
    )
    m = sub_market(market, ["SPY", "TLT"], "2021-01-01", "2021-06-30")
    result = backtest(policy, m)
    trades = result.turnover[result.turnover > 0]
    np.testing.assert_allclose(
        result.trading_costs[trades.index], trades * 10 / 1e4, rtol=1e-12
    )
    # cash earns 2%; borrowed cash (about 0.5 of NAV) pays 2% + 1% spread, ACT/365
    cash = 1 - result.weights.sum(axis=1).shift(1).iloc[1:]
    days = result.returns.index.to_series().diff().dt.days.iloc[1:]
    expected = cash * np.where(cash >= 0, 0.02, 0.03) * days / 365
    assert (cash.iloc[5:] < -0.4).all()
    np.testing.assert_allclose(result.financing.iloc[1:], expected, rtol=1e-12)
    # between trades weights drift with prices
    r = m.returns.reindex(result.returns.index).fillna(0.0)
    for t in range(1, len(result.returns)):
        date = result.returns.index[t]
        if result.turnover.iloc[t] > 0:
            continue
        before = result.weights.iloc[t - 1]
        portfolio = (before * r.iloc[t]).sum() + result.financing.iloc[t]
        np.testing.assert_allclose(
            result.weights.loc[date],
            before * (1 + r.iloc[t]) / (1 + portfolio),
            rtol=1e-12,
        )


def test_information_lag_delays_trades_not_decisions(tmp_path: Path, market) -> None:
    m = sub_market(market, ["SPY", "TLT", "GLD"], "2018-01-01", "2019-12-31")
    lag1 = backtest(policy_file(tmp_path, SPY_VOL_TARGET), m)
    lag2 = backtest(
        policy_file(tmp_path, SPY_VOL_TARGET + "information_lag_days = 2\n"), m
    )
    pd.testing.assert_frame_equal(lag1.targets, lag2.targets)
    dates = lag1.returns.index
    assert (lag2.decisions["traded"].iloc[:-1].to_numpy() == dates[1:]).all()
    # with lag 2, a target decided at t is held at the close of t + 1
    np.testing.assert_allclose(
        lag2.weights.iloc[1:].to_numpy(), lag1.targets.iloc[:-1].to_numpy()
    )


@pytest.mark.parametrize("model", ["ewma-0.94", "garch", "garch-dcc"])
def test_no_look_ahead_whole_pipeline(tmp_path: Path, market, model: str) -> None:
    """Perturbing prices after t leaves every decision and holding up to t unchanged."""
    correlation = "dcc" if model.endswith("dcc") else "ewma"
    if model.startswith("garch"):
        (tmp_path / "garch.toml").write_text(
            'name = "g"\nfamily = "garch"\nwindow_days = 400\nmin_window_days = 200\n'
            "refit_every_days = 40\n"
        )
        model = "garch.toml"
    policy = policy_file(
        tmp_path,
        '[target]\nbase = "sleeve_equal_risk"\ntarget_vol_annual = 0.1\n'
        'max_gross_leverage = 2.0\n[rebalance]\nfrequency = "weekly"\n'
        f'[covariance]\ncorrelation = "{correlation}"\ndcc_window_days = 300\n',
        model=model,
    )
    prices = market.prices.loc[
        "2016-01-01":"2019-12-31", ["SPY", "TLT", "GLD", "BTC_USD"]
    ]
    cut = pd.Timestamp("2018-06-15")
    after = prices.index > cut
    shock = np.zeros(len(prices))
    shock[after] = np.linspace(0.01, 2, after.sum())  # +1% the day after, then up
    perturbed = prices * (1.0 + shock[:, None])
    base = backtest(policy, make_market(prices, source="a", sleeves=market.sleeves))
    moved = backtest(policy, make_market(perturbed, source="b", sleeves=market.sleeves))
    pd.testing.assert_frame_equal(
        base.targets.loc[:cut], moved.targets.loc[:cut], check_exact=True
    )
    pd.testing.assert_frame_equal(
        base.weights.loc[:cut], moved.weights.loc[:cut], check_exact=True
    )
    assert not base.targets.loc[cut:].iloc[5:].equals(moved.targets.loc[cut:].iloc[5:])


def test_stale_asset_is_sold_and_logged(tmp_path: Path, market) -> None:
    m = sub_market(market, ["SPY", "IEF"], "2024-01-01", "2026-08-21")
    result = backtest(policy_file(tmp_path, SPY_VOL_TARGET), m)
    stale = result.events[result.events["kind"] == "asset_stale"]
    assert list(stale["subject"]) == ["IEF"]
    when = stale["date"].iloc[0]
    assert pd.Timestamp("2025-09-27") < when <= pd.Timestamp("2025-10-06")
    assert (result.weights.loc[when:, "IEF"] == 0.0).all()
    assert result.weights.loc[:"2025-09-26", "IEF"].iloc[-1] > 0


def test_an_asset_priced_but_not_moving_is_dropped_for_its_zero_vol_and_says_so() -> (
    None
):
    """SPY printed every day but unchanged for five months: its realised vol is
    zero, so it is not held; the event says why (no volatility), not that it has no
    price, and SPY comes back when its price moves again."""
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2022-01-03", "2024-12-31")
    moves = 1.0 + 0.01 * rng.standard_normal((len(dates), 2))
    prices = pd.DataFrame(100.0 * moves.cumprod(axis=0), dates, ["SPY", "TLT"])
    flat = (dates >= "2024-02-01") & (dates <= "2024-06-28")
    prices.loc[flat, "SPY"] = prices.loc[dates < "2024-02-01", "SPY"].iloc[-1]
    result = backtest("vol-managed-market", make_market(prices, source="flat"))
    events = result.events[result.events["subject"] == "SPY"]
    assert "asset_stale" not in set(events["kind"])
    gone = events[events["kind"] == "asset_no_volatility"]
    assert len(gone) == 1
    left = gone["date"].iloc[0]
    assert pd.Timestamp("2024-02-01") < left < pd.Timestamp("2024-04-01")
    assert (result.weights.loc[left:"2024-06-28", "SPY"] == 0.0).all()
    assert result.weights.loc[: left - pd.Timedelta(days=1), "SPY"].iloc[-1] > 0
    back = events[(events["kind"] == "asset_added") & (events["date"] > left)]
    assert back["date"].iloc[0] > pd.Timestamp("2024-06-28")


def test_columns_with_too_little_history_are_reported(tmp_path: Path, market) -> None:
    """What is known on the period's first day, so dropping later rows keeps it."""
    prices = market.prices.loc["2019-01-01":"2019-12-31", ["SPY", "TLT"]].copy()
    prices.loc[: prices.index[-20], "TLT"] = np.nan  # TLT: only 19 returns
    policy = policy_file(tmp_path, SPY_VOL_TARGET)
    short_market = make_market(prices, source="short", sleeves=market.sleeves)
    result = backtest(policy, short_market, start="2019-06-03")
    short = result.events[result.events["kind"] == "insufficient_history"]
    assert list(short["subject"]) == ["TLT"]
    assert short["message"].iloc[0] == (
        "TLT is not investable on the period's first day, 2019-06-03: "
        "0 returns so far, fewer than min_history_days (63)"
    )
    assert (result.weights["TLT"] == 0).all()
    cut = make_market(prices.iloc[:-10], source="cut", sleeves=market.sleeves)
    events = backtest(policy, cut, start="2019-06-03").events
    pd.testing.assert_frame_equal(
        events[events["kind"] == "insufficient_history"].reset_index(drop=True),
        short.reset_index(drop=True),
    )


@pytest.mark.parametrize("on_failure", ["raise", "hold"])
def test_solver_failure_raises_or_holds_and_is_logged(
    tmp_path: Path, market, monkeypatch: pytest.MonkeyPatch, on_failure: str
) -> None:
    import riskengine.policy.optimizers

    policy = policy_file(
        tmp_path,
        SPY_VOL_TARGET
        + f'[limits]\nmax_asset_weight = 0.5\non_solver_failure = "{on_failure}"\n',
    )
    m = sub_market(market, ["SPY", "TLT", "GLD"], "2018-01-01", "2019-12-31")

    def failing(self, *args, **kwargs):
        raise riskengine.policy.optimizers.InfeasibleError(
            "constrained allocation: no solution (CLARABEL: infeasible; SCS: infeasible)"
        )

    monkeypatch.setattr(
        riskengine.policy.optimizers.ConstrainedProblem, "solve", failing
    )
    if on_failure == "raise":
        with pytest.raises(
            riskengine.policy.optimizers.InfeasibleError,
            match=r"policy 'test' @ 2018-\d\d-\d\d: the weight limits \(.*\) "
            r"cannot hold together: constrained allocation",
        ) as raised:
            backtest(policy, m)
        named = str(raised.value).split("(")[1].split(")")[0].split(", ")
        assert sorted(named) == ["limits.max_asset_weight", "target.max_gross_leverage"]
        return
    result = backtest(policy, m)
    holds = result.events[result.events["kind"] == "solver_hold"]
    assert len(holds) > 0
    assert "previous weights held" in holds["message"].iloc[0]
    held_on = holds["date"].iloc[-1]
    assert result.turnover.loc[held_on] == pytest.approx(0.0, abs=1e-12)


ERC_WEEKLY = """
[target]
base = "risk_budget"
target_vol_annual = 0.10
max_gross_leverage = 2.0
[rebalance]
frequency = "weekly"
min_history_days = 60
[covariance]
correlation_half_life_days = 63
"""


def test_erc_targets_match_a_hand_rolled_pandas_and_cvxpy_loop(
    tmp_path: Path, market
) -> None:
    # the notebook loop on riskengine's own vol forecasts: pandas EWMA correlation of
    # the assets held, a fresh cvxpy ERC problem, scaled to 10% and capped at 2x;
    # the period spans BTC's first weeks, when it has returns but is not yet held
    import cvxpy as cp

    assets = ["GLD", "SPY", "EEM", "HYG", "TLT", "BTC_USD"]
    data = sub_market(market, assets, "2013-06-01", "2015-06-30")
    result = backtest(policy_file(tmp_path, ERC_WEEKLY), data, start="2014-06-01")
    returns = data.returns
    gaps = []
    for date, target in result.targets.iterrows():
        held = list(target.index[target > 0])
        window = returns.loc[:date, held]
        second = np.array(
            [
                [
                    (window[a] * window[b]).ewm(halflife=63.0).mean().iloc[-1]
                    for b in held
                ]
                for a in held
            ]
        )
        corr = second / np.sqrt(np.outer(np.diag(second), np.diag(second)))
        vol = result.volatility.loc[date, held].to_numpy()
        y = cp.Variable(len(held), pos=True)
        cp.Problem(
            cp.Minimize(cp.sum_squares(np.linalg.cholesky(corr).T @ y)),
            [cp.sum(cp.log(y)) >= 0],
        ).solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10)
        weights = y.value / vol / (y.value / vol).sum()
        ex_ante = np.sqrt(weights @ (corr * np.outer(vol, vol)) @ weights * 252)
        weights *= min(0.10 / ex_ante, 2.0)
        gaps.append(np.abs(target[held].to_numpy() - weights).max())
        # the recorded risk contributions are the targets' shares of variance
        cov = corr * np.outer(vol, vol)
        held_weights = target[held].to_numpy()
        shares = (
            held_weights * (cov @ held_weights) / (held_weights @ cov @ held_weights)
        )
        recorded = result.risk_contributions.loc[date]
        np.testing.assert_allclose(recorded[held], shares, rtol=1e-9)
        np.testing.assert_allclose(recorded[held], 1 / len(held), rtol=1e-8)
        assert recorded.drop(held).eq(0).all()
    # BTC has returns from 2014-09-18 but too short a history to be held until later
    assert returns.loc["2014-09-18":"2014-10-31", "BTC_USD"].notna().all()
    assert (result.targets.loc[:"2014-10-31", "BTC_USD"] == 0).all()
    assert result.targets["BTC_USD"].gt(0).any()
    assert max(gaps) < 1e-5  # the accuracy of Clarabel's solution, not ours


def test_limit_conflicts_are_logged_with_the_fields(tmp_path: Path, market) -> None:
    # crypto must hold 5% of NAV but carry at most 5% of the risk: BTC's vol makes
    # that impossible; the risk cap is kept and each such decision is logged
    body = """
[target]
base = "inverse_vol"
target_vol_annual = 0.10
max_gross_leverage = 2.0
[rebalance]
frequency = "monthly"
[limits]
sleeve_min_weight = { crypto = 0.05 }
sleeve_max_risk = { crypto = 0.05 }
"""
    data = sub_market(
        market, ["SPY", "TLT", "GLD", "BTC_USD"], "2019-01-01", "2021-12-31"
    )
    result = backtest(policy_file(tmp_path, body), data, start="2021-01-01")
    conflicts = result.events[result.events["kind"] == "limit_conflict"]
    assert len(conflicts) > 0
    first = conflicts.iloc[0]
    assert "limits.sleeve_min_weight.crypto" in first["message"]
    assert str(first["date"].date()) in first["message"]
    assert first["details"]["broken"] == ["limits.sleeve_min_weight.crypto"]
    held = result.targets.loc[conflicts["date"], "BTC_USD"]
    assert (held < 0.05).all()


def test_each_decision_reads_a_read_only_context_of_its_past(
    tmp_path: Path, market, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk serves every decision its rows up to t, read-only; deciding again on
    the served contexts gives the backtest's targets exactly."""
    policy = policy_file(
        tmp_path,
        '[target]\nbase = "sleeve_equal_risk"\ntarget_vol_annual = 0.1\n'
        'max_gross_leverage = 2.0\n[rebalance]\nfrequency = "weekly"\n'
        "[limits]\nmax_asset_weight = 0.4\n",
    )
    served: list[DecisionContext] = []
    decide = PolicyAllocator.decide

    def recording(self: PolicyAllocator, context: DecisionContext) -> Decision:
        served.append(context)
        return decide(self, context)

    monkeypatch.setattr(PolicyAllocator, "decide", recording)
    slice_ = sub_market(
        market, ["SPY", "TLT", "GLD", "BTC_USD"], "2017-01-01", "2019-12-31"
    )
    result = backtest(policy, slice_, start="2018-01-01")
    monkeypatch.undo()
    index = slice_.returns.index
    assert [c.date for c in served] == list(result.decisions.index)
    for context in served:
        assert context.date == index[context.row]
        assert context.returns.shape == (context.row + 1, 4)
        with pytest.raises(ValueError, match="read-only"):
            context.vol[0] = 0.0
    projected = [c for c in served if result.decisions.loc[c.date, "projected"]]
    assert projected  # the weight cap binds: the cvxpy step is exercised too
    # a fresh allocator fed the served contexts in order (its solvers warm-start
    # as the walk's did) decides exactly the backtest's targets
    again = PolicyAllocator(policy)
    for context in served:
        weights = again.decide(context).weights
        held = result.targets.loc[context.date, list(context.assets)].to_numpy()
        np.testing.assert_array_equal(weights, held, err_msg=str(context.date))


def test_a_context_holds_nothing_after_its_row(rng: np.random.Generator) -> None:
    """Perturbing every panel row after t leaves the context served at t equal."""
    n_rows, t = 60, 40
    index = pd.bdate_range("2024-01-01", periods=n_rows)
    returns = rng.normal(0.0, 0.01, (n_rows, 3))
    vol = np.full((n_rows, 3), 0.01)
    multipliers = np.ones((n_rows, 3))
    eligible = np.ones((n_rows, 3), dtype=bool)
    eligible[:, 2] = np.arange(n_rows) >= 30

    def served(
        returns: np.ndarray,
        vol: np.ndarray,
        multipliers: np.ndarray,
        eligible: np.ndarray,
    ) -> DecisionContext:
        panels = DecisionPanels(
            index,
            returns,
            vol,
            multipliers,
            eligible,
            ("SPY", "TLT", "BTC"),
            ("dm_equity", "rates", "crypto"),
            252.0,
        )
        correlation = EwmaCorrelation(3, 20.0)
        for row in returns[: t + 1]:
            correlation.update(row)
        holdings = np.array([0.5, 0.3, 0.2])
        return panels.serve(
            t, correlation, holdings, nav=1.1, peak=1.2, first_trade=False
        )

    base = served(returns, vol, multipliers, eligible)
    later = np.arange(n_rows)[:, None] > t
    moved = served(
        np.where(later, 0.2, returns),
        np.where(later, 0.5, vol),
        np.where(later, 0.0, multipliers),
        np.where(later, False, eligible),
    )
    assert base.returns.shape == (t + 1, 3)
    assert base.assets == ("SPY", "TLT", "BTC")
    assert base.drawdown == 1.0 - 1.1 / 1.2
    for part in fields(DecisionContext):
        value, other = getattr(base, part.name), getattr(moved, part.name)
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, other, err_msg=part.name)
        else:
            assert value == other, part.name
    assert not np.array_equal(
        served(
            np.where(later | (np.arange(n_rows)[:, None] == t), 0.2, returns),
            vol,
            multipliers,
            eligible,
        ).returns,
        base.returns,
    )  # the row t itself is served


# --- the baseline: the counterfactual run beside every backtest ------------------


@pytest.fixture(scope="module")
def recent(market):
    """The real file from 2024 on: the 2026 safe-haven episode and its warm-up."""
    prices = market.prices.loc["2024-01-01":].dropna(how="all", axis=1)
    return make_market(prices, source="recent", sleeves=market.sleeves)


def test_default_baseline_is_the_policy_without_its_overlays(recent) -> None:
    """Same walk, shared panels: equal to running the overlay-free spec alone."""
    policy = load_policy("safe-haven-risk-off")
    result = backtest(policy, recent, start="2025-06-01")
    baseline = result.baseline
    assert baseline is not None
    assert baseline.baseline is None
    assert baseline.policy == without_overlays(policy)
    assert baseline.policy.triggers == ()
    assert baseline.policy.target == policy.target
    assert baseline.policy.costs == policy.costs
    assert baseline.policy.rebalance == policy.rebalance
    assert result.baseline_note == (
        "safe-haven-risk-off without its overlays (triggers)"
    )
    assert not baseline.events["kind"].isin(["trigger_enter", "trigger_exit"]).any()
    assert "baseline" in result.timings
    alone = backtest(without_overlays(policy), recent, start="2025-06-01")
    pd.testing.assert_series_equal(baseline.returns, alone.returns, rtol=0, atol=0)
    pd.testing.assert_frame_equal(baseline.weights, alone.weights, rtol=0, atol=0)
    # the overlay cuts at the close of 2025-12-31 (its trading cost that day): the
    # two books are equal up to then
    differs = result.returns.ne(baseline.returns)
    assert differs.idxmax() == pd.Timestamp("2025-12-31")
    assert result.turnover.loc["2025-12-31"] > baseline.turnover.loc["2025-12-31"]


def test_every_overlay_is_switched_off() -> None:
    pension = load_policy("drawdown-controlled-pension")
    desk = load_policy("var-limited-desk")
    margin = load_policy("margin-account")
    assert overlays(pension) == ("drawdown_control",)
    assert overlays(desk) == ("limits.var_99_max", "limits.es_975_max")
    assert overlays(margin) == ("margin",)
    for policy in (pension, desk, margin):
        assert overlays(without_overlays(policy)) == ()
    assert without_overlays(desk).limits.sleeve_max_risk == desk.limits.sleeve_max_risk
    assert overlays(load_policy("vol-target-fund")) == ()
    for name in builtin_names("policies"):
        policy = load_policy(name)
        off = without_overlays(policy)
        # the policy stage's counterfactual, renamed; nothing left to switch off
        assert off == replace(
            counterfactual(policy), name=off.name, description=off.description
        )
        assert overlays(off) == ()
        assert (overlays(policy) == ()) == (counterfactual(policy) == policy)


def test_a_policy_without_overlays_is_its_own_baseline_run_once(
    recent, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    init = PolicyAllocator.__init__

    def counting(self: PolicyAllocator, policy: PolicySpec, *args) -> None:
        built.append(policy.name)
        init(self, policy, *args)

    monkeypatch.setattr(PolicyAllocator, "__init__", counting)
    result = backtest("vol-target-fund", recent, start="2026-01-01")
    assert built == ["vol-target-fund"]
    assert result.baseline is not None
    assert result.baseline.returns is result.returns
    assert result.baseline.baseline is None
    assert result.baseline_note == (
        "vol-target-fund has no overlays: it is its own baseline (run once)"
    )
    assert "baseline" not in result.timings
    total = result.attribution().iloc[-1]
    assert total["return_given_up"] == 0.0
    assert total["days_derisked"] == 0


def test_a_named_baseline_is_run_on_the_same_data(recent) -> None:
    """A different model and schedule: run on its own, with the same dates."""
    result = backtest(
        "safe-haven-risk-off", recent, start="2025-06-01", baseline="static-60-40"
    )
    assert result.baseline is not None
    assert result.baseline.policy.name == "static-60-40"
    assert result.baseline_note == "policy 'static-60-40' (named as baseline)"
    alone = backtest("static-60-40", recent, start="2025-06-01", baseline=None)
    pd.testing.assert_series_equal(result.baseline.returns, alone.returns)
    assert alone.baseline is None


def test_a_named_baseline_sharing_the_panels_walks_beside_the_policy(recent) -> None:
    core = load_policy("risk-parity-fund")
    policy = load_policy("safe-haven-risk-off")
    assert shares_panels(policy, core)
    result = backtest(policy, recent, start="2025-06-01", baseline=core)
    alone = backtest(core, recent, start="2025-06-01", baseline=None)
    pd.testing.assert_series_equal(result.baseline.returns, alone.returns)


def test_baseline_argument_is_checked(recent) -> None:
    with pytest.raises(ValueError, match="baseline: expected a PolicySpec"):
        run_backtest(load_policy("vol-target-fund"), recent, baseline="overlays")  # type: ignore[arg-type]


def test_the_baseline_does_not_look_ahead(recent) -> None:
    """Perturbing prices after a date leaves the baseline's returns up to it equal."""
    policy = load_policy("safe-haven-risk-off")
    cut = pd.Timestamp("2026-02-02")
    prices = recent.prices.copy()
    later = prices.index > cut
    rng = np.random.default_rng(3)
    shocks = np.exp(np.cumsum(0.02 * rng.standard_normal(later.sum())))
    prices.loc[later] = prices.loc[later].mul(shocks, axis=0)
    perturbed = make_market(prices, source="perturbed", sleeves=recent.sleeves)
    base = backtest(policy, recent, start="2025-06-01").baseline
    other = backtest(policy, perturbed, start="2025-06-01").baseline
    pd.testing.assert_series_equal(
        base.returns.loc[:cut], other.returns.loc[:cut], rtol=0, atol=0
    )
    assert not base.returns.loc[cut:].iloc[1:].equals(other.returns.loc[cut:].iloc[1:])
