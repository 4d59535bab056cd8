"""Which assets a policy may hold, and on which rows it decides."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine._typing import BoolArray, FloatArray, IndexArray
from riskengine.calendar import calendar_sessions, period_end_rows, resolve_calendar
from riskengine.data.prices import Market
from riskengine.errors import DataError
from riskengine.specs import PolicySpec


def universe_of(policy: PolicySpec, market: Market) -> list[str]:
    """Investable assets of `market` in the sleeves the policy may hold, in order.

    Signal-only assets (`Market.investable` False, e.g. the spot VIX index) are
    never part of it, whatever the policy's sleeves say.
    """
    wanted = set(policy.universe.sleeves) or set(market.sleeves.values())
    wanted -= set(policy.universe.exclude_sleeves)
    assets = [
        a for a in market.assets if market.investable[a] and market.sleeves[a] in wanted
    ]
    if not assets:
        signal_only = [a for a in market.signal_only if market.sleeves[a] in wanted]
        listed = ", ".join(signal_only)
        note = f"; signal-only, never held: {listed}" if signal_only else ""
        raise DataError(
            f"{market.source}: no investable asset of this data belongs to the sleeves "
            f"the policy '{policy.name}' may hold "
            f"({', '.join(sorted(wanted)) or 'none'}){note}"
        )
    return assets


def watched_assets(policy: PolicySpec, market: Market, held: list[str]) -> list[str]:
    """Assets outside `held` that the policy's triggers watch, in the data's order.

    Triggers read every asset of their watched sleeves, held or not, signal-only
    included (a desk watching the VIX level holds no VIX).
    """
    watched = {s for trigger in policy.triggers for s in trigger.watch_sleeves}
    return [a for a in market.assets if market.sleeves[a] in watched and a not in held]


def eligibility(returns: pd.DataFrame, policy: PolicySpec) -> BoolArray:
    """Which assets may be held at each close: enough history, priced recently."""
    observed = returns.notna()
    history = observed.cumsum().to_numpy()
    dates = returns.index.to_numpy()
    last_seen = observed.apply(
        lambda c: pd.Series(np.where(c, dates, np.datetime64("NaT")))
    )
    last_seen = last_seen.ffill().to_numpy(dtype="datetime64[ns]")
    age_days = (dates[:, None] - last_seen) / np.timedelta64(1, "D")
    recent = age_days <= policy.rebalance.stale_after_days
    return (history >= policy.rebalance.min_history_days) & recent


def scheduled_rows(
    index: pd.DatetimeIndex, policy: PolicySpec, market: Market
) -> BoolArray:
    """Rows of the rebalance schedule: every row, or those closing a week or month.

    Week and month ends come from the policy's trading calendar (see
    `calendar.period_end_rows`), never from the next row of the data: a row's
    status is the same whether or not the data go beyond it.

    Raises
    ------
    DataError
        If the calendar does not cover the data's dates.
    """
    frequency = policy.rebalance.frequency
    if frequency == "daily":
        return np.ones(len(index), dtype=bool)
    every_day = set(market.assets) <= set(market.daily_columns)
    name = resolve_calendar(policy.rebalance.calendar, every_day=every_day)
    sessions = calendar_sessions(name, index[0], index[-1], source=market.source)
    return period_end_rows(index, sessions, frequency)


def decision_rows(
    scheduled: BoolArray, eligible: BoolArray, multipliers: FloatArray, first: int
) -> IndexArray:
    """Rows at which the policy decides: its schedule, universe changes, triggers.

    Triggers are checked daily: a change of a trigger multiplier at the close of t
    forces a decision at t even between scheduled rebalances.
    """
    scheduled = scheduled.copy()
    changed = np.append(True, (eligible[1:] != eligible[:-1]).any(axis=1))
    changed |= np.append(False, (multipliers[1:] != multipliers[:-1]).any(axis=1))
    scheduled[first] = True
    rows = np.flatnonzero(scheduled | changed)
    return rows[rows >= first]
