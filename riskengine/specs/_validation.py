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
