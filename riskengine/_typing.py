"""Shared type aliases."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.intp]
Weights = pd.Series
"""Portfolio weights by asset, as fractions of net asset value."""
ReturnPanel = pd.DataFrame
"""Simple daily returns, one column per asset, indexed by the trading calendar."""
