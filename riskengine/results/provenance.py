"""Provenance: the versions of riskengine, Python and the packages behind the numbers.

Read from the installed packages' metadata (`importlib.metadata`), so that nothing
here imports numpy, pandas or a solver: the command line's ``--version`` and the
allocation job's JSON ask for versions without loading the engine.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

NUMERIC_PACKAGES = ("numpy", "pandas", "arch", "cvxpy", "scipy")
"""Packages whose versions can change a run's numbers."""


def package_version(package: str = "riskengine") -> str | None:
    """The installed version of `package`, or None when it is not installed."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def versions() -> dict[str, str]:
    """Versions of Python, riskengine and the packages that shape the numbers."""
    found = {"python": platform.python_version()}
    for package in ("riskengine", *NUMERIC_PACKAGES):
        found[package] = package_version(package) or "not installed"
    return found
