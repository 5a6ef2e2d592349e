"""Fire the NCCI edits of the claim's setting on the engine's lines (IC901 PTP, IC902 MUE)."""

from __future__ import annotations

from datetime import date
from typing import Any

from ..models import EvaluationAndManagement
from ..reference.edits import SettingEdits, cited
from ..rules import ic303_second_access, ic503_em_with_administration, ic901_ncci_ptp, ic902_mue
from .context import Context
from .output import PlainLine
from .services import Unit

# What each MUE adjudication indicator means for the line that exceeds it (CMS MUE files; MLN MUE fact sheet).
_MAI = {
    1: "a per-line limit (MAI 1): the units over it deny on this line; they may be billed on another line "
    "with an appropriate modifier (59, XE/XS/XP/XU, 76, 77 or 91) when the record supports them.",
    2: "a per-date limit, absolute (MAI 2, policy): units over it are never paid, and no modifier or appeal "
    "changes that; correct the units.",
    3: "a per-date limit on clinical grounds (MAI 3): no modifier bypasses it; the units over it deny and may "
    "be paid on appeal with records that show they were needed.",
}


_Codes = dict[str, list[PlainLine]]  # a date's lines by code, in the order of the lines


def _by_date(lines: list[PlainLine]) -> list[tuple[date, _Codes]]:
    """Dated lines by date of service, then by code, dates in order: the edits are in force per date."""
    found: dict[date, _Codes] = {}
    for line in lines:
        day = line.date
        if day is None:
            continue
        codes = found.get(day)
        if codes is None:
            found[day] = {line.code: [line]}
            continue
        same = codes.get(line.code)
        if same is None:
            codes[line.code] = [line]
        else:
            same.append(line)
    return sorted(found.items()) if len(found) > 1 else list(found.items())


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
        day = ctx.frame.local(unit.when).date()
        if day not in tables:
            tables[day] = ctx.pack.edits.pairs(_setting(ctx), day)
        pairs = tables[day]
        for other in first:
            # a first-access code marked distinct for one second access cannot answer for another too
            if other.when is None or ctx.frame.local(other.when).date() != day or other.modifiers:
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
                f"Two accesses: {unit.code} and {other.code} are NCCI pair {_label(edit, _setting(ctx))}; the "
                f"distinct modifier {', '.join(moved)} goes on the column-two code "
                f"{other.code}, the code the edit would deny.",
            )
            break


def check_edits(ctx: Context, lines: list[PlainLine]) -> None:
    """mark_distinct_sites, then apply_edits, on one grouping of the lines by date and code (the first
    changes modifiers only, never a code or a date)."""
    edits = ctx.pack.edits.setting(_setting(ctx))
    by_date = _by_date(lines)
    _mark_distinct_sites(ctx, edits, by_date)
    _apply_edits(ctx, edits, lines, by_date)


def mark_distinct_sites(ctx: Context, lines: list[PlainLine]) -> None:
    """An IM or SC injection beside IV services is at a site of its own by its nature: where an
    indicator-1 pair joins it to an IV code on the same date, the column-two code carries the profile's
    distinct modifier, with a finding saying why (IC901)."""
    _mark_distinct_sites(ctx, ctx.pack.edits.setting(_setting(ctx)), _by_date(lines))


def _mark_distinct_sites(ctx: Context, edits: SettingEdits, by_date: list[tuple[date, _Codes]]) -> None:
    if not by_date:
        return
    modifier = ctx.option("distinct_modifier")
    distinct_injections = ctx.option("distinct_injections") == "modifier"
    own_site_codes = ic901_ncci_ptp.OWN_SITE_CODES
    bypass = ic901_ncci_ptp.BYPASS_MODIFIERS
    for day, by_code in by_date:
        if own_site_codes.isdisjoint(by_code):
            continue  # every pair below needs a code at a site of its own
        rows = edits.rows(day)
        # pairs of codes, not of lines: many lines of one code on a date must not cost their square
        for first_code, firsts in by_code.items():
            row = rows.get(first_code)
            if row is None:
                continue  # the code begins no pair
            for second_code, seconds in by_code.items():
                edit = row.get(second_code)
                if edit is None or edit.modifier_indicator != 1:
                    continue  # most pairs of codes are no edit: skip the site test below
                first_own = first_code in own_site_codes
                second_own = second_code in own_site_codes
                # two injections (or an SC infusion and an injection) are each at a site of their own too
                both = first_own and second_own
                injections = both and first_code != second_code and distinct_injections
                if first_own == second_own and not injections:
                    continue
                if bypass & set(firsts[0].modifiers):
                    continue  # the pair the edit checks (its first line of each code) is bypassed already
                marked = [s for s in seconds if not bypass & set(s.modifiers)]
                if not marked:
                    continue
                for second in marked:
                    second.modifiers = sorted({*second.modifiers, modifier})
                ctx.find(
                    ic901_ncci_ptp.RULE,
                    "distinct-site-modifier",
                    "info",
                    sorted({*firsts[0].administrations, *(i for s in marked for i in s.administrations)}),
                    f"NCCI pair {_label(edit, edits.setting)}, modifier indicator 1: "
                    + (
                        "each is an injection or SC infusion at a site of its own, a distinct service"
                        if both
                        else "an IM or SC injection is given at a site of its own, apart from the IV line"
                    )
                    + f", so the column-two code {second_code} carries {modifier} "
                    f"({ctx.cite_option('distinct_modifier')}); the record must show the injection site.",
                )


def apply_edits(ctx: Context, lines: list[PlainLine]) -> None:
    """PTP pairs and MUE limits per date of service (as the I/OCE and the MACs apply them: a pair on two
    dates is no edit), from the table of the claim's setting; the E/M the encounter names is checked on its
    first date. Whatever no bundled table covers is named as not evaluated."""
    _apply_edits(ctx, ctx.pack.edits.setting(_setting(ctx)), lines, _by_date(lines))


def _apply_edits(
    ctx: Context, edits: SettingEdits, lines: list[PlainLine], by_date: list[tuple[date, _Codes]]
) -> None:
    if not lines:
        return
    setting = edits.setting
    where = setting.replace("_", " ")
    if not edits.has_ptp:
        ctx.find(
            ic901_ncci_ptp.RULE,
            "ptp-table-missing",
            "info",
            [],
            f"No NCCI PTP table for the {where} setting in reference data {ctx.pack.version}: pairs were not "
            "evaluated. Load the CMS quarterly file.",
        )
    if not edits.has_mue:
        ctx.find(
            ic902_mue.RULE,
            "mue-table-missing",
            "info",
            [],
            f"No MUE table for the {where} setting in reference data {ctx.pack.version}: unit limits were not "
            "evaluated. Load the CMS quarterly file.",
        )
    em = _em_line(ctx, by_date)
    for day, by_code in by_date:
        if edits.has_ptp:
            billed = by_code
            if em is not None and em.date == day:
                billed = dict(by_code)  # the E/M's pairs too: after the lines, as one more line
                same = billed.get(em.code)
                billed[em.code] = [em] if same is None else [*same, em]
                _ptp(ctx, edits, day, billed, em)
            else:
                _ptp(ctx, edits, day, billed, None)
            _ptp_not_evaluated(ctx, edits, day, billed)
        if edits.has_mue:
            _mue(ctx, edits, day, by_code)


def _em_line(ctx: Context, by_date: list[tuple[date, _Codes]]) -> PlainLine | None:
    """The encounter's E/M as a line on its first date of service, with modifier 25 when it is documented as
    separately identifiable (the engine asks for 25 on it then), for the pairs it forms."""
    em: EvaluationAndManagement | None = ctx.fields["evaluation_and_management"]
    if em is None or not by_date:
        return None
    return PlainLine(
        code=em.code.strip().upper(),
        units=1,
        modifiers=["25"] if em.separately_identifiable else [],
        date=by_date[0][0],
        administrations=[],
        explanation="the E/M the encounter names",
        rule=ic503_em_with_administration.RULE.id,
    )


def _label(edit: Any, setting: str) -> str:
    return f"{edit.column_1}/{edit.column_2} ({setting.replace('_', ' ')} table, {cited(edit.source)})"


def _ptp(ctx: Context, edits: SettingEdits, day: date, by_code: _Codes, em: PlainLine | None) -> None:
    rows = edits.rows(day)
    setting = edits.setting
    rule = ic901_ncci_ptp.RULE
    # Each pair of codes fires once, on its first two lines: look at those, not at every pair of lines.
    for code_1, lines_1 in by_code.items():
        row = rows.get(code_1)
        if row is None:
            continue  # the code begins no pair
        for code_2, lines_2 in by_code.items():
            edit = row.get(code_2)
            if edit is None or (code_1 == code_2 and len(lines_1) < 2):
                continue
            first, second = lines_1[0], lines_2[1 if code_1 == code_2 else 0]
            if em is not None and (first is em or second is em):
                _em_pair(ctx, setting, day, edit, em, second if first is em else first, em_first=first is em)
                continue
            ids = sorted({*first.administrations, *second.administrations})
            label = _label(edit, setting)
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
                    f"NCCI pair {label}, modifier indicator 1: bypassed by {', '.join(used)} (a second access, a "
                    "distinct injection, or an injection at its own site); the bypass holds only while the record "
                    "supports that distinct service.",
                )
            else:
                ctx.find(
                    rule,
                    "ncci-ptp",
                    "warning",
                    ids,
                    f"NCCI pair {label}, modifier indicator 1: {edit.column_2} denies with {edit.column_1} on "
                    f"{day} unless a modifier applies; add 59 or an X modifier to {edit.column_2}, the column-two "
                    "code, only if the record shows a separate site or encounter (an IM injection at its own "
                    "site, a second access).",
                    denial_risk="CO-97",
                )


def _em_pair(
    ctx: Context, setting: str, day: date, edit: Any, em: PlainLine, line: PlainLine, *, em_first: bool
) -> None:
    """A pair between the E/M the encounter names and an administration line."""
    rule = ic901_ncci_ptp.RULE
    label = _label(edit, setting)
    documented: EvaluationAndManagement | None = ctx.fields["evaluation_and_management"]
    separate = documented.separately_identifiable if documented is not None else None
    if not em_first:  # the E/M is column two: the E/M is what the edit denies
        if edit.modifier_indicator == 0:
            if em.code == "99211" and ctx.option("em_99211_with_administration") == "not_payable":
                return  # the E/M check (IC503) says so already, with its source
            ctx.find(
                rule,
                "ncci-ptp-e-m",
                "warning",
                line.administrations,
                f"NCCI pair {label}, modifier indicator 0: the E/M {em.code} is not payable with "
                f"{edit.column_1} on {day}, with or without modifier 25; bill the administration only.",
                denial_risk="CO-97",
            )
        elif separate is None:
            ctx.find(
                rule,
                "ncci-ptp-e-m",
                "warning",
                line.administrations,
                f"NCCI pair {label}, modifier indicator 1: the E/M {em.code} denies with {edit.column_1} on "
                f"{day} unless it is significant and separately identifiable and billed with modifier 25; the "
                "record does not say which (evaluation_and_management.separately_identifiable).",
                denial_risk="CO-97",
            )
        return  # separately identifiable: 25 on the E/M (IC503); not separate: bundled (IC503)
    if edit.modifier_indicator == 0:
        ctx.find(
            rule,
            "ncci-ptp",
            "error",
            line.administrations,
            f"NCCI pair {label}, modifier indicator 0: {line.code} is not payable with the E/M {em.code} on "
            f"{day} and no modifier bypasses it.",
            denial_risk="CO-97",
        )
    elif em.modifiers or ic901_ncci_ptp.BYPASS_MODIFIERS & set(line.modifiers):
        ctx.find(
            rule,
            "ncci-ptp-bypassed",
            "info",
            line.administrations,
            f"NCCI pair {label}, modifier indicator 1: the E/M is column one; modifier 25 on the separately "
            f"identifiable E/M {em.code} (or a distinct-service modifier on {line.code}) bypasses it.",
        )
    else:
        ctx.find(
            rule,
            "ncci-ptp",
            "warning",
            line.administrations,
            f"NCCI pair {label}, modifier indicator 1: {line.code} denies with the E/M {em.code} on {day} "
            "unless the E/M is significant and separately identifiable (modifier 25 on it) or the "
            "administration is a distinct service the record shows.",
            denial_risk="CO-97",
        )


def _ptp_not_evaluated(ctx: Context, edits: SettingEdits, day: date, by_code: _Codes) -> None:
    if len(by_code) < 2:
        return
    codes = sorted(by_code)
    outside = [code for code in codes if not edits.covers_ptp(code)]
    if not outside:
        return
    ids = sorted({i for code in outside for line in by_code[code] for i in line.administrations})
    others = [code for code in codes if code not in outside]
    ctx.find(
        ic901_ncci_ptp.RULE,
        "ptp-not-evaluated",
        "info",
        ids,
        f"NCCI pairs of {', '.join(outside)} with "
        + (", ".join(others) if others else "each other")
        + f" on {day} were not evaluated: the bundled {edits.setting.replace('_', ' ')} PTP table is an extract "
        f"that covers {ctx.pack.edits.coverage_note or 'other codes'} only; check them against the CMS file.",
    )


def _mue(ctx: Context, edits: SettingEdits, day: date, by_code: _Codes) -> None:
    limits = edits.limits(day)
    rule = ic902_mue.RULE
    outside: list[str] = []  # codes the bundled extract holds no rows for
    undated: list[str] = []  # codes with rows, none in force on this date
    for code in sorted(by_code):
        code_lines = by_code[code]
        edit = limits.get(code)
        if edit is None:
            if not edits.covers_mue(code):
                outside.append(code)
            elif code in edits.mue_codes:
                undated.append(code)
            continue
        value = edit.value
        if edit.mai == 1:  # each line against the limit
            over = [[line] for line in code_lines if line.units > value]
        else:  # the date's lines together
            total = 0
            for line in code_lines:
                total += line.units
            over = [code_lines] if total > value else []
        for group in over:  # rare: most lines are within their MUE
            units = sum(line.units for line in group)
            ids = sorted({i for line in group for i in line.administrations})
            absolute = edit.value == 0 or edit.mai == 2
            where = edits.setting.replace("_", " ")
            ctx.find(
                rule,
                "mue-exceeded",
                "error" if absolute else "warning",
                ids,
                f"{code} x{units} on {day} is over its MUE of {edit.value} ({where}, {cited(edit.source)}): "
                + _MAI[edit.mai]
                + (" The code is not payable in this setting." if edit.value == 0 else ""),
                denial_risk="CO-151",
                remark="N362",
            )
    if not outside and not undated:
        return  # the common case: no text to write
    where = edits.setting.replace("_", " ")
    for codes in (outside, undated):
        if codes:
            why = (
                f"the bundled {where} MUE table is an extract that covers {ctx.pack.edits.coverage_note} only"
                if codes is outside
                else f"the bundled {where} MUE table has no value for them in force on that date"
            )
            ctx.find(
                rule,
                "mue-not-evaluated",
                "info",
                sorted({i for code in codes for line in by_code[code] for i in line.administrations}),
                f"Units of {', '.join(codes)} on {day} were not checked against an MUE: {why}; check them "
                "against the CMS file.",
            )
