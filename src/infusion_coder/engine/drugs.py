"""Drug supply lines beside the administration lines (IC701): HCPCS code, units from dose, JZ/JW."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from ..models import Administration, shown_name
from ..rules import ic701_drug_lines as rule_module
from . import identity
from .context import Context
from .output import PlainDrugLine, PlainLine

RULE = rule_module.RULE


@dataclass(slots=True)
class _Dose:
    admin: Administration
    amount: float  # in the base unit of its dimension
    wasted: float | None
    dimension: str


def drug_lines(ctx: Context, lines: list[PlainLine]) -> list[PlainDrugLine]:
    coded = {i for line in lines for i in line.administrations} | ctx.supplied
    groups: dict[tuple[str, date | None, str | None], list[_Dose]] = defaultdict(list)
    sizes: dict[str, tuple[str, float, str]] = {}
    for admin in sorted(ctx.encounter.administrations, key=lambda a: a.id):
        if admin.id not in coded:
            continue
        found = _dose(ctx, admin, sizes)
        if found is not None:
            hcpcs, dose = found
            groups[(hcpcs, admin.start.date() if admin.start else None, admin.ndc)].append(dose)
    result: list[PlainDrugLine] = []
    for (hcpcs, day, ndc), doses in sorted(groups.items(), key=lambda kv: (kv[0][1] or date.min, kv[0][0])):
        result.extend(_lines_for(ctx, hcpcs, day, ndc, doses, sizes[hcpcs]))
    return result


def _from_cms(ctx: Context, admin: Administration) -> tuple[str, str] | None:
    """(HCPCS, billing unit) for the record's NDC from the CMS ASP NDC-HCPCS crosswalk, when it settles one."""
    if not admin.ndc:
        return None
    rows = identity.products(ctx, admin)
    code = identity.coded_hcpcs(ctx, admin) if rows else None
    chosen = [row for row in rows if row.hcpcs == code]
    if chosen:
        return chosen[0].hcpcs, chosen[0].billing_unit
    listed = ", ".join(sorted({row.hcpcs for row in rows}))
    ctx.find(
        RULE,
        "ndc-not-settled",
        "info",
        [admin.id],
        f"{shown_name(admin.substance)}: NDC {admin.ndc} "
        + (
            f"is listed by CMS under several codes ({listed})"
            if rows
            else "is not in the CMS ASP NDC-HCPCS crosswalk"
        )
        + "; the code comes from the substance table instead. Check the NDC.",
    )
    return None


def _dose(
    ctx: Context, admin: Administration, sizes: dict[str, tuple[str, float, str]]
) -> tuple[str, _Dose] | None:
    matches = identity.table_entries(ctx, admin)
    drugs = [m for m in matches if m.kind in ("drug", "electrolyte")]
    cms = _from_cms(ctx, admin)
    if cms is not None:
        name = drugs[0].name if drugs else shown_name(admin.substance)
        return _measure(ctx, admin, sizes, cms[0], cms[1], name, "CMS ASP NDC-HCPCS crosswalk")
    if not drugs:
        if any(m.kind == "fluid" for m in matches):
            ctx.find(
                RULE,
                "fluid-billed-by-bag",
                "info",
                [admin.id],
                f"{shown_name(admin.substance)}: report the fluid's HCPCS code by bag size (J7030 1000 mL, J7040 500 mL, "
                "J7050 250 mL, ...); the engine does not choose it.",
            )
        else:
            ctx.find(
                RULE,
                "drug-code-unknown",
                "info",
                [admin.id],
                f"{shown_name(admin.substance)}: no HCPCS drug code in the substance table; add the drug line by hand.",
            )
        return None
    entry = drugs[0]
    if entry.hcpcs is None or entry.billing_unit is None:
        ctx.find(
            RULE,
            "drug-code-unknown",
            "info",
            [admin.id],
            f"{shown_name(admin.substance)} ({entry.name}): no HCPCS code and billing unit in the substance table; "
            "add the drug line by hand.",
        )
        return None
    return _measure(ctx, admin, sizes, entry.hcpcs, entry.billing_unit, entry.name, "substance table")


def _measure(
    ctx: Context,
    admin: Administration,
    sizes: dict[str, tuple[str, float, str]],
    hcpcs: str,
    billing_unit: str,
    name: str,
    origin: str,
) -> tuple[str, _Dose] | None:
    unit_base = _unit_base(billing_unit)
    if unit_base is None:
        ctx.find(
            RULE,
            "drug-code-unknown",
            "info",
            [admin.id],
            f"{shown_name(admin.substance)} ({name}): {hcpcs}'s billing unit {billing_unit!r} ({origin}) is not a measured "
            "amount; add the drug line by hand.",
        )
        return None
    given = (admin.dose, (admin.dose_unit or "").lower().strip()) if admin.dose is not None else None
    given = given or rule_module.parse_amount(admin.substance)
    if given is None:
        ctx.find(
            RULE,
            "dose-missing",
            "warning",
            [admin.id],
            f"{shown_name(admin.substance)}: no dose documented, so the units of {hcpcs} (per {billing_unit}) "
            "cannot be computed; document the dose given.",
            denial_risk="CO-16",
        )
        return None
    dose_base = rule_module.in_base(*given)
    if dose_base is None or dose_base[0] != unit_base[0]:
        ctx.find(
            RULE,
            "dose-not-convertible",
            "warning",
            [admin.id],
            f"{shown_name(admin.substance)}: a dose of {given[0]:g} {given[1]} does not convert to {hcpcs}'s billing "
            f"unit ({billing_unit}); document the dose actually given.",
            denial_risk="CO-16",
        )
        return None
    wasted = None
    if admin.wasted is not None:
        waste_base = rule_module.in_base(admin.wasted, given[1])
        wasted = waste_base[1] if waste_base else None
    sizes[hcpcs] = (billing_unit, unit_base[1], name)
    return hcpcs, _Dose(admin, dose_base[1], wasted, dose_base[0])


# billing unit text -> (dimension, size in the base unit): the texts come from the reference tables (a few
# hundred), asked once per dose
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
    hcpcs: str,
    day: date | None,
    ndc: str | None,
    doses: list[_Dose],
    size: tuple[str, float, str],
) -> list[PlainDrugLine]:
    label, unit_size, name = size
    ids = sorted(d.admin.id for d in doses)
    total = sum(d.amount for d in doses)
    units = rule_module.billing_units(total, unit_size)
    base = rule_module.BASE_NAME[doses[0].dimension]
    given = f"on {day}" if day else "(no date charted)"
    what = f"{name}: {total:g} {base} given {given}, billed per {label}, rounded up once: {units} unit(s)"

    def line(count: int, explanation: str, modifier: str | None = None) -> PlainDrugLine:
        return PlainDrugLine(
            hcpcs, count, [modifier] if modifier else [], day, ndc, ids, explanation, RULE.id
        )

    single = any(d.admin.single_dose_container for d in doses)
    if not single or (day is not None and day < rule_module.JZ_JW_FROM):
        return [line(units, what + ".")]
    if any(d.wasted is None for d in doses):
        ctx.find(
            RULE,
            "waste-not-documented",
            "warning",
            ids,
            f"{name} came from a single-dose container: document the amount discarded (or none) so the "
            "line can carry JW or JZ; claims without one may be returned.",
            denial_risk="CO-16",
        )
        return [line(units, what + "; JZ or JW pending the discarded amount.")]
    wasted = sum(d.wasted or 0.0 for d in doses)
    jw_units = rule_module.discarded_units(total, wasted, unit_size)
    if jw_units <= 0:
        return [line(units, what + "; JZ: no discard beyond the rounded units.", "JZ")]
    discarded = f"{name}: {wasted:g} {base} discarded from a single-dose container, {jw_units} unit(s) beyond the dose given."
    return [line(units, what + "."), line(jw_units, discarded, "JW")]
