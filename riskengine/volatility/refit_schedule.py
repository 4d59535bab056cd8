"""GARCH refits on calendar dates: the closes of months, quarters and years.

Which session closes a month, quarter or year is a fact of the trading calendar
(`ModelSpec.refit_calendar`), known in advance: the session whose next session
falls in another period (on the NYSE, 2024's last session is 31 December; 2021's
is 31 December although 2022 opens on 3 January). It is never read from the data's
next row. An asset refits on its own row of that session or, if it has none (a
missing price), on its first row after it, the rule `riskengine.calendar` applies
to a policy's month ends; a row that is no session closes no period of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine._typing import IndexArray
from riskengine.calendar import calendar_sessions
from riskengine.errors import DataError
from riskengine.specs import ModelSpec
from riskengine.specs.model import CALENDAR_REFITS

PERIOD_CODES = {"month_end": "M", "quarter_end": "Q", "year_end": "Y"}
"""The pandas period of each calendar `ModelSpec.refit_on`."""


def refit_sessions(index: pd.DatetimeIndex, spec: ModelSpec) -> pd.DatetimeIndex | None:
    """The sessions of `spec.refit_calendar` around `index`; None for other refits.

    Parameters
    ----------
    index : pd.DatetimeIndex
        The panel's dates, sorted.
    spec : ModelSpec
        The model.

    Returns
    -------
    pd.DatetimeIndex or None
        From the start of the first date's year to after the last date (see
        `riskengine.calendar.calendar_sessions`), when `spec.refit_on` is a
        calendar period and `index` is not empty.

    Raises
    ------
    DataError
        If the calendar does not cover the dates.
    """
    if spec.refit_on not in CALENDAR_REFITS or not len(index):
        return None
    try:
        return calendar_sessions(
            spec.refit_calendar, index[0], index[-1], source=f"model '{spec.name}'"
        )
    except DataError as exc:
        raise DataError(f"refit_calendar: {exc}") from exc


def period_close_rows(
    dates: pd.DatetimeIndex, sessions: pd.DatetimeIndex, refit_on: str
) -> IndexArray:
    """Positions of the rows of `dates` that close a calendar period.

    Parameters
    ----------
    dates : pd.DatetimeIndex
        One asset's observation dates, sorted.
    sessions : pd.DatetimeIndex
        The calendar's sessions (`refit_sessions`), past ``dates[-1]``.
    refit_on : {"month_end", "quarter_end", "year_end"}
        Which periods.

    Returns
    -------
    IndexArray
        Row positions, increasing: a row is one when a period's closing session
        falls after the previous row and on or before the row itself. Row i
        depends on rows i - 1 and i and on the calendar only.
    """
    period = sessions.to_period(PERIOD_CODES[refit_on]).asi8
    closes = sessions.to_numpy("datetime64[ns]")[:-1][period[1:] != period[:-1]]
    rows = dates.to_numpy("datetime64[ns]")
    passed = np.searchsorted(closes, rows, side="right")
    before = np.append(np.searchsorted(closes, rows[:1], side="left"), passed[:-1])
    positions: IndexArray = np.flatnonzero(passed > before)
    return positions
