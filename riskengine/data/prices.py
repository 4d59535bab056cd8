"""Load and validate price panels, align mixed calendars, and turn prices into returns.

Alignment rule (documented in the README and tested):

* A column *trades every day* when at least a fifth of its prices fall on weekends
  (crypto); every other column follows an exchange calendar.
* The backtest calendar is the union of the dates on which any exchange-calendar
  column has a price (all dates when every column trades every day).
* On each calendar date an asset's return is its price on that date over its
  previous price, minus one, when it has a price on that date; otherwise NaN
  (no new information, and nothing is forward-filled). So weekend crypto moves
  compound into the next exchange day's return, and an ETF that misses an exchange
  holiday earns the whole move on its next price.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyarrow import ArrowException

from riskengine._typing import ReturnPanel
from riskengine.data.csvfile import check_file, read_csv_text, separator_hint
from riskengine.data.sleeves import (
    AssetInfo,
    SleeveTable,
    as_sleeve_table,
    check_sleeve_file_names_columns,
    read_sleeve_file,
    resolve_assets,
)
from riskengine.errors import DataError
from riskengine.messages import shown

DAILY_CALENDAR_WEEKEND_SHARE = 0.2
"""Share of weekend prices above which a column is taken to trade every day."""


SIMULATED_NOTE = "SIMULATED DATA: figures come from the riskengine market simulator"
"""What every output made from simulated prices says."""


@dataclass(frozen=True)
class Market:
    """A validated price panel, its returns on the aligned calendar, and its sleeves.

    Attributes
    ----------
    prices : pd.DataFrame
        Validated closes, shape (n_dates, n_assets), NaN where an asset has no price.
    returns : pd.DataFrame
        Simple returns on the backtest calendar, shape (n_days, n_assets), NaN where
        an asset has no new price on that day.
    sleeves : Mapping[str, str]
        Sleeve of every asset.
    investable : Mapping[str, bool]
        Whether each asset may be held; False for a signal-only series (an index
        such as the spot VIX), which triggers and reports may read but no policy
        holds.
    source : str
        Where the data came from (a file path, or a description of simulated data).
    fingerprint : str
        SHA-256 of the validated prices, for the run manifest.
    simulated : bool
        True when the data come from the project's market simulator.
    daily_columns : tuple of str
        Columns that trade every calendar day.
    custom_sleeves : frozenset of str
        Sleeves outside the built-in vocabulary that the sleeve table declared.
    """

    prices: pd.DataFrame
    returns: ReturnPanel
    sleeves: Mapping[str, str]
    investable: Mapping[str, bool]
    source: str
    fingerprint: str
    simulated: bool = False
    daily_columns: tuple[str, ...] = ()
    custom_sleeves: frozenset[str] = frozenset()

    @property
    def assets(self) -> list[str]:
        """Asset names in column order."""
        return list(self.returns.columns)

    @property
    def signal_only(self) -> list[str]:
        """Assets that may feed signals but are never held, in column order."""
        return [a for a in self.assets if not self.investable[a]]

    @property
    def asset_table(self) -> SleeveTable:
        """The market's sleeves and investability, to build a market on a subset."""
        assets = {
            a: AssetInfo(self.sleeves[a], self.investable[a]) for a in self.assets
        }
        return SleeveTable(assets, self.custom_sleeves, source=self.source)


def read_price_file(path: str | Path) -> pd.DataFrame:
    """Read a wide price file (CSV or Parquet) and validate it.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (UTF-8) or ``.parquet`` file with a ``date`` column (or the first
        column) and one close-price column per asset; a Parquet file may instead
        keep the dates as its index, as ``DataFrame.to_parquet()`` writes them.

    Returns
    -------
    pd.DataFrame
        Float prices indexed by a sorted, unique DatetimeIndex named ``date``.

    Raises
    ------
    DataError
        If the file is missing, unreadable or malformed (see
        `riskengine.data.csvfile.read_csv_text`; a column name given twice is found
        in the header as written), has no rows, or any check of `validate_prices` fails.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = read_csv_text(path, "price file")
    elif suffix in {".parquet", ".pq"}:
        raw = _read_parquet(path)
    else:
        check_file(path, "price file")
        raise DataError(
            f"{path}: unsupported price file type '{suffix}' (expected .csv or "
            ".parquet)"
        )
    if raw.shape[1] < 2:
        raise DataError(
            f"{path}: need a date column and at least one price column"
            f"{separator_hint([str(c) for c in raw.columns])}"
        )
    if raw.empty:
        raise DataError(f"{path}: no prices: the file has columns but no rows")
    frame = raw.set_index(_date_column(raw, path))
    return validate_prices(frame, source=str(path))


def _date_column(raw: pd.DataFrame, path: Path) -> Hashable:
    """The column of a price file's dates: ``date`` (in any case), else the first.

    Raises
    ------
    DataError
        If two columns are named ``date``, or the first column has no name beside
        a ``date`` column (an index that ``DataFrame.to_csv()`` wrote).
    """
    named = [c for c in raw.columns if str(c).strip().lower() == "date"]
    if len(named) > 1:
        raise DataError(f"{path}: two date columns ({named[0]!r} and {named[1]!r})")
    if not named:
        return raw.columns[0]
    if str(raw.columns[0]).strip() == "":
        raise DataError(
            f"{path}: column 1 has no name beside the date column {named[0]!r}: an "
            "index written by DataFrame.to_csv()? write the file with index=False"
        )
    return named[0]


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file as a frame, dates moved from the index to a column if there."""
    check_file(path, "price file")
    try:
        raw = pd.read_parquet(path)
    except (OSError, ValueError, TypeError, ArrowException) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise DataError(f"{path}: cannot read as Parquet ({detail})") from None
    if not isinstance(raw.index, pd.RangeIndex):
        raw = raw.reset_index(allow_duplicates=True)  # a clash is named below
    duplicated = raw.columns[raw.columns.duplicated()]
    if len(duplicated):
        raise DataError(f"{path}: column name '{duplicated[0]}' given twice")
    return raw


def validate_prices(frame: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Check a wide price frame and return it with float values and a date index.

    Parameters
    ----------
    frame : pd.DataFrame
        Prices indexed by date (strings or timestamps), one column per asset; empty
        strings and NaN mean "no price".
    source : str
        Name used in error messages (a file path, "DataFrame", ...).

    Returns
    -------
    pd.DataFrame
        Float64 prices indexed by a DatetimeIndex named ``date``.

    Raises
    ------
    DataError
        Naming the source, the column and the date, if a date does not parse, dates
        are unsorted or duplicated, a cell is not a number, a price is zero, negative
        or infinite, or a column has no price at all.
    """
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(
            f"{source}: no prices: {frame.shape[0]} dates, {frame.shape[1]} columns"
        )
    dates = _parse_dates(frame.index, source)
    if dates.has_duplicates:
        raise DataError(
            f"{source}: duplicate date {dates[dates.duplicated()][0].date()}"
        )
    unsorted = np.flatnonzero(np.diff(dates.asi8) < 0)
    if unsorted.size:
        i = unsorted[0]
        raise DataError(
            f"{source}: dates not sorted: {dates[i + 1].date()} comes after "
            f"{dates[i].date()}"
        )
    columns = [str(c) for c in frame.columns]
    twice = pd.Index(columns)[pd.Index(columns).duplicated()]
    if len(twice):
        raise DataError(f"{source}: column name {shown(twice[0])} given twice")
    values = {
        c: _parse_column(frame.iloc[:, j], c, dates, source)
        for j, c in enumerate(columns)
    }
    prices = pd.DataFrame(values, index=dates)
    prices.index.name = "date"
    return prices


DATE_TEXT = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
"""A date in a price file: YYYY-MM-DD, optionally a time and a UTC offset."""


def _parse_dates(index: pd.Index, source: str) -> pd.DatetimeIndex:
    """Dates of a price file, each the calendar date written (times dropped).

    A time and a UTC offset may follow the date if every row has the same offset;
    the date is then the one written, at that offset. Mixed offsets are refused:
    the same instant falls on different dates at different offsets, and a close
    is dated by its exchange's own date.
    """
    if isinstance(index, pd.DatetimeIndex):
        dates = index
    else:
        text = pd.Series(index.astype(str), dtype=object).str.strip()
        parts = text.str.extract(f"^(?:{DATE_TEXT.pattern})$", flags=re.ASCII)
        bad = np.flatnonzero(parts[0].isna().to_numpy())
        if bad.size:
            raise DataError(
                f"{source}: row {bad[0] + 1}: date {shown(text.iloc[bad[0]])} is "
                "not an ISO date (expected YYYY-MM-DD)"
            )
        offsets = parts["offset"].fillna("").str.replace(":", "")
        offsets = offsets.replace({"Z": "+0000"})
        mixed = np.flatnonzero((offsets != offsets.iloc[0]).to_numpy())
        if mixed.size:
            i = mixed[0]
            raise DataError(
                f"{source}: row {i + 1}: date {shown(text.iloc[i])} has UTC offset "
                f"'{offsets.iloc[i] or 'none'}' but row 1 has "
                f"'{offsets.iloc[0] or 'none'}': give every date as YYYY-MM-DD, the "
                "exchange's date of the close"
            )
        dates = pd.DatetimeIndex(
            pd.to_datetime(text.to_numpy(), errors="coerce", format="ISO8601")
        )
    bad = np.flatnonzero(dates.isna())
    if bad.size:
        raise DataError(
            f"{source}: row {bad[0] + 1}: date {shown(str(index[bad[0]]))} is not "
            "a calendar date"
        )
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    return dates.normalize()


def _parse_column(
    column: pd.Series, name: str, dates: pd.DatetimeIndex, source: str
) -> np.ndarray:
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        text = column.astype(str).str.strip()
        missing = text.isin(["", "nan", "NaN", "NA", "None", "<NA>"]).to_numpy()
        numbers = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(float)
        bad = np.flatnonzero(np.isnan(numbers) & ~missing)
        if bad.size:
            i = bad[0]
            raise DataError(
                f"{source}: column {name} @ {dates[i].date()}: "
                f"{shown(text.iloc[i])} is not a number"
            )
    elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    ):  # booleans count as numbers to pandas: True would be a price of 1
        numbers = column.to_numpy(dtype=float, na_value=np.nan)
    else:
        raise DataError(f"{source}: column {name} has non-numeric type {column.dtype}")
    observed = ~np.isnan(numbers)
    if not observed.any():
        raise DataError(f"{source}: column {name} has no prices at all")
    bad = np.flatnonzero(observed & ~(np.isfinite(numbers) & (numbers > 0)))
    if bad.size:
        i = bad[0]
        raise DataError(
            f"{source}: column {name} @ {dates[i].date()}: price {numbers[i]:g} "
            "must be positive and finite"
        )
    return numbers


def daily_columns(prices: pd.DataFrame) -> list[str]:
    """Columns that trade every calendar day (crypto), by their weekend share."""
    weekend = prices.index.day_of_week >= 5
    share = prices.notna()[weekend].sum() / prices.notna().sum()
    return [c for c in prices.columns if share[c] >= DAILY_CALENDAR_WEEKEND_SHARE]


def trading_calendar(prices: pd.DataFrame) -> pd.DatetimeIndex:
    """Dates on which any exchange-calendar column has a price (see module notes)."""
    exchange = [c for c in prices.columns if c not in set(daily_columns(prices))]
    observed = prices[exchange or list(prices.columns)].notna().any(axis=1)
    return prices.index[observed.to_numpy()]


def aligned_returns(prices: pd.DataFrame) -> ReturnPanel:
    """Simple returns on the trading calendar, by the module's alignment rule.

    Parameters
    ----------
    prices : pd.DataFrame
        Validated prices (see `validate_prices`), shape (n_dates, n_assets).

    Returns
    -------
    pd.DataFrame
        Returns indexed by `trading_calendar`, shape (n_days, n_assets): NaN on an
        asset's first price and wherever it has no price on a calendar day.
    """
    calendar = trading_calendar(prices)
    last_price = prices.ffill().reindex(calendar)
    printed = prices.reindex(calendar).notna()
    previous = last_price.shift(1)
    returns = (last_price / previous - 1.0).where(printed & previous.notna())
    returns.index.name = "date"
    return returns


def fingerprint(prices: pd.DataFrame) -> str:
    """SHA-256 of a price frame's dates, column names and values."""
    digest = hashlib.sha256()
    digest.update(prices.index.asi8.tobytes())
    digest.update("\x1f".join(map(str, prices.columns)).encode())
    digest.update(np.ascontiguousarray(prices.to_numpy(float)).tobytes())
    return digest.hexdigest()


def make_market(
    prices: pd.DataFrame,
    *,
    source: str,
    sleeves: Mapping[str, str] | SleeveTable | None = None,
    simulated: bool = False,
) -> Market:
    """Validate a price frame and build its `Market` (returns, sleeves, fingerprint).

    `sleeves` is a `SleeveTable` or a mapping asset -> sleeve; columns it does not
    name come from the built-in table (see `riskengine.data.sleeves`).
    """
    prices = validate_prices(prices, source=source)
    table = as_sleeve_table(sleeves, source=source)
    assets = resolve_assets(list(prices.columns), table, source=source)
    return Market(
        prices=prices,
        returns=aligned_returns(prices),
        sleeves={a: info.sleeve for a, info in assets.items()},
        investable={a: info.investable for a, info in assets.items()},
        source=source,
        fingerprint=fingerprint(prices),
        simulated=simulated,
        daily_columns=tuple(daily_columns(prices)),
        custom_sleeves=table.custom_sleeves,
    )


SleeveInput = str | Path | Mapping[str, str] | SleeveTable | None
"""A sleeve table as given: a sleeve-file path, a mapping, a table, or None."""


def sleeve_table(
    sleeves: SleeveInput, prices: pd.DataFrame, source: str
) -> Mapping[str, str] | SleeveTable | None:
    """A sleeve table given as a sleeve-file path (see `read_sleeve_file`) or data.

    A sleeve file comes with its prices (`prices`, from `source`) and must list
    only their columns.
    """
    if not isinstance(sleeves, str | Path):
        return sleeves
    table = read_sleeve_file(sleeves)
    check_sleeve_file_names_columns(table, map(str, prices.columns), source)
    return table


def load_market(path: str | Path, *, sleeves: SleeveInput = None) -> Market:
    """Read a price file and build its `Market`, with an optional sleeve table."""
    prices = read_price_file(path)
    table = sleeve_table(sleeves, prices, str(path))
    return make_market(prices, source=str(path), sleeves=table)
