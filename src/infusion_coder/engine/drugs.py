"""Drug supply lines beside the administration lines (IC701): HCPCS code, units from dose, JZ/JW."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

from ..models import Administration
from ..names import shown_name
from ..reference import ReferencePack
from ..rules import ic701_drug_lines as rule_module
from . import identity
from .context import Context
from .output import PlainDrugLine, PlainLine

RULE: Final = rule_module.RULE  # Final: a static in the compiled build, not a module-dict lookup

# What a record's codes and text settle from the reference pack alone (_plan): how its drug line is made.
_MEASURE: Final = 0  # a HCPCS code and billing unit: units from the dose
_FLUID: Final = 1  # a fluid, billed by bag size
_UNKNOWN: Final = 2  # no drug in the substance table
_NO_CODE: Final = 3  # a table drug without a HCPCS code and billing unit


class _Dose:
    __slots__ = ("amount", "dimension", "id", "single", "wasted")

    single: bool  # from a single-dose container
    id: str  # the record's id, read once
    amount: float  # in the base unit of its dimension
    wasted: float | None
    dimension: str

    def __init__(self, single: bool, id: str, amount: float, wasted: float | None, dimension: str) -> None:
        self.single = single
        self.id = id
        self.amount = amount
        self.wasted = wasted
        self.dimension = dimension


class _Plan:
    """A record's drug line as far as the reference pack decides it: the same for every record with its
    (substance, hcpcs, ndc), so made once per pack (_plans), not once per record."""

    __slots__ = (
        "billing_unit",
        "hcpcs",
        "listed",
        "name",
        "origin",
        "outcome",
        "parsed",
        "unit_base",
        "unsettled",
    )

    outcome: int
    unsettled: bool  # the NDC was not settled by the CMS crosswalk (a finding)
    listed: str  # the codes CMS lists the NDC under, when it lists several
    hcpcs: str
    billing_unit: str
    name: str | None  # the table's name, or None where the record's own is shown
    origin: str
    unit_base: tuple[str, float] | None  # the billing unit in its dimension's base unit
    parsed: tuple[float, str] | None  # the first amount in the substance text (the dose when none is given)

    def __init__(
        self,
        outcome: int,
        unsettled: bool,
        listed: str,
        hcpcs: str,
        billing_unit: str,
        name: str | None,
        origin: str,
        unit_base: tuple[str, float] | None,
        parsed: tuple[float, str] | None,
    ) -> None:
        self.outcome = outcome
        self.unsettled = unsettled
        self.listed = listed
        self.hcpcs = hcpcs
        self.billing_unit = billing_unit
        self.name = name
        self.origin = origin
        self.unit_base = unit_base
        self.parsed = parsed


# pack id -> (the pack, its plans by (substance, hcpcs, ndc)); the pack is held so its id stays its own
_PLANS: dict[int, tuple[ReferencePack, dict[tuple[str, str | None, str | None], _Plan]]] = {}


def _plans(pack: ReferencePack) -> dict[tuple[str, str | None, str | None], _Plan]:
    held = _PLANS.get(id(pack))
    if held is not None and held[0] is pack:
        return held[1]
    if len(_PLANS) >= 16:  # bounded: a service may load reference folders anew
        _PLANS.clear()
    plans: dict[tuple[str, str | None, str | None], _Plan] = {}
    _PLANS[id(pack)] = (pack, plans)
    return plans


def drug_lines(ctx: Context, lines: list[PlainLine]) -> list[PlainDrugLine]:
    coded = set(ctx.supplied)
    for line in lines:
        coded.update(line.administrations)
    admins: list[tuple[str, Administration]] = []
    for admin in ctx.administrations:
        admin_id = admin.id  # read once: a record's field is a slow lookup
        if admin_id in coded:
            admins.append((admin_id, admin))
    if not admins:
        return []
    if len(admins) > 1:
        admins.sort(key=_first)  # doses are added in id order (a float sum)
    plans = _plans(ctx.pack)
    groups: dict[tuple[str, date | None, str | None], list[_Dose]] = {}
    sizes: dict[str, tuple[str, float, str]] = {}
    for admin_id, admin in admins:
        # the record's fields from its own dict: each attribute read of a model passes its __getattr__ hook
        fields = admin.__dict__
        ndc: str | None = fields["ndc"]
        key = (fields["substance"], fields["hcpcs"], ndc)
        plan = plans.get(key)
        if plan is None:
            if len(plans) >= 4096:  # bounded: substance texts are free text
                plans.clear()
            plan = _plan(ctx, admin)
            plans[key] = plan
        dose = _dose(ctx, fields, admin_id, sizes, plan)
        if dose is not None:
            start: datetime | None = fields["start"]
            group = (plan.hcpcs, start.date() if start is not None else None, ndc)
            doses = groups.get(group)
            if doses is None:
                groups[group] = [dose]
            else:
                doses.append(dose)
    result: list[PlainDrugLine] = []
    if len(groups) == 1:
        for (hcpcs, day, ndc), doses in groups.items():
            _lines_for(ctx, result, hcpcs, day, ndc, doses, sizes[hcpcs])
        return result
    for (hcpcs, day, ndc), doses in sorted(groups.items(), key=_group_order):
        _lines_for(ctx, result, hcpcs, day, ndc, doses, sizes[hcpcs])
    return result


def _first(item: tuple[str, Administration]) -> str:
    return item[0]


def _group_order(
    item: tuple[tuple[str, date | None, str | None], list[_Dose]],
) -> tuple[date, str]:
    return item[0][1] or date.min, item[0][0]


def _plan(ctx: Context, admin: Administration) -> _Plan:
    """What the pack settles for the record's (substance, hcpcs, ndc): no finding here, and nothing of the
    record beyond those three (identity's lookups depend on nothing else)."""
    matches = identity.table_entries(ctx, admin)
    drugs = [m for m in matches if m.kind in ("drug", "electrolyte")]
    parsed = rule_module.parse_amount(admin.substance)
    unsettled = False
    listed = ""
    if admin.ndc:  # the CMS ASP NDC-HCPCS crosswalk, when it settles one code
        rows = identity.products(ctx, admin)
        code = identity.coded_hcpcs(ctx, admin) if rows else None
        chosen = [row for row in rows if row.hcpcs == code]
        if chosen:
            name = drugs[0].name if drugs else None
            hcpcs, unit = chosen[0].hcpcs, chosen[0].billing_unit
            return _Plan(
                _MEASURE,
                False,
                "",
                hcpcs,
                unit,
                name,
                "CMS ASP NDC-HCPCS crosswalk",
                _unit_base(unit),
                parsed,
            )
        unsettled = True
        listed = ", ".join(sorted({row.hcpcs for row in rows}))
    if not drugs:
        outcome = _FLUID if any(m.kind == "fluid" for m in matches) else _UNKNOWN
        return _Plan(outcome, unsettled, listed, "", "", None, "", None, parsed)
    entry = drugs[0]
    if entry.hcpcs is None or entry.billing_unit is None:
        return _Plan(_NO_CODE, unsettled, listed, "", "", entry.name, "", None, parsed)
    unit = entry.billing_unit
    return _Plan(
        _MEASURE,
        unsettled,
        listed,
        entry.hcpcs,
        unit,
        entry.name,
        "substance table",
        _unit_base(unit),
        parsed,
    )


def _dose(
    ctx: Context,
    fields: dict[str, Any],
    admin_id: str,
    sizes: dict[str, tuple[str, float, str]],
    plan: _Plan,
) -> _Dose | None:
    if plan.unsettled:
        rows = plan.listed != ""
        listed = plan.listed
        ctx.find(
            RULE,
            "ndc-not-settled",
            "info",
            [admin_id],
            f"{shown_name(fields['substance'])}: NDC {fields['ndc']} "
            + (
                f"is listed by CMS under several codes ({listed})"
                if rows
                else "is not in the CMS ASP NDC-HCPCS crosswalk"
            )
            + "; the code comes from the substance table instead. Check the NDC.",
        )
    outcome = plan.outcome
    if outcome == _MEASURE:
        return _measure(ctx, fields, admin_id, sizes, plan)
    if outcome != _NO_CODE:  # no drug in the substance table
        if outcome == _FLUID:
            ctx.find(
                RULE,
                "fluid-billed-by-bag",
                "info",
                [admin_id],
                f"{shown_name(fields['substance'])}: report the fluid's HCPCS code by bag size (J7030 1000 mL, J7040 500 mL, "
                "J7050 250 mL, ...); the engine does not choose it.",
            )
        else:
            ctx.find(
                RULE,
                "drug-code-unknown",
                "info",
                [admin_id],
                f"{shown_name(fields['substance'])}: no HCPCS drug code in the substance table; add the drug line by hand.",
            )
        return None
    ctx.find(
        RULE,
        "drug-code-unknown",
        "info",
        [admin_id],
        f"{shown_name(fields['substance'])} ({plan.name}): no HCPCS code and billing unit in the substance table; "
        "add the drug line by hand.",
    )
    return None


def _measure(
    ctx: Context,
    fields: dict[str, Any],
    admin_id: str,
    sizes: dict[str, tuple[str, float, str]],
    plan: _Plan,
) -> _Dose | None:
    hcpcs = plan.hcpcs
    billing_unit = plan.billing_unit
    """`fields`: the record's __dict__ (its field values)."""
    name = plan.name if plan.name is not None else shown_name(fields["substance"])
    unit_base = plan.unit_base
    if unit_base is None:
        origin = plan.origin
        ctx.find(
            RULE,
            "drug-code-unknown",
            "info",
            [admin_id],
            f"{shown_name(fields['substance'])} ({name}): {hcpcs}'s billing unit {billing_unit!r} ({origin}) is not a measured "
            "amount; add the drug line by hand.",
        )
        return None
    dose: float | None = fields["dose"]
    given = (dose, (fields["dose_unit"] or "").lower().strip()) if dose is not None else None
    given = given or plan.parsed
    if given is None:
        ctx.find(
            RULE,
            "dose-missing",
            "warning",
            [admin_id],
            f"{shown_name(fields['substance'])}: no dose documented, so the units of {hcpcs} (per {billing_unit}) "
            "cannot be computed; document the dose given.",
            denial_risk="CO-16",
        )
        return None
    dose_base = rule_module.in_base(given[0], given[1])
    if dose_base is None or dose_base[0] != unit_base[0]:
        ctx.find(
            RULE,
            "dose-not-convertible",
            "warning",
            [admin_id],
            f"{shown_name(fields['substance'])}: a dose of {format(given[0], 'g')} {given[1]} does not convert to {hcpcs}'s billing "
            f"unit ({billing_unit}); document the dose actually given.",
            denial_risk="CO-16",
        )
        return None
    wasted = None
    given_waste: float | None = fields["wasted"]
    if given_waste is not None:
        waste_base = rule_module.in_base(given_waste, given[1])
        wasted = waste_base[1] if waste_base else None
    sizes[hcpcs] = (billing_unit, unit_base[1], name)
    single = bool(fields["single_dose_container"])
    return _Dose(single, admin_id, dose_base[1], wasted, dose_base[0])


# billing unit text -> (dimension, size in the base unit): the texts come from the reference tables (a few
# hundred), asked once per plan
_UNIT_BASES: dict[str, tuple[str, float] | None] = {}


def _unit_base(billing_unit: str) -> tuple[str, float] | None:
    if billing_unit not in _UNIT_BASES:
        if len(_UNIT_BASES) >= 4096:  # bounded all the same: a service may load reference folders anew
            _UNIT_BASES.clear()
        unit = rule_module.parse_amount(billing_unit)
        _UNIT_BASES[billing_unit] = rule_module.in_base(*unit) if unit else None
    return _UNIT_BASES[billing_unit]


def _lines_for(
    ctx: Context,
    result: list[PlainDrugLine],
    hcpcs: str,
    day: date | None,
    ndc: str | None,
    doses: list[_Dose],
    size: tuple[str, float, str],
) -> None:
    """Append the group's line (and its JW line) to `result`."""
    label, unit_size, name = size
    single = False
    undocumented = False  # a dose without its discarded amount
    if len(doses) == 1:
        first = doses[0]
        ids = [first.id]
        total = first.amount
        single = first.single
        undocumented = first.wasted is None
    else:
        ids = sorted(d.id for d in doses)
        total = sum(d.amount for d in doses)
        for d in doses:
            if d.single:
                single = True
            if d.wasted is None:
                undocumented = True
    units = rule_module.billing_units(total, unit_size)
    base = rule_module.BASE_NAME[doses[0].dimension]
    given = f"on {day}" if day else "(no date charted)"
    # format(), not a format spec in the f-string: the compiled build turns an f-string with a spec into
    # str.format calls, without one into a plain join
    what = f"{name}: {format(total, 'g')} {base} given {given}, billed per {label}, rounded up once: {units} unit(s)"
    if not single or (day is not None and day < rule_module.JZ_JW_FROM):
        result.append(PlainDrugLine(hcpcs, units, [], day, ndc, ids, what + ".", RULE.id))
        return
    if undocumented:
        ctx.find(
            RULE,
            "waste-not-documented",
            "warning",
            ids,
            f"{name} came from a single-dose container: document the amount discarded (or none) so the "
            "line can carry JW or JZ; claims without one may be returned.",
            denial_risk="CO-16",
        )
        explanation = what + "; JZ or JW pending the discarded amount."
        result.append(PlainDrugLine(hcpcs, units, [], day, ndc, ids, explanation, RULE.id))
        return
    wasted = sum(d.wasted or 0.0 for d in doses)
    jw_units = rule_module.discarded_units(total, wasted, unit_size)
    if jw_units <= 0:
        explanation = what + "; JZ: no discard beyond the rounded units."
        result.append(PlainDrugLine(hcpcs, units, ["JZ"], day, ndc, ids, explanation, RULE.id))
        return
    discarded = f"{name}: {format(wasted, 'g')} {base} discarded from a single-dose container, {jw_units} unit(s) beyond the dose given."
    result.append(PlainDrugLine(hcpcs, units, [], day, ndc, ids, what + ".", RULE.id))
    result.append(PlainDrugLine(hcpcs, jw_units, ["JW"], day, ndc, ids, discarded, RULE.id))
