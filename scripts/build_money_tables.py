"""Rebuild the money tables of a reference pack from the CMS public-use files in ../shared/data/cms.

    python scripts/build_money_tables.py ../shared/data/cms src/infusion_coder/reference/data/2026-01-01

Writes opps_addendum_b.csv (status indicator, APC, payment rate) for the codes of codes.json and the drug
HCPCS of substances.csv, and asp_limits.csv (payment limit per billing unit) for every HCPCS row of the ASP
file (under 900 rows, kept whole so any billed Part B drug can be priced). CPT descriptors are not copied.

OPPS rows start from Addendum B of October 2025 and take the CY2026 (January 2026) figures where they are
published here: the status indicator and APC of the codes that changed or were missing
(opps_2026q1_jan_si_changes.csv: C8957 moved from APC 5694 to 5693), and the payment rate of the
drug-administration APCs (opps_2026q1_jan_apc_rates.csv: 5691-5694, 5733). A row whose APC has no CY2026
rate here (drug codes) keeps its October 2025 rate.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

OPPS_FILE = "opps_addendum_b_2025q4_oct_codes.csv"
OPPS_2026_RATES = "opps_2026q1_jan_apc_rates.csv"
OPPS_2026_CHANGES = "opps_2026q1_jan_si_changes.csv"
ASP_FILE = "asp_payment_limit_2026q1_jan.csv"


def _amount(text: str) -> str:
    text = text.strip().replace("$", "").replace(",", "")
    try:
        float(text)
    except ValueError:  # ".", "N/A" and blanks: CMS publishes no figure
        return ""
    return f"{float(text):.3f}".rstrip("0").rstrip(".")


def main(cms: Path, pack: Path) -> None:
    codes = set(json.loads((pack / "codes.json").read_text())["codes"])
    with (pack / "substances.csv").open(newline="") as handle:
        drugs = {row["hcpcs"] for row in csv.DictReader(handle) if row["hcpcs"]}
    wanted = codes | drugs
    with (cms / OPPS_FILE).open(newline="") as handle:
        rows = {row["hcpcs"]: row for row in csv.DictReader(handle) if row["hcpcs"] in wanted}
    with (cms / OPPS_2026_RATES).open(newline="") as handle:
        rates = {row["apc"]: _amount(row["payment_rate"]) for row in csv.DictReader(handle)}
    with (cms / OPPS_2026_CHANGES).open(newline="") as handle:
        for change in csv.DictReader(handle):
            if change["hcpcs"] in wanted:
                rows[change["hcpcs"]] = {
                    "hcpcs": change["hcpcs"],
                    "status_indicator": change["status_indicator"],
                    "apc": change["apc"],
                    "payment_rate": "",
                }
    with (pack / "opps_addendum_b.csv").open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["hcpcs", "status_indicator", "apc", "payment_rate"])
        for code, row in sorted(rows.items()):
            rate = rates.get(row["apc"]) or _amount(row["payment_rate"])
            writer.writerow([code, row["status_indicator"], row["apc"], rate])
    with (
        (cms / ASP_FILE).open(newline="", encoding="utf-8-sig", errors="replace") as handle,
        (pack / "asp_limits.csv").open("w", newline="") as out,
    ):
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["hcpcs", "billing_unit", "payment_limit"])
        seen = False
        rows = []
        for row in csv.reader(handle):
            if not seen:
                seen = bool(row) and row[0].strip().lower() == "hcpcs code"
                continue
            if row and row[0].strip() and _amount(row[3]):
                rows.append([row[0].strip().upper(), " ".join(row[2].split()), _amount(row[3])])
        writer.writerows(sorted(rows))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
