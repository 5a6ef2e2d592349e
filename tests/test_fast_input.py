"""The input fast path (fast_input.py) against validation: whatever record it accepts, it builds the very
Encounter `Encounter.model_validate` builds (every field value with its type, the field sets, extras and
private state, nested models included); whatever validation refuses, it declines. And it does accept the
common record, or it would save nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from helpers import equivalence_script
from infusion_coder import Coder
from infusion_coder.fast_input import fast_encounter
from infusion_coder.formats import jsonio
from infusion_coder.models import Encounter

ROOT = Path(__file__).resolve().parent.parent


def _state(value: Any) -> Any:
    """Everything of a model a reader could see, with each leaf's type (1 and 1.0, an enum and its text,
    -0.0 and 0.0 differ)."""
    if isinstance(value, BaseModel):
        return (
            type(value).__name__,
            [(name, _state(item)) for name, item in value.__dict__.items()],
            sorted(value.__pydantic_fields_set__),
            _state(value.__pydantic_extra__),
            _state(value.__pydantic_private__),
        )
    if isinstance(value, list):
        return [_state(item) for item in value]
    if isinstance(value, dict):
        return [(key, _state(item)) for key, item in value.items()]
    return (type(value).__qualname__, repr(value))


def _validated(record: Any) -> Encounter | None:
    try:
        return Encounter.model_validate(copy.deepcopy(record))
    except ValidationError:
        return None


def _same(record: Any) -> bool:
    """Asserts the fast path agrees with validation on `record`; True when it accepted it."""
    fast = fast_encounter(copy.deepcopy(record))
    slow = _validated(record)
    if fast is None:
        return False
    assert slow is not None, f"accepted what validation refuses: {record!r}"[:600]
    assert _state(fast) == _state(slow), f"differs from validation: {record!r}"[:600]
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.time_frame == slow.time_frame and fast.time_notes == slow.time_notes
    return True


def test_agrees_with_validation_on_the_oracle_records() -> None:
    # the oracle's generator: time zones, offsets, synonyms, policies, billed lines, malformed records
    accepted = total = 0
    for origin, line, _audit in equivalence_script().records(1500, 2026, gold=True):
        item = jsonio.parse(line, origin)
        if item.problem is not None:
            continue
        total += 1
        accepted += _same(item.value)
    assert total > 1400
    # the common record (naive times, no zone, known fields) goes the fast way: most of them
    assert accepted > total * 0.6, (accepted, total)


def test_accepts_the_plain_examples_and_codes_them_the_same() -> None:
    coder = Coder.default()
    examples = sorted((ROOT / "src" / "infusion_coder" / "examples").glob("*.json"))
    accepted = 0
    for path in examples:
        record = json.loads(path.read_text())
        if _same(record):
            accepted += 1
            encounter = fast_encounter(record)
            assert encounter is not None
            plain = coder.code(Encounter.model_validate(record)).model_dump_json()
            assert coder.code(encounter).model_dump_json() == plain
    assert accepted >= len(examples) // 2


def test_declines_what_it_cannot_vouch_for() -> None:
    base: dict[str, Any] = {
        "encounter_id": "E1",
        "claim_type": "institutional",
        "administrations": [
            {"id": "a1", "substance": "ceftriaxone", "route": "intravenous", "start": "2026-01-05T10:00"}
        ],
    }
    assert fast_encounter(base) is not None
    converted = [
        {**base, "timezone": "America/Chicago"},  # times converted in the zone, as validation does
        {**base, "administrations": [{**base["administrations"][0], "start": "2026-01-05T10:00Z"}]},
        {**base, "administrations": [{**base["administrations"][0], "start": "2026-01-05 10:00-05:00"}]},
    ]
    for record in converted:
        assert _same(record)
    declined: list[Any] = [
        {**base, "timezone": "Not/AZone"},
        {**base, "note": "x"},  # an unknown field is kept as an extra
        {**base, "claim_type": "clinic"},
        {**base, "encounter_id": "   "},
        {**base, "administrations": [{**base["administrations"][0], "stop": "2026-01-05T11:00"}]},
        {**base, "administrations": [{**base["administrations"][0], "start": "2026-01-05T10:00:00.5"}]},
        {**base, "administrations": [{**base["administrations"][0], "start": None}]},
        {**base, "administrations": [{**base["administrations"][0], "substance": " ceftriaxone"}]},
        {**base, "administrations": [{**base["administrations"][0], "volume_ml": True}]},
        {**base, "administrations": [{**base["administrations"][0], "end": "2026-01-05T09:00"}]},
        {**base, "administrations": base["administrations"] * 2},  # the id twice
        {**base, "primary_administration": "a2"},
        "not an object",
    ]
    for record in declined:
        assert fast_encounter(record) is None, record
        assert _same(record) is False


_TEXTS = st.sampled_from(["", " ", "x", " x", "x ", "IV", "Intravenous ", "push", "PUSH", "none", "ivpb"])
_TIMES = st.sampled_from(
    [
        "2026-01-05T10:00",
        "2026-01-05 10:00",
        "2026-01-05T10:00:30",
        "2026-01-05T10:00Z",
        "2026-01-05T10:00-05:00",
        "2026-01-05T10:00:00.5",
        "2026-13-05T10:00",
        "1899-01-05T10:00",
        " 2026-01-05T10:00",
        "2026-01-05",
        "2026-01-20T09:00",
        "2026-04-01T09:00",
    ]
)
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 1.5, 1e9, 1e10, 100_000, 2**70, float("inf")]),
    _TEXTS,
    _TIMES,
    st.lists(_TEXTS, max_size=2),
)
_ADMIN_FIELDS = [
    "id",
    "substance",
    "category",
    "hormonal",
    "route",
    "method",
    "start",
    "end",
    "access",
    "separate_access_required",
    "mix",
    "pump",
    "purpose",
    "volume_ml",
    "rate_ml_per_hour",
    "dose",
    "wasted",
    "device",
    "home_pump",
    "indication",
]
_ENCOUNTER_FIELDS = [
    "encounter_id",
    "claim_type",
    "place_of_service",
    "policy",
    "primary_administration",
    "timezone",
    "evaluation_and_management",
    "billed_lines",
    "source_findings",
]


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    admins = []
    for index in range(draw(st.integers(1, 3))):
        admin: dict[str, Any] = {
            "id": f"a{index}",
            "substance": draw(st.sampled_from(["ondansetron", "normal saline", "cisplatin"])),
            "route": draw(st.sampled_from(["intravenous", "subcutaneous", "IV", "intramuscular"])),
            "start": "2026-01-05T10:00",
            "end": draw(st.sampled_from([None, "2026-01-05T10:10", "2026-01-05T11:30"])),
        }
        for name in draw(st.lists(st.sampled_from(_ADMIN_FIELDS), max_size=4)):
            admin[name] = draw(_VALUES)
        if draw(st.booleans()):
            admin.pop("end")
        admins.append(admin)
    record: dict[str, Any] = {"encounter_id": "E1", "claim_type": "professional", "administrations": admins}
    for name in draw(st.lists(st.sampled_from(_ENCOUNTER_FIELDS), max_size=3)):
        record[name] = draw(
            st.one_of(
                _VALUES,
                st.sampled_from(
                    [
                        {"code": "99284", "separately_identifiable": True},
                        {"code": " 99284"},
                        [{"code": "96365", "units": 2, "modifiers": ["59"], "date": "2026-01-05"}],
                        [{"code": "96365", "units": 0}],
                        [{"code": "96365", "date": "2026-1-5"}],
                        [{"id": "f", "severity": "warning", "administrations": ["a0"], "message": "m"}],
                        [{"id": "f", "severity": "Warning", "message": "m"}],
                        "a0",
                    ]
                ),
            )
        )
    return record


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_records())
def test_agrees_with_validation_on_odd_values(record: dict[str, Any]) -> None:
    _same(record)
