"""Shared by the claim tests: the gold cases, the example encounters, the example header, a pyx12
validation run, and a claim built from a case's expected lines."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from infusion_coder import Coder, Encounter
from infusion_coder.claims import Claim, ClaimHeader, build_claim, load_header
from infusion_coder.models import CodingResult, Line

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CASES = sorted((SHARED / "cases").glob("*.jsonl"))
GOLD = [json.loads(line) for path in CASES for line in path.read_text().splitlines() if line.strip()]
# CLM01 holds at most 38 characters and gold ids run longer: claims carry the short id (dev-08)
for _case in GOLD:
    _case["encounter"] = dict(_case["encounter"], encounter_id=_case["id"][:6])
EXAMPLES = [
    json.loads(path.read_text())
    for path in sorted((ROOT / "examples").glob("*.json"))
    if path.name != "claim-header.json"
]
CMS = SHARED / "data" / "cms"


def header(**claim: Any) -> ClaimHeader:
    base = load_header(ROOT / "examples" / "claim-header.json")
    if not claim:
        return base
    merged = base.model_dump(mode="json")
    merged["claim"].update(claim)
    return ClaimHeader.model_validate(merged)


# gold cases with no time at all: their lines need the header's default date
DEFAULT_DAY = dt.date(2026, 1, 15)


def claim_for(coder: Coder, encounter: Encounter, result: CodingResult | None = None) -> Claim:
    result = result or coder.code(encounter)
    pack = coder.reference.latest
    return build_claim(
        encounter,
        result,
        pack,
        header(default_service_date=DEFAULT_DAY.isoformat()),
        pack.revenue_codes,
        institutional=encounter.claim_type.value == "institutional",
    )


def expected_result(coder: Coder, case: dict[str, Any]) -> tuple[Encounter, CodingResult]:
    """The engine's result with its lines replaced by the case's expected lines. Gold lines carry no date:
    each takes the dates of the engine's lines of that code in order (the dates are not what the gold case
    tests), and the first date of the encounter for a code the engine did not produce."""
    encounter = Encounter.model_validate(case["encounter"])
    result = coder.code(encounter)
    first = min((a.start.date() for a in encounter.administrations if a.start), default=None)
    lines: list[Line] = []
    for want in case["expected"]["lines"]:
        engine = sorted(
            (line for line in result.lines if line.code == want["code"]),
            key=lambda line: line.date or dt.date.min,
        )
        left = want["units"]
        for index, line in enumerate(engine):
            take = left if index == len(engine) - 1 else min(left, line.units)
            if take > 0:
                lines.append(_line(want, take, line.date))
                left -= take
        if left > 0:
            lines.append(_line(want, left, first))
    return encounter, result.model_copy(update={"lines": lines})


def _line(want: dict[str, Any], units: int, day: dt.date | None) -> Line:
    return Line(
        code=want["code"],
        units=units,
        modifiers=list(want.get("modifiers", [])),
        date=day,
        administrations=[],
        explanation="expected line of the gold case",
        rule="gold",
    )


def x12_errors(text: str) -> list[str]:
    """Run pyx12's validator (the x12valid entry point) over an interchange; its 999 error segments."""
    import pyx12.params
    import pyx12.x12n_document

    ack = io.StringIO()
    ok = pyx12.x12n_document.x12n_document(pyx12.params.params(), io.StringIO(text), ack, None)
    segments = ack.getvalue().replace("\n", "").split("~")
    errors = [
        s
        for s in segments
        if s.startswith(("IK3", "IK4", "CTX")) or s.startswith("IK5*R") or s.startswith("AK9*R")
    ]
    if not ok and not errors:
        errors.append("pyx12 rejected the interchange")
    return errors


def opps_rate(code: str) -> tuple[str, float | None]:
    """Status indicator and payment rate of a code, read from the CMS files in ../shared/data: the CY2026
    (January 2026) status changes and drug-administration APC rates over Addendum B of October 2025."""
    import csv

    found: dict[str, str] | None = None
    with (CMS / "opps_addendum_b_2025q4_oct_codes.csv").open(newline="") as handle:
        found = next((row for row in csv.DictReader(handle) if row["hcpcs"] == code), None)
    with (CMS / "opps_2026q1_jan_si_changes.csv").open(newline="") as handle:
        found = next((row for row in csv.DictReader(handle) if row["hcpcs"] == code), found)
    if found is None:
        raise KeyError(code)
    with (CMS / "opps_2026q1_jan_apc_rates.csv").open(newline="") as handle:
        rates = {row["apc"]: row["payment_rate"] for row in csv.DictReader(handle)}
    rate = rates.get(found["apc"]) or found.get("payment_rate", "").replace("$", "").replace(",", "").strip()
    return found["status_indicator"], float(rate) if rate not in ("", ".") else None


def asp_limit(code: str) -> float:
    """ASP payment limit per billing unit of a HCPCS code, read from the CMS file in ../shared/data."""
    import csv

    # the CMS file is not all UTF-8 (descriptions); the code and limit columns are ASCII
    with (CMS / "asp_payment_limit_2026q1_jan.csv").open(
        newline="", encoding="utf-8-sig", errors="replace"
    ) as handle:
        for row in csv.reader(handle):
            if row and row[0].strip() == code:
                return float(row[3])
    raise KeyError(code)
