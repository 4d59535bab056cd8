"""Registries: the named variants of one kind (models, signals, rules), one object each.

A spec names a variant by a string its ``Literal`` type checks at the door; the
registry turns that string into the object that does the work. An unknown name is a
`SpecError` naming the field and the closest registered name, never a silent
default branch. Adding a variant is one object and one registry line (plus the
spec's ``Literal``); the contract battery (``tests/test_contracts.py``) runs every
registered entry.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol, TypeVar

from riskengine.errors import SpecError


class Entry(Protocol):
    """A registry entry: anything with a `name`."""

    @property
    def name(self) -> str:
        """The name a spec uses for it."""
        ...


EntryT = TypeVar("EntryT", bound=Entry, covariant=True)


class Registry(Mapping[str, EntryT]):
    """Entries of one kind by name, in registration order.

    Parameters
    ----------
    kind : str
        What the entries are, for messages (``"volatility model"``).
    field : str
        The spec field that names an entry (``"family"``).
    entries : iterable
        The entries, each with a distinct `name`.

    Raises
    ------
    ValueError
        If two entries share a name.
    """

    def __init__(self, kind: str, field: str, entries: Iterable[EntryT]) -> None:
        self.kind, self.field = kind, field
        self._entries: dict[str, EntryT] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise ValueError(f"{kind} '{entry.name}' is registered twice")
            self._entries[entry.name] = entry

    def __getitem__(self, name: str) -> EntryT:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, name: str, owner: str) -> EntryT:
        """The entry called `name`, as `owner` (e.g. ``model 'garch11-t'``) names it.

        Raises
        ------
        SpecError
            If no entry has that name: the message names `owner`, the field, the
            closest registered name and every registered one.
        """
        entry = self._entries.get(name)
        if entry is None:
            close = difflib.get_close_matches(str(name), list(self._entries), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise SpecError(
                f"{owner}: {self.field}: unknown {self.kind} {name!r} ({hint}"
                f"registered: {', '.join(self._entries)})"
            )
        return entry
