"""The pure core: `code_encounter(encounter, reference)` -> CodingResult. No I/O, no clock, no globals."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from operator import itemgetter
from typing import Final

from ..models import (
    Administration,
    CodingResult,
    Encounter,
    EvaluationAndManagement,
    Readiness,
    Severity,
    excerpt,
)
from ..reference import Policy, ReferenceLibrary, ReferencePack
from ..rules import (
    ic206_injection,
    ic211_midnight_dating,
    ic212_time_zones,
    ic302_primary_reason,
    ic304_initial_scope,
    ic402_concurrent_infusion,
    ic501_physician_in_facility,
    ic502_addon_needs_primary,
    ic503_em_with_administration,
    ic504_record_hygiene,
    ic505_source_records,
)
from ..times import TimeFrame
from .context import Context
from .documentation import check_documentation, labeled_hydration
from .drugs import drug_lines
from .edits import check_edits, place_distinct_modifiers
from .intervals import minutes, union
from .output import Coded, PlainFinding, PlainLine, Span
from .prepare import prepare
from .scopes import build_scopes
from .services import Service, Unit
from .standalone import code_standalone
from .timeline import code_scope

_SEVERITY_ORDER: Final = {"error": 0, "warning": 1, "info": 2}
# A line's place: the main initial service, the named primary's, initials, then by time, code and ids.
_LineOrder = tuple[bool, bool, bool, datetime, str, tuple[str, ...]]
_ORDER: Final = itemgetter(0)  # made once: a call of the type each time costs more than the sort


class UnknownPolicyError(ValueError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"policy {excerpt(name)} is not a known profile; known: {', '.join(known)}")
        self.name = name


def first_service_date(encounter: Encounter) -> date | None:
    return _first_service_date(encounter.administrations, encounter.time_frame)


def _first_service_date(administrations: list[Administration], frame: TimeFrame) -> date | None:
    # one pass, each start read once (a record's field is a slow lookup); the first of equal starts wins, as min()
    first: datetime | None = None
    for admin in administrations:
        start = admin.start
        if start is not None and (first is None or start < first):
            first = start
    return None if first is None else frame.local(first).date()


def resolve_policy(pack: ReferencePack, name: str) -> Policy:
    if name not in pack.policies:
        raise UnknownPolicyError(name, sorted(pack.policies))
    return pack.policies[name]


def code_encounter(
    encounter: Encounter, reference: ReferenceLibrary, *, policy: str | None = None
) -> CodingResult:
    """Code one encounter. `policy` overrides the encounter's own `policy` field."""
    return code_plain(encounter, reference, policy=policy).model()


def code_plain(encounter: Encounter, reference: ReferenceLibrary, *, policy: str | None = None) -> Coded:
    """code_encounter's result as plain objects (engine/output.py), for a writer that needs no models."""
    # read once, here and for the context: each attribute read of a pydantic model passes its __getattr__ hook
    fields = encounter.__dict__
    frame = encounter.time_frame
    when = _first_service_date(fields["administrations"], frame)
    pack = reference.for_date(when)
    ctx = Context(encounter, pack, resolve_policy(pack, policy or fields["policy"]), frame, fields)
    if when is not None and when < pack.effective_from:
        ctx.find(
            ic504_record_hygiene.RULE,
            "reference-data-predates",
            "warning",
            [],
            f"Date of service {when} is before reference data {pack.version} (effective {pack.effective_from}); "
            "codes were checked against it all the same.",
        )
    for time_note in encounter.time_notes:
        severity: Severity = "warning" if time_note.severity == "warning" else "info"
        ctx.find(ic212_time_zones.RULE, time_note.id, severity, list(time_note.ids), time_note.message)
    for note in encounter.source_findings:  # so read: cli/finding_ids.py knows the pass-through by it
        where = f" ({note.source})" if note.source else ""
        ctx.find(
            ic505_source_records.RULE, note.id, note.severity, note.administrations, note.message + where
        )
    services = prepare(ctx)
    _report_missing_primary(ctx, services)
    units: list[Unit] = []
    for scope in build_scopes(ctx, services):
        units.extend(code_scope(ctx, scope))
    units.extend(code_standalone(ctx, services, has_other_services=bool(units)))
    _report_midnight(ctx, services)
    units = _allowed_addons(ctx, units)
    place_distinct_modifiers(ctx, units)
    lines = _lines(ctx, units)
    lines = _physician_in_facility(ctx, lines)
    lines = _distinct_injections(ctx, lines)
    lines = labeled_hydration(ctx, lines)
    lines = _addons_need_primaries(ctx, lines)
    _em_checks(ctx, lines)
    check_documentation(ctx, lines)
    check_edits(ctx, lines)  # mark_distinct_sites, then apply_edits
    supplies = drug_lines(ctx, lines)
    if any(line.date is None for line in lines):
        ctx.find(
            ic504_record_hygiene.RULE,
            "no-date-of-service",
            "warning",
            sorted({i for line in lines if line.date is None for i in line.administrations}),
            "No administration time is documented, so these lines carry no date of service; add the date given.",
            denial_risk="CO-16",
        )
    findings = ctx.findings
    findings.sort(key=_finding_order)
    return Coded(
        fields["encounter_id"], lines, findings, ctx.policy.name, pack.version, _readiness(findings), supplies
    )


def _finding_order(f: PlainFinding) -> tuple[int, str, list[str], str]:
    return (_SEVERITY_ORDER[f.severity], f.id, f.administrations, f.message)


def _readiness(findings: list[PlainFinding]) -> Readiness:
    """From findings sorted most severe first (code_plain): the first says it."""
    if not findings:
        return "ready"
    severity = findings[0].severity
    if severity == "error":
        return "hold"
    return "ready_with_warnings" if severity == "warning" else "ready"


def _allowed_addons(ctx: Context, units: list[Unit]) -> list[Unit]:
    """An add-on none of whose primaries is on the claim takes the code CPT allows in its place, where one
    was built with it (IC402): never built and then removed as an orphan (IC502), which would hold a claim
    for something no documentation can fix."""
    while True:
        present = {unit.code for unit in units}
        orphans = [u for u in units if u.instead is not None and u.code in ctx.codes.orphan_addons(present)]
        if not orphans:
            return units
        for unit in orphans:
            assert unit.instead is not None
            ctx.find(
                ic402_concurrent_infusion.RULE,
                "concurrent-without-primary",
                "info",
                unit.ids,
                f"{unit.code} has none of the primary codes it goes with ("
                + ", ".join(ctx.codes[unit.code].addon_primaries)
                + f") on this claim, so the service is coded {unit.instead.code}, which CPT allows here; its line "
                "says why.",
            )
        replaced = {id(u) for u in orphans}
        units = [u.instead if id(u) in replaced and u.instead is not None else u for u in units]


def _report_missing_primary(ctx: Context, services: list[Service]) -> None:
    # Only IV services compete for the initial service; injections are never add-ons (IC206).
    if ctx.institutional or ctx.fields["primary_administration"] is not None:
        return
    timeline = [s for s in services if s.route == "iv" and s.technique in ("push", "infusion")]
    if len(timeline) < 2:
        return
    ctx.find(
        ic302_primary_reason.RULE,
        "no-primary-administration",
        "info",
        [],
        "Professional claim without primary_administration: the initial service was chosen by the facility "
        "hierarchy; name the main reason for the encounter to code by it.",
    )


def _report_midnight(ctx: Context, services: list[Service]) -> None:
    local = ctx.frame.local
    wall = ctx.wall  # else local() hands back its argument
    for service in services:
        start, end = service.start, service.end
        if start is None or end is None:
            continue
        if not (local(end).date() > local(start).date() if wall else end.date() > start.date()):
            continue
        ctx.find(
            ic211_midnight_dating.RULE,
            "crosses-midnight",
            "info",
            service.ids,
            f"{service.label} runs from {ctx.stamp(start)} to {ctx.stamp(end)}: one service; "
            f"{ctx.cite_option('midnight_unit_dating')}; {ctx.cite_option('initial_scope')} "
            f"({ic304_initial_scope.RULE.id}).",
        )


def _lines(ctx: Context, units: list[Unit]) -> list[PlainLine]:
    """Units of one service, code and date become one line; the encounter's initial service comes first."""
    primary: str | None = ctx.fields["primary_administration"]
    frame = ctx.frame
    local = frame.local
    wall = ctx.wall  # else local() hands back its argument
    zoned = frame.zone is not None  # else shown() hands back its argument
    grouped: dict[tuple[str, tuple[str, ...], date | None, tuple[str, ...], str, str], list[Unit]] = {}
    # A service whose units fall on two or more dates has a line per date: each shows the minutes that
    # fell on its own date, not the whole stretch on every line. first_day: a service's first date seen;
    # split: the services seen on another date too.
    first_day: dict[tuple[str, ...], date | None] = {}
    split: set[tuple[str, ...]] = set()
    for unit in units:
        when = unit.when
        day = None if when is None else local(when).date() if wall else when.date()
        ids = unit.ids
        key = (unit.code, unit.modifiers, day, ids, unit.rule.id, unit.explanation)
        members = grouped.get(key)
        if members is not None:
            members.append(unit)
            continue
        grouped[key] = [unit]
        if ids not in first_day:
            first_day[ids] = day
        elif first_day[ids] != day:
            split.add(ids)
    keyed: list[tuple[_LineOrder, PlainLine]] = []
    for (code, modifiers, day, ids, rule, explanation), members in grouped.items():
        first = members[0]
        count = len(members)
        if count == 1:
            counted = _counted(list(first.intervals))
            when = first.when
        else:
            counted = _counted([interval for member in members for interval in member.intervals])
            when = min((m.when for m in members if m.when), default=None)
        spent = first.minutes
        if day is not None and spent is not None and ids in split:
            within = _on_day(ctx, counted, day)
            if within != counted:
                counted, spent = within, minutes(within)
        if zoned:
            shown = frame.shown
            spans = [Span(shown(start), shown(end)) for start, end in counted]
        else:
            spans = [Span(start, end) for start, end in counted]
        line = PlainLine(code, count, list(modifiers), day, list(ids), explanation, rule, spent, spans)
        order = (not first.main, primary not in ids, not first.initial, when or datetime.max, code, ids)
        keyed.append((order, line))
    if len(keyed) == 1:
        return [keyed[0][1]]
    keyed.sort(key=_ORDER)
    return [line for _key, line in keyed]


def _on_day(
    ctx: Context, intervals: list[tuple[datetime, datetime]], day: date
) -> list[tuple[datetime, datetime]]:
    """The parts of counted stretches that fell on one local date."""
    begin = ctx.frame.engine(datetime.combine(day, time.min))
    end = ctx.frame.engine(datetime.combine(day + timedelta(days=1), time.min))
    return [
        (max(a, begin), min(b, end)) for a, b in intervals if (a < end and b > begin) or begin <= a == b < end
    ]


def _counted(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Merged stretches, plus the moments of pushes and injections that no stretch covers."""
    if len(intervals) == 1:  # the common case: a stretch or a moment is itself (a reversed pair is nothing)
        return intervals if intervals[0][1] >= intervals[0][0] else []
    spans = union(intervals)
    if len(spans) == len(intervals):  # every interval a stretch of its own: no moment to add
        return spans
    moments = sorted({i for i in intervals if i[0] == i[1] and not any(a <= i[0] <= b for a, b in spans)})
    return sorted(spans + moments) if moments else spans  # union's spans are sorted already


def _physician_in_facility(ctx: Context, lines: list[PlainLine]) -> list[PlainLine]:
    pos = ctx.fields["place_of_service"]
    if ctx.institutional or pos not in ctx.codes.physician_facility_pos:
        return lines
    kept = [
        line for line in lines if line.code in ctx.codes.codes and ctx.codes[line.code].physician_in_facility
    ]
    dropped = [line for line in lines if line not in kept]
    if dropped or not kept:
        ids = sorted({a.id for a in ctx.administrations})
        codes = ", ".join(sorted({line.code for line in dropped}))
        ctx.find(
            ic501_physician_in_facility.RULE,
            "physician-in-facility",
            "info",
            ids,
            f"Professional claim at facility place of service {pos}: the facility reports drug administration, "
            "so the professional bills none of it" + (f" ({codes} not billed)." if codes else "."),
        )
    return kept


def _distinct_injections(ctx: Context, lines: list[PlainLine]) -> list[PlainLine]:
    """Professional claims: injections of different drugs on one date as identical lines (96372 twice) are
    never left bare, which a payer's duplicate-line edit denies: the second and later take the distinct
    modifier, or they become one line with units, as the policy says (IC206)."""
    if ctx.institutional:
        return lines
    groups: dict[tuple[str, tuple[str, ...], date | None], list[PlainLine]] = defaultdict(list)
    injection = ic206_injection.RULE.id
    for line in lines:
        if line.rule == injection:
            groups[(line.code, tuple(line.modifiers), line.date)].append(line)
    choice = ctx.option("distinct_injections")
    modifier = ctx.option("distinct_modifier")
    for (code, _modifiers, day), same in groups.items():
        if len(same) < 2:
            continue
        ids = sorted({i for line in same for i in line.administrations})
        if choice == "units":
            first = same[0]
            merged = PlainLine(
                first.code,
                sum(line.units for line in same),
                first.modifiers,
                first.date,
                ids,
                " ".join(line.explanation for line in same),
                first.rule,
                first.minutes,
                [i for line in same for i in line.intervals],
            )
            lines = [
                merged if line is same[0] else line for line in lines if line is same[0] or line not in same
            ]
            told = f"reported as one line of {merged.units} units"
        else:
            for line in same[1:]:
                line.modifiers = sorted({*line.modifiers, modifier})
            told = f"the second and later carry {modifier}, so they are not read as duplicate lines"
        ctx.find(
            ic206_injection.RULE,
            "distinct-injections",
            "info",
            ids,
            f"{len(same)} injections of different drugs as {code} on {day or 'one date'}: {told} "
            f"({ctx.cite_option('distinct_injections')}); the record must show each injection.",
        )
    return lines


def _addons_need_primaries(ctx: Context, lines: list[PlainLine]) -> list[PlainLine]:
    while orphans := ctx.codes.orphan_addons({line.code for line in lines}):
        orphan = next(line for line in lines if line.code == orphans[0])
        lines = [line for line in lines if line is not orphan]
        ctx.find(
            ic502_addon_needs_primary.RULE,
            "addon-without-primary",
            "error",
            orphan.administrations,
            f"Add-on {orphan.code} x{orphan.units} has no primary it may go with "
            f"({', '.join(ctx.codes[orphan.code].addon_primaries)}): removed from the lines. {orphan.explanation}",
            denial_risk="CO-97",
        )
    return lines


def _em_checks(ctx: Context, lines: list[PlainLine]) -> None:
    em: EvaluationAndManagement | None = ctx.fields["evaluation_and_management"]
    if em is None or not lines:
        return
    rule = ic503_em_with_administration.RULE
    if em.code == "99211" and ctx.option("em_99211_with_administration") == "not_payable":
        ctx.find(
            rule,
            "e-m-99211-with-administration",
            "warning",
            [],
            "99211 is not payable with a drug administration code, with or without modifier 25 "
            f"({ctx.cite_option('em_99211_with_administration')}): bill the administration only.",
            denial_risk="CO-97",
        )
    elif em.code != "99211" and em.separately_identifiable:
        ctx.find(
            rule,
            "e-m-needs-modifier-25",
            "info",
            [],
            f"E/M {em.code} is separately identifiable from the drug administration: bill it with modifier 25 on "
            "the E/M line, never on the administration code.",
            denial_risk="CO-4",
        )
    elif em.code != "99211" and em.separately_identifiable is False:
        ctx.find(
            rule,
            "e-m-not-separate",
            "warning",
            [],
            f"E/M {em.code} is documented as not separately identifiable from the drug administration: it is "
            "bundled and should not be billed.",
            denial_risk="CO-97",
        )


__all__ = [
    "Coded",
    "UnknownPolicyError",
    "code_encounter",
    "code_plain",
    "first_service_date",
    "resolve_policy",
]
