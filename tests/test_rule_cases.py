"""Each catalog rule's own fixture cases (tests/rule_cases/<rule id>.json): an encounter that trips the
rule and one that does not, with the lines and findings expected from rules.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import encounter, grouped
from infusion_coder import CATALOG, Coder, Encounter

CASES_DIR = Path(__file__).parent / "rule_cases"


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.json")):
        body = json.loads(path.read_text())
        for case in body["cases"]:
            params.append(pytest.param(case, id=f"{body['rule']}: {case['name']}"))
    return params


def test_every_rule_has_fixture_cases() -> None:
    present = {path.stem for path in CASES_DIR.glob("*.json")}
    assert present == {rule.id for rule in CATALOG}


@pytest.mark.parametrize("case", _load())
def test_rule_case(coder: Coder, case: dict[str, Any]) -> None:
    record = encounter(case["administrations"], **case.get("encounter", {}))
    if "billed_lines" in case:
        record["billed_lines"] = case["billed_lines"]
    result = coder.code(Encounter.model_validate(record))
    assert grouped(result.lines) == case["lines"], [line.explanation for line in result.lines]
    found = {finding.id for finding in result.findings}
    for expected in case.get("findings", []):
        assert expected in found, sorted(found)
    for unexpected in case.get("absent_findings", []):
        assert unexpected not in found
    explained = {f"{line.code}@{line.date}": line.explanation for line in result.lines}
    for key, words in case.get("explanations", {}).items():
        assert all(word in explained[key] for word in words), explained[key]
    for key, words in case.get("explanations_absent", {}).items():
        assert not any(word in explained[key] for word in words), explained[key]
    if "drug_lines" in case:
        drugs: dict[str, int] = {}
        for line in result.drug_lines:
            key = "-".join([line.hcpcs, *line.modifiers])
            drugs[key] = drugs.get(key, 0) + line.units
        assert drugs == case["drug_lines"], [line.explanation for line in result.drug_lines]


@pytest.mark.parametrize("case", [p for p in _load() if "billed_lines" in p.values[0]])
def test_audit_case(coder: Coder, case: dict[str, Any]) -> None:
    record = encounter(case["administrations"], **case.get("encounter", {}))
    record["billed_lines"] = case["billed_lines"]
    audit = coder.audit(Encounter.model_validate(record))
    got = [{"kind": d.kind, "code": d.code, "money": d.money} for d in audit.differences]
    assert got == case["differences"], [d.message for d in audit.differences]
