"""The state at a walk's last close, as an allocation job reports it.

A `BacktestResult` keeps weights, decisions, trigger signals and events; a job
also wants what the walk knew at its last close: each trigger's state, the ex-ante
risk of the holdings it hands over, and the limits that bound the latest decision.
Each is rebuilt here from the same point-in-time inputs the walk read (the
trigger state machine over the recorded signals, the correlation forecast of the
policy's `riskengine.covariance` model over the same rows), never from a later row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from riskengine.backtest import BacktestResult
from riskengine.calendar import annual_vol_factor
from riskengine.covariance import CORRELATIONS, covariance
from riskengine.data.prices import Market
from riskengine.policy.optimizers import risk_contributions
from riskengine.policy.triggers import TriggerPath, trigger_path
from riskengine.specs import PolicySpec

RISK_CAP_TOLERANCE = 1e-6
"""A sleeve whose variance share is within this of its cap is bound by it."""


def trigger_paths(policy: PolicySpec, result: BacktestResult) -> list[TriggerPath]:
    """Each trigger's state over the walk, from the signal the walk recorded.

    The state machine (`riskengine.policy.triggers.trigger_path`) run again over
    `BacktestResult.trigger_signals`, from the walk's first close: the states the
    walk itself went through (a run started with ``start`` begins its triggers
    there too).
    """
    return [
        trigger_path(spec, result.trigger_signals[spec.name])
        for spec in policy.triggers
    ]


def trigger_states(policy: PolicySpec, result: BacktestResult) -> list[dict[str, Any]]:
    """Every trigger's state at the walk's last close, JSON-ready.

    Returns
    -------
    list of dict
        Per trigger: name, watched and acted-on sleeves, the signal's kind and
        value (null with a reason while it lacks history), thresholds, whether
        risk-off, since when and for how many trading days, whether it may change
        state at the next close, the multiplier on the acted-on sleeves and the
        re-entry's progress.
    """
    states = []
    for path in trigger_paths(policy, result):
        spec, index = path.spec, path.signal.index
        value = float(path.signal.iloc[-1])
        risk_off = bool(path.risk_off.iloc[-1])
        changes = [e.date for e in path.events]
        since = changes[-1] if changes else None
        rows = len(index) - 1 - (index.get_loc(since) if since is not None else 0)
        multiplier = float(path.multiplier.iloc[-1])
        step = min((1.0 - spec.scale) / spec.reentry_days, spec.max_daily_change)
        restoring = not risk_off and multiplier < 1.0
        states.append(
            {
                "name": spec.name,
                "watch_sleeves": list(spec.watch_sleeves),
                "act_on_sleeves": list(spec.act_on_sleeves),
                "signal": {
                    "kind": spec.signal,
                    "value": value if math.isfinite(value) else None,
                    "unavailable": None
                    if math.isfinite(value)
                    else "too little history in the watched sleeves",
                },
                "enter_above": spec.enter_above,
                "exit_below": spec.exit_below,
                "risk_off": risk_off,
                "since": None if since is None else str(since.date()),
                "days_in_state": int(rows),
                "min_days_in_state": spec.min_days_in_state,
                "may_change_next_close": since is None
                or rows + 1 >= spec.min_days_in_state,
                "multiplier": multiplier,
                "scale": spec.scale,
                "reentry": {
                    "in_progress": restoring,
                    "progress": (multiplier - spec.scale) / (1.0 - spec.scale)
                    if restoring
                    else (0.0 if risk_off else 1.0),
                    "days_left": math.ceil((1.0 - multiplier) / step - 1e-9)
                    if restoring
                    else 0,
                    "reentry_days": spec.reentry_days,
                },
            }
        )
    return states


def holdings_risk(
    policy: PolicySpec, market: Market, result: BacktestResult, weights: pd.Series
) -> dict[str, Any]:
    """Ex-ante annual vol and variance shares of `weights` at the walk's last close.

    The covariance is the one a decision at that close would read: the model's
    vol forecasts made at the close and the policy's correlation model updated
    with every row up to it. Computable on a ``solver_hold`` day too, as the
    holdings are known; unavailable (null, with the reason) when a held asset has
    no finite positive vol forecast.
    """
    close = result.volatility.index[-1]
    held = weights.to_numpy(float) != 0.0
    base = {"date": str(close.date())}
    if not held.any():
        return {
            **base,
            "ex_ante_vol_annual": 0.0,
            "risk_contributions": None,
            "unavailable": "nothing held: no variance to share",
        }
    vol = result.volatility.to_numpy(float)
    missing = [
        str(a)
        for a, on, v in zip(weights.index, held, vol[-1], strict=True)
        if on and not (math.isfinite(v) and v > 0)
    ]
    if missing:
        return {
            **base,
            "ex_ante_vol_annual": None,
            "risk_contributions": None,
            "unavailable": f"no vol forecast at {close.date()} for held "
            f"{', '.join(missing)}",
        }
    assets = list(result.volatility.columns)
    returns = market.returns.loc[:close, assets].to_numpy(float)
    model = CORRELATIONS.lookup(policy.covariance.correlation, policy.name)
    state = model.start(policy.covariance, len(assets))
    for row in model.rows(returns, vol):
        state.update(row)
    w = weights.to_numpy(float)[held]
    cov = covariance(vol[-1, held], state.matrix(held))
    variance = max(float(w @ cov @ w), 0.0)
    shares = np.zeros(len(assets))
    shares[held] = risk_contributions(w, cov)
    return {
        **base,
        "ex_ante_vol_annual": math.sqrt(variance)
        * annual_vol_factor(result.periods_per_year),
        "risk_contributions": {
            a: float(s) for a, s in zip(assets, shares, strict=True)
        },
        "unavailable": None,
    }


def binding_limits(policy: PolicySpec, result: BacktestResult) -> list[dict[str, str]]:
    """The policy fields that bound or were broken at the latest decision.

    Read off the decision's record (leverage cap, drawdown ladder, VaR/ES and
    margin scaling, projection onto bounds or the turnover cap), its sleeves'
    variance shares against their caps, and its ``limit_conflict`` event.
    """
    decided = result.decisions.index[-1]
    row = result.decisions.iloc[-1]
    limits = policy.limits
    bound: list[dict[str, str]] = []
    if row["leverage_capped"]:
        bound.append(
            {
                "limit": "target.max_gross_leverage",
                "detail": f"the vol target wanted more than "
                f"{policy.target.max_gross_leverage:g}x gross: capped there",
            }
        )
    if row["drawdown_multiplier"] < 1.0:
        bound.append(
            {
                "limit": "drawdown_control",
                "detail": f"drawdown {row['drawdown']:.1%}: risk target x "
                f"{row['drawdown_multiplier']:g}",
            }
        )
    if row["risk_limit_scale"] < 1.0:
        fields = [
            f"limits.{name}"
            for name in ("var_99_max", "es_975_max")
            if getattr(limits, name) is not None
        ]
        bound.append(
            {
                "limit": " / ".join(fields),
                "detail": f"gross exposure x {row['risk_limit_scale']:.4f} to fit",
            }
        )
    if row["margin_scale"] < 1.0:
        bound.append(
            {
                "limit": "margin",
                "detail": f"gross exposure x {row['margin_scale']:.4f} to fit the "
                "margin budget",
            }
        )
    if row["projected"]:
        bound.append(
            {
                "limit": "limits",
                "detail": "weights projected onto the weight bounds, sleeve bounds "
                "or turnover cap",
            }
        )
    shares = result.risk_contributions.iloc[-1]
    for sleeve, cap in limits.sleeve_max_risk.items():
        share = float(
            sum(s for a, s in shares.items() if result.sleeves[str(a)] == sleeve)
        )
        if math.isfinite(share) and share >= cap - RISK_CAP_TOLERANCE:
            bound.append(
                {
                    "limit": f"limits.sleeve_max_risk.{sleeve}",
                    "detail": f"{sleeve} at {share:.1%} of ex-ante variance, "
                    f"its cap {cap:.1%}",
                }
            )
    events = result.events
    conflicts = events[
        (events["date"] == decided) & (events["kind"] == "limit_conflict")
    ]
    for details, message in zip(
        conflicts["details"], conflicts["message"], strict=True
    ):
        bound.extend(
            {"limit": str(name), "detail": f"broken: {message}"}
            for name in details.get("broken", ())
        )
    return bound
