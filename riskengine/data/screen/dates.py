"""Findings in the dates: strays, sampling frequency, gaps in an asset or in all.

Sampling and gaps are judged as of each date: the spacing of an asset's prices is
the median of the spacings up to a price, and a gap is found on the first date of
the screened calendar on which it has lasted too long.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray
from riskengine.data.screen.findings import CALENDAR, Finding
from riskengine.specs import ScreenSpec

DAILY_MAX_SPACING_DAYS = 4.0
"""Median calendar days between prices up to which a series counts as daily."""
MIN_PRICES_FOR_SPACING = 6
"""Fewest prices whose spacing tells a sampling frequency, and so a gap."""


def split_strays(
    series: pd.Series, spec: ScreenSpec
) -> tuple[pd.Series, list[pd.Timestamp]]:
    """The series without its stray first or last prices, and the stray dates.

    Leading strays are at most `stray_max_prices` prices before a gap of more than
    `stray_gap_days`: known at the first price after it. Trailing strays are as
    few after the column's last such gap, with more before it: a stray is told
    from a series that resumes by the prices after it, so a data cut among those
    of a resuming series sees strays the whole file does not (a stop, by default).
    """
    gaps = _gap_days(series.index)
    wide = np.flatnonzero(gaps > spec.stray_gap_days)
    n, first, last = len(series), 0, len(series)
    if wide.size and wide[0] + 1 <= spec.stray_max_prices:
        first = int(wide[0]) + 1
    if wide.size and n - wide[-1] - 1 <= spec.stray_max_prices < wide[-1] + 1 - first:
        last = int(wide[-1]) + 1
    strays = [*series.index[:first], *series.index[last:]]
    return series.iloc[first:last], strays


def stray_finding(
    column: str, date: pd.Timestamp, core: pd.Series, spec: ScreenSpec
) -> Finding:
    """The finding of a stray price at `date`, isolated from the `core` prices.

    A price before the core is known for a stray at the core's first price and is
    dated there; a price after it, at its own date.
    """
    before = date < core.index[0]
    nearest = core.index[0] if before else core.index[-1]
    years = abs((nearest - date).days) / 365.25
    return Finding(
        "stray_date",
        column,
        nearest if before else date,
        f"stray date: a price on {date.date()}, {years:.0f} years "
        f"{'before' if before else 'after'} the rest of the column "
        f"({'next' if before else 'previous'} price on {nearest.date()}, beyond "
        f"screen.stray_gap_days = {spec.stray_gap_days})",
        spec.action("stray_date"),
        {
            "stray": str(date.date()),
            "nearest": str(nearest.date()),
            "days": abs((nearest - date).days),
        },
    )


def non_daily_finding(
    column: str, dates: pd.DatetimeIndex, spec: ScreenSpec
) -> Finding | None:
    """A finding at the first price where an asset's prices so far are not daily.

    The spacing is the median of the days between the prices up to it, from the
    `MIN_PRICES_FOR_SPACING`-th price on.
    """
    spacing = spacing_so_far(dates)
    sparse = np.flatnonzero(spacing > DAILY_MAX_SPACING_DAYS)
    if not sparse.size:
        return None
    i = int(sparse[0])
    return Finding(
        "non_daily",
        column,
        dates[i],
        f"prices are {frequency_name(spacing[i])} (median {spacing[i]:g} days "
        f"apart over the first {i + 1} prices, from {dates[0].date()}): the "
        "policy's models, windows and annualisation count days, so each price "
        "would count as a day",
        spec.action("non_daily"),
        {"median_spacing_days": float(spacing[i]), "prices": i + 1},
    )


def gap_findings(
    column: str, dates: pd.DatetimeIndex, calendar: pd.DatetimeIndex, spec: ScreenSpec
) -> list[Finding]:
    """Stretches without a price of one asset, found on the calendar as they last.

    A gap after a price is found on the first date of the screened `calendar`
    more than `max_asset_gap_days` after it (in days for daily prices, in their
    median spacing so far for sparser ones, which `non_daily_finding` reports),
    up to and including the asset's next price, or the calendar's end when none
    follows. Gaps within an asset's first `MIN_PRICES_FOR_SPACING` prices are not
    judged.
    """
    limits = spec.max_asset_gap_days * _period_days(dates)
    judged = np.flatnonzero(~np.isnan(limits))
    due = dates[judged] + pd.to_timedelta(limits[judged], unit="D")
    after = calendar.searchsorted(due, side="right")
    # the gap after each price ends at the next one, or lasts to the calendar's end
    ends = dates[1:].append(calendar[-1:])[judged]
    inside = after < len(calendar)
    found = inside.copy()
    found[inside] = calendar[after[inside]] <= ends[inside]
    findings = []
    for i, known in zip(judged[found], calendar[after[found]], strict=True):
        days = (known - dates[i]).days
        resumed = i + 1 < len(dates) and known == dates[i + 1]
        findings.append(
            Finding(
                "asset_gap",
                column,
                known,
                (
                    f"no price from {dates[i].date()} to {known.date()}"
                    if resumed
                    else f"no price since {dates[i].date()}"
                )
                + f" ({days} days, beyond screen.max_asset_gap_days = "
                f"{spec.max_asset_gap_days})"
                + (": the move across it counts as one period" if resumed else ""),
                spec.action("asset_gap"),
                {"days": float(days), "from": str(dates[i].date())},
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
    """Stretches without a price in any screened asset, found where they end.

    The limit counts as `gap_findings`' does, on the calendar's own spacing.
    """
    limits = spec.max_calendar_gap_days * _period_days(calendar)[:-1]
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
        for i in np.flatnonzero(gaps > np.nan_to_num(limits, nan=np.inf))
    ]


def without_calendar_gaps(findings: Sequence[Finding]) -> list[Finding]:
    """Drop asset gaps that are the calendar's own gap (said once, for the file)."""
    holes = {f.date for f in findings if f.kind == "calendar_gap"}
    return [f for f in findings if not (f.kind == "asset_gap" and f.date in holes)]


def _gap_days(dates: pd.DatetimeIndex) -> FloatArray:
    gaps: FloatArray = np.diff(dates.to_numpy()) / np.timedelta64(1, "D")
    return gaps


def spacing_so_far(dates: pd.DatetimeIndex) -> FloatArray:
    """At each date, the median days between the dates up to it.

    NaN before the `MIN_PRICES_FOR_SPACING`-th date.
    """
    gaps = pd.Series(_gap_days(dates))
    medians = gaps.expanding(min_periods=MIN_PRICES_FOR_SPACING - 1).median()
    return np.concatenate([[np.nan], medians.to_numpy()])[: len(dates)]


def median_spacing(dates: pd.DatetimeIndex) -> float:
    """Median calendar days between consecutive dates (1 for fewer than two)."""
    return float(np.median(_gap_days(dates))) if len(dates) > 1 else 1.0


def _period_days(dates: pd.DatetimeIndex) -> FloatArray:
    """Days a gap after each date counts in, as of that date.

    1 for daily dates, their median spacing so far for sparser ones; NaN before
    the spacing is known (`spacing_so_far`).
    """
    spacing = spacing_so_far(dates)
    periods: FloatArray = np.where(spacing > DAILY_MAX_SPACING_DAYS, spacing, 1.0)
    periods[np.isnan(spacing)] = np.nan
    return periods


def frequency_name(spacing_days: float) -> str:
    """``daily``, ``weekly``, ``monthly`` or ``every N days``, by median spacing."""
    if spacing_days <= DAILY_MAX_SPACING_DAYS:
        return "daily"
    if spacing_days <= 10:
        return "weekly"
    if spacing_days <= 45:
        return "monthly"
    return f"every {spacing_days:g} days"
