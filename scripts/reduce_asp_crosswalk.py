"""Reduce the CMS ASP NDC-HCPCS crosswalk to the columns the engine needs (run from the repository root).

python scripts/reduce_asp_crosswalk.py ../shared/data/cms/asp_ndc_hcpcs_crosswalk_2026q1_jan.csv \
    src/infusion_coder/reference/data/2026-01-01/asp_crosswalk.csv

Keeps every row whose NDC is in 5-4-2 form, and per row only: HCPCS code, NDC as 11 digits (5-4-2, no hyphens), the HCPCS billing
unit ("HCPCS dosage") and the billing units in one package (BILLUNITSPKG). Descriptions are left out (CPT
short descriptors are AMA property; the engine does not need any).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def main(source: Path, target: Path) -> None:
    with source.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        rows = list(csv.reader(handle))
    header_at = next(i for i, row in enumerate(rows) if row and row[0].strip().endswith("_CODE"))
    header = [h.strip() for h in rows[header_at]]
    col = {name: header.index(name) for name in ("NDC2", "HCPCS dosage", "BILLUNITSPKG")}
    out: list[tuple[str, str, str, str]] = []
    skipped: list[str] = []
    for row in rows[header_at + 1 :]:
        if not row or not row[0].strip():
            continue
        parts = row[col["NDC2"]].strip().split("-")
        if len(parts) != 3 or [len(p) for p in parts] != [5, 4, 2]:
            skipped.append(row[col["NDC2"]].strip())  # a device identifier, not an NDC
            continue
        units = row[col["BILLUNITSPKG"]].strip()
        out.append(("".join(parts), row[0].strip(), row[col["HCPCS dosage"]].strip(), units))
    out.sort()
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["ndc11", "hcpcs", "billing_unit", "units_per_package"])
        writer.writerows(out)
    print(f"{len(out)} rows -> {target} ({target.stat().st_size} bytes); skipped (not 5-4-2 NDCs): {skipped}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
