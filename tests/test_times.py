"""Times with offsets, facility zones and daylight-saving changes (times.py, IC212), and the intervals each
line counted."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from helpers import encounter
from infusion_coder import Coder, Encounter
from infusion_coder.models import ErrorResult


def _code(coder: Coder, record: dict[str, Any]) -> Any:
    result = coder.code_record(record)
    assert not isinstance(result, ErrorResult), result
    return result


def test_local_date_of_a_utc_time(coder: Coder) -> None:
    record = encounter(
        [{"substance": "vancomycin 1 g", "start": "2026-01-16T03:00Z", "end": "2026-01-16T04:00Z"}],
        timezone="America/Chicago",
    )
    line = _code(coder, record).lines[0]
    assert line.date == date(2026, 1, 15)  # 21:00 in Chicago
    assert line.intervals[0].start.isoformat() == "2026-01-15T21:00:00-06:00"


def test_units_after_midnight_carry_the_local_date(coder: Coder) -> None:
    record = encounter(
        [{"substance": "vancomycin 1 g", "start": "2026-01-15T23:30Z", "end": "2026-01-16T06:50Z"}],
        timezone="America/Chicago",
    )
    lines = _code(coder, record).lines
    by_date = {(line.code, line.date): line.units for line in lines}
    # 17:30-00:50 local: the sixth added hour is earned at minute 391, 00:01 on the 16th
    assert by_date == {
        ("96365", date(2026, 1, 15)): 1,
        ("96366", date(2026, 1, 15)): 5,
        ("96366", date(2026, 1, 16)): 1,
    }


def test_naive_times_are_local_to_the_zone(coder: Coder) -> None:
    naive = encounter(
        [{"substance": "vancomycin 1 g", "start": "10:00", "end": "11:40"}], timezone="Europe/Paris"
    )
    line = _code(coder, naive).lines[0]
    assert line.intervals[0].start.isoformat() == "2026-01-15T10:00:00+01:00"


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("start", 1700000000, "not a number"),
        ("start", "2026-13-01T10:00", "not a valid date-time"),
        ("end", "9999-12-31T23:59", "plausible dates"),
        ("end", "2026-01-30T10:00", "more than the 14"),
        ("end", "2026-01-14T10:00", "before start time"),
    ],
)
def test_bad_times_are_error_objects_naming_the_field(
    coder: Coder, field: str, value: Any, needle: str
) -> None:
    record = encounter([{"substance": "vancomycin", "start": "10:00", "end": "11:00"}])
    record["administrations"][0][field] = value
    result = coder.code_record(record)
    assert isinstance(result, ErrorResult)
    assert result.error.field == f"administrations[0].{field}"
    assert needle in result.error.message


def test_encounter_span_is_bounded(coder: Coder) -> None:
    record = encounter(
        [
            {"substance": "ondansetron", "start": "2026-01-01T10:00", "end": "2026-01-01T10:02"},
            {"substance": "ondansetron", "start": "2026-03-15T10:00", "end": "2026-03-15T10:02"},
        ]
    )
    result = coder.code_record(record)
    assert isinstance(result, ErrorResult)
    assert result.error.field == "administrations"


def test_unknown_zone_is_an_error(coder: Coder) -> None:
    result = coder.code_record(encounter([], timezone="Mars/Olympus_Mons"))
    assert isinstance(result, ErrorResult)
    assert result.error.field == "timezone"


def test_ambiguous_and_skipped_local_times_are_flagged(coder: Coder) -> None:
    record = encounter(
        [
            {"substance": "ondansetron", "start": "2026-11-01T01:30", "end": "2026-11-01T01:32"},
            {"substance": "ketorolac", "start": "2026-03-08T02:30", "end": "2026-03-08T02:32"},
        ],
        timezone="America/New_York",
    )
    # two dates 8 months apart would break the encounter span: check each alone
    for admin in record["administrations"]:
        one = {**record, "administrations": [admin]}
        found = {f.id for f in _code(coder, one).findings}
        assert found & {"ambiguous-local-time", "nonexistent-local-time"}


def test_every_line_lists_the_time_it_counted(coder: Coder) -> None:
    record = encounter(
        [
            {"substance": "normal saline", "category": "hydration", "start": "09:00", "end": "12:00"},
            {"substance": "ondansetron 4 mg", "method": "push", "start": "09:30", "end": "09:32"},
            {"substance": "ceftriaxone 1 g", "start": "10:00", "end": "10:40"},
        ]
    )
    result = _code(coder, record)
    shown = {
        line.code: [(i.start.strftime("%H:%M"), i.end.strftime("%H:%M")) for i in line.intervals]
        for line in result.lines
    }
    assert shown["96365"] == [("10:00", "10:40")]
    assert shown["96375"] == [("09:30", "09:32")]
    # hydration counts only what no other service took
    assert shown["96361"] == [("09:00", "09:30"), ("09:32", "10:00"), ("10:40", "12:00")]
    assert Encounter.model_validate(record).time_frame.zone is None


def test_explanations_show_the_wall_clock_after_a_daylight_saving_change(coder: Coder) -> None:
    # Clocks go back at 02:00 on 2026-11-01 in New York: 00:30-03:30 is 240 real minutes, and the push at
    # 03:00 (EST) is 04:00 on the evening's first offset (EDT): the explanation must say 03:00, as charted.
    record = encounter(
        [
            {"substance": "normal saline", "category": "hydration", "start": "2026-11-01T00:30"},
            {"substance": "ondansetron", "method": "push", "start": "2026-11-01T03:00"},
        ],
        timezone="America/New_York",
    )
    record["administrations"][0]["end"] = "2026-11-01T03:30"
    result = _code(coder, record)
    push = next(line for line in result.lines if line.code == "96374")
    assert "at 03:00" in push.explanation and "04:00" not in push.explanation
    hydration = next(line for line in result.lines if line.code == "96361")
    assert hydration.units == 4 and "240 minutes" in hydration.explanation
    assert [(i.start.isoformat(), i.end.isoformat()) for i in push.intervals] == [
        ("2026-11-01T03:00:00-05:00", "2026-11-01T03:00:00-05:00")
    ]
