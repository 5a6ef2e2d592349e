"""The public surface: a Coder that holds the reference data and codes encounters, and input parsing
into contract results (error objects included)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .engine import Coded, UnknownPolicyError, code_encounter, code_plain, first_service_date
from .engine.audit import differences
from .fast_input import fast_encounter
from .models import (
    MAX_ID,
    MAX_ID_INT,
    AuditResult,
    CodingResult,
    Encounter,
    ErrorDetail,
    ErrorResult,
    FieldError,
    excerpt,
)
from .reference import DATA_DIR, ReferenceLibrary, load_library

Result = CodingResult | AuditResult | ErrorResult

MAX_MESSAGE = 500  # characters of one error message: a hostile value never makes a long one


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
        """Code one raw JSON value; never raises: anything it cannot code becomes an error object naming
        the field. `timezone` is the facility zone for an encounter that names none."""
        return _model(self._guarded(record, policy, timezone, audit=False))

    def audit_record(self, record: Any, *, policy: str | None = None, timezone: str | None = None) -> Result:
        """Audit one raw JSON value (an encounter with `billed_lines`); errors as for code_record."""
        return _model(self._guarded(record, policy, timezone, audit=True))

    def code_record_plain(
        self, record: Any, *, policy: str | None = None, timezone: str | None = None
    ) -> Result | Coded:
        """code_record, with a coded encounter as the engine's plain objects (`Coded.model()` is the
        CodingResult) for a writer that needs no models (`code`); errors as for code_record."""
        return self._guarded(record, policy, timezone, audit=False, plain=True)

    def _guarded(
        self, record: Any, policy: str | None, timezone: str | None, *, audit: bool, plain: bool = False
    ) -> Result | Coded:
        try:
            return self._run(record, policy, timezone, audit=audit, plain=plain)
        except Exception as exc:  # the library never raises: a defect or exhaustion becomes an error object
            # The exception's text may quote input values, so only its type is reported.
            message = f"internal error while coding this encounter ({type(exc).__name__}); it was not coded"
            try:
                encounter_id = encounter_id_of(record)
            except Exception:  # a mapping whose get() fails: no id to echo
                encounter_id = None
            return _error(encounter_id, message, None)

    def _run(
        self, record: Any, policy: str | None, timezone: str | None, *, audit: bool, plain: bool = False
    ) -> Result | Coded:
        encounter_id = encounter_id_of(record)
        mapping = type(record) is dict or isinstance(record, Mapping)  # an ABC check is slow; most are dicts
        if timezone and mapping and record.get("timezone") is None:
            record = {**record, "timezone": timezone}
        if mapping and "error" in record and "administrations" not in record:
            # an error object from an importer passes through as this record's result
            detail = record["error"] if isinstance(record["error"], Mapping) else {}
            message = _short(str(detail.get("message") or "the record could not be imported"))
            field = detail.get("field")
            return _error(encounter_id, message, field[:100] if isinstance(field, str) else None)
        if not mapping:
            return _error(encounter_id, f"an encounter must be a JSON object, not {_kind(record)}", None)
        if "resourceType" in record and "administrations" not in record:
            kind = excerpt(record["resourceType"], 40)
            return _error(
                encounter_id,
                f"this is a FHIR resource ({kind}), not an encounter: read FHIR with "
                "`infusion-coder code --from fhir` (or `infusion-coder import fhir`)",
                None,
            )
        encounter = fast_encounter(record)  # a plainly valid record skips validation (fast_input.py)
        try:
            if encounter is None:
                encounter = Encounter.model_validate(record)
        except ValidationError as exc:
            message, field = describe(exc)
            return _error(encounter_id, message, field)
        if audit and encounter.billed_lines is None:
            return _error(encounter_id, "billed_lines is required to audit a claim", "billed_lines")
        try:
            if plain and type(self).code is Coder.code:  # a subclass's own code() is always asked
                coded = code_plain(encounter, self.reference, policy=policy)
                # a unit count the contract refuses: the model raises here, as code() would
                return coded if coded.counted() else coded.model()
            return self.audit(encounter, policy=policy) if audit else self.code(encounter, policy=policy)
        except UnknownPolicyError as exc:
            return _error(encounter_id, _short(str(exc)), "policy")


def _model(result: Result | Coded) -> Result:
    """A result as a contract model (only the plain path returns Coded)."""
    return result.model() if isinstance(result, Coded) else result


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, int | float) else type(value).__name__


def encounter_id_of(record: Any) -> str | int | None:
    """The record's encounter_id as given, when it is one an error object can echo; else None."""
    value = record.get("encounter_id") if type(record) is dict or isinstance(record, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    if isinstance(value, int):
        return value if abs(value) <= MAX_ID_INT else None
    if len(value) > MAX_ID:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _error(encounter_id: str | int | None, message: str, field: str | None) -> ErrorResult:
    return ErrorResult(encounter_id=encounter_id, error=ErrorDetail(message=message, field=field))


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe(exc: ValidationError) -> tuple[str, str | None]:
    """The first problem of a validation error as (message, field path), quoting at most an excerpt."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    value = error.get("input")
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
            message = f"{error['msg']} (got {excerpt(value)})"
        message = _redact(message.removeprefix("Value error, "), value)
    total = exc.error_count()
    more = f" (and {total - 1} more)" if total > 1 else ""
    return _short(f"{field}: {message}" if field else message) + more, field


def _redact(message: str, value: Any) -> str:
    """A validator may quote the value it refused: keep only an excerpt of a long one."""
    if not isinstance(value, str) or len(value) <= 60:
        return message
    if repr(value) in message:
        return message.replace(repr(value), excerpt(value))
    probe = value.strip()[:40]
    at = message.find(probe) if probe else -1
    return message if at < 0 else message[:at] + excerpt(value.strip())
