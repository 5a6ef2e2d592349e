"""Read the official CMS quarterly NCCI files into the normalised edit tables.

PTP files (practitioner and outpatient hospital) come as spreadsheets or tab-delimited text: a notice,
then a header whose first cell is "Column 1", then rows of Column 1, Column 2, "*" (in existence before
1996), Effective Date (YYYYMMDD), Deletion Date (YYYYMMDD or "*" for none), Modifier (0, 1 or 9) and the
PTP edit rationale. MUE files have a header whose first cell is "HCPCS/CPT Code", then the code, the MUE
value, the adjudication indicator ("3 Date of Service Edit: Clinical") and the rationale; their effective
date is in the file name (..._Eff_04-01-2026). Rows before the header, and rows that are not a code, are
skipped. Codes outside the drug-administration family may be kept or filtered by the caller.

Public copies of those files in this project's own layout (a header column_1, column_2, effective, deletion,
modifier_indicator, rationale, source for PTP; code, mue, mai, rationale, source for MUE) are read the same
way: columns are found by their header, and a `source` column, naming the copy each row was read from, is
kept on the row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from .edits import MueEdit, PtpEdit

_CODE = re.compile(r"^[0-9A-Z]{4}[0-9A-Z]$")
_EFFECTIVE_IN_NAME = re.compile(r"Eff_(\d{2})-(\d{2})-(\d{4})", re.IGNORECASE)


class CmsFileError(ValueError):
    pass


def _rows(path: Path) -> Iterator[list[str]]:
    if path.suffix.lower() == ".xlsx":
        try:
            from openpyxl import load_workbook
        except ImportError as exc:  # an optional extra: pip install 'infusion-coder[xlsx]'
            raise CmsFileError(
                f"{path.name}: reading .xlsx needs openpyxl (pip install 'infusion-coder[xlsx]')"
            ) from exc
        book = load_workbook(path, read_only=True, data_only=True)
        for sheet in book.worksheets:
            for row in sheet.iter_rows(values_only=True):
                yield ["" if cell is None else str(cell).strip() for cell in row]
        return
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    delimiter = "\t" if text.count("\t") > text.count(",") else ","
    for row in csv.reader(io.StringIO(text), delimiter=delimiter):
        yield [cell.strip() for cell in row]


def _folded(cell: str) -> str:
    """A header cell compared loosely: "Column 1", "Column1" and "column_1" are one name."""
    return re.sub(r"[\s_]+", "", cell.lower())


def _after_header(path: Path, first_cells: tuple[str, ...]) -> Iterator[tuple[list[str], list[str]]]:
    """(header, row) for every code row after the header row, whose first cell starts with one of
    `first_cells` (compared folded)."""
    header: list[str] | None = None
    for row in _rows(path):
        if not row:
            continue
        if header is None:
            if any(_folded(row[0]).startswith(_folded(first)) for first in first_cells):
                header = row
            continue
        if _CODE.match(row[0].upper()):
            yield header, row
    if header is None:
        raise CmsFileError(
            f"{path.name}: no header row starting with {first_cells[0]!r}; is this the right file?"
        )


def _column(header: list[str], names: tuple[str, ...], default: int | None) -> int | None:
    """The index of the first header cell that starts with one of `names` (folded), else `default`."""
    for index, cell in enumerate(header):
        if any(_folded(cell).startswith(_folded(name)) for name in names):
            return index
    return default


def _cell(row: list[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""


def _yyyymmdd(text: str, path: Path) -> date | None:
    """CMS dates: 20260401, 04/01/2026, or 2026-04-01 (as a spreadsheet cell may read); '*' is none."""
    text = text.strip()
    if text in ("", "*"):
        return None
    try:
        if re.fullmatch(r"\d{8}", text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
            month, day, year = (int(part) for part in text.split("/"))
            return date(year, month, day)
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise CmsFileError(f"{path.name}: {text!r} is not a date") from exc


def read_ptp(path: Path, *, codes: set[str] | None = None) -> list[PtpEdit]:
    """PTP rows of an official CMS file (or a public copy in this project's layout); with `codes`, only pairs
    with a column 1 or 2 among them."""
    edits = []
    columns: dict[str, int | None] | None = None
    for header, row in _after_header(path, ("Column 1",)):
        if columns is None:
            # The CMS layout by position (a "*" column sits before the dates); the copies' by name.
            columns = {
                "c2": _column(header, ("Column 2",), 1),
                "effective": _column(header, ("Effective",), 3),
                "deletion": _column(header, ("Deletion",), 4),
                "modifier": _column(header, ("Modifier",), 5),
                "rationale": _column(header, ("PTP Edit Rationale", "Rationale"), 6),
                "source": _column(header, ("source",), None),
            }
        column_1, column_2 = row[0].upper(), _cell(row, columns["c2"]).upper()
        if codes is not None and column_1 not in codes and column_2 not in codes:
            continue
        raw = _cell(row, columns["modifier"])
        indicator = raw.strip()[:1]
        if indicator not in ("0", "1", "9"):
            raise CmsFileError(f"{path.name}: modifier indicator {raw!r} for {column_1}/{column_2}")
        edits.append(
            PtpEdit(
                column_1,
                column_2,
                _yyyymmdd(_cell(row, columns["effective"]), path),
                _yyyymmdd(_cell(row, columns["deletion"]), path),
                int(indicator),
                _cell(row, columns["rationale"]),
                _cell(row, columns["source"]) or f"CMS PTP file {path.name}",
            )
        )
    return edits


def read_mue(path: Path, *, effective: date | None = None, codes: set[str] | None = None) -> list[MueEdit]:
    """MUE rows of an official CMS file (or a public copy in this project's layout); the effective date comes
    from the argument or the file name."""
    if effective is None:
        found = _EFFECTIVE_IN_NAME.search(path.name)
        if not found:
            raise CmsFileError(f"{path.name}: give the effective date (the file name has no _Eff_MM-DD-YYYY)")
        effective = date(int(found.group(3)), int(found.group(1)), int(found.group(2)))
    edits = []
    columns: dict[str, int | None] | None = None
    for header, row in _after_header(path, ("HCPCS", "code")):
        if columns is None:
            columns = {
                "value": _column(header, ("mue",), 1),
                "mai": _column(header, ("MUE Adjudication", "mai"), 2),
                "rationale": _column(header, ("MUE Rationale", "rationale"), 3),
                "source": _column(header, ("source",), None),
            }
            if columns["value"] == columns["mai"] or columns["value"] == columns["rationale"]:
                columns["value"] = 1  # "MUE Adjudication ..." also starts with "mue": the value is second
        code = row[0].upper()
        if codes is not None and code not in codes:
            continue
        value, mai = _cell(row, columns["value"]).strip(), _cell(row, columns["mai"]).strip()[:1]
        if not value.isdigit() or mai not in ("1", "2", "3"):
            raise CmsFileError(
                f"{path.name}: row for {code} has value {value!r} and indicator {_cell(row, columns['mai'])!r}"
            )
        edits.append(
            MueEdit(
                code,
                int(value),
                int(mai),
                _cell(row, columns["rationale"]),
                effective,
                None,
                _cell(row, columns["source"]) or f"CMS MUE file {path.name}",
            )
        )
    return edits
