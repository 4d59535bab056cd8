"""An evaluation as text, as JSON records, and as Parquet with its manifest."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from riskengine.data.prices import SIMULATED_NOTE
from riskengine.evaluation.evaluate import Evaluation, level_tag
from riskengine.output import dumps, new_results_folder
from riskengine.volatility.window_fit import FALLBACK_KINDS

MANIFEST_VERSION = 1
EVALUATION_FILES = frozenset({"evaluation.parquet", "manifest.json", "report.html"})
"""What an evaluation's results folder holds."""


def evaluation_records(evaluation: Evaluation) -> list[dict[str, Any]]:
    """The table as JSON-ready records (dates as ISO strings)."""
    table = evaluation.table.copy()
    for column in ("first_date", "last_date"):
        table[column] = table[column].dt.strftime("%Y-%m-%d")
    return table.to_dict(orient="records")


def manifest(evaluation: Evaluation) -> dict[str, Any]:
    """How an evaluation was made: models, data, settings, timings, versions."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "models": [dataclasses.asdict(spec) for spec in evaluation.models],
        "data": {
            "source": evaluation.source,
            "sha256": evaluation.fingerprint,
            "simulated": evaluation.simulated,
            "assets": sorted(set(evaluation.table["asset"])),
            "skipped": evaluation.skipped,
        },
        "note": SIMULATED_NOTE if evaluation.simulated else "",
        "settings": {
            "horizons_days": list(evaluation.horizons),
            "var_levels": list(evaluation.levels),
            "burn_in_days": evaluation.burn_in_days,
            "mcs_size": evaluation.mcs_size,
            "mcs_reps": evaluation.mcs_reps,
            "seed": evaluation.seed,
        },
        "timings_seconds": evaluation.seconds,
        "refit_outcomes": evaluation.refit_outcomes.reset_index().to_dict(
            orient="records"
        ),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    """Installed versions of riskengine and the packages behind the numbers."""
    found = {}
    for package in ("riskengine", "numpy", "pandas", "scipy", "arch"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def write_evaluation(
    evaluation: Evaluation, out_dir: str | Path, *, page: str | None = None
) -> Path:
    """Write ``evaluation.parquet`` and ``manifest.json`` into `out_dir`, atomically.

    `out_dir` must be missing, empty or riskengine's own results (see
    `riskengine.output`); its previous results are replaced in one rename.

    Parameters
    ----------
    evaluation : Evaluation
        The scored models.
    out_dir : str or Path
        The results folder.
    page : str, optional
        The HTML report, written as ``report.html`` in the same rename. It is
        rendered by the results stage (`riskengine.results.evaluation_page`),
        which shares the backtest report's page policy and a later stage's
        imports this one may not make.

    Raises
    ------
    OutputError
        If `out_dir` is not riskengine's to replace, or cannot be written.
    """
    with new_results_folder(out_dir, EVALUATION_FILES) as staging:
        evaluation.table.to_parquet(staging / "evaluation.parquet", index=False)
        (staging / "manifest.json").write_text(dumps(manifest(evaluation)))
        if page is not None:
            (staging / "report.html").write_text(page, encoding="utf-8")
    return Path(out_dir)


def format_evaluation(evaluation: Evaluation) -> str:
    """The table as text: one block per asset, one line per model.

    QLIKE per horizon (``*`` marks a model in the model confidence set), the
    one-day MSE, each VaR's exceedances against the expected count with the
    Kupiec and conditional-coverage p-values, and the refit fallback and
    boundary rates; then each GARCH model's refits over all assets, with its
    fallbacks by kind.
    """
    lines = []
    if evaluation.simulated:
        lines.append(f"*** {SIMULATED_NOTE} ***")
    confidence = 1.0 - evaluation.mcs_size
    lines += [
        f"data    {evaluation.source}",
        f"models  {', '.join(spec.name for spec in evaluation.models)}",
        f"scored  from each asset's observation {evaluation.burn_in_days + 1}; "
        f"QLIKE = log h + RV/h, MSE of variances, both in percent^2; * = in the "
        f"{confidence:.0%} model confidence set (arch MCS on QLIKE)",
        "VaR     one-day, exceedances/expected, p-values of Kupiec (pof) and "
        "Christoffersen conditional coverage (cc)",
        "",
    ]
    horizons, levels = evaluation.horizons, evaluation.levels
    width = max(12, *(len(spec.name) for spec in evaluation.models))
    header = f"{'model':<{width}}" + "".join(f" {f'QLIKE {h}d':>10}" for h in horizons)
    header += f" {'MSE 1d':>9}" if 1 in horizons else ""
    for level in levels:
        header += f" {f'VaR {level * 100:g}':>12} {'pof':>5} {'cc':>5}"
    header += f" {'refits':>6} {'fallbk':>6} {'bound':>6}"
    for asset, block in evaluation.table.groupby("asset", sort=False):
        first = block.iloc[0]
        lines.append(
            f"{asset}  {first['first_date'].date()} .. {first['last_date'].date()}  "
            f"({first['forecasts']} forecasts)"
        )
        lines.append(header)
        for _, row in block.iterrows():
            line = f"{row['model']:<{width}}"
            for h in horizons:
                star = "*" if row[f"in_mcs_{h}d"] else " "
                line += f" {row[f'qlike_{h}d']:>9.4f}{star}"
            line += f" {row['mse_1d']:>9.3f}" if 1 in horizons else ""
            for level in levels:
                tag = level_tag(level)
                hits = f"{row[f'{tag}_exceedances']}/{row[f'{tag}_expected']:.0f}"
                line += f" {hits:>12} {_p(row[f'{tag}_kupiec_p'])}"
                line += f" {_p(row[f'{tag}_conditional_p'])}"
            line += f" {row['refits']:>6}"
            line += f" {_share(row['fallback_rate'])} {_share(row['boundary_rate'])}"
            lines.append(line)
        lines.append("")
    for asset, why in evaluation.skipped.items():
        lines.append(f"skipped {asset}: {why}")
    lines += refit_lines(evaluation)
    timings = ", ".join(f"{name} {s:.1f}s" for name, s in evaluation.seconds.items())
    lines.append(f"forecast time: {timings}")
    return "\n".join(lines)


def refit_lines(evaluation: Evaluation) -> list[str]:
    """One line per GARCH model: its refits over all assets, and why some fell back."""
    lines = []
    for model, row in evaluation.refit_outcomes.iterrows():
        count = {name: int(row[name]) for name in ("refits", "fallbacks", "boundaries")}
        kinds = ", ".join(
            f"{kind} {int(row[kind])}" for kind in FALLBACK_KINDS if row[kind]
        )
        lines.append(
            f"refits  {model}: {count['refits']}, {count['fallbacks']} fell back "
            f"({row['fallback_rate']:.1%}{': ' + kinds if kinds else ''}), "
            f"{count['boundaries']} on a bound ({row['boundary_rate']:.1%})"
        )
    return lines


def _p(value: float) -> str:
    """A p-value in five characters."""
    return f"{value:>5.3f}" if value >= 0.001 else f"{'<.001':>5}"


def _share(value: float) -> str:
    """A share as a percentage in six characters; ``-`` when undefined."""
    return f"{'-':>6}" if math.isnan(value) else f"{value:>6.1%}"
