"""Today's target weights for an allocation job, as versioned JSON (the contract).

The payload follows the JSON Schema shipped in the package
(``riskengine/schemas/allocation.schema.json``, `SCHEMA_FILE`); its ``schema``
field names the version (`SCHEMA`). A job asks for a calendar date; it is answered
at the last session on or before it, from data up to that close only, and stops
with `StaleDataError` when a price the decision rests on is older than the policy
accepts, unless the job says to drop or hold those assets.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from riskengine.allocate.state import (
    binding_limits,
    holdings_risk,
    trigger_states,
)
from riskengine.backtest import BacktestResult, run_backtest
from riskengine.backtest.accounting import drift
from riskengine.backtest.schedule import watched_assets
from riskengine.calendar import accrual_fractions
from riskengine.data.dates import iso_date
from riskengine.data.prices import SIMULATED_NOTE, Market, make_market
from riskengine.data.staleness import JobCalendar, PriceAge, price_ages
from riskengine.errors import DataError, StaleDataError
from riskengine.output import dumps, write_json_file
from riskengine.results.provenance import versions
from riskengine.specs import PolicySpec

SCHEMA = "riskengine.allocation/2"
"""The payload's version; a change of its fields changes the number."""
SCHEMA_FILE = Path(__file__).parents[1] / "schemas" / "allocation.schema.json"
TRIGGER_WARNINGS = ("trigger_no_data", "trigger_no_effect")
"""Events of the run that are warnings to a job: a trigger that never fires, or
that changes nothing (a risk control switched off)."""
"""The JSON Schema (draft 2020-12) every payload validates against."""
LATEST = "latest"
"""The `asof` that names the data's last date."""

StaleAction = Literal["stop", "drop", "hold"]
"""What a job does with stale assets: stop (`StaleDataError`), allocate without
them, or keep their current weights."""
STALE_ACTIONS: tuple[StaleAction, ...] = ("stop", "drop", "hold")


@dataclass(frozen=True)
class _Job:
    """One walk stopped at the job's close, and where its trades start."""

    market: Market
    result: BacktestResult
    current: pd.Series
    ages: dict[str, PriceAge]
    judged: tuple[str, ...]
    stale: tuple[str, ...]


def allocate(
    policy: PolicySpec,
    market: Market,
    *,
    asof: str | datetime.date | None = None,
    stale: StaleAction = "stop",
) -> dict[str, Any]:
    """The weights to hold after the close of `asof`, the trades, and the state.

    The policy is walked forward on data up to the close (never beyond), so the
    answer is exactly the backtest's decision at that close: a new target on a
    decision day, the drifted holdings otherwise.

    Parameters
    ----------
    policy : PolicySpec
        The policy.
    market : Market
        Validated prices.
    asof : str or date, optional
        A calendar date ``YYYY-MM-DD``, or ``"latest"`` for the data's last date.
        Default: today (the machine's local date), or the last date of simulated
        data. A date that is no session of the policy's calendar (a weekend, a
        holiday) is answered at the last session before it; both are reported.
    stale : {"stop", "drop", "hold"}
        What to do when an asset the decision rests on (held before or after the
        close's trades, or watched by a trigger) has no price within
        ``rebalance.max_price_age_days`` trading days of the close: stop, drop
        those assets from the data and walk again, or keep their current weights
        (the difference goes to cash). Recorded in the payload.

    Returns
    -------
    dict
        JSON-ready, valid against `SCHEMA_FILE`.

    Raises
    ------
    StaleDataError
        With ``stale="stop"``, naming each stale asset and its last price date.
    DataError
        If `asof` or `stale` is none of the values above, the data have no row on
        or before the close, an asset held or watched has no price yet there (with
        ``stale="stop"``: no retry brings one), or the data screen stops on the
        prices up to it.
    """
    if stale not in STALE_ACTIONS:
        expected = ", ".join(repr(a) for a in STALE_ACTIONS)
        raise DataError(f"stale: expected one of {expected}, got {stale!r}")
    requested = _requested(asof, market)
    calendar = JobCalendar.of(market, policy.rebalance.calendar, requested)
    used = calendar.last_session(requested)
    job = _job(policy, market, used, calendar)
    ages = dict(job.ages)
    dropped: tuple[str, ...] = ()
    unborn = [a for a in job.stale if job.ages[a].last_price is None]
    if unborn and stale == "stop":  # no retry brings a price before the first one
        firsts = ", ".join(
            f"{a} first priced {market.prices[a].first_valid_index().date()}"
            for a in unborn
        )
        raise DataError(
            f"{market.source}: no price on or before {used.date()} of what policy "
            f"'{policy.name}' holds or watches: {firsts}; ask for a later --asof, "
            "or re-run with --stale drop (allocate without them)"
        )
    if job.stale and stale == "stop":
        raise StaleDataError(_stale_message(policy, market, job, used))
    while job.stale and stale == "drop":
        dropped += job.stale
        ages |= {a: job.ages[a] for a in job.stale}
        kept = [a for a in market.assets if a not in dropped]
        if not any(market.investable[a] for a in kept):
            raise StaleDataError(
                f"{_stale_message(policy, market, job, used)}; dropping them leaves "
                "no investable asset"
            )
        job = _job(policy, _without(market, kept), used, calendar)
    held = job.stale if stale == "hold" else ()
    target = job.result.weights.iloc[-1].copy()
    target[list(held)] = job.current[list(held)]
    payload = _payload(
        policy,
        market,
        job,
        target,
        _Request(requested, used, calendar.name, stale, dropped, held, ages),
    )
    check_contract(payload)
    return payload


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def check_contract(payload: dict[str, Any]) -> None:
    """Check a payload against the published schema (`SCHEMA_FILE`), strictly.

    The payload is checked as it will be written (NaN and infinities as null), so
    a job never receives an allocation that breaks its contract.

    Raises
    ------
    RuntimeError
        Naming the first field that breaks the schema: a bug in riskengine.
    """
    written = json.loads(dumps(payload, indent=None))
    error = next(iter(_validator().iter_errors(written)), None)
    if error is not None:
        raise RuntimeError(
            f"the allocation breaks its schema {SCHEMA} at {error.json_path}: "
            f"{error.message[:300]}"
        )


@dataclass(frozen=True)
class _Request:
    requested: pd.Timestamp
    used: pd.Timestamp
    calendar: str
    action: StaleAction
    dropped: tuple[str, ...]
    held: tuple[str, ...]
    ages: dict[str, PriceAge]  # every column of the data read, dropped ones included


def _requested(asof: str | datetime.date | None, market: Market) -> pd.Timestamp:
    """The calendar date a job asks about.

    Raises
    ------
    DataError
        If `asof` is neither ``"latest"`` nor a date ``YYYY-MM-DD``.
    """
    if asof == LATEST or (asof is None and market.simulated):
        return pd.Timestamp(market.prices.index[-1])
    if asof is None:
        return pd.Timestamp(_today())
    try:
        return pd.Timestamp(iso_date(asof))
    except ValueError as exc:
        raise DataError(f"asof: {exc}, or '{LATEST}'") from None


def _today() -> datetime.date:
    """The machine's local date: a job's default as-of."""
    return datetime.date.today()


def _job(
    policy: PolicySpec, market: Market, used: pd.Timestamp, calendar: JobCalendar
) -> _Job:
    """The walk to the last close of the data on or before `used`, and its ages."""
    index = market.returns.index
    rows = index[index <= used]
    if not len(rows):
        raise DataError(
            f"{market.source}: no prices on or before {used.date()} (the data start "
            f"on {index[0].date()})"
        )
    result = run_backtest(policy, market, end=rows[-1], baseline=None)
    current = _pre_trade_holdings(result, market, policy)
    ages = price_ages(market, used, calendar)
    target = result.weights.iloc[-1]
    holding = [a for a in target.index if target[a] != 0 or current[a] != 0]
    watched = {s for t in policy.triggers for s in t.watch_sleeves}
    watching = [a for a in market.assets if market.sleeves[a] in watched]
    judged = tuple(a for a in market.assets if a in {*holding, *watching})
    limit = policy.rebalance.max_price_age_days
    stale = tuple(a for a in judged if ages[a].older_than(limit))
    return _Job(market, result, current, ages, judged, stale)


def _stale_message(
    policy: PolicySpec, market: Market, job: _Job, used: pd.Timestamp
) -> str:
    limit = policy.rebalance.max_price_age_days
    days = "day" if limit == 1 else "days"
    listed = ", ".join(job.ages[a].describe() for a in job.stale)
    return (
        f"{market.source}: stale prices at {used.date()}: {listed}; policy "
        f"'{policy.name}' accepts prices up to {limit} trading {days} old "
        "(rebalance.max_price_age_days): fix the feed, or re-run with --stale drop "
        "(allocate without them) or --stale hold (keep their current weights)"
    )


def _without(market: Market, kept: list[str]) -> Market:
    """The market on the columns `kept` only (its sleeves and source unchanged)."""
    return make_market(
        market.prices[kept],
        source=market.source,
        sleeves=market.asset_table,
        simulated=market.simulated,
    )


def _pre_trade_holdings(
    result: BacktestResult, market: Market, policy: PolicySpec
) -> pd.Series:
    """Yesterday's holdings carried through today's returns: where a trade starts.

    The walk's own accounting (`backtest.accounting.drift`) on the walk's inputs;
    on a day without a trade, the holdings the walk itself carried.
    """
    weights = result.weights
    if len(weights) < 2:
        return weights.iloc[-1] * 0.0
    if not result.turnover.iloc[-1] > 0:
        return weights.iloc[-1].copy()
    date = weights.index[-1]
    moves = market.returns.loc[date, weights.columns].fillna(0.0).to_numpy(float)
    accrual = float(accrual_fractions(weights.index[-2:])[-1])
    day = drift(weights.iloc[-2].to_numpy(float), moves, accrual, policy.costs)
    return pd.Series(day.weights, index=weights.columns)


def policy_fingerprint(policy: PolicySpec) -> str:
    """SHA-256 of the resolved policy (model included), as canonical JSON."""
    text = json.dumps(policy.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _book(weights: pd.Series, sleeves: dict[str, str]) -> dict[str, Any]:
    """Weights by asset and by sleeve, leverage and cash."""
    by_sleeve: dict[str, float] = {}
    for asset, weight in weights.items():
        sleeve = sleeves[str(asset)]
        by_sleeve[sleeve] = by_sleeve.get(sleeve, 0.0) + float(weight)
    return {
        "assets": {str(a): float(w) for a, w in weights.items()},
        "sleeves": by_sleeve,
        "gross_leverage": float(np.abs(weights).sum()),
        "net_leverage": float(weights.sum()),
        "cash": float(1.0 - weights.sum()),
    }


def _payload(
    policy: PolicySpec,
    market: Market,
    job: _Job,
    target: pd.Series,
    request: _Request,
) -> dict[str, Any]:
    result, current = job.result, job.current
    close = result.weights.index[-1]
    decided = result.decisions.index[-1]
    trades = target - current
    events = result.events[result.events["date"] == close]
    sleeves = {a: market.sleeves[a] for a in market.assets}
    warnings = _warnings(policy, job, request, close)
    return {
        "schema": SCHEMA,
        "asof_requested": str(request.requested.date()),
        "asof_used": str(request.used.date()),
        "calendar": request.calendar,
        "data_date": str(close.date()),
        "policy": {
            "name": policy.name,
            "model": policy.model.name,
            "fingerprint": policy_fingerprint(policy),
        },
        "data": {
            "source": market.source,
            "sha256": market.fingerprint,
            "simulated": market.simulated,
            "note": SIMULATED_NOTE if market.simulated else "",
        },
        "rebalance_day": bool(trades.to_numpy(float).any()),
        "decision": {
            "date": str(decided.date()),
            "traded": _date_or_none(result.decisions["traded"].iloc[-1]),
        },
        "sleeves": sleeves,
        "prices": {
            a: {
                "last": _date_or_none(age.last_price),
                "age_days": age.age_days,
                "age_trading_days": age.age_trading_days,
                "calendar": age.calendar,
                "judged": a in job.judged or a in request.dropped,
            }
            for a, age in request.ages.items()
        },
        "stale": {
            "max_price_age_days": policy.rebalance.max_price_age_days,
            "action": request.action,
            "assets": [
                {
                    "asset": a,
                    "last": _date_or_none(request.ages[a].last_price),
                    "age_trading_days": request.ages[a].age_trading_days,
                    "treatment": "held" if a in request.held else "dropped",
                }
                for a in (*request.dropped, *request.held)
            ],
        },
        "weights": {
            "current": _book(current, sleeves),
            "target": _book(target, sleeves),
        },
        "trades": {str(a): float(w) for a, w in trades.items()},
        "risk": {
            "holdings": holdings_risk(policy, job.market, result, target),
            "decision": _decision_risk(result),
        },
        "triggers": trigger_states(policy, result),
        "binding_limits": binding_limits(policy, result),
        "warnings": warnings,
        "events": [
            {"kind": e.kind, "subject": e.subject, "message": e.message}
            for e in events.itertuples()
        ],
        "screen": result.screen.to_dict() if result.screen else None,
        "versions": versions(),
    }


def _decision_risk(result: BacktestResult) -> dict[str, Any]:
    """Ex-ante vol and risk shares of the latest decision's targets, or why not."""
    decided = result.decisions.index[-1]
    shares = result.risk_contributions.iloc[-1]
    held = result.events[
        (result.events["date"] == decided) & (result.events["kind"] == "solver_hold")
    ]
    if len(held) or not np.isfinite(shares.to_numpy(float)).all():
        reason = (
            held["message"].iloc[0]
            if len(held)
            else "no risk decomposition at this decision"
        )
        return {
            "date": str(decided.date()),
            "ex_ante_vol_annual": None,
            "risk_contributions": None,
            "unavailable": f"no new target: {reason}",
        }
    nothing = not result.targets.iloc[-1].any()
    return {
        "date": str(decided.date()),
        "ex_ante_vol_annual": float(result.decisions["ex_ante_vol_annual"].iloc[-1]),
        "risk_contributions": None
        if nothing
        else {str(a): float(s) for a, s in shares.items()},
        "unavailable": "nothing held: no variance to share" if nothing else None,
    }


def _warnings(
    policy: PolicySpec, job: _Job, request: _Request, close: pd.Timestamp
) -> list[dict[str, str]]:
    """What a job should know: the date moved, assets dropped or held, old feeds."""
    out = []
    if request.used != request.requested:
        out.append(
            {
                "kind": "asof_moved",
                "message": f"{request.requested.date()} is no {request.calendar} "
                f"session: answered at the last session before it, "
                f"{request.used.date()}",
            }
        )
    if close != request.used:
        out.append(
            {
                "kind": "data_behind",
                "message": f"the data's last close on or before {request.used.date()} "
                f"is {close.date()}: the allocation is that close's",
            }
        )
    for asset in request.dropped:
        out.append(
            {
                "kind": "stale_dropped",
                "message": f"{request.ages[asset].describe()}: dropped from the "
                "data (--stale drop), the policy walked without it",
            }
        )
    for asset in request.held:
        out.append(
            {
                "kind": "stale_held",
                "message": f"{request.ages[asset].describe()}: its current weight "
                "is kept (--stale hold), the difference in cash",
            }
        )
    decisions = job.result.decisions
    if not decisions.empty and decisions["n_assets"].iloc[-1] == 0:
        out.append(
            {
                "kind": "nothing_eligible",
                "message": f"at the decision of {decisions.index[-1].date()} no asset "
                "could be held (each lacks min_history_days of returns, a recent price "
                "or a volatility forecast): the target is all cash",
            }
        )
    events = job.result.events
    for kind in TRIGGER_WARNINGS:
        for message in events.loc[events["kind"] == kind, "message"]:
            out.append({"kind": kind, "message": str(message)})
    watched = set(watched_assets(policy, job.market, list(job.result.weights.columns)))
    limit = policy.rebalance.max_price_age_days
    for asset, age in job.ages.items():
        priced = age.last_price is not None
        if priced and age.older_than(limit) and asset not in {*job.judged, *watched}:
            out.append(
                {
                    "kind": "old_feed",
                    "message": f"{age.describe()}: neither held nor watched, so "
                    "not judged stale",
                }
            )
    return out


def _date_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    stamp = pd.Timestamp(value)
    return None if pd.isna(stamp) else str(stamp.date())


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
