"""The contract's `segments` (models.Administration.segments): a paused and restarted administration is
one administration whose segments are the stretches it ran. Validation here; the coding in the rule cases
(IC201, IC204, IC402, IC405, IC406) and the properties (test_properties.py); the MAR fold in test_mar.py."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import encounter, grouped
from infusion_coder import Coder, Encounter
from infusion_coder.models import MAX_ENCOUNTER_SEGMENTS, MAX_SEGMENTS


def seg(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"start": start, "end": end} for start, end in pairs]


def paused(**fields: Any) -> dict[str, Any]:
    return encounter(
        [{"substance": "vancomycin", "segments": seg(("10:00", "10:40"), ("11:00", "11:30")), **fields}]
    )


def error_of(coder: Coder, record: dict[str, Any]) -> tuple[str, str | None]:
    result = coder.code_record(record)
    assert hasattr(result, "error"), result
    return result.error.message, result.error.field


def test_start_and_end_are_taken_from_the_segments() -> None:
    admin = Encounter.model_validate(paused()).administrations[0]
    assert (admin.start.isoformat(), admin.end.isoformat()) == ("2026-01-15T10:00:00", "2026-01-15T11:30:00")
    assert [(s.start.minute, s.end.minute) for s in admin.segments or []] == [(0, 40), (0, 30)]


def test_given_start_and_end_must_be_the_first_and_last_segments(coder: Coder) -> None:
    assert "lines" in coder.code_record(paused(start="10:00", end="11:30")).model_dump()
    message, field = error_of(coder, paused(start="09:55"))
    assert field == "administrations[0].start" and "first segment's start" in message
    message, field = error_of(coder, paused(end="11:45"))
    assert field == "administrations[0].end" and "last segment's end" in message


@pytest.mark.parametrize(
    ("pieces", "field", "words"),
    [
        ((("10:00", "10:40"), ("10:30", "11:30")), "segments[1].start", "before segment 1 ends"),
        ((("11:00", "11:30"), ("10:00", "10:40")), "segments[1].start", "in order"),
        ((("10:40", "10:00"),), "segments[0].end", "before it starts"),
    ],
)
def test_segments_in_order_without_overlap(
    coder: Coder, pieces: tuple[tuple[str, str], ...], field: str, words: str
) -> None:
    record = encounter([{"substance": "vancomycin", "segments": seg(*pieces)}])
    message, found = error_of(coder, record)
    assert found == f"administrations[0].{field}" and words in message


def test_a_misnamed_or_missing_segment_time_is_refused(coder: Coder) -> None:
    record = encounter([{"substance": "vancomycin", "segments": [{"start": "10:00", "stop": "10:40"}]}])
    message, field = error_of(coder, record)
    assert field == "administrations[0].segments[0].end" and "missing" in message
    _message, field = error_of(coder, encounter([{"substance": "vancomycin", "segments": []}]))
    assert field == "administrations[0].segments"


def test_bounds_on_segments(coder: Coder) -> None:
    many = [{"start": "10:00", "end": "10:00"}] * (MAX_SEGMENTS + 1)
    message, field = error_of(coder, encounter([{"substance": "vancomycin", "segments": many}]))
    assert field == "administrations[0].segments" and f"at most {MAX_SEGMENTS}" in message
    admins = [{"substance": "vancomycin", "segments": [{"start": "10:00", "end": "10:00"}] * 100}] * (
        MAX_ENCOUNTER_SEGMENTS // 100 + 1
    )
    message, field = error_of(coder, encounter(admins))
    assert field == "administrations" and f"at most {MAX_ENCOUNTER_SEGMENTS:,} segments" in message


def test_segment_times_are_converted_like_start_and_end(coder: Coder) -> None:
    record = {
        "encounter_id": "z",
        "claim_type": "institutional",
        "timezone": "America/Chicago",
        "administrations": [
            {
                "id": "a",
                "substance": "vancomycin",
                "route": "intravenous",
                "segments": [
                    {"start": "2026-01-15T16:00:00Z", "end": "2026-01-15T16:40:00Z"},
                    {"start": "2026-01-15T11:00-06:00", "end": "2026-01-15T11:30"},
                ],
            }
        ],
    }
    result = coder.code(Encounter.model_validate(record))
    assert grouped(result.lines) == {"96365": 1}
    (line,) = result.lines
    assert line.minutes == 70 and "10:00-10:40, 11:00-11:30" in line.explanation
    assert [(i.start.isoformat(), i.end.isoformat()) for i in line.intervals] == [
        ("2026-01-15T10:00:00-06:00", "2026-01-15T10:40:00-06:00"),
        ("2026-01-15T11:00:00-06:00", "2026-01-15T11:30:00-06:00"),
    ]


def test_findings_name_the_paused_administration_once(coder: Coder) -> None:
    two = encounter(
        [
            {"substance": "normal saline", "start": "09:00", "end": "09:40"},
            {"substance": "normal saline", "start": "10:30", "end": "11:00"},
        ]
    )
    one = encounter([{"substance": "normal saline", "segments": seg(("09:00", "09:40"), ("10:30", "11:00"))}])
    for_two = coder.code(Encounter.model_validate(two))
    for_one = coder.code(Encounter.model_validate(one))
    assert grouped(for_one.lines) == grouped(for_two.lines) == {"96360": 1}
    necessity = [f for f in for_one.findings if f.id == "hydration-necessity-unstated"]
    assert [f.administrations for f in necessity] == [["a1"]]
    assert len([f for f in for_two.findings if f.id == "hydration-necessity-unstated"]) == 2


def test_what_would_change_counts_the_segments(coder: Coder) -> None:
    record = encounter([{"substance": "vancomycin", "segments": seg(("10:00", "10:40"), ("11:00", "11:45"))}])
    result = coder.code(Encounter.model_validate(record))
    hint = next(f for f in result.findings if f.id == "what-would-change")
    assert "10:00-10:40, 11:00-11:45 (85 minutes)" in hint.message  # 91 would add an hour
    assert "at or after 11:51" in hint.message


def test_a_mixed_bag_with_a_paused_member_runs_when_its_members_ran(coder: Coder) -> None:
    record = encounter(
        [
            {
                "substance": "cisplatin",
                "mix": "bag1",
                "segments": seg(("10:00", "10:40"), ("11:00", "11:30")),
            },
            {
                "substance": "normal saline",
                "mix": "bag1",
                "segments": seg(("10:00", "10:40"), ("11:00", "11:30")),
            },
        ]
    )
    result = coder.code(Encounter.model_validate(record))
    assert grouped(result.lines) == {"96413": 1}
    assert result.lines[0].minutes == 70
