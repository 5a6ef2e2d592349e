"""Fire the NCCI edits of the claim's setting on the engine's lines (IC901 PTP, IC902 MUE)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from ..models import Line
from ..rules import ic303_second_access, ic901_ncci_ptp, ic902_mue
from .context import Context
from .services import Unit

_MAI = {
    1: "per line",
    2: "per date of service (policy, absolute)",
    3: "per date of service (clinical, appealable)",
}


def _by_date(lines: list[Line]) -> dict[date, list[Line]]:
    """Dated lines by date of service: the edits are in force per date."""
    found: dict[date, list[Line]] = defaultdict(list)
    for line in lines:
        if line.date is not None:
            found[line.date].append(line)
    return found


def _by_code(lines: list[Line]) -> dict[str, list[Line]]:
    found: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        found[line.code].append(line)
    return found


def _setting(ctx: Context) -> str:
    return "outpatient_hospital" if ctx.institutional else "practitioner"


def place_distinct_modifiers(ctx: Context, units: list[Unit]) -> None:
    """The distinct modifier of a second access goes on the column-two code of the NCCI pair it answers:
    when the second access's initial code is column one of an indicator-1 pair with the first access's
    initial code, the modifier moves to the first access's code (96413 + 96365-59, not 96413-59 + 96365)."""
    second = [u for u in units if u.initial and not u.main and u.modifiers]
    first = [u for u in units if u.initial and u.main]
    tables: dict[date, dict[tuple[str, str], Any]] = {}
    for unit in second:
        if unit.when is None:
            continue
        day = unit.when.date()
        if day not in tables:
            tables[day] = ctx.pack.edits.pairs(_setting(ctx), day)
        pairs = tables[day]
        for other in first:
            # a first-access code marked distinct for one second access cannot answer for another too
            if other.when is None or other.when.date() != unit.when.date() or other.modifiers:
                continue
            edit = pairs.get((unit.code, other.code))
            if edit is None or edit.modifier_indicator != 1 or pairs.get((other.code, unit.code)):
                continue
            moved = unit.modifiers
            unit.modifiers = ()
            other.modifiers = tuple(sorted({*other.modifiers, *moved}))
            ctx.find(
                ic303_second_access.RULE,
                "distinct-modifier-on-column-two",
                "info",
                sorted({*unit.ids, *other.ids}),
                f"Two accesses: {unit.code} and {other.code} are NCCI pair {edit.column_1}/{edit.column_2} "
                f"({edit.source}); the distinct modifier {', '.join(moved)} goes on the column-two code "
                f"{other.code}, the code the edit would deny.",
            )
            break


def mark_distinct_sites(ctx: Context, lines: list[Line]) -> None:
    """An IM or SC injection beside IV services is at a site of its own by its nature: where an
    indicator-1 pair joins it to an IV code on the same date, the column-two code carries the profile's
    distinct modifier, with a finding saying why (IC901)."""
    modifier = ctx.option("distinct_modifier")
    by_date = _by_date(lines)
    for day, day_lines in sorted(by_date.items()):
        pairs = ctx.pack.edits.pairs(_setting(ctx), day)
        by_code = _by_code(day_lines)
        # pairs of codes, not of lines: many lines of one code on a date must not cost their square
        for first_code, firsts in by_code.items():
            for second_code, seconds in by_code.items():
                edit = pairs.get((first_code, second_code))
                own_site = {
                    first_code in ic901_ncci_ptp.OWN_SITE_CODES,
                    second_code in ic901_ncci_ptp.OWN_SITE_CODES,
                }
                if edit is None or edit.modifier_indicator != 1 or own_site != {True, False}:
                    continue
                if any(ic901_ncci_ptp.BYPASS_MODIFIERS & set(line.modifiers) for line in firsts):
                    continue
                marked = [s for s in seconds if not ic901_ncci_ptp.BYPASS_MODIFIERS & set(s.modifiers)]
                if not marked:
                    continue
                for second in marked:
                    second.modifiers = sorted({*second.modifiers, modifier})
                ctx.find(
                    ic901_ncci_ptp.RULE,
                    "distinct-site-modifier",
                    "info",
                    sorted({*firsts[0].administrations, *(i for s in marked for i in s.administrations)}),
                    f"NCCI pair {edit.column_1}/{edit.column_2} ({edit.source}), modifier indicator 1: an IM or SC "
                    f"injection is given at a site of its own, apart from the IV line, so the column-two code "
                    f"{second_code} carries {modifier} ({ctx.cite_option('distinct_modifier')}); the record must "
                    "show the injection site.",
                )


def apply_edits(ctx: Context, lines: list[Line]) -> None:
    setting = _setting(ctx)
    by_date = _by_date(lines)
    tables = ctx.pack.edits
    if lines and not tables.ptp.get(setting):
        ctx.find(
            ic901_ncci_ptp.RULE,
            "ptp-table-missing",
            "info",
            [],
            f"No NCCI PTP table for the {setting.replace('_', ' ')} setting in reference data "
            f"{ctx.pack.version}: pairs were not checked. Load the CMS quarterly file.",
        )
    if lines and not tables.mue.get(setting):
        ctx.find(
            ic902_mue.RULE,
            "mue-table-missing",
            "info",
            [],
            f"No MUE table for the {setting.replace('_', ' ')} setting in reference data {ctx.pack.version}: "
            "unit limits were not checked. Load the CMS quarterly file.",
        )
    for day, day_lines in sorted(by_date.items()):
        _ptp(ctx, setting, day, day_lines)
        _mue(ctx, setting, day, day_lines)


def _ptp(ctx: Context, setting: str, day: date, lines: list[Line]) -> None:
    pairs = ctx.pack.edits.pairs(setting, day)
    rule = ic901_ncci_ptp.RULE
    # Each pair of codes fires once, on its first two lines: look at those, not at every pair of lines.
    by_code = _by_code(lines)
    for code_1, lines_1 in by_code.items():
        for code_2, lines_2 in by_code.items():
            edit = pairs.get((code_1, code_2))
            if edit is None or (code_1 == code_2 and len(lines_1) < 2):
                continue
            first, second = lines_1[0], lines_2[1 if code_1 == code_2 else 0]
            ids = sorted({*first.administrations, *second.administrations})
            label = f"{edit.column_1}/{edit.column_2} ({setting.replace('_', ' ')}, {edit.source})"
            if edit.modifier_indicator == 0:
                ctx.find(
                    rule,
                    "ncci-ptp",
                    "error",
                    ids,
                    f"NCCI pair {label}, modifier indicator 0: {edit.column_2} is not payable with "
                    f"{edit.column_1} on {day} and no modifier bypasses it.",
                    denial_risk="CO-97",
                )
                continue
            used = sorted(ic901_ncci_ptp.BYPASS_MODIFIERS & {*first.modifiers, *second.modifiers})
            if used:
                ctx.find(
                    rule,
                    "ncci-ptp-bypassed",
                    "info",
                    ids,
                    f"NCCI pair {label}, modifier indicator 1: bypassed by {', '.join(used)} (a second access, or "
                    "an injection at its own site); the bypass holds only while the record supports that "
                    "separate site.",
                )
            else:
                ctx.find(
                    rule,
                    "ncci-ptp",
                    "warning",
                    ids,
                    f"NCCI pair {label}, modifier indicator 1: {edit.column_2} denies with {edit.column_1} on "
                    f"{day} unless a modifier applies; add 59 or an X modifier only if the record shows a "
                    "separate site or encounter (an IM injection at its own site, a second access).",
                    denial_risk="CO-97",
                )


def _mue(ctx: Context, setting: str, day: date, lines: list[Line]) -> None:
    limits = ctx.pack.edits.limits(setting, day)
    rule = ic902_mue.RULE
    totals = _by_code(lines)
    for code, code_lines in sorted(totals.items()):
        edit = limits.get(code)
        if edit is None:
            continue
        checks = [[line] for line in code_lines] if edit.mai == 1 else [code_lines]
        for group in checks:
            units = sum(line.units for line in group)
            if units <= edit.value:
                continue
            ids = sorted({i for line in group for i in line.administrations})
            ctx.find(
                rule,
                "mue-exceeded",
                "error",
                ids,
                f"{code} x{units} on {day} is over its MUE of {edit.value} ({_MAI[edit.mai]}, "
                f"{setting.replace('_', ' ')}, {edit.source})"
                + (": not payable in this setting." if edit.value == 0 else "."),
                denial_risk="CO-151",
                remark="N362",
            )
