"""Malformed encounters become contract error objects that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import encounter
from infusion_coder import Coder, ErrorResult

IV = {"id": "a1", "substance": "vancomycin", "route": "intravenous", "start": "2026-01-15T09:00"}


def body_with(**changes: Any) -> dict[str, Any]:
    body = encounter([])
    body["administrations"] = [dict(IV)]
    for key, value in changes.items():
        if key.startswith("a1_"):
            body["administrations"][0][key[3:]] = value
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (body_with(claim_type="hospital"), "claim_type", "institutional"),
        (body_with(a1_start="yesterday at nine"), "administrations[0].start", "ISO 8601"),
        (body_with(a1_end="2026-01-15T08:00"), "administrations[0].end", "before start"),
        (body_with(a1_start=None), "administrations[0].start", "start time is required"),
        (body_with(a1_category="antibiotic"), "administrations[0].category", "antibiotic"),
        (body_with(a1_volume_ml=-5), "administrations[0].volume_ml", "greater than 0"),
        (body_with(primary_administration="zz"), "primary_administration", "names no administration"),
        (body_with(administrations="none"), "administrations", "list"),
        (body_with(policy="medicaid-tx"), "policy", "not a known profile"),
        ({"claim_type": "institutional", "administrations": []}, "encounter_id", "missing"),
    ],
)
def test_error_names_the_field(coder: Coder, body: dict[str, Any], field: str, words: str) -> None:
    result = coder.code_record(body)
    assert isinstance(result, ErrorResult)
    assert result.error.field == field
    assert words in result.error.message


def test_duplicate_ids_are_an_error(coder: Coder) -> None:
    body = body_with()
    body["administrations"].append(dict(IV))
    result = coder.code_record(body)
    assert isinstance(result, ErrorResult)
    assert result.error.field == "administrations[1].id"


def test_not_an_object(coder: Coder) -> None:
    result = coder.code_record(["not", "an", "encounter"])
    assert isinstance(result, ErrorResult) and result.encounter_id is None


def test_empty_administrations_is_a_valid_encounter(coder: Coder) -> None:
    result = coder.code_record(body_with(administrations=[]))
    assert not isinstance(result, ErrorResult)
    assert result.lines == []


def test_case_and_offsets_are_tolerated(coder: Coder) -> None:
    body = body_with(claim_type="Institutional", a1_route="IV", a1_end="2026-01-15T10:00:00-05:00")
    body["administrations"][0]["start"] = "2026-01-15T09:00:00-05:00"
    result = coder.code_record(body)
    assert not isinstance(result, ErrorResult)
    assert [line.code for line in result.lines] == ["96365"]
