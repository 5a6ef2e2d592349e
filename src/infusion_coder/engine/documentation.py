"""Documentation and necessity checks on the administrations behind the lines (IC601, IC602, IC603)."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from ..models import Administration, excerpt, shown_name
from ..rules import (
    ic601_documentation,
    ic602_medical_necessity,
    ic603_opps_packaged,
    ic604_what_would_change,
)
from . import identity
from .context import Context
from .intervals import minutes as total_minutes
from .intervals import span_minutes
from .output import PlainLine

_HYDRATION_CODES = {"96360", "96361"}
_PUSH_CODES = {"96374", "96375", "96376", "96409", "96411", "96373", "96420"}
_INFUSION_CODES = {
    "96360",
    "96361",
    "96365",
    "96366",
    "96367",
    "96368",
    "96413",
    "96415",
    "96416",
    "96417",
    "C8957",
}


def check_documentation(ctx: Context, lines: list[PlainLine]) -> None:
    by_id = {admin.id: admin for admin in ctx.encounter.administrations}
    codes_of: dict[str, set[str]] = {}
    for line in lines:
        for admin_id in line.administrations:
            codes_of.setdefault(admin_id, set()).add(line.code)
    for admin_id, codes in sorted(codes_of.items()):
        admin = by_id[admin_id]
        _gaps(ctx, admin, codes)
        _push_stated(ctx, admin, codes)
        _necessity(ctx, admin, codes)
    for admin in ctx.encounter.administrations:
        if admin.purpose is None:  # carrier, KVO and flush are never coded, whatever their minutes
            _what_would_change(ctx, admin, codes_of.get(admin.id, set()))
    if ctx.institutional:
        _packaged(ctx, lines)


def labeled_hydration(ctx: Context, lines: list[PlainLine]) -> list[PlainLine]:
    """Hydration on the date of a drug whose labeling requires hydration (cisplatin): flagged, or not billed
    under a MAC that treats it as integral to the drug (IC602)."""
    by_id = {admin.id: admin for admin in ctx.encounter.administrations}
    drugs: dict[dt.date, list[str]] = {}
    for admin in by_id.values():
        if admin.start is None or ctx.families.get(admin.id) != "chemotherapy":
            continue
        for entry in identity.table_entries(ctx, admin):
            if entry.labeled_hydration:
                drugs.setdefault(admin.start.date(), []).append(entry.name)
    held = [line for line in lines if line.code in _HYDRATION_CODES and line.date in drugs]
    if not held:
        return lines
    rule = ic602_medical_necessity.RULE
    choice = ctx.option("labeled_hydration")
    for line in held:
        assert line.date is not None
        names = ", ".join(sorted(set(drugs[line.date])))
        if choice == "not_billed":
            ctx.find(
                rule,
                "labeled-hydration-not-billed",
                "info",
                line.administrations,
                f"{line.code} x{line.units} on {line.date} not billed: hydration given with {names}, whose labeling "
                f"requires it, is integral to the drug ({ctx.cite_option('labeled_hydration')}); the fluid itself is "
                "still charged as a supply.",
            )
        else:
            ctx.find(
                rule,
                "labeled-hydration",
                "warning",
                line.administrations,
                f"{line.code} x{line.units} on {line.date}: hydration given with {names}, whose labeling requires "
                "pre- and post-hydration. Noridian JE Part A treats it as integral to the drug and not billable; "
                "elsewhere bill it only with a separate documented clinical reason "
                f"({ctx.cite_option('labeled_hydration')}).",
                denial_risk="CO-97",
            )
    dropped = {id(line) for line in held} if choice == "not_billed" else set()
    return [line for line in lines if id(line) not in dropped]


def _gaps(ctx: Context, admin: Administration, codes: set[str]) -> None:
    missing = []
    fluid_volume = admin.volume_ml is not None and bool(codes & _HYDRATION_CODES)
    if admin.dose is None and not ic601_documentation.dose_in_text(admin.substance) and not fluid_volume:
        missing.append("the dose")
    if codes & _INFUSION_CODES and (admin.volume_ml is None or admin.rate_ml_per_hour is None):
        missing.append("the volume and rate infused")
    if admin.access is None and ctx.resolved.get(admin.id, ("", None))[0] in ("iv", "ia"):
        missing.append("the access site or line")
    if admin.ordered_by is None:
        missing.append("the order (who ordered it)")
    if admin.administered_by is None:
        missing.append("who gave it")
    no_reason = admin.indication is None and not codes & _HYDRATION_CODES
    if no_reason:
        missing.append("the reason for it (medical necessity)")
    if missing:
        ctx.find(
            ic601_documentation.RULE,
            "documentation-gaps",
            "info",
            [admin.id],
            f"{shown_name(admin.substance)}: the record does not show " + ", ".join(missing) + ".",
            denial_risk="CO-50" if no_reason else None,
        )


def _push_stated(ctx: Context, admin: Administration, codes: set[str]) -> None:
    if not codes & _PUSH_CODES or ctx.resolved.get(admin.id, ("", None))[1] is not None:
        return  # a stated push needs nothing more; an infusion without a stop has its own finding
    if admin.end is not None:
        return  # documented minutes of 15 or less support the push by themselves
    ctx.find(
        ic601_documentation.RULE,
        "push-not-stated",
        "warning",
        [admin.id],
        f"{shown_name(admin.substance)} is coded as a push, but the record neither states a push nor shows its minutes: "
        "document 'IV push' (the clinician present throughout) or the start and stop times.",
        denial_risk="CO-16",
    )


def _necessity(ctx: Context, admin: Administration, codes: set[str]) -> None:
    rule = ic602_medical_necessity.RULE
    hydration = bool(codes & _HYDRATION_CODES)
    if not hydration or (admin.indication and ic602_medical_necessity.shows_fluid_loss(admin.indication)):
        return
    if admin.indication is None:
        # The record we were sent carries no reason at all; it may sit elsewhere in the chart. Worth a note,
        # not a warning on every encounter an export leaves without indications.
        ctx.find(
            rule,
            "hydration-necessity-unstated",
            "info",
            [admin.id],
            f"Hydration with {shown_name(admin.substance)}: no indication is recorded; the chart must show signs of "
            "dehydration or fluid loss (a recovery-audit target), so check it before billing.",
            denial_risk="CO-50",
        )
        return
    ctx.find(
        rule,
        "hydration-necessity",
        "warning",
        [admin.id],
        f"Hydration with {shown_name(admin.substance)}: the stated reason ({excerpt(admin.indication)}) shows no sign of "
        "dehydration or fluid loss. Routine or maintenance fluids are not hydration; document the clinical "
        "reason.",
        denial_risk="CO-50",
    )


def _packaged(ctx: Context, lines: list[PlainLine]) -> None:
    for line in lines:
        info = ctx.codes.codes.get(line.code)
        if info is not None and info.opps_status == "N":
            ctx.find(
                ic603_opps_packaged.RULE,
                "opps-packaged",
                "info",
                line.administrations,
                f"{line.code} is packaged under OPPS (status N): report it, but it is paid within other lines.",
            )


def _what_would_change(ctx: Context, admin: Administration, codes: set[str]) -> None:
    if admin.start is None or admin.end is None or admin.mix or admin.pump:
        return
    minutes = span_minutes(admin.start, admin.end)
    if admin.segments:  # paused: only the segments count, and a later stop extends the last one
        minutes = total_minutes([(s.start, s.end) for s in admin.segments])
    hydration = ctx.families.get(admin.id) == "hydration"
    mark = ic604_what_would_change.next_threshold(minutes, hydration=hydration)
    if mark is None:  # most records: no text to write
        return
    charted = f"{ctx.clock(admin.start)}-{ctx.clock(admin.end)}"
    if admin.segments:
        charted = ", ".join(f"{ctx.clock(s.start)}-{ctx.clock(s.end)}" for s in admin.segments)
    when = admin.start + timedelta(minutes=mark)
    if admin.segments:
        when = admin.end + timedelta(minutes=mark - minutes)
    if mark == 16 and codes & _PUSH_CODES:
        gain = "an infusion code instead of a push"
    elif mark == 31 and hydration:
        gain = "hydration, which 30 minutes or less does not"
    else:
        gain = "one more added hour"
    ctx.find(
        ic604_what_would_change.RULE,
        "what-would-change",
        "info",
        [admin.id],
        f"{shown_name(admin.substance)} is charted {charted} ({minutes} minutes): a stop at or "
        f"after {ctx.clock(when)} would support {gain}. Check the record; chart only the true stop time.",
    )
