"""Errors raised by a spec's own checks, located by the builder in `files`."""

from __future__ import annotations


class _FieldError(Exception):
    """A bad value, raised inside a spec's `__post_init__` and located by `_build`."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise _FieldError(name, message)


def is_list_index(key: str) -> bool:
    """Whether a part of a dotted field path picks a list item: ASCII digits only.

    ``str.isdigit`` also accepts superscripts such as ``'²'`` (which ``int`` refuses)
    and other scripts' digits.
    """
    return key.isascii() and key.isdigit()


LABEL_RULE = "must be printable text, not empty (no control characters)"
"""Why a name was refused (`is_label`)."""


def is_label(name: str) -> bool:
    """Whether `name` can label events, files and terminal lines as written."""
    return bool(name.strip()) and name.isprintable()
