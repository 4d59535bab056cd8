import math

import pandas as pd
import pytest

from riskengine.results.tables import MONTHS, calendar_returns, worst_drawdowns


def _returns(values: list[float], start: str = "2024-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values)))


def test_calendar_returns_compound_each_month_and_year() -> None:
    returns = pd.Series(
        [0.10, -0.10, 0.05, 0.02],
        index=pd.to_datetime(["2024-01-02", "2024-01-03", "2024-02-01", "2025-03-03"]),
    )
    table = calendar_returns(returns)
    assert list(table.columns) == [*MONTHS, "Year"]
    assert list(table.index) == [2024, 2025]
    # 1.1 * 0.9 - 1 = -0.01; the year: 0.99 * 1.05 - 1 = 0.0395 (to 1e-12)
    assert table.loc[2024, "Jan"] == pytest.approx(-0.01, abs=1e-12)
    assert table.loc[2024, "Feb"] == pytest.approx(0.05, abs=1e-12)
    assert table.loc[2024, "Year"] == pytest.approx(0.0395, abs=1e-12)
    assert table.loc[2025, "Mar"] == pytest.approx(0.02, abs=1e-12)
    assert table.loc[2025, "Year"] == pytest.approx(0.02, abs=1e-12)
    assert math.isnan(table.loc[2024, "Mar"])
    assert math.isnan(table.loc[2025, "Jan"])


def test_worst_drawdowns_by_hand() -> None:
    # wealth 1.1, 0.88, 0.968, 1.1616 (back above 1.1), 1.04544, 1.097712 (still
    # below 1.1616 at the end)
    returns = _returns([0.10, -0.20, 0.10, 0.20, -0.10, 0.05])
    dates = returns.index
    table = worst_drawdowns(returns)
    assert len(table) == 2
    first, second = table.iloc[0], table.iloc[1]
    assert (first.peak, first.trough, first.recovery) == (dates[0], dates[1], dates[3])
    assert first.depth == pytest.approx(-0.20, abs=1e-12)
    assert (first.days_to_trough, first.days_to_recovery, first.length_days) == (
        1,
        2.0,
        3,
    )
    assert (second.peak, second.trough) == (dates[3], dates[4])
    assert pd.isna(second.recovery)
    assert second.depth == pytest.approx(-0.10, abs=1e-12)
    assert math.isnan(second.days_to_recovery)
    assert second.length_days == 2  # to the last date, not recovered


def test_worst_drawdowns_keeps_the_deepest_and_one_from_day_one() -> None:
    # falls on day one (from wealth 1 before it), then two more falls of 5% and 30%
    returns = _returns([-0.10, 0.20, -0.05, 0.10, -0.30, 0.50])
    table = worst_drawdowns(returns, count=2)
    assert list(table["depth"]) == pytest.approx([-0.30, -0.10], abs=1e-12)
    assert table.iloc[1].peak == returns.index[0]
    assert table.iloc[1].recovery == returns.index[1]


def test_worst_drawdowns_of_a_rising_series_is_empty() -> None:
    table = worst_drawdowns(_returns([0.01, 0.02, 0.0, 0.03]))
    assert table.empty
    assert list(table.columns)[:4] == ["peak", "trough", "recovery", "depth"]
