"""The encounter contract (../shared/CONTRACT.md): what goes in and what comes out.

Field names here are fixed by the contract; the project may add fields, never rename or drop them.
Additions so far: `Line.rule`, `Line.minutes`, `Finding.rule`, `CodingResult.policy` and
`CodingResult.reference_version`, so every decision names the rule and data that made it; and
`Administration.segments`, the stretches a paused and restarted administration ran.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .times import (
    FLOATING,
    MAX_ADMINISTRATION_SPAN,
    MAX_ENCOUNTER_SPAN,
    TimeError,
    TimeFrame,
    TimeNote,
    floating_administrations,
    local_time,
    read_times,
)


class Category(StrEnum):
    HYDRATION = "hydration"
    THERAPEUTIC = "therapeutic"
    CHEMOTHERAPY = "chemotherapy"


class ClaimType(StrEnum):
    INSTITUTIONAL = "institutional"
    PROFESSIONAL = "professional"


class Method(StrEnum):
    PUSH = "push"
    INFUSION = "infusion"
    INJECTION = "injection"


class Pump(StrEnum):
    PORTABLE = "portable"
    IMPLANTABLE = "implantable"


class Purpose(StrEnum):
    CARRIER = "carrier"
    KVO = "kvo"
    FLUSH = "flush"


class Device(StrEnum):
    """A delivery device the administration used that changes its code (an extension to the contract)."""

    ON_BODY_INJECTOR = "on_body_injector"


class HomePump(StrEnum):
    """Whose pump carries an infusion on at home after the patient leaves (an extension to the contract)."""

    PROVIDER = "provider"  # the practice or hospital supplied the pump and supplies
    SUPPLIER = "supplier"  # a home-infusion or DME supplier did


# Policy-independent bounds on what one encounter may hold (docs/robustness.md says why these numbers).
MAX_ADMINISTRATIONS = 5_000
MAX_BILLED_LINES = 1_000
MAX_SOURCE_FINDINGS = 5_000
MAX_UNKNOWN_FIELDS = 100
MAX_TEXT = 10_000  # characters in any free-text field
MAX_ID = 200  # characters in an id
MAX_ID_INT = 2**63 - 1  # an integer encounter id fits a signed 64-bit column
MAX_VOLUME_ML = 100_000.0  # 100 L: more than any one bag or pump reservoir
MAX_RATE_ML_PER_HOUR = 100_000.0  # far above any pump's top rate (about 1,000-2,000 mL/h)
MAX_DOSE = 1e9  # covers unit-dosed drugs (heparin, penicillin G in million-unit doses) in any unit
MAX_SEGMENTS = 100  # stretches of one administration: a bag paused and restarted 99 times
MAX_ENCOUNTER_SEGMENTS = 10_000  # all segments of one encounter: two per administration at the bound


def excerpt(value: object, limit: int = 60) -> str:
    """A short rendering of an input value for messages: never a whole record or a long text."""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list | tuple):
        return "a JSON array"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**limit:
        return "a very large integer"
    text = str(value)
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown) if isinstance(value, str) else shown


VASCULAR_ROUTES = frozenset({"intravenous", "iv", "intra-arterial", "intraarterial", "ia"})


def _lower(value: Any) -> Any:
    """Enumerated fields arrive as "Infusion" or "IV" in real exports: compare case-blind."""
    return value.strip().lower() if isinstance(value, str) else value


# read in times.py, which the compiled build compiles: six of these a record
LocalTime = Annotated[datetime, BeforeValidator(local_time)]


# Field names that stand for a contract field whose absence changes the codes (times, technique, access).
_MISNAMED = {
    "end": "stop stoptime stopped stopat stopdatetime endtime enddatetime endat ended finish finished",
    "start": "starttime startdatetime startat started begin begintime begun",
    "method": "technique adminmethod administrationmethod",
    "access": "accesssite site line ivsite ivline",
    "rate_ml_per_hour": "rate ratemlhr rateperhour infusionrate",
    "volume_ml": "volume volumeinfused totalvolume",
}
_MISNAMED_KEY = {alias: field for field, aliases in _MISNAMED.items() for alias in aliases.split()}


def misnamed_field(name: str) -> str | None:
    """The contract field an unknown administration field most likely means, or None."""
    key = re.sub(r"[^a-z]", "", name.lower())
    if key in _MISNAMED_KEY:
        return _MISNAMED_KEY[key]
    close = difflib.get_close_matches(key, [f.replace("_", "") for f in _MISNAMED], n=1, cutoff=0.8)
    return next((f for f in _MISNAMED if f.replace("_", "") == close[0]), None) if close else None


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("an id must not be blank")
    return value


# Ids are echoed exactly as given: no whitespace stripping (" a1" and "a1" are two ids).
Id = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1, max_length=MAX_ID),
    AfterValidator(_not_blank),
]


def _encounter_id(value: Any) -> str | int:
    """A string (kept exactly, spaces included) or an integer (kept an integer), as the caller sent it."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"encounter_id must be a string or an integer, not {excerpt(value)}")
    if isinstance(value, int):
        if abs(value) > MAX_ID_INT:
            raise ValueError("an integer encounter_id must fit in 64 bits")
        return value
    if not value.strip():
        raise ValueError("encounter_id must not be blank")
    if len(value) > MAX_ID:
        raise ValueError(f"encounter_id is longer than {MAX_ID} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("encounter_id is not valid Unicode text") from None
    return value


EncounterId = Annotated[
    str | int,
    PlainValidator(_encounter_id),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
]


def _at_most(limit: int, what: str) -> Any:
    """Reject an over-long list before its items are validated, so a hostile list costs nothing."""

    def check(value: Any) -> Any:
        if isinstance(value, list) and len(value) > limit:
            raise ValueError(f"at most {limit:,} {what} (got {len(value):,})")
        return value

    return BeforeValidator(check)


class FieldError(ValueError):
    """A check that spans fields, raised with the path of the field to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# Field names per model class: `cls.model_fields` is a slow descriptor, asked once per field of every record.
_FIELDS: dict[type, frozenset[str]] = {}


class _Model(BaseModel):
    # Free text is stripped and capped; numbers must be finite. Ids opt out of stripping (see Id).
    model_config = ConfigDict(
        extra="allow", str_strip_whitespace=True, str_max_length=MAX_TEXT, allow_inf_nan=False
    )

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > MAX_UNKNOWN_FIELDS:
            unknown = sum(1 for key in data if key not in cls.model_fields)
            if unknown > MAX_UNKNOWN_FIELDS:
                raise ValueError(
                    f"{unknown:,} fields that are not in the contract (at most {MAX_UNKNOWN_FIELDS})"
                )
        return data

    def unknown_fields(self) -> list[str]:
        extra = self.__pydantic_extra__  # model_extra is a property around it, slow for every record
        return sorted(extra) if extra else []


class EvaluationAndManagement(_Model):
    code: str
    separately_identifiable: bool | None = None


class AdministrationSegment(_Model):
    """A stretch an administration actually ran (added: a bag paused and restarted is one administration
    whose segments are the stretches between its pauses)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt "stop" must not pass for a stretch

    start: LocalTime
    end: LocalTime


class Administration(_Model):
    """One record of something given: a drug, a fluid, a mixed bag."""

    id: Id
    substance: str = Field(min_length=1)
    category: Annotated[Category | None, BeforeValidator(_lower)] = None
    hormonal: bool | None = None
    route: Annotated[str, BeforeValidator(_lower)] = Field(min_length=1)
    method: Annotated[Method | None, BeforeValidator(_lower)] = None
    start: LocalTime | None = None
    end: LocalTime | None = None
    access: str | None = None
    separate_access_required: bool | None = None
    mix: str | None = None
    pump: Annotated[Pump | None, BeforeValidator(_lower)] = None
    purpose: Annotated[Purpose | None, BeforeValidator(_lower)] = None
    volume_ml: float | None = Field(default=None, gt=0, le=MAX_VOLUME_ML)
    rate_ml_per_hour: float | None = Field(default=None, gt=0, le=MAX_RATE_ML_PER_HOUR)
    indication: str | None = None
    # Added for claim readiness: dose and container for drug lines, and who ordered and gave it.
    dose: float | None = Field(default=None, gt=0, le=MAX_DOSE)
    dose_unit: str | None = None
    ndc: str | None = None
    single_dose_container: bool | None = None
    wasted: float | None = Field(
        default=None, ge=0, le=MAX_DOSE, description="amount discarded, in dose_unit"
    )
    ordered_by: str | None = None
    administered_by: str | None = None
    # Added for importers and drug identity: codes the source record carries (codes decide before names).
    rxnorm: str | None = Field(default=None, description="RxNorm RxCUI of the drug given")
    hcpcs: str | None = Field(default=None, description="HCPCS drug code, when the source record has one")
    # Added for devices and home continuation, which change the administration code (issue 17).
    device: Annotated[Device | None, BeforeValidator(_lower)] = Field(
        default=None,
        description="on_body_injector: an on-body injector applied for a timed subcutaneous injection (96377)",
    )
    home_pump: Annotated[HomePump | None, BeforeValidator(_lower)] = Field(
        default=None,
        description="the infusion continues at home on a pump after the patient leaves: 'provider' when the "
        "practice or hospital supplied the pump (Medicare G0498 for chemotherapy), 'supplier' when a "
        "home-infusion supplier did",
    )
    # Added for MAR pauses: the stretches it ran; start and end are the first's start and the last's end.
    segments: Annotated[
        list[AdministrationSegment] | None, _at_most(MAX_SEGMENTS, "segments per administration")
    ] = Field(
        default=None,
        min_length=1,
        description="the stretches it actually ran, in order, when it was paused and restarted; only "
        "their minutes count",
    )

    @model_validator(mode="before")
    @classmethod
    def _times_from_segments(cls, data: Any) -> Any:
        # start and end may be left to the segments: the first's start and the last's end
        if isinstance(data, dict) and isinstance(data.get("segments"), list) and data["segments"]:
            first, last = data["segments"][0], data["segments"][-1]
            if data.get("start") is None and isinstance(first, dict) and first.get("start") is not None:
                data = {**data, "start": first["start"]}
            if data.get("end") is None and isinstance(last, dict) and last.get("end") is not None:
                data = {**data, "end": last["end"]}
        return data

    @field_validator("access", "mix")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="before")
    @classmethod
    def _misnamed_field(cls, data: Any) -> Any:
        # A misspelled time or technique field would be ignored and silently change the codes: refuse it.
        if isinstance(data, dict):
            known = _FIELDS.get(cls) or _FIELDS.setdefault(cls, frozenset(cls.model_fields))
            for name in data:
                meant = misnamed_field(name) if name not in known else None
                if meant is not None and data.get(meant) is None:
                    raise FieldError(name, f"{name!r} is not a contract field; did you mean {meant!r}?")
        return data

    @model_validator(mode="after")
    def _vascular_needs_start(self) -> Administration:
        if self.start is None and self.route in VASCULAR_ROUTES:
            raise FieldError("start", f"a start time is required for route {self.route!r}")
        return self

    @field_validator("end")
    @classmethod
    def _end_needs_start(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        # the order of start and stop is checked by the encounter, once offsets are converted
        if end is not None and info.data.get("start") is None and "start" in info.data:
            raise ValueError("a stop time is given without a start time")
        return end


class BilledLine(_Model):
    """A line as someone billed it, for `infusion-coder audit`."""

    code: str = Field(min_length=1)
    units: int = Field(default=1, gt=0, le=99_999)
    modifiers: Annotated[list[str], _at_most(20, "modifiers on a line")] = Field(default_factory=list)
    date: dt.date | None = None
    # Added for claims read back from 837I/837P files: what the claim line also said.
    revenue_code: str | None = None
    ndc: str | None = None


class SourceFinding(_Model):
    """A finding an importer made while building the encounter (a skipped or unpaired source record)."""

    id: Id
    severity: Literal["error", "warning", "info"]
    administrations: Annotated[list[Id], _at_most(MAX_ADMINISTRATIONS, "administrations per finding")] = (
        Field(default_factory=list)
    )
    message: str
    source: str | None = Field(default=None, description="the source record it concerns, e.g. emar_id 123")


class Encounter(_Model):
    encounter_id: EncounterId
    claim_type: Annotated[ClaimType, BeforeValidator(_lower)]
    place_of_service: str = "11"
    policy: str = "cms"
    primary_administration: Id | None = None
    evaluation_and_management: EvaluationAndManagement | None = None
    administrations: Annotated[
        list[Administration], _at_most(MAX_ADMINISTRATIONS, "administrations per encounter")
    ]
    billed_lines: Annotated[
        list[BilledLine] | None, _at_most(MAX_BILLED_LINES, "billed lines per encounter")
    ] = None
    _frame: TimeFrame = PrivateAttr(default_factory=lambda: FLOATING)  # a default is deep-copied: 8% of a run
    _time_notes: list[TimeNote] = PrivateAttr(default_factory=list)
    timezone: str | None = Field(
        default=None, description="IANA zone of the facility (America/Chicago); naive times are local to it"
    )
    source_findings: Annotated[
        list[SourceFinding], _at_most(MAX_SOURCE_FINDINGS, "source findings per encounter")
    ] = Field(
        default_factory=list, description="what an importer could not turn into administrations, and why"
    )

    @model_validator(mode="before")
    @classmethod
    def _few_segments(cls, data: Any) -> Any:
        # counted on the raw lists, before a hostile encounter's segments cost anything to validate
        admins = data.get("administrations") if isinstance(data, dict) else None
        if isinstance(admins, list) and len(admins) <= MAX_ADMINISTRATIONS:
            total = sum(
                len(a["segments"])
                for a in admins
                if isinstance(a, dict) and isinstance(a.get("segments"), list)
            )
            if total > MAX_ENCOUNTER_SEGMENTS:
                raise FieldError(
                    "administrations",
                    f"at most {MAX_ENCOUNTER_SEGMENTS:,} segments in one encounter (got {total:,})",
                )
        return data

    @field_validator("place_of_service", mode="before")
    @classmethod
    def _pos_as_text(cls, value: Any) -> Any:
        # "11" and 11 both arrive from spreadsheets; keep the two-digit text.
        return f"{value:02d}" if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _ids_resolve(self) -> Encounter:
        seen: set[str] = set()
        for index, admin in enumerate(self.administrations):
            if admin.id in seen:
                raise FieldError(f"administrations[{index}].id", f"id {excerpt(admin.id)} is used twice")
            seen.add(admin.id)
        if self.primary_administration is not None and self.primary_administration not in seen:
            raise FieldError(
                "primary_administration", f"{excerpt(self.primary_administration)} names no administration"
            )
        return self

    @model_validator(mode="after")
    def _read_times(self) -> Encounter:
        self.read_times()
        return self

    def read_times(self) -> None:
        """Convert offsets and the facility zone into engine times (times.py), and check their order and
        spans on real instants. Run once, by validation or by the input fast path (fast_input.py)."""
        floating = floating_administrations(self.administrations, self.timezone)
        frame = FLOATING if floating else self._convert_times()
        first: tuple[datetime, str] | None = None
        last: tuple[datetime, str] | None = None
        for index, admin in enumerate(self.administrations):
            start, end = admin.start, admin.end
            if start is None:
                continue
            if admin.segments:
                _check_segments(admin, index, frame)
            if end is not None and end < start:
                raise FieldError(
                    f"administrations[{index}].end",
                    f"stop time {frame.shown(end).isoformat()} is before start time {frame.shown(start).isoformat()}",
                )
            if end is not None and end - start > MAX_ADMINISTRATION_SPAN:
                raise FieldError(
                    f"administrations[{index}].end",
                    f"the administration runs {(end - start).days} days, more than the "
                    f"{MAX_ADMINISTRATION_SPAN.days} one administration may span; check the stop time",
                )
            first = min(first, (start, admin.id)) if first else (start, admin.id)
            last = max(last, (end or start, admin.id)) if last else (end or start, admin.id)
        if first and last and last[0] - first[0] > MAX_ENCOUNTER_SPAN:
            raise FieldError(
                "administrations",
                f"the encounter spans {(last[0] - first[0]).days} days (administration {first[1]!r} to "
                f"{last[1]!r}), more than the {MAX_ENCOUNTER_SPAN.days} an outpatient encounter may; "
                "check the dates or split the record",
            )

    def _convert_times(self) -> TimeFrame:
        triples: list[tuple[str, str, datetime]] = []
        slots: list[tuple[Administration | AdministrationSegment, str]] = []
        for index, admin in enumerate(self.administrations):
            for name in ("start", "end"):
                value = getattr(admin, name)
                if value is not None:
                    slots.append((admin, name))
                    triples.append((f"administrations[{index}].{name}", admin.id, value))
            for number, segment in enumerate(admin.segments or ()):
                for name in ("start", "end"):
                    slots.append((segment, name))
                    path = f"administrations[{index}].segments[{number}].{name}"
                    triples.append((path, admin.id, getattr(segment, name)))
        try:
            frame, converted, notes = read_times(triples, self.timezone)
        except TimeError as exc:
            raise FieldError(exc.field, str(exc)) from None
        if frame is not FLOATING:
            for (owner, name), value in zip(slots, converted, strict=True):
                setattr(owner, name, value)
        self._frame, self._time_notes = frame, notes
        return frame

    @property
    def time_frame(self) -> TimeFrame:
        """How this encounter's times were read (floating wall clock, or a zone and offset)."""
        # the private dict itself: `self._frame` goes through BaseModel.__getattr__ (2.4 us, 4 reads a record)
        return self.__pydantic_private__["_frame"]  # type: ignore[no-any-return,index]

    @property
    def time_notes(self) -> list[TimeNote]:
        return self.__pydantic_private__["_time_notes"]  # type: ignore[no-any-return,index]


def _check_segments(admin: Administration, index: int, frame: TimeFrame) -> None:
    """Segments in order, not overlapping, and spanning the administration: start is the first's start
    and end the last's end (checked on real instants, after offsets are converted)."""
    segments = admin.segments or []
    where = f"administrations[{index}].segments"
    for number, segment in enumerate(segments):
        if segment.end < segment.start:
            raise FieldError(
                f"{where}[{number}].end",
                f"segment {number + 1} ends at {frame.shown(segment.end).isoformat()}, before it starts at "
                f"{frame.shown(segment.start).isoformat()}",
            )
        if number and segment.start < segments[number - 1].end:
            raise FieldError(
                f"{where}[{number}].start",
                f"segment {number + 1} starts at {frame.shown(segment.start).isoformat()}, before segment "
                f"{number} ends at {frame.shown(segments[number - 1].end).isoformat()}: segments are the "
                "stretches it ran, in order, without overlap",
            )
    if admin.start != segments[0].start:
        raise FieldError(
            f"administrations[{index}].start",
            "start must be the first segment's start (or be left out and taken from it)",
        )
    if admin.end != segments[-1].end:
        raise FieldError(
            f"administrations[{index}].end",
            "end must be the last segment's end (or be left out and taken from it)",
        )


Severity = Literal["error", "warning", "info"]


class TimeInterval(BaseModel):
    """A stretch of time a line counted, in the facility's local time (with its offset when known)."""

    start: datetime
    end: datetime


class Line(BaseModel):
    code: str
    units: int = Field(gt=0)
    modifiers: list[str] = Field(default_factory=list)
    date: dt.date | None = Field(description="date of service; null only when the record has no time at all")
    administrations: list[str]
    explanation: str
    rule: str = Field(description="id of the catalog rule that produced the line")
    minutes: int | None = Field(default=None, description="minutes counted for a timed line")
    intervals: list[TimeInterval] = Field(
        default_factory=list, description="the stretches of time this line counted, for a timeline"
    )


class Finding(BaseModel):
    id: str
    severity: Severity
    administrations: list[str] = Field(default_factory=list)
    message: str
    denial_risk: str | None = None
    rule: str | None = None
    remark: str | None = Field(
        default=None, description="RARC that usually comes with the denial, where standard"
    )


class DrugLine(BaseModel):
    """The drug itself, billed beside its administration: HCPCS code and units from dose and billing unit."""

    hcpcs: str
    units: int = Field(gt=0)
    modifiers: list[str] = Field(default_factory=list)
    date: dt.date | None
    ndc: str | None = None
    administrations: list[str]
    explanation: str
    rule: str


Readiness = Literal["ready", "ready_with_warnings", "hold"]


class CodingResult(BaseModel):
    encounter_id: str | int
    lines: list[Line]
    findings: list[Finding]
    policy: str
    reference_version: str
    readiness: Readiness = Field(
        default="ready", description="hold: an error finding; ready_with_warnings: a warning; else ready"
    )
    drug_lines: list[DrugLine] = Field(default_factory=list)


class Difference(BaseModel):
    """One way a billed claim differs from what the record supports."""

    kind: Literal["over-coded", "under-coded", "wrong-units", "wrong-modifiers", "wrong-date", "unverified"]
    code: str
    billed_units: int
    supported_units: int
    billed_modifiers: list[str]
    supported_modifiers: list[str]
    money: Literal["more than supported", "less than supported", "unknown"]
    rules: list[str]
    message: str
    # Added: drug lines and dates are compared too, and each difference says what it is worth.
    line: Literal["administration", "drug"] = "administration"
    billed_dates: list[dt.date] = Field(default_factory=list)
    supported_dates: list[dt.date] = Field(default_factory=list)
    amount: float | None = Field(
        default=None,
        description="Medicare amount at stake in USD (national unadjusted); null when none is published",
    )
    basis: str | None = Field(
        default=None, description="the figure behind amount and its source, or why there is none"
    )


class AuditResult(CodingResult):
    differences: list[Difference]
    amount_at_stake: float = Field(default=0.0, description="sum of the differences' known amounts (USD)")
    amounts_unknown: int = Field(
        default=0, description="differences whose amount CMS publishes no figure for"
    )


class ErrorDetail(BaseModel):
    message: str
    field: str | None


class ErrorResult(BaseModel):
    encounter_id: str | int | None
    error: ErrorDetail
