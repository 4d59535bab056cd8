"""Fuzzing the readers: whatever the input, it loads or raises a riskengine error.

The price loader gets arbitrary bytes, CSV-shaped text and random frames (also
through Parquet); the spec parser gets TOML-shaped text, random tables and random
overrides of the shipped policies; the sleeve file and the CLI's date parser get
text. Any exception other than a `RiskEngineError` fails the test. Cheap by
default; ``HYPOTHESIS_PROFILE=thorough`` runs 1000 examples of each.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import tomllib
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st
from pyarrow import ArrowException

from riskengine.data.dates import iso_date
from riskengine.data.prices import make_market, read_price_file, validate_prices
from riskengine.data.sleeves import SLEEVE_NAMES, read_sleeve_file
from riskengine.errors import RiskEngineError
from riskengine.specs import PolicySpec, builtin_dir, builtin_names, load_policy

FUZZ = settings(suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the module's files, rewritten by every example."""
    return tmp_path_factory.mktemp("fuzz")


def loads_or_refuses(call: Callable[[], object]) -> object | None:
    """The call's result, or None if it raised a riskengine error; else it fails."""
    try:
        result = call()
    except RiskEngineError as exc:
        event(f"refused: {type(exc).__name__}")
        return None
    event("loaded")
    return result


# ---------------------------------------------------------------- price loader

DATES = st.one_of(
    st.dates(min_value=datetime.date(1, 1, 1)).map(str),
    st.dates(datetime.date(2000, 1, 1), datetime.date(2030, 1, 1)).map(str),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2024-02-30", "2024-13-01", "yesterday", "01/02/2024", "2024"]),
    st.sampled_from(["2024-01-02T16:00:00-05:00", "2024-01-03Z", "2024-01-02 25:00"]),
    st.text(max_size=12),
)
CELLS = st.one_of(
    st.floats().map(repr),
    st.floats(0.01, 1e4).map(lambda x: f"{x:.2f}"),
    st.integers().map(str),
    st.sampled_from(["", "nan", "NA", "-1", "0", "inf", "1e400", "1,5", '"', "x"]),
    st.text(max_size=8),
)
NAMES = st.one_of(
    st.sampled_from(["date", "SPY", "TLT", "GLD", "BTC_USD", "VIX", "", " SPY"]),
    st.text(max_size=6),
)


TICKERS = ["SPY", "TLT", "GLD", "EEM", "BTC_USD", "VIX"]
PRICE_CELLS = st.one_of(st.floats(0.01, 1e5).map(lambda x: f"{x:.4g}"), st.just(""))
EDITS = ["cell", "first", "header", "drop", "extra", "swap", "duplicate", "blank"]


@st.composite
def edited(
    draw: st.DrawFn, header: list[str], rows: list[list[str]], cells: Any, firsts: Any
) -> tuple[list[str], list[list[str]]]:
    """A table with up to three hostile edits: cells, header, ragged or moved rows."""
    for _ in range(draw(st.integers(0, 3))):
        edit = draw(st.sampled_from(EDITS))
        i = draw(st.integers(0, max(len(rows) - 1, 0)))
        if edit == "header":
            header[draw(st.integers(0, len(header) - 1))] = draw(NAMES)
        elif not rows or not rows[i]:
            continue
        elif edit == "cell":
            rows[i][draw(st.integers(0, len(rows[i]) - 1))] = draw(cells)
        elif edit == "first":
            rows[i][0] = draw(firsts)
        elif edit == "drop":
            rows[i] = rows[i][:-1]
        elif edit == "extra":
            rows[i] = [*rows[i], draw(cells)]
        elif edit == "swap":
            rows[0], rows[i] = rows[i], rows[0]
        elif edit == "duplicate":
            rows.insert(i, list(rows[i]))
        else:
            rows.insert(i, [])
    return header, rows


@st.composite
def price_tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A valid wide price table as text cells, then up to three hostile edits."""
    tickers = draw(
        st.lists(st.sampled_from(TICKERS), min_size=1, max_size=3, unique=True)
    )
    day = draw(st.dates(datetime.date(1990, 1, 1), datetime.date(2030, 1, 1)))
    rows = []
    for step in draw(st.lists(st.integers(1, 4), min_size=1, max_size=10)):
        day += datetime.timedelta(days=step)
        rows.append([day.isoformat(), *(draw(PRICE_CELLS) for _ in tickers)])
    return draw(edited(["date", *tickers], rows, CELLS, DATES))


def csv_text(table: tuple[list[str], list[list[str]]], newline: str) -> str:
    """A table as CSV text, cells joined as they are (no quoting)."""
    header, rows = table
    return newline.join(",".join(row) for row in [header, *rows]) + newline


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".parquet"]))
def test_price_loader_on_bytes(folder: Path, data: bytes, suffix: str) -> None:
    path = folder / f"prices{suffix}"
    path.write_bytes(data)
    loads_or_refuses(lambda: read_price_file(path))


@FUZZ
@given(
    table=price_tables(),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_price_loader_on_csv_text(
    folder: Path, table: tuple[list[str], list[list[str]]], newline: str, bom: bool
) -> None:
    path = folder / "prices.csv"
    text = ("\ufeff" if bom else "") + csv_text(table, newline)
    path.write_text(text, encoding="utf-8", newline="")
    prices = loads_or_refuses(lambda: read_price_file(path))
    if isinstance(prices, pd.DataFrame):
        assert prices.index.is_monotonic_increasing
        assert prices.index.is_unique
        assert (prices.isna() | (prices > 0)).all().all()
        sleeves = {c: "dm_equity" for c in prices.columns}
        loads_or_refuses(lambda: make_market(prices, source="fuzz", sleeves=sleeves))


@st.composite
def price_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Price tables as frames: text cells, or typed as a reader would type them."""
    header, rows = draw(price_tables())
    width = len(header)
    rows = [(row + [""] * width)[:width] for row in rows if row]
    frame = pd.DataFrame(rows, columns=range(width), dtype=object).set_index(0)
    frame.index.name = "date"
    frame.columns = header[1:]
    if draw(st.booleans()):  # dates and floats, as a Parquet writer would keep them
        with contextlib.suppress(ValueError):  # mixed offsets stay text
            frame.index = pd.to_datetime(frame.index, errors="coerce", format="ISO8601")
        frame = frame.apply(pd.to_numeric, errors="coerce")
    index = frame.index
    if isinstance(index, pd.DatetimeIndex) and index.tz is None and draw(st.booleans()):
        frame.index = index.tz_localize("UTC")
    return frame


@FUZZ
@given(frame=price_frames(), through_parquet=st.booleans())
def test_price_loader_on_frames(
    folder: Path, frame: pd.DataFrame, through_parquet: bool
) -> None:
    if through_parquet:
        path = folder / "prices.parquet"
        try:
            frame.to_parquet(path)
        except (ArrowException, ValueError, TypeError, OverflowError):
            reject()  # pyarrow cannot write it: not an input a user can have
        prices = loads_or_refuses(lambda: read_price_file(path))
    else:
        prices = loads_or_refuses(lambda: validate_prices(frame, source="fuzz"))
    if isinstance(prices, pd.DataFrame):
        sleeves = {c: "rates" for c in prices.columns}
        loads_or_refuses(lambda: make_market(prices, source="fuzz", sleeves=sleeves))


@st.composite
def sleeve_tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A valid sleeve table as text cells, then up to three hostile edits."""
    flags = st.sampled_from(["true", "false", ""])
    assets = draw(st.lists(st.sampled_from(TICKERS), max_size=4, unique=True))
    rows = [[a, draw(st.sampled_from(SLEEVE_NAMES)), draw(flags), ""] for a in assets]
    cells = st.one_of(flags, st.sampled_from(SLEEVE_NAMES), CELLS)
    header = ["asset", "sleeve", "investable", "custom_sleeve"]
    return draw(edited(header, rows, cells, NAMES))


@FUZZ
@given(table=sleeve_tables())
def test_sleeve_file_on_text(
    folder: Path, table: tuple[list[str], list[list[str]]]
) -> None:
    path = folder / "sleeves.csv"
    path.write_text(csv_text(table, "\n"), encoding="utf-8", newline="")
    loads_or_refuses(lambda: read_sleeve_file(path))


@FUZZ
@given(text=st.one_of(st.text(max_size=30), DATES))
def test_cli_dates_are_iso_or_a_value_error(text: str) -> None:
    try:
        day = iso_date(text)
    except ValueError:
        return
    assert datetime.date.fromisoformat(day).isoformat() == day == text.strip()


# ----------------------------------------------------------------- spec parser


def _fields(cls: type, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every field of a spec dataclass with its annotation, nested ones dotted."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        yield f"{prefix}{f.name}", hints[f.name]
        for inner in (hints[f.name], *typing.get_args(hints[f.name])):
            if dataclasses.is_dataclass(inner) and isinstance(inner, type):
                yield from _fields(inner, f"{prefix}{f.name}.")


HINTS = dict(_fields(PolicySpec))
FIELDS = sorted(HINTS)
KEYS = st.one_of(
    st.sampled_from(sorted({f.rsplit(".", 1)[-1] for f in FIELDS})),
    st.sampled_from(SLEEVE_NAMES),
    st.text(max_size=6),
)
SCALARS = st.one_of(
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63, 0, 1, 21, 252]),
    st.floats(),
    st.sampled_from([1e-300, 1e300, 1e12, 1e13, 0.5, 0.1, -0.0]),
    st.booleans(),
    st.text(max_size=10),
    st.sampled_from(["inverse_vol", "risk_budget", "daily", "weekly", "none", ""]),
    st.dates(),
)
TOML_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3)
    ),
    max_leaves=12,
)


def toml(value: Any) -> str:
    """A value as TOML text (inline tables); strings escaped as JSON does."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, int | datetime.date):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return (
        "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"
    )


MODELS = st.one_of(
    st.sampled_from(builtin_names("models")),
    st.sampled_from(["/etc/passwd", "../x.toml", "/etc/passwd.toml", "m.toml"]),
    st.text(max_size=10),
)


@st.composite
def policy_tables(draw: st.DrawFn) -> dict[str, Any]:
    """Tables shaped like a policy: its required fields, then random sections."""
    table: dict[str, Any] = {
        "name": draw(st.text(max_size=10)),
        "description": "d",
        "source": "s",
        "model": draw(MODELS),
    }
    sections = sorted({f.split(".")[0] for f in FIELDS if "." in f})
    for section in draw(st.lists(st.sampled_from(sections), max_size=4, unique=True)):
        names = sorted({f.split(".")[1] for f in FIELDS if f.startswith(f"{section}.")})
        keys = st.one_of(st.sampled_from(names), KEYS)
        table[section] = draw(st.dictionaries(keys, TOML_VALUES, max_size=4))
    if draw(st.booleans()):
        table["triggers"] = draw(
            st.lists(st.dictionaries(KEYS, TOML_VALUES), max_size=2)
        )
    return table


@FUZZ
@given(table=policy_tables())
def test_spec_parser_on_random_tables(folder: Path, table: dict[str, Any]) -> None:
    path = folder / "policy.toml"
    path.write_text(
        "\n".join(f"{json.dumps(k)} = {toml(v)}" for k, v in table.items()),
        encoding="utf-8",
    )
    loads_or_refuses(lambda: load_policy(path))


TOKENS = st.sampled_from(
    [
        "[target]", "[limits]", "[[triggers]]", "[rebalance]", "[a.b.c]", "=", " = ",
        '"', "'", "[", "]", "{", "}", ",", ".", "\n", "#", "nan", "inf", "-inf",
        "1e-300", "1e300", "9" * 400, "0x1F", "true", "2020-02-30", "2024-01-02",
        '"""', "\\u00e9", "model", '"ewma-0.94"', "name", "target_vol_annual",
        "risk_budgets", "crypto", "0.1", "252",
    ]
)  # fmt: skip


@FUZZ
@given(
    tokens=st.lists(st.one_of(TOKENS, st.text(max_size=3)), max_size=30),
    valid_head=st.booleans(),
)
def test_spec_parser_on_toml_like_text(
    folder: Path, tokens: list[str], valid_head: bool
) -> None:
    head = 'name = "f"\ndescription = "d"\nsource = "s"\nmodel = "ewma-0.94"\n'
    path = folder / "policy.toml"
    path.write_text((head if valid_head else "") + "".join(tokens), encoding="utf-8")
    loads_or_refuses(lambda: load_policy(path))


def typed(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a field's type, plausible and extreme, or sometimes of any type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is float:
        near = st.floats(-2, 300) | st.sampled_from([0.0, 1e-300, 1e300, 1e12, 1e13])
        return near | st.floats() | st.sampled_from([10**400, 1, 0])
    if hint is int:
        near = st.integers(-2, 300) | st.sampled_from([10**6, 10**6 + 1, 2**63])
        return near | st.integers() | st.just(10**400)
    if hint is str:
        return st.text(max_size=8) | st.sampled_from(SLEEVE_NAMES)
    if origin is typing.Literal:
        return st.sampled_from(args) | st.text(max_size=4)
    if origin is dict:
        return st.dictionaries(KEYS, typed(args[1]), max_size=3)
    if origin is tuple:
        return st.lists(typed(args[0]), max_size=3)
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(typed(a) for a in args if a is not type(None)), st.none())
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        inner = typing.get_type_hints(hint)
        fields = {f.name: typed(inner[f.name]) for f in dataclasses.fields(hint)}
        return st.fixed_dictionaries({}, optional=fields)
    return TOML_VALUES


@FUZZ
@given(
    name=st.sampled_from(builtin_names("policies")),
    fields=st.lists(st.sampled_from(FIELDS), max_size=3, unique=True),
    data=st.data(),
)
def test_spec_parser_on_overrides_of_shipped_policies(
    name: str, fields: list[str], data: st.DataObject
) -> None:
    overrides = {f: data.draw(typed(HINTS[f]) | TOML_VALUES) for f in fields}
    loads_or_refuses(lambda: load_policy(name, overrides))


def test_the_toml_writer_round_trips_a_shipped_policy() -> None:
    # the writer the random tables go through is itself faithful
    path = builtin_dir("policies") / "safe-haven-risk-off.toml"
    table = tomllib.loads(path.read_text())
    text = "\n".join(f"{json.dumps(k)} = {toml(v)}" for k, v in table.items())
    assert tomllib.loads(text) == table
    assert np.isnan(tomllib.loads(f"x = {toml(float('nan'))}")["x"])
