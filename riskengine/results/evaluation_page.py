"""A forecast evaluation as one self-contained HTML page (``report.html``).

One table per asset, one row per model: QLIKE at each horizon (the lowest in bold,
a model in the model confidence set marked), each one-day VaR's exceedances
against the expected count with its Kupiec and conditional-coverage p-values (a
rejection at 5% marked), and the refit, fallback and boundary figures; then each
GARCH model's refits over all assets, with why some fell back; a legend says what
each column is. Like the backtest report the page makes no request (the
same Content-Security-Policy) and escapes every text that comes from a spec or the
data. It lives in the results stage because it reuses that stage's page policy;
the evaluation stage writes it beside its Parquet file
(`riskengine.evaluation.write_evaluation`).
"""

from __future__ import annotations

import math
from html import escape

import pandas as pd

from riskengine.data.prices import SIMULATED_NOTE
from riskengine.evaluation import Evaluation, level_tag, refit_lines
from riskengine.results.html_page import page_head
from riskengine.results.html_tables import number_cell

REJECTION_LEVEL = 0.05
"""A coverage test's p-value below this is marked as a failure."""

_STYLE = """
table.evaluation { font-size: 0.8em; }
table.evaluation th, table.evaluation td { padding: 0.3em 0.45em; }
td.fail { color: #c0392b; font-weight: bold; }
dl.legend dt { font-weight: bold; float: left; clear: left; width: 11em; }
dl.legend dd { margin-left: 12em; margin-bottom: 0.3em; }
"""


def evaluation_page(evaluation: Evaluation) -> str:
    """The evaluation as a self-contained HTML page.

    Parameters
    ----------
    evaluation : Evaluation
        The scored models (`riskengine.evaluation.evaluate_models`).

    Returns
    -------
    str
        The page, UTF-8 text.
    """
    banner = ""
    if evaluation.simulated:
        banner = f'<p class="banner">{escape(SIMULATED_NOTE)}</p>'
    models = ", ".join(escape(spec.name) for spec in evaluation.models)
    sections = [
        f"<h2>{escape(str(asset))}</h2>{_asset_table(evaluation, block)}"
        for asset, block in evaluation.table.groupby("asset", sort=False)
    ]
    skipped = "".join(
        f'<p class="muted">skipped {escape(asset)}: {escape(why)}</p>'
        for asset, why in evaluation.skipped.items()
    )
    refits = "".join(
        f"<li>{escape(line.removeprefix('refits  '))}</li>"
        for line in refit_lines(evaluation)
    )
    if refits:
        refits = f"<h2>Refits over all assets</h2><ul>{refits}</ul>"
    timings = ", ".join(
        f"{escape(name)} {s:.1f} s" for name, s in evaluation.seconds.items()
    )
    return (
        page_head("Forecast evaluation", width="90em", style=_STYLE)
        + f"<h1>Forecast evaluation</h1>{banner}"
        f'<p class="muted">data: {escape(evaluation.source)} (sha256 '
        f"{escape(evaluation.fingerprint[:12])}); models: {models}</p>"
        f"{_legend(evaluation)}{''.join(sections)}{refits}{skipped}"
        f'<p class="muted">forecast time: {timings}</p></body></html>\n'
    )


def _legend(evaluation: Evaluation) -> str:
    """What each column means."""
    confidence = 1.0 - evaluation.mcs_size
    terms = [
        (
            "QLIKE Hd",
            "mean of log h + RV/h, the H-day variance forecast h against the sum RV "
            "of the next H squared returns, both in percent squared; lower is "
            "better, the lowest of each asset in bold",
        ),
        (
            "MCS \u2713",
            f"the model is in the {confidence:.0%} model confidence set of Hansen, "
            "Lunde and Nason on the QLIKE losses (arch's MCS, range statistic, "
            f"{evaluation.mcs_reps} stationary-bootstrap replications, seed "
            f"{evaluation.seed})",
        ),
        (
            "MSE 1d",
            "mean squared error of the one-day variance forecast, percent^4",
        ),
        (
            "VaR exceedances",
            "days whose next return fell below the one-day VaR at that confidence, "
            "against the number expected",
        ),
        (
            "Kupiec p",
            "p-value of Kupiec's proportion-of-failures test (is the exceedance "
            f"rate the nominal one?); in red when below {REJECTION_LEVEL:.0%}",
        ),
        (
            "cc p",
            "p-value of Christoffersen's conditional-coverage test (right rate and "
            f"no clustering of exceedances); in red when below {REJECTION_LEVEL:.0%}",
        ),
        (
            "refits",
            "GARCH fits behind the scored forecasts, the last one before the first "
            "scored day included (0 for models that do not fit)",
        ),
        (
            "fallback",
            "share of refits that failed and fell back to the model's fallback "
            "forecast; '-' for models that do not fit",
        ),
        (
            "boundary",
            "share of refits whose estimate ended on a parameter bound",
        ),
    ]
    items = "".join(f"<dt>{escape(t)}</dt><dd>{escape(d)}</dd>" for t, d in terms)
    scored = (
        f"each asset is scored from its observation {evaluation.burn_in_days + 1}, "
        "on the same days for every model and horizon"
    )
    return f'<p class="muted">{escape(scored)}</p><dl class="legend">{items}</dl>'


def _asset_table(evaluation: Evaluation, block: pd.DataFrame) -> str:
    """One asset's models, one row each."""
    horizons, levels = evaluation.horizons, evaluation.levels
    first = block.iloc[0]
    period = (
        f'<p class="muted">{first["first_date"].date()} .. '
        f"{first['last_date'].date()}, {first['forecasts']} forecasts</p>"
    )
    has_mse = 1 in horizons
    groups = (
        f'<tr><th></th><th colspan="{2 * len(horizons)}" class="group">QLIKE</th>'
        + ('<th class="group">MSE</th>' if has_mse else "")
        + "".join(
            f'<th colspan="3" class="group">VaR {level:.1%}</th>' for level in levels
        )
        + '<th colspan="3" class="group">GARCH refits</th></tr>'
    )
    head = ["<th>model</th>"]
    for h in horizons:
        head += [f'<th class="number">{h}d</th>', f'<th class="mcs">MCS {h}d</th>']
    if has_mse:
        head.append('<th class="number">1d</th>')
    for _ in levels:
        head += [
            '<th class="number">exceedances</th>',
            '<th class="number">Kupiec p</th>',
            '<th class="number">cc p</th>',
        ]
    head += [
        '<th class="number">refits</th>',
        '<th class="number">fallback</th>',
        '<th class="number">boundary</th>',
    ]
    best = {h: block[f"qlike_{h}d"].min() for h in horizons}
    rows = [groups, f"<tr>{''.join(head)}</tr>"]
    for _, row in block.iterrows():
        cells = [f"<td>{escape(str(row['model']))}</td>"]
        for h in horizons:
            text = f"{row[f'qlike_{h}d']:.4f}"
            if row[f"qlike_{h}d"] == best[h]:
                text = f"<b>{text}</b>"
            cells.append(number_cell(text))
            cells.append(
                '<td class="in-mcs">\u2713</td>' if row[f"in_mcs_{h}d"] else "<td></td>"
            )
        if has_mse:
            cells.append(number_cell(f"{row['mse_1d']:.3f}"))
        for level in levels:
            tag = level_tag(level)
            cells.append(
                number_cell(
                    f"{row[f'{tag}_exceedances']} / {row[f'{tag}_expected']:.1f}"
                )
            )
            cells.append(_pvalue_cell(row[f"{tag}_kupiec_p"]))
            cells.append(_pvalue_cell(row[f"{tag}_conditional_p"]))
        cells.append(number_cell(str(row["refits"])))
        cells.append(number_cell(_share(row["fallback_rate"])))
        cells.append(number_cell(_share(row["boundary_rate"])))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'{period}<table class="evaluation">{"".join(rows)}</table>'


def _pvalue_cell(value: float) -> str:
    """A p-value cell, marked as a failure below `REJECTION_LEVEL`."""
    if math.isnan(value):
        return number_cell("-")
    text = f"{value:.3f}" if value >= 0.001 else "&lt;0.001"
    if value < REJECTION_LEVEL:
        rejected = f"rejected at {REJECTION_LEVEL:.0%}"
        return f'<td class="number fail" title="{rejected}">{text} \u2717</td>'
    return number_cell(text)


def _share(value: float) -> str:
    """A share in percent; ``-`` when undefined."""
    return "-" if math.isnan(value) else f"{value:.1%}"
