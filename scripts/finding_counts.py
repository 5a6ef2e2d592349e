"""Readiness and finding counts over the gold cases and the bundled examples, as Markdown tables.

Run: python scripts/finding_counts.py [CASES.jsonl ...]   (default ../shared/cases/dev.jsonl when present)
Used to measure how a change moves claim readiness and which findings fire how often.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from infusion_coder import Coder, Encounter

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = ROOT.parent / "shared" / "cases" / "dev.jsonl"


def encounters(paths: list[Path]) -> list[tuple[str, dict[str, object]]]:
    found: list[tuple[str, dict[str, object]]] = []
    for path in paths:
        for text in path.read_text().splitlines():
            if text.strip():
                case = json.loads(text)
                found.append((str(case["id"]), case["encounter"]))
    for path in sorted((ROOT / "examples").glob("*.json")):
        if '"administrations"' not in path.read_text():  # the claim header beside them is not an encounter
            continue
        found.append((path.name, json.loads(path.read_text())))
    return found


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or ([DEFAULT_CASES] if DEFAULT_CASES.exists() else [])
    coder = Coder.default()
    readiness: Counter[str] = Counter()
    findings: Counter[tuple[str, str]] = Counter()
    cases = encounters(paths)
    for _name, record in cases:
        result = coder.code(Encounter.model_validate(record))
        readiness[result.readiness] += 1
        for finding in result.findings:
            findings[(finding.severity, finding.id)] += 1
    print(f"{len(cases)} encounters (gold cases and examples/)\n")
    print("| readiness | encounters |\n|---|---|")
    for name in ("ready", "ready_with_warnings", "hold"):
        print(f"| {name} | {readiness[name]} |")
    print("\n| severity | finding | count |\n|---|---|---|")
    order = {"error": 0, "warning": 1, "info": 2}
    for (severity, ident), count in sorted(
        findings.items(), key=lambda kv: (order[kv[0][0]], -kv[1], kv[0][1])
    ):
        print(f"| {severity} | {ident} | {count} |")


if __name__ == "__main__":
    main(sys.argv[1:])
