"""The public surface: a Coder that holds the reference data and codes encounters, and input parsing
into contract results (error objects included)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .engine import UnknownPolicyError, code_encounter, first_service_date
from .engine.audit import differences
from .models import AuditResult, CodingResult, Encounter, ErrorDetail, ErrorResult, FieldError
from .reference import DATA_DIR, ReferenceLibrary, load_library

Result = CodingResult | AuditResult | ErrorResult


class Coder:
    """Codes encounters against one set of reference data. Load once, code many."""

    def __init__(self, reference: ReferenceLibrary) -> None:
        self.reference = reference

    @classmethod
    def default(cls, data_dir: Path = DATA_DIR) -> Coder:
        return cls(load_library(data_dir))

    @cached_property
    def policies(self) -> list[str]:
        return sorted(self.reference.latest.policies)

    def code(self, encounter: Encounter, *, policy: str | None = None) -> CodingResult:
        """Code a validated encounter; raises UnknownPolicyError for a policy that does not exist."""
        return code_encounter(encounter, self.reference, policy=policy)

    def audit(self, encounter: Encounter, *, policy: str | None = None) -> AuditResult:
        """Code the encounter and compare the result with its `billed_lines`."""
        result = self.code(encounter, policy=policy)
        pack = self.reference.for_date(first_service_date(encounter))
        found = differences(result, encounter.billed_lines or [], pack, claim_type=encounter.claim_type.value)
        known = [d.amount for d in found if d.amount is not None]
        return AuditResult(
            **dict(result),
            differences=found,
            amount_at_stake=round(sum(known), 2),
            amounts_unknown=len(found) - len(known),
        )

    def code_record(self, record: Any, *, policy: str | None = None, timezone: str | None = None) -> Result:
        """Code one raw JSON value; anything unreadable becomes an error object naming the field.
        `timezone` is the facility zone for an encounter that names none."""
        return self._run(record, policy, timezone, audit=False)

    def audit_record(self, record: Any, *, policy: str | None = None, timezone: str | None = None) -> Result:
        """Audit one raw JSON value (an encounter with `billed_lines`); errors as for code_record."""
        return self._run(record, policy, timezone, audit=True)

    def _run(self, record: Any, policy: str | None, timezone: str | None, *, audit: bool) -> Result:
        encounter_id = _encounter_id(record)
        if timezone and isinstance(record, Mapping) and record.get("timezone") is None:
            record = {**record, "timezone": timezone}
        if isinstance(record, Mapping) and "error" in record and "administrations" not in record:
            # an error object from an importer passes through as this record's result
            detail = record["error"] if isinstance(record["error"], Mapping) else {}
            message = str(detail.get("message") or "the record could not be imported")[:1000]
            field = detail.get("field")
            return _error(encounter_id, message, field if isinstance(field, str) else None)
        if not isinstance(record, Mapping):
            kind = type(record).__name__
            return _error(encounter_id, f"an encounter must be a JSON object, not {kind}", None)
        try:
            encounter = Encounter.model_validate(record)
        except ValidationError as exc:
            message, field = describe(exc)
            return _error(encounter_id, message, field)
        if audit and encounter.billed_lines is None:
            return _error(encounter_id, "billed_lines is required to audit a claim", "billed_lines")
        try:
            return self.audit(encounter, policy=policy) if audit else self.code(encounter, policy=policy)
        except UnknownPolicyError as exc:
            return _error(encounter_id, str(exc), "policy")


def _encounter_id(record: Any) -> str | None:
    if isinstance(record, Mapping):
        value = record.get("encounter_id")
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    return None


def _error(encounter_id: str | None, message: str, field: str | None) -> ErrorResult:
    return ErrorResult(encounter_id=encounter_id, error=ErrorDetail(message=message, field=field))


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe(exc: ValidationError) -> tuple[str, str | None]:
    """The first problem of a validation error as (message, field path)."""
    problems = []
    first_field: str | None = None
    for error in exc.errors():
        loc = tuple(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        field: str | None
        if isinstance(cause, FieldError):
            field = f"{_path(loc)}.{cause.field}" if loc else cause.field
            message = str(cause)
        else:
            field = _path(loc) or None
            message = error["msg"]
            if error["type"] == "missing":
                message = "required field is missing"
            elif error["type"] in ("enum", "literal_error"):
                message = f"{error['msg']} (got {error.get('input')!r})"
            message = message.removeprefix("Value error, ")
        first_field = first_field or field
        problems.append(f"{field}: {message}" if field else message)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more, first_field
