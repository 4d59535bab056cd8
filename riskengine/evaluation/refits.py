"""How each GARCH model's refits ended in an evaluation: used, on a bound, or not."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from riskengine.volatility.window_fit import FALLBACK_KINDS, fallback_kind

OUTCOME_COLUMNS = [
    "refits",
    "fallbacks",
    "boundaries",
    "fallback_rate",
    "boundary_rate",
]
"""The columns of `refit_outcomes` before the one count per `FALLBACK_KINDS` kind."""


def refit_outcomes(
    fits: Mapping[str, pd.DataFrame], last_dates: Mapping[str, pd.Timestamp]
) -> pd.DataFrame:
    """Refits of each model over all assets, with their fallbacks by kind.

    Parameters
    ----------
    fits : mapping
        Each GARCH model's `VolForecast.fits`, by model name.
    last_dates : mapping
        The last scored date of each asset: refits after it are not counted (as
        in the evaluation's per-asset rates).

    Returns
    -------
    pd.DataFrame
        One row per model (index ``model``): refits, fallbacks, boundaries, their
        shares of the refits, and one count per kind of fallback (the keys of
        `riskengine.volatility.window_fit.FALLBACK_KINDS`).
    """
    rows = []
    for model, frame in fits.items():
        last = frame["asset"].map(last_dates)
        counted = frame[frame["date"] <= last]
        status = counted["status"]
        kinds = counted.loc[status == "fallback", "reason"].map(fallback_kind)
        refits = len(counted)
        fallbacks = int((status == "fallback").sum())
        boundaries = int((status == "boundary").sum())
        row: dict[str, object] = {
            "model": model,
            "refits": refits,
            "fallbacks": fallbacks,
            "boundaries": boundaries,
            "fallback_rate": fallbacks / refits if refits else float("nan"),
            "boundary_rate": boundaries / refits if refits else float("nan"),
        }
        row.update({kind: int((kinds == kind).sum()) for kind in FALLBACK_KINDS})
        rows.append(row)
    columns = ["model", *OUTCOME_COLUMNS, *FALLBACK_KINDS]
    return pd.DataFrame(rows, columns=columns).set_index("model")
