"""Medicare amounts (OPPS Addendum B rows and ASP payment limits) and the revenue-code table of a pack.

Both are data files of the pack folder with their source: `money.json` names the CMS files and quarters the
amounts were read from, `revenue_codes.csv` carries a source on every row. Revenue-code numbers only: the
NUBC descriptions are AHA property and are not shipped.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

# OPPS status indicators paid separately per unit at the APC rate (Addendum D1): S, T and V procedures,
# G and K drugs and biologicals, J1/J2 comprehensive (shown here at their APC rate, without the C-APC rollup).
PAID_STATUSES = frozenset({"S", "T", "V", "G", "K", "J1", "J2", "R", "U", "X", "P", "H", "K1", "H1"})
PACKAGED_STATUSES = frozenset({"N"})
# Q1: packaged when a status S, T or V line is on the claim the same date; else paid (Addendum D1).
CONDITIONALLY_PACKAGED = frozenset({"Q1"})


@dataclass(frozen=True)
class OppsRow:
    hcpcs: str
    status: str
    apc: str | None
    rate: float | None


@dataclass(frozen=True)
class AspRow:
    hcpcs: str
    billing_unit: str
    limit: float


@dataclass(frozen=True)
class Money:
    """OPPS and ASP figures of one pack, with where they came from."""

    opps: dict[str, OppsRow]
    asp: dict[str, AspRow]
    opps_source: str
    asp_source: str
    opps_quarter: str
    asp_quarter: str
    statement: str

    @classmethod
    def empty(cls) -> Money:
        return cls({}, {}, "", "", "", "", "no money tables in this reference pack")


def read_money(folder: Path) -> Money:
    """The money tables of a pack folder; an older pack without them gets empty tables."""
    meta_path = folder / "money.json"
    if not meta_path.exists():
        return Money.empty()
    meta = json.loads(meta_path.read_text())
    opps: dict[str, OppsRow] = {}
    with (folder / meta["opps"]["file"]).open(newline="") as handle:
        for item in csv.DictReader(handle):
            rate = float(item["payment_rate"]) if item["payment_rate"] else None
            opps[item["hcpcs"]] = OppsRow(item["hcpcs"], item["status_indicator"], item["apc"] or None, rate)
    asp: dict[str, AspRow] = {}
    with (folder / meta["asp"]["file"]).open(newline="") as handle:
        for item in csv.DictReader(handle):
            asp[item["hcpcs"]] = AspRow(item["hcpcs"], item["billing_unit"], float(item["payment_limit"]))
    return Money(
        opps,
        asp,
        meta["opps"]["source"],
        meta["asp"]["source"],
        meta["opps"]["quarter"],
        meta["asp"]["quarter"],
        meta["about"],
    )


@dataclass(frozen=True)
class RevenueCodes:
    """Revenue code by (department, code or family); '*' is any department.

    Lookup order: the department's row for the code, for the family, then the '*' rows for the code and the
    family. A site overrides rows (same department and match) with its own CSV of the same columns."""

    rows: dict[tuple[str, str], str]
    sources: dict[tuple[str, str], str] = field(default_factory=dict)

    def resolve(self, department: str | None, code: str, family: str) -> str | None:
        dept = (department or "*").strip().lower()
        for key in ((dept, code), (dept, family), ("*", code), ("*", family)):
            if key in self.rows:
                return self.rows[key]
        return None

    def with_overrides(self, path: Path) -> RevenueCodes:
        extra = read_revenue_codes(path)
        return RevenueCodes({**self.rows, **extra.rows}, {**self.sources, **extra.sources})


def read_revenue_codes(path: Path) -> RevenueCodes:
    """A revenue-code CSV (department, match, revenue_code[, source]); raises ValueError naming the row."""
    rows: dict[tuple[str, str], str] = {}
    sources: dict[tuple[str, str], str] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"department", "match", "revenue_code"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
        for number, item in enumerate(reader, 2):
            code = (item["revenue_code"] or "").strip()
            if not (code.isdigit() and len(code) == 4):
                raise ValueError(f"{path.name} row {number}: revenue_code {code!r} is not four digits")
            key = ((item["department"] or "*").strip().lower(), (item["match"] or "").strip())
            rows[key] = code
            sources[key] = (item.get("source") or f"{path.name} row {number}").strip()
    return RevenueCodes(rows, sources)
