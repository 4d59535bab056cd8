"""Why a GARCH model's refits fall back on a price file, and what they cost.

Runs `forecast_variance` (one-day horizon) of one model over every column of a
price file, as `riskengine models evaluate` does, and prints: the refits, their
wall time, the ``model_fallback``/``model_boundary`` events, the fallbacks by
kind (`riskengine.volatility.garch.FALLBACK_KINDS`) and asset, the parameters on
a bound, the starts kept (warm, cold, polish), and the largest one-day forecast
of each asset against its return variance (an absurd forecast shows here).

Run: ``python benchmarks/garch_refits.py [--model egarch11-skewt] [--prices FILE]
[--fits OUT.parquet]``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing
from riskengine.data.prices import load_market  # noqa: E402
from riskengine.specs import load_model  # noqa: E402
from riskengine.volatility import forecast_variance  # noqa: E402
from riskengine.volatility.window_fit import fallback_kind  # noqa: E402

DATA = Path(os.environ.get("RISKENGINE_DATA_DIR", REPO.parent / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="egarch11-skewt")
    parser.add_argument("--prices", default=str(DATA / "multiasset_daily.csv"))
    parser.add_argument("--fits", help="write the refit records to this Parquet file")
    args = parser.parse_args()
    returns = load_market(args.prices).returns
    spec = load_model(args.model)
    began = time.perf_counter()
    forecast = forecast_variance(returns, spec)
    seconds = time.perf_counter() - began
    fits = forecast.fits
    if args.fits:
        fits.to_parquet(args.fits)
    events = Counter(event.kind for event in forecast.events)
    filters = sum(event.details["method"] == "filter" for event in forecast.events)
    print(
        f"{spec.name}: {len(fits)} refits in {seconds:.1f} s ({os.cpu_count()} cores)"
    )
    print(f"events: {dict(events)} (of which filter breakdowns: {filters})")
    print(f"status: {fits['status'].value_counts().to_dict()}")
    fallen = fits[fits["status"] == "fallback"]
    kinds = fallen["reason"].map(fallback_kind)
    print("\nfallbacks by kind and asset:")
    print(pd.crosstab(fallen["asset"], kinds, margins=True).to_string())
    bounds = Counter(
        found
        for reason in fits.loc[fits["status"] == "boundary", "reason"]
        for found in re.findall(r"([\w\[\]]+ at -?[\d.e+]+)", reason)
    )
    print(f"\non a bound (kept): {dict(bounds)}")
    kept = fits["attempts"].str.extract(r"(\w+-\w+)\([^)]*kept\)")[0]
    print(f"run kept: {kept.value_counts().to_dict()}")
    ratio = {
        asset: forecast.variance[asset].max() / returns[asset].var()
        for asset in returns.columns
    }
    print("\nlargest one-day forecast / return variance, by asset:")
    print(pd.Series(ratio).round(1).to_string())


if __name__ == "__main__":
    main()
