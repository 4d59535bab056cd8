"""Portfolio limits: which ones a set of weights breaks, and how each is met.

Weight bounds, sleeve bounds and the turnover cap are objects of their own
(`riskengine.policy.weight_limits`): here their breach tests, fields and conflicts are
gathered over the registry (the projection in `optimizers` gathers their
constraints); sleeve risk-contribution caps are met by cutting the
sleeve; one-day VaR99 / ES97.5 limits and exchange margin by scaling gross exposure
down; combinations that can never hold on a universe are reported before a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from riskengine._typing import FloatArray
from riskengine.errors import InfeasibleError
from riskengine.policy.optimizers import risk_contributions
from riskengine.policy.weight_limits import WEIGHT_LIMITS, Book, Holdings
from riskengine.specs import LimitsSpec, MarginSpec, PolicySpec

VAR_99_Z = NormalDist().inv_cdf(0.99)
ES_975_FACTOR = float(
    np.exp(-0.5 * NormalDist().inv_cdf(0.975) ** 2) / np.sqrt(2 * np.pi) / 0.025
)
"""Normal expected shortfall at 97.5% per unit of vol (about 2.338)."""
CUT_ITERATIONS = 1000
"""Rounds of sleeve cuts until every capped share is within its cap."""
EXACT_TOL = 1e-12
"""A limit broken by more than this sends the weights to the projection."""
BROKEN_TOL = 1e-7
"""A limit broken by less than this (solver accuracy) is not reported as broken."""


def cut_to_risk_caps(
    weights: FloatArray,
    cov: FloatArray,
    labels: np.ndarray,
    caps: Mapping[str, float],
    cut_weights: dict[str, float],
) -> FloatArray:
    """Scale down over-cap sleeves until every share is within its cap.

    Records the cut sleeves' resulting gross weights in `cut_weights`.
    """
    for _ in range(CUT_ITERATIONS):
        over = _sleeves_over_cap(weights, cov, labels, caps)
        if not over:
            break
        for sleeve in over:
            members = labels == sleeve
            factor = _sleeve_factor_for_share(weights, cov, members, caps[sleeve])
            weights = np.where(members, weights * factor, weights)
            cut_weights[sleeve] = float(np.abs(weights[members]).sum())
    return weights


def _sleeves_over_cap(
    weights: FloatArray, cov: FloatArray, labels: np.ndarray, caps: Mapping[str, float]
) -> list[str]:
    if not weights.any():
        return []
    shares = risk_contributions(weights, cov)
    return [
        s for s, cap in caps.items() if shares[labels == s].sum() > cap * (1 + 1e-9)
    ]


def risk_limit_scale(weights: FloatArray, cov: FloatArray, limits: LimitsSpec) -> float:
    """Factor that brings one-day 99% VaR and 97.5% ES within their caps."""
    vol = float(np.sqrt(max(float(weights @ cov @ weights), 0.0)))
    factor = 1.0
    if limits.var_99_max is not None and vol > 0:
        factor = min(factor, limits.var_99_max / (VAR_99_Z * vol))
    if limits.es_975_max is not None and vol > 0:
        factor = min(factor, limits.es_975_max / (ES_975_FACTOR * vol))
    return factor


def margin_rates(vol: FloatArray, margin: MarginSpec) -> FloatArray:
    """Initial margin per unit of notional, rising with forecast vol."""
    z = NormalDist().inv_cdf(margin.confidence)
    return np.maximum(margin.floor_rate, z * vol * np.sqrt(margin.horizon_days))


def margin_limit_scale(
    weights: FloatArray, vol: FloatArray, margin: MarginSpec
) -> float:
    """Factor that brings margin usage (margin per unit of NAV) within its cap."""
    usage = float(np.abs(weights) @ margin_rates(vol, margin))
    return 1.0 if usage <= margin.max_margin_usage else margin.max_margin_usage / usage


def limit_fields(
    policy: PolicySpec, sleeves: Sequence[str], first_trade: bool
) -> list[str]:
    """Dotted policy fields of the weight limits that apply to these sleeves."""
    book = Book(np.zeros(len(sleeves)), sleeves, first_trade)
    fields = ["target.max_gross_leverage"]
    for limit in WEIGHT_LIMITS.values():
        fields += limit.fields(policy, book)
    return fields


def broken_limits(
    weights: FloatArray,
    previous: FloatArray,
    sleeves: Sequence[str],
    policy: PolicySpec,
    first_trade: bool,
    tol: float = EXACT_TOL,
) -> tuple[str, ...]:
    """The policy fields of the bounds and turnover cap `weights` break (beyond tol)."""
    return breaches(weights, Book(previous, sleeves, first_trade), policy, tol)


def breaches(
    weights: FloatArray, holdings: Holdings, policy: PolicySpec, tol: float = EXACT_TOL
) -> tuple[str, ...]:
    """The fields of every registered weight limit `weights` break given `holdings`."""
    return tuple(
        field
        for limit in WEIGHT_LIMITS.values()
        for field in limit.broken(weights, holdings, policy, tol)
    )


def _sleeve_factor_for_share(
    weights: FloatArray, cov: FloatArray, members: np.ndarray, cap: float
) -> float:
    """Largest factor on a sleeve's weights that brings its variance share to `cap`."""
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        trial = np.where(members, weights * middle, weights)
        if not trial.any() or risk_contributions(trial, cov)[members].sum() <= cap:
            low = middle
        else:
            high = middle
    return low


def check_feasibility(policy: PolicySpec, sleeves: Sequence[str]) -> None:
    """Report limits that cannot all hold on this universe, before any date runs.

    Parameters
    ----------
    policy : PolicySpec
        The policy.
    sleeves : sequence of str
        Sleeve of every asset the policy may hold.

    Raises
    ------
    InfeasibleError
        Naming the conflicting fields, e.g. ``limits.sleeve_min_weight.rates (0.6)
        > limits.sleeve_max_weight.rates (0.4)``.
    """
    limits = policy.limits
    counts = {s: list(sleeves).count(s) for s in set(sleeves)}
    conflicts = [
        conflict
        for limit in WEIGHT_LIMITS.values()
        for conflict in limit.conflicts(policy, counts)
    ]
    capped = [s for s in counts if s in limits.sleeve_max_risk]
    if capped and len(capped) == len(counts):
        total = sum(limits.sleeve_max_risk[s] for s in capped)
        if total < 1.0:
            conflicts.append(
                f"limits.sleeve_max_risk caps every sleeve and sums to {total:g} < 1"
            )
    if conflicts:
        raise InfeasibleError(f"policy '{policy.name}': " + "; ".join(conflicts))
