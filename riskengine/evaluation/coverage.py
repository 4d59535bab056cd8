"""VaR backtests: Kupiec's proportion of failures, Christoffersen's independence.

Each test is a likelihood ratio of Bernoulli (or first-order Markov) likelihoods
of a hit sequence (1 where the return fell below the VaR), compared with a
chi-square distribution:

- Kupiec (1995), proportion of failures: ``LR_pof = -2 [ln L(p) - ln L(x/T)]``
  with ``ln L(q) = (T - x) ln(1 - q) + x ln q``, chi-square with one degree of
  freedom;
- Christoffersen (1998), independence: a first-order Markov chain of hits
  (``pi01 = n01 / (n00 + n01)``, ``pi11 = n11 / (n10 + n11)``) against one hit
  rate ``pi = (n01 + n11) / (T - 1)`` over the T - 1 transitions, chi-square with
  one degree of freedom;
- conditional coverage: ``LR_cc = LR_pof + LR_ind``, chi-square with two degrees
  of freedom (the sum, as Christoffersen and most software compute it, with the
  proportion-of-failures part over all T hits).

``0 ln 0`` is 0 (`scipy.special.xlogy`): no hit, or no hit after a hit, leaves a
term out instead of making it undefined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import xlogy
from scipy.stats import chi2

from riskengine._typing import BoolArray


@dataclass(frozen=True)
class CoverageTests:
    """Kupiec and Christoffersen tests of one VaR series.

    Attributes
    ----------
    observations : int
        T, the forecasts tested.
    exceedances : int
        x, the returns below their VaR.
    expected_rate : float
        p, the VaR's tail probability (0.01 for a 99% VaR).
    lr_pof, pvalue_pof : float
        Kupiec's proportion-of-failures statistic and its chi-square(1) p-value.
    lr_ind, pvalue_ind : float
        Christoffersen's independence statistic and its chi-square(1) p-value.
    lr_cc, pvalue_cc : float
        Conditional coverage, ``lr_pof + lr_ind``, and its chi-square(2) p-value.
    """

    observations: int
    exceedances: int
    expected_rate: float
    lr_pof: float
    pvalue_pof: float
    lr_ind: float
    pvalue_ind: float
    lr_cc: float
    pvalue_cc: float


def _bernoulli_loglik(zeros: float, ones: float, rate: float) -> float:
    """``zeros ln(1 - rate) + ones ln(rate)``, with ``0 ln 0 = 0``."""
    return float(xlogy(zeros, 1.0 - rate) + xlogy(ones, rate))


def kupiec_pof(hits: ArrayLike, rate: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures test of a hit sequence.

    Parameters
    ----------
    hits : ndarray of bool or {0, 1}
        1 where the return fell below the VaR, shape (T,).
    rate : float
        Expected hit rate p in (0, 1).

    Returns
    -------
    lr, pvalue : float
        The likelihood ratio and its chi-square(1) p-value.
    """
    flags = _checked(hits, rate)
    total, count = flags.size, int(flags.sum())
    null = _bernoulli_loglik(total - count, count, rate)
    fitted = _bernoulli_loglik(total - count, count, count / total)
    lr = max(-2.0 * (null - fitted), 0.0)
    return lr, float(chi2.sf(lr, 1))


def christoffersen_independence(hits: ArrayLike) -> tuple[float, float]:
    """Christoffersen's test that hits do not cluster (first-order Markov).

    Parameters
    ----------
    hits : ndarray of bool or {0, 1}
        1 where the return fell below the VaR, shape (T,), T >= 2.

    Returns
    -------
    lr, pvalue : float
        The likelihood ratio and its chi-square(1) p-value.
    """
    flags = _checked(hits, 0.5)
    if flags.size < 2:
        raise ValueError("hits: the independence test needs at least 2 observations")
    before, after = flags[:-1], flags[1:]
    n00 = float(np.sum(~before & ~after))
    n01 = float(np.sum(~before & after))
    n10 = float(np.sum(before & ~after))
    n11 = float(np.sum(before & after))
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    null = _bernoulli_loglik(n00 + n10, n01 + n11, pi)
    markov = _bernoulli_loglik(n00, n01, pi01) + _bernoulli_loglik(n10, n11, pi11)
    lr = max(-2.0 * (null - markov), 0.0)
    return lr, float(chi2.sf(lr, 1))


def coverage_tests(hits: ArrayLike, rate: float) -> CoverageTests:
    """Kupiec, Christoffersen independence and conditional coverage of a VaR.

    Parameters
    ----------
    hits : ndarray of bool or {0, 1}
        1 where the return fell below the VaR, shape (T,), T >= 2.
    rate : float
        Expected hit rate p in (0, 1): 1 minus the VaR's confidence level.
    """
    lr_pof, p_pof = kupiec_pof(hits, rate)
    lr_ind, p_ind = christoffersen_independence(hits)
    lr_cc = lr_pof + lr_ind
    return CoverageTests(
        observations=int(np.size(hits)),
        exceedances=int(np.sum(hits)),
        expected_rate=rate,
        lr_pof=lr_pof,
        pvalue_pof=p_pof,
        lr_ind=lr_ind,
        pvalue_ind=p_ind,
        lr_cc=lr_cc,
        pvalue_cc=float(chi2.sf(lr_cc, 2)),
    )


def _checked(hits: ArrayLike, rate: float) -> BoolArray:
    """`hits` as a boolean vector; a bad rate, shape or value is a ValueError."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate: must be in (0, 1), got {rate}")
    array = np.asarray(hits)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"hits: expected a non-empty vector, got shape {array.shape}")
    if not np.isin(array, (0, 1)).all():
        raise ValueError("hits: expected only 0/1 or True/False values")
    return array.astype(bool)
