"""Billed claims in: the billed lines of a CSV or an 837I/837P file, by encounter id, for `audit --billed`."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..claims import ClaimError
from ..models import BilledLine


@dataclass
class BilledClaims:
    """Billed lines by encounter id, in file order, and the claims that could not be read."""

    lines: dict[str, list[BilledLine]] = field(default_factory=dict)
    problems: list[tuple[str | None, str]] = field(default_factory=list)  # (encounter id, message)


_SPLIT = re.compile(r"[\s,|;]+")


def read_billed_csv(data: bytes, name: str) -> BilledClaims:
    """A CSV of billed lines: encounter_id, code, units, modifiers (space, comma or pipe separated), date."""
    out = BilledClaims()
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    missing = {"encounter_id", "code"} - columns
    if missing:
        raise ClaimError(f"{name}: missing column(s) {', '.join(sorted(missing))}")
    for number, raw in enumerate(reader, 2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        encounter_id = row.get("encounter_id") or None
        try:
            if encounter_id is None:
                raise ValueError("encounter_id is empty")
            line = BilledLine.model_validate(
                {
                    "code": row.get("code", "").upper(),
                    "units": int(row["units"]) if row.get("units") else 1,
                    "modifiers": [m.upper() for m in _SPLIT.split(row.get("modifiers", "")) if m],
                    "date": row.get("date") or None,
                    "revenue_code": row.get("revenue_code") or None,
                    "ndc": row.get("ndc") or None,
                }
            )
        except (ValueError, ValidationError) as exc:
            detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            out.problems.append((encounter_id, f"{name} row {number}: {detail}"))
            continue
        out.lines.setdefault(encounter_id, []).append(line)
    return out


def read_billed(path: Path) -> BilledClaims:
    """Billed lines from an 837I/837P file (ISA envelope) or a CSV of billed lines."""
    data = path.read_bytes()
    if data.lstrip()[:3] == b"ISA":
        from .x12 import read_837  # pyx12 is imported only for an 837

        return read_837(data, path.name)
    return read_billed_csv(data, path.name)
