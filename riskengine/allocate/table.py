"""The allocation as CSV: one row per asset, for spreadsheets and loaders.

The JSON payload is the contract; this table repeats its per-asset part (weights,
trades, ages of prices, risk shares) with the job's dates and policy on every row.
"""

from __future__ import annotations

import csv
from typing import Any

import pandas as pd

from riskengine.output import csv_safe

CSV_COLUMNS = (
    "asof_requested",
    "asof_used",
    "policy",
    "asset",
    "sleeve",
    "last_price",
    "age_trading_days",
    "judged",
    "current_weight",
    "target_weight",
    "trade",
    "risk_contribution",
)
"""Columns of `allocation_csv`, in order."""


def allocation_csv(payload: dict[str, Any]) -> str:
    """The per-asset rows of an allocation payload as CSV text (header first).

    Assets the policy may not hold (signal-only series) have empty weights;
    ``risk_contribution`` is the target holdings' share of ex-ante variance, empty
    when unavailable (the JSON says why).
    """
    target = payload["weights"]["target"]["assets"]
    current = payload["weights"]["current"]["assets"]
    shares = payload["risk"]["holdings"]["risk_contributions"] or {}
    rows = [
        {
            "asof_requested": payload["asof_requested"],
            "asof_used": payload["asof_used"],
            "policy": payload["policy"]["name"],
            "asset": asset,
            "sleeve": payload["sleeves"][asset],
            "last_price": age["last"],
            "age_trading_days": age["age_trading_days"],
            "judged": age["judged"],
            "current_weight": current.get(asset),
            "target_weight": target.get(asset),
            "trade": payload["trades"].get(asset),
            "risk_contribution": shares.get(asset),
        }
        for asset, age in payload["prices"].items()
    ]
    frame = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    text: str = csv_safe(frame).to_csv(index=False, quoting=csv.QUOTE_MINIMAL)
    return text
