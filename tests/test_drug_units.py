"""Drug unit arithmetic of IC701, checked against rules.md R6.3-R6.4."""

from __future__ import annotations

import pytest

from infusion_coder.rules.ic701_drug_lines import billing_units, discarded_units, in_base, parse_amount


def test_t12_seventy_of_a_hundred_is_one_unit_and_no_jw() -> None:
    assert billing_units(70, 100) == 1
    assert discarded_units(70, 30, 100) == 0


@pytest.mark.parametrize(
    ("given", "wasted", "unit", "units", "jw"),
    [
        (170, 30, 10, 17, 3),
        (175, 25, 10, 18, 2),
        (4, 0, 1, 4, 0),
        (250, 250, 500, 1, 0),
        (0.25, 0, 0.025, 10, 0),
    ],
)
def test_units_round_up_once_and_jw_only_beyond(
    given: float, wasted: float, unit: float, units: int, jw: int
) -> None:
    assert billing_units(given, unit) == units
    assert discarded_units(given, wasted, unit) == jw


@pytest.mark.parametrize(
    ("text", "parsed", "base"),
    [
        ("ondansetron 4 mg", (4.0, "mg"), ("mass", 4.0)),
        ("ceftriaxone 1 g", (1.0, "g"), ("mass", 1000.0)),
        ("up to 1000 mcg", (1000.0, "mcg"), ("mass", 1.0)),
        ("potassium 20 mEq", (20.0, "meq"), ("meq", 20.0)),
        ("interferon 1 million units", (1.0, "million units"), ("units", 1_000_000.0)),
        ("cisplatin 75 mg/m2", (75.0, "mg/m2"), None),
    ],
)
def test_amounts_parse_and_convert(
    text: str, parsed: tuple[float, str], base: tuple[str, float] | None
) -> None:
    assert parse_amount(text) == parsed
    assert in_base(*parsed) == base
