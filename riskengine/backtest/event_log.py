"""Events the walk itself produces: assets added or stale, ladder moves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine._typing import BoolArray
from riskengine.events import Event
from riskengine.specs import PolicySpec


def with_sleeve_weights(
    event: Event, by_sleeve: pd.DataFrame, acted: tuple[str, ...]
) -> Event:
    """A trigger event completed with the acted-on sleeves' weights before and after."""
    position = int(by_sleeve.index.searchsorted(event.date))
    if position >= len(by_sleeve):
        return event
    after = by_sleeve.iloc[position]
    before = by_sleeve.iloc[max(position - 1, 0)]
    columns = [
        s for s in acted if s in by_sleeve.columns and (before[s] != 0 or after[s] != 0)
    ]
    details = {
        **event.details,
        "weights_before": {s: round(float(before[s]), 6) for s in columns},
        "weights_after": {s: round(float(after[s]), 6) for s in columns},
    }
    change = ", ".join(f"{s} {before[s]:.1%} -> {after[s]:.1%}" for s in columns)
    return Event(
        event.date, event.kind, event.subject, f"{event.message} ({change})", details
    )


def ladder_events(decisions: pd.DataFrame, policy: PolicySpec) -> list[Event]:
    """One event per change of the drawdown ladder's multiplier."""
    if policy.drawdown_control is None or decisions.empty:
        return []
    level = decisions["drawdown_multiplier"]
    changed = level.ne(level.shift(1, fill_value=1.0))
    return [
        Event(
            date,
            "drawdown_ladder",
            policy.name,
            f"drawdown {row.drawdown:.1%}: risk target x {row.drawdown_multiplier:g}",
            {"drawdown": row.drawdown, "multiplier": row.drawdown_multiplier},
        )
        for date, row in decisions[changed].iterrows()
    ]


_HELD, _UNPRICED, _NO_VOLATILITY = 0, 1, 2
_LEAVES = {
    _HELD: ("asset_added", "becomes investable"),
    _UNPRICED: (
        "asset_stale",
        "has no price for over {days} days: sold at its last price",
    ),
    _NO_VOLATILITY: (
        "asset_no_volatility",
        "has no usable volatility forecast (zero or not finite; a price that has "
        "not moved has none): not held, any holding sold at its last price",
    ),
}
"""What an asset's change to each state is recorded as: kind and message."""


def universe_events(
    returns: pd.DataFrame,
    priced: BoolArray,
    eligible: BoolArray,
    first: int,
    policy: PolicySpec,
) -> list[Event]:
    """Events for assets entering or leaving the investable set, or not investable.

    An asset not investable on the period's first day is recorded there, with
    what is known that day only. An asset leaves the set without a recent price
    (not `priced`: ``asset_stale``) or, priced, without a usable volatility forecast
    (``asset_no_volatility``: zero or not finite, as for a price that does not
    move); each change of reason is recorded.
    """
    events: list[Event] = []
    index = returns.index
    reasons = np.where(eligible, _HELD, np.where(priced, _NO_VOLATILITY, _UNPRICED))
    for j, asset in enumerate(returns.columns):
        column = reasons[first:, j]
        if column[0] != _HELD:
            events.append(_not_investable(returns[asset], first, policy))
        for c in np.flatnonzero(column[1:] != column[:-1]) + 1:
            kind, what = _LEAVES[int(column[c])]
            what = what.format(days=policy.rebalance.stale_after_days)
            events.append(
                Event(index[first + c], kind, str(asset), f"{asset} {what}", {})
            )
    return events


def _not_investable(returns: pd.Series, first: int, policy: PolicySpec) -> Event:
    """``insufficient_history``: an asset not investable on the period's first day.

    States only what is known that day: its returns so far against
    `min_history_days`, or how long since its last price; an ``asset_added``
    event follows if it becomes investable.
    """
    asset, date = str(returns.name), returns.index[first]
    seen = returns.iloc[: first + 1].dropna()
    needed = policy.rebalance.min_history_days
    if len(seen) < needed:
        why = f"{len(seen)} returns so far, fewer than min_history_days ({needed})"
    elif (date - seen.index[-1]).days > policy.rebalance.stale_after_days:
        why = (
            f"no price since {seen.index[-1].date()}, over stale_after_days "
            f"({policy.rebalance.stale_after_days})"
        )
    else:
        why = "no volatility forecast yet"
    return Event(
        date,
        "insufficient_history",
        asset,
        f"{asset} is not investable on the period's first day, {date.date()}: {why}",
        {"returns": len(seen)},
    )
