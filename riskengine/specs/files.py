"""Reading specs: built-in names, TOML, overrides, and the validating builder.

A spec file is UTF-8 TOML. The builder checks every field's type against the
dataclass annotation, and bounds what any number may be before each spec checks
its own range: an integer counts days or observations (at most `MAX_SPEC_INTEGER`),
a real number is finite and at most `MAX_SPEC_NUMBER` in magnitude. A policy's
``model`` is a built-in model's name or a ``.toml`` path inside the policy's own
folder (or below): a spec never makes riskengine read a file elsewhere.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from riskengine.data.sleeves import did_you_mean
from riskengine.errors import SpecError
from riskengine.messages import shown
from riskengine.specs._validation import _FieldError, is_list_index
from riskengine.specs.model import ModelSpec
from riskengine.specs.policy import PolicySpec

SpecKind = Literal["models", "policies"]


SPEC_NOUN: dict[SpecKind, str] = {"models": "model", "policies": "policy"}

MAX_SPEC_INTEGER = 1_000_000
"""Largest integer a spec field takes: every integer counts days or observations."""
MAX_SPEC_NUMBER = 1e12
"""Largest magnitude of a spec's real number; each field checks its own range too."""
HALF_LIFE_DAYS = (0.01, 1e6)
"""Accepted range of a model's ``half_life_days`` (the alias of its decay)."""


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
    if path.is_dir():
        raise SpecError(f"{path}: is a folder, not a {SPEC_NOUN[kind]} file")
    file_name = path.name if path.name.endswith(".toml") else f"{path.name}.toml"
    builtin = builtin_dir(kind) / file_name
    if path.parent == Path(".") and builtin.is_file():
        return builtin
    raise SpecError(
        f"{name_or_path}: no such file, nor a built-in {SPEC_NOUN[kind]} "
        f"(built-in: {', '.join(builtin_names(kind))})"
    )


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a table; a missing, non-UTF-8 or malformed file is a `SpecError`.

    Raises
    ------
    SpecError
        Naming the file (and the line where there is one): no such file, not
        readable, not UTF-8 text, not valid TOML, or nested deeper than Python can
        parse (thousands of brackets).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark, as Notepad writes, too
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError(
            f"{path}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text: "
            "save the file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise SpecError(f"{path}: not valid TOML (nested too deeply)") from None


def load_model(name_or_path: str | Path) -> ModelSpec:
    """Load and validate a volatility-model spec (a path or a built-in name)."""
    path = resolve_spec_path(name_or_path, "models")
    table = read_toml(path)
    half_life = table.pop("half_life_days", None)
    if half_life is not None:
        if "decay" in table:
            raise SpecError(f"{path}: give decay or half_life_days, not both")
        if (
            isinstance(half_life, bool)
            or not isinstance(half_life, int | float)
            or not HALF_LIFE_DAYS[0] <= half_life <= HALF_LIFE_DAYS[1]
        ):
            raise SpecError(
                f"{path}: half_life_days: expected a number in [{HALF_LIFE_DAYS[0]:g}, "
                f"{HALF_LIFE_DAYS[1]:g}], got {shown(half_life)}"
            )
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
    _check_names(PolicySpec, table, path, "")  # 'modle' before what 'model' names
    model_path = _model_reference(table.get("model"), path)
    try:
        table["model"] = load_model(model_path)
    except SpecError as exc:
        raise SpecError(f"{path}: model: {exc}") from exc
    return _build(PolicySpec, table, path, "")


def _model_reference(reference: object, policy: Path) -> Path:
    """The model file a policy's ``model`` field names: built-in, or in its folder.

    Raises
    ------
    SpecError
        Naming the policy and the field, for a reference that is neither a built-in
        model's name nor a relative ``.toml`` path inside the policy's folder.
    """
    builtins = builtin_names("models")
    if not isinstance(reference, str):
        raise SpecError(
            f"{policy}: model: expected a built-in model's name "
            f"({', '.join(builtins)}) or a .toml path inside the policy's folder"
        )
    if not reference.endswith(".toml"):
        if reference not in builtins:
            raise SpecError(
                f"{policy}: model: no built-in model {shown(reference)} "
                f"({did_you_mean(reference, builtins)}); a model file is a .toml "
                "path inside the policy's folder"
            )
        return builtin_dir("models") / f"{reference}.toml"
    folder = policy.parent.resolve()
    target = (folder / reference).resolve()
    if Path(reference).is_absolute() or not target.is_relative_to(folder):
        raise SpecError(
            f"{policy}: model: {shown(reference)} is outside the policy's folder "
            f"({folder}): give a built-in model's name or a .toml path inside it"
        )
    return policy.parent / reference


def _override(table: dict[str, Any], dotted: str, value: Any, path: Path) -> None:
    """Set the field `dotted` of a parsed TOML table (tables created as needed)."""
    *parents, last = dotted.split(".")
    node: Any = table
    for depth, key in enumerate(parents):
        where = ".".join(parents[: depth + 1])
        if isinstance(node, list):
            if not is_list_index(key) or int(key) >= len(node):
                raise SpecError(f"{path}: {where}: no such item ({len(node)} in list)")
            node = node[int(key)]
        else:
            item = [*parents, last][depth + 1]
            if key not in node and is_list_index(item):  # an item of a list not there
                raise SpecError(f"{path}: {where}.{item}: no such item (0 in list)")
            node = node.setdefault(key, {})
        if not isinstance(node, dict | list):
            raise SpecError(f"{path}: {where}: not a table, cannot set {dotted}")
    if isinstance(node, list):
        if not is_list_index(last) or int(last) >= len(node):
            raise SpecError(f"{path}: {dotted}: no such item ({len(node)} in list)")
        node[int(last)] = value
    else:
        node[last] = value


def _build(cls: type, table: Mapping[str, Any], path: Path, prefix: str) -> Any:
    """Construct dataclass `cls` from a TOML table, checking every field's type."""
    if not isinstance(table, Mapping):
        raise SpecError(f"{path}: {prefix.rstrip('.')}: expected a table")
    _check_names(cls, table, path, prefix)
    hints = typing.get_type_hints(cls)
    values = {
        name: _convert(value, hints[name], path, f"{prefix}{name}")
        for name, value in table.items()
    }
    try:
        return cls(**values)
    except _FieldError as exc:
        raise SpecError(f"{path}: {prefix}{exc.name}: {exc}") from None


def _check_names(cls: type, table: Mapping[str, Any], path: Path, prefix: str) -> None:
    """Refuse a table of `cls` with an unknown field or a required one missing."""
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
                f"{path}: {name}: expected one of {expected}, got {shown(value)}"
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
            raise SpecError(f"{path}: {name}: expected a number, got {shown(value)}")
        if abs(value) > MAX_SPEC_NUMBER or not math.isfinite(value):
            raise SpecError(
                f"{path}: {name}: expected a finite number of magnitude at most "
                f"{MAX_SPEC_NUMBER:g}, got {shown(value)}"
            )
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{path}: {name}: expected an integer, got {shown(value)}")
        if abs(value) > MAX_SPEC_INTEGER:
            raise SpecError(
                f"{path}: {name}: expected an integer of magnitude at most "
                f"{MAX_SPEC_INTEGER} (a count of days or observations), got "
                f"{shown(value)}"
            )
        return value
    if hint is str:
        if not isinstance(value, str):
            raise SpecError(f"{path}: {name}: expected a string, got {shown(value)}")
        return value
    raise TypeError(
        f"unsupported spec annotation {hint!r} for {name}"
    )  # pragma: no cover
