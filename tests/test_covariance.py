from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine.covariance import covariance, ewma_correlations, nearest_correlation
from riskengine.data import load_market


def test_matches_pandas_ewm_of_products_on_complete_data(
    rng: np.random.Generator,
) -> None:
    returns = pd.DataFrame(
        rng.standard_normal((300, 3))
        @ np.array([[1, 0.5, 0], [0, 1, 0.3], [0, 0, 1]])
        * 0.01,
        index=pd.bdate_range("2020-01-01", periods=300),
        columns=["a", "b", "c"],
    )
    at = returns.index[[50, 150, 299]]
    ours = ewma_correlations(returns, 30.0, at)
    for k, date in enumerate(at):
        moments = {
            (i, j): (returns[i] * returns[j])
            .ewm(halflife=30.0, adjust=True)
            .mean()[date]
            for i in returns
            for j in returns
        }
        for (i, j), value in moments.items():
            expected = value / np.sqrt(moments[i, i] * moments[j, j])
            a, b = returns.columns.get_loc(i), returns.columns.get_loc(j)
            assert ours[k, a, b] == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_psd_with_staggered_starts_and_gaps(real_prices_path: Path) -> None:
    returns = load_market(real_prices_path).returns.loc["2005":]
    at = returns.index[::250]
    for corr in ewma_correlations(returns, 63.0, at):
        np.testing.assert_array_equal(corr, corr.T)
        assert np.linalg.eigvalsh(corr).min() >= -1e-12
        np.testing.assert_allclose(np.diag(corr), 1.0, rtol=0, atol=1e-12)


def test_nearest_correlation_repairs_an_indefinite_matrix() -> None:
    bad = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    assert np.linalg.eigvalsh(bad).min() < 0
    fixed = nearest_correlation(bad)
    assert np.linalg.eigvalsh(fixed).min() >= -1e-12
    np.testing.assert_allclose(np.diag(fixed), 1.0, atol=1e-12)
    np.testing.assert_array_equal(fixed, fixed.T)


def test_covariance_scales_correlation_by_vols() -> None:
    corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    cov = covariance(np.array([0.1, 0.2]), corr)
    np.testing.assert_allclose(cov, [[0.01, 0.01], [0.01, 0.04]], rtol=1e-15)
