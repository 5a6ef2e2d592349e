"""Properties that hold for every encounter, checked on generated ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import grouped
from infusion_coder import Coder, CodingResult, Encounter

BASE = datetime(2026, 1, 15, 8, 0)
SUBSTANCES = {
    "therapeutic": ["ondansetron", "ceftriaxone", "vancomycin", "famotidine"],
    "chemotherapy": ["cisplatin", "oxaliplatin", "fluorouracil"],
    "hydration": ["normal saline"],
}
INITIAL_CODES = {"96360", "96365", "96374", "96409", "96413"}
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def administrations(draw: st.DrawFn, index: int) -> dict[str, Any]:
    category = draw(st.sampled_from(sorted(SUBSTANCES)))
    route = draw(st.sampled_from(["intravenous"] * 6 + ["intramuscular", "subcutaneous"]))
    start = BASE + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    duration = draw(st.one_of(st.none(), st.integers(0, 400)))
    record: dict[str, Any] = {
        "id": f"a{index}",
        "substance": draw(st.sampled_from(SUBSTANCES[category])),
        "category": category,
        "route": route,
        "method": draw(st.sampled_from([None, "push", "infusion"])),
        "start": start.isoformat(timespec="minutes"),
        "access": draw(st.sampled_from([None, None, "line A", "line B"])),
        "separate_access_required": draw(st.sampled_from([None, None, True, False])),
    }
    if duration is not None:
        record["end"] = (start + timedelta(minutes=duration)).isoformat(timespec="minutes")
    if draw(st.integers(0, 9)) == 0:
        record["pump"] = "portable"
    return record


@st.composite
def encounters(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 6))
    admins = [draw(administrations(i)) for i in range(1, count + 1)]
    claim = draw(st.sampled_from(["institutional", "professional"]))
    body: dict[str, Any] = {
        "encounter_id": "p",
        "claim_type": claim,
        "policy": draw(st.sampled_from(["cms", "cpt"])),
        "administrations": admins,
    }
    if claim == "professional" and draw(st.booleans()):
        body["primary_administration"] = draw(st.sampled_from([a["id"] for a in admins]))
    if claim == "professional":
        body["place_of_service"] = draw(st.sampled_from(["11", "11", "22", "23"]))
    return body


def run(coder: Coder, body: dict[str, Any]) -> CodingResult:
    return coder.code(Encounter.model_validate(body))


@PROPERTY_SETTINGS
@given(body=encounters(), seed=st.randoms())
def test_order_of_administrations_never_changes_the_result(
    coder: Coder, body: dict[str, Any], seed: Any
) -> None:
    shuffled = dict(body, administrations=list(body["administrations"]))
    seed.shuffle(shuffled["administrations"])
    assert run(coder, body).model_dump() == run(coder, shuffled).model_dump()


@PROPERTY_SETTINGS
@given(body=encounters())
def test_every_administration_ends_in_a_line_or_a_finding(coder: Coder, body: dict[str, Any]) -> None:
    result = run(coder, body)
    accounted = {i for line in result.lines for i in line.administrations}
    accounted |= {i for finding in result.findings for i in finding.administrations}
    assert {a["id"] for a in body["administrations"]} <= accounted


@PROPERTY_SETTINGS
@given(body=encounters())
def test_every_add_on_sits_with_a_primary_that_may_carry_it(coder: Coder, body: dict[str, Any]) -> None:
    codes = coder.reference.latest.codes
    result = run(coder, body)
    present = {line.code for line in result.lines}
    for line in result.lines:
        if codes.is_addon(line.code):
            assert present & set(codes[line.code].addon_primaries), (line.code, sorted(present))


@PROPERTY_SETTINGS
@given(body=encounters())
def test_one_initial_per_access_unless_a_second_access_is_documented(
    coder: Coder, body: dict[str, Any]
) -> None:
    result = run(coder, body)
    per_date = body["policy"] == "cpt"
    plain: dict[Any, int] = {}
    for line in result.lines:
        if line.code in INITIAL_CODES:
            key = line.date if per_date else "encounter"
            if line.modifiers:
                accesses = {a.get("access") for a in body["administrations"]}
                assert len(accesses) > 1, "a modifier on an initial service needs a second access"
                if body["claim_type"] == "professional":
                    assert any(a.get("separate_access_required") for a in body["administrations"])
            else:
                plain[key] = plain.get(key, 0) + 1
    assert all(count <= 1 for count in plain.values()), plain


@PROPERTY_SETTINGS
@given(body=encounters())
def test_professional_claims_carry_no_facility_only_code(coder: Coder, body: dict[str, Any]) -> None:
    codes = coder.reference.latest.codes
    result = run(coder, body)
    if body["claim_type"] == "professional":
        assert not [
            line.code
            for line in result.lines
            if codes[line.code].facility_only or codes[line.code].institutional_only
        ]
        if body.get("place_of_service") in codes.physician_facility_pos:
            assert all(codes[line.code].physician_in_facility for line in result.lines)


def _units_of(result: CodingResult, admin_id: str) -> int:
    return sum(line.units for line in result.lines if admin_id in line.administrations)


@PROPERTY_SETTINGS
@given(body=encounters(), which=st.integers(0, 5), later=st.integers(1, 240))
def test_units_never_fall_as_a_stop_time_moves_later(
    coder: Coder, body: dict[str, Any], which: int, later: int
) -> None:
    admin = body["administrations"][which % len(body["administrations"])]
    if "end" not in admin or admin.get("pump"):
        # Pump infusions over 8 hours become one prolonged-infusion start by design (rules.md R2.8).
        return
    before = _units_of(run(coder, body), admin["id"])
    moved = datetime.fromisoformat(admin["end"]) + timedelta(minutes=later)
    longer = dict(
        body,
        administrations=[
            dict(a, end=moved.isoformat()) if a is admin else a for a in body["administrations"]
        ],
    )
    assert _units_of(run(coder, longer), admin["id"]) >= before


# The time rules of rules.md R2.2-R2.5, written out as tables rather than formulas.
def expected_single(category: str, minutes: int) -> dict[str, int]:
    if category == "hydration":
        if minutes <= 30:
            return {}
        added = 0 if minutes <= 90 else 1 + (minutes - 91) // 60
        return {"96360": 1, **({"96361": added} if added else {})}
    push, first, hour = (
        ("96409", "96413", "96415") if category == "chemotherapy" else ("96374", "96365", "96366")
    )
    if minutes <= 15:
        return {push: 1}
    added = 0 if minutes <= 90 else 1 + (minutes - 91) // 60
    return {first: 1, **({hour: added} if added else {})}


@pytest.mark.parametrize("category", ["therapeutic", "chemotherapy", "hydration"])
@pytest.mark.parametrize("claim", ["institutional", "professional"])
def test_a_single_administration_follows_the_time_rules_at_every_minute(
    coder: Coder, category: str, claim: str
) -> None:
    for minutes in range(1, 601):
        end = BASE + timedelta(minutes=minutes)
        body = {
            "encounter_id": f"m{minutes}",
            "claim_type": claim,
            "administrations": [
                {
                    "id": "a1",
                    "substance": SUBSTANCES[category][0],
                    "category": category,
                    "route": "intravenous",
                    "start": BASE.isoformat(),
                    "end": end.isoformat(),
                }
            ],
        }
        assert grouped(run(coder, body).lines) == expected_single(category, minutes), minutes


def test_secondary_hydration_units_at_every_minute(coder: Coder) -> None:
    for minutes in range(1, 301):
        body = {
            "encounter_id": "h",
            "claim_type": "institutional",
            "administrations": [
                {
                    "id": "p",
                    "substance": "ondansetron",
                    "route": "intravenous",
                    "method": "push",
                    "start": "2026-01-15T07:50",
                },
                {
                    "id": "h",
                    "substance": "normal saline",
                    "route": "intravenous",
                    "start": BASE.isoformat(),
                    "end": (BASE + timedelta(minutes=minutes)).isoformat(),
                },
            ],
        }
        units = 0 if minutes < 31 else 1 + (minutes - 31) // 60
        expected = {"96374": 1, **({"96361": units} if units else {})}
        assert grouped(run(coder, body).lines) == expected, minutes


# --- segments: a paused and restarted administration (models.Administration.segments) -----------------


@st.composite
def stretches(draw: st.DrawFn) -> list[tuple[datetime, datetime]]:
    """1-5 stretches with pauses between them, all on the first day."""
    count = draw(st.integers(1, 5))
    moment = BASE + timedelta(minutes=draw(st.integers(0, 120)))
    found = []
    for number in range(count):
        if number:
            moment += timedelta(minutes=draw(st.integers(1, 90)))  # the pause
        length = draw(st.integers(1, 150))
        found.append((moment, moment + timedelta(minutes=length)))
        moment += timedelta(minutes=length)
    return found


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


@PROPERTY_SETTINGS
@given(
    pieces=stretches(),
    category=st.sampled_from(sorted(SUBSTANCES)),
    claim=st.sampled_from(["institutional", "professional"]),
    pushed=st.booleans(),
)
def test_segments_code_the_units_of_their_minutes_run_in_one_stretch(
    coder: Coder, pieces: list[tuple[datetime, datetime]], category: str, claim: str, pushed: bool
) -> None:
    """A lone administration paused and restarted codes what the same minutes, unpaused, would code (its
    time is the segments' minutes, IC203/IC204), beside a push or alone."""
    total = sum(int((end - start).total_seconds() // 60) for start, end in pieces)
    drug = {"id": "a", "substance": SUBSTANCES[category][0], "category": category, "route": "intravenous"}
    paused = dict(drug, segments=[{"start": iso(s), "end": iso(e)} for s, e in pieces])
    whole = dict(drug, start=iso(pieces[0][0]), end=iso(pieces[0][0] + timedelta(minutes=total)))
    push = {"id": "p", "substance": "ondansetron", "route": "intravenous", "method": "push"}
    push["start"] = iso(BASE - timedelta(minutes=30))
    others = [push] if pushed else []
    body = {"encounter_id": "s", "claim_type": claim, "administrations": [paused, *others]}
    same = {"encounter_id": "s", "claim_type": claim, "administrations": [whole, *others]}
    segmented, unpaused = run(coder, body), run(coder, same)
    assert grouped(segmented.lines) == grouped(unpaused.lines)
    timed = [line for line in segmented.lines if "a" in line.administrations and line.minutes is not None]
    assert all(line.minutes == total for line in timed if line.code not in ("96374", "96375"))


@PROPERTY_SETTINGS
@given(pieces=stretches(), category=st.sampled_from(["hydration", "therapeutic", "chemotherapy"]))
def test_segments_code_as_the_same_stretches_charted_as_bags_of_one_drug(
    coder: Coder, pieces: list[tuple[datetime, datetime]], category: str
) -> None:
    """Where IC406 adds one drug's bags on a date (and hydration counts its own minutes, IC204), the
    stretches as segments of one administration and as separate bags code the same units; the segmented
    one is one administration, so the bags' own findings (same-drug-bags-added) are not there."""
    long = [(s, e) for s, e in pieces if e - s > timedelta(minutes=15)]  # shorter bags would be pushes
    drug = {"substance": SUBSTANCES[category][0], "category": category, "route": "intravenous"}
    paused = dict(drug, id="a", segments=[{"start": iso(s), "end": iso(e)} for s, e in long])
    bags = [dict(drug, id=f"b{i}", start=iso(s), end=iso(e)) for i, (s, e) in enumerate(long)]
    if not long:
        return
    one = run(coder, {"encounter_id": "s", "claim_type": "institutional", "administrations": [paused]})
    many = run(coder, {"encounter_id": "s", "claim_type": "institutional", "administrations": bags})
    assert grouped(one.lines) == grouped(many.lines)
    assert "same-drug-bags-added" not in {f.id for f in one.findings}


@st.composite
def encounters_with_segments(draw: st.DrawFn) -> dict[str, Any]:
    """The generated encounters, with some timed administrations paused and restarted."""
    body = draw(encounters())
    admins = []
    for admin in body["administrations"]:
        start, end = datetime.fromisoformat(admin["start"]), admin.get("end")
        span = int((datetime.fromisoformat(end) - start).total_seconds() // 60) if end else 0
        if span >= 3 and draw(st.booleans()):
            pauses = draw(st.integers(1, min(3, (span - 1) // 2)))
            cuts = sorted(draw(st.sets(st.integers(1, span - 1), min_size=2 * pauses, max_size=2 * pauses)))
            edges = [start, *(start + timedelta(minutes=m) for m in cuts), datetime.fromisoformat(end)]
            kept = list(zip(edges[0::2], edges[1::2], strict=True))  # run, pause, run, ..., run
            admin = {k: v for k, v in admin.items() if k not in ("start", "end")}
            admin["segments"] = [{"start": iso(s), "end": iso(e)} for s, e in kept]
        admins.append(admin)
    return dict(body, administrations=admins)


@PROPERTY_SETTINGS
@given(body=encounters_with_segments(), seed=st.randoms())
def test_with_segments_every_administration_ends_in_a_line_or_a_finding_in_any_order(
    coder: Coder, body: dict[str, Any], seed: Any
) -> None:
    result = run(coder, body)
    accounted = {i for line in result.lines for i in line.administrations}
    accounted |= {i for finding in result.findings for i in finding.administrations}
    assert {a["id"] for a in body["administrations"]} <= accounted
    shuffled = dict(body, administrations=list(body["administrations"]))
    seed.shuffle(shuffled["administrations"])
    assert run(coder, shuffled).model_dump() == result.model_dump()
    codes = coder.reference.latest.codes
    present = {line.code for line in result.lines}
    for line in result.lines:
        if codes.is_addon(line.code):
            assert present & set(codes[line.code].addon_primaries), (line.code, sorted(present))
