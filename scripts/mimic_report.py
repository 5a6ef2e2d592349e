"""Import and code the MIMIC-IV demo; report encounters by kind and class, lines by code, findings by kind,
and the accounting of every emar event (in a line, in a held administration, or in a named drop).

python scripts/mimic_report.py [FOLDER] [--include-inpatient] [--show N] [--kind ed-only,...] [--id ID ...]

FOLDER defaults to ../shared/data/mimic-iv-demo. --show N prints N coded encounters of the --kind list as a
coder would read them (--id prints the ones named). Exit status 1 when any emar event is unaccounted for.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from infusion_coder import Coder
from infusion_coder.formats import ImportOptions
from infusion_coder.formats.mimic import Built, MimicImport, load
from infusion_coder.models import CodingResult, Encounter

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mimic-iv-demo"
OUTPATIENT_KINDS = ("ed-only", "ed+observation", "observation", "outside-transfers")

# named drops of the importer (formats/mimic.py) and what they mean, for the accounting
DROPS = {
    "check": "checks (Confirmed, Assessed, Infusion Reconciliation ...): not events",
    "not-given": "charted as not given / held",
    "flush": "flushes",
    "route-not-coded": "given by a route with no code (oral, eye drops, creams, inhalers ...)",
    "inpatient": "every event of inpatient stays (not coded; inpatient-stay finding)",
    "unclear-class": "every event of stays of unclear class (held; setting-unknown error)",
    "unpaired": "stops/pauses with nothing to close, duplicates (named in a finding)",
    "self-administered": "the patient's own medication (insulin pump)",
    "zero-dose": "zero dose",
    "unknown-event": "no event text and no dose",
    "no-drug": "no drug named, nothing scanned",
    "no-time": "no readable chart time (error)",
    "route-unknown": "route not inferable (error, held)",
    "route-uncertain": "route uncertain and most often uncoded (error, held)",
    "damaged": "damaged rows (error)",
}


def account(built: Built, result: CodingResult | None) -> Counter[str]:
    """Each emar row of the stay: in a line, in a held administration (imported, no line, a finding names
    it), in an imported administration with neither (unaccounted), or in a named drop."""
    where: Counter[str] = Counter()
    in_lines = {a for line in result.lines for a in line.administrations} if result else set()
    in_findings = {a for finding in result.findings for a in finding.administrations} if result else set()
    for row in built.stay.rows:
        fate = built.fate.get(row["emar_id"], "unaccounted")
        if fate.startswith("admin "):
            admin = fate.removeprefix("admin ")
            if admin in in_lines:
                where["line"] += 1
            elif admin in in_findings:
                where["held administration"] += 1
            else:
                where["unaccounted"] += 1
        else:
            where[fate] += 1
    return where


def show(built: Built, result: CodingResult) -> None:
    record = built.record
    print(
        f"\n=== {record['encounter_id']} ({built.stay.kind}, {built.stay.klass}, {len(built.stay.rows)} events, "
        f"{len(record['administrations'])} administrations, {result.readiness})"
    )
    for a in record["administrations"]:
        span = a.get("start", "?")[5:16] + ("-" + a["end"][11:16] if a.get("end") else "")
        dose = f"{a.get('dose', '')}{a.get('dose_unit', '') or ''}"
        print(
            f"  {a['id']:>16} {a['route'][:5]:5} {a.get('method') or '-':9} {span:17} {dose:10} "
            f"{a['substance'][:50]}"
        )
    for line in result.lines:
        print(
            f"  LINE {line.code} x{line.units} {line.date} {line.administrations}: {line.explanation[:140]}"
        )
    for finding in result.findings:
        if finding.id in ("mue-table-missing", "documentation-gaps", "opps-packaged"):
            continue
        print(f"  [{finding.severity}] {finding.id}: {finding.message[:230]}")


def summarise(loaded: MimicImport, coder: Coder, args: argparse.Namespace) -> int:
    kinds: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    line_units: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    readiness: Counter[str] = Counter()
    accounting: Counter[str] = Counter()
    wanted = set(args.kind.split(","))
    shown = 0
    for built in loaded.encounters:
        kinds[f"{built.stay.kind} ({built.stay.klass})"] += 1
        result = coder.code(Encounter.model_validate(built.record))
        readiness[result.readiness] += 1
        for line in result.lines:
            lines[line.code] += 1
            line_units[line.code] += line.units
        for finding in result.findings:
            findings[finding.id] += 1
        picked = built.stay.id in args.id or (
            shown < args.show and built.stay.kind in wanted and not built.stay.inpatient
        )
        if picked:
            show(built, result)
            shown += built.stay.id not in args.id
        accounting.update(account(built, result))
    accounting["damaged"] += len(loaded.damaged)
    accounting["no-time"] += sum(1 for e in loaded.errors if e["error"].get("field") == "charttime")

    print("\nEncounters by kind (class)")
    for kind, count in kinds.most_common():
        print(f"  {kind:34} {count:5}")
    print("  readiness: " + ", ".join(f"{k} {v}" for k, v in readiness.most_common()))
    print("\nLines by code (lines, units)")
    for code, count in sorted(lines.items()):
        print(f"  {code}  {count:5} {line_units[code]:6}")
    print(f"  total  {sum(lines.values()):5} {sum(line_units.values()):6}")
    print("\nFindings by kind")
    for finding_id, count in findings.most_common():
        print(f"  {finding_id:40} {count:6}")
    total = sum(accounting.values())
    print(f"\nEvery emar event ({loaded.rows} in the folder)")
    print(f"  in a line                  {accounting['line']:6}")
    print(f"  in a held administration   {accounting['held administration']:6}")
    for kind, meaning in DROPS.items():
        if accounting[kind]:
            print(f"  {kind:26} {accounting[kind]:6}  {meaning}")
    print(f"  unaccounted                {accounting['unaccounted']:6}")
    print(f"  total                      {total:6}")
    if total != loaded.rows:
        print(f"  MISMATCH: {total} accounted, {loaded.rows} in the folder")
    return 1 if accounting["unaccounted"] or total != loaded.rows else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--include-inpatient", action="store_true", help="code inpatient-marked stays too")
    parser.add_argument("--show", type=int, default=0, help="print N ED/observation results")
    parser.add_argument("--kind", default=",".join(OUTPATIENT_KINDS), help="kinds --show picks from")
    parser.add_argument("--id", nargs="*", default=[], help="encounter ids to print")
    args = parser.parse_args()
    if not (args.folder / "hosp").is_dir():
        print(f"no MIMIC-IV folder at {args.folder}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    coder = Coder.default()
    options = ImportOptions(include_inpatient=args.include_inpatient)
    loaded = load(args.folder, options, coder.reference.latest)
    imported = time.perf_counter() - began
    for error in loaded.errors:
        print("ERROR", error["error"]["message"])
    status = summarise(loaded, coder, args)
    elapsed = time.perf_counter() - began
    print(
        f"\n{len(loaded.encounters)} stays: imported in {imported:.1f} s, coded in {elapsed - imported:.1f} s"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
