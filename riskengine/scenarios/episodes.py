"""Named historical episodes: market windows kept as data in ``episodes.toml``.

An episode is a named window (``2020-covid-crash``: 2020-02-19 to 2020-03-23) with
a one-line description and the source of its dates. ``--episode NAME`` runs a
backtest or a comparison over that window exactly as ``--from START --to END``
would: the data before `start` warm up the models, and the figures cover the
window only.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskengine.data.sleeves import did_you_mean
from riskengine.errors import DataError, SpecError
from riskengine.messages import shown
from riskengine.specs.files import read_toml

if TYPE_CHECKING:
    from riskengine.data.prices import Market

EPISODES_FILE = Path(__file__).with_name("episodes.toml")
"""The shipped library of episodes."""
FIELDS = ("name", "start", "end", "description", "source")
"""Every field of an episode; all are required."""
ALL = "all"
"""The word that selects every episode of the library."""
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MAX_TEXT = 300


@dataclass(frozen=True)
class Episode:
    """A named market window.

    Attributes
    ----------
    name : str
        A slug: lowercase letters, digits and dashes (``2022-rates-shock``).
    start, end : datetime.date
        The window runs from the close of `start` to the close of `end`.
    description : str
        One line: what happened.
    source : str
        Where the dates come from.
    """

    name: str
    start: dt.date
    end: dt.date
    description: str
    source: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready fields, dates as ISO strings."""
        return {
            "name": self.name,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "description": self.description,
            "source": self.source,
        }

    def check_covered(self, market: Market) -> None:
        """Raise `DataError` unless the market's dates hold the whole window.

        Raises
        ------
        DataError
            Naming the data, the episode and both date ranges: a window cut short
            by the data would give figures for another window.
        """
        first, last = (day.date() for day in market.returns.index[[0, -1]])
        if first <= self.start and self.end <= last:
            return
        raise DataError(
            f"{market.source}: episode '{self.name}' ({self.start} to {self.end}) "
            f"is not covered by the data ({first} to {last})"
        )


def load_episodes(path: str | Path = EPISODES_FILE) -> tuple[Episode, ...]:
    """The episodes of a TOML file, in the file's order, validated.

    Parameters
    ----------
    path : str or Path, default `EPISODES_FILE`
        A TOML file holding an array of tables ``[[episode]]``, each with every
        field of `FIELDS`.

    Returns
    -------
    tuple of Episode

    Raises
    ------
    SpecError
        Naming the file, the episode (its position and name) and the field: a
        missing, unknown or mistyped field, a name that is not a slug or is
        repeated, a start not before its end, or text that is empty, longer than
        300 characters or not one line.
    """
    path = Path(path)
    table = read_toml(path)
    extra = sorted(set(table) - {"episode"})
    if extra:
        raise SpecError(
            f"{path}: unknown top-level key '{extra[0]}': the file holds only "
            "[[episode]] tables"
        )
    entries = table.get("episode")
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"{path}: no [[episode]] table: the file defines no episode")
    episodes: list[Episode] = []
    for position, entry in enumerate(entries, start=1):
        episode = _episode(entry, f"{path}: episode {position}")
        if any(e.name == episode.name for e in episodes):
            raise SpecError(
                f"{path}: episode {position}: name: '{episode.name}' is already "
                "used by an earlier episode"
            )
        episodes.append(episode)
    return tuple(episodes)


def find_episode(name: str, path: str | Path = EPISODES_FILE) -> Episode:
    """The episode called `name`.

    Raises
    ------
    SpecError
        If no episode has that name, naming the closest one: the only name that
        contains it, else the closest by spelling.
    """
    episodes = load_episodes(path)
    for episode in episodes:
        if episode.name == name:
            return episode
    names = [e.name for e in episodes]
    holding = [n for n in names if name.lower() in n]  # 'covid': '2020-covid-crash'
    hint = (
        f"did you mean '{holding[0]}'?"
        if len(holding) == 1
        else did_you_mean(name, holding or names)
    )
    raise SpecError(f"unknown episode {shown(name)} ({hint})")


def select_episodes(
    names: list[str], path: str | Path = EPISODES_FILE
) -> tuple[Episode, ...]:
    """The episodes named, in the order given; `ALL` selects the whole library.

    Raises
    ------
    SpecError
        If a name is unknown (naming the closest) or given twice.
    """
    if ALL in names:
        return load_episodes(path)
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise SpecError(f"episode {shown(twice)} is named twice")
    return tuple(find_episode(name, path) for name in names)


def _episode(entry: Any, where: str) -> Episode:
    """One validated episode from its TOML table; errors start with `where`."""
    if not isinstance(entry, dict):
        raise SpecError(f"{where}: expected a table [[episode]]")
    given = entry.get("name")
    label = f"{where} ({shown(given)})" if isinstance(given, str) else where
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise SpecError(
            f"{label}: unknown field {shown(unknown[0])} (fields: {', '.join(FIELDS)})"
        )
    missing = [f for f in FIELDS if f not in entry]
    if missing:
        raise SpecError(f"{label}: missing field '{missing[0]}'")
    name = _text(entry, "name", label)
    if not _SLUG.fullmatch(name):
        raise SpecError(
            f"{label}: name: {shown(name)} is not a slug (lowercase letters, "
            "digits and single dashes, e.g. '2020-covid-crash')"
        )
    start, end = _date(entry, "start", label), _date(entry, "end", label)
    if start >= end:
        raise SpecError(f"{label}: start {start} is not before end {end}")
    return Episode(
        name=name,
        start=start,
        end=end,
        description=_text(entry, "description", label),
        source=_text(entry, "source", label),
    )


def _text(entry: dict[str, Any], field: str, label: str) -> str:
    value = entry[field]
    if not isinstance(value, str):
        raise SpecError(
            f"{label}: {field}: expected a string, got {type(value).__name__}"
        )
    if not value.strip() or len(value) > _MAX_TEXT or "\n" in value:
        raise SpecError(
            f"{label}: {field}: expected one non-empty line of at most {_MAX_TEXT} "
            f"characters, got {len(value)} characters"
            + (" over several lines" if "\n" in value else "")
        )
    return value


def _date(entry: dict[str, Any], field: str, label: str) -> dt.date:
    value = entry[field]
    # a TOML date (1990-01-02), not a date-time nor a quoted string
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise SpecError(
            f"{label}: {field}: expected a TOML date such as 2020-02-19 (unquoted), "
            f"got {shown(value)}"
        )
    return value
