"""The shared gold cases (../shared/cases), scored as ../shared/tools/gold-check scores them.

Any case the engine deliberately codes differently must be listed in docs/decisions.md with the
policy choice and citation behind it, and in DEVIATIONS below; none is today.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from infusion_coder import Coder, Encounter

CASES = sorted((Path(__file__).resolve().parents[2] / "shared" / "cases").glob("*.jsonl"))
DEVIATIONS: dict[str, str] = {}


def _cases() -> list[Any]:
    found = [json.loads(line) for path in CASES for line in path.read_text().splitlines() if line.strip()]
    return [pytest.param(case, id=case["id"]) for case in found]


def _grouped(lines: list[dict[str, Any]]) -> Counter[tuple[str, tuple[str, ...]]]:
    totals: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for line in lines:
        totals[(str(line["code"]), tuple(sorted(line.get("modifiers") or [])))] += int(line.get("units", 1))
    return totals


@pytest.mark.skipif(not CASES, reason="no shared/ folder beside the checkout")
@pytest.mark.parametrize("case", _cases())
def test_gold_case(coder: Coder, case: dict[str, Any]) -> None:
    if case["id"] in DEVIATIONS:
        pytest.skip(DEVIATIONS[case["id"]])
    result = coder.code(Encounter.model_validate(case["encounter"]))
    got = _grouped([line.model_dump() for line in result.lines])
    expected = _grouped(case["expected"]["lines"])
    if case.get("scope") == "partial":
        assert all(got.get(key, 0) == units for key, units in expected.items()), (got, expected)
    else:
        assert got == expected, [line.explanation for line in result.lines]
