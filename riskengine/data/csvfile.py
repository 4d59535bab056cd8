"""Reading a user's CSV file (prices, sleeves) strictly, as text, line by line.

The header is checked as written, before any library renames it (pandas turns a
second ``SPY`` into ``SPY.1``); every failure names the file and, where there is
one, the line: a missing file, a binary or non-UTF-8 file, an empty file, a row
with more or fewer cells than the header, an unterminated quote, a column other
than the first without a name (``DataFrame.to_csv()`` leaves the index's unnamed)
or a column name given twice.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from riskengine.errors import DataError
from riskengine.messages import shown


def check_file(path: Path, what: str) -> None:
    """Raise a `DataError` unless `path` is a file (not missing, not a folder)."""
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a {what}")
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")


def read_csv_text(path: Path, what: str) -> pd.DataFrame:
    """A CSV file as a frame of stripped strings, columns named by its header.

    Blank lines are skipped; a UTF-8 byte-order mark is allowed.

    Parameters
    ----------
    path : Path
        The file.
    what : str
        What the file is, for messages (``"price file"``, ``"sleeve file"``).

    Returns
    -------
    pd.DataFrame
        One row per data line, indexed by its line in the file (``line``, from
        1), one ``str`` column per header cell (stripped).

    Raises
    ------
    DataError
        Naming the file and the line, for each failure of the module notes.
    """
    check_file(path, what)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path}: UTF-16 text: save the {what} as UTF-8")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise DataError(f"{path}: line {line}: a NUL byte: a binary file, not a CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text: "
            f"save the {what} as UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        first_row = next((r for r in reader if r), None)
        header = _header(first_row, reader.line_num, path, what)
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{path}: line {reader.line_num}: {len(row)} cells, but the "
                    f"header has {len(header)}{separator_hint([*header, *row])}"
                )
            rows.append([cell.strip() for cell in row])
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(
            f"{path}: line {reader.line_num}: not valid CSV ({exc})"
        ) from None
    index = pd.Index(lines, dtype="int64", name="line")
    return pd.DataFrame(rows, index=index, columns=header, dtype=object)


def separator_hint(cells: list[str]) -> str:
    """A hint when `cells` look separated by ';' or tabs instead of commas; ""."""
    for separator, name in ((";", "semicolons"), ("\t", "tabs")):
        if any(separator in cell for cell in cells):
            return f" (separated by {name}? the file must be comma-separated)"
    return ""


def _header(cells: list[str] | None, line: int, path: Path, what: str) -> list[str]:
    """The header's column names, checked: present, named, each named once."""
    if cells is None:
        raise DataError(f"{path}: empty {what}: expected a header line")
    names = [cell.strip() for cell in cells]
    first: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if not name and number > 1:  # the first may be unnamed, as to_csv() writes
            raise DataError(f"{path}: line {line}: column {number} has no name")
        if name in first:
            raise DataError(
                f"{path}: line {line}: column name {shown(name)} given twice (columns "
                f"{first[name]} and {number})"
            )
        first[name] = number
    return names
