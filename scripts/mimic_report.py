"""Import and code the MIMIC-IV demo; report encounters by kind, lines by code, findings by kind, and the
accounting of every given IV event (in a line, in a finding, or in an inpatient stay left uncoded).

python scripts/mimic_report.py [FOLDER] [--include-inpatient] [--show N] [--kind ed-only,...]

FOLDER defaults to ../shared/data/mimic-iv-demo. --show N prints N coded ED / observation encounters as a
coder would read them. Exit status 1 when any given IV event is unaccounted for.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

from infusion_coder import Coder
from infusion_coder.formats import ImportOptions
from infusion_coder.formats.mimic import Built, load
from infusion_coder.models import CodingResult, Encounter

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mimic-iv-demo"
EMAR_ID = re.compile(r"\b\d+-\d+\b")  # subject_id-emar_seq, as findings name them
OUTPATIENT_KINDS = ("ed-only", "ed+observation", "observation", "outside-transfers")  # as billed outpatient


def account(built: Built, result: CodingResult | None) -> dict[str, list[str]]:
    """Each given IV event of the encounter: where it ended (line, finding, inpatient, unaccounted)."""
    where: dict[str, list[str]] = {"line": [], "finding": [], "inpatient": [], "unaccounted": []}
    if result is None:
        where["inpatient"].extend(built.given_iv)
        return where
    in_lines = {a for line in result.lines for a in line.administrations}
    in_findings = {a for finding in result.findings for a in finding.administrations}
    named = {token for f in result.findings for token in EMAR_ID.findall(f.message)}
    for emar_id, administration in built.given_iv.items():
        if administration is not None and administration in in_lines:
            where["line"].append(emar_id)
        elif (administration is not None and administration in in_findings) or emar_id in named:
            where["finding"].append(emar_id)
        else:
            where["unaccounted"].append(emar_id)
    return where


def show(built: Built, result: CodingResult) -> None:
    record = built.record
    print(
        f"\n=== {record['encounter_id']} ({built.stay.kind}, {len(record['administrations'])} administrations)"
    )
    for a in record["administrations"]:
        if a["route"] in ("intravenous", "subcutaneous", "intramuscular"):
            span = a.get("start", "?")[5:16] + ("-" + a["end"][11:16] if a.get("end") else "")
            print(
                f"  {a['id']:>16} {a['route'][:5]:5} {a.get('method') or '-':9} {span:17} {a['substance'][:50]}"
            )
    for line in result.lines:
        print(f"  LINE {line.code} x{line.units} {line.date}: {line.explanation[:150]}")
    for finding in result.findings:
        if finding.id in ("mue-table-missing",) or finding.id.startswith("documentation-gaps"):
            continue
        print(f"  [{finding.severity}] {finding.id}: {finding.message[:160]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--include-inpatient", action="store_true", help="code inpatient-marked stays too")
    parser.add_argument("--show", type=int, default=0, help="print N ED/observation results")
    parser.add_argument("--kind", default=",".join(OUTPATIENT_KINDS), help="kinds --show picks from")
    args = parser.parse_args()
    if not (args.folder / "hosp").is_dir():
        print(f"no MIMIC-IV folder at {args.folder}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    coder = Coder.default()
    loaded = load(
        args.folder, ImportOptions(include_inpatient=args.include_inpatient), coder.reference.latest
    )
    for error in loaded.errors:
        print("ERROR", error["error"]["message"])
    kinds: Counter[str] = Counter()
    with_admins: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    line_units: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    accounting: dict[str, list[str]] = {"line": [], "finding": [], "inpatient": [], "unaccounted": []}
    shown = 0
    wanted = set(args.kind.split(","))
    for built in loaded.encounters:
        kinds[built.stay.kind] += 1
        coded = not built.stay.inpatient or args.include_inpatient
        result = coder.code(Encounter.model_validate(built.record)) if coded else None
        if any(a["route"] == "intravenous" for a in built.record["administrations"]):
            with_admins[built.stay.kind] += 1
        if result is not None:
            for line in result.lines:
                lines[line.code] += 1
                line_units[line.code] += line.units
            for finding in result.findings:
                findings[finding.id] += 1
            if shown < args.show and built.stay.kind in wanted and result.lines:
                show(built, result)
                shown += 1
        for where, ids in account(built, result).items():
            accounting[where].extend(ids)
    elapsed = time.perf_counter() - began

    print("\nEncounters by kind (with any IV administration)")
    for kind, count in kinds.most_common():
        print(f"  {kind:20} {count:5}  ({with_admins[kind]} with IV)")
    print("\nLines by code (lines, units)")
    for code, count in sorted(lines.items()):
        print(f"  {code}  {count:5} {line_units[code]:6}")
    print("\nFindings by kind")
    for finding_id, count in findings.most_common():
        print(f"  {finding_id:40} {count:6}")
    total = sum(len(ids) for ids in accounting.values())
    print("\nGiven IV events (emar Administered/Started with an intravenous route)")
    print(f"  in                 {total}")
    for where in ("line", "finding", "inpatient", "unaccounted"):
        print(f"  {where:18} {len(accounting[where])}")
    if accounting["unaccounted"]:
        print("  unaccounted emar_ids: " + ", ".join(sorted(accounting["unaccounted"])[:200]))
    print(f"\n{len(loaded.encounters)} stays in {elapsed:.1f} s")
    return 1 if accounting["unaccounted"] else 0


if __name__ == "__main__":
    sys.exit(main())
