"""Point in time: data cut at a date change nothing at or before it.

For a policy on the real file, a run on the data cut at a date (the file an
allocation job has that evening) must decide, target, hold and log exactly what
the run on the whole file did up to that date, and `allocate` on the cut data must
answer exactly the whole run's holdings at that close. Holiday eves are the test
that bit: the week's last session is known from the exchange calendar, not from
the next row of the data. The data screen's findings (``screen_*`` events) are
events like any other: each is dated when the prices up to it show it.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskengine import load_market, load_model, load_policy, make_market
from riskengine.backtest import BacktestResult, run_backtest
from riskengine.data.prices import Market
from riskengine.specs import PolicySpec
from riskengine.specs.files import builtin_names

HOLIDAY_EVES = [
    "2025-04-17",  # Thursday before Good Friday
    "2026-04-02",  # Thursday before Good Friday
    "2024-03-28",  # Thursday before Good Friday, and March's last session
    "2025-12-24",  # Christmas Eve
    "2024-11-27",  # the day before Thanksgiving
    "2025-07-03",  # Thursday before Independence Day
    "2026-07-02",  # Thursday before Independence Day observed (Friday 3 July)
    "2024-07-03",  # the day before Independence Day (a Thursday)
    "2025-01-08",  # the day before a national day of mourning (exchange shut)
]
CUTS = [
    *HOLIDAY_EVES,
    "2024-12-31",  # year end, Tuesday
    "2025-05-23",  # Friday before Memorial Day
    "2025-08-29",  # Friday before Labor Day, August's last session
    "2025-09-30",  # month end, Tuesday
    "2025-10-03",  # Friday; IEF has stopped printing
    "2025-11-28",  # Friday after Thanksgiving, November's last session
    "2026-01-16",  # Friday before Martin Luther King Jr. Day
    "2026-02-27",  # February's last session
    "2026-03-11",  # an ordinary Wednesday
    "2026-06-30",  # month end, Tuesday
    "2026-08-14",  # an ordinary Friday
]
RESULT_FRAMES = (
    "weights",
    "targets",
    "decisions",
    "risk_contributions",
    "volatility",
    "returns",
    "turnover",
    "trading_costs",
    "financing",
)
"""Everything a run decided, targeted, held and earned, day by day."""
QUICK_START = "2023-01-02"
"""First date of the runs of the default (fast) subset."""


@pytest.fixture(scope="module")
def real_market(real_prices_path: Path) -> Market:
    return load_market(real_prices_path)


def cut(market: Market, date: str) -> Market:
    """The market an allocation job would have at the close of `date`."""
    return make_market(
        market.prices.loc[:date], source=market.source, sleeves=market.asset_table
    )


def decisions_events(result: BacktestResult, date: str) -> pd.DataFrame:
    """The run's events up to `date`."""
    events = result.events
    kept = events["date"] <= date
    return events[kept].astype({"details": str}).reset_index(drop=True)


def assert_same_up_to(full: BacktestResult, short: BacktestResult, date: str) -> None:
    """`short` (run on data cut at `date`) is bit for bit `full` up to `date`."""
    assert short.weights.index[-1] == pd.Timestamp(date)
    for name in RESULT_FRAMES:
        whole, part = getattr(full, name).loc[:date], getattr(short, name)
        assert whole.equals(part), f"{name} differs at or before {date}"
    pd.testing.assert_frame_equal(
        decisions_events(full, date), decisions_events(short, date)
    )


def assert_allocation_is_the_run(
    payload: dict[str, Any], full: BacktestResult, date: str
) -> None:
    """An allocation at the close of `date` is what the whole run held then."""
    when = pd.Timestamp(date)
    held = full.weights.loc[when]
    assert payload["asof_used"] == date
    target = payload["weights"]["target"]["assets"]
    assert target == {a: float(w) for a, w in held.items()}
    assert payload["rebalance_day"] == bool(full.turnover.loc[when] > 0)
    decided = full.decisions.loc[:when]
    assert payload["decision"]["date"] == str(decided.index[-1].date())
    risk = payload["risk"]["decision"]
    assert risk["ex_ante_vol_annual"] == decided["ex_ante_vol_annual"].iloc[-1]
    np.testing.assert_array_equal(
        list(risk["risk_contributions"].values()),
        full.risk_contributions.loc[:when].iloc[-1].to_numpy(),
    )
    if payload["rebalance_day"]:
        traded = np.abs(list(payload["trades"].values())).sum()
        assert traded == full.turnover.loc[when]
    today = decisions_events(full, date)
    today = today[today["date"] == when]
    assert payload["events"] == [
        {"kind": e.kind, "subject": e.subject, "message": e.message}
        for e in today.itertuples()
    ]


@pytest.mark.parametrize("name", ["risk-parity-fund", "static-60-40"])
def test_cutting_the_data_changes_nothing_before_the_cut(
    real_market: Market, name: str
) -> None:
    policy = load_policy(name)
    full = run_backtest(policy, real_market, start=QUICK_START)
    for date in [*HOLIDAY_EVES[:5], "2025-08-29", "2026-02-27"]:
        short = run_backtest(policy, cut(real_market, date), start=QUICK_START)
        assert_same_up_to(full, short, date)


@pytest.mark.parametrize("asof", ["2026-04-02", "2025-04-17"])
def test_allocate_on_a_holiday_eve_rebalances_as_the_backtest_does(
    real_market: Market, asof: str
) -> None:
    # the Thursday before Good Friday closes its week: the weekly risk-parity fund
    # rebalances there, whether or not the data go on to the next Monday
    allocate = importlib.import_module("riskengine.allocate").allocate
    policy = load_policy("risk-parity-fund")
    full = run_backtest(policy, real_market)
    assert pd.Timestamp(asof) in full.decisions.index
    for market in (cut(real_market, asof), real_market):
        payload = allocate(policy, market, asof=asof)
        assert payload["rebalance_day"] is True
        assert payload["decision"]["date"] == asof
        assert_allocation_is_the_run(payload, full, asof)


def test_refit_dates_on_rebalance_follow_the_calendar(real_market: Market) -> None:
    # GARCH refits at each rebalance: the Thursday before Good Friday is one, and
    # the forecasts made there are the same whether or not the data go on
    model = replace(load_model("garch11-t"), refit_on="rebalance")
    policy = replace(load_policy("risk-parity-fund"), model=model)
    assets = ["SPY", "TLT", "GLD"]
    market = make_market(
        real_market.prices[assets], source="real", sleeves=real_market.asset_table
    )
    start = "2025-09-01"
    full = run_backtest(policy, market, start=start)
    for date in ["2026-04-02", "2026-03-27"]:
        short = run_backtest(policy, cut(market, date), start=start)
        assert_same_up_to(full, short, date)


@pytest.mark.slow
@pytest.mark.parametrize("name", builtin_names("policies"))
def test_every_policy_is_point_in_time_on_the_real_file(
    real_market: Market, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 20 cuts: the cut run is the whole run up to the cut; so is `allocate`."""
    module = importlib.import_module("riskengine.allocate.job")
    walks: list[BacktestResult] = []

    def recorded(policy: PolicySpec, market: Market, **kwargs: Any) -> BacktestResult:
        walks.append(run_backtest(policy, market, **kwargs))
        return walks[-1]

    # allocate's own walk, kept to compare with the whole run (one walk per cut)
    monkeypatch.setattr(module, "run_backtest", recorded)
    policy = load_policy(name)
    full = run_backtest(policy, real_market)
    # The job tolerates the real file's gaps (IEF stops printing on 2025-09-26):
    # staleness stops a job (tests/test_allocate.py); here only the decision counts.
    job_policy = dataclasses.replace(
        policy, rebalance=dataclasses.replace(policy.rebalance, max_price_age_days=21)
    )
    for date in CUTS:
        payload = module.allocate(job_policy, cut(real_market, date), asof=date)
        assert_same_up_to(full, walks[-1], date)
        assert_allocation_is_the_run(payload, full, date)
