"""Every limit of a policy, registered: the ones met by scaling, cutting, projecting.

Each limit is a `weight_limits.Limit`: it claims its spec fields, says which of them
apply and which a set of weights breaks, and reports the combinations that can
never hold on a universe. How it is met depends on its kind:

- a `ScalingLimit` scales the whole portfolio down by a factor in (0, 1]: one-day
  VaR99 / ES97.5 caps (`RiskLimit`) and exchange margin (`MarginLimit`);
- a `WeightLimit` is a cvxpy constraint of the projection (`weight_limits`);
- the sleeve risk-contribution caps (`SleeveRiskCaps`) cut the over-cap sleeves.

`LIMITS` registers them all, in the order a decision meets them; a limit added there
is checked for conflicts before a run and enrolled in the contract battery.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from riskengine._typing import FloatArray
from riskengine.errors import InfeasibleError
from riskengine.policy.optimizers import risk_contributions
from riskengine.policy.weight_limits import (
    WEIGHT_LIMITS,
    Book,
    Limit,
    ex_ante_vol,
)
from riskengine.registry import Registry
from riskengine.specs import MarginSpec, PolicySpec

VAR_99_Z = NormalDist().inv_cdf(0.99)
ES_975_FACTOR = float(
    np.exp(-0.5 * NormalDist().inv_cdf(0.975) ** 2) / np.sqrt(2 * np.pi) / 0.025
)
"""Normal expected shortfall at 97.5% per unit of vol (about 2.338)."""
PER_UNIT_VOL = {"limits.var_99_max": VAR_99_Z, "limits.es_975_max": ES_975_FACTOR}
"""One-day VaR99 and ES97.5 per unit of daily ex-ante vol, by the field capping it."""
CUT_ITERATIONS = 1000
"""Rounds of sleeve cuts until every capped share is within its cap."""
CAP_SLACK = 1e-9
"""A sleeve's variance share counts as over its cap beyond ``cap * (1 + CAP_SLACK)``."""
EXACT_TOL = 1e-12
"""A limit broken by more than this sends the weights to the projection."""
BROKEN_TOL = 1e-7
"""A limit broken by less than this (solver accuracy) is not reported as broken."""


class ScalingLimit(Limit):
    """A limit met by scaling every weight down by one factor in (0, 1]."""

    @abstractmethod
    def scale(self, weights: FloatArray, book: Book, policy: PolicySpec) -> float:
        """Largest factor in (0, 1] that brings `weights` within the limit."""

    @abstractmethod
    def switched_off(self, policy: PolicySpec) -> PolicySpec:
        """The policy without this limit (its scale is then always 1)."""


class RiskLimit(ScalingLimit):
    """``limits.var_99_max`` and ``limits.es_975_max``: one-day normal VaR and ES."""

    name = "risk_limit"
    claims = tuple(PER_UNIT_VOL)

    def caps(self, policy: PolicySpec) -> dict[str, float]:
        """The caps that are set, by field."""
        caps = {
            f: getattr(policy.limits, f.removeprefix("limits.")) for f in self.claims
        }
        return {f: cap for f, cap in caps.items() if cap is not None}

    def fields(self, policy: PolicySpec, book: Book) -> list[str]:
        """The caps that are set."""
        return list(self.caps(policy))

    def broken(
        self, weights: FloatArray, book: Book, policy: PolicySpec, tol: float
    ) -> list[str]:
        """A cap is broken when the weights' VaR or ES exceeds it."""
        vol = ex_ante_vol(weights, book.covariance)
        return [
            field
            for field, cap in self.caps(policy).items()
            if PER_UNIT_VOL[field] * vol > cap + tol
        ]

    def scale(self, weights: FloatArray, book: Book, policy: PolicySpec) -> float:
        """Factor that brings one-day 99% VaR and 97.5% ES within their caps."""
        caps = self.caps(policy)
        if not caps:
            return 1.0
        vol = ex_ante_vol(weights, book.covariance)
        factor = 1.0
        if vol > 0:
            for field, cap in caps.items():
                factor = min(factor, cap / (PER_UNIT_VOL[field] * vol))
        return factor

    def switched_off(self, policy: PolicySpec) -> PolicySpec:
        """The policy with neither cap."""
        limits = dataclasses.replace(policy.limits, var_99_max=None, es_975_max=None)
        return dataclasses.replace(policy, limits=limits)


class MarginLimit(ScalingLimit):
    """``[margin]``: initial margin per unit of NAV within ``max_margin_usage``.

    Margin per unit of notional rises with forecast vol (`margin_rates`), times
    any exchange margin hike in force (`Book.margin_multipliers`).
    """

    name = "margin"
    claims = tuple(f"margin.{f.name}" for f in dataclasses.fields(MarginSpec))

    def fields(self, policy: PolicySpec, book: Book) -> list[str]:
        """The usage cap, when the account is margined."""
        return [] if policy.margin is None else ["margin.max_margin_usage"]

    def broken(
        self, weights: FloatArray, book: Book, policy: PolicySpec, tol: float
    ) -> list[str]:
        """Broken when margin usage exceeds the cap."""
        margin = policy.margin
        if margin is None:
            return []
        rates = margin_rates(book.vol, margin, book.margin_multipliers)
        usage = float(np.abs(weights) @ rates)
        return (
            ["margin.max_margin_usage"] if usage > margin.max_margin_usage + tol else []
        )

    def scale(self, weights: FloatArray, book: Book, policy: PolicySpec) -> float:
        """Factor that brings margin usage (margin per unit of NAV) within its cap."""
        margin = policy.margin
        if margin is None:
            return 1.0
        rates = margin_rates(book.vol, margin, book.margin_multipliers)
        usage = float(np.abs(weights) @ rates)
        cap = margin.max_margin_usage
        return 1.0 if usage <= cap else cap / usage

    def switched_off(self, policy: PolicySpec) -> PolicySpec:
        """The policy on an unmargined account."""
        return dataclasses.replace(policy, margin=None)


def margin_rates(
    vol: FloatArray, margin: MarginSpec, hikes: FloatArray | None = None
) -> FloatArray:
    """Initial margin per unit of notional, rising with forecast vol.

    `hikes` multiply each asset's rate (an exchange's margin hike), same shape as
    `vol`; None leaves the rates as the model sets them.
    """
    z = NormalDist().inv_cdf(margin.confidence)
    rates = np.maximum(margin.floor_rate, z * vol * np.sqrt(margin.horizon_days))
    return rates if hikes is None else rates * hikes


class SleeveRiskCaps(Limit):
    """``limits.sleeve_max_risk``: a sleeve's share of ex-ante variance, capped.

    Met by cutting the over-cap sleeves (cash absorbs); cutting one sleeve raises
    the others' shares, so the cuts repeat until every share is within its cap. The
    caps take precedence over the weight limits.
    """

    name = "sleeve_risk"
    claims = ("limits.sleeve_max_risk",)

    def applies(self, policy: PolicySpec) -> bool:
        """Whether the policy caps any sleeve's risk."""
        return bool(policy.limits.sleeve_max_risk)

    def fields(self, policy: PolicySpec, book: Book) -> list[str]:
        """The caps of the sleeves present."""
        present = set(book.sleeves)
        caps = policy.limits.sleeve_max_risk
        return [f"limits.sleeve_max_risk.{s}" for s in caps if s in present]

    def broken(
        self, weights: FloatArray, book: Book, policy: PolicySpec, tol: float
    ) -> list[str]:
        """A cap is broken when its sleeve's share exceeds it (beyond the slack)."""
        over = _sleeves_over_cap(weights, book, policy.limits.sleeve_max_risk, tol=tol)
        return [f"limits.sleeve_max_risk.{s}" for s in over]

    def cut(
        self, weights: FloatArray, book: Book, policy: PolicySpec
    ) -> tuple[FloatArray, dict[str, float]]:
        """Scale down over-cap sleeves until every share is within its cap.

        Returns
        -------
        weights : ndarray
            The cut weights.
        sleeve_caps : dict
            The book's `sleeve_caps` updated with each cut sleeve's resulting gross
            weight (the maxima a re-projection keeps).
        """
        caps, labels = policy.limits.sleeve_max_risk, np.asarray(book.sleeves)
        cut = dict(book.sleeve_caps)
        for _ in range(CUT_ITERATIONS):
            over = _sleeves_over_cap(weights, book, caps)
            if not over:
                break
            for sleeve in over:
                members = labels == sleeve
                factor = _sleeve_factor_for_share(
                    weights, book.covariance, members, caps[sleeve]
                )
                weights = np.where(members, weights * factor, weights)
                cut[sleeve] = float(np.abs(weights[members]).sum())
        return weights, cut

    def conflicts(self, policy: PolicySpec, counts: Mapping[str, int]) -> list[str]:
        """Caps on every sleeve that sum below one."""
        caps = policy.limits.sleeve_max_risk
        capped = [s for s in counts if s in caps]
        total = sum(caps[s] for s in capped)
        if not capped or len(capped) < len(counts) or total >= 1.0:
            return []
        return [f"limits.sleeve_max_risk caps every sleeve and sums to {total:g} < 1"]


def _sleeves_over_cap(
    weights: FloatArray, book: Book, caps: Mapping[str, float], tol: float = 0.0
) -> list[str]:
    if not weights.any():
        return []
    shares = risk_contributions(weights, book.covariance)
    labels = np.asarray(book.sleeves)
    return [
        s
        for s, cap in caps.items()
        if shares[labels == s].sum() > cap * (1 + CAP_SLACK) + tol
    ]


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


SCALING_LIMITS: Registry[ScalingLimit] = Registry(
    "scaling limit", "limits", [RiskLimit(), MarginLimit()]
)
"""The limits met by scaling, in the order a decision applies them."""
SLEEVE_RISK_CAPS = SleeveRiskCaps()
LIMITS: Registry[Limit] = Registry(
    "limit",
    "limits",
    [*SCALING_LIMITS.values(), *WEIGHT_LIMITS.values(), SLEEVE_RISK_CAPS],
)
"""Every limit, in the order a decision meets them: scaling, projection, risk cuts."""


def applicable_fields(policy: PolicySpec, book: Book) -> list[str]:
    """Dotted policy fields of the weight limits that apply to this book."""
    return [f for limit in WEIGHT_LIMITS.values() for f in limit.fields(policy, book)]


def breaches(
    weights: FloatArray, book: Book, policy: PolicySpec, tol: float = EXACT_TOL
) -> tuple[str, ...]:
    """The fields of every weight limit `weights` break (beyond `tol`) in `book`."""
    return tuple(
        field
        for limit in WEIGHT_LIMITS.values()
        for field in limit.broken(weights, book, policy, tol)
    )


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
    counts = {s: list(sleeves).count(s) for s in dict.fromkeys(sleeves)}
    conflicts = [
        c for limit in LIMITS.values() for c in limit.conflicts(policy, counts)
    ]
    if conflicts:
        raise InfeasibleError(f"policy '{policy.name}': " + "; ".join(conflicts))
