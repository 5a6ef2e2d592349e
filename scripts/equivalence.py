"""The output oracle for performance work: code many seeded encounters exactly as `infusion-coder code`
does (bytes in -> jsonio.parse -> Coder.code_record -> the CLI's serialisation) and digest the results.

python scripts/equivalence.py [--n 50000] [--seed 2026] [--write FILE] [--check FILE] [--show N]

Records coded: N generated encounters (1-6 administrations: drugs and synonyms from the substance table,
hydration, pushes, infusions, injections, missing stops, two accesses, midnight crossings, professional and
institutional claims, time zones and UTC offsets, policies, billed lines for the audit path, and a few
malformed records), then every gold case (../shared/cases/dev.jsonl, when present) and every JSON example
shipped in src/infusion_coder/examples. Each result is serialised with `jsonio.render` (what the CLI writes),
read back and hashed in one canonical spelling (keys in the order written, no spaces, floats as Python spells
them): the digest holds the JSON *values* and their key order, so a change of serialiser that writes the same
values passes, and any other change fails. The digest file holds one sha256 per record and the sha256 of them
all.

--write FILE   write the digest (default: print the overall hash only)
--check FILE   compare with a saved digest; list the first differing records (index, origin, input)

The committed digest tests/equivalence/digest-2000.json (N=2,000, seed 2026, no gold cases so the test runs
without ../shared) is checked by tests/test_equivalence.py: any change of output fails that test. When the
output changes ON PURPOSE (a rule fix, a new field), regenerate it deliberately and say so in the commit:

    python scripts/equivalence.py --n 2000 --no-gold --write tests/equivalence/digest-2000.json
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from infusion_coder import Coder
from infusion_coder.engine.output import Coded
from infusion_coder.formats import jsonio
from infusion_coder.models import ErrorDetail, ErrorResult

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT.parent / "shared" / "cases" / "dev.jsonl"
EXAMPLES = ROOT / "src" / "infusion_coder" / "examples"
SUBSTANCES = ROOT / "src" / "infusion_coder" / "reference" / "data" / "2026-01-01" / "substances.csv"

ROUTES = ["intravenous", "iv", "IV push", "ivpb", "subcutaneous", "sq", "intramuscular", "im", "oral"]
ROUTE_WEIGHTS = [40, 10, 5, 5, 8, 3, 8, 3, 2]
ZONES = [None] * 12 + ["America/New_York", "America/Chicago", "Europe/Paris", "America/Denver", "Not/AZone"]
OFFSETS = ["", "", "", "", "", "Z", "-05:00", "+01:00", "-06:00"]
ACCESSES = ["L forearm PIV", "R hand PIV", "port", "PICC"]
PURPOSES = [None] * 12 + ["carrier", "kvo", "flush"]
UNITS = ["mg", "mL", "g", "units", "mcg"]
POLICIES = [
    "cms",
    "cms",
    "cms",
    "cpt",
    "cms-x",
    "noridian-ja",
    "strict-hydration",
    "cms-derive",
    "cms-merge-access",
]
BILLED = ["96365", "96366", "96367", "96368", "96374", "96375", "96360", "96361", "96372", "96413", "96415"]
MALFORMED = [
    b"{not json",
    b'{"encounter_id": "M", "claim_type": "institutional"',
    b'{"encounter_id": "M", "x": "\xff\xfe"}',
    b'{"encounter_id": "M", "dose": NaN}',
    b'{"encounter_id": "M", "dose": -Infinity}',
    b"[" * 3000,
    b'{"encounter_id": "M", "n": ' + b"9" * 5000 + b"}",
    b'{"encounter_id": "M", "claim_type": "clinic", "administrations": []}',
    b'{"encounter_id": 7, "claim_type": "professional", "administrations": [{"id": "a"}]}',
    b'["not", "an", "object"]',
    b'"just a string"',
    b'{"encounter_id": "M", "a": "\\ud800", "claim_type": "institutional", "administrations": []}',
    b'{"encounter_id": "M", "a": 1, "a": 2}',
    b"{}",
    b'{"encounter_id": "", "claim_type": "institutional", "administrations": []}',
]


def substance_names() -> list[str]:
    names: list[str] = []
    with SUBSTANCES.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            names.append(row["name"])
            names.extend(s for s in row["synonyms"].split("|")[:2] if s)
    return names


def _stamp(moment: datetime, rng: random.Random, offset: str) -> str:
    text = moment.isoformat(timespec="seconds" if rng.random() < 0.1 else "minutes")
    return text + offset


def encounter(index: int, rng: random.Random, names: list[str]) -> dict[str, Any]:
    """One seeded encounter of 1-6 administrations, mostly valid, sometimes odd."""
    base = datetime(2026, rng.choice([1, 3, 3, 6, 11, 11]), rng.choice([1, 8, 15, 28]), rng.randint(0, 23))
    offset = rng.choice(OFFSETS)
    two_days = rng.random() < 0.15  # late start: crosses midnight
    if two_days:
        base = base.replace(hour=21)
    admins: list[dict[str, Any]] = []
    for number in range(rng.randint(1, 6)):
        kind = rng.random()
        record: dict[str, Any] = {"id": f"a{number}" if rng.random() < 0.995 else number + 100}
        if kind < 0.25:
            record["substance"] = rng.choice(["normal saline", "ns", "lactated ringer's", "D5W", "0.9% nacl"])
            record["route"] = "intravenous"
        else:
            record["substance"] = (
                rng.choice(names) if rng.random() < 0.9 else f"study drug {rng.randint(1, 9)}"
            )
            record["route"] = rng.choices(ROUTES, ROUTE_WEIGHTS)[0]
        begin = base + timedelta(minutes=rng.randint(0, 600 if not two_days else 300))
        timed = rng.random() < 0.98
        if timed:
            record["start"] = _stamp(begin, rng, offset)
        method = rng.random()
        if method < 0.2:
            record["method"] = "push"
            if timed and rng.random() < 0.3:
                record["end"] = _stamp(begin + timedelta(minutes=rng.randint(1, 20)), rng, offset)
        elif method < 0.3:
            record["method"] = "injection"
        elif timed and rng.random() < 0.85:
            if rng.random() < 0.6:
                record["method"] = "infusion"
            record["end"] = _stamp(begin + timedelta(minutes=rng.randint(1, 300)), rng, offset)
        if rng.random() < 0.3:
            record["access"] = rng.choice(ACCESSES)
        if rng.random() < 0.2:
            record["category"] = rng.choice(["hydration", "therapeutic", "chemotherapy", "Therapeutic"])
        purpose = rng.choice(PURPOSES)
        if purpose:
            record["purpose"] = purpose
        if rng.random() < 0.2:
            record["volume_ml"] = rng.choice([50, 100, 250, 500, 1000, 37.5])
        if rng.random() < 0.1:
            record["rate_ml_per_hour"] = rng.choice([25, 100, 125, 999])
        if rng.random() < 0.3:
            record["dose"] = rng.choice([1, 2.5, 4, 10, 40, 500, 1000, 0.5])
            record["dose_unit"] = rng.choice(UNITS)
        if rng.random() < 0.05:
            record["ndc"] = rng.choice(["0409-4888-10", "00409488810", "12345"])
        if rng.random() < 0.05:
            record["single_dose_container"] = True
            record["wasted"] = rng.choice([1, 5, 0.5])
        if rng.random() < 0.05:
            record["pump"] = rng.choice(["portable", "implantable"])
        if rng.random() < 0.05:
            record["mix"] = "bag1"
        if rng.random() < 0.04:
            record["separate_access_required"] = True
        if rng.random() < 0.03:
            record["hormonal"] = True
        if rng.random() < 0.03:
            record["indication"] = "nausea"
        admins.append(record)
    body: dict[str, Any] = {
        "encounter_id": f"E{index}" if rng.random() < 0.97 else index,
        "claim_type": rng.choice(["institutional", "institutional", "professional", "Professional"]),
        "administrations": admins,
    }
    if rng.random() < 0.2:
        body["place_of_service"] = rng.choice(["11", "22", 19, "23"])
    if rng.random() < 0.2:
        body["policy"] = rng.choice(POLICIES)
    zone = rng.choice(ZONES)
    if zone:
        body["timezone"] = zone
    if rng.random() < 0.08 and admins:
        body["primary_administration"] = admins[-1]["id"]
    if rng.random() < 0.05:
        body["evaluation_and_management"] = {"code": "99213", "separately_identifiable": rng.random() < 0.5}
    if rng.random() < 0.1:
        body["billed_lines"] = [
            {"code": rng.choice(BILLED), "units": rng.randint(1, 3)} for _ in range(rng.randint(1, 3))
        ]
    if rng.random() < 0.03:
        body["source_findings"] = [{"id": "S1", "severity": "warning", "message": "dose unit missing"}]
    if rng.random() < 0.02 and len(admins) > 1:
        admins[1]["id"] = admins[0]["id"]  # duplicate id
    if rng.random() < 0.01 and admins and "start" in admins[0]:
        admins[0]["end"] = _stamp(base - timedelta(hours=2), rng, offset)  # stop before start
    return body


def records(n: int, seed: int, gold: bool) -> Iterator[tuple[str, bytes, bool]]:
    """(origin, JSON line, audit?) for every record the oracle codes."""
    rng = random.Random(seed)
    names = substance_names()
    for index in range(n):
        if rng.random() < 0.01:
            yield f"generated {index} (malformed)", rng.choice(MALFORMED), False
            continue
        body = encounter(index, rng, names)
        yield f"generated {index}", json.dumps(body).encode(), "billed_lines" in body and rng.random() < 0.5
    if gold and GOLD.exists():
        for number, line in enumerate(GOLD.read_bytes().splitlines(), 1):
            if line.strip():
                case = json.loads(line)
                yield f"gold {case.get('id', number)}", json.dumps(case["encounter"]).encode(), False
    for path in sorted(EXAMPLES.glob("*.json")):
        yield f"example {path.name}", path.read_bytes().replace(b"\n", b" "), False


def result_text(coder: Coder, line: bytes, audit: bool) -> str:
    """What `infusion-coder code` (or `--audit`) writes for this line (see cli._emit)."""
    item = jsonio.parse(line, "line 1")
    if item.problem is not None:
        result: Any = ErrorResult(encounter_id=None, error=ErrorDetail(message=item.problem, field=None))
    elif audit:
        result = coder.audit_record(item.value, policy=None, timezone=None)
    else:  # as `code` writes JSON Lines: from the engine's plain objects where it can
        result = coder.code_record_plain(item.value, policy=None, timezone=None)
        if isinstance(result, Coded):
            data = jsonio.render_coded(result)
            if data is not None:
                return data.decode("utf-8")
            result = result.model()
    return jsonio.render(result)


def canonical(text: str) -> bytes:
    """The JSON values of a result in one spelling: key order kept, whitespace and float spelling normalised."""
    return json.dumps(json.loads(text), separators=(",", ":")).encode("ascii")


def digest(n: int, seed: int, gold: bool) -> dict[str, Any]:
    coder = Coder.default()
    hashes: list[str] = []
    origins: list[str] = []
    for origin, line, audit in records(n, seed, gold):
        hashes.append(hashlib.sha256(canonical(result_text(coder, line, audit))).hexdigest()[:16])
        origins.append(origin)
    overall = hashlib.sha256("\n".join(hashes).encode()).hexdigest()
    return {"n": n, "seed": seed, "gold": gold, "overall": overall, "records": hashes, "origins": origins}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-gold", action="store_true", help="leave out the gold cases")
    parser.add_argument("--write", type=Path)
    parser.add_argument("--check", type=Path)
    parser.add_argument("--show", type=int, default=5, help="differing records to list")
    args = parser.parse_args()
    if args.check:
        saved = json.loads(args.check.read_text())
        args.n, args.seed, args.no_gold = saved["n"], saved["seed"], not saved["gold"]
    made = digest(args.n, args.seed, not args.no_gold)
    print(f"{len(made['records'])} records, overall {made['overall']}")
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        kept = {key: value for key, value in made.items() if key != "origins"}  # derivable: keep it small
        args.write.write_text(json.dumps(kept, indent=0) + "\n")
    if args.check:
        if made["overall"] == saved["overall"]:
            print(f"identical to {args.check}")
            return
        differing = [
            i for i, (a, b) in enumerate(zip(made["records"], saved["records"], strict=False)) if a != b
        ]
        print(f"DIFFERENT from {args.check}: {len(differing)} record(s) differ", end="")
        print(f"; counts {len(made['records'])} vs {len(saved['records'])}")
        lines = {
            i: (o, line, audit)
            for i, (o, line, audit) in enumerate(records(args.n, args.seed, not args.no_gold))
            if i in set(differing[: args.show])
        }
        for i in differing[: args.show]:
            origin, line, audit = lines[i]
            print(f"  record {i} ({origin}{', audit' if audit else ''}): {line[:300]!r}")
        sys.exit(1)


if __name__ == "__main__":
    main()
