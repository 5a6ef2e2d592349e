"""Policy-independent bounds (docs/robustness.md): counts, finite numbers, text lengths, exact ids, and
cost near linear in the number of administrations."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import encounter
from infusion_coder import Coder, CodingResult, ErrorResult
from infusion_coder.engine.intervals import Interval
from infusion_coder.models import MAX_ADMINISTRATIONS, MAX_TEXT, Encounter
from interval_reference import intersect, subtract

PUSH = {"substance": "ondansetron", "start": "09:00", "method": "push"}
DRIP = {"substance": "vancomycin", "start": "09:00", "end": "10:00"}


def error_of(coder: Coder, body: dict[str, Any]) -> ErrorResult:
    result = coder.code_record(body)
    assert isinstance(result, ErrorResult), result
    return result


def test_at_most_5000_administrations(coder: Coder) -> None:
    body = encounter([PUSH] * (MAX_ADMINISTRATIONS + 1))
    began = time.process_time()
    result = error_of(coder, body)
    assert time.process_time() - began < 0.5  # refused before the items are validated
    assert result.error.field == "administrations"
    assert "at most 5,000 administrations" in result.error.message


def test_5000_administrations_are_accepted() -> None:
    assert len(Encounter.model_validate(encounter([PUSH] * MAX_ADMINISTRATIONS)).administrations) == 5000


@pytest.mark.parametrize("field", ["dose", "wasted", "volume_ml", "rate_ml_per_hour"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1e308, 1e20])
def test_numbers_are_finite_and_sane(coder: Coder, field: str, value: float) -> None:
    result = error_of(coder, encounter([dict(DRIP, **{field: value})]))
    assert result.error.field == f"administrations[0].{field}"
    assert "finite" in result.error.message or "less than or equal" in result.error.message


@pytest.mark.parametrize("field", ["dose", "volume_ml", "rate_ml_per_hour"])
def test_ordinary_numbers_still_pass(coder: Coder, field: str) -> None:
    result = coder.code_record(encounter([dict(DRIP, **{field: 250.5})]))
    assert isinstance(result, CodingResult)


@pytest.mark.parametrize("policy", ["cms", "cms-derive"])
def test_a_derived_stop_over_14_days_is_not_derived_and_never_overflows(coder: Coder, policy: str) -> None:
    admin = {"substance": "vancomycin", "start": "09:00", "volume_ml": 100_000, "rate_ml_per_hour": 1e-300}
    result = coder.code_record(encounter([admin], policy=policy))
    assert isinstance(result, CodingResult)
    found = [f for f in result.findings if f.id == "stop-time-not-derivable"]
    assert found and "14 days" in found[0].message
    assert not [f for f in result.findings if f.id == "stop-time-derived"]


def test_a_derived_stop_within_14_days_is_still_derived(coder: Coder) -> None:
    admin = {"substance": "vancomycin", "start": "09:00", "volume_ml": 250, "rate_ml_per_hour": 250}
    result = coder.code_record(encounter([admin], policy="cms-derive"))
    assert isinstance(result, CodingResult)
    assert [f.id for f in result.findings if f.id.startswith("stop-time")] == ["stop-time-derived"]


@pytest.mark.parametrize("field", ["substance", "indication", "ndc", "access", "ordered_by"])
def test_free_text_is_capped(coder: Coder, field: str) -> None:
    result = error_of(coder, encounter([dict(DRIP, **{field: "x" * (MAX_TEXT + 1)})]))
    assert result.error.field == f"administrations[0].{field}"
    assert "at most 10000 characters" in result.error.message


def test_too_many_unknown_fields_are_refused(coder: Coder) -> None:
    body = encounter([DRIP], **{f"extra{i}": i for i in range(101)})
    assert "not in the contract" in error_of(coder, body).error.message


def test_ids_are_echoed_exactly(coder: Coder) -> None:
    body = encounter([PUSH, DRIP], encounter_id=" e 1 ")
    body["administrations"][0]["id"] = " a1 "
    body["administrations"][1]["id"] = "a1"
    result = coder.code_record(body)
    assert isinstance(result, CodingResult)
    assert result.encounter_id == " e 1 "
    assert {i for line in result.lines for i in line.administrations} == {" a1 ", "a1"}


def test_primary_administration_matches_exactly(coder: Coder) -> None:
    body = encounter([PUSH], claim_type="professional", primary_administration="a1 ")
    assert error_of(coder, body).error.field == "primary_administration"
    body["primary_administration"] = "a1"
    assert isinstance(coder.code_record(body), CodingResult)


@pytest.mark.parametrize("value", ["", "   ", True, 1.5, None, {"id": 1}, ["a"], 2**63, "x" * 201])
def test_bad_encounter_ids(coder: Coder, value: Any) -> None:
    result = error_of(coder, encounter([PUSH], encounter_id=value))
    assert result.error.field == "encounter_id"
    assert len(result.error.message) < 200


def test_integer_encounter_id_stays_an_integer(coder: Coder) -> None:
    result = coder.code_record(encounter([PUSH], encounter_id=12345))
    assert isinstance(result, CodingResult) and result.encounter_id == 12345
    assert result.model_dump(mode="json")["encounter_id"] == 12345
    failed = coder.code_record({"encounter_id": 7, "claim_type": "nope", "administrations": []})
    assert isinstance(failed, ErrorResult) and failed.encounter_id == 7


def test_blank_administration_id_is_refused(coder: Coder) -> None:
    body = encounter([PUSH])
    body["administrations"][0]["id"] = "  "
    assert error_of(coder, body).error.field == "administrations[0].id"


# --- interval subtraction is one sweep, and still right ---------------------------------------------------

T0 = datetime(2026, 1, 15)
intervals = st.lists(
    st.tuples(st.integers(0, 300), st.integers(-10, 60)).map(
        lambda p: (T0 + timedelta(minutes=p[0]), T0 + timedelta(minutes=p[0] + p[1]))
    ),
    max_size=8,
)


def covered(pieces: list[Interval], minute: int) -> bool:
    at = T0 + timedelta(minutes=minute, seconds=30)
    return any(start <= at < end for start, end in pieces)


@settings(max_examples=300, deadline=None)
@given(base=intervals, cut=intervals)
def test_subtract_is_base_minus_cut_minute_by_minute(base: list[Interval], cut: list[Interval]) -> None:
    result = subtract(base, cut)
    assert result == sorted(result)
    assert all(start < end for start, end in result)
    assert all(a[1] <= b[0] for a, b in pairwise(result))
    for minute in range(-1, 365):
        assert covered(result, minute) == (covered(base, minute) and not covered(cut, minute))


@settings(max_examples=300, deadline=None)
@given(base=intervals, other=intervals)
def test_intersect_is_base_less_what_other_leaves(base: list[Interval], other: list[Interval]) -> None:
    """One sweep gives the pieces the double subtraction gave (the definition it replaced), minute by minute
    what both cover."""
    result = intersect(base, other)
    assert result == subtract(base, subtract(base, other))
    for minute in range(-1, 365):
        assert covered(result, minute) == (covered(base, minute) and covered(other, minute))


# --- cost -----------------------------------------------------------------------------------------------


def crowded(size: int, accesses: bool = False) -> dict[str, Any]:
    """One drug pushed and infused over and over on one access (bolus folding and repeat pushes were
    quadratic), or on an access each (many lines on one date: the NCCI pair check was quadratic)."""
    admins = []
    for i in range(size):
        start = T0 + timedelta(minutes=7 * i if not accesses else i % 600)
        record: dict[str, Any] = {"id": f"a{i}", "substance": "ondansetron", "route": "intravenous"}
        record["start"] = start.isoformat()
        if i % 2:
            record["end"] = (start + timedelta(minutes=30)).isoformat()
        else:
            record["method"] = "push"
        if accesses:
            record["access"] = f"line {i}"
        admins.append(record)
    return {"encounter_id": "big", "claim_type": "institutional", "administrations": admins}


def cpu_seconds(coder: Coder, body: dict[str, Any]) -> float:
    best = math.inf
    for _ in range(2):
        began = time.process_time()
        coder.code_record(body)
        best = min(best, time.process_time() - began)
    return best


@pytest.mark.parametrize("accesses", [False, True])
def test_cost_is_near_linear_in_administrations(coder: Coder, accesses: bool) -> None:
    small, large = cpu_seconds(coder, crowded(250, accesses)), cpu_seconds(coder, crowded(2000, accesses))
    # 8 times the administrations: linear is 8x, quadratic 64x; allow for noise and n log n
    assert large / small < 20, (small, large)


def test_long_texts_of_the_record_are_quoted_short_in_every_explanation(coder: Coder) -> None:
    """A name or reason of MAX_TEXT characters is quoted at most NAME_LIMIT characters (a reason: an
    excerpt) in any line, drug line or finding, however many findings quote it."""
    from infusion_coder.names import NAME_LIMIT

    long = "ondansetron " + "x" * (MAX_TEXT - 12)
    admins = [
        {**PUSH, "substance": long, "route": "intravenous " + "y" * 5000, "access": "z" * 5000},
        {
            "substance": "normal saline " + "w" * 5000,
            "start": "09:00",
            "end": "11:00",
            "category": "hydration",
            "indication": "dehydration " + "v" * 5000,
        },
        {"substance": "mystery " + "u" * 5000, "start": "10:00", "method": "push", "mix": "m" * 5000},
        {"substance": "mystery " + "u" * 5000, "start": "10:00", "method": "push", "mix": "m" * 5000},
    ]
    result = coder.code_record(encounter(admins))
    texts = [f.message for f in result.findings] + [line.explanation for line in result.lines]
    texts += [line.explanation for line in result.drug_lines]
    assert texts and result.findings
    for text in texts:
        for letter in "xyzwvum":
            assert letter * (NAME_LIMIT + 1) not in text, text[:200]
