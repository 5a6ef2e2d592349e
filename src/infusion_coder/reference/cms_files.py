"""Read the official CMS quarterly NCCI files into the normalised edit tables.

PTP files (practitioner and outpatient hospital) come as spreadsheets or tab-delimited text: a notice,
then a header whose first cell is "Column 1", then rows of Column 1, Column 2, "*" (in existence before
1996), Effective Date (YYYYMMDD), Deletion Date (YYYYMMDD or "*" for none), Modifier (0, 1 or 9) and the
PTP edit rationale. MUE files have a header whose first cell is "HCPCS/CPT Code", then the code, the MUE
value, the adjudication indicator ("3 Date of Service Edit: Clinical") and the rationale; their effective
date is in the file name (..._Eff_04-01-2026). Rows before the header, and rows that are not a code, are
skipped. Codes outside the drug-administration family may be kept or filtered by the caller.
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


def _after_header(path: Path, first_cell: str) -> Iterator[list[str]]:
    seen = False
    for row in _rows(path):
        if not row:
            continue
        if not seen:
            seen = row[0].lower().startswith(first_cell.lower())
            continue
        if _CODE.match(row[0].upper()):
            yield row
    if not seen:
        raise CmsFileError(
            f"{path.name}: no header row starting with {first_cell!r}; is this the right file?"
        )


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
    """PTP rows of an official CMS file; with `codes`, only pairs with a column 1 or 2 among them."""
    edits = []
    for row in _after_header(path, "Column 1"):
        cells = (row + [""] * 7)[:7]
        column_1, column_2 = cells[0].upper(), cells[1].upper()
        if codes is not None and column_1 not in codes and column_2 not in codes:
            continue
        indicator = cells[5].strip()[:1]
        if indicator not in ("0", "1", "9"):
            raise CmsFileError(f"{path.name}: modifier indicator {cells[5]!r} for {column_1}/{column_2}")
        edits.append(
            PtpEdit(
                column_1,
                column_2,
                _yyyymmdd(cells[3], path),
                _yyyymmdd(cells[4], path),
                int(indicator),
                cells[6],
                f"CMS PTP file {path.name}",
            )
        )
    return edits


def read_mue(path: Path, *, effective: date | None = None, codes: set[str] | None = None) -> list[MueEdit]:
    """MUE rows of an official CMS file; the effective date comes from the argument or the file name."""
    if effective is None:
        found = _EFFECTIVE_IN_NAME.search(path.name)
        if not found:
            raise CmsFileError(f"{path.name}: give the effective date (the file name has no _Eff_MM-DD-YYYY)")
        effective = date(int(found.group(3)), int(found.group(1)), int(found.group(2)))
    edits = []
    for row in _after_header(path, "HCPCS"):
        cells = (row + [""] * 4)[:4]
        code = cells[0].upper()
        if codes is not None and code not in codes:
            continue
        mai = cells[2].strip()[:1]
        if not cells[1].strip().isdigit() or mai not in ("1", "2", "3"):
            raise CmsFileError(
                f"{path.name}: row for {code} has value {cells[1]!r} and indicator {cells[2]!r}"
            )
        edits.append(
            MueEdit(code, int(cells[1]), int(mai), cells[3], effective, None, f"CMS MUE file {path.name}")
        )
    return edits
