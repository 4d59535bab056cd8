"""A comparison on paper: the terminal layout, and CSV, HTML and manifest files."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from riskengine.compare.runs import episode_columns
from riskengine.data.prices import SIMULATED_NOTE, Market
from riskengine.output import dumps, new_results_folder, write_csv
from riskengine.results.html_page import page_head
from riskengine.results.provenance import versions
from riskengine.scenarios.episodes import Episode
from riskengine.specs import PolicySpec

COMPARISON_FILES = frozenset({"comparison.csv", "comparison.html", "manifest.json"})
"""The files of a comparison's folder (``compare --out``)."""


def cell(value: Any, fmt: str) -> str:
    """A table cell: `fmt` applied, ``-`` for a missing or NaN value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def write_comparison(
    table: pd.DataFrame,
    out: str | Path,
    *,
    formats: Mapping[str, tuple[str, str]],
    title: str,
    market: Market,
    policies: Sequence[PolicySpec],
    notes: Sequence[str] = (),
) -> Path:
    """Write a `compare` table: ``comparison.csv``, ``comparison.html``, a manifest.

    The CSV has a row per policy and a column per figure (the keys of `formats`),
    numbers unformatted; the HTML page shows the policies side by side, labelled
    and formatted. The folder is written as a backtest's is: a new version swapped
    into place in one rename (see `riskengine.output`).

    Parameters
    ----------
    table : pd.DataFrame
        A `compare` table: one column per policy, rows including `formats`' keys.
    out : str or Path
        The folder; missing, empty or riskengine's own results.
    formats : Mapping
        Label and format of each row shown, in order (`row_formats`).
    title : str
        The page's heading.
    market : Market
        The data the policies ran on (its source and fingerprint are recorded).
    policies : sequence of PolicySpec
        The policies compared, recorded as resolved in the manifest.
    notes : sequence of str
        Lines shown under the title.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    OutputError
        If `out` is not riskengine's to replace, or cannot be written.
    """
    shown = table.loc[list(formats)]
    csv = shown.T.rename_axis("policy").reset_index()
    body = _side_by_side_html(shown, formats)
    return _write(
        out, csv, body, title=title, market=market, policies=policies, notes=notes
    )


def write_episode_table(
    table: pd.DataFrame,
    out: str | Path,
    *,
    episodes: Sequence[Episode],
    title: str,
    market: Market,
    policies: Sequence[PolicySpec],
    notes: Sequence[str] = (),
) -> Path:
    """Write a `compare_episodes` table as CSV (its rows as they are), HTML, manifest.

    The page has a section per episode, headed by its name, dates and description
    (from `episodes`, those the table was made from); other parameters as in
    `write_comparison`.
    """
    body = _episodes_html(table, {e.name: e.description for e in episodes})
    return _write(
        out, table, body, title=title, market=market, policies=policies, notes=notes
    )


def _write(
    out: str | Path,
    csv: pd.DataFrame,
    body: str,
    *,
    title: str,
    market: Market,
    policies: Sequence[PolicySpec],
    notes: Sequence[str],
) -> Path:
    manifest = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "title": title,
        "data": {
            "source": market.source,
            "sha256": market.fingerprint,
            "simulated": market.simulated,
        },
        "policies": [p.to_dict() for p in policies],
        "notes": list(notes),
        "versions": versions(),
    }
    with new_results_folder(out, COMPARISON_FILES) as staging:
        write_csv(csv, staging / "comparison.csv")
        (staging / "comparison.html").write_text(
            _page(title, market, notes, body), encoding="utf-8"
        )
        (staging / "manifest.json").write_text(dumps(manifest))
    return Path(out)


def _page(title: str, market: Market, notes: Sequence[str], body: str) -> str:
    banner = (
        f'<p class="banner">{escape(SIMULATED_NOTE)}</p>' if market.simulated else ""
    )
    lines = "".join(f'<p class="muted">{escape(n)}</p>' for n in notes)
    return (
        page_head(title, width="80em") + f"<h1>{escape(title)}</h1>{banner}"
        f'<p class="muted">data: {escape(market.source)}</p>{lines}{body}'
        "</body></html>\n"
    )


def _side_by_side_html(
    table: pd.DataFrame, formats: Mapping[str, tuple[str, str]]
) -> str:
    head = "".join(f"<th>{escape(str(name))}</th>" for name in table.columns)
    rows = []
    for key, (label, fmt) in formats.items():
        cells = "".join(
            f'<td class="number">{escape(cell(v, fmt))}</td>' for v in table.loc[key]
        )
        rows.append(f"<tr><th>{escape(label.strip())}</th>{cells}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _episodes_html(table: pd.DataFrame, descriptions: Mapping[str, str]) -> str:
    figures = episode_columns(table)
    head = "".join(f"<th>{escape(label)}</th>" for label, _ in figures.values())
    parts = []
    for (name, start, end), rows in table.groupby(
        ["episode", "start", "end"], sort=False
    ):
        body = "".join(
            f"<tr><th>{escape(str(row['policy']))}</th>"
            + "".join(
                f'<td class="number">{escape(cell(row[key], fmt))}</td>'
                for key, (_, fmt) in figures.items()
            )
            + f'<td class="muted">{escape(str(row["note"]))}</td></tr>'
            for _, row in rows.iterrows()
        )
        parts.append(
            f"<h2>{escape(str(name))}</h2>"
            f'<p class="muted">{escape(str(start))} to {escape(str(end))}: '
            f"{escape(descriptions.get(str(name), ''))}</p>"
            f"<table><tr><th>policy</th>{head}<th></th></tr>{body}</table>"
        )
    return "".join(parts)


def text_columns(
    labels: Sequence[str],
    header: Sequence[str],
    cells: Sequence[Sequence[str]],
    width: int,
) -> str:
    """A table of labelled rows, split into blocks of columns that fit `width`.

    Parameters
    ----------
    labels : sequence of str
        One label per row, left-aligned.
    header : sequence of str
        One heading per column.
    cells : sequence of sequences of str
        ``cells[row][column]``, right-aligned.
    width : int
        Most characters per line; a column wider than what is left after the
        labels still gets a block of its own.
    """
    label_width = max(len(label) for label in labels)
    column_widths = [
        max(len(header[j]), *(len(row[j]) for row in cells), 8)
        for j in range(len(header))
    ]
    blocks: list[list[int]] = [[]]
    used = label_width
    for j, column_width in enumerate(column_widths):
        if blocks[-1] and used + 2 + column_width > width:
            blocks.append([])
            used = label_width
        blocks[-1].append(j)
        used += 2 + column_width
    lines: list[str] = []
    for block in blocks:
        if lines:
            lines.append("")
        lines.append(
            " " * label_width
            + "".join(f"  {header[j]:>{column_widths[j]}}" for j in block)
        )
        for label, row in zip(labels, cells, strict=True):
            lines.append(
                f"{label:<{label_width}}"
                + "".join(f"  {row[j]:>{column_widths[j]}}" for j in block)
            )
    return "\n".join(lines)
