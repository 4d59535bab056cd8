"""Strict JSON, formula-safe CSV cells and safe path names for outputs."""

from __future__ import annotations

import csv
import json
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def slug(name: str) -> str:
    """A name from a spec as one safe path component.

    Anything but ASCII letters, digits, ``_``, ``.`` and ``-`` becomes ``-``, and
    leading or trailing dots and dashes go, so ``"../victim"`` gives ``"victim"``,
    ``"/etc"`` gives ``"etc"`` and a NUL cannot reach the file system.
    """
    text = unicodedata.normalize("NFKC", name)
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip(".-")
    return text[:100].rstrip(".-") or "unnamed"


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Strict JSON: NaN and infinities become null; anything else non-finite fails."""
    return json.dumps(_finite(obj), indent=indent, allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(value) for value in obj]
    return obj


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells a spreadsheet would run as formulas, prefixed with a quote (OWASP).

    Only text cells starting with one of `FORMULA_STARTS` change; numbers stay
    numbers.
    """

    def escape(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
            return "'" + value
        return value

    safe = frame.copy()
    for column in frame.columns:
        dtype = frame[column].dtype
        if isinstance(dtype, pd.StringDtype) or dtype.kind in "OUT":
            safe[column] = frame[column].map(escape)
    return safe


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """`frame` as CSV, formula-safe (`csv_safe`), every text cell quoted.

    Quoting keeps a carriage return or a newline inside a text cell from splitting
    its row; numbers stay unquoted.
    """
    csv_safe(frame).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
