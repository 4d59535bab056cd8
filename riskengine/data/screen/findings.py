"""What the screen finds: `Finding`, and a run's `ScreenReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from riskengine.events import Event

KINDS = (
    "stray_date",
    "non_daily",
    "bad_tick",
    "absurd_move",
    "calendar_gap",
    "outlier",
    "asset_gap",
    "near_constant",
    "flat_run",
)
"""Kinds of finding, in the order the stop message picks the first of."""
CALENDAR = "calendar"
"""Subject of findings about the screened calendar rather than one column."""


@dataclass(frozen=True)
class Finding:
    """One suspect feature of the data.

    Attributes
    ----------
    kind : str
        One of `KINDS`.
    column : str
        The asset, or `CALENDAR` for the screened calendar as a whole.
    date : pd.Timestamp
        When it becomes known from the prices up to it (the event's date): the
        suspect price, the price taking back a bad tick, the first date a gap
        has lasted too long; the message names the other dates involved.
    message : str
        What was found, in words.
    action : {"stop", "record"}
        What the policy's screen does about it.
    details : dict
        Figures behind the finding (sigmas, ratios, days).
    """

    kind: str
    column: str
    date: pd.Timestamp
    message: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``column SPY @ 2020-03-16``, or ``every column @ ...`` for the calendar."""
        who = "every column" if self.column == CALENDAR else f"column {self.column}"
        return f"{who} @ {self.date.date()}"

    def event(self) -> Event:
        """The finding as a ``screen_<kind>`` event of the log."""
        details = {**self.details, "action": self.action}
        return Event(
            self.date,
            f"screen_{self.kind}",
            self.column,
            f"{self.where}: {self.message}",
            details,
        )


@dataclass(frozen=True)
class ScreenReport:
    """What the screen found in the data of one run (none of it stopped the run).

    Attributes
    ----------
    columns : tuple of str
        The screened assets.
    frequency : str
        Sampling of the screened calendar: ``daily``, ``weekly``, ``monthly`` or
        ``every N days``.
    findings : tuple of Finding
        By date, then column.
    """

    columns: tuple[str, ...]
    frequency: str
    findings: tuple[Finding, ...]

    def counts(self) -> dict[str, int]:
        """Findings by kind, in the order of `KINDS`, kinds without any left out."""
        kinds = [f.kind for f in self.findings]
        return {k: kinds.count(k) for k in KINDS if k in kinds}

    def describe(self) -> str:
        """One line: ``12 assets, daily: 6 findings recorded (outlier 5, ...)``."""
        head = f"{len(self.columns)} assets, {self.frequency}"
        if not self.findings:
            return f"{head}: no findings"
        listed = ", ".join(f"{k} {n}" for k, n in self.counts().items())
        noun = "finding" if len(self.findings) == 1 else "findings"
        return f"{head}: {len(self.findings)} {noun} recorded ({listed})"

    def events(self) -> list[Event]:
        """Every finding as an event."""
        return [f.event() for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: columns, frequency and counts by kind."""
        return {
            "columns": list(self.columns),
            "frequency": self.frequency,
            "findings": self.counts(),
        }
