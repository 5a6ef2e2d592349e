"""Billed claims in: the billed lines of a CSV or an 837I/837P file, by encounter id, for `audit --billed`.

Whatever a file holds, a claim or row that cannot be read becomes a problem naming the file and the
row, claim or segment, in the project's words, and the rest of the file is read; only a file that cannot
be read at all (unreadable, not CSV with the two required columns, no X12 envelope pyx12 can follow) is a
ClaimError, which the command reports with exit 2.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from pydantic import ValidationError

from ..claims import BilledClaims, ClaimError, validation_message
from ..models import MAX_ID, BilledLine
from . import Source, SourceError, excerpt

_SPLIT = re.compile(r"[\s,|;]+")


def read_billed_csv(data: bytes, name: str) -> BilledClaims:
    """A CSV of billed lines: encounter_id, code, units, modifiers (space, comma or pipe separated), date."""
    out = BilledClaims()
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [c.strip().lower() for c in next(reader, [])]
    except csv.Error:
        header = []
    missing = {"encounter_id", "code"} - set(header)
    if missing:
        raise ClaimError(f"{name}: missing column(s) {', '.join(sorted(missing))}")
    number = 1
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            out.problems.append(
                (None, f"{name} row {number}: not readable CSV (a stray quote or a huge cell)")
            )
            continue
        if not cells:
            continue
        row = {key: value.strip() for key, value in zip(header, cells, strict=False)}
        encounter_id = row.get("encounter_id") or None
        if encounter_id is not None and len(encounter_id) > MAX_ID:
            out.problems.append(
                (None, f"{name} row {number}: encounter_id is longer than {MAX_ID} characters")
            )
            continue
        if len(cells) > len(header):
            out.problems.append((encounter_id, f"{name} row {number}: more fields than the header"))
            continue
        try:
            if encounter_id is None:
                raise ValueError("encounter_id is empty")
            units = row.get("units") or "1"
            if not units.isdigit():
                raise ValueError(f"units {excerpt(units, 20)} is not a whole number")
            line = BilledLine.model_validate(
                {
                    "code": row.get("code", "").upper(),
                    "units": int(units[:9]) if len(units) <= 9 else 10**9,
                    "modifiers": [m.upper() for m in _SPLIT.split(row.get("modifiers", "")) if m][:21],
                    "date": row.get("date") or None,
                    "revenue_code": row.get("revenue_code") or None,
                    "ndc": row.get("ndc") or None,
                }
            )
        except ValidationError as exc:
            out.problems.append((encounter_id, f"{name} row {number}: {validation_message(exc)}"))
            continue
        except ValueError as exc:
            out.problems.append((encounter_id, f"{name} row {number}: {exc}"))
            continue
        out.lines.setdefault(encounter_id, []).append(line)
    return out


def read_billed(path: Path) -> BilledClaims:
    """Billed lines from an 837I/837P file (ISA envelope) or a CSV of billed lines, gzipped or not."""
    try:
        data = Source(path.name, path=path).read_bytes()
    except SourceError as exc:
        raise ClaimError(str(exc)) from None
    if data.lstrip()[:3] == b"ISA":
        from .x12 import read_837  # pyx12 is imported only for an 837

        return read_837(data, path.name)
    return read_billed_csv(data, path.name)
