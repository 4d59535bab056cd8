import numpy as np
import pandas as pd

from riskengine.events import EVENT_COLUMNS
from riskengine.results.charts import (
    MAX_LINE_POINTS,
    _thin,
    png,
    rolling_window_days,
    sleeve_colours,
)
from riskengine.results.risk_off import LADDER, RiskOffSpan, risk_off_spans


def _events(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "date": pd.Timestamp(d),
                "kind": k,
                "subject": s,
                "message": "",
                "details": {},
            }
            for d, k, s in rows
        ],
        columns=EVENT_COLUMNS,
    )


def test_risk_off_spans_pair_each_rule_entry_with_its_next_exit() -> None:
    events = _events(
        [
            ("2020-01-01", "trigger_enter", "a"),
            ("2020-01-02", "asset_added", "SPY"),
            ("2020-01-05", "trigger_enter", "b"),
            ("2020-01-10", "trigger_exit", "b"),
            ("2020-02-01", "trigger_exit", "a"),
            ("2020-03-01", "trigger_enter", "a"),
        ]
    )
    day = pd.Timestamp
    assert risk_off_spans(events) == [
        RiskOffSpan("a", day("2020-01-01"), day("2020-02-01")),
        RiskOffSpan("b", day("2020-01-05"), day("2020-01-10")),
        RiskOffSpan("a", day("2020-03-01"), None),  # still risk-off at the end
    ]
    assert risk_off_spans(events)[2].end(day("2020-06-30")) == day("2020-06-30")


def test_drawdown_ladder_spans_run_from_its_cut_to_its_restore() -> None:
    events = _events(
        [
            ("2020-03-12", "drawdown_ladder", "pension"),
            ("2020-04-01", "drawdown_ladder", "pension"),
            ("2020-05-29", "drawdown_ladder", "pension"),
            ("2020-07-01", "drawdown_ladder", "pension"),
        ]
    )
    events["details"] = [{"multiplier": m} for m in (0.75, 0.5, 1.0, 0.75)]
    day = pd.Timestamp
    assert risk_off_spans(events) == [
        RiskOffSpan(LADDER, day("2020-03-12"), day("2020-05-29")),
        RiskOffSpan(LADDER, day("2020-07-01"), None),
    ]


def test_no_trigger_events_no_spans() -> None:
    assert risk_off_spans(_events([("2020-01-02", "asset_added", "SPY")])) == []


def test_thinned_line_keeps_every_stretchs_low_and_high(
    rng: np.random.Generator,
) -> None:
    index = pd.bdate_range("1990-01-01", periods=9000)
    series = pd.Series(rng.standard_normal(9000).cumsum(), index=index)
    thinned = _thin(series)
    assert len(thinned) <= MAX_LINE_POINTS + 2
    assert thinned.index.is_monotonic_increasing
    assert thinned.index.isin(series.index).all()
    assert thinned.min() == series.min()
    assert thinned.max() == series.max()
    assert thinned.index[[0, -1]].equals(series.index[[0, -1]])
    short = series.iloc[:MAX_LINE_POINTS]  # at the threshold: every point
    assert _thin(short) is short


def test_rolling_window_is_a_year_or_a_quarter_for_short_runs() -> None:
    assert rolling_window_days(3 * 252, 252.0) == 252
    assert rolling_window_days(3 * 252 - 1, 252.0) == 63


def test_sleeve_colours_are_fixed_and_distinct() -> None:
    colours = sleeve_colours(["rates", "crypto", "my_sleeve", "other_sleeve"])
    assert colours["rates"] == sleeve_colours(["rates"])["rates"]
    assert len(set(colours.values())) == 4


def test_png_is_a_png() -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1))
    figure.subplots().plot([0, 1], [1, 0])
    data = png(figure)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 1000
