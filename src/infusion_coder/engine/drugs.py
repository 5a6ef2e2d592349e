"""Drug supply lines beside the administration lines (IC701): HCPCS code, units from dose, JZ/JW."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from ..models import Administration, DrugLine, Line
from ..reference import Substance
from ..rules import ic701_drug_lines as rule_module
from .context import Context

RULE = rule_module.RULE


@dataclass
class _Dose:
    admin: Administration
    amount: float  # in the base unit of its dimension
    wasted: float | None
    dimension: str


def drug_lines(ctx: Context, lines: list[Line]) -> list[DrugLine]:
    coded = {i for line in lines for i in line.administrations}
    groups: dict[tuple[str, date | None, str | None], list[_Dose]] = defaultdict(list)
    sizes: dict[str, tuple[str, float, Substance]] = {}
    for admin in sorted(ctx.encounter.administrations, key=lambda a: a.id):
        if admin.id not in coded:
            continue
        found = _dose(ctx, admin, sizes)
        if found is not None:
            hcpcs, dose = found
            groups[(hcpcs, admin.start.date() if admin.start else None, admin.ndc)].append(dose)
    result: list[DrugLine] = []
    for (hcpcs, day, ndc), doses in sorted(groups.items(), key=lambda kv: (kv[0][1] or date.min, kv[0][0])):
        result.extend(_lines_for(ctx, hcpcs, day, ndc, doses, sizes[hcpcs]))
    return result


def _dose(
    ctx: Context, admin: Administration, sizes: dict[str, tuple[str, float, Substance]]
) -> tuple[str, _Dose] | None:
    matches = ctx.substances.match(admin.substance)
    drugs = [m for m in matches if m.kind in ("drug", "electrolyte")]
    if not drugs:
        if any(m.kind == "fluid" for m in matches):
            ctx.find(
                RULE,
                "fluid-billed-by-bag",
                "info",
                [admin.id],
                f"{admin.substance}: report the fluid's HCPCS code by bag size (J7030 1000 mL, J7040 500 mL, "
                "J7050 250 mL, ...); the engine does not choose it.",
            )
        else:
            ctx.find(
                RULE,
                "drug-code-unknown",
                "info",
                [admin.id],
                f"{admin.substance}: no HCPCS drug code in the substance table; add the drug line by hand.",
            )
        return None
    entry = drugs[0]
    unit = rule_module.parse_amount(entry.billing_unit) if entry.billing_unit else None
    unit_base = rule_module.in_base(*unit) if unit else None
    if entry.hcpcs is None or unit_base is None:
        ctx.find(
            RULE,
            "drug-code-unknown",
            "info",
            [admin.id],
            f"{admin.substance} ({entry.name}): no HCPCS code and billing unit in the substance table; "
            "add the drug line by hand.",
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
            f"{admin.substance}: no dose documented, so the units of {entry.hcpcs} (per {entry.billing_unit}) "
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
            f"{admin.substance}: a dose of {given[0]:g} {given[1]} does not convert to {entry.hcpcs}'s billing "
            f"unit ({entry.billing_unit}); document the dose actually given.",
            denial_risk="CO-16",
        )
        return None
    wasted = None
    if admin.wasted is not None:
        waste_base = rule_module.in_base(admin.wasted, given[1])
        wasted = waste_base[1] if waste_base else None
    sizes[entry.hcpcs] = (entry.billing_unit or "", unit_base[1], entry)
    return entry.hcpcs, _Dose(admin, dose_base[1], wasted, dose_base[0])


def _lines_for(
    ctx: Context,
    hcpcs: str,
    day: date | None,
    ndc: str | None,
    doses: list[_Dose],
    size: tuple[str, float, Substance],
) -> list[DrugLine]:
    label, unit_size, entry = size
    ids = sorted(d.admin.id for d in doses)
    total = sum(d.amount for d in doses)
    units = rule_module.billing_units(total, unit_size)
    base = rule_module.BASE_NAME[doses[0].dimension]
    what = (
        f"{entry.name}: {total:g} {base} given on {day}, billed per {label}, rounded up once: {units} unit(s)"
    )

    def line(count: int, explanation: str, modifier: str | None = None) -> DrugLine:
        return DrugLine(
            hcpcs=hcpcs,
            units=count,
            modifiers=[modifier] if modifier else [],
            date=day,
            ndc=ndc,
            administrations=ids,
            explanation=explanation,
            rule=RULE.id,
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
            f"{entry.name} came from a single-dose container: document the amount discarded (or none) so the "
            "line can carry JW or JZ; claims without one may be returned.",
            denial_risk="CO-16",
        )
        return [line(units, what + "; JZ or JW pending the discarded amount.")]
    wasted = sum(d.wasted or 0.0 for d in doses)
    jw_units = rule_module.discarded_units(total, wasted, unit_size)
    if jw_units <= 0:
        return [line(units, what + "; JZ: no discard beyond the rounded units.", "JZ")]
    discarded = f"{entry.name}: {wasted:g} {base} discarded from a single-dose container, {jw_units} unit(s) beyond the dose given."
    return [line(units, what + "."), line(jw_units, discarded, "JW")]
