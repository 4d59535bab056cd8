"""The GARCH families, one object each: what sets one apart from the others.

A family knows how arch specifies it, its persistence (the unit root a stationary
fit stays below), the recursion that filters returns with fixed parameters, how
its 1..H-step forecasts add up, and whether the compiled fitter
(`riskengine.volatility.fast_fit`) fits it. The refit machinery
(`riskengine.volatility.window_fit`, `riskengine.volatility.garch`) is shared and
never asks which family it runs.

To add a family: one `GarchFamily` object in `GARCH_FAMILIES`, and its name in
`ModelSpec.family`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import logsumexp

from riskengine._typing import FloatArray
from riskengine.registry import Registry
from riskengine.specs import ModelSpec
from riskengine.volatility import _kernels as kernels
from riskengine.volatility.fast_fit import VolKind

Core = tuple[float, float, float, float, float]
"""A fit's mu, omega, alpha, gamma and beta (0 for a parameter it lacks)."""


class GarchFamily(ABC):
    """One GARCH(1,1)-type family, fitted on percent returns as arch fits it.

    Attributes
    ----------
    name : str
        The `ModelSpec.family` value.
    arch_vol : {"GARCH", "EGARCH"}
        `arch_model`'s `vol` (with ``p = q = 1``).
    o : int
        `arch_model`'s `o`: asymmetric terms.
    fast_vol : {"garch", "gjr"} or None
        The compiled fitter's `vol` for this family (with normal or t errors);
        None where only arch fits it.
    persistence_on_bound : bool
        Whether persistence 1 is an edge of arch's parameter space for the family
        (a fit there is on a bound).
    """

    name: str
    arch_vol: Literal["GARCH", "EGARCH"]
    o: int
    fast_vol: VolKind | None
    persistence_on_bound: bool

    @abstractmethod
    def unit_root(self, alpha: float, gamma: float, beta: float) -> float:
        """The persistence a stationary fit keeps below one."""

    @abstractmethod
    def filter(self, resids: FloatArray, core: Core, first: float) -> FloatArray:
        """One-step forecasts with fixed parameters: `first`, then one per residual.

        `resids` are the percent returns less the fit's mean; forecasts in percent^2.
        """

    @abstractmethod
    def aggregate(
        self, core: Core, terms: FloatArray, one_day: FloatArray, horizon: int
    ) -> FloatArray:
        """Sums of the 1..`horizon`-step forecasts, given the one-step ones.

        `terms` are the fit's `horizon_terms`.
        """

    def horizon_terms(
        self,
        names: tuple[str, ...],
        params: FloatArray,
        std_resid: FloatArray,
        horizon: int,
    ) -> FloatArray:
        """What `aggregate` needs beyond the core parameters, from an arch fit.

        Computed once per fit from its standardised residuals; empty by default.
        """
        return np.empty(0)

    @abstractmethod
    def filter_exponent(self, core: Core, std_resid: FloatArray) -> float:
        """The Lyapunov exponent of the fitted filter along its own shocks.

        The mean log of how much a change in the previous day's (log) variance
        moves today's, over the fit window's standardised residuals: below 0 the
        filter forgets its start-up value (it is invertible), and the forecasts
        it gives do not depend on how the recursion was started.
        """


@dataclass(frozen=True)
class QuadraticGarch(GarchFamily):
    """GARCH(1,1) (``o = 0``) or GJR-GARCH(1,1,1) (``o = 1``): squared shocks.

    ``sigma2' = omega + (alpha + gamma 1[e < 0]) e^2 + beta sigma2``; the
    persistence ``alpha + gamma / 2 + beta`` makes the h-step forecasts a linear
    recursion.
    """

    name: str
    o: int
    fast_vol: VolKind | None
    arch_vol: Literal["GARCH", "EGARCH"] = "GARCH"
    persistence_on_bound: bool = True

    def unit_root(self, alpha: float, gamma: float, beta: float) -> float:
        """``alpha + gamma / 2 + beta``."""
        return alpha + 0.5 * gamma + beta

    def filter_exponent(self, core: Core, std_resid: FloatArray) -> float:
        """``log beta``: the variance is linear in the previous one (returns: data)."""
        return math.log(core[4]) if core[4] > 0.0 else -math.inf

    def filter(self, resids: FloatArray, core: Core, first: float) -> FloatArray:
        """One-step forecasts with fixed parameters: `first`, then one per residual."""
        _, omega, alpha, gamma, beta = core
        return kernels.garch_path(resids, omega, alpha, gamma, beta, first)

    def aggregate(
        self, core: Core, terms: FloatArray, one_day: FloatArray, horizon: int
    ) -> FloatArray:
        """Sums of the 1..H-step forecasts: ``s_h = omega + persistence s_h-1``."""
        _, omega, alpha, gamma, beta = core
        total = one_day.copy()
        persistence = self.unit_root(alpha, gamma, beta)
        step = one_day
        for _ in range(2, horizon + 1):
            step = omega + persistence * step
            total += step
        return total


@dataclass(frozen=True)
class Egarch(GarchFamily):
    """EGARCH(1,1,1): log variance driven by ``alpha (|z| - E|z|) + gamma z``.

    Its h-step forecasts need the distribution of the standardised shocks: they
    are taken from the fit's own standardised residuals (`horizon_terms`).
    """

    name: str = "egarch"
    o: int = 1
    fast_vol: VolKind | None = None
    arch_vol: Literal["GARCH", "EGARCH"] = "EGARCH"
    persistence_on_bound: bool = False

    def unit_root(self, alpha: float, gamma: float, beta: float) -> float:
        """``beta``, the persistence of the log variance."""
        return beta

    def filter_exponent(self, core: Core, std_resid: FloatArray) -> float:
        """``mean log |beta - (alpha |z| + gamma z) / 2|`` over the fit's shocks.

        With ``z = e / sigma``, d log sigma2_t / d log sigma2_t-1 is
        ``beta - (alpha |z| + gamma z) / 2``; its mean log is the empirical form
        of Wintenberger's (2013) invertibility condition for EGARCH(1,1). A fit
        with alpha < 0 and beta near 1 (found on quiet bond windows) has it above
        0: its filter amplifies a change of start-up by orders of magnitude
        (LQD to 2024-12-04: the 1000-day path ends at 0.17 from arch's backcast
        and at 2.5e4 from the backcast of the fitted mean's residuals).
        """
        _, _, alpha, gamma, beta = core
        z = np.asarray(std_resid, dtype=float)
        with np.errstate(divide="ignore"):  # a zero slope is a log of -inf
            return float(
                np.mean(np.log(np.abs(beta - 0.5 * (alpha * np.abs(z) + gamma * z))))
            )

    def filter(self, resids: FloatArray, core: Core, first: float) -> FloatArray:
        """One-step forecasts with fixed parameters: `first`, then one per residual."""
        _, omega, alpha, gamma, beta = core
        return kernels.egarch_path(resids, omega, alpha, gamma, beta, first)

    def horizon_terms(
        self,
        names: tuple[str, ...],
        params: FloatArray,
        std_resid: FloatArray,
        horizon: int,
    ) -> FloatArray:
        """``log E exp(beta^k (alpha (|z| - E|z|) + gamma z))``, k = 0..H-2."""
        z = np.asarray(std_resid)
        shock = params[names.index("alpha[1]")] * (np.abs(z) - kernels.SQRT_2_OVER_PI)
        shock += params[names.index("gamma[1]")] * z
        beta = params[names.index("beta[1]")]
        # log-mean-exp, stably: a mean of exps that all underflow (a shock term
        # of -800, say) is still its log, and one that overflows is inf (a wild
        # fit: its sums break down, judged by the caller)
        return np.array(
            [
                logsumexp(beta**k * shock) - math.log(shock.size)
                for k in range(horizon - 1)
            ]
        )

    def aggregate(
        self, core: Core, terms: FloatArray, one_day: FloatArray, horizon: int
    ) -> FloatArray:
        """Sums of the 1..H-step forecasts, through the empirical shock terms."""
        _, omega, _, _, beta = core
        total = one_day.copy()
        level, log_one_day = 0.0, np.log(one_day)
        for h in range(2, horizon + 1):
            level += omega * beta ** (h - 2) + terms[h - 2]
            total += np.exp(level + beta ** (h - 1) * log_one_day)
        return total


GARCH_FAMILIES: Registry[GarchFamily] = Registry(
    "GARCH family",
    "family",
    [
        QuadraticGarch("garch", o=0, fast_vol="garch"),
        QuadraticGarch("gjr", o=1, fast_vol="gjr"),
        Egarch(),
    ],
)
"""Every GARCH family by `ModelSpec.family` name."""


def family_of(spec: ModelSpec) -> GarchFamily:
    """The GARCH family of a spec; a `SpecError` naming the closest if unknown."""
    return GARCH_FAMILIES.lookup(spec.family, f"model '{spec.name}'")
