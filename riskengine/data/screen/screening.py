"""Screening a price frame: every check, then stop or record (see the package)."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from riskengine.calendar import periods_per_year
from riskengine.data.screen.dates import (
    calendar_findings,
    frequency_name,
    gap_findings,
    median_spacing,
    non_daily_finding,
    screened_calendar,
    split_strays,
    stray_finding,
    without_calendar_gaps,
)
from riskengine.data.screen.findings import KINDS, Finding, ScreenReport
from riskengine.data.screen.moves import constant_findings, flat_findings, move_findings
from riskengine.errors import DataError
from riskengine.specs import ScreenSpec


def screen_prices(
    prices: pd.DataFrame,
    spec: ScreenSpec,
    *,
    source: str,
    daily_columns: Collection[str] = (),
) -> ScreenReport:
    """Screen a validated price frame; stop on the findings the spec stops on.

    Parameters
    ----------
    prices : pd.DataFrame
        Validated prices (see `data.validate_prices`), shape (n_dates, n_assets).
    spec : ScreenSpec
        Thresholds and actions.
    source : str
        Name of the data in messages (a file path).
    daily_columns : collection of str
        Assets that trade every calendar day (their annualisation uses 365).

    Returns
    -------
    ScreenReport
        The recorded findings.

    Raises
    ------
    DataError
        Naming the source, the column, the date, what was found and the policy
        field to set to run anyway, for the first finding whose action is
        ``stop`` (in the order of `KINDS`, then by date and column).
    """
    findings: list[Finding] = []
    cores: dict[str, pd.Series] = {}
    for column in prices.columns:
        core, strays = split_strays(prices[column].dropna(), spec)
        findings += [stray_finding(str(column), date, core, spec) for date in strays]
        cores[column] = core
    calendar = screened_calendar(cores)
    for column, core in cores.items():
        ppy = periods_per_year([column], daily_columns)
        findings += _column_findings(str(column), core, calendar, spec, ppy)
    findings += calendar_findings(calendar, spec)
    findings = without_calendar_gaps(findings)
    position = {str(c): i for i, c in enumerate(prices.columns)}
    findings.sort(key=lambda f: (f.date, position.get(f.column, -1)))
    stops = sorted(
        (f for f in findings if f.action == "stop"), key=lambda f: KINDS.index(f.kind)
    )
    if stops:
        first = stops[0]
        more = (
            f" ({len(stops) - 1} more finding{'s' if len(stops) > 2 else ''} "
            "would stop the run)"
            if len(stops) > 1
            else ""
        )
        raise DataError(
            f"{source}: {first.where}: {first.message}; fix the data, or set "
            f'screen.on_{first.kind} = "record" in the policy to run anyway{more}'
        )
    return ScreenReport(
        columns=tuple(str(c) for c in prices.columns),
        frequency=frequency_name(median_spacing(calendar)),
        findings=tuple(findings),
    )


def _column_findings(
    column: str,
    core: pd.Series,
    calendar: pd.DatetimeIndex,
    spec: ScreenSpec,
    ppy: float,
) -> list[Finding]:
    """Every finding of one asset's core series (strays removed)."""
    if len(core) < 2:
        return []
    frequency = non_daily_finding(column, core.index, spec)
    moves = np.diff(np.log(core.to_numpy(float)))
    dates = core.index[1:]
    return [
        *([frequency] if frequency else []),
        *move_findings(column, moves, dates, spec),
        *gap_findings(column, core.index, calendar, spec),
        *flat_findings(column, moves, dates, spec),
        *constant_findings(column, moves, dates, spec, ppy),
    ]
