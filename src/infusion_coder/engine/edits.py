"""Fire the NCCI edits of the claim's setting on the engine's lines (IC901 PTP, IC902 MUE)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from ..models import Line
from ..rules import ic901_ncci_ptp, ic902_mue
from .context import Context

_MAI = {
    1: "per line",
    2: "per date of service (policy, absolute)",
    3: "per date of service (clinical, appealable)",
}


def apply_edits(ctx: Context, lines: list[Line]) -> None:
    setting = "outpatient_hospital" if ctx.institutional else "practitioner"
    by_date: dict[date, list[Line]] = defaultdict(list)
    for line in lines:
        if line.date is not None:
            by_date[line.date].append(line)
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
    by_code: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        by_code[line.code].append(line)
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
                    f"NCCI pair {label}, modifier indicator 1: bypassed by {', '.join(used)} on a second access's "
                    "initial service; the bypass holds only while the record supports that separate access.",
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
    totals: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        totals[line.code].append(line)
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
