"""Findings in the dates: strays, sampling frequency, gaps in an asset or in all."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray
from riskengine.screen.findings import CALENDAR, Finding
from riskengine.specs import ScreenSpec

DAILY_MAX_SPACING_DAYS = 4.0
"""Median calendar days between prices up to which a series counts as daily."""
MIN_PRICES_FOR_SPACING = 6
"""Fewest prices whose spacing tells a sampling frequency."""


def split_strays(
    series: pd.Series, spec: ScreenSpec
) -> tuple[pd.Series, list[pd.Timestamp]]:
    """The series without its stray first or last prices, and the stray dates."""
    gaps = _gap_days(series.index)
    wide = np.flatnonzero(gaps > spec.stray_gap_days)
    n, first, last = len(series), 0, len(series)
    if wide.size and wide[0] + 1 <= spec.stray_max_prices < n - wide[0] - 1:
        first = int(wide[0]) + 1
    if wide.size and n - wide[-1] - 1 <= spec.stray_max_prices < wide[-1] + 1:
        last = int(wide[-1]) + 1
    strays = [*series.index[:first], *series.index[last:]]
    return series.iloc[first:last], strays


def stray_finding(
    column: str, date: pd.Timestamp, core: pd.Series, spec: ScreenSpec
) -> Finding:
    """The finding of a stray price at `date`, isolated from the `core` prices."""
    before = date < core.index[0]
    nearest = core.index[0] if before else core.index[-1]
    years = abs((nearest - date).days) / 365.25
    return Finding(
        "stray_date",
        column,
        date,
        f"stray date: a price {years:.0f} years "
        f"{'before' if before else 'after'} the rest of the column "
        f"({'next' if before else 'previous'} price on {nearest.date()}, beyond "
        f"screen.stray_gap_days = {spec.stray_gap_days})",
        spec.action("stray_date"),
        {"nearest": str(nearest.date()), "days": abs((nearest - date).days)},
    )


def non_daily_finding(
    column: str, dates: pd.DatetimeIndex, spec: ScreenSpec
) -> Finding | None:
    """A finding when an asset's prices are further apart than daily prices are."""
    spacing = median_spacing(dates)
    if len(dates) < MIN_PRICES_FOR_SPACING or spacing <= DAILY_MAX_SPACING_DAYS:
        return None
    return Finding(
        "non_daily",
        column,
        dates[0],
        f"prices are {frequency_name(spacing)} (median {spacing:g} days apart, "
        f"{len(dates)} prices to {dates[-1].date()}): the policy's models, windows "
        "and annualisation count days, so each price would count as a day",
        spec.action("non_daily"),
        {"median_spacing_days": spacing, "prices": len(dates)},
    )


def gap_findings(
    column: str, dates: pd.DatetimeIndex, end: pd.Timestamp, spec: ScreenSpec
) -> list[Finding]:
    """Stretches without a price of one asset, the one after its last price too.

    The limit counts days for daily prices and the median spacing's multiples
    for sparser ones (which `non_daily_finding` reports).
    """
    limit = spec.max_asset_gap_days * _period_days(dates)
    gaps = _gap_days(dates)
    findings = [
        Finding(
            "asset_gap",
            column,
            dates[i + 1],
            f"no price from {dates[i].date()} to {dates[i + 1].date()} "
            f"({gaps[i]:g} days, beyond screen.max_asset_gap_days = "
            f"{spec.max_asset_gap_days}): the move across it counts as one period",
            spec.action("asset_gap"),
            {"days": float(gaps[i]), "from": str(dates[i].date())},
        )
        for i in np.flatnonzero(gaps > limit)
    ]
    tail = (end - dates[-1]).days
    if tail > limit:
        findings.append(
            Finding(
                "asset_gap",
                column,
                dates[-1],
                f"no price after {dates[-1].date()}, {tail} days before the last "
                f"date screened ({end.date()}; beyond screen.max_asset_gap_days = "
                f"{spec.max_asset_gap_days})",
                spec.action("asset_gap"),
                {"days": float(tail), "from": str(dates[-1].date())},
            )
        )
    return findings


def screened_calendar(cores: dict[str, pd.Series]) -> pd.DatetimeIndex:
    """Dates on which any screened asset has a (non-stray) price."""
    dates = [core.index for core in cores.values() if len(core)]
    if not dates:
        return pd.DatetimeIndex([])
    union = dates[0]
    for other in dates[1:]:
        union = union.union(other)
    return pd.DatetimeIndex(union)


def calendar_findings(calendar: pd.DatetimeIndex, spec: ScreenSpec) -> list[Finding]:
    """Stretches without a price in any screened asset."""
    if len(calendar) < 2:
        return []
    limit = spec.max_calendar_gap_days * _period_days(calendar)
    gaps = _gap_days(calendar)
    return [
        Finding(
            "calendar_gap",
            CALENDAR,
            calendar[i + 1],
            f"no price in any screened column from {calendar[i].date()} to "
            f"{calendar[i + 1].date()} ({gaps[i]:g} days, beyond "
            f"screen.max_calendar_gap_days = {spec.max_calendar_gap_days}): a hole "
            "in the data, and the move across it would count as one period",
            spec.action("calendar_gap"),
            {"days": float(gaps[i]), "from": str(calendar[i].date())},
        )
        for i in np.flatnonzero(gaps > limit)
    ]


def without_calendar_gaps(findings: Sequence[Finding]) -> list[Finding]:
    """Drop asset gaps that are the calendar's own gap (said once, for the file)."""
    holes = {f.date for f in findings if f.kind == "calendar_gap"}
    return [f for f in findings if not (f.kind == "asset_gap" and f.date in holes)]


def _gap_days(dates: pd.DatetimeIndex) -> FloatArray:
    gaps: FloatArray = np.diff(dates.to_numpy()) / np.timedelta64(1, "D")
    return gaps


def median_spacing(dates: pd.DatetimeIndex) -> float:
    """Median calendar days between consecutive dates (1 for fewer than two)."""
    return float(np.median(_gap_days(dates))) if len(dates) > 1 else 1.0


def _period_days(dates: pd.DatetimeIndex) -> float:
    """Days a gap limit counts in: 1 for daily dates, their median spacing else."""
    spacing = median_spacing(dates)
    return spacing if spacing > DAILY_MAX_SPACING_DAYS else 1.0


def frequency_name(spacing_days: float) -> str:
    """``daily``, ``weekly``, ``monthly`` or ``every N days``, by median spacing."""
    if spacing_days <= DAILY_MAX_SPACING_DAYS:
        return "daily"
    if spacing_days <= 10:
        return "weekly"
    if spacing_days <= 45:
        return "monthly"
    return f"every {spacing_days:g} days"
