"""A policy's decision at one date: base weights, vol target, triggers, limits.

The steps, in order (each documented in README "How a policy decides"):

1. base weights (inverse vol, sleeve equal risk, fixed, risk budget, per-asset vol),
   with trigger multipliers on risk budgets when a trigger acts on budgets;
2. scaling to the vol target, capped by gross leverage, times the drawdown ladder;
3. triggers acting on weights: acted-on sleeves scaled, the freed weight moved to
   defensive sleeves or left in cash;
4. the scaling limits (`limits.SCALING_LIMITS`: VaR / ES caps, exchange margin):
   gross exposure scaled down to fit;
5. the weight limits (`weight_limits.WEIGHT_LIMITS`: asset and sleeve bounds, gross
   leverage, the vol cap, the turnover cap): when any is broken, projection with
   cvxpy;
6. sleeve risk-contribution caps (`limits.SLEEVE_RISK_CAPS`): the sleeve's weight is
   cut until its share of variance is within its cap (re-projected while a weight
   limit is broken); the caps take precedence, and the limits they break are
   reported.

Each limit is an object of `riskengine.policy.limits.LIMITS` that knows its fields,
its breach test, how it is met and its conflicts; this module only orders them.
`without_overlays` gives the policy's counterfactual, its overlays switched off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from riskengine._typing import FloatArray
from riskengine.calendar import annual_vol_factor
from riskengine.errors import InfeasibleError
from riskengine.policy.allocators import (
    BASE_RULES,
    BaseInputs,
    RiskBudgetProblems,
    scale_to_vol_target,
)
from riskengine.policy.context import DecisionContext
from riskengine.policy.limits import (
    BROKEN_TOL,
    SCALING_LIMITS,
    SLEEVE_RISK_CAPS,
    applicable_fields,
    breaches,
)
from riskengine.policy.optimizers import ConstrainedProblem, risk_contributions
from riskengine.policy.weight_limits import VOL_CAP, WEIGHT_LIMITS, Book, ex_ante_vol
from riskengine.specs import PolicySpec

RISK_CAP_ROUNDS = 8
"""Re-projections when risk caps and weight bounds interact."""


@dataclass(frozen=True)
class Decision:
    """Target weights of the active assets at one date, and how they were reached.

    Attributes
    ----------
    weights : ndarray
        Fractions of NAV, shape (n_active,).
    ex_ante_vol : float
        Daily ex-ante vol of `weights`.
    vol_scale : float
        Factor of the vol-target step (1 without a target).
    leverage_capped : bool
        Whether the gross leverage cap bound the vol-target step.
    drawdown_multiplier : float
        Factor of the drawdown ladder (1 above its first level).
    scales : dict of str to float
        Factor of each scaling limit (`limits.SCALING_LIMITS`, by name, e.g.
        ``risk_limit`` for VaR/ES and ``margin``) that brought the weights within
        it (1 when slack).
    projected : bool
        Whether bounds or the turnover cap changed the weights (cvxpy step).
    risk_contributions : ndarray
        Each asset's share of the ex-ante variance of `weights`, summing to one
        (zeros when nothing is held), shape (n_active,).
    broken_limits : tuple of str
        Policy fields (e.g. ``limits.sleeve_min_weight.crypto``) the weights break
        because a sleeve risk cap, which takes precedence, could not be met with
        them; empty when every limit holds.
    fallbacks : tuple of str
        What fell back on its second method at this decision, one line each
        (e.g. Newton's method to cvxpy for risk budgets); empty when nothing did.
    """

    weights: FloatArray
    ex_ante_vol: float
    vol_scale: float
    leverage_capped: bool
    drawdown_multiplier: float
    scales: dict[str, float]
    projected: bool
    risk_contributions: FloatArray
    broken_limits: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()


def without_overlays(policy: PolicySpec) -> PolicySpec:
    """The policy with its overlays off: its counterfactual.

    Triggers, the drawdown ladder and every scaling limit (VaR/ES caps, exchange
    margin) are removed; the base weights, vol target, weight limits and sleeve risk
    caps stay, as do the name and the rest of the spec.
    """
    policy = dataclasses.replace(policy, triggers=(), drawdown_control=None)
    for limit in SCALING_LIMITS.values():
        policy = limit.switched_off(policy)
    return policy


class PolicyAllocator:
    """Turns one date's forecasts into target weights, for one policy.

    Keeps the cvxpy problems it builds, one per universe, and re-solves them with
    new parameter values at each date.

    Parameters
    ----------
    policy : PolicySpec
        The policy.

    Raises
    ------
    SpecError
        If `policy.target.base` names no registered base-weight rule.
    """

    def __init__(self, policy: PolicySpec) -> None:
        self.policy = policy
        owner = f"policy '{policy.name}'"
        self._base_rule = BASE_RULES.lookup(policy.target.base, owner)
        self._projections: dict[tuple[str, ...], ConstrainedProblem] = {}
        self._projected = [w for w in WEIGHT_LIMITS.values() if w.projected(policy)]
        self._risk_budget_problems = RiskBudgetProblems()

    def decide(self, context: DecisionContext) -> Decision:
        """Target weights of the active assets, from what is known at the close.

        Parameters
        ----------
        context : DecisionContext
            The forecasts, trigger multipliers, holdings, drawdown and calendar at
            the close of the decision date, for its active assets.

        Raises
        ------
        InfeasibleError
            If the constrained problem has no solution with either solver.
        """
        policy, target = self.policy, self.policy.target
        vol, multipliers = context.vol, context.multipliers
        cov = context.covariance
        daily = 1.0 / annual_vol_factor(context.periods_per_year)
        by_budget = [t for t in policy.triggers if t.apply_to == "budgets"]
        budget_multipliers = multipliers if by_budget else np.ones_like(multipliers)
        base = self._base_rule.weights(
            BaseInputs(
                target,
                policy.limits,
                vol,
                cov,
                context.sleeves,
                context.assets,
                budget_multipliers,
                daily,
                self._risk_budget_problems,
            )
        )
        daily_target = (
            None
            if target.target_vol_annual is None
            else target.target_vol_annual * daily
        )
        allocation = scale_to_vol_target(
            base.weights, cov, daily_target, target.max_gross_leverage
        )
        weights = allocation.weights
        if any(t.apply_to == "weights" for t in policy.triggers):
            weights = _apply_weight_triggers(
                weights, multipliers, context.sleeves, policy
            )
        ladder = policy.drawdown_control
        drawdown_multiplier = (
            1.0 if ladder is None else ladder.multiplier(context.drawdown)
        )
        weights = weights * drawdown_multiplier
        book = Book.of(context, weights)
        scales = {}
        for limit in SCALING_LIMITS.values():
            scales[limit.name] = limit.scale(weights, book, policy)
            weights = weights * scales[limit.name]
        book = dataclasses.replace(book, target=weights)
        projected = False
        if breaches(weights, book, policy):
            weights = self._project(context, book)
            projected = True
        weights, broken = self._cap_sleeve_risk(
            weights, context, book, meets_limits=not projected
        )
        return Decision(
            weights,
            ex_ante_vol(weights, cov),
            allocation.scale,
            allocation.leverage_capped,
            drawdown_multiplier,
            scales,
            projected,
            risk_contributions(weights, cov)
            if weights.any()
            else np.zeros_like(weights),
            broken,
            (base.fallback,) if base.fallback else (),
        )

    def _project(self, context: DecisionContext, book: Book) -> FloatArray:
        """The weights closest to the book's target that meet every weight limit."""
        policy = self.policy
        key = (*context.assets, "|", *book.sleeves)
        problem = self._projections.get(key)
        if problem is None:
            problem = ConstrainedProblem(book.sleeves, self._projected)
            self._projections[key] = problem
        values: dict[str, FloatArray | float] = {}
        for limit in self._projected:
            values.update(limit.values(policy, book))
        try:
            return problem.solve(book.target, book.covariance, values)
        except InfeasibleError as exc:
            fields = ", ".join(applicable_fields(policy, book))
            try:  # is it the vol of the targeted weights that the limits cannot fit?
                problem.solve(
                    book.target, book.covariance, {**values, **VOL_CAP.relaxed(book)}
                )
            except InfeasibleError:
                raise InfeasibleError(
                    f"the weight limits ({fields}) cannot hold together: {exc}"
                ) from exc
            daily = 1.0 / annual_vol_factor(context.periods_per_year)
            annual = ex_ante_vol(book.target, book.covariance) / daily
            raise InfeasibleError(
                f"the weight limits ({fields}) need more ex-ante vol than the "
                f"{annual:.2%} a year of the vol-targeted weights (target."
                "target_vol_annual, target.max_gross_leverage, and the risk scales)"
            ) from exc

    def _cap_sleeve_risk(
        self,
        weights: FloatArray,
        context: DecisionContext,
        book: Book,
        *,
        meets_limits: bool,
    ) -> tuple[FloatArray, tuple[str, ...]]:
        """Cut sleeves whose share of variance exceeds their cap (cash absorbs).

        With bounds or a turnover cap the cut weights are re-projected with the cut
        sleeves' weights as extra sleeve maxima, and cut again, for a few rounds.
        The caps win: the weight limits the final weights break are returned.
        `meets_limits` says that `weights`, the target of `book`, break no weight
        limit: if no sleeve is cut, they are not checked again.
        """
        policy = self.policy
        if not SLEEVE_RISK_CAPS.applies(policy):
            return weights, ()
        for _ in range(RISK_CAP_ROUNDS):
            weights, cut = SLEEVE_RISK_CAPS.cut(weights, book, policy)
            if meets_limits and cut == book.sleeve_caps:  # nothing was cut
                return weights, ()
            book = dataclasses.replace(book, target=weights, sleeve_caps=cut)
            if not breaches(weights, book, policy):
                return weights, ()  # nor beyond the looser BROKEN_TOL
            weights = self._project(context, book)
            book = dataclasses.replace(book, target=weights)
            meets_limits = False
        weights, cut = SLEEVE_RISK_CAPS.cut(weights, book, policy)  # the caps win
        book = dataclasses.replace(book, target=weights, sleeve_caps=cut)
        return weights, breaches(weights, book, policy, BROKEN_TOL)


def _apply_weight_triggers(
    weights: FloatArray,
    multipliers: FloatArray,
    sleeves: Sequence[str],
    policy: PolicySpec,
) -> FloatArray:
    """Scale acted-on weights; move the freed weight to defensive sleeves or cash."""
    cut = weights * multipliers
    freed = float((weights - cut).sum())
    defensive = {s for t in policy.triggers for s in t.redistribute_to}
    receivers = np.array([s in defensive for s in sleeves]) & (cut > 0)
    if freed > 0 and receivers.any():
        cut[receivers] += freed * cut[receivers] / cut[receivers].sum()
    return cut
