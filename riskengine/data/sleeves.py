"""What each asset is to a policy: its sleeve, and whether it can be held.

Policies speak of sleeves, never tickers. An asset's sleeve and investability come
from a sleeve file the user supplies with the data, or from the built-in table of
well-known tickers. Every sleeve name, in a policy or a sleeve file, is checked
against one vocabulary (`SLEEVE_NAMES`) plus the custom sleeves the user declares,
so that a misspelt sleeve is an error instead of a risk control silently switched
off. A signal-only asset (an index such as the spot VIX) may feed triggers and
reports, but no policy ever holds it.

A sleeve file is a CSV with the columns ``asset`` and ``sleeve``, and optionally:

* ``investable``: ``true`` or ``false``; false marks a signal-only series. Empty, or
  no such column: the built-in table's value for a well-known ticker, else true.
* ``custom_sleeve``: ``true`` on (at least) one row of a sleeve outside the
  built-in vocabulary declares it; other rows of that sleeve may leave it empty.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from riskengine.data.csvfile import read_csv_text
from riskengine.errors import DataError

SLEEVE_NAMES: tuple[str, ...] = (
    "safe_haven",
    "dm_equity",
    "em_equity",
    "credit",
    "rates",
    "crypto",
    "commodity",
    "volatility",
)
"""The built-in sleeves; any other sleeve must be declared as a custom sleeve."""


@dataclass(frozen=True)
class AssetInfo:
    """What an asset is to a policy.

    Attributes
    ----------
    sleeve : str
        The asset's sleeve.
    investable : bool
        False for a signal-only series, such as the spot VIX index: triggers and
        reports may read it, no policy ever holds it.
    """

    sleeve: str
    investable: bool = True


def _rows(
    sleeve: str, tickers: list[str], *, investable: bool = True
) -> dict[str, AssetInfo]:
    return dict.fromkeys(tickers, AssetInfo(sleeve, investable))


BUILTIN_ASSETS: Mapping[str, AssetInfo] = {
    **_rows("safe_haven", ["GLD", "IAU", "SGOL", "SLV", "SIVR", "GC=F", "SI=F"]),
    **_rows("dm_equity", ["SPY", "IVV", "VOO", "VTI", "QQQ", "IWM", "EFA", "VEA"]),
    **_rows("em_equity", ["EEM", "VWO", "IEMG"]),
    **_rows("credit", ["HYG", "JNK", "LQD", "VCIT", "EMB"]),
    **_rows("rates", ["TLT", "IEF", "SHY", "AGG", "BND", "GOVT", "TIP"]),
    **_rows("crypto", ["BTC_USD", "ETH_USD", "BTC-USD", "ETH-USD", "BTC", "ETH"]),
    **_rows("commodity", ["USO", "DBC", "GSG", "DBA", "CL=F"]),
    **_rows("volatility", ["VXX"]),  # an exchange-traded note on VIX futures
    **_rows("volatility", ["VIX", "^VIX"], investable=False),  # the spot index
}
"""Sleeve and investability of well-known tickers, for columns no sleeve file names."""


@dataclass(frozen=True)
class SleeveTable:
    """A user's sleeve table: what each listed asset is, and the custom sleeves.

    Attributes
    ----------
    assets : Mapping[str, AssetInfo]
        Sleeve and investability per asset; these override the built-in table.
    custom_sleeves : frozenset of str
        Sleeves outside `SLEEVE_NAMES` that the table declares.
    source : str
        Where the table came from, for error messages.
    """

    assets: Mapping[str, AssetInfo]
    custom_sleeves: frozenset[str] = field(default_factory=frozenset)
    source: str = "sleeve table"


def closest(name: str, options: Iterable[str]) -> str | None:
    """The option closest to `name`, whatever their case; None if none is close."""
    by_folded = {option.casefold(): option for option in options}
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=1)
    return by_folded[close[0]] if close else None


def did_you_mean(name: str, options: Iterable[str], otherwise: str = "") -> str:
    """``"did you mean 'x'?"`` for the closest option, else `otherwise` (or all)."""
    options = list(options)
    close = closest(name, options)
    if close:
        return f"did you mean '{close}'?"
    return otherwise or f"known: {', '.join(options)}"


def unknown_sleeve(name: str, custom: Iterable[str] = ()) -> str | None:
    """Why `name` is not a known sleeve, naming the closest known one; None if known.

    Parameters
    ----------
    name : str
        A sleeve name as written in a policy or a sleeve file.
    custom : iterable of str
        Custom sleeves the user declared, known beside `SLEEVE_NAMES`.

    Returns
    -------
    str or None
        E.g. ``"unknown sleeve 'cryptoo' (did you mean 'crypto'?)"``; None when
        `name` is known.
    """
    known = [*SLEEVE_NAMES, *custom]
    if name in known:
        return None
    return f"unknown sleeve '{name}' ({did_you_mean(name, known)})"


def as_sleeve_table(
    table: Mapping[str, str] | SleeveTable | None, *, source: str
) -> SleeveTable:
    """A sleeve table from a mapping asset -> sleeve (investability: built-in)."""
    if isinstance(table, SleeveTable):
        return table
    assets = {
        asset: AssetInfo(sleeve, _builtin_investable(asset))
        for asset, sleeve in (table or {}).items()
    }
    return SleeveTable(assets, source=source)


def resolve_assets(
    assets: list[str],
    table: Mapping[str, str] | SleeveTable | None = None,
    *,
    source: str = "sleeves",
) -> dict[str, AssetInfo]:
    """Sleeve and investability of every asset, from a user table or the built-in one.

    Parameters
    ----------
    assets : list of str
        Column names of the price data.
    table : Mapping, SleeveTable or None
        The user's table (a mapping asset -> sleeve takes investability from the
        built-in table, investable for tickers it does not know).
    source : str
        Name of the data, for error messages.

    Raises
    ------
    DataError
        Naming the assets that neither table knows, an asset of the user's table
        that is a column written in another case (``spy`` would leave ``SPY`` on
        its built-in sleeve), or an asset whose sleeve is neither built-in nor
        declared custom (with the closest known sleeve).
    """
    user = as_sleeve_table(table, source=source)
    clash = sorted(user.custom_sleeves & set(SLEEVE_NAMES))
    if clash:
        raise DataError(
            f"{user.source}: custom sleeve '{clash[0]}' is a built-in sleeve; declare "
            "only sleeves outside the built-in vocabulary"
        )
    by_folded = {a.casefold(): a for a in assets}
    for listed in user.assets:
        column = by_folded.get(listed.casefold(), listed)
        if column != listed:
            raise DataError(
                f"{user.source}: asset {listed} is not a column of {source} (did you "
                f"mean '{column}'? names are case-sensitive)"
            )
    lookup = {**BUILTIN_ASSETS, **user.assets}
    unknown = [a for a in assets if a not in lookup]
    if unknown:
        raise DataError(
            f"{source}: no sleeve for column(s) {', '.join(unknown)}: pass a sleeve "
            "file (CSV with columns asset,sleeve) with --sleeves"
        )
    for asset in assets:
        problem = unknown_sleeve(lookup[asset].sleeve, user.custom_sleeves)
        if problem is not None:
            raise DataError(
                f"{user.source}: asset {asset}: {problem}; a custom sleeve must be "
                "declared (custom_sleeve = true in a sleeve file)"
            )
    return {a: lookup[a] for a in assets}


SLEEVE_FILE_COLUMNS = ("asset", "sleeve", "investable", "custom_sleeve")
"""Columns of a sleeve file; the first two are required."""


def read_sleeve_file(path: str | Path) -> SleeveTable:
    """Read and check a sleeve file (see the module notes for its columns).

    Raises
    ------
    DataError
        Naming the file and the line, if the file is missing, unreadable or not a
        CSV (see `riskengine.data.csvfile.read_csv_text`), a column is unknown or
        missing, a cell is empty or not true/false, an asset is listed twice, or a
        sleeve is neither built-in nor declared custom (with the closest known
        sleeve).
    """
    path = Path(path)
    table = read_csv_text(path, "sleeve file")
    for column in table.columns:
        if column not in SLEEVE_FILE_COLUMNS:
            raise DataError(
                f"{path}: unknown column '{column}' "
                f"({did_you_mean(column, SLEEVE_FILE_COLUMNS)})"
            )
    if not {"asset", "sleeve"} <= set(table.columns):
        raise DataError(
            f"{path}: expected columns 'asset,sleeve', found {list(table.columns)}"
        )
    if table.empty:
        raise DataError(
            f"{path}: no rows: expected one line per asset (asset,sleeve) after the "
            "header"
        )
    rows = {
        line: {c: str(row.get(c, "")).strip() for c in SLEEVE_FILE_COLUMNS}
        for line, row in zip(table.index, table.to_dict("records"), strict=True)
    }
    lines: dict[str, int] = {}
    for number, row in rows.items():
        for column in ("asset", "sleeve"):
            if not row[column]:
                raise DataError(f"{path}: line {number}: empty {column}")
        if row["asset"] in lines:
            raise DataError(
                f"{path}: line {number}: asset {row['asset']} listed twice (first "
                f"on line {lines[row['asset']]})"
            )
        lines[row["asset"]] = number
    declared = {
        row["sleeve"]
        for number, row in rows.items()
        if _flag(row, "custom_sleeve", path, number)
    }
    assets: dict[str, AssetInfo] = {}
    for number, row in rows.items():
        asset, sleeve = row["asset"], row["sleeve"]
        where = f"{path}: line {number} (asset {asset})"
        if sleeve in SLEEVE_NAMES and _flag(row, "custom_sleeve", path, number):
            raise DataError(
                f"{where}: custom_sleeve: '{sleeve}' is a built-in sleeve; "
                "custom_sleeve = true declares only sleeves outside the built-in "
                "vocabulary"
            )
        problem = unknown_sleeve(sleeve, declared)
        if problem is not None:
            raise DataError(
                f"{where}: sleeve: {problem}; a sleeve outside the built-in "
                "vocabulary needs custom_sleeve = true on one of its rows"
            )
        investable = _flag(row, "investable", path, number)
        if investable is None:
            investable = _builtin_investable(asset)
        assets[asset] = AssetInfo(sleeve, investable)
    return SleeveTable(assets, frozenset(declared), source=str(path))


def check_sleeve_file_names_columns(
    table: SleeveTable, columns: Iterable[str], prices: str
) -> None:
    """Raise a `DataError` if a sleeve file lists an asset its price file lacks.

    A sleeve file comes with its price file: a row that names no column is a typo
    (``SPYY``) that would leave the intended column on its built-in sleeve.
    """
    columns = list(columns)
    strays = [asset for asset in table.assets if asset not in set(columns)]
    if strays:
        hint = did_you_mean(strays[0], columns, "no column is close")
        more = f" (and {len(strays) - 1} more)" if len(strays) > 1 else ""
        raise DataError(
            f"{table.source}: asset {strays[0]}{more} is not a column of {prices} "
            f"({hint}); a sleeve file lists only its price file's columns"
        )


def _flag(row: Mapping[str, str], column: str, path: Path, line: int) -> bool | None:
    """A true/false cell of a sleeve file; None when empty."""
    value = row[column].lower()
    if value in {"true", "false"}:
        return value == "true"
    if not value:
        return None
    raise DataError(
        f"{path}: line {line} (asset {row['asset']}): {column}: expected true or "
        f"false (or empty), got '{row[column]}'"
    )


def _builtin_investable(asset: str) -> bool:
    known = BUILTIN_ASSETS.get(asset)
    return known.investable if known is not None else True
