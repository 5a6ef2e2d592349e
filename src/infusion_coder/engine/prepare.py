"""From administration records to services: classify, merge mixed bags, decide the technique.

Everything set aside here (carrier fluid, unknown substances, routes without a code, missing times held by
policy) leaves a finding, so every administration ends in a line or a finding.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Final

from ..models import (
    Administration,
    AdministrationSegment,
    Category,
    Device,
    HomePump,
    Method,
    Pump,
    Purpose,
    excerpt,
)
from ..names import shown_name
from ..reference import SubstanceReading
from ..rules import (
    ic101_category,
    ic102_not_coded_purpose,
    ic103_not_in_family,
    ic104_route_without_code,
    ic105_mixed_bag,
    ic106_same_substance,
    ic201_push_or_infusion,
    ic202_missing_stop_time,
    ic205_prolonged_pump,
    ic210_port_irrigation,
    ic213_on_body_injector,
    ic407_bolus_then_infusion,
    ic504_record_hygiene,
)
from . import identity
from .context import Context
from .intervals import Interval, span_minutes, union
from .intervals import minutes as total_minutes
from .services import Service


class _Record:
    """One administration with its classification, before mixed bags are merged. The fields the engine
    reads are read once from the model's __dict__: each attribute read of a pydantic model goes through its
    __getattr__ hook, slow even compiled."""

    __slots__ = (
        "access",
        "access_required",
        "admin",
        "category",
        "contract_route",
        "device",
        "drug",
        "end",
        "family",
        "hcpcs",
        "home_pump",
        "hormonal",
        "hormonal_stated",
        "id",
        "ids",
        "label",
        "method",
        "mix",
        "ndc",
        "on_body_named",
        "pump",
        "purpose",
        "route",
        "route_text",
        "rxnorm",
        "segments",
        "start",
        "states_push",
        "substance",
        "usual_infusion",
    )

    admin: Administration
    id: str
    substance: str
    route_text: str  # the route as recorded (admin.route)
    start: datetime | None
    end: datetime | None
    access: str | None
    access_required: bool | None
    mix: str | None
    pump: Pump | None
    home_pump: HomePump | None
    device: Device | None
    segments: list[AdministrationSegment] | None
    category: Category | None
    purpose: Purpose | None
    hormonal_stated: bool | None  # admin.hormonal
    hcpcs: str | None
    ndc: str | None
    rxnorm: str | None
    # the classification
    method: Method | None  # the record's method, else the one its route states ("IVPB", "IV Push")
    ids: tuple[str, ...]
    contract_route: str
    family: str
    drug: str
    hormonal: bool
    route: str  # the route class
    label: str
    on_body_named: bool
    states_push: bool
    usual_infusion: bool  # the table says this drug is infused, practically never pushed

    def __init__(self, admin: Administration) -> None:
        fields = admin.__dict__  # pydantic keeps a model's fields there
        self.admin = admin
        self.id = fields["id"]
        self.substance = fields["substance"]
        self.route_text = fields["route"]
        self.start = fields["start"]
        self.end = fields["end"]
        self.access = fields["access"]
        self.access_required = fields["separate_access_required"]
        self.mix = fields["mix"]
        self.pump = fields["pump"]
        self.home_pump = fields["home_pump"]
        self.device = fields["device"]
        self.segments = fields["segments"]
        self.category = fields["category"]
        self.purpose = fields["purpose"]
        self.hormonal_stated = fields["hormonal"]
        self.hcpcs = fields["hcpcs"]
        self.ndc = fields["ndc"]
        self.rxnorm = fields["rxnorm"]
        self.method = fields["method"]
        self.ids = (self.id,)
        self.contract_route = self.route_text
        self.family = ""
        self.drug = ""
        self.hormonal = False
        self.route = ""
        self.label = ""
        self.on_body_named = False
        self.states_push = False
        self.usual_infusion = False

    def classified(
        self, family: str, drug: str, hormonal: bool, route: str, read: SubstanceReading
    ) -> _Record:
        self.family = family
        self.drug = drug
        self.hormonal = hormonal
        self.route = route
        self.label = read.label
        self.on_body_named = read.on_body_named
        self.states_push = read.states_push
        return self


def _start_key(record: _Record) -> tuple[datetime, str]:
    return (record.start or datetime.min, record.id)


_METHODS: Final = frozenset(m.value for m in Method)
# Enum members as constants: under Python 3.11 `Method.PUSH` goes through EnumType.__getattr__ and
# `member.value` through a Python-level property, each several times a dict lookup; `_value_` is the same
# string. Members are singletons, so `is` compares them.
_INFUSION: Final = Method.INFUSION
_PUSH: Final = Method.PUSH
_ON_BODY: Final = Device.ON_BODY_INJECTOR
_CACHED_ROUTES: Final = 65536  # route texts a pack remembers (bounded: text is free)


def prepare(ctx: Context) -> list[Service]:
    administrations = ctx.encounter.administrations
    records = sorted([_Record(admin) for admin in administrations], key=_start_key)
    _report_unknown_fields(ctx, administrations)
    singles: list[_Record] = []
    mixes: dict[str, list[_Record]] = {}  # mix label -> its records, in order of first appearance
    keys: dict[str, tuple[str, str]] = {}  # id -> (route class, drug key), for back-references
    for record in records:
        if _classify(ctx, record, keys):
            mix = record.mix
            if mix:
                mixes.setdefault(mix, []).append(record)
            else:
                singles.append(record)
    # singles, then mixed bags (a record alone under its mix label stays itself): _mix_groups and _merge
    merged = singles + [_merge(ctx, group) for group in mixes.values()] if mixes else singles
    timed: set[str] | None = None  # read only for a record with no stop: most encounters never need it
    services: list[Service] = []
    folds = False
    for record in merged:
        if timed is None and record.end is None:
            timed = _timed_drugs(merged)
        service = _technique(ctx, record, timed if timed is not None else _NO_DRUGS)
        if service is not None:
            services.append(service)
            folds = folds or service.technique == "fold"
    return _fold_drips(ctx, services) if folds else services


_NO_DRUGS: set[str] = set()  # never written: what _technique reads where every record has its stop


def _timed_drugs(merged: list[_Record]) -> set[str]:
    """Drugs that run as a timed infusion in the encounter: a record of one of them with no stop is part of
    that infusion (a drip charted as started), never a push (IC407, R2.10). Read after mixed bags are
    merged, so a drug named here always has a timed service to join."""
    return {
        r.drug
        for r in merged
        if r.family != "hydration"
        and r.route in ("iv", "ia")
        and r.start is not None
        and r.end is not None
        and not ic201_push_or_infusion.is_push(_counted_minutes(r))
    }


# What a no-stop record of a timed drug may join: its timed infusion, by time or on a pump.
_TIMED_TECHNIQUES: Final = ("infusion", "ia_infusion", "prolonged", "ia_prolonged")


def _fold_drips(ctx: Context, services: list[Service]) -> list[Service]:
    """A no-stop record of a drug that runs as a timed infusion joins that infusion's line, uncounted."""
    kept = [s for s in services if s.technique != "fold"]
    for drip in (s for s in services if s.technique == "fold"):
        began = drip.start
        assert began is not None
        runs = [s for s in kept if s.drug == drip.drug and s.technique in _TIMED_TECHNIQUES and s.start]
        target = min(runs, key=lambda s: abs((s.start or began) - began).total_seconds())
        target.ids = tuple(sorted({*target.ids, *drip.ids}))
        ctx.find(
            ic407_bolus_then_infusion.RULE,
            "drip-without-stop-folded",
            "info",
            drip.ids + target.ids,
            f"{drip.label} started {ctx.clock(drip.start)} with no stop time is the same drug as the infusion "
            f"{ctx.clock(target.start)}-{ctx.clock(target.end)}: coded with that infusion (its time uncounted), never as "
            "a push; document its stop time to count its minutes.",
        )
    return kept


def _report_unknown_fields(ctx: Context, administrations: list[Administration]) -> None:
    rule = ic504_record_hygiene.RULE
    # __pydantic_extra__ first: unknown_fields() without its call and sort, the common case
    for name in ctx.encounter.unknown_fields() if ctx.encounter.__pydantic_extra__ else ():
        ctx.find(
            rule,
            "unknown-field",
            "info",
            [],
            f"Field {excerpt(name)} is not part of the encounter contract: ignored.",
        )
    for admin in administrations:
        if not admin.__pydantic_extra__:
            continue
        for name in admin.unknown_fields():
            ctx.find(
                rule,
                "unknown-field",
                "warning",
                [admin.id],
                f"Field {excerpt(name)} of administration {admin.id} is not part of the contract and was ignored "
                "(a stop time belongs in 'end').",
            )


def _resolve_route(ctx: Context, record: _Record) -> tuple[str, str | None, str] | None:
    """The contract route, the method the route text states and the route class, through the route table
    (IC104). Remembered per pack by the route text: a batch writes the same few routes over and over."""
    text = record.route_text
    memo = ctx.pack.route_readings
    known = memo.get(text)
    if known is None and text not in memo:  # not read yet (None in the memo: read, and unresolved)
        for system in ic104_route_without_code.SYSTEMS:
            found = ctx.pack.routes.resolve(text, system)
            if found is not None and found.route is not None:
                known = (found.route, found.method, ic104_route_without_code.route_class(found.route))
                break
        if len(memo) >= _CACHED_ROUTES:
            memo.clear()
        memo[text] = known
    if known is not None:
        return known
    if any(
        n.id == "route-missing" and n.severity == "error" and record.id in n.administrations
        for n in ctx.encounter.source_findings
    ):
        return None  # the importer's own error says the record documents no route and holds the claim (IC505)
    ctx.find(
        ic104_route_without_code.RULE,
        "route-unresolved",
        "error",
        [record.id],
        f"{shown_name(record.substance)}: route {shown_name(text)!r} is not in the route table, so it is not coded and the claim "
        "is held; record the route as intravenous, subcutaneous, intramuscular, ... (or add the term to "
        "routes.csv with its source).",
        denial_risk="CO-16",
    )
    return None


def _classify(ctx: Context, record: _Record, keys: dict[str, tuple[str, str]]) -> bool:
    """Classify the record in place: False when it is set aside (with its finding)."""
    resolved = _resolve_route(ctx, record)
    if resolved is None:
        return False
    contract_route, hint, route = resolved
    aid = record.id
    substance = record.substance
    method = record.method
    if method is None and hint in _METHODS:
        method = Method(hint)  # "IVPB", "IV Push" state the technique
        record.method = method
    ctx.resolved[aid] = (route, method._value_ if method is not None else None)
    if record.start is None and (route == "iv" or route == "ia"):
        ctx.find(
            ic104_route_without_code.RULE,
            "start-missing",
            "error",
            [aid],
            f"{shown_name(substance)} by route {shown_name(record.route_text)!r} ({contract_route}) has no start time: a vascular "
            "service cannot be coded without one; document when it was given.",
            denial_risk="CO-16",
        )
        return False
    read = identity.reading_of(ctx, record.admin, substance, record.hcpcs, record.ndc, record.rxnorm)
    purpose_stated = record.purpose
    category = record.category
    purpose = purpose_stated._value_ if purpose_stated is not None else None
    if purpose is None and category is None and read.all_flush:
        purpose = "flush"  # the substance table knows a flush solution even when the record does not say so
    if purpose is not None:
        if purpose == "flush" and ic210_port_irrigation.is_port(record.access):
            record.classified("therapeutic", "port flush", False, "port_flush", read)
            return True
        ctx.find(
            ic102_not_coded_purpose.RULE,
            f"not-coded-{purpose}",
            "info",
            [aid],
            f"{shown_name(substance)} ({purpose}) is not coded: {ic102_not_coded_purpose.REASONS[purpose]}.",
        )
        return False
    family = category._value_ if category is not None else None
    if family is None:
        # the table's family, with the policy's where an electrolyte alone decides (family_from_table)
        family, kind = read.table_family, read.not_coded
        if family == "":
            family = ctx.option("electrolyte_alone")
        if kind is not None:
            ctx.find(
                ic103_not_in_family.RULE,
                f"not-in-family-{kind}",
                "info",
                [aid],
                f"{shown_name(substance)} is not coded here: {ic103_not_in_family.REASONS[kind]}.",
            )
            return False
        if family is None:
            stem = ic101_category.stem_hint(substance)
            codable = route != "other" or contract_route in ctx.codes.chemo_routes
            ctx.find(
                ic101_category.RULE,
                "unknown-substance",
                "error" if codable else "info",
                [aid],
                f"{shown_name(substance)!r} is not in the substance table and has no category, so it is not coded"
                + ("; the claim is held until it is" if codable else "")
                + ": set category (hydration, therapeutic or chemotherapy) on the record"
                + (f" (the name looks like {stem})." if stem else "."),
                denial_risk="CO-16",
            )
            return False
        if read.any_electrolyte and family == ctx.option("electrolyte_alone"):
            ctx.find(
                ic101_category.RULE,
                "category-contested",
                "info",
                [aid],
                f"{shown_name(substance)} classified {family}: authorities disagree on electrolytes; "
                + ctx.cite_option("electrolyte_alone")
                + ".",
            )
    stated = record.hormonal_stated
    hormonal = stated if stated is not None else read.hormonal
    drug = _drug_key(ctx, record, family, route, read, keys)
    keys[aid] = (route, drug)
    ctx.families[aid] = family
    if route == "other":
        chemo_code = ctx.codes.chemo_routes.get(contract_route)
        if family != "chemotherapy" or chemo_code is None:
            ctx.find(
                ic104_route_without_code.RULE,
                "route-without-code",
                "info",
                [aid],
                f"{shown_name(substance)} by route {shown_name(record.route_text)!r}: no drug-administration code for this route.",
            )
            return False
    record.contract_route = contract_route
    record.classified(family, drug, hormonal, route, read)
    record.usual_infusion = read.usual_infusion
    return True


def _drug_key(
    ctx: Context,
    record: _Record,
    family: str,
    route: str,
    read: SubstanceReading,
    keys: dict[str, tuple[str, str]],
) -> str:
    if family == "hydration":
        return "hydration"  # all hydration on an access is one service, whatever the fluid
    if read.refers_back:
        earlier = [(aid, key) for aid, (r, key) in keys.items() if r == route]
        if earlier:
            ref_id, key = earlier[-1]
            ctx.find(
                ic106_same_substance.RULE,
                "same-substance-reference",
                "info",
                [record.id, ref_id],
                f"{shown_name(record.substance)!r} is read as the same drug as administration {ref_id}; "
                "record the drug name to make this explicit.",
            )
            return key
    return read.drug  # identity's drug key, read once per pack


def _mix_groups(records: list[_Record]) -> list[list[_Record]]:
    groups: dict[str, list[_Record]] = defaultdict(list)
    singles: list[list[_Record]] = []
    for record in records:
        if record.mix:
            groups[record.mix].append(record)
        else:
            singles.append([record])
    return singles + list(groups.values())


def _merge(ctx: Context, group: list[_Record]) -> _Record:
    if len(group) == 1:
        return group[0]
    families = [r.family for r in group]
    drugs = [r.family for r in group if r.family != "hydration"]
    family = ic101_category.highest_family(drugs or families)
    starts = [r.start for r in group if r.start]
    ends = [r.end for r in group if r.end]
    first = group[0]
    timed = len(ends) == len(group)
    paused = timed and any(r.segments for r in group)
    substance = " + ".join(r.substance for r in group)
    merged = first.admin.model_copy(
        update={
            "substance": substance,
            "start": min(starts) if starts else None,
            "end": max(ends) if timed else None,
            # one bag: it ran whenever any of its records says it ran
            "segments": _joined_segments(group) if paused else None,
            "access": next((r.access for r in group if r.access), None),
            "separate_access_required": _combined_flag([r.access_required for r in group]),
            "method": next((r.method for r in group if r.method), None),
            "pump": next((r.pump for r in group if r.pump), None),
        }
    )
    ids = [r.id for r in group]
    ctx.find(
        ic105_mixed_bag.RULE,
        "mixed-bag",
        "info",
        ids,
        f"{shown_name(substance)} share mix {shown_name(first.mix or '')!r}: one administration, coded once.",
    )
    drug = "+".join(sorted({r.drug for r in group}))
    record = _Record(merged)
    record.ids = tuple(sorted(ids))
    record.contract_route = first.contract_route
    # a mixed bag's joined text, read here
    record.classified(
        family, drug, any(r.hormonal for r in group), first.route, identity.text_reading(substance)
    )
    record.usual_infusion = any(r.usual_infusion for r in group)
    return record


def counted_minutes(admin: Administration) -> int:
    """The minutes an administration ran: its segments' when it was paused, else start to end."""
    assert admin.start is not None and admin.end is not None
    if admin.segments:
        return total_minutes([(s.start, s.end) for s in admin.segments])
    return span_minutes(admin.start, admin.end)


def _counted_minutes(record: _Record) -> int:
    """counted_minutes, from the fields the record read."""
    start, end, segments = record.start, record.end, record.segments
    assert start is not None and end is not None
    if segments:
        return total_minutes([(s.start, s.end) for s in segments])
    return span_minutes(start, end)


def _spans(record: _Record) -> list[Interval]:
    segments = record.segments
    if segments:
        return [(s.start, s.end) for s in segments]
    start, end = record.start, record.end
    return [(start, end)] if start is not None and end is not None else []


def _joined_segments(records: list[_Record]) -> list[AdministrationSegment]:
    return [
        AdministrationSegment(start=start, end=end)
        for start, end in union(i for r in records for i in _spans(r))
    ]


def _combined_flag(flags: list[bool | None]) -> bool | None:
    if any(flag is True for flag in flags):
        return True
    if flags and all(flag is False for flag in flags):
        return False
    return None


def _technique(ctx: Context, record: _Record, timed: set[str]) -> Service | None:
    ids = record.ids
    access = record.access
    home_pump = record.home_pump
    pump = record.pump
    segments = record.segments
    route = record.route
    access_key: str | None = None
    access_label: str | None = access
    if access:
        memo = ctx.pack.access_readings
        known = memo.get(access)
        if known is None:
            known = (" ".join(access.lower().split()), shown_name(access))
            if len(memo) >= _CACHED_ROUTES:
                memo.clear()
            memo[access] = known
        access_key, access_label = known
    service = Service(
        ids=ids,
        label=record.label,
        drug=record.drug,
        family=record.family,
        technique="",
        route=route,
        start=record.start,
        end=record.end,
        access=access_key,
        access_required=record.access_required,
        hormonal=record.hormonal,
        access_label=access_label,
        home_pump=home_pump._value_ if home_pump else None,
        pump=pump._value_ if pump else None,
        segments=tuple((s.start, s.end) for s in segments) if segments else (),
    )
    if route == "port_flush":
        service.technique, service.route = "port_flush", "iv"
        return service
    if route == "other":
        service.technique, service.fixed_code = "route_code", ctx.codes.chemo_routes[record.contract_route]
        return service
    device = record.device
    if (record.on_body_named or device is _ON_BODY) and _on_body(ctx, record):
        service.technique = "on_body"
        return service
    if route == "sc" or route == "im":
        minutes = service.minutes
        is_infusion = route == "sc" and record.method is _INFUSION and minutes is not None
        service.technique = (
            "sc_infusion" if is_infusion and not ic201_push_or_infusion.is_push(minutes or 0) else "injection"
        )
        return service
    prefix = "ia_" if route == "ia" else ""
    if service.end is None and pump is not None and home_pump is not None:
        home = _home_pump_start(ctx, record.admin, service, prefix)
        if home is not None:
            service.technique = home
            return service
    if service.end is None:
        resolved = _missing_stop(ctx, record.admin, service, record, timed)
        if resolved is None:
            return None
        if resolved == "fold":
            service.technique = "fold"
            return service
        if resolved == "push":
            service.technique = prefix + "push"
            if not service.assumed_push:
                _usually_infused(ctx, record, service, "the record states a push")
            return service
    minutes = service.minutes or 0
    if service.family == "hydration":
        service.technique = (
            "infusion"  # hydration is timed whatever its length; under 31 minutes it is not coded
        )
        return service
    if ic201_push_or_infusion.is_push(minutes):
        if record.method is _INFUSION:
            ctx.find(
                ic201_push_or_infusion.RULE,
                "infusion-coded-as-push",
                "info",
                ids,
                f"{shown_name(record.substance)} ran {minutes} minutes ({service.span_text(ctx.clock)}): "
                "15 minutes or less is a push, whatever the container.",
            )
        service.technique = prefix + "push"
        _usually_infused(ctx, record, service, f"its documented time is {minutes} minutes")
        return service
    if record.method is _PUSH:
        ctx.find(
            ic201_push_or_infusion.RULE,
            "push-coded-as-infusion",
            "info",
            ids,
            f"{shown_name(record.substance)} is recorded as a push but ran {minutes} minutes: more than 15 minutes is an infusion.",
        )
    service.technique = prefix + "infusion"
    if pump is not None:
        service.technique = _pump_technique(ctx, service, prefix, minutes)
    return service


def _on_body(ctx: Context, record: _Record) -> bool:
    """An on-body injector applied for a timed SC injection (IC213): stated by `device`, or by the name."""
    rule = ic213_on_body_injector.RULE
    stated = record.device is _ON_BODY
    if not stated and not record.on_body_named:
        return False
    if record.route != "sc":
        if stated:
            ctx.find(
                rule,
                "on-body-injector-route",
                "warning",
                [record.id],
                f"{shown_name(record.substance)} is recorded as given by an on-body injector, which delivers subcutaneously, "
                f"but its route is {shown_name(record.route_text)!r}: coded by its route; check the record.",
                denial_risk="CO-16",
            )
        return False
    if not stated:
        ctx.find(
            rule,
            "on-body-injector-from-name",
            "info",
            [record.id],
            f"{shown_name(record.substance)}: the product name says an on-body injector, so it is coded as the application "
            "of an on-body injector (96377), not an injection (96372); set device = on_body_injector on the "
            "record to state it.",
        )
    return True


def _home_pump_start(ctx: Context, admin: Administration, service: Service, prefix: str) -> str | None:
    """A pump infusion that continues at home has no stop time in the clinic's record: its planned length
    comes from volume and rate, else the record's own statement that it goes on at home (IC205)."""
    rule = ic205_prolonged_pump.RULE
    assert service.start is not None
    end = ic202_missing_stop_time.derived_end(service.start, admin.volume_ml, admin.rate_ml_per_hour)
    if end is not None:
        minutes = span_minutes(service.start, end)
        ctx.find(
            rule,
            "home-pump-planned-time",
            "info",
            service.ids,
            f"{shown_name(admin.substance)} continues at home on the pump: its planned length, {minutes} minutes, comes from "
            f"{admin.volume_ml:g} mL at {admin.rate_ml_per_hour:g} mL/h.",
        )
        service.end = end
        return None  # timed from here on, like any pump infusion
    if service.family == "chemotherapy" or (
        ctx.institutional and not prefix and service.family == "therapeutic"
    ):
        ctx.find(
            rule,
            "home-pump-time-undocumented",
            "warning",
            service.ids,
            f"{shown_name(admin.substance)} continues at home on the pump (home_pump = {admin.home_pump}), coded as the start "
            "of a prolonged infusion; document its planned length (more than 8 hours), or volume and rate.",
            denial_risk="CO-16",
        )
        return prefix + "prolonged"
    return None


def _usually_infused(ctx: Context, record: _Record, service: Service, why: str) -> None:
    if record.usual_infusion and service.family != "hydration":
        ctx.find(
            ic201_push_or_infusion.RULE,
            "push-of-infused-drug",
            "warning",
            service.ids,
            f"{service.label} is coded as a push because {why}, but this drug is given by infusion, "
            "practically never pushed (the substance table's usual_technique): check the record before billing.",
            denial_risk="CO-16",
        )


def _pump_technique(ctx: Context, service: Service, prefix: str, minutes: int) -> str:
    rule = ic205_prolonged_pump.RULE
    if minutes < ic205_prolonged_pump.PROLONGED_MIN_MINUTES:
        ctx.find(
            rule,
            "pump-under-8-hours",
            "info",
            service.ids,
            f"{service.label} ran {minutes} minutes on a pump: prolonged-infusion codes need more than 8 hours, "
            "so it is coded by its time.",
        )
        return prefix + "infusion"
    if service.family == "chemotherapy" or (
        ctx.institutional and not prefix and service.family == "therapeutic"
    ):
        return prefix + "prolonged"
    ctx.find(
        rule,
        "prolonged-coded-by-time",
        "info",
        service.ids,
        f"{service.label} ran {minutes} minutes on a pump: C8957 is a hospital code, so a professional claim "
        "codes it by its time.",
    )
    return prefix + "infusion"


def _missing_stop(
    ctx: Context, admin: Administration, service: Service, record: _Record, timed: set[str]
) -> str | None:
    """'push' when coded as a push, 'timed' when a stop was derived, 'fold' when it joins a timed infusion
    of the same drug, None when not coded."""
    rule = ic202_missing_stop_time.RULE
    if service.family != "hydration" and (
        record.method is _PUSH or (record.method is None and record.states_push)
    ):
        return "push"
    if service.family != "hydration" and service.drug in timed:
        return "fold"
    choice = ctx.option("missing_stop_time")
    assert service.start is not None
    hours = ic202_missing_stop_time.derived_hours(admin.volume_ml, admin.rate_ml_per_hour)
    if hours is not None and not hours <= ic202_missing_stop_time.MAX_DERIVED_HOURS:
        ctx.find(
            rule,
            "stop-time-not-derivable",
            "warning",
            service.ids,
            f"No stop time for {shown_name(admin.substance)}: {admin.volume_ml:g} mL at {admin.rate_ml_per_hour:g} mL/h "
            "would run more than 14 days, longer than one administration can run: no stop time is derived.",
            denial_risk="CO-16",
        )
    if choice == "derive":
        end = ic202_missing_stop_time.derived_end(service.start, admin.volume_ml, admin.rate_ml_per_hour)
        if end is not None:
            service.end = end
            ctx.find(
                rule,
                "stop-time-derived",
                "warning",
                service.ids,
                f"No stop time for {shown_name(admin.substance)}: {admin.volume_ml:g} mL at {admin.rate_ml_per_hour:g} mL/h "
                f"gives {span_minutes(service.start, end)} minutes ({ctx.cite_option('missing_stop_time')}); "
                "document the actual stop time.",
                denial_risk="CO-16",
            )
            return "timed"
    if service.family == "hydration":
        ctx.find(
            rule,
            "missing-stop-time",
            "warning",
            service.ids,
            f"No stop time for {shown_name(admin.substance)} started {ctx.clock(service.start)}: hydration needs 31 documented "
            "minutes, so it is not coded; document the stop time.",
            denial_risk="CO-16",
        )
        return None
    if choice == "hold":
        ctx.find(
            rule,
            "missing-stop-time",
            "error",
            service.ids,
            f"No stop time for {shown_name(admin.substance)} started {ctx.clock(service.start)}: held with no line "
            f"({ctx.cite_option('missing_stop_time')}); document the stop time to code it.",
            denial_risk="CO-16",
        )
        return None
    service.assumed_push = True
    if record.usual_infusion:
        ctx.find(
            rule,
            "assumed-push-usually-infused",
            "error",
            service.ids,
            f"No stop time for {shown_name(admin.substance)} started {ctx.clock(service.start)}: the policy codes a push, but "
            "this drug is given by infusion, practically never pushed (the substance table's usual_technique), so a "
            "push code would describe a service that did not happen; held until the stop time is documented.",
            denial_risk="CO-16",
        )
    derivable = ic202_missing_stop_time.derived_end(service.start, admin.volume_ml, admin.rate_ml_per_hour)
    hint = (
        f" Volume and rate are documented ({span_minutes(service.start, derivable)} minutes): a policy that "
        "derives the stop from them (profile cms-derive) would code an infusion."
        if derivable is not None and choice != "derive"
        else ""
    )
    ctx.find(
        rule,
        "missing-stop-time",
        "warning",
        service.ids,
        f"No stop time for {shown_name(admin.substance)} started {ctx.clock(service.start)}: coded as a push "
        f"({ctx.cite_option('missing_stop_time')}); a documented stop after "
        f"{ctx.clock(service.start + timedelta(minutes=16))} would support an infusion code.{hint}",
        denial_risk="CO-16",
    )
    return "push"
