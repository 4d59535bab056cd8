"""Long-run premia that set the simulator's drifts, each with its source.

A sample mean over 2008-2025 is one draw of history: extrapolated, it flatters every
strategy run on the simulated default. The simulator's drifts come instead from
stated long-run premia, chosen from standard sources.

Convention: a premium is the expected *arithmetic* excess return over cash, a
decimal a year (the sum of a year's expected daily simple excess returns, as
annualised by the metrics' Sharpe ratio). The simulated cash rate is zero (the
policies' default ``cash_rate_annual``), so a simulated return is its excess return.
Sources mostly report geometric premia; at vol ``s``, arithmetic = geometric +
``s**2 / 2``. A zero premium makes the price a martingale: its log drift is
negative, ``-s**2 / 2``.

Sources
-------
- DMS: E. Dimson, P. Marsh, M. Staunton (2011), "Equity Premiums around the
  World", in *Rethinking the Equity Risk Premium*, CFA Institute Research
  Foundation (their data feed the Credit Suisse / UBS Global Investment Returns
  Yearbook): world equities 1900-2010 beat Treasury bills by 4.5% a year and long
  government bonds by 3.8% (geometric); the premium they expect ahead is about
  3-3.5% (geometric).
- A. Ilmanen (2011), *Expected Returns*, Wiley, ch. 10: over long histories,
  investment-grade credit beat Treasuries by only 0.2-0.5% a year; speculative
  grade did better, but spreads overstate the premium (default and downgrade
  losses).
- J. Thomas (2012), "The Credit Risk Premium and Return Predictability in High
  Yield Bonds", SSRN 2037495: the high-yield credit risk premium (expected excess
  return after expected default losses) averages about 2.4% a year.
- C. Erb, C. Harvey (2013), "The Golden Dilemma", Financial Analysts Journal
  69(4): gold pays no cash flow and earns no reliable premium over the long run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Premium:
    """An asset's long-run premium and where it comes from.

    Attributes
    ----------
    excess_return_annual : float
        Expected arithmetic excess return over cash, decimal a year (0.05 is 5%).
    source : str
        The source and the reasoning, one line, recorded in the params JSON.
    """

    excess_return_annual: float
    source: str


PREMIA: dict[str, Premium] = {
    "GLD": Premium(
        0.0,
        "none: gold pays no cash flow and has no reliable premium over cash "
        "(Erb-Harvey 2013, The Golden Dilemma)",
    ),
    "SLV": Premium(
        0.0, "none: as gold, a metal with no cash flow and no reliable premium"
    ),
    "SPY": Premium(
        0.05,
        "equity premium: DMS 2011 (Global Investment Returns Yearbook data) expect "
        "3-3.5% a year geometric over bills (4.5% realised 1900-2010); 3% plus half "
        "the variance at the calibrated 20% vol is 5% arithmetic",
    ),
    "EEM": Premium(
        0.06,
        "equity premium, a point over developed markets for higher risk; held "
        "below the 6.8% that DMS's 3% geometric would give at the calibrated 28% "
        "vol, so EM earns less per unit of risk than developed equity",
    ),
    "HYG": Premium(
        0.02,
        "credit premium after defaults plus a short term premium: below the 2.4% "
        "high-yield credit risk premium of Thomas 2012, as index holders earn less "
        "than spreads suggest (Ilmanen 2011, Expected Returns, ch. 10)",
    ),
    "TLT": Premium(
        0.015,
        "term premium: DMS 2011 put long bonds 0.7% a year over bills, geometric, "
        "1900-2010 (1.045/1.038); 1.5% arithmetic is about 0.3% geometric at the "
        "calibrated 15% vol",
    ),
    "BTC_USD": Premium(
        0.0,
        "none: no history long enough to estimate a premium out of sample "
        "(prices from 2014)",
    ),
}


def daily_log_drift(
    premium_annual: float, daily_variance: float, steps_per_year: float
) -> float:
    """The mean percent daily log return that earns a premium in arithmetic terms.

    Parameters
    ----------
    premium_annual : float
        Expected arithmetic excess return, decimal a year.
    daily_variance : float
        Unconditional variance of the percent daily log return, percent squared
        (``omega / (1 - alpha - beta)`` of the GARCH).
    steps_per_year : float
        Steps in a year: 252 for exchange assets, 365 for daily ones (the engine's
        convention, `riskengine.calendar`).

    Returns
    -------
    float
        ``mu = 100 * premium_annual / steps_per_year - daily_variance / 200``,
        percent a day: then ``E[exp(r / 100) - 1] = premium_annual / steps_per_year``
        to second order in ``r``.
    """
    return 100.0 * premium_annual / steps_per_year - daily_variance / 200.0
