"""A stress test's files: Parquet tables, a manifest and one self-contained page.

Written through `riskengine.output` into a new version folder swapped into place
in one rename. The page holds tables and inline SVG price paths only; its
Content-Security-Policy (the backtest report's) forbids every request.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from riskengine.output import dumps, new_results_folder
from riskengine.results.html_page import page_head
from riskengine.results.provenance import versions
from riskengine.stress.analysis import growth
from riskengine.stress.result import StressResult

STRESS_FILES = frozenset(
    {
        "prices.parquet",
        "orders.parquet",
        "impact.parquet",
        "amplification.parquet",
        "sales.parquet",
        "costs.parquet",
        "sustained.parquet",
        "sensitivity.parquet",
        "variants.parquet",
        "manifest.json",
        "report.html",
    }
)
"""The files of a stress result folder."""


_STYLE = """
td, th { text-align: right; }
th:first-child, td:first-child { text-align: left; }
"""


def summary(result: StressResult) -> dict[str, Any]:
    """The figures a reader quotes: amplification, first sellers, costs, timings."""
    scenario = result.scenario
    return {
        "scenario": scenario.name,
        "file": scenario.path,
        "window": [str(scenario.start), str(scenario.end)],
        "data": result.source,
        "simulated": result.simulated,
        "funds": {f.policy.name: f.aum for f in scenario.funds},
        "impact": {
            "y": scenario.impact.y,
            "y_source": scenario.impact.y_source,
            "permanent_share": scenario.impact.permanent_share,
            "temporary_half_life_days": scenario.impact.temporary_half_life_days,
            "execution_share": scenario.impact.execution_share,
        },
        "adv_source": scenario.adv_source,
        "amplification": result.amplification["amplification"].to_dict(),
        "first_sellers": result.first_sellers(),
        "impact_cost_bps": result.costs["impact_cost_bps"].to_dict(),
        "sustained_days": result.sustained.groupby("sleeve").size().to_dict(),
        "sensitivity": result.sensitivity.to_dict(orient="records"),
        "variants": result.variants.to_dict(orient="records"),
        "timings": result.timings,
    }


def write_stress(result: StressResult, out_dir: str | Path) -> Path:
    """Write a stress result into `out_dir` (replacing riskengine's previous one).

    Raises
    ------
    OutputError
        If `out_dir` is not riskengine's to replace, or cannot be written.
    """
    feedback, without = result.feedback, result.without
    with new_results_folder(out_dir, STRESS_FILES) as staging:
        result.prices().pipe(_flat).to_parquet(staging / "prices.parquet")
        orders = pd.concat({"net": feedback.net_orders, **feedback.fund_orders}, axis=1)
        _flat(orders).to_parquet(staging / "orders.parquet")
        impact = pd.concat(
            {
                "peak_impact": feedback.impact,
                "daily_vol_with": feedback.daily_vol,
                "daily_vol_without": without.daily_vol,
            },
            axis=1,
        )
        _flat(impact).to_parquet(staging / "impact.parquet")
        result.amplification.to_parquet(staging / "amplification.parquet")
        result.sales.to_parquet(staging / "sales.parquet")
        result.costs.to_parquet(staging / "costs.parquet")
        result.sustained.to_parquet(staging / "sustained.parquet")
        result.sensitivity.to_parquet(staging / "sensitivity.parquet")
        result.variants.to_parquet(staging / "variants.parquet")
        scenario = result.scenario
        manifest = {
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            **summary(result),
            "sha256": result.fingerprint,
            "policies": [f.policy.to_dict() for f in scenario.funds],
            "adv": {a: scenario.adv[a] for a in feedback.net_orders.columns},
            "margin_hikes": [
                {"date": str(h.date), "asset": h.asset, "multiplier": h.multiplier}
                for h in scenario.margin_hikes
            ],
            "variant_settings": {v.name: dict(v.settings) for v in scenario.variants},
            "versions": versions(),
        }
        (staging / "manifest.json").write_text(dumps(manifest))
        (staging / "report.html").write_text(render(result), encoding="utf-8")
    return Path(out_dir)


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """Two-level columns joined as ``level0:level1`` (Parquet wants strings)."""
    flat = frame.copy()
    flat.columns = [":".join(map(str, c)) for c in frame.columns]
    return flat


def render(result: StressResult) -> str:
    """The report page: the scenario, price paths, and every table."""
    scenario = result.scenario
    title = f"Crowded-exit stress test: {scenario.name}"
    note = (
        "A what-if with stated assumptions, not a forecast: fund sizes, Y and the "
        "ADV table drive the result (see the sensitivity table)."
    )
    funds = ", ".join(f"{f.policy.name} ({f.aum / 1e9:g} bn)" for f in scenario.funds)
    impact = scenario.impact
    hikes = "; ".join(
        f"{h.asset} x{h.multiplier:g} from {h.date}" for h in scenario.margin_hikes
    )
    parts = [
        page_head(title, width="70em", style=_STYLE),
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(scenario.description)}</p>",
        f"<p><b>{html.escape(note)}</b></p>",
        "<p>"
        + html.escape(
            f"Window {scenario.start} to {scenario.end} on {result.source}"
            f"{' (SIMULATED data)' if result.simulated else ''}. Funds: {funds}. "
            f"Impact: Y = {impact.y:g} x daily vol x sqrt(order / ADV); "
            f"{impact.permanent_share:.0%} permanent, the rest decaying with a "
            f"{impact.temporary_half_life_days:g}-day half-life; trades pay "
            f"{impact.execution_share:.0%} of the peak. Source of Y: "
            f"{impact.y_source or 'not stated'}. ADV: {scenario.adv_source}. "
            f"Margin hikes (funds with a margin rule): {hikes or 'none'}."
        )
        + "</p>",
        "<h2>Price paths with and without feedback</h2>",
        _paths_svg(result),
        "<h2>Amplification per sleeve</h2>",
        _table(result.amplification, percent=True),
        "<h2>Who sold first, and how much</h2>",
        _table(result.sales.set_index(["sleeve", "fund"])),
        "<h2>Impact cost and drawdown per fund</h2>",
        _table(result.costs),
        "<h2>Days on which feedback sustained itself</h2>",
        "<p>"
        + html.escape(
            "The crowd's net selling of the sleeve was at least "
            f"{scenario.report.sustained_adv_share:.0%} of its ADV that day and the "
            "day before, and its impacted vol exceeded the unimpacted."
        )
        + "</p>",
        _table(result.sustained.set_index(["date", "sleeve"])),
        "<h2>Sensitivity over Y and fund sizes</h2>",
        _table(result.sensitivity.set_index(["y", "size"]))
        if not result.sensitivity.empty
        else "<p>Not run.</p>",
        "<h2>How the rules change the outcome</h2>",
        _variants_html(result),
        "</body></html>",
    ]
    return "\n".join(parts)


def _variants_html(result: StressResult) -> str:
    """The variants' settings, and their amplification and cost beside the base."""
    variants = result.scenario.variants
    if not variants:
        return "<p>The scenario lists no rule variants.</p>"
    if result.variants.empty:
        return "<p>Not run.</p>"
    settings = "".join(
        "<li>"
        + html.escape(
            f"{v.name}: "
            + ", ".join(f"{k} = {value!r}" for k, value in v.settings.items())
            + f" (on {', '.join(v.changed)})"
        )
        + "</li>"
        for v in variants
    )
    note = (
        "The same crowd and impact, each fund on its policy with the variant's "
        "fields overridden (funds whose policy lacks a field keep theirs). "
        "Amplification is the extra max drawdown per sleeve; impact cost in dollars."
    )
    table = result.variants.set_index("variant")
    shown = table[[c for c in table.columns if c.startswith("amplification_")]].copy()
    shown["impact_cost"] = [f"{v:,.0f}" for v in table["impact_cost"]]
    shown["changed"] = table["changed"]
    return f"<p>{html.escape(note)}</p><ul>{settings}</ul>" + _table(
        shown, percent=True
    )


def _table(frame: pd.DataFrame, *, percent: bool = False) -> str:
    def cell(value: object) -> str:
        if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            if percent:
                return f"{value:.2%}"
            return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
        if isinstance(value, pd.Timestamp):
            return str(value.date())
        return html.escape(str(value))

    if frame.empty:
        return "<p>None.</p>"
    return _rows_html(frame, cell)


def _rows_html(frame: pd.DataFrame, cell: Any) -> str:
    names = [*(frame.index.names if any(frame.index.names) else [""]), *frame.columns]
    head = "".join(f"<th>{html.escape(str(n or ''))}</th>" for n in names)
    rows = []
    for key, row in frame.iterrows():
        keys = key if isinstance(key, tuple) else (key,)
        cells = [*(cell(k) for k in keys), *(cell(v) for v in row.to_numpy())]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _paths_svg(result: StressResult) -> str:
    """One small inline SVG per traded asset: growth without (grey) and with (red)."""
    without = growth(result.without.returns)
    with_ = growth(result.feedback.returns)
    width, height = 220, 120
    figures = []
    priced = result.feedback.returns.notna().any()
    for asset in with_.columns[priced.to_numpy()]:
        low = min(without[asset].min(), with_[asset].min())
        high = max(without[asset].max(), with_[asset].max())
        span = (high - low) or 1.0

        grey = _points(without[asset], low, span, width, height)
        red = _points(with_[asset], low, span, width, height)
        figures.append(
            f'<figure style="display:inline-block;margin:4px">'
            f'<svg width="{width}" height="{height}" role="img">'
            f'<polyline fill="none" stroke="#999" points="{grey}"/>'
            f'<polyline fill="none" stroke="#c00" points="{red}"/>'
            f"</svg><figcaption>{html.escape(asset)}: "
            f"{without[asset].iloc[-1] - 1:+.1%} without, "
            f"{with_[asset].iloc[-1] - 1:+.1%} with</figcaption></figure>"
        )
    legend = (
        "<p>Growth of 1 from the close before the start: grey without feedback, "
        "red with it (each panel on its own scale).</p>"
    )
    return legend + "<div>" + "".join(figures) + "</div>"


def _points(series: pd.Series, low: float, span: float, width: int, height: int) -> str:
    """SVG polyline points of a series scaled into a `width` x `height` box."""
    n = max(len(series) - 1, 1)
    return " ".join(
        f"{i * width / n:.1f},{height - (v - low) / span * height:.1f}"
        for i, v in enumerate(series.to_numpy())
    )


def format_stress(result: StressResult) -> str:
    """The terminal summary: amplification, first sellers, costs, sensitivity."""
    scenario = result.scenario
    funds = ", ".join(f"{f.policy.name} {f.aum / 1e9:g} bn" for f in scenario.funds)
    lines = [
        f"stress test '{scenario.name}' ({scenario.start} to {scenario.end}) on "
        f"{result.source}{' (SIMULATED)' if result.simulated else ''}",
        f"funds: {funds}; Y = {scenario.impact.y:g}",
        "",
        "amplification (extra max drawdown of the sleeve caused by the crowd):",
    ]
    for sleeve, row in result.amplification.iterrows():
        lines.append(
            f"  {sleeve:<12} {row['amplification']:+7.2%}  (drawdown "
            f"{row['drawdown_without']:.2%} without, {row['drawdown_with']:.2%} with)"
        )
    lines += ["", "first to sell each sleeve:"]
    sales = result.sales.set_index(["sleeve", "fund"])
    for sleeve, fund in result.first_sellers().items():
        row = sales.loc[(sleeve, fund)]
        lines.append(
            f"  {sleeve:<12} {fund} on {row['first_sale'].date()}, "
            f"{row['sold'] / 1e9:.2f} bn net over the window "
            f"({row['sold_share']:.0%} of its holding)"
        )
    lines += ["", "impact cost per fund:"]
    for fund, row in result.costs.iterrows():
        lines.append(
            f"  {fund:<22} {row['impact_cost'] / 1e6:8.1f} m "
            f"({row['impact_cost_bps']:.1f} bp of AUM), extra drawdown "
            f"{row['extra_drawdown']:+.2%}"
        )
    lines.append(f"\nfeedback sustained itself on {len(result.sustained)} sleeve-days")
    if not result.sensitivity.empty:
        lines += ["", "sensitivity (amplification by sleeve):"]
        lines.append(_sensitivity_text(result.sensitivity))
    if not result.variants.empty:
        lines += ["", "rule variants (amplification by sleeve, impact cost):"]
        lines.append(_variants_text(result.variants))
    return "\n".join(lines)


def _sensitivity_text(table: pd.DataFrame) -> str:
    columns = [c for c in table.columns if c.startswith("amplification_")]
    head = (
        "  "
        + f"{'Y':>5} {'size':>5} "
        + " ".join(f"{c.removeprefix('amplification_')[:10]:>10}" for c in columns)
    )
    rows = [head]
    for _, row in table.iterrows():
        cells = " ".join(f"{row[c]:>+10.2%}" for c in columns)
        rows.append(f"  {row['y']:>5g} {row['size']:>5g} {cells}")
    return "\n".join(rows)


def _variants_text(table: pd.DataFrame) -> str:
    columns = [c for c in table.columns if c.startswith("amplification_")]
    width = max(len(str(v)) for v in table["variant"])
    head = (
        f"  {'variant':<{width}} "
        + " ".join(f"{c.removeprefix('amplification_')[:10]:>10}" for c in columns)
        + f" {'cost (m)':>9}  changed"
    )
    rows = [head]
    for _, row in table.iterrows():
        cells = " ".join(f"{row[c]:>+10.2%}" for c in columns)
        rows.append(
            f"  {row['variant']:<{width}} {cells} {row['impact_cost'] / 1e6:>9.1f}"
            f"  {row['changed'] or '-'}"
        )
    return "\n".join(rows)
