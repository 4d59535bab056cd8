"""What the crowd did to the market: amplification, first sellers, costs, feedback.

Every figure compares the walk with feedback to the same funds on the exogenous
path without impact (their ordinary backtests), over the scenario's rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from riskengine.stress.engine import CrowdPath
from riskengine.stress.scenario import Scenario

AMPLIFICATION_COLUMNS = [
    "drawdown_without",
    "drawdown_with",
    "amplification",
    "return_without",
    "return_with",
]
SALES_COLUMNS = [
    "fund",
    "sleeve",
    "holding_start",
    "sold",
    "sold_share",
    "sold_adv_days",
    "first_sale",
    "rank",
]
COST_COLUMNS = [
    "aum",
    "impact_cost",
    "impact_cost_bps",
    "drawdown_without",
    "drawdown_with",
    "extra_drawdown",
]


def growth(returns: pd.DataFrame) -> pd.DataFrame:
    """Growth of 1 from the close before the first row (a row of ones added first)."""
    grown = (1.0 + returns.fillna(0.0)).cumprod()
    before = returns.index[0] - pd.Timedelta(days=1)
    ones = pd.DataFrame(1.0, index=[before], columns=returns.columns)
    return pd.concat([ones, grown])


def sleeve_returns(returns: pd.DataFrame, sleeves: Mapping[str, str]) -> pd.DataFrame:
    """Each sleeve's equal-weighted daily return over its priced assets (0 if none)."""
    labels = [sleeves[a] for a in returns.columns]
    return returns.T.groupby(labels, sort=False).mean().T.fillna(0.0)


def max_drawdown(path: pd.Series) -> float:
    """Largest fall of a growth path from its running peak (a positive fraction)."""
    return float((1.0 - path / path.cummax()).max())


def amplification(
    without: CrowdPath, feedback: CrowdPath, sleeves: Mapping[str, str]
) -> pd.DataFrame:
    """Per sleeve: drawdown and return with and without feedback, and the extra.

    ``amplification = drawdown_with - drawdown_without``: the extra maximum
    drawdown of the sleeve's equal-weighted index caused by the crowd.
    """
    paths = {
        name: growth(sleeve_returns(path.returns, sleeves))
        for name, path in (("without", without), ("with", feedback))
    }
    rows = {}
    for sleeve in paths["with"].columns:
        drawdowns = {k: max_drawdown(p[sleeve]) for k, p in paths.items()}
        rows[sleeve] = {
            "drawdown_without": drawdowns["without"],
            "drawdown_with": drawdowns["with"],
            "amplification": drawdowns["with"] - drawdowns["without"],
            "return_without": float(paths["without"][sleeve].iloc[-1] - 1.0),
            "return_with": float(paths["with"][sleeve].iloc[-1] - 1.0),
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=AMPLIFICATION_COLUMNS)


def sales(
    path: CrowdPath, sleeves: Mapping[str, str], adv: Mapping[str, float], share: float
) -> pd.DataFrame:
    """Who sold each sleeve, when first and how much.

    A fund's first sale of a sleeve is the first day its cumulative net sales since
    the start reach `share` of its dollar holding of the sleeve at the close before
    the start; `rank` orders the funds that sold a sleeve by that day (1 = first;
    ties by amount sold). `sold` is net dollars sold over the scenario (negative
    for a net buyer), `sold_adv_days` the same in days of the sleeve's ADV (over
    its assets priced in the window).
    """
    assets = list(path.net_orders.columns)
    labels = [sleeves[a] for a in assets]
    sleeve_adv = _sleeve_adv(path, sleeves, adv)
    holdings = path.start_holdings.T.groupby(labels).sum().T
    rows = []
    for fund, orders in path.fund_orders.items():
        by_sleeve = orders.T.groupby(labels).sum().T
        for sleeve in by_sleeve.columns:
            held = float(holdings.loc[fund, sleeve])
            if held <= 0.0:
                continue
            cumulative = -by_sleeve[sleeve].cumsum()
            hit = cumulative.index[cumulative.to_numpy() >= share * held]
            sold = float(cumulative.iloc[-1])
            rows.append(
                {
                    "fund": fund,
                    "sleeve": sleeve,
                    "holding_start": held,
                    "sold": sold,
                    "sold_share": sold / held,
                    "sold_adv_days": sold / float(sleeve_adv.get(sleeve, np.nan)),
                    "first_sale": hit[0] if hit.size else pd.NaT,
                }
            )
    table = pd.DataFrame(rows, columns=SALES_COLUMNS[:-1])
    table = table.sort_values(
        ["sleeve", "first_sale", "sold"], ascending=[True, True, False]
    )
    table["rank"] = table.groupby("sleeve")["first_sale"].rank(method="first")
    return table.reset_index(drop=True)


def _sleeve_adv(
    path: CrowdPath, sleeves: Mapping[str, str], adv: Mapping[str, float]
) -> pd.Series:
    """Each sleeve's ADV: the sum over its assets priced in the scenario's window."""
    priced = [a for a in path.returns.columns if path.returns[a].notna().any()]
    volumes = pd.Series([adv[a] for a in priced], index=[sleeves[a] for a in priced])
    return volumes.groupby(level=0).sum()


def first_sellers(table: pd.DataFrame) -> dict[str, str]:
    """The fund that sold each sleeve first (sleeves nobody sold are left out)."""
    first = table[table["rank"] == 1.0]
    return dict(zip(first["sleeve"], first["fund"], strict=True))


def costs(
    without: CrowdPath, feedback: CrowdPath, aum: Mapping[str, float]
) -> pd.DataFrame:
    """Per fund: impact cost (dollars, bps of AUM) and its drawdown with and without."""
    rows = {}
    for fund in feedback.funds:
        paid = float(feedback.impact_cost[fund].sum())
        drawdowns = [
            max_drawdown(pd.concat([pd.Series([aum[fund]]), p.nav[fund]]))
            for p in (without, feedback)
        ]
        rows[fund] = {
            "aum": aum[fund],
            "impact_cost": paid,
            "impact_cost_bps": paid / aum[fund] * 1e4 if aum[fund] > 0 else 0.0,
            "drawdown_without": drawdowns[0],
            "drawdown_with": drawdowns[1],
            "extra_drawdown": drawdowns[1] - drawdowns[0],
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=COST_COLUMNS)


def sustained_days(
    without: CrowdPath,
    feedback: CrowdPath,
    sleeves: Mapping[str, str],
    adv: Mapping[str, float],
    share: float,
) -> pd.DataFrame:
    """Days on which feedback sustained itself in a sleeve.

    A day counts when the crowd's net selling of the sleeve was at least `share` of
    its ADV on that day and on the day before, and the sleeve's mean daily vol on
    the impacted path (the vol in the impact law) exceeded that without feedback.
    Columns: date, sleeve, selling_adv_share (that day), vol_with, vol_without.
    """
    assets = list(feedback.net_orders.columns)
    labels = [sleeves[a] for a in assets]
    sleeve_adv = _sleeve_adv(feedback, sleeves, adv)
    selling = -feedback.net_orders.T.groupby(labels).sum().T / sleeve_adv
    vol_with = feedback.daily_vol.T.groupby(labels).mean().T
    vol_without = without.daily_vol.T.groupby(labels).mean().T
    heavy = selling >= share
    days = heavy & heavy.shift(1, fill_value=False) & (vol_with > vol_without)
    rows = [
        {
            "date": date,
            "sleeve": sleeve,
            "selling_adv_share": float(selling.loc[date, sleeve]),
            "vol_with": float(vol_with.loc[date, sleeve]),
            "vol_without": float(vol_without.loc[date, sleeve]),
        }
        for date, sleeve in zip(*np.nonzero(days.to_numpy()), strict=True)
        for date, sleeve in [(days.index[date], days.columns[sleeve])]
    ]
    columns = ["date", "sleeve", "selling_adv_share", "vol_with", "vol_without"]
    return pd.DataFrame(rows, columns=columns)


def sensitivity_row(
    scenario: Scenario,
    without: CrowdPath,
    feedback: CrowdPath,
    sleeves: Mapping[str, str],
) -> dict[str, float]:
    """One row of the sensitivity table: Y, size, amplification by sleeve, cost."""
    return {
        "y": scenario.impact.y,
        "total_aum": sum(f.aum for f in scenario.funds),
        **outcome(without, feedback, sleeves),
    }


def outcome(
    without: CrowdPath, feedback: CrowdPath, sleeves: Mapping[str, str]
) -> dict[str, float]:
    """Amplification by sleeve (``amplification_<sleeve>``) and total impact cost."""
    table = amplification(without, feedback, sleeves)
    return {
        **{f"amplification_{s}": float(v) for s, v in table["amplification"].items()},
        "impact_cost": float(feedback.impact_cost.to_numpy().sum()),
    }
