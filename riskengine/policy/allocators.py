"""Base weights, one rule object per `TargetSpec.base`, and the vol-target scaling.

Each base-weight rule is one `BaseRule` object in `BASE_RULES`: it turns one
decision's forecasts (`BaseInputs`) into base weights, before the vol target,
triggers and limits of `riskengine.policy.decision`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from riskengine._typing import FloatArray
from riskengine.data.sleeves import did_you_mean
from riskengine.errors import InfeasibleError, SpecError
from riskengine.policy.optimizers import RiskBudgetProblem, risk_budget_weights
from riskengine.registry import Registry
from riskengine.specs import LimitsSpec, PolicySpec, TargetSpec


@dataclass(frozen=True)
class Allocation:
    """Target weights of the active assets at one decision date.

    Attributes
    ----------
    weights : ndarray
        Fractions of NAV, shape (n_active,); the rest is cash (negative: borrowed).
    ex_ante_vol : float
        Daily portfolio vol of `weights` under the forecast covariance.
    scale : float
        Factor applied to the base weights (1 when there is no vol target).
    leverage_capped : bool
        True when the gross leverage cap bound the vol-target scaling.
    """

    weights: FloatArray
    ex_ante_vol: float
    scale: float
    leverage_capped: bool


def inverse_vol_weights(vol: FloatArray) -> FloatArray:
    """Weights proportional to 1 / vol, summing to one."""
    inverse = 1.0 / vol
    return inverse / inverse.sum()


def sleeve_equal_risk_weights(
    vol: FloatArray, cov: FloatArray, sleeves: Sequence[str]
) -> FloatArray:
    """Inverse vol within each sleeve; sleeves sized to equal stand-alone vol.

    Each sleeve's inverse-vol portfolio gets a weight proportional to one over its
    own forecast vol, so every sleeve contributes the same stand-alone risk.
    """
    labels = np.asarray(sleeves)
    weights = np.zeros_like(vol)
    for sleeve in dict.fromkeys(sleeves):
        members = labels == sleeve
        inner = np.zeros_like(vol)
        inner[members] = inverse_vol_weights(vol[members])
        weights += inner / np.sqrt(inner @ cov @ inner)
    return weights / weights.sum()


def fixed_sleeve_weights(
    sleeves: Sequence[str], sleeve_weights: Mapping[str, float]
) -> FloatArray:
    """Each sleeve's fixed weight split equally over its active assets.

    A sleeve without an active asset leaves its weight in cash.
    """
    labels = list(sleeves)
    return np.array(
        [sleeve_weights.get(s, 0.0) / labels.count(s) for s in labels], dtype=float
    )


class RiskBudgetProblems:
    """One allocator's risk-budget state, kept between decisions.

    Its cvxpy risk-budget problems, one per number of budgeted assets, built once
    and re-solved with each decision's data; the last weights Newton's method
    found, the next decision's start when it has the same assets; and the asset
    budgets of each set of assets and their sleeves (one policy's target and
    limits, so they depend on nothing else).
    """

    def __init__(self) -> None:
        self._by_size: dict[int, RiskBudgetProblem] = {}
        self._last: tuple[tuple[str, ...], FloatArray] | None = None
        self._budgets: dict[tuple[tuple[str, ...], ...], FloatArray] = {}

    def budgets(self, inputs: BaseInputs) -> FloatArray:
        """`asset_budgets` of the inputs' assets, computed once per set of them."""
        key = (tuple(inputs.assets), tuple(inputs.sleeves))
        if key not in self._budgets:
            budgets = asset_budgets(
                inputs.target, inputs.sleeves, inputs.assets, inputs.limits
            )
            budgets.flags.writeable = False  # shared by later decisions
            self._budgets[key] = budgets
        return self._budgets[key]

    def solve(self, cov: FloatArray, budgets: FloatArray) -> FloatArray:
        """`RiskBudgetProblem.solve` with the problem of this many budgets."""
        n = int((budgets > 0).sum())
        if n not in self._by_size:
            self._by_size[n] = RiskBudgetProblem(n)
        return self._by_size[n].solve(cov, budgets)

    def newton(
        self, cov: FloatArray, budgets: FloatArray, assets: Sequence[str]
    ) -> FloatArray:
        """`risk_budget_weights`, started from the last weights of the same assets.

        Raises
        ------
        InfeasibleError
            If Newton's method does not converge.
        """
        key = tuple(assets)
        start = self._last[1] if self._last and self._last[0] == key else None
        weights = risk_budget_weights(cov, budgets, start=start)
        self._last = (key, weights)
        return weights


@dataclass(frozen=True)
class BaseInputs:
    """What a base-weight rule reads at one decision, for the active assets.

    Attributes
    ----------
    target : TargetSpec
        The policy's target (the rule's own fields: sleeve weights, budgets, ...).
    limits : LimitsSpec
        The policy's limits (sleeve risk caps shape risk budgets).
    vol : ndarray
        Daily vol forecasts, shape (n,).
    cov : ndarray
        Covariance forecast, shape (n, n).
    sleeves, assets : sequence of str
        Sleeve and name of each asset.
    budget_multipliers : ndarray
        Trigger multipliers on risk budgets, shape (n,) (ones without such triggers).
    daily : float
        Daily vol of one unit of annual vol (1 / sqrt(periods per year)).
    problems : RiskBudgetProblems
        The allocator's risk-budget problems and last solution, kept between
        decisions.
    """

    target: TargetSpec
    limits: LimitsSpec
    vol: FloatArray
    cov: FloatArray
    sleeves: Sequence[str]
    assets: Sequence[str]
    budget_multipliers: FloatArray
    daily: float
    problems: RiskBudgetProblems


class BaseWeights(NamedTuple):
    """A rule's base weights, and the fallback it took to reach them."""

    weights: FloatArray
    fallback: str = ""  # why the first method gave way, and to what; "" if it did not


class BaseRule(ABC):
    """One way of forming base weights, named by `TargetSpec.base`.

    Attributes
    ----------
    name : str
        The `TargetSpec.base` value.
    fallback : str
        What the rule falls back on when its first method fails (recorded in
        `BaseWeights.fallback`); empty when it has none.
    """

    name: str
    fallback: str = ""

    @abstractmethod
    def weights(self, inputs: BaseInputs) -> BaseWeights:
        """Base weights of the active assets, shape (n,)."""


@dataclass(frozen=True)
class InverseVol(BaseRule):
    """Weights proportional to 1 / forecast vol over all assets."""

    name: str = "inverse_vol"

    def weights(self, inputs: BaseInputs) -> BaseWeights:
        """`inverse_vol_weights` of the forecasts."""
        return BaseWeights(inverse_vol_weights(inputs.vol))


@dataclass(frozen=True)
class SleeveEqualRisk(BaseRule):
    """Inverse vol within each sleeve; sleeves sized to equal stand-alone vol."""

    name: str = "sleeve_equal_risk"

    def weights(self, inputs: BaseInputs) -> BaseWeights:
        """`sleeve_equal_risk_weights` of the forecasts."""
        return BaseWeights(
            sleeve_equal_risk_weights(inputs.vol, inputs.cov, inputs.sleeves)
        )


@dataclass(frozen=True)
class Fixed(BaseRule):
    """`TargetSpec.sleeve_weights`, split equally over each sleeve's active assets."""

    name: str = "fixed"

    def weights(self, inputs: BaseInputs) -> BaseWeights:
        """`fixed_sleeve_weights` of the target's sleeve weights."""
        return BaseWeights(
            fixed_sleeve_weights(inputs.sleeves, inputs.target.sleeve_weights)
        )


@dataclass(frozen=True)
class RiskBudget(BaseRule):
    """Risk contributions proportional to the budgets (`asset_budgets`).

    Newton's method on the log-barrier problem (``risk_budget_solver = "fast"``),
    the same problem in cvxpy when it does not converge; cvxpy alone with
    ``risk_budget_solver = "cvxpy"``.
    """

    name: str = "risk_budget"
    fallback: str = "cvxpy when Newton's method does not converge"

    def weights(self, inputs: BaseInputs) -> BaseWeights:
        """Risk-budget weights; zeros when no asset has a budget."""
        target = inputs.target
        budgets = inputs.problems.budgets(inputs) * inputs.budget_multipliers
        if not (budgets > 0).any():
            return BaseWeights(np.zeros_like(inputs.vol))
        fallback = ""
        if target.risk_budget_solver == "fast":
            try:
                return BaseWeights(
                    inputs.problems.newton(inputs.cov, budgets, inputs.assets)
                )
            except InfeasibleError as exc:
                fallback = f"{exc}; solved with cvxpy instead"
        return BaseWeights(inputs.problems.solve(inputs.cov, budgets), fallback)


@dataclass(frozen=True)
class PerAssetVol(BaseRule):
    """Each asset sized to `TargetSpec.asset_vol_annual` on its own (CTA style)."""

    name: str = "per_asset_vol"

    def weights(self, inputs: BaseInputs) -> BaseWeights:
        """The per-asset vol target over each asset's forecast vol."""
        per_asset = inputs.target.asset_vol_annual
        assert per_asset is not None  # TargetSpec requires it with this base
        return BaseWeights(per_asset * inputs.daily / inputs.vol)


@dataclass(frozen=True)
class InverseVariance(BaseRule):
    """Each asset at ``c / forecast variance`` (Moreira and Muir's vol management).

    ``c`` is the daily variance of `TargetSpec.asset_vol_annual`: an asset is
    held at 100% when its forecast vol equals it, more when calmer.
    """

    name: str = "inverse_variance"

    def weights(self, inputs: BaseInputs) -> BaseWeights:
        """``(asset_vol_annual * daily / vol)^2`` per asset."""
        reference = inputs.target.asset_vol_annual
        assert reference is not None  # TargetSpec requires it with this base
        return BaseWeights((reference * inputs.daily / inputs.vol) ** 2)


BASE_RULES: Registry[BaseRule] = Registry(
    "base-weight rule",
    "target.base",
    [
        InverseVol(),
        SleeveEqualRisk(),
        Fixed(),
        RiskBudget(),
        PerAssetVol(),
        InverseVariance(),
    ],
)
"""Every base-weight rule by `TargetSpec.base` name."""


def check_asset_budgets(policy: PolicySpec, assets: Sequence[str], source: str) -> None:
    """Raise a `SpecError` if budgets by asset name an asset the policy cannot hold.

    With ``target.risk_budget_by = "asset"`` the keys of ``target.risk_budgets``
    are assets; one that is not in the universe (a typo, or a sleeve's name left
    from budgets by sleeve) would get no budget, silently, and budgets that all
    miss would leave the book in cash.
    """
    target = policy.target
    if target.risk_budget_by != "asset":
        return
    strays = [key for key in target.risk_budgets if key not in set(assets)]
    if strays:
        hint = did_you_mean(strays[0], assets, f"held: {', '.join(assets)}")
        raise SpecError(
            f"policy '{policy.name}': target.risk_budgets.{strays[0]}: no such asset "
            f"in the policy's universe on {source} ({hint}); with "
            'risk_budget_by = "asset" the budgets name assets, not sleeves'
        )


def asset_budgets(
    target: TargetSpec,
    sleeves: Sequence[str],
    assets: Sequence[str],
    limits: LimitsSpec,
) -> FloatArray:
    """Risk budget of each asset: sleeve budgets split equally, capped by sleeve caps.

    Sleeve caps on risk (`limits.sleeve_max_risk`) are met by water-filling: a capped
    sleeve's excess budget goes to the uncapped ones pro rata.
    """
    labels = np.asarray(sleeves)
    if target.risk_budget_by == "asset":
        budgets = np.array([target.risk_budgets.get(a, 0.0) for a in assets])
    elif target.risk_budgets:
        budgets = np.array([target.risk_budgets.get(s, 0.0) for s in sleeves])
        budgets = budgets / np.array([(labels == s).sum() for s in sleeves])
    else:
        budgets = np.ones(len(assets))
    if budgets.sum() <= 0 or not limits.sleeve_max_risk:
        return budgets
    budgets = budgets / budgets.sum()
    names = list(dict.fromkeys(sleeves))
    totals = np.array([budgets[labels == s].sum() for s in names])
    caps = np.array([limits.sleeve_max_risk.get(s, 1.0) for s in names])
    filled = _water_fill(totals, caps)
    factors = np.divide(filled, totals, out=np.zeros_like(totals), where=totals > 0)
    return budgets * np.array([factors[names.index(s)] for s in sleeves])


def _water_fill(shares: FloatArray, caps: FloatArray) -> FloatArray:
    """Cap shares (summing to one) and hand the excess to the uncapped, pro rata."""
    result = shares.copy()
    for _ in range(len(shares)):
        capped = result > caps
        if not capped.any():
            break
        excess = float((result[capped] - caps[capped]).sum())
        result[capped] = caps[capped]
        free = (result < caps) & (result > 0)
        if not free.any():
            break
        result[free] += excess * result[free] / result[free].sum()
    return result


def scale_to_vol_target(
    weights: FloatArray,
    cov: FloatArray,
    target_vol: float | None,
    max_gross_leverage: float,
) -> Allocation:
    """Scale weights to an ex-ante vol target, then cap gross leverage.

    Parameters
    ----------
    weights : ndarray
        Base weights, shape (n,).
    cov : ndarray
        Forecast covariance for the next day, shape (n, n).
    target_vol : float or None
        Daily vol target; None leaves the base weights unscaled.
    max_gross_leverage : float
        Largest sum of absolute weights.

    Returns
    -------
    Allocation
        ``scale * weights`` with ``scale = min(target / vol, cap / gross)``.
    """
    base_vol = float(np.sqrt(max(float(weights @ cov @ weights), 0.0)))
    gross = float(np.abs(weights).sum())
    if gross == 0.0:
        return Allocation(weights, 0.0, 1.0, False)
    wanted = 1.0 if target_vol is None else target_vol / base_vol
    cap = max_gross_leverage / gross
    scale = min(wanted, cap)
    return Allocation(weights * scale, base_vol * scale, scale, wanted > cap)
