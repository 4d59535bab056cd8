"""Shared fixtures: where the real data lives, and seeded synthetic panels."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

# Property tests: a cheap profile by default (CI), a thorough one on demand with
# HYPOTHESIS_PROFILE=thorough.
settings.register_profile("default", max_examples=40, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("RISKENGINE_DATA_DIR", REPO_ROOT.parent / "shared" / "data")
)
REAL_PRICES = SHARED_DATA / "multiasset_daily.csv"


@pytest.fixture(scope="session")
def real_prices_path() -> Path:
    """Path of the shared real multi-asset file; skips where it is absent."""
    if not REAL_PRICES.is_file():
        pytest.skip(
            f"real data not found at {REAL_PRICES}: it lives in ../shared/data beside "
            "the repository (set RISKENGINE_DATA_DIR to point elsewhere)"
        )
    return REAL_PRICES


@pytest.fixture(scope="session")
def real_prices_raw(real_prices_path: Path) -> pd.DataFrame:
    """The real file read plainly with pandas (no riskengine code), read-only use."""
    return pd.read_csv(real_prices_path, index_col="date", parse_dates=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
