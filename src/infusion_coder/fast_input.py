"""The input fast path: an encounter record that is plainly valid becomes the same `Encounter` that
validation would build, without running validation.

`fast_encounter(record)` returns the Encounter, or None to decline: it never writes an error. It accepts a
record only when every value is already in the form validation would leave it (no blanks to strip, enum
words validation knows, ISO date-times to the minute or second, no unknown fields, no segments), and every
check validation makes across fields holds; times in a zone or with offsets are read by validation's own
`Encounter.read_times`. Anything else goes to `Encounter.model_validate`, which gives the exact message.
The models it builds are pydantic instances with the same field values, field sets, extras and private state
as validated ones (tests/test_fast_input.py compares them on every record the tests make), so the engine and
every writer see no difference. Validation of a typical record costs about 40-65 us; this path about half of
that pure and a third compiled (docs/performance.md, issue 19, third round).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final, TypeVar

from pydantic import BaseModel

from .models import (
    MAX_ADMINISTRATIONS,
    MAX_BILLED_LINES,
    MAX_ID,
    MAX_SOURCE_FINDINGS,
    MAX_TEXT,
    VASCULAR_ROUTES,
    Administration,
    BilledLine,
    Category,
    ClaimType,
    Device,
    Encounter,
    EvaluationAndManagement,
    HomePump,
    Method,
    Pump,
    Purpose,
    SourceFinding,
)
from .models import _encounter_id as models_encounter_id
from .times import FLOATING, MAX_ADMINISTRATION_SPAN, MAX_ENCOUNTER_SPAN, floating_administrations

# An ISO date-time to the minute or the second, naive or with an offset: what times.local_time reads with
# datetime.fromisoformat (no fraction, no blanks); conversion and checks are then validation's own.
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:[Zz]|[+-]\d{2}:\d{2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Declined(Exception):
    """The record is not plainly valid: validation decides (and words any error)."""


def _enum_table(kind: type[StrEnum]) -> dict[str, Any]:
    return {member.value: member for member in kind}


_CATEGORY = _enum_table(Category)
_METHOD = _enum_table(Method)
_PUMP = _enum_table(Pump)
_PURPOSE = _enum_table(Purpose)
_DEVICE = _enum_table(Device)
_HOME_PUMP = _enum_table(HomePump)
_CLAIM_TYPE = _enum_table(ClaimType)
_SEVERITIES = frozenset({"error", "warning", "info"})

_TEXT: Final = 0  # optional free text: kept as given when it has no outer blanks
_BLANK_NONE: Final = 1  # access and mix: "" reads as None
_FLAG: Final = 2  # bool | None
_AMOUNT: Final = 3  # float | None, with bounds
_ENUM: Final = 4  # a lower-case enum word


def _bounded(low: float, low_open: bool, high: float) -> tuple[float, bool, float]:
    return (low, low_open, high)


_VOLUME = _bounded(0.0, True, 100_000.0)
_DOSE = _bounded(0.0, True, 1e9)
_WASTED = _bounded(0.0, False, 1e9)

# Administration's optional fields after id, substance, route, start and end: how each is read.
_ADMIN_FIELDS: dict[str, tuple[int, Any]] = {
    "category": (_ENUM, _CATEGORY),
    "hormonal": (_FLAG, None),
    "method": (_ENUM, _METHOD),
    "access": (_BLANK_NONE, None),
    "separate_access_required": (_FLAG, None),
    "mix": (_BLANK_NONE, None),
    "pump": (_ENUM, _PUMP),
    "purpose": (_ENUM, _PURPOSE),
    "volume_ml": (_AMOUNT, _VOLUME),
    "rate_ml_per_hour": (_AMOUNT, _VOLUME),
    "indication": (_TEXT, None),
    "dose": (_AMOUNT, _DOSE),
    "dose_unit": (_TEXT, None),
    "ndc": (_TEXT, None),
    "single_dose_container": (_FLAG, None),
    "wasted": (_AMOUNT, _WASTED),
    "ordered_by": (_TEXT, None),
    "administered_by": (_TEXT, None),
    "rxnorm": (_TEXT, None),
    "hcpcs": (_TEXT, None),
    "device": (_ENUM, _DEVICE),
    "home_pump": (_ENUM, _HOME_PUMP),
}
_ADMIN_ORDER = tuple(Administration.model_fields)
_ADMIN_KNOWN = frozenset(_ADMIN_ORDER) - {"segments"}
_ENCOUNTER_KNOWN = frozenset(Encounter.model_fields)
_BILLED_KNOWN = frozenset(BilledLine.model_fields)
_EM_KNOWN = frozenset(EvaluationAndManagement.model_fields)
_FINDING_KNOWN = frozenset(SourceFinding.model_fields)


def fast_encounter(record: Any) -> Encounter | None:
    """The Encounter validation would build from `record`, or None when validation must decide."""
    if type(record) is not dict:
        return None
    try:
        return _encounter(record)
    except Declined:
        return None


M = TypeVar("M", bound=BaseModel)


def _built(kind: type[M], values: dict[str, Any], given: set[str], private: Any = None) -> M:
    # What pydantic's validator leaves on an instance: the field values in declaration order, the names
    # given, no extras (extra="allow" keeps an empty dict), and the private attributes.
    model = kind.__new__(kind)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", given)
    object.__setattr__(model, "__pydantic_extra__", {})
    object.__setattr__(model, "__pydantic_private__", private)
    return model


def _text(value: Any, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if type(value) is not str or len(value) > MAX_TEXT or value != value.strip():
        raise Declined
    return value


def _id(value: Any) -> str:
    if type(value) is not str or not 0 < len(value) <= MAX_ID or value != value.strip():
        raise Declined
    return value


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if type(value) is not str or _ISO.fullmatch(value) is None:
        raise Declined
    if value[-1] in "Zz":  # the pattern allows Z only at the end
        value = value[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise Declined from None


def _amount(value: Any, bounds: tuple[float, bool, float]) -> float | None:
    if value is None:
        return None
    kind = type(value)
    if kind is not float and kind is not int:
        raise Declined
    number = float(value)
    low, low_open, high = bounds
    if (
        not math.isfinite(number)
        or (kind is int and abs(value) > 2**53)
        or number > high
        or number < low
        or (low_open and number == low)
    ):
        raise Declined
    return number


def _flag(value: Any) -> bool | None:
    if value is not None and type(value) is not bool:
        raise Declined
    return value


def _enum(value: Any, table: dict[str, Any]) -> Any:
    if value is None:
        return None
    if type(value) is not str:
        raise Declined
    member = table.get(value.strip().lower())
    if member is None:
        raise Declined
    return member


def _administration(data: Any) -> Administration:
    if type(data) is not dict or not _ADMIN_KNOWN.issuperset(data):
        raise Declined
    given = set(data)
    values: dict[str, Any] = dict.fromkeys(_ADMIN_ORDER)
    values["id"] = _id(data.get("id"))
    substance = _text(data.get("substance"), required=True)
    route = data.get("route")
    if not substance or type(route) is not str:
        raise Declined
    route = route.strip().lower()
    if not route or len(route) > MAX_TEXT:
        raise Declined
    values["substance"], values["route"] = substance, route
    start, end = _time(data.get("start")), _time(data.get("end"))
    if start is None and (end is not None or route in VASCULAR_ROUTES):
        raise Declined  # "a stop time without a start", "a start time is required"
    values["start"], values["end"] = start, end
    fields = _ADMIN_FIELDS  # a module global is a dict lookup each time, compiled too
    for name in given:
        how = fields.get(name)
        if how is None:
            continue
        kind, extra = how
        value = data[name]
        if kind == _TEXT:
            values[name] = _text(value)
        elif kind == _BLANK_NONE:
            values[name] = _text(value) or None
        elif kind == _FLAG:
            values[name] = _flag(value)
        elif kind == _AMOUNT:
            values[name] = _amount(value, extra)
        else:
            values[name] = _enum(value, extra)
    return _built(Administration, values, given)


def _billed_line(data: Any) -> BilledLine:
    if type(data) is not dict or not _BILLED_KNOWN.issuperset(data):
        raise Declined
    code = _text(data.get("code"), required=True)
    units = data.get("units", 1)
    modifiers = data.get("modifiers", [])
    if not code or type(units) is not int or not 0 < units <= 99_999:
        raise Declined
    if type(modifiers) is not list or len(modifiers) > 20:
        raise Declined
    values = {
        "code": code,
        "units": units,
        "modifiers": [_text(m, required=True) for m in modifiers],
        "date": _date(data.get("date")),
        "revenue_code": _text(data.get("revenue_code")),
        "ndc": _text(data.get("ndc")),
    }
    return _built(BilledLine, values, set(data))


def _date(value: Any) -> date | None:
    if value is None:
        return None
    if type(value) is not str or _DATE.fullmatch(value) is None:
        raise Declined
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Declined from None


def _evaluation(data: Any) -> EvaluationAndManagement | None:
    if data is None:
        return None
    if type(data) is not dict or "code" not in data or not _EM_KNOWN.issuperset(data):
        raise Declined
    values = {
        "code": _text(data["code"], required=True),
        "separately_identifiable": _flag(data.get("separately_identifiable")),
    }
    return _built(EvaluationAndManagement, values, set(data))


def _source_finding(data: Any) -> SourceFinding:
    if type(data) is not dict or not _FINDING_KNOWN.issuperset(data):
        raise Declined
    severity = data.get("severity")
    ids = data.get("administrations", [])
    if severity not in _SEVERITIES or type(severity) is not str:
        raise Declined
    if type(ids) is not list or len(ids) > MAX_ADMINISTRATIONS:
        raise Declined
    values = {
        "id": _id(data.get("id")),
        "severity": severity,
        "administrations": [_id(i) for i in ids],
        "message": _text(data.get("message"), required=True),
        "source": _text(data.get("source")),
    }
    return _built(SourceFinding, values, set(data))


def _encounter_id(value: Any) -> str | int:
    try:
        return models_encounter_id(value)  # validation's own check: it keeps the value as given
    except ValueError:
        raise Declined from None


def _encounter(data: dict[str, Any]) -> Encounter:
    if not _ENCOUNTER_KNOWN.issuperset(data):
        raise Declined  # unknown fields: validation keeps them as extras and may refuse a misnamed one
    claim_type = data.get("claim_type")
    if type(claim_type) is not str:
        raise Declined
    admins = data.get("administrations")
    if type(admins) is not list or len(admins) > MAX_ADMINISTRATIONS:
        raise Declined
    administrations = [_administration(a) for a in admins]
    ids = {a.id for a in administrations}
    primary = data.get("primary_administration")
    if len(ids) != len(administrations) or (primary is not None and _id(primary) not in ids):
        raise Declined
    billed = data.get("billed_lines")
    if billed is not None and (type(billed) is not list or len(billed) > MAX_BILLED_LINES):
        raise Declined
    findings = data.get("source_findings", [])
    if type(findings) is not list or len(findings) > MAX_SOURCE_FINDINGS:
        raise Declined
    values = {
        "encounter_id": _encounter_id(data.get("encounter_id")),
        "claim_type": _enum(claim_type, _CLAIM_TYPE),
        "place_of_service": _text(data.get("place_of_service", "11"), required=True),
        "policy": _text(data.get("policy", "cms"), required=True),
        "primary_administration": primary,
        "evaluation_and_management": _evaluation(data.get("evaluation_and_management")),
        "administrations": administrations,
        "billed_lines": None if billed is None else [_billed_line(b) for b in billed],
        "timezone": _text(data.get("timezone")),
        "source_findings": [_source_finding(f) for f in findings],
    }
    encounter = _built(Encounter, values, set(data), {"_frame": FLOATING, "_time_notes": []})
    if values["timezone"] is None and floating_administrations(administrations, None):
        _check_floating(administrations)  # the common case: wall-clock times, nothing to convert
        return encounter
    try:
        # validation's own reading of the times: the zone and offsets, their order and spans
        encounter.read_times()
    except Exception:  # any refusal, worded by validation on the slow path
        raise Declined from None
    return encounter


def _check_floating(administrations: list[Administration]) -> None:
    """Encounter.read_times' checks of order and spans, for times it would leave as they are."""
    first: datetime | None = None
    last: datetime | None = None
    for admin in administrations:
        start, end = admin.start, admin.end
        if start is None:
            continue
        if end is not None and (end < start or end - start > MAX_ADMINISTRATION_SPAN):
            raise Declined
        finish = start if end is None else end
        if first is None or start < first:
            first = start
        if last is None or finish > last:
            last = finish
    if first is not None and last is not None and last - first > MAX_ENCOUNTER_SPAN:
        raise Declined


__all__ = ["fast_encounter"]
