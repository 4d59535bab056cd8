"""A whole stress test: the walk with and without feedback, and what it shows."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from riskengine.data.prices import Market
from riskengine.stress import analysis
from riskengine.stress.engine import CrowdPath, run_crowd
from riskengine.stress.scenario import Scenario


@dataclass(frozen=True)
class StressResult:
    """The crowded-exit stress test of one scenario on one market.

    Attributes
    ----------
    scenario : Scenario
        What was run.
    source, fingerprint : str
        The price data and their SHA-256.
    simulated : bool
        Whether the data come from the market simulator.
    without, feedback : CrowdPath
        The funds on the exogenous path (their ordinary backtests), and on the
        path their own orders move.
    amplification : pd.DataFrame
        Per sleeve (`analysis.AMPLIFICATION_COLUMNS`).
    sales : pd.DataFrame
        Who sold each sleeve, first and how much (`analysis.SALES_COLUMNS`).
    costs : pd.DataFrame
        Per fund (`analysis.COST_COLUMNS`).
    sustained : pd.DataFrame
        Days on which feedback sustained itself (`analysis.sustained_days`).
    sensitivity : pd.DataFrame
        Amplification per sleeve and total impact cost over Y and fund sizes
        (one row per pair; empty when not asked).
    variants : pd.DataFrame
        The same figures for the scenario (``base``) and each of its rule
        variants, by ``variant``, with the policies each changed (empty when not
        asked or the scenario has none).
    timings : dict of str to float
        Seconds: the walk without feedback, with it, and the sensitivity runs.
    """

    scenario: Scenario
    source: str
    fingerprint: str
    simulated: bool
    without: CrowdPath
    feedback: CrowdPath
    amplification: pd.DataFrame
    sales: pd.DataFrame
    costs: pd.DataFrame
    sustained: pd.DataFrame
    sensitivity: pd.DataFrame
    variants: pd.DataFrame
    timings: dict[str, float]

    def first_sellers(self) -> dict[str, str]:
        """The fund that sold each sleeve first, by sleeve."""
        return analysis.first_sellers(self.sales)

    def prices(self) -> pd.DataFrame:
        """Growth of 1 of each traded asset, without and with feedback.

        Columns are (``without`` or ``with``, asset); rows start at the close
        before the scenario's start.
        """
        return pd.concat(
            {
                "without": analysis.growth(self.without.returns),
                "with": analysis.growth(self.feedback.returns),
            },
            axis=1,
        )


def run_stress(
    scenario: Scenario,
    market: Market,
    *,
    sensitivity: bool = True,
    variants: bool = True,
) -> StressResult:
    """Run a scenario: the crowd without and with feedback, sensitivity, variants.

    Parameters
    ----------
    scenario : Scenario
        The scenario (see `riskengine.stress.scenario.load_scenario`).
    market : Market
        The prices it replays.
    sensitivity : bool, default True
        Also walk the crowd for every Y and fund-size multiplier of the scenario's
        ``[report]`` grid (one walk each).
    variants : bool, default True
        Also walk the crowd under each of the scenario's ``[[variants]]`` (one
        walk each, same impact; compared with the same path without feedback,
        which no policy changes).

    Returns
    -------
    StressResult
    """
    without = run_crowd(scenario, market, feedback=False)
    feedback = run_crowd(scenario, market)
    report = scenario.report
    timings = {"without": without.seconds, "feedback": feedback.seconds}
    rows = []
    if sensitivity:
        clock = time.perf_counter()
        for y in report.sensitivity_y:
            for size in report.sensitivity_size:
                changed = scenario.with_changes(y=y, size=size)
                path = run_crowd(changed, market)
                row = analysis.sensitivity_row(changed, without, path, market.sleeves)
                rows.append({"size": size, **row})
        timings["sensitivity"] = time.perf_counter() - clock
    variant_rows = []
    if variants and scenario.variants:
        clock = time.perf_counter()
        base = analysis.outcome(without, feedback, market.sleeves)
        variant_rows.append({"variant": "base", "changed": "", **base})
        for variant in scenario.variants:
            path = run_crowd(scenario.with_variant(variant), market)
            variant_rows.append(
                {
                    "variant": variant.name,
                    "changed": ", ".join(variant.changed),
                    **analysis.outcome(without, path, market.sleeves),
                }
            )
        timings["variants"] = time.perf_counter() - clock
    aum = {f.policy.name: f.aum for f in scenario.funds}
    return StressResult(
        scenario=scenario,
        source=market.source,
        fingerprint=market.fingerprint,
        simulated=market.simulated,
        without=without,
        feedback=feedback,
        amplification=analysis.amplification(without, feedback, market.sleeves),
        sales=analysis.sales(
            feedback, market.sleeves, scenario.adv, report.first_sale_share
        ),
        costs=analysis.costs(without, feedback, aum),
        sustained=analysis.sustained_days(
            without, feedback, market.sleeves, scenario.adv, report.sustained_adv_share
        ),
        sensitivity=pd.DataFrame(rows),
        variants=pd.DataFrame(variant_rows),
        timings=timings,
    )
