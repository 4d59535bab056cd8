"""A policy's decision at one date: base weights, vol target, triggers, limits.

The steps, in order (each documented in README "How a policy decides"):

1. base weights (inverse vol, sleeve equal risk, fixed, risk budget, per-asset vol),
   with trigger multipliers on risk budgets when a trigger acts on budgets;
2. scaling to the vol target, capped by gross leverage, times the drawdown ladder;
3. triggers acting on weights: acted-on sleeves scaled, the freed weight moved to
   defensive sleeves or left in cash;
4. VaR / ES limits and exchange margin: gross exposure scaled down to fit;
5. weight bounds, sleeve bounds and the turnover cap: projection with cvxpy;
6. sleeve risk-contribution caps: the sleeve's weight is cut until its share of
   variance is within its cap (re-projected when step 5 applies); the caps take
   precedence, and the limits they break are reported.

How each limit is checked and met lives in `riskengine.policy.limits`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from riskengine._typing import FloatArray
from riskengine.calendar import annual_vol_factor
from riskengine.covariance import covariance
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
    breaches,
    cut_to_risk_caps,
    limit_fields,
    margin_limit_scale,
    risk_limit_scale,
)
from riskengine.policy.optimizers import ConstrainedProblem, risk_contributions
from riskengine.policy.weight_limits import LARGE, WEIGHT_LIMITS
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
    risk_limit_scale, margin_scale : float
        Factors that brought VaR/ES and margin within their limits (1 when slack).
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
    risk_limit_scale: float
    margin_scale: float
    projected: bool
    risk_contributions: FloatArray
    broken_limits: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()


class PolicyAllocator:
    """Turns one date's forecasts into target weights, for one policy.

    Keeps the cvxpy problems it builds, one per universe, and re-solves them with
    new parameter values at each date.

    Parameters
    ----------
    policy : PolicySpec
        The policy.
    periods_per_year : float
        Periods per year of the universe (`calendar.periods_per_year`), to turn
        annual vol targets daily.

    Raises
    ------
    SpecError
        If `policy.target.base` names no registered base-weight rule.
    """

    def __init__(self, policy: PolicySpec, periods_per_year: float) -> None:
        self.policy = policy
        self.daily = 1.0 / annual_vol_factor(periods_per_year)
        owner = f"policy '{policy.name}'"
        self._base_rule = BASE_RULES.lookup(policy.target.base, owner)
        self._projections: dict[tuple[str, ...], ConstrainedProblem] = {}
        self._risk_budget_problems = RiskBudgetProblems()

    def decide(self, context: DecisionContext) -> Decision:
        """Target weights of the active assets, from what is known at the close.

        Parameters
        ----------
        context : DecisionContext
            The forecasts, trigger multipliers, holdings and drawdown at the close
            of the decision date, for its active assets.

        Raises
        ------
        InfeasibleError
            If the constrained problem has no solution with either solver.
        """
        policy, target = self.policy, self.policy.target
        vol, multipliers = context.vol, context.multipliers
        sleeves, assets = context.sleeves, context.assets
        cov = covariance(vol, context.correlation)
        by_budget = [t for t in policy.triggers if t.apply_to == "budgets"]
        budget_multipliers = multipliers if by_budget else np.ones_like(multipliers)
        base = self._base_rule.weights(
            BaseInputs(
                target,
                policy.limits,
                vol,
                cov,
                sleeves,
                assets,
                budget_multipliers,
                self.daily,
                self._risk_budget_problems,
            )
        )
        daily_target = (
            None
            if target.target_vol_annual is None
            else target.target_vol_annual * self.daily
        )
        allocation = scale_to_vol_target(
            base.weights, cov, daily_target, target.max_gross_leverage
        )
        weights = allocation.weights
        if any(t.apply_to == "weights" for t in policy.triggers):
            weights = _apply_weight_triggers(weights, multipliers, sleeves, policy)
        ladder = policy.drawdown_control
        drawdown_multiplier = (
            1.0 if ladder is None else ladder.multiplier(context.drawdown)
        )
        weights = weights * drawdown_multiplier
        risk_scale = risk_limit_scale(weights, cov, policy.limits)
        weights = weights * risk_scale
        margin = policy.margin
        margin_scale = (
            1.0 if margin is None else margin_limit_scale(weights, vol, margin)
        )
        weights = weights * margin_scale
        projected = False
        if policy.limits.needs_optimiser and breaches(weights, context, policy):
            weights = self._project(weights, cov, context)
            projected = True
        weights = self._cap_sleeve_risk(weights, cov, context)
        # sleeve risk caps win: what they had to break is reported, never hidden
        broken = (
            breaches(weights, context, policy, BROKEN_TOL)
            if policy.limits.sleeve_max_risk
            else ()
        )
        ex_ante = float(np.sqrt(max(float(weights @ cov @ weights), 0.0)))
        return Decision(
            weights,
            ex_ante,
            allocation.scale,
            allocation.leverage_capped,
            drawdown_multiplier,
            risk_scale,
            margin_scale,
            projected,
            risk_contributions(weights, cov)
            if weights.any()
            else np.zeros_like(weights),
            broken,
            (base.fallback,) if base.fallback else (),
        )

    def _project(
        self,
        weights: FloatArray,
        cov: FloatArray,
        context: DecisionContext,
        sleeve_upper_override: dict[str, float] | None = None,
    ) -> FloatArray:
        sleeves, first_trade = context.sleeves, context.first_trade
        key = (*context.assets, "|", *sleeves)
        problem = self._projections.get(key)
        if problem is None:
            problem = ConstrainedProblem(
                sleeves, with_turnover=self.policy.limits.max_turnover is not None
            )
            self._projections[key] = problem
        values: dict[str, FloatArray | float] = {}
        for limit in WEIGHT_LIMITS.values():
            values.update(
                limit.values(self.policy, context, sleeve_upper_override or {})
            )
        vol_now = float(np.sqrt(max(float(weights @ cov @ weights), 0.0)))

        def solve(vol_cap: float) -> FloatArray:
            return problem.solve(
                weights,
                cov,
                gross=self.policy.target.max_gross_leverage,
                vol_cap=vol_cap,
                **values,
            )

        try:
            return solve(max(vol_now, 1e-12) * (1 + 1e-9))
        except InfeasibleError as exc:
            fields = ", ".join(limit_fields(self.policy, sleeves, first_trade))
            try:  # is it the vol of the targeted weights that the limits cannot fit?
                solve(LARGE)
            except InfeasibleError:
                raise InfeasibleError(
                    f"the weight limits ({fields}) cannot hold together: {exc}"
                ) from exc
            annual = vol_now / self.daily
            raise InfeasibleError(
                f"the weight limits ({fields}) need more ex-ante vol than the "
                f"{annual:.2%} a year of the vol-targeted weights (target."
                "target_vol_annual, target.max_gross_leverage, and the risk scales)"
            ) from exc

    def _cap_sleeve_risk(
        self, weights: FloatArray, cov: FloatArray, context: DecisionContext
    ) -> FloatArray:
        """Cut sleeves whose share of variance exceeds their cap (cash absorbs).

        Cutting one sleeve raises the others' shares, so the cuts repeat until every
        share is within its cap; with bounds or a turnover cap the result is then
        re-projected with the cut sleeves' weights as extra sleeve maxima.
        """
        caps = self.policy.limits.sleeve_max_risk
        if not caps:
            return weights
        labels = np.asarray(context.sleeves)
        override: dict[str, float] = {}
        for _ in range(RISK_CAP_ROUNDS):
            weights = cut_to_risk_caps(weights, cov, labels, caps, override)
            if not self.policy.limits.needs_optimiser or not breaches(
                weights, context, self.policy
            ):
                return weights
            weights = self._project(weights, cov, context, override)
        return cut_to_risk_caps(weights, cov, labels, caps, override)


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
