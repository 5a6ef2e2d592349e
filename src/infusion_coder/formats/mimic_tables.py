"""Reading the tables of a MIMIC-IV folder, guarded: whatever a file holds, it becomes rows, a named
damaged row, or one reason the table could not be read, never an exception.

- A file is read through `Source.read_bytes` (gunzipped as a stream with the 256 MiB ceiling every source
  file has; a damaged or truncated gzip is a `SourceError` naming the file) and parsed as CSV row by row.
- A table that is absent, unreadable, or lacks a column it cannot do without is `Table.problem` (one
  sentence naming the file and the column, with the closest header when a column was renamed); the
  importer decides what that costs (emar: nothing can be imported; another table: a finding on every
  encounter it touches).
- A row that is damaged (more or fewer cells than the header, a cell longer than `MAX_CELL`, bytes that
  are not UTF-8, an id that is not an id, a CSV quoting error, a row over several lines) is not used: it is a `Damage` naming the file, the line and the
  reason, with whatever ids could be read from it, so the importer can hold the encounter it belongs to.
- At most `MAX_ROWS` rows per table are read (the MIMIC-IV demo's largest table has 72,018): beyond it the
  table is refused, so memory stays bounded whatever a folder holds.

Only the columns the importer uses are kept, as plain strings ("" for an empty cell), with the row's
line in the file under "_line".
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import Source, SourceError, excerpt

MAX_CELL = 65_536  # characters in one cell; MIMIC-IV's longest cell is a few hundred
MAX_ROWS = 250_000  # rows per table (the demo's largest has 72,018): a larger extract is split by patient
_PLACING = ("subject_id", "hadm_id", "emar_id", "pharmacy_id")  # ids that place a damaged row
_ID = re.compile(r"[\w.\-]{0,40}")  # MIMIC's ids are digits and hyphens; anything else is damage


@dataclass(frozen=True)
class Damage:
    """A row that could not be used: where it is, why, and the ids that could be read from it."""

    file: str  # e.g. "hosp/emar.csv.gz"
    line: int  # line of the file where the row starts (the header is line 1)
    reason: str  # in our words, never the row's content
    ids: dict[str, str] = field(default_factory=dict)  # subject_id, hadm_id, emar_id, pharmacy_id
    last: int = 0  # the line it ends on, when a quoted cell made it span several

    def describe(self) -> str:
        where = f"lines {self.line}-{self.last}" if self.last > self.line else f"line {self.line}"
        return f"{self.file} {where}: {self.reason}"


@dataclass
class Table:
    name: str  # emar, emar_detail, ...
    file: str  # shown in messages: "hosp/emar.csv.gz" (or the name looked for)
    rows: list[dict[str, str]] = field(default_factory=list)
    problem: str | None = None  # why the table could not be read at all
    missing: list[str] = field(default_factory=list)  # optional columns the file lacks (treated as empty)
    damage: list[Damage] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.problem is None


def read_table(
    folder: Path, name: str, required: Sequence[str], optional: Sequence[str] = (), ids: Sequence[str] = ()
) -> Table:
    """Table `name` of `folder` (name.csv.gz or name.csv), keeping the `required` and `optional` columns;
    a row whose `ids` columns (those that become encounter ids) are not ids is damaged."""
    prefix = f"{folder.name}/" if folder.name else ""
    for path in (folder / f"{name}.csv.gz", folder / f"{name}.csv"):
        if path.is_file():
            return _parse(Table(name, prefix + path.name), path, required, optional, ids)
    return Table(
        name, f"{prefix}{name}.csv(.gz)", problem=f"{prefix}{name}.csv.gz (or .csv) is not in the folder"
    )


def _parse(
    table: Table, path: Path, required: Sequence[str], optional: Sequence[str], ids: Sequence[str]
) -> Table:
    try:
        raw = Source(table.file, path=path).read_bytes()
    except SourceError as exc:
        table.problem = str(exc)
        return table
    except OSError as exc:
        table.problem = f"{table.file} cannot be read ({type(exc).__name__})"
        return table
    text = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        table.problem = f"{table.file} is empty (no header line)"
        return table
    except csv.Error:
        table.problem = f"{table.file}: the header line is not readable CSV"
        return table
    names = [cell.strip().lower() for cell in header]
    absent = [column for column in required if column not in names]
    if absent:
        table.problem = f"{table.file} has no column {absent[0]!r}{_closest(absent[0], names)}"
        return table
    table.missing = [column for column in optional if column not in names]
    wanted = [c for c in (*required, *optional) if c in names]
    index = {column: names.index(column) for column in wanted}
    width = len(names)
    id_cells = [(column, i) for column, i in index.items() if column in ids]
    rows = table.rows
    while True:
        first = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            reason = (
                f"a cell too long to read (more than {csv.field_size_limit():,} characters, or a quote that "
                "does not close)"
                if "field larger" in str(exc)
                else "not readable CSV (a quote that does not close, or a character CSV cannot hold)"
            )
            table.damage.append(Damage(table.file, first, reason, last=reader.line_num))
            continue
        joined = "\x1f".join(cells)
        if not joined.strip("\x1f \t"):
            continue  # a blank line, or one of empty cells: no record
        damaged = _damaged(cells, joined, width) or _bad_id(cells, id_cells)
        if damaged is None and reader.line_num > first:
            damaged = "a row over several lines (a quote that does not close)"  # MIMIC cells hold no newline
        if damaged is not None:
            placing = {
                k: cells[index[k]]
                for k in _PLACING
                if k in index and index[k] < len(cells) and _ID.fullmatch(cells[index[k]])
            }
            table.damage.append(Damage(table.file, first, damaged, placing, reader.line_num))
            continue
        if len(rows) >= MAX_ROWS:
            table.problem = (
                f"{table.file} has more than {MAX_ROWS:,} rows, the most one import reads; "
                "split the folder by patient"
            )
            table.rows = []
            return table
        row = {column: cells[i] for column, i in index.items()}
        row["_line"] = str(first)
        rows.append(row)
    for column in table.missing:
        for row in rows:
            row[column] = ""
    return table


def _damaged(cells: list[str], joined: str, width: int) -> str | None:
    if len(cells) != width:
        return f"{len(cells)} cells where the header has {width}"
    if len(joined) > MAX_CELL:  # only then can one cell be too long
        longest = max(len(cell) for cell in cells)
        if longest > MAX_CELL:
            return f"a cell of {longest:,} characters (more than the {MAX_CELL:,} a cell may hold)"
    if "\ufffd" in joined:
        return "bytes that are not UTF-8 text"
    return None


def _bad_id(cells: list[str], id_cells: list[tuple[str, int]]) -> str | None:
    for column, i in id_cells:
        cell = cells[i]
        if not (cell.isdigit() and len(cell) <= 40) and not _ID.fullmatch(cell):
            return f"{column} is not an id (letters, digits and hyphens, at most 40)"
    return None


def _closest(column: str, names: list[str]) -> str:
    near = difflib.get_close_matches(column, names, n=1, cutoff=0.6)
    return f" (closest header: {excerpt(near[0])})" if near else ""
