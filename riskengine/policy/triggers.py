"""Cross-asset triggers: when a watched signal jumps, cut the acted-on sleeves.

A trigger's signal (`riskengine.policy.signals`) enters its risk-off state when it
rises above `enter_above` and leaves it when it falls below `exit_below`
(hysteresis), staying at least `min_days_in_state` days in a state. While risk-off,
the acted-on sleeves are scaled by `scale`; on exit they are restored in equal steps
over `reentry_days`, and the multiplier never moves by more than `max_daily_change`
a day.

Everything here is a function of the signal up to each date, computed once for the
whole period before the allocation loop.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray
from riskengine.events import Event
from riskengine.specs import TriggerSpec


@dataclass(frozen=True)
class TriggerPath:
    """A trigger's daily signal, state and multiplier over a backtest calendar.

    Attributes
    ----------
    spec : TriggerSpec
        The rule.
    signal : pd.Series
        The aggregated signal (NaN while it has too little history).
    risk_off : pd.Series
        True on days the trigger is in its risk-off state (after that day's close).
    multiplier : pd.Series
        Factor on the acted-on sleeves decided at each close, in [scale, 1].
    events : tuple of Event
        One ``trigger_enter`` or ``trigger_exit`` event per state change.
    """

    spec: TriggerSpec
    signal: pd.Series
    risk_off: pd.Series
    multiplier: pd.Series
    events: tuple[Event, ...]


def unwatched_events(
    specs: tuple[TriggerSpec, ...], sleeves: Mapping[str, str], date: pd.Timestamp
) -> list[Event]:
    """One ``trigger_no_data`` event per trigger that can never fire on this data.

    Such a trigger watches sleeves that no asset of the data (`sleeves`, asset ->
    sleeve) belongs to.
    """
    present = set(sleeves.values())
    return [
        Event(
            date,
            "trigger_no_data",
            spec.name,
            f"{spec.name}: no asset of this data is in {', '.join(spec.watch_sleeves)}"
            ": the trigger never fires",
            {"rule": spec.name, "watch_sleeves": list(spec.watch_sleeves)},
        )
        for spec in specs
        if not present & set(spec.watch_sleeves)
    ]


def inert_events(
    specs: tuple[TriggerSpec, ...], held: Collection[str], date: pd.Timestamp
) -> list[Event]:
    """One ``trigger_no_effect`` event per trigger that acts on no sleeve held.

    Such a trigger may fire, but the policy holds no asset in the sleeves it cuts
    (`held`: the sleeves of the assets it may hold), e.g. a universe that leaves
    them out: the risk control is switched off.
    """
    present = set(held)
    return [
        Event(
            date,
            "trigger_no_effect",
            spec.name,
            f"{spec.name}: the policy holds no asset in "
            f"{', '.join(spec.act_on_sleeves)}: the trigger changes nothing",
            {"rule": spec.name, "act_on_sleeves": list(spec.act_on_sleeves)},
        )
        for spec in specs
        if not present & set(spec.act_on_sleeves)
    ]


def trigger_path(spec: TriggerSpec, signal: pd.Series) -> TriggerPath:
    """Run the trigger's state machine over a signal.

    The state changes at the close of the first day the signal is strictly above
    `enter_above` (or strictly below `exit_below`), once at least `min_days_in_state`
    days have passed since the last change; NaN signals never change the state.
    """
    values = signal.to_numpy(float)
    n = len(values)
    risk_off = np.zeros(n, dtype=bool)
    multiplier = np.ones(n)
    up_step = (1.0 - spec.scale) / spec.reentry_days
    state, days_in_state, level = False, spec.min_days_in_state, 1.0
    events: list[Event] = []
    low, high = -spec.max_daily_change, min(up_step, spec.max_daily_change)
    for t, value in enumerate(values.tolist()):
        if days_in_state >= spec.min_days_in_state and not math.isnan(value):
            if not state and value > spec.enter_above:
                state, days_in_state = True, 0
                events.append(_event(spec, signal.index[t], value, entered=True))
            elif state and value < spec.exit_below:
                state, days_in_state = False, 0
                events.append(_event(spec, signal.index[t], value, entered=False))
        days_in_state += 1
        target = spec.scale if state else 1.0
        level += min(max(target - level, low), high)
        risk_off[t], multiplier[t] = state, level
    index = signal.index
    return TriggerPath(
        spec,
        signal,
        pd.Series(risk_off, index=index),
        pd.Series(multiplier, index=index),
        tuple(events),
    )


def _event(
    spec: TriggerSpec, date: pd.Timestamp, value: float, *, entered: bool
) -> Event:
    threshold = spec.enter_above if entered else spec.exit_below
    word = "above" if entered else "below"
    action = (
        f"scale {', '.join(spec.act_on_sleeves)} by {spec.scale:g}"
        if entered
        else f"restore {', '.join(spec.act_on_sleeves)} over {spec.reentry_days} days"
    )
    return Event(
        date,
        "trigger_enter" if entered else "trigger_exit",
        spec.name,
        f"{spec.name}: {spec.signal} of {', '.join(spec.watch_sleeves)} = {value:.3f} "
        f"{word} {threshold:g}: {action}",
        {
            "rule": spec.name,
            "signal": spec.signal,
            "value": float(value),
            "threshold": threshold,
            "state": "risk_off" if entered else "normal",
        },
    )


def sleeve_multipliers(
    paths: list[TriggerPath], sleeves: Mapping[str, str], assets: list[str], n_days: int
) -> FloatArray:
    """Combined multiplier per asset and day, shape (n_days, n_assets).

    Several triggers acting on one sleeve multiply.
    """
    out = np.ones((n_days, len(assets)))
    for path in paths:
        acted = np.array([sleeves[a] in path.spec.act_on_sleeves for a in assets])
        out[:, acted] *= path.multiplier.to_numpy()[:, None]
    return out
