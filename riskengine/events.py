"""The event log: every decision or fallback a run makes, as a dated record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

EVENT_COLUMNS = ["date", "kind", "subject", "message", "details"]


@dataclass(frozen=True)
class Event:
    """One dated record of the event log.

    Attributes
    ----------
    date : pd.Timestamp
        Close at which the event happened (or was decided).
    kind : str
        Category, e.g. ``"model_fallback"``, ``"asset_stale"``.
    subject : str
        What it is about: an asset, a sleeve or a rule.
    message : str
        One human-readable line.
    details : Mapping
        Machine-readable figures (signal values, weights before and after, ...).
    """

    date: pd.Timestamp
    kind: str
    subject: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


def events_frame(events: Iterable[Event]) -> pd.DataFrame:
    """The events as a frame sorted by date, one row per event."""
    rows = [
        {
            "date": e.date,
            "kind": e.kind,
            "subject": e.subject,
            "message": e.message,
            "details": dict(e.details),
        }
        for e in events
    ]
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    return frame.sort_values("date", kind="stable", ignore_index=True)
