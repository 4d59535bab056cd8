"""Reading specs: built-in names, TOML, overrides, and the validating builder."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from riskengine.errors import SpecError
from riskengine.specs._validation import _FieldError
from riskengine.specs.model import ModelSpec
from riskengine.specs.policy import PolicySpec

SpecKind = Literal["models", "policies"]


SPEC_NOUN: dict[SpecKind, str] = {"models": "model", "policies": "policy"}


def builtin_dir(kind: SpecKind) -> Path:
    """Folder of the built-in specs: packaged in a wheel, or the repository's own."""
    package = Path(__file__).resolve().parents[1]  # riskengine/
    packaged = package / "_specs" / kind
    return packaged if packaged.is_dir() else package.parent / kind


def builtin_names(kind: SpecKind) -> list[str]:
    """Names of the built-in specs of one kind."""
    return sorted(p.stem for p in builtin_dir(kind).glob("*.toml"))


def resolve_spec_path(name_or_path: str | Path, kind: SpecKind) -> Path:
    """Path of a spec given as a file path or as the name of a built-in spec.

    Raises
    ------
    SpecError
        If neither a file nor a built-in spec of that name exists.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    file_name = path.name if path.name.endswith(".toml") else f"{path.name}.toml"
    builtin = builtin_dir(kind) / file_name
    if path.parent == Path(".") and builtin.is_file():
        return builtin
    raise SpecError(
        f"{name_or_path}: no such file, nor a built-in {SPEC_NOUN[kind]} "
        f"(built-in: {', '.join(builtin_names(kind))})"
    )


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a table; a missing or malformed file is a `SpecError`."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from exc


def load_model(name_or_path: str | Path) -> ModelSpec:
    """Load and validate a volatility-model spec (a path or a built-in name)."""
    path = resolve_spec_path(name_or_path, "models")
    table = read_toml(path)
    half_life = table.pop("half_life_days", None)
    if half_life is not None:
        if "decay" in table:
            raise SpecError(f"{path}: give decay or half_life_days, not both")
        if not isinstance(half_life, int | float) or half_life <= 0:
            raise SpecError(f"{path}: half_life_days: expected a positive number")
        table["decay"] = 0.5 ** (1.0 / half_life)
    return _build(ModelSpec, table, path, "")


def load_policy(
    name_or_path: str | Path, overrides: Mapping[str, Any] | None = None
) -> PolicySpec:
    """Load and validate a policy spec and the model it names.

    The ``model`` field is a built-in model name (``"ewma-0.94"``) or a path ending
    in ``.toml``, relative to the policy file.

    Parameters
    ----------
    name_or_path : str or Path
        A built-in policy name or a TOML path.
    overrides : Mapping, optional
        Values replacing fields of the file before validation, by dotted field
        (``"target.target_vol_annual"``; an integer picks an item of a list, as in
        ``"triggers.0.enter_above"``), so a bad one is reported like a bad file.
    """
    path = resolve_spec_path(name_or_path, "policies")
    table = read_toml(path)
    for field_name, value in (overrides or {}).items():
        _override(table, field_name, value, path)
    model_ref = table.get("model")
    if not isinstance(model_ref, str):
        raise SpecError(f"{path}: model: expected the name or path of a model spec")
    model_path: str | Path = model_ref
    if model_ref.endswith(".toml"):
        model_path = path.parent / model_ref
    try:
        table["model"] = load_model(model_path)
    except SpecError as exc:
        raise SpecError(f"{path}: model: {exc}") from exc
    return _build(PolicySpec, table, path, "")


def _override(table: dict[str, Any], dotted: str, value: Any, path: Path) -> None:
    """Set the field `dotted` of a parsed TOML table (tables created as needed)."""
    *parents, last = dotted.split(".")
    node: Any = table
    for depth, key in enumerate(parents):
        where = ".".join(parents[: depth + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise SpecError(f"{path}: {where}: no such item ({len(node)} in list)")
            node = node[int(key)]
        else:
            node = node.setdefault(key, {})
        if not isinstance(node, dict | list):
            raise SpecError(f"{path}: {where}: not a table, cannot set {dotted}")
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise SpecError(f"{path}: {dotted}: no such item ({len(node)} in list)")
        node[int(last)] = value
    else:
        node[last] = value


def _build(cls: type, table: Mapping[str, Any], path: Path, prefix: str) -> Any:
    """Construct dataclass `cls` from a TOML table, checking every field's type."""
    if not isinstance(table, Mapping):
        raise SpecError(f"{path}: {prefix.rstrip('.')}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise SpecError(
            f"{path}: unknown field '{prefix}{unknown[0]}' "
            f"(expected one of: {', '.join(fields)})"
        )
    missing = [
        name
        for name, f in fields.items()
        if name not in table
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise SpecError(f"{path}: missing field '{prefix}{missing[0]}'")
    values = {
        name: _convert(value, hints[name], path, f"{prefix}{name}")
        for name, value in table.items()
    }
    try:
        return cls(**values)
    except _FieldError as exc:
        raise SpecError(f"{path}: {prefix}{exc.name}: {exc}") from None


def _convert(value: Any, hint: Any, path: Path, name: str) -> Any:
    """Check one value against its annotation and convert it (int -> float, ...)."""
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return (
            value if isinstance(value, hint) else _build(hint, value, path, f"{name}.")
        )
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None or (isinstance(value, str) and value == "none"):
            if type(None) in options:
                return None
        inner = next(o for o in options if o is not type(None))
        return _convert(value, inner, path, name)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            expected = ", ".join(repr(a) for a in allowed)
            raise SpecError(
                f"{path}: {name}: expected one of {expected}, got {value!r}"
            )
        return value
    if origin is dict:
        if not isinstance(value, Mapping):
            raise SpecError(f"{path}: {name}: expected a table")
        _, value_type = typing.get_args(hint)
        return {
            str(k): _convert(v, value_type, path, f"{name}.{k}")
            for k, v in value.items()
        }
    if origin is tuple:
        if not isinstance(value, list):
            raise SpecError(f"{path}: {name}: expected a list")
        item_type = typing.get_args(hint)[0]
        return tuple(
            _convert(v, item_type, path, f"{name}[{i}]") for i, v in enumerate(value)
        )
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"{path}: {name}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise SpecError(f"{path}: {name}: expected a finite number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{path}: {name}: expected an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise SpecError(f"{path}: {name}: expected a string, got {value!r}")
        return value
    raise TypeError(
        f"unsupported spec annotation {hint!r} for {name}"
    )  # pragma: no cover
