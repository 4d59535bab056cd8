"""Write a backtest's results, manifest and HTML report to a folder, atomically."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from riskengine.backtest import BacktestResult
from riskengine.data.prices import SIMULATED_NOTE
from riskengine.output import dumps, new_results_folder, write_csv
from riskengine.results.charts import png
from riskengine.results.html_report import render_html, report_figures
from riskengine.results.provenance import versions

MANIFEST_VERSION = 1
RESULT_FILES = frozenset(
    {
        "daily.parquet",
        "weights.parquet",
        "targets.parquet",
        "risk_contributions.parquet",
        "decisions.parquet",
        "attribution.parquet",
        "events.csv",
        "manifest.json",
        "report.html",
    }
)


def manifest(result: BacktestResult) -> dict[str, Any]:
    """Provenance of a run: resolved spec, data fingerprint, versions, timings.

    ``metrics`` cover the ``invested_period`` (None when the run has none);
    ``data.first_date`` and ``data.last_date`` bound every daily row written.
    """
    period = result.invested_period
    return {
        "manifest_version": MANIFEST_VERSION,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "policy": result.policy.to_dict(),
        "data": {
            "source": result.source,
            "sha256": result.fingerprint,
            "simulated": result.simulated,
            "first_date": str(result.returns.index[0].date()),
            "last_date": str(result.returns.index[-1].date()),
            "assets": list(result.weights.columns),
        },
        "note": SIMULATED_NOTE if result.simulated else "",
        "versions": versions(),
        "timings_seconds": dict(result.timings),
        "periods_per_year": result.periods_per_year,
        "invested_period": period.to_dict(),
        "metrics": result.metrics() if period.measurable else None,
        "baseline": _baseline_manifest(result),
    }


def _baseline_manifest(result: BacktestResult) -> dict[str, Any] | None:
    """The baseline's name, what it is and its metrics; None without one."""
    baseline = result.baseline
    if baseline is None:
        return None
    measurable = baseline.invested_period.measurable
    return {
        "policy": baseline.policy.name,
        "note": result.baseline_note,
        "invested_period": baseline.invested_period.to_dict(),
        "metrics": baseline.metrics() if measurable else None,
    }


FIGURES_FOLDER = "figures"
"""Folder of a results folder holding the report's figures as PNG, when asked."""


def write_results(
    result: BacktestResult, out_dir: str | Path, *, png_figures: bool = False
) -> Path:
    """Write a run's tables, metrics, events and manifest into `out_dir`.

    Everything is first written to a new version folder, then put in place in one
    rename, so a reader never sees a half-written folder and a failed or killed run
    leaves the previous results whole (see `riskengine.output`). `out_dir` must be
    missing, empty or riskengine's own results. With a baseline, ``daily.parquet``
    also holds its ``baseline_return`` and ``baseline_nav``, and
    ``attribution.parquet`` the de-risking attribution against it (columns:
    `riskengine.results.attribution.COLUMNS`). With `png_figures`, the report's
    figures are also written as PNG files (for slides) into `FIGURES_FOLDER`,
    named as in `riskengine.results.html_report.report_figures`.

    Parameters
    ----------
    result : BacktestResult
        The run to write.
    out_dir : str or Path
        Destination folder; its previous results are replaced.
    png_figures : bool, default False
        Also write each figure of the report as ``figures/NAME.png``.

    Returns
    -------
    Path
        The destination folder.

    Raises
    ------
    OutputError
        If `out_dir` is not riskengine's to replace, or cannot be written.
    """
    with new_results_folder(out_dir, RESULT_FILES) as staging:
        daily = pd.DataFrame(
            {
                "return": result.returns,
                "nav": (1.0 + result.returns).cumprod(),
                "turnover": result.turnover,
                "trading_cost": result.trading_costs,
                "financing": result.financing,
            }
        )
        if result.baseline is not None:
            daily["baseline_return"] = result.baseline.returns
            daily["baseline_nav"] = (1.0 + result.baseline.returns).cumprod()
            result.attribution().to_parquet(staging / "attribution.parquet")
        daily.to_parquet(staging / "daily.parquet")
        result.weights.to_parquet(staging / "weights.parquet")
        result.targets.to_parquet(staging / "targets.parquet")
        result.risk_contributions.to_parquet(staging / "risk_contributions.parquet")
        result.decisions.to_parquet(staging / "decisions.parquet")
        details = result.events["details"].map(lambda d: dumps(d, indent=None))
        write_csv(result.events.assign(details=details), staging / "events.csv")
        (staging / "manifest.json").write_text(dumps(manifest(result)))
        (staging / "report.html").write_text(render_html(result), encoding="utf-8")
        if png_figures:
            (staging / FIGURES_FOLDER).mkdir()
            for name, figure in report_figures(result).figures.items():
                (staging / FIGURES_FOLDER / f"{name}.png").write_bytes(png(figure))
    return Path(out_dir)
