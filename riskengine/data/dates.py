"""Dates a user types (``--from``, ``--to``, ``--asof``, a sweep's start and end).

One form only, ISO ``YYYY-MM-DD``, and only real calendar dates: ``yesterday``,
``2020-02-30``, ``2020-02-03T00:00+05:00`` or ``20200203`` are refused with the
reason, instead of being guessed at. So are day-month-year and month-day-year
forms (``04-02-2026``, ``01/02/2020``): the message names both ISO dates they
could mean.
"""

from __future__ import annotations

import datetime
import re

from riskengine.messages import shown

ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
"""The one accepted form of a date typed by a user."""
DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", re.ASCII)
"""``04-02-2026``, ``01/02/2020``: a day and a month in an order nobody can tell."""


def iso_date(value: object) -> str:
    """The date `value` names, as ``YYYY-MM-DD``, checked to be a real date.

    Parameters
    ----------
    value : object
        A string ``YYYY-MM-DD`` or a `datetime.date` (as TOML parses a bare date);
        a `datetime.datetime`, which carries a time, is refused.

    Returns
    -------
    str
        The same date, ``YYYY-MM-DD``.

    Raises
    ------
    ValueError
        Saying why: not of the form ``YYYY-MM-DD``, or no such day in the calendar.
    """
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    text = value.strip() if isinstance(value, str) else str(value)
    quoted = shown(text)
    match = ISO_DATE.fullmatch(text) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a date YYYY-MM-DD, got {quoted}{_meant(text)}")
    year, month, day = (int(part) for part in match.groups())
    try:
        return datetime.date(year, month, day).isoformat()
    except ValueError as exc:
        raise ValueError(f"{quoted} is not a calendar date ({exc})") from None


def _meant(text: str) -> str:
    """For a day-month-year or month-day-year form, the ISO dates it could mean."""
    match = DAY_MONTH_YEAR.fullmatch(text)
    if match is None:
        return ""
    first, second, year = (int(part) for part in match.groups())
    readings = []
    for month, day in ((second, first), (first, second)):
        try:
            readings.append(datetime.date(year, month, day).isoformat())
        except ValueError:
            continue
    if not readings:
        return ""
    if len(set(readings)) == 1:
        return f" (write {readings[0]})"
    return f" (day and month order is ambiguous: write {readings[0]} or {readings[1]})"
