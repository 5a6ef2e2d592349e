"""Documentation and necessity checks on the administrations behind the lines (IC601, IC602, IC603)."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any, Final

from ..models import AdministrationSegment, excerpt
from ..names import shown_name
from ..rules import (
    ic601_documentation,
    ic602_medical_necessity,
    ic603_opps_packaged,
    ic604_what_would_change,
)
from . import identity
from .context import Context
from .intervals import minutes as total_minutes
from .output import PlainLine

_NEXT_MARK: Final = ic604_what_would_change.NEXT_MARK
_NEXT_HYDRATION_MARK: Final = ic604_what_would_change.NEXT_HYDRATION_MARK
_REACH: Final = len(_NEXT_MARK)  # the tables' length: no mark within reach from there on
_HYDRATION_CODES: Final = {"96360", "96361"}
_PUSH_CODES: Final = {"96374", "96375", "96376", "96409", "96411", "96373", "96420"}
_INFUSION_CODES: Final = {
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

# The code sets as bits, so an administration's codes are one int (OR of its lines' codes), not a set
# intersected several times per record.
_HYDRATION: Final = 1
_PUSH: Final = 2
_INFUSION: Final = 4
_CODE_BITS: Final[dict[str, int]] = {
    code: (_HYDRATION if code in _HYDRATION_CODES else 0)
    | (_PUSH if code in _PUSH_CODES else 0)
    | (_INFUSION if code in _INFUSION_CODES else 0)
    for code in _HYDRATION_CODES | _PUSH_CODES | _INFUSION_CODES
}

# The documentation-gaps list for each combination of missing elements (bit i: _GAP_NAMES[i]), joined once.
_GAP_NAMES = (
    "the dose",
    "the volume and rate infused",
    "the access site or line",
    "the order (who ordered it)",
    "who gave it",
    "the reason for it (medical necessity)",
)
_NO_REASON: Final = 1 << 5
_GAP_TEXTS: Final = tuple(
    ", ".join(name for index, name in enumerate(_GAP_NAMES) if bits >> index & 1)
    for bits in range(1 << len(_GAP_NAMES))
)


def check_documentation(ctx: Context, lines: list[PlainLine]) -> None:
    bits_of: dict[str, int] = {}
    admin_id: str
    for line in lines:
        bit = _CODE_BITS.get(line.code, 0)
        for admin_id in line.administrations:
            bits_of[admin_id] = bits_of.get(admin_id, 0) | bit
    # One pass in the record's order: findings are sorted when the result is made, so the order they are
    # found in does not show.
    for admin in ctx.administrations:
        # the record's fields from its own dict: each attribute read of a model passes its __getattr__ hook
        fields = admin.__dict__
        admin_id = fields["id"]
        bits = bits_of.get(admin_id, -1)
        if bits >= 0:
            _gaps(ctx, fields, admin_id, bits)
            if bits & _PUSH:
                _push_stated(ctx, fields, admin_id)
            if bits & _HYDRATION:
                _necessity(ctx, fields, admin_id)
        # carrier, KVO and flush are never coded, whatever their minutes
        start: dt.datetime | None = fields["start"]
        end: dt.datetime | None = fields["end"]
        if start is None or end is None or fields["purpose"] is not None or fields["mix"] or fields["pump"]:
            continue
        segments: list[AdministrationSegment] | None = fields["segments"]
        minutes: int
        if segments:  # paused: only the segments count, and a later stop extends the last one
            minutes = total_minutes([(s.start, s.end) for s in segments])
        else:
            delta = end - start  # whole minutes as span_minutes counts them, without its float
            minutes = delta.days * 1440 + delta.seconds // 60
        # most records are not near a threshold: no family to ask, no text to write
        if 0 <= minutes < _REACH and (_NEXT_MARK[minutes] or _NEXT_HYDRATION_MARK[minutes]):
            _what_would_change(ctx, fields, admin_id, bits if bits >= 0 else 0, minutes)
    if ctx.institutional:
        _packaged(ctx, lines)


def labeled_hydration(ctx: Context, lines: list[PlainLine]) -> list[PlainLine]:
    """Hydration on the date of a drug whose labeling requires hydration (cisplatin): flagged, or not billed
    under a MAC that treats it as integral to the drug (IC602)."""
    for line in lines:
        if line.code in _HYDRATION_CODES:
            break
    else:
        return lines  # most encounters: no hydration line, so no drug to look up
    families = ctx.families
    if "chemotherapy" not in families.values():
        return lines  # nor a chemotherapy drug (one scan, no record read)
    drugs: dict[dt.date, list[str]] = {}
    for admin in ctx.administrations:
        if admin.start is None or families.get(admin.id) != "chemotherapy":
            continue
        for entry in identity.table_entries(ctx, admin):
            if entry.labeled_hydration:
                drugs.setdefault(admin.start.date(), []).append(entry.name)
    if not drugs:
        return lines
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


def _gaps(ctx: Context, fields: dict[str, Any], admin_id: str, bits: int) -> None:
    """`fields`: the record's __dict__ (its field values)."""
    missing = 0
    substance: str = fields["substance"]
    volume = fields["volume_ml"]
    if (
        fields["dose"] is None
        and not (volume is not None and bits & _HYDRATION)
        and not _dose_in_text(substance)
    ):
        missing |= 1  # the dose
    if bits & _INFUSION and (volume is None or fields["rate_ml_per_hour"] is None):
        missing |= 2  # the volume and rate
    if fields["access"] is None:
        resolved = ctx.resolved.get(admin_id)
        if resolved is not None and resolved[0] in ("iv", "ia"):
            missing |= 4  # the access
    if fields["ordered_by"] is None:
        missing |= 8
    if fields["administered_by"] is None:
        missing |= 16
    no_reason = fields["indication"] is None and not bits & _HYDRATION
    if no_reason:
        missing |= _NO_REASON
    if missing:
        ctx.find(
            ic601_documentation.RULE,
            "documentation-gaps",
            "info",
            [admin_id],
            f"{shown_name(substance)}: the record does not show {_GAP_TEXTS[missing]}.",
            denial_risk="CO-50" if no_reason else None,
        )


# substance text -> whether it states a dose: texts repeat across records, the regular expression is slow
_DOSE_IN_TEXT: Final[dict[str, bool]] = {}


def _dose_in_text(text: str) -> bool:
    known = _DOSE_IN_TEXT.get(text)
    if known is None:
        if len(_DOSE_IN_TEXT) >= 65536:  # bounded: the texts are free text
            _DOSE_IN_TEXT.clear()
        known = ic601_documentation.dose_in_text(text)
        _DOSE_IN_TEXT[text] = known
    return known


def _push_stated(ctx: Context, fields: dict[str, Any], admin_id: str) -> None:
    """For an administration coded as a push (`fields`: its __dict__)."""
    resolved = ctx.resolved.get(admin_id)
    if resolved is not None and resolved[1] is not None:
        return  # a stated push needs nothing more; an infusion without a stop has its own finding
    if fields["end"] is not None:
        return  # documented minutes of 15 or less support the push by themselves
    ctx.find(
        ic601_documentation.RULE,
        "push-not-stated",
        "warning",
        [admin_id],
        f"{shown_name(fields['substance'])} is coded as a push, but the record neither states a push nor shows its minutes: "
        "document 'IV push' (the clinician present throughout) or the start and stop times.",
        denial_risk="CO-16",
    )


def _necessity(ctx: Context, fields: dict[str, Any], admin_id: str) -> None:
    """For an administration coded as hydration (`fields`: its __dict__)."""
    rule = ic602_medical_necessity.RULE
    indication: str | None = fields["indication"]
    if indication and ic602_medical_necessity.shows_fluid_loss(indication):
        return
    if indication is None:
        # The record we were sent carries no reason at all; it may sit elsewhere in the chart. Worth a note,
        # not a warning on every encounter an export leaves without indications.
        ctx.find(
            rule,
            "hydration-necessity-unstated",
            "info",
            [admin_id],
            f"Hydration with {shown_name(fields['substance'])}: no indication is recorded; the chart must show signs of "
            "dehydration or fluid loss (a recovery-audit target), so check it before billing.",
            denial_risk="CO-50",
        )
        return
    ctx.find(
        rule,
        "hydration-necessity",
        "warning",
        [admin_id],
        f"Hydration with {shown_name(fields['substance'])}: the stated reason ({excerpt(indication)}) shows no sign of "
        "dehydration or fluid loss. Routine or maintenance fluids are not hydration; document the clinical "
        "reason.",
        denial_risk="CO-50",
    )


def _packaged(ctx: Context, lines: list[PlainLine]) -> None:
    codes = ctx.pack.codes.codes
    for line in lines:
        info = codes.get(line.code)
        if info is not None and info.opps_status == "N":
            ctx.find(
                ic603_opps_packaged.RULE,
                "opps-packaged",
                "info",
                line.administrations,
                f"{line.code} is packaged under OPPS (status N): report it, but it is paid within other lines.",
            )


def _what_would_change(ctx: Context, fields: dict[str, Any], admin_id: str, bits: int, minutes: int) -> None:
    """For a timed record that is not a carrier, KVO, flush, mix or pump, its minutes near a threshold
    for one family or another (check_documentation asks); `fields`: its __dict__."""
    start: dt.datetime | None = fields["start"]
    end: dt.datetime | None = fields["end"]
    assert start is not None and end is not None
    segments: list[AdministrationSegment] | None = fields["segments"]
    hydration = ctx.families.get(admin_id) == "hydration"
    # ic604_what_would_change.next_threshold, as a table
    mark = _NEXT_HYDRATION_MARK[minutes] if hydration else _NEXT_MARK[minutes]
    if not mark:
        return
    if segments:
        charted = ", ".join(f"{ctx.clock(s.start)}-{ctx.clock(s.end)}" for s in segments)
        when = end + timedelta(minutes=mark - minutes)
    else:
        charted = f"{ctx.clock(start)}-{ctx.clock(end)}"
        when = start + timedelta(minutes=mark)
    if mark == 16 and bits & _PUSH:
        gain = "an infusion code instead of a push"
    elif mark == 31 and hydration:
        gain = "hydration, which 30 minutes or less does not"
    else:
        gain = "one more added hour"
    ctx.find(
        ic604_what_would_change.RULE,
        "what-would-change",
        "info",
        [admin_id],
        f"{shown_name(fields['substance'])} is charted {charted} ({minutes} minutes): a stop at or "
        f"after {ctx.clock(when)} would support {gain}. Check the record; chart only the true stop time.",
    )
