import datetime
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest

import riskengine.policy.decision
from riskengine import default_market, load_policy
from riskengine.allocate import (
    CSV_COLUMNS,
    SCHEMA,
    SCHEMA_FILE,
    allocate,
    allocation_csv,
)
from riskengine.allocate import job as allocate_job
from riskengine.allocate.state import trigger_paths
from riskengine.backtest import run_backtest
from riskengine.backtest.accounting import drift
from riskengine.cli import main
from riskengine.data.prices import Market, load_market, make_market
from riskengine.errors import DataError, StaleDataError
from riskengine.output import dumps
from riskengine.specs import CostSpec, builtin_names

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DOC = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA_DOC)
BLANKED = ["GLD", "SLV", "SPY", "EEM", "HYG", "TLT"]


def valid(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as a job reads it (strict JSON), checked against the schema."""
    written = json.loads(dumps(payload))
    errors = [f"{e.json_path}: {e.message}" for e in VALIDATOR.iter_errors(written)]
    assert errors == []
    return written


@pytest.fixture(scope="module")
def market() -> Market:
    return default_market()


@pytest.fixture(scope="module")
def real_market(real_prices_path: Path) -> Market:
    return load_market(real_prices_path)


@pytest.fixture(scope="module")
def recent_market(real_market: Market) -> Market:
    """The real file from 2023 on: enough history for every window, quick to walk."""
    prices = real_market.prices.loc["2023-01-01":]
    return make_market(prices, source="recent", sleeves=real_market.asset_table)


@pytest.fixture(scope="module")
def safe_haven():
    return load_policy("safe-haven-risk-off")


@pytest.fixture(scope="module")
def full_real_run(real_market: Market, safe_haven):
    return run_backtest(safe_haven, real_market, baseline=None)


def test_the_schema_is_draft_2020_12_and_ships_inside_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA_DOC)
    assert SCHEMA_DOC["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA_DOC["properties"]["schema"] == {"const": SCHEMA}
    assert SCHEMA == "riskengine.allocation/2"
    # the wheel packs the whole riskengine/ folder (hatch: packages = ["riskengine"])
    assert SCHEMA_FILE.is_relative_to(REPO_ROOT / "riskengine")
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'packages = ["riskengine"]' in pyproject


def test_the_schema_refuses_a_zero_vol_without_a_reason_and_nan_weights(
    market: Market,
) -> None:
    payload = valid(allocate(load_policy("static-60-40"), market, asof="2025-06-06"))
    broken = json.loads(json.dumps(payload))
    broken["risk"]["holdings"]["ex_ante_vol_annual"] = None
    assert not VALIDATOR.is_valid(broken)  # null needs its reason
    broken["risk"]["holdings"]["unavailable"] = "because"
    broken["risk"]["holdings"]["risk_contributions"] = None
    assert VALIDATOR.is_valid(broken)
    broken["weights"]["target"]["assets"]["SPY"] = None  # NaN as strict JSON writes it
    assert not VALIDATOR.is_valid(broken)


@pytest.mark.parametrize("asof", ["2025-06-05", "2025-06-06", "2026-02-20"])
def test_allocation_equals_the_backtest_decision_at_that_close(
    market, asof: str
) -> None:
    """An allocation job on data up to `asof` holds what the full backtest held then.

    Bit for bit: allocate is the backtest's walk stopped at `asof`, and its trades
    start from the holdings the walk's own accounting drifted to that close.
    """
    policy = load_policy("safe-haven-risk-off")
    payload = valid(allocate(policy, market, asof=asof))
    full = run_backtest(policy, market, baseline=None)
    assert_is_the_run(payload, full, asof)
    assert payload["data"]["simulated"] is True
    assert payload["risk"]["decision"]["risk_contributions"] is not None
    assert sum(payload["risk"]["decision"]["risk_contributions"].values()) == (
        pytest.approx(1.0, abs=1e-12)
    )


def assert_is_the_run(payload: dict[str, Any], full, used: str) -> None:
    when = pd.Timestamp(used)
    assert payload["schema"] == SCHEMA
    assert payload["asof_used"] == payload["data_date"] == used
    held = full.weights.loc[when]
    assert payload["weights"]["target"]["assets"] == {
        a: float(w) for a, w in held.items()
    }
    assert payload["rebalance_day"] == bool(full.turnover.loc[when] > 0)
    decided = full.decisions.loc[:when]
    assert payload["decision"]["date"] == str(decided.index[-1].date())
    risk = payload["risk"]["decision"]
    assert risk["ex_ante_vol_annual"] == decided["ex_ante_vol_annual"].iloc[-1]
    shares = full.risk_contributions.loc[:when].iloc[-1]
    assert risk["risk_contributions"] == {a: float(s) for a, s in shares.items()}
    traded = np.abs(list(payload["trades"].values())).sum()
    assert traded == pytest.approx(full.turnover.loc[when], abs=1e-12)
    target = payload["weights"]["target"]
    assert target["gross_leverage"] == pytest.approx(np.abs(held).sum(), abs=1e-12)
    assert target["net_leverage"] == pytest.approx(held.sum(), abs=1e-12)
    assert target["cash"] == pytest.approx(1 - held.sum(), abs=1e-12)


@pytest.mark.parametrize(
    ("asof", "used"),
    [
        ("2026-01-29", "2026-01-29"),
        ("2026-02-04", "2026-02-04"),
        ("2026-02-05", "2026-02-05"),
        ("2026-01-31", "2026-01-30"),  # a Saturday
        ("2026-01-19", "2026-01-16"),  # Martin Luther King Jr. Day
        ("2026-04-02", "2026-04-02"),  # the eve of Good Friday closes its week
    ],
)
def test_golden_dates_on_the_real_file_equal_the_backtest(
    real_market: Market, safe_haven, full_real_run, asof: str, used: str
) -> None:
    payload = valid(allocate(safe_haven, real_market, asof=asof))
    assert payload["asof_requested"] == asof
    assert_is_the_run(payload, full_real_run, used)
    moved = [w for w in payload["warnings"] if w["kind"] == "asof_moved"]
    assert len(moved) == (asof != used)
    if moved:
        assert f"{asof} is no XNYS session" in moved[0]["message"]
    assert payload["calendar"] == "XNYS"
    assert payload["stale"] == {"max_price_age_days": 0, "action": "stop", "assets": []}
    prices = payload["prices"]
    assert prices["GLD"]["last"] == used
    assert prices["IEF"] == {
        "last": "2025-09-26",
        "age_days": (pd.Timestamp(used) - pd.Timestamp("2025-09-26")).days,
        "age_trading_days": prices["IEF"]["age_trading_days"],
        "calendar": "XNYS",
        "judged": False,
    }
    assert prices["BTC_USD"]["calendar"] == "every day"
    assert payload["sleeves"]["VIX"] == "volatility"
    assert "VIX" not in payload["weights"]["target"]["assets"]


@pytest.mark.parametrize("name", builtin_names("policies"))
def test_every_builtin_policy_answers_within_the_contract(
    recent_market: Market, name: str
) -> None:
    policy = load_policy(name)
    payload = valid(allocate(policy, recent_market, asof="2026-02-04"))
    assert payload["policy"]["name"] == name
    assert len(payload["triggers"]) == len(policy.triggers)
    for book in payload["weights"].values():
        assert sum(book["sleeves"].values()) == pytest.approx(book["net_leverage"])
        assert book["cash"] == pytest.approx(1 - book["net_leverage"])
    holdings = payload["risk"]["holdings"]
    assert holdings["ex_ante_vol_annual"] > 0
    assert sum(holdings["risk_contributions"].values()) == pytest.approx(1.0)


def test_on_2026_02_04_the_overlay_is_risk_off_since_2025_12_31(
    real_market: Market, safe_haven
) -> None:
    payload = valid(allocate(safe_haven, real_market, asof="2026-02-04"))
    (trigger,) = payload["triggers"]
    assert trigger["name"] == "safe-haven-vol-spike"
    assert trigger["risk_off"] is True
    assert trigger["since"] == "2025-12-31"
    assert trigger["signal"]["kind"] == "vol_ratio"
    assert trigger["signal"]["value"] > trigger["enter_above"] == 2.5
    assert trigger["exit_below"] == 1.5
    # 2026-01-02 .. 2026-02-04 on the walk's calendar (no 2026-01-01, 2026-01-19)
    assert trigger["days_in_state"] == 23
    assert trigger["multiplier"] == trigger["scale"] == 0.5
    assert trigger["reentry"] == {
        "in_progress": False,
        "progress": 0.0,
        "days_left": 0,
        "reentry_days": 10,
    }
    sleeves = payload["weights"]["target"]["sleeves"]
    assert set(sleeves) == set(payload["sleeves"].values()) - {"volatility"}


def test_trigger_states_follow_the_walks_own_trigger_events(
    real_market: Market, safe_haven, full_real_run
) -> None:
    (path,) = trigger_paths(safe_haven, full_real_run)
    events = full_real_run.events
    walked = events[events["kind"].isin(["trigger_enter", "trigger_exit"])]
    assert [(e.date, e.kind) for e in path.events] == list(
        zip(walked["date"], walked["kind"], strict=True)
    )
    assert len(path.events) > 10


def test_holdings_risk_on_a_decision_day_is_the_decisions_own(
    real_market: Market, safe_haven, full_real_run
) -> None:
    # the Friday 2026-01-30 is a decision traded the same close: holdings = targets
    assert pd.Timestamp("2026-01-30") in full_real_run.decisions.index
    payload = valid(allocate(safe_haven, real_market, asof="2026-01-30"))
    holdings, decision = payload["risk"]["holdings"], payload["risk"]["decision"]
    assert holdings["ex_ante_vol_annual"] == pytest.approx(
        decision["ex_ante_vol_annual"], rel=1e-9
    )
    for asset, share in decision["risk_contributions"].items():
        assert holdings["risk_contributions"][asset] == pytest.approx(share, abs=1e-9)


def blanked(market: Market, columns: list[str], days: int, end: str) -> Market:
    """`market` up to `end`, the last `days` exchange closes of `columns` removed."""
    prices = market.prices.loc[:end].copy()
    closes = prices.index[prices["USO"].notna()][-days:]
    prices.loc[closes, columns] = np.nan
    return make_market(prices, source="blanked.csv", sleeves=market.asset_table)


def test_prices_blanked_for_four_days_stop_the_job_naming_each(
    recent_market: Market, safe_haven
) -> None:
    stale = blanked(recent_market, BLANKED, 4, "2026-02-06")
    with pytest.raises(StaleDataError) as raised:
        allocate(safe_haven, stale, asof="latest")
    message = str(raised.value)
    assert raised.value.exit_code == 10
    assert message.startswith("blanked.csv: stale prices at 2026-02-06: ")
    for asset in BLANKED:
        assert f"{asset} last 2026-02-02 (4 trading days old)" in message
    assert "accepts prices up to 0 trading days old" in message
    assert "--stale drop" in message
    assert "USO" not in message


def test_stale_assets_dropped_or_held_when_the_job_says_so(
    recent_market: Market, safe_haven
) -> None:
    stale = blanked(recent_market, BLANKED, 4, "2026-02-06")
    dropped = valid(allocate(safe_haven, stale, asof="2026-02-06", stale="drop"))
    assert dropped["stale"]["action"] == "drop"
    assert [a["asset"] for a in dropped["stale"]["assets"]] == BLANKED
    assert {a["treatment"] for a in dropped["stale"]["assets"]} == {"dropped"}
    assert set(dropped["weights"]["target"]["assets"]).isdisjoint(BLANKED)
    kept = [a for a in stale.assets if a not in BLANKED]
    alone = make_market(stale.prices[kept], source="kept", sleeves=stale.asset_table)
    without = run_backtest(safe_haven, alone, baseline=None).weights.iloc[-1]
    assert dropped["weights"]["target"]["assets"] == {
        a: float(w) for a, w in without.items()
    }
    # the watched safe-haven sleeve is gone with GLD and SLV: the trigger has no signal
    assert dropped["triggers"][0]["signal"]["value"] is None

    held = valid(allocate(safe_haven, stale, asof="2026-02-06", stale="hold"))
    assert held["stale"]["action"] == "hold"
    current = held["weights"]["current"]["assets"]
    target = held["weights"]["target"]["assets"]
    for asset in BLANKED:
        assert target[asset] == current[asset]
        assert held["trades"][asset] == 0.0
    assert {w["kind"] for w in held["warnings"]} >= {"stale_held"}


def test_btc_and_eth_without_a_price_on_the_files_last_day_stop_the_job(
    real_market: Market, safe_haven
) -> None:
    with pytest.raises(StaleDataError, match="stale prices at 2026-08-21") as raised:
        allocate(safe_haven, real_market, asof="2026-08-21")
    message = str(raised.value)
    assert "BTC_USD last 2026-08-20 (1 trading day old)" in message
    assert "ETH_USD last 2026-08-20 (1 trading day old)" in message
    assert "LQD" not in message  # its feed ended in July: out of the universe since


def test_data_four_months_old_are_stale_at_the_default_asof_today(
    recent_market: Market, safe_haven, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = make_market(
        recent_market.prices.loc[:"2026-04-17"],
        source="old.csv",
        sleeves=recent_market.asset_table,
    )
    monkeypatch.setattr(allocate_job, "_today", lambda: datetime.date(2026, 8, 20))
    with pytest.raises(StaleDataError, match=r"old.csv: stale prices at 2026-08-20:"):
        allocate(safe_haven, old)
    # told what to do, it answers with the last close it has, and says so
    payload = valid(allocate(safe_haven, old, stale="hold"))
    assert payload["asof_used"] == "2026-08-20"
    assert payload["data_date"] == "2026-04-17"
    assert payload["rebalance_day"] is False
    assert set(payload["trades"].values()) == {0.0}
    assert "data_behind" in {w["kind"] for w in payload["warnings"]}


def test_a_solver_hold_reports_the_holdings_vol_and_no_target_risk(
    tmp_path: Path, market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    import riskengine.policy.optimizers as optimizers

    path = tmp_path / "held.toml"
    path.write_text(
        'name = "held"\ndescription = "d"\nsource = "s"\nmodel = "ewma-0.94"\n'
        '[target]\nbase = "inverse_vol"\ntarget_vol_annual = 0.10\n'
        "max_gross_leverage = 1.5\n"
        '[limits]\nmax_asset_weight = 0.2\non_solver_failure = "hold"\n'
        '[rebalance]\nfrequency = "weekly"\n'
    )
    policy = load_policy(path)
    solve = optimizers.ConstrainedProblem.solve
    decide = riskengine.policy.decision.PolicyAllocator.decide
    deciding = [pd.Timestamp("1900-01-01")]

    def fails_after_june_2025(self, *args, **kwargs):
        if deciding[0] >= pd.Timestamp("2025-06-01"):
            raise optimizers.InfeasibleError("constrained allocation: no solution")
        return solve(self, *args, **kwargs)

    def dated(self, context):
        deciding[0] = context.date
        return decide(self, context)

    monkeypatch.setattr(optimizers.ConstrainedProblem, "solve", fails_after_june_2025)
    monkeypatch.setattr(riskengine.policy.decision.PolicyAllocator, "decide", dated)
    payload = valid(allocate(policy, market, asof="2025-06-06"))
    decision = payload["risk"]["decision"]
    assert decision["date"] == "2025-06-06"
    assert decision["ex_ante_vol_annual"] is None
    assert decision["risk_contributions"] is None
    assert "previous weights held" in decision["unavailable"]
    holdings = payload["risk"]["holdings"]
    assert payload["weights"]["target"]["gross_leverage"] > 0.5
    assert 0.0 < holdings["ex_ante_vol_annual"] < 0.12
    assert sum(holdings["risk_contributions"].values()) == pytest.approx(1.0)


def test_csv_has_one_row_per_asset_with_the_jsons_figures(market: Market) -> None:
    payload = valid(allocate(load_policy("static-60-40"), market, asof="2025-06-06"))
    rows = allocation_csv(payload).splitlines()
    assert rows[0].split(",") == list(CSV_COLUMNS)
    assert len(rows) == 1 + len(payload["prices"])
    spy = next(r for r in rows if ",SPY," in r).split(",")
    column = dict(zip(CSV_COLUMNS, spy, strict=True))
    assert (
        float(column["target_weight"]) == payload["weights"]["target"]["assets"]["SPY"]
    )
    assert column["asof_used"] == "2025-06-06"


def test_cli_writes_json_atomically_and_refuses_stale_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "alloc" / "today.json"
    assert main(["allocate", "--asof", "2026-08-21", "--out", str(out)]) == 0
    payload = valid(json.loads(out.read_text()))
    assert payload["asof_used"] == "2026-08-21"
    assert sum(payload["weights"]["target"]["assets"].values()) == pytest.approx(
        1 - payload["weights"]["target"]["cash"], rel=1e-12
    )
    assert [p.name for p in out.parent.iterdir()] == ["today.json"]
    stale = tmp_path / "stale.json"
    assert main(["allocate", "--asof", "2026-09-30", "--out", str(stale)]) == 10
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "stale prices at 2026-09-30: GLD last 2026-08-21 (27 trading days" in err
    assert not stale.exists()
    assert pd.Timestamp(payload["decision"]["date"]) <= pd.Timestamp("2026-08-21")


def test_cli_stale_exit_code_and_drop_on_a_price_file(
    tmp_path: Path,
    recent_market: Market,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stale = blanked(recent_market, BLANKED, 4, "2026-02-06")
    prices = tmp_path / "prices.csv"
    stale.prices.to_csv(prices)
    args = ["allocate", "--prices", str(prices), "--policy", "safe-haven-risk-off"]
    assert main([*args, "--asof", "latest"]) == StaleDataError.exit_code == 10
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"{prices}: stale prices at 2026-02-06: GLD last 2026-02-02" in err
    assert main([*args, "--asof", "2026-02-07", "--stale", "drop"]) == 0
    payload = valid(json.loads(capsys.readouterr().out))
    assert payload["asof_requested"] == "2026-02-07"
    assert payload["asof_used"] == "2026-02-06"
    assert [a["asset"] for a in payload["stale"]["assets"]] == BLANKED


def test_drift_carries_holdings_and_charges_borrowed_cash_the_spread() -> None:
    costs = CostSpec(cash_rate_annual=0.0365, financing_spread_annual=0.0365)
    moves = np.array([0.10, -0.05])
    # 150% gross: 50% borrowed at 7.3% a year for 2 days, 2e-4 * -0.5 = -1e-4
    held = np.array([1.0, 0.5])
    day = drift(held, moves, 2 / 365, costs)
    assert day.financing == pytest.approx(-0.5 * 0.073 * 2 / 365, rel=1e-15)
    assert day.gross == pytest.approx(0.1 - 0.025 + day.financing, rel=1e-15)
    np.testing.assert_allclose(
        day.weights, [1.1 / (1 + day.gross), 0.475 / (1 + day.gross)], rtol=1e-15
    )
    # 20% cash earns the cash rate alone, and weights follow the new NAV
    calm = drift(np.array([0.5, 0.3]), moves, 1 / 365, costs)
    assert calm.financing == pytest.approx(0.2 * 0.0365 / 365, rel=1e-15)
    assert 1.0 - calm.weights.sum() == pytest.approx(
        (0.2 * (1 + 0.0365 / 365)) / (1 + calm.gross), rel=1e-12
    )


def test_the_command_line_offers_the_apis_stale_actions_and_builtin_specs() -> None:
    from riskengine import cli
    from riskengine.allocate import STALE_ACTIONS
    from riskengine.specs import builtin_names

    assert cli.STALE_ACTIONS == STALE_ACTIONS
    for kind in ("policies", "models"):
        assert cli._builtin_names(kind) == builtin_names(kind)


def test_an_unknown_stale_action_is_refused_before_any_walk(market: Market) -> None:
    with pytest.raises(DataError, match=r"stale: expected one of 'stop', 'drop', "):
        allocate(load_policy("static-60-40"), market, stale="ignore")


@pytest.mark.parametrize("asof", ["04-02-2026", "yesterday", "2026-02-30"])
def test_a_date_the_api_cannot_read_is_refused_with_the_form(
    market: Market, asof: str
) -> None:
    with pytest.raises(DataError, match=r"asof: .*YYYY-MM-DD|asof: .*calendar date"):
        allocate(load_policy("static-60-40"), market, asof=asof)


def test_a_trigger_that_can_cut_no_held_sleeve_is_a_warning_and_an_event(
    market: Market,
) -> None:
    """A universe leaving out every sleeve a trigger cuts switched the risk control
    off without a word; it is now said to the job and in the backtest's events."""
    policy = load_policy(
        "safe-haven-risk-off",
        {"universe.sleeves": ["dm_equity", "rates", "safe_haven"]},
    )
    payload = valid(allocate(policy, market, asof="2026-02-04"))
    inert = [w for w in payload["warnings"] if w["kind"] == "trigger_no_effect"]
    assert [w["message"] for w in inert] == [
        "safe-haven-vol-spike: the policy holds no asset in crypto, em_equity, "
        "credit: the trigger changes nothing"
    ]
    events = run_backtest(policy, market, start="2025-06-02", baseline=None).events
    assert (events["kind"] == "trigger_no_effect").sum() == 1
    usual = valid(
        allocate(load_policy("safe-haven-risk-off"), market, asof="2026-02-04")
    )
    assert "trigger_no_effect" not in {w["kind"] for w in usual["warnings"]}


def test_a_watched_asset_not_yet_priced_is_a_data_error_not_a_stale_feed(
    market: Market,
) -> None:
    """Exit 10 (stale) tells a job to retry; before an asset's first price no
    retry brings one, so it is a data error (exit 3) naming that first price."""
    prices = market.prices.copy()
    prices.loc[:"2019-12-31", "GLD"] = np.nan
    late_gold = make_market(prices, source="late gold", sleeves=market.asset_table)
    policy = load_policy("safe-haven-risk-off")
    with pytest.raises(DataError, match=r"GLD first priced 2020-01-0\d") as info:
        allocate(policy, late_gold, asof="2019-06-03")
    assert not isinstance(info.value, StaleDataError)
    dropped = valid(allocate(policy, late_gold, asof="2019-06-03", stale="drop"))
    assert "GLD" not in dropped["weights"]["target"]["assets"]


def test_a_job_with_no_asset_to_hold_is_warned_of_its_all_cash_target(
    market: Market,
) -> None:
    """The backtest of such a policy exits 8 (never invested); the job's all-cash
    target came with no word."""
    policy = load_policy("safe-haven-risk-off", {"rebalance.min_history_days": 100000})
    payload = valid(allocate(policy, market, asof="2026-02-04"))
    assert payload["weights"]["target"]["cash"] == 1.0
    kinds = [w["kind"] for w in payload["warnings"]]
    assert kinds.count("nothing_eligible") == 1
    usual = valid(
        allocate(load_policy("safe-haven-risk-off"), market, asof="2026-02-04")
    )
    assert "nothing_eligible" not in {w["kind"] for w in usual["warnings"]}
