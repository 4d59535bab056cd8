"""The counterfactual of a run: which policy a backtest is measured against.

Every backtest carries a baseline run on the same data in the same call. By
default it is the same policy with its overlays switched off: triggers, the
drawdown ladder, the VaR/ES limits and exchange-margin scaling go; the vol
target, base weights, weight limits, costs and the rebalance schedule stay. Any
other policy may be named instead. A policy without overlays is its own baseline
and is not run twice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from riskengine.policy.decision import without_overlays as counterfactual
from riskengine.specs import PolicySpec

OVERLAYS_OFF: Literal["overlays_off"] = "overlays_off"
"""The default baseline: the policy itself with its overlays switched off."""

BaselineChoice = PolicySpec | Literal["overlays_off"] | None
"""What `run_backtest` takes as ``baseline``: a spec, `OVERLAYS_OFF`, or None."""


def overlays(policy: PolicySpec) -> tuple[str, ...]:
    """The policy fields that hold an overlay, as written in its file.

    They are the fields its counterfactual
    (`riskengine.policy.decision.without_overlays`) switches off, so that a limit
    registered later as an overlay is named here too.

    Parameters
    ----------
    policy : PolicySpec
        The policy.

    Returns
    -------
    tuple of str
        E.g. ``triggers``, ``drawdown_control``, ``limits.var_99_max``,
        ``limits.es_975_max``, ``margin``, in the spec's order; empty when the
        policy has none.
    """
    off = counterfactual(policy)
    names: list[str] = []
    for part in dataclasses.fields(policy):
        mine, theirs = getattr(policy, part.name), getattr(off, part.name)
        if mine == theirs:
            continue
        if dataclasses.is_dataclass(mine) and dataclasses.is_dataclass(theirs):
            names += [
                f"{part.name}.{inner.name}"
                for inner in dataclasses.fields(mine)
                if getattr(mine, inner.name) != getattr(theirs, inner.name)
            ]
        else:
            names.append(part.name)
    return tuple(names)


def without_overlays(policy: PolicySpec) -> PolicySpec:
    """The policy with its overlays switched off, named as such (see `overlays`).

    The spec is `riskengine.policy.decision.without_overlays` (triggers, the
    drawdown ladder and every scaling limit off; model, vol target, base weights,
    weight limits and sleeve risk caps, costs, rebalance schedule, universe and
    data screen kept), renamed ``"<name> without overlays"``.
    """
    removed = ", ".join(overlays(policy)) or "none"
    return dataclasses.replace(
        counterfactual(policy),
        name=f"{policy.name} without overlays",
        description=f"{policy.name} with its overlays switched off ({removed}).",
    )


@dataclass(frozen=True)
class Baseline:
    """The baseline chosen for a run.

    Attributes
    ----------
    spec : PolicySpec or None
        The policy to run as baseline; None when the policy is its own baseline
        (it has no overlays, or was named as its own baseline).
    note : str
        One line saying what the baseline is.
    """

    spec: PolicySpec | None
    note: str


def resolve_baseline(policy: PolicySpec, choice: BaselineChoice) -> Baseline | None:
    """The baseline of `policy` for `choice`; None when no baseline is wanted.

    Parameters
    ----------
    policy : PolicySpec
        The policy run.
    choice : PolicySpec, "overlays_off" or None
        A policy to run as baseline, `OVERLAYS_OFF` for the policy without its
        overlays, or None for no baseline.

    Raises
    ------
    ValueError
        If `choice` is a string other than `OVERLAYS_OFF`.
    """
    if choice is None:
        return None
    if isinstance(choice, PolicySpec):
        if choice == policy:
            return Baseline(
                None, f"{policy.name} is its own baseline (named): run once"
            )
        return Baseline(choice, f"policy '{choice.name}' (named as baseline)")
    if choice != OVERLAYS_OFF:
        raise ValueError(
            f"baseline: expected a PolicySpec, {OVERLAYS_OFF!r} or None, got {choice!r}"
        )
    switched = overlays(policy)
    if not switched:
        return Baseline(
            None, f"{policy.name} has no overlays: it is its own baseline (run once)"
        )
    return Baseline(
        without_overlays(policy),
        f"{policy.name} without its overlays ({', '.join(switched)})",
    )


def shares_panels(policy: PolicySpec, baseline: PolicySpec) -> bool:
    """True when `baseline` can reuse the forecasts and correlations of `policy`.

    That needs the same volatility model, correlation model, rebalance schedule
    (refit dates and eligibility follow it), universe and data screen.
    """
    return (
        baseline.model == policy.model
        and baseline.covariance == policy.covariance
        and baseline.rebalance == policy.rebalance
        and baseline.universe == policy.universe
        and baseline.screen == policy.screen
    )
