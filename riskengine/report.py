"""Write a backtest's results, manifest and HTML report to a folder, atomically."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from riskengine.backtest import BacktestResult
from riskengine.data import SIMULATED_NOTE
from riskengine.html_report import render_html

MANIFEST_VERSION = 1


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the numbers."""
    found = {"python": platform.python_version()}
    for package in ("riskengine", "numpy", "pandas", "arch", "cvxpy", "scipy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


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
    }


def write_results(result: BacktestResult, out_dir: str | Path) -> Path:
    """Write a run's tables, metrics, events and manifest into `out_dir`.

    Everything is first written to a temporary sibling folder, which then replaces
    `out_dir` in one rename, so a reader never sees a half-written folder.

    Parameters
    ----------
    result : BacktestResult
        The run to write.
    out_dir : str or Path
        Destination folder; replaced if it exists.

    Returns
    -------
    Path
        The destination folder.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; results are for sharing
    try:
        daily = pd.DataFrame(
            {
                "return": result.returns,
                "nav": (1.0 + result.returns).cumprod(),
                "turnover": result.turnover,
                "trading_cost": result.trading_costs,
                "financing": result.financing,
            }
        )
        daily.to_parquet(staging / "daily.parquet")
        result.weights.to_parquet(staging / "weights.parquet")
        result.targets.to_parquet(staging / "targets.parquet")
        result.risk_contributions.to_parquet(staging / "risk_contributions.parquet")
        result.decisions.to_parquet(staging / "decisions.parquet")
        events = result.events.assign(details=result.events["details"].map(json.dumps))
        events.to_csv(staging / "events.csv", index=False)
        (staging / "manifest.json").write_text(json.dumps(manifest(result), indent=2))
        (staging / "report.html").write_text(render_html(result), encoding="utf-8")
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Replace `out_dir` by `staging` with renames only."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    retired = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    os.replace(out_dir, retired)
    os.replace(staging, out_dir)
    shutil.rmtree(retired, ignore_errors=True)
