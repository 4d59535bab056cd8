"""Today's target weights for an allocation job, as versioned JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from riskengine.backtest import BacktestResult, run_backtest
from riskengine.backtest.accounting import drift
from riskengine.calendar import accrual_fractions
from riskengine.data.prices import SIMULATED_NOTE, Market
from riskengine.errors import DataError
from riskengine.output import dumps, write_json_file
from riskengine.results.provenance import versions
from riskengine.specs import PolicySpec

SCHEMA = "riskengine.allocation/1"


def allocate(
    policy: PolicySpec, market: Market, *, asof: str | pd.Timestamp | None = None
) -> dict[str, Any]:
    """The weights to hold after the close of `asof`, and the trades to get there.

    The policy is walked forward on data up to `asof` (never beyond), so the answer is
    exactly the backtest's decision at that close: a new target on a decision day,
    the drifted holdings otherwise.

    Parameters
    ----------
    policy : PolicySpec
        The policy.
    market : Market
        Validated prices.
    asof : str or Timestamp, optional
        The close to decide at (default: the last date of the data).

    Returns
    -------
    dict
        JSON-ready: schema, asof, policy, weights, trades, whether it is a rebalance
        day, ex-ante vol, the latest targets' shares of ex-ante variance by asset,
        today's events, what the data screen recorded (counts by kind), data
        fingerprint, versions.

    Raises
    ------
    DataError
        If `asof` is not a trading date of the data (stale or future input), or
        the data screen stops on the prices up to it.
    """
    calendar = market.returns.index
    date = calendar[-1] if asof is None else pd.Timestamp(asof)
    if date not in calendar:
        last = calendar[calendar <= date]
        seen = (
            f"last trading date on or before it is {last[-1].date()}"
            if len(last)
            else "no data before it"
        )
        raise DataError(
            f"{market.source}: --asof {date.date()} is not a trading date of the data "
            f"({seen}): stale or future input"
        )
    result = run_backtest(policy, market, end=date)
    held = result.weights.iloc[-1]
    rebalance = bool(result.turnover.iloc[-1] > 0)
    trades = held - _pre_trade_holdings(result, market, policy)
    decision = result.decisions.iloc[-1]
    today = result.events[result.events["date"] == date]
    return {
        "schema": SCHEMA,
        "asof": str(date.date()),
        "policy": policy.name,
        "simulated": market.simulated,
        "note": SIMULATED_NOTE if market.simulated else "",
        "rebalance_day": rebalance,
        "weights": {a: float(w) for a, w in held.items()},
        "trades": {a: float(w) for a, w in trades.items()} if rebalance else {},
        "cash": float(1.0 - held.sum()),
        "ex_ante_vol_annual": float(decision["ex_ante_vol_annual"]),
        "decided_at": str(result.decisions.index[-1].date()),
        "target_risk_contributions": {
            a: float(share) for a, share in result.risk_contributions.iloc[-1].items()
        },
        "events": [
            {"kind": e.kind, "subject": e.subject, "message": e.message}
            for e in today.itertuples()
        ],
        "screen": result.screen.to_dict() if result.screen else None,
        "data": {"source": market.source, "sha256": market.fingerprint},
        "versions": versions(),
    }


def _pre_trade_holdings(
    result: BacktestResult, market: Market, policy: PolicySpec
) -> pd.Series:
    """Yesterday's holdings carried through today's returns: where a trade starts.

    The walk's own accounting (`backtest.accounting.drift`) on the walk's inputs.
    """
    weights = result.weights
    if len(weights) < 2:
        return weights.iloc[-1] * 0.0
    date = weights.index[-1]
    moves = market.returns.loc[date, weights.columns].fillna(0.0).to_numpy(float)
    accrual = float(accrual_fractions(weights.index[-2:])[-1])
    day = drift(weights.iloc[-2].to_numpy(float), moves, accrual, policy.costs)
    return pd.Series(day.weights, index=weights.columns)


def is_allocation(payload: Any) -> bool:
    """Whether parsed JSON is an allocation riskengine wrote (any schema version)."""
    return isinstance(payload, dict) and str(payload.get("schema", "")).startswith(
        SCHEMA.partition("/")[0] + "/"
    )


def write_json(payload: dict[str, Any], path: str | Path) -> None:
    """Write the allocation as strict JSON to `path`, atomically.

    Raises
    ------
    OutputError
        If `path` is something other than a riskengine allocation (a folder, a
        user's file, a link), or cannot be written; it is then left as it was.
    """
    write_json_file(path, dumps(payload) + "\n", is_allocation, "allocation")
