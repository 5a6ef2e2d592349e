"""Malformed encounters become contract error objects that name the field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


BIG = "9" * 100_000  # a 100 KB value: no message may echo it
NESTED = {"encounter_id": "inner", "claim_type": "institutional", "administrations": [dict(IV)] * 50}


@pytest.mark.parametrize(
    "body",
    [
        body_with(claim_type=BIG),
        body_with(claim_type=NESTED),
        body_with(claim_type=[NESTED] * 20),
        body_with(encounter_id=BIG),
        body_with(encounter_id=NESTED),
        body_with(policy=BIG),
        body_with(primary_administration=BIG),
        body_with(place_of_service=NESTED),
        body_with(a1_start=BIG),
        body_with(a1_start="2026-01-15T09:00" + BIG),
        body_with(a1_end="2026-01-15T10:00:00.000000+05:00" + BIG),
        body_with(a1_category=BIG),
        body_with(a1_route=BIG),
        body_with(a1_method=BIG),
        body_with(a1_pump=NESTED),
        body_with(a1_substance=BIG),
        body_with(a1_id=BIG),
        body_with(a1_dose=BIG),
        body_with(a1_volume_ml=int(BIG[:4000])),
        body_with(administrations=[NESTED] * 3),
    ],
)
def test_messages_never_echo_a_long_value(coder: Coder, body: dict[str, Any]) -> None:
    result = coder.code_record(body)
    assert isinstance(result, ErrorResult)
    text = result.model_dump_json()
    assert len(text) < 1000
    assert "9" * 100 not in text and "inner" not in text


def test_an_error_object_passed_through_is_capped_too(coder: Coder) -> None:
    result = coder.code_record({"encounter_id": "x", "error": {"message": BIG, "field": BIG}})
    assert isinstance(result, ErrorResult) and len(result.model_dump_json()) < 1000


def test_a_field_error_says_what_it_got_in_short(coder: Coder) -> None:
    result = coder.code_record(body_with(claim_type={"nested": "record"}))
    assert isinstance(result, ErrorResult)
    assert result.error.field == "claim_type" and "a JSON object" in result.error.message
    assert "nested" not in result.error.message


def test_the_library_never_raises_and_never_quotes_the_exception(
    coder: Coder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import infusion_coder.api as api

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("date value out of range for Jane Doe")

    monkeypatch.setattr(api, "code_encounter", broken)
    for call in (coder.code_record, coder.audit_record):
        result = call(body_with(billed_lines=[]))
        assert isinstance(result, ErrorResult) and result.encounter_id == "t"
        assert "OverflowError" in result.error.message and "Jane" not in result.error.message
        assert result.error.field is None


@pytest.mark.parametrize(
    "record", [None, 3, "text", [1], {"encounter_id": "\ud800"}, {1: 2}, {"error": None}]
)
def test_odd_records_are_error_objects(coder: Coder, record: Any) -> None:
    assert isinstance(coder.code_record(record), ErrorResult)


class BrokenMapping(Mapping[str, Any]):
    """A library caller's mapping that fails on every read."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("no")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("no")

    def __len__(self) -> int:
        return 1


def test_even_a_broken_mapping_gives_an_error_object(coder: Coder) -> None:
    result = coder.code_record(BrokenMapping())
    assert isinstance(result, ErrorResult) and "RuntimeError" in result.error.message
