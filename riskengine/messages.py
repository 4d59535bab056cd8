"""How a bad value is quoted back in an error message: short, whatever it holds.

A message is one line that a person reads: a 400-digit integer, a 10,000-character
cell or a table nested 3,000 deep is described, not printed.
"""

from __future__ import annotations

SHOWN_CHARS = 40
"""Longest part of a bad value quoted back in a message."""


def shown(value: object) -> str:
    """`value` as a message quotes it: ``'x'`` for text, cut after `SHOWN_CHARS`.

    Integers longer than `SHOWN_CHARS` digits are described by their length,
    tables and lists by their kind (never their contents: they may be nested
    deeper than `repr` can go), booleans as TOML writes them.
    """
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and len(str(abs(value))) > SHOWN_CHARS:
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return repr(value[:SHOWN_CHARS] + "...")
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."
