"""`infusion-coder findings` is read from the code (cli/finding_ids.py), never a hand-kept list: every
find() call of the engine is understood, and every finding id the engine and the importers emit on a
wide corpus (the gold cases under every policy, the rule fixtures, generated encounters, the examples,
the public FHIR, HL7 and MAR files) is listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch_data import encounters
from helpers import encounter
from infusion_coder import Coder
from infusion_coder.cli.finding_ids import index
from infusion_coder.formats import ImportOptions, Source, reader
from infusion_coder.models import ErrorResult

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
RULE_CASES = Path(__file__).parent / "rule_cases"


def test_every_find_call_of_the_engine_is_understood() -> None:
    found = index()
    assert found.unresolved == []
    assert len([k for k in found.kinds.values() if "engine" in k.where]) > 60
    for kind in found.kinds.values():
        if "engine" in kind.where:
            assert kind.rule and kind.severities and kind.meanings, kind.id


def _records(coder: Coder) -> Iterator[tuple[dict[str, Any], str | None, set[str]]]:
    """(record, policy). Source findings a record brings as input (the contract lets any tool write them)
    are not ids of this code: only those the importers here write count (see the test below)."""
    policies = coder.policies
    cases = SHARED / "cases" / "dev.jsonl"
    if cases.exists():
        for line in cases.read_text().splitlines():
            if line.strip():
                for policy in policies:
                    record = json.loads(line)["encounter"]
                    yield record, policy, {n["id"] for n in record.get("source_findings") or ()}
    for path in sorted(RULE_CASES.glob("*.json")):
        for case in json.loads(path.read_text())["cases"]:
            record = encounter(case["administrations"], **case.get("encounter", {}))
            if "billed_lines" in case:
                record["billed_lines"] = case["billed_lines"]
            for policy in policies:
                yield record, policy, {n["id"] for n in record.get("source_findings") or ()}
    for record in encounters(300):
        yield record, None, set()
        yield record, "cpt", set()
    for path in sorted((ROOT / "examples").glob("*.json")):
        body = json.loads(path.read_text())
        if "administrations" in body:
            yield body, None, set()
    imports = [
        (
            "mar",
            [ROOT / "examples" / "mar-export.csv"],
            ImportOptions(mapping=ROOT / "examples" / "mar-mapping.toml"),
        ),
        ("hl7", [ROOT / "examples" / "ed-visit.hl7"], ImportOptions()),
        ("hl7", sorted((SHARED / "data" / "hl7v2-samples").glob("*")), ImportOptions()),
        ("fhir", [SHARED / "data" / "fhir-r4-examples"], ImportOptions()),
        ("fhir", [SHARED / "data" / "fhir-r4-examples"], ImportOptions(include_inpatient=True)),
    ]
    for name, paths, options in imports:
        files = [p for p in paths if p.exists()]
        if files:
            for record in reader(name)(
                [Source(p.name, path=p) for p in files], options, coder.reference.latest
            ):
                yield record, None, set()  # the importers' own ids: they must be listed


def test_every_finding_id_emitted_on_the_corpus_is_listed(coder: Coder) -> None:
    found = index()
    emitted: dict[str, int] = {}
    for record, policy, given in _records(coder):
        run = coder.audit_record if "billed_lines" in record else coder.code_record
        result = run(record, policy=policy)
        if isinstance(result, ErrorResult):
            continue
        for finding in result.findings:
            if not (finding.rule == "IC505" and finding.id in given):
                emitted[finding.id] = emitted.get(finding.id, 0) + 1
    assert len(emitted) > 60  # the corpus reaches most of the engine
    missing = sorted(i for i in emitted if not found.knows(i))
    assert missing == []


@pytest.mark.parametrize("path", sorted(RULE_CASES.glob("*.json")), ids=lambda p: p.stem)
def test_the_ids_the_rule_fixtures_expect_are_listed_under_their_rule(path: Path) -> None:
    body = json.loads(path.read_text())
    kinds = index().kinds
    given = {
        n["id"] for case in body["cases"] for n in case.get("encounter", {}).get("source_findings") or ()
    }
    for case in body["cases"]:
        for finding_id in [*case.get("findings", []), *case.get("absent_findings", [])]:
            assert finding_id in kinds or finding_id in given, finding_id
