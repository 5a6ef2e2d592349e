"""What the engine makes, as plain slotted objects: lines, findings, drug lines and the coded encounter.

The contract's pydantic models (CodingResult, Line, Finding, DrugLine) are built once, at the edge, by
`Coded.model()` for the library API; `code` has orjson write `Coded.plain()`, without them. Building a
pydantic model validates every field again (2-3 us for each of the ~15 per encounter), for values the
engine made itself. The fields, their order and their values are the models' own, so the JSON has the same
bytes (tests/test_output.py): keep them so.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ..models import CodingResult, Readiness, Severity

_Date = date  # the `date` fields shadow the type inside their classes


class Span:
    """A models.TimeInterval: a stretch a line counted, as shown (TimeFrame.shown)."""

    __slots__ = ("end", "start")

    start: datetime
    end: datetime

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.end = end


class PlainLine:
    """A models.Line, as the engine builds and amends it."""

    __slots__ = (
        "administrations",
        "code",
        "date",
        "explanation",
        "intervals",
        "minutes",
        "modifiers",
        "rule",
        "units",
    )

    code: str
    units: int
    modifiers: list[str]
    date: date | None
    administrations: list[str]
    explanation: str
    rule: str
    minutes: int | None
    intervals: list[Span]

    def __init__(
        self,
        code: str,
        units: int,
        modifiers: list[str],
        date: _Date | None,
        administrations: list[str],
        explanation: str,
        rule: str,
        minutes: int | None = None,
        intervals: list[Span] | None = None,
    ) -> None:
        self.code = code
        self.units = units
        self.modifiers = modifiers
        self.date = date
        self.administrations = administrations
        self.explanation = explanation
        self.rule = rule
        self.minutes = minutes
        self.intervals = [] if intervals is None else intervals


class PlainFinding:
    """A models.Finding."""

    __slots__ = ("administrations", "denial_risk", "id", "message", "remark", "rule", "severity")

    id: str
    severity: Severity
    administrations: list[str]
    message: str
    denial_risk: str | None
    rule: str | None
    remark: str | None

    def __init__(
        self,
        id: str,
        severity: Severity,
        administrations: list[str],
        message: str,
        denial_risk: str | None = None,
        rule: str | None = None,
        remark: str | None = None,
    ) -> None:
        self.id = id
        self.severity = severity
        self.administrations = administrations
        self.message = message
        self.denial_risk = denial_risk
        self.rule = rule
        self.remark = remark


class PlainDrugLine:
    """A models.DrugLine."""

    __slots__ = ("administrations", "date", "explanation", "hcpcs", "modifiers", "ndc", "rule", "units")

    hcpcs: str
    units: int
    modifiers: list[str]
    date: date | None
    ndc: str | None
    administrations: list[str]
    explanation: str
    rule: str

    def __init__(
        self,
        hcpcs: str,
        units: int,
        modifiers: list[str],
        date: _Date | None,
        ndc: str | None,
        administrations: list[str],
        explanation: str,
        rule: str,
    ) -> None:
        self.hcpcs = hcpcs
        self.units = units
        self.modifiers = modifiers
        self.date = date
        self.ndc = ndc
        self.administrations = administrations
        self.explanation = explanation
        self.rule = rule


class Coded:
    """One coded encounter: a models.CodingResult in plain objects."""

    __slots__ = (
        "drug_lines",
        "encounter_id",
        "findings",
        "lines",
        "policy",
        "readiness",
        "reference_version",
    )

    encounter_id: str | int
    lines: list[PlainLine]
    findings: list[PlainFinding]
    policy: str
    reference_version: str
    readiness: Readiness
    drug_lines: list[PlainDrugLine]

    def __init__(
        self,
        encounter_id: str | int,
        lines: list[PlainLine],
        findings: list[PlainFinding],
        policy: str,
        reference_version: str,
        readiness: Readiness,
        drug_lines: list[PlainDrugLine],
    ) -> None:
        self.encounter_id = encounter_id
        self.lines = lines
        self.findings = findings
        self.policy = policy
        self.reference_version = reference_version
        self.readiness = readiness
        self.drug_lines = drug_lines

    def counted(self) -> bool:
        """Whether every unit count is one the contract accepts (units > 0): the model would refuse
        another, so only model() may answer for such a result (with the same error as before)."""
        return all(line.units > 0 for line in self.lines) and all(d.units > 0 for d in self.drug_lines)

    def model(self) -> CodingResult:
        """The contract's CodingResult: validated from plain(), so the two cannot drift apart."""
        return CodingResult.model_validate(self.plain())

    def plain(self) -> dict[str, Any]:
        """What model().model_dump() gives: the same keys in the same order (orjson writes these dicts
        three times faster than the dataclasses themselves, whose slots it reads one getattr at a time)."""
        return {
            "encounter_id": self.encounter_id,
            "lines": [
                {
                    "code": line.code,
                    "units": line.units,
                    "modifiers": line.modifiers,
                    "date": line.date,
                    "administrations": line.administrations,
                    "explanation": line.explanation,
                    "rule": line.rule,
                    "minutes": line.minutes,
                    "intervals": [{"start": span.start, "end": span.end} for span in line.intervals],
                }
                for line in self.lines
            ],
            "findings": [
                {
                    "id": f.id,
                    "severity": f.severity,
                    "administrations": f.administrations,
                    "message": f.message,
                    "denial_risk": f.denial_risk,
                    "rule": f.rule,
                    "remark": f.remark,
                }
                for f in self.findings
            ],
            "policy": self.policy,
            "reference_version": self.reference_version,
            "readiness": self.readiness,
            "drug_lines": [
                {
                    "hcpcs": d.hcpcs,
                    "units": d.units,
                    "modifiers": d.modifiers,
                    "date": d.date,
                    "ndc": d.ndc,
                    "administrations": d.administrations,
                    "explanation": d.explanation,
                    "rule": d.rule,
                }
                for d in self.drug_lines
            ],
        }

    def moments(self) -> list[datetime]:
        """Every time the result shows, for a writer that must check how it would spell them."""
        return [moment for line in self.lines for span in line.intervals for moment in (span.start, span.end)]
