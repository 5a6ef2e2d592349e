"""`infusion-coder audit` against the gold cases: their expected lines, billed as they stand, show no
difference where the engine agrees; deliberately wrong claims are caught with the right direction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import encounter
from infusion_coder import Coder, Encounter

CASES = sorted((Path(__file__).resolve().parents[2] / "shared" / "cases").glob("*.jsonl"))
GOLD = [json.loads(line) for path in CASES for line in path.read_text().splitlines() if line.strip()]
needs_gold = pytest.mark.skipif(not GOLD, reason="no shared/ folder beside the checkout")


def audit(coder: Coder, case: dict[str, Any], billed: list[dict[str, Any]]) -> Any:
    """Audit the case against `billed` plus the engine's own drug lines: the gold cases list only the
    administration lines, so the drug lines are billed as the engine derives them."""
    encounter = Encounter.model_validate(case["encounter"])
    drugs = [
        {"code": d.hcpcs, "units": d.units, "modifiers": d.modifiers, "date": d.date}
        for d in coder.code(encounter).drug_lines
    ]
    return coder.audit(Encounter.model_validate(dict(case["encounter"], billed_lines=[*billed, *drugs])))


@needs_gold
@pytest.mark.parametrize("case", GOLD, ids=[c["id"] for c in GOLD])
def test_expected_lines_billed_as_they_stand_show_no_difference(coder: Coder, case: dict[str, Any]) -> None:
    result = audit(coder, case, case["expected"]["lines"])
    if case.get("scope") == "partial":
        # the source showed only part of the answer: what it did show must not be over or wrong
        listed = {line["code"] for line in case["expected"]["lines"]}
        assert not [d for d in result.differences if d.code in listed], result.differences
    else:
        assert result.differences == []


@needs_gold
@pytest.mark.parametrize(
    "case", [c for c in GOLD if c["scope"] == "complete" and c["expected"]["lines"]][:20]
)
def test_wrong_claims_are_caught(coder: Coder, case: dict[str, Any]) -> None:
    expected = case["expected"]["lines"]
    extra = audit(coder, case, [*expected, {"code": "96376", "units": 3}])
    assert any(d.code == "96376" and d.money == "more than supported" for d in extra.differences)
    dropped = audit(coder, case, expected[1:])
    assert any(
        d.kind in ("under-coded", "wrong-units") and d.money == "less than supported"
        for d in dropped.differences
    )
    doubled = audit(coder, case, [dict(expected[0], units=expected[0]["units"] + 1), *expected[1:]])
    assert any(d.kind == "wrong-units" and d.money == "more than supported" for d in doubled.differences)


def test_audit_command_needs_billed_lines() -> None:
    body = encounter([{"substance": "ondansetron", "start": "09:00", "method": "push"}])
    run = subprocess.run(
        [sys.executable, "-m", "infusion_coder", "audit", "-"],
        input=json.dumps(body),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert json.loads(run.stdout)["error"]["field"] == "billed_lines"
    body["billed_lines"] = [{"code": "96374"}, {"code": "96375"}]
    run = subprocess.run(
        [sys.executable, "-m", "infusion_coder", "audit", "-"],
        input=json.dumps(body),
        capture_output=True,
        text=True,
    )
    out = json.loads(run.stdout)
    assert run.returncode == 0
    assert [(d["kind"], d["code"]) for d in out["differences"]] == [("over-coded", "96375")]
