"""A sweep file, read and expanded into its runs, each with its id."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskengine.data.dates import iso_date
from riskengine.data.prices import Market
from riskengine.errors import SpecError
from riskengine.messages import shown
from riskengine.specs import PolicySpec, load_policy
from riskengine.specs.files import read_toml

SWEEP_FIELDS = {"name", "policies", "start", "end", "grid", "universes"}


@dataclass(frozen=True)
class SweepRun:
    """One backtest of a sweep: a policy with overrides, on a universe and period."""

    run_id: str
    policy: PolicySpec
    overrides: dict[str, Any]
    universe: str
    assets: tuple[str, ...]
    start: str | None
    end: str | None


@dataclass(frozen=True)
class Sweep:
    """A sweep file, expanded: its name and its runs."""

    name: str
    runs: tuple[SweepRun, ...]


def plan_sweep(path: str | Path, market: Market) -> Sweep:
    """Expand a sweep file into its runs, validating every policy they use.

    Raises
    ------
    SpecError
        Naming the sweep file and the field for a bad sweep, and the policy's field
        for a grid value the policy rejects.
    """
    path = Path(path)
    table = _read(path)
    grid = table.get("grid", {})
    universes = table.get("universes", {"all": []})
    start, end = table.get("start"), table.get("end")
    _check_period(start, end, market, path)
    for name, assets in universes.items():
        unknown = sorted(set(assets) - set(market.prices.columns))
        if unknown:
            raise SpecError(f"{path}: universes.{name}: no such asset {unknown[0]!r}")
    fields = list(grid)
    runs = []
    for policy_name in table["policies"]:
        for point in itertools.product(*(grid[f] for f in fields)):
            overrides = dict(zip(fields, point, strict=True))
            try:
                policy = load_policy(policy_name, overrides)
            except SpecError as exc:
                values = ", ".join(f"{k} = {shown(v)}" for k, v in overrides.items())
                raise SpecError(f"{path}: grid {{{values}}}: {exc}") from exc
            for universe, assets in universes.items():
                chosen = tuple(assets) or tuple(market.prices.columns)
                runs.append(
                    SweepRun(
                        _run_id(policy, universe, chosen, (start, end), market),
                        policy,
                        overrides,
                        universe,
                        chosen,
                        start,
                        end,
                    )
                )
    return Sweep(str(table.get("name", path.stem)), tuple(runs))


def _read(path: Path) -> dict[str, Any]:
    table = read_toml(path)
    unknown = sorted(set(table) - SWEEP_FIELDS)
    if unknown:
        expected = ", ".join(sorted(SWEEP_FIELDS))
        raise SpecError(
            f"{path}: unknown field {unknown[0]!r} (expected one of: {expected})"
        )
    policies = table.get("policies")
    if not (
        isinstance(policies, list)
        and policies
        and all(isinstance(p, str) for p in policies)
    ):
        raise SpecError(
            f"{path}: policies: expected a non-empty list of policy names or paths"
        )
    if not isinstance(table.get("name", ""), str):
        raise SpecError(f"{path}: name: expected a string")
    for key in ("grid", "universes"):
        value = table.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(v, list) for v in value.values()
        ):
            raise SpecError(f"{path}: {key}: expected a table of lists")
    for name, assets in table.get("universes", {}).items():
        if not all(isinstance(a, str) for a in assets):
            raise SpecError(f"{path}: universes.{name}: expected a list of asset names")
    for key in ("start", "end"):
        if key in table:
            table[key] = _iso_date(table[key], path, key)
    for field, values in table.get("grid", {}).items():
        if not values:
            raise SpecError(f"{path}: grid.{field}: expected at least one value")
    return table


def _check_period(
    start: str | None, end: str | None, market: Market, path: Path
) -> None:
    """Refuse a period that leaves no day to walk on the market's dates."""
    first, last = (d.date().isoformat() for d in market.returns.index[[0, -1]])
    if start is not None and start >= last:
        raise SpecError(
            f"{path}: start: {start} leaves no day to walk (the data end on {last})"
        )
    if end is not None and end < first:
        raise SpecError(f"{path}: end: {end} is before the data begin ({first})")
    if start is not None and end is not None and start >= end:
        raise SpecError(f"{path}: start: {start} is not before end ({end})")


def _iso_date(value: object, path: Path, key: str) -> str:
    """A TOML date or ISO date string, as YYYY-MM-DD (see `riskengine.data.dates`)."""
    try:
        return iso_date(value)
    except ValueError as exc:
        raise SpecError(f"{path}: {key}: {exc}") from None


def _run_id(
    policy: PolicySpec,
    universe: str,
    assets: tuple[str, ...],
    period: tuple[str | None, str | None],
    market: Market,
) -> str:
    """Hash of what defines a run: the same definition, the same id."""
    definition = {
        "policy": policy.to_dict(),
        "universe": [universe, assets],
        "period": period,
        "data": market.fingerprint,
    }
    text = json.dumps(definition, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
