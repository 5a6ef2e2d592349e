"""What the engine makes, as plain slotted objects: lines, findings, drug lines and the coded encounter.

The contract's pydantic models (CodingResult, Line, Finding, DrugLine) are built once, at the edge, by
`Coded.model()` for the library API; `code` has orjson write `Coded.plain()`, without them. Building a
pydantic model validates every field again (2-3 us for each of the ~15 per encounter), for values the
engine made itself. The fields, their order and their values are the models' own, so the JSON has the same
bytes (tests/test_output.py): keep them so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..models import CodingResult, Readiness, Severity


@dataclass(slots=True)
class Span:
    """A models.TimeInterval: a stretch a line counted, as shown (TimeFrame.shown)."""

    start: datetime
    end: datetime


@dataclass(slots=True)
class PlainLine:
    """A models.Line, as the engine builds and amends it."""

    code: str
    units: int
    modifiers: list[str]
    date: date | None
    administrations: list[str]
    explanation: str
    rule: str
    minutes: int | None = None
    intervals: list[Span] = field(default_factory=list)


@dataclass(slots=True)
class PlainFinding:
    """A models.Finding."""

    id: str
    severity: Severity
    administrations: list[str]
    message: str
    denial_risk: str | None = None
    rule: str | None = None
    remark: str | None = None


@dataclass(slots=True)
class PlainDrugLine:
    """A models.DrugLine."""

    hcpcs: str
    units: int
    modifiers: list[str]
    date: date | None
    ndc: str | None
    administrations: list[str]
    explanation: str
    rule: str


@dataclass(slots=True)
class Coded:
    """One coded encounter: a models.CodingResult in plain objects."""

    encounter_id: str | int
    lines: list[PlainLine]
    findings: list[PlainFinding]
    policy: str
    reference_version: str
    readiness: Readiness
    drug_lines: list[PlainDrugLine]

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
