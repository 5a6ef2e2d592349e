"""Claims out and billed claims in: the header file, a format-neutral claim built from a coding result,
and the billed lines of a CSV or 837 file joined back to encounters by encounter id.

The header file (JSON or TOML; examples/claim-header.json) gives what an encounter does not: submitter,
receiver, billing provider (NPI, tax id, address), payer, subscriber, patient, type of bill or place of
service, diagnosis codes and a charge master. `encounters` in the header overrides any of it per encounter
id (another patient, another diagnosis). The 837 (x12.py) and FHIR Claim (fhir_claim.py) writers both
serialise the `Claim` built here, so the two always carry the same lines.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .models import BilledLine, CodingResult, Encounter
from .reference import ReferencePack, ndc11
from .reference.money import PAID_STATUSES, RevenueCodes


class ClaimError(ValueError):
    """This encounter cannot become a claim (no lines, no date of service, no revenue code...)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(_Strict):
    line: str = Field(min_length=1)
    line2: str | None = None
    city: str = Field(min_length=1)
    state: str = Field(min_length=2, max_length=2)
    zip: str = Field(pattern=r"^\d{5}(\d{4})?$", description="5 or 9 digits; a billing provider needs 9")


class Contact(_Strict):
    name: str
    phone: str = Field(pattern=r"^\d{10}$")


class Submitter(_Strict):
    name: str
    id: str
    contact: Contact


class Receiver(_Strict):
    name: str
    id: str


class BillingProvider(_Strict):
    name: str
    npi: str = Field(pattern=r"^\d{10}$")
    tax_id: str = Field(pattern=r"^\d{9}$")
    address: Address


class Person(_Strict):
    last_name: str
    first_name: str
    birth_date: dt.date
    sex: Literal["F", "M", "U"]
    address: Address


class Subscriber(Person):
    member_id: str
    payer_responsibility: str = "P"
    claim_filing: str = Field(
        default="MB", description="SBR09: MA Medicare Part A, MB Part B, CI commercial..."
    )


class Patient(Person):
    relationship: str = Field(
        default="19", description="PAT01 relationship to the subscriber (19 child, 01 spouse)"
    )


class Payer(_Strict):
    name: str
    id: str


class Provider(_Strict):
    npi: str = Field(pattern=r"^\d{10}$")
    last_name: str
    first_name: str


class ClaimDefaults(_Strict):
    type_of_bill: str = Field(
        default="131", pattern=r"^0?\d{3}$", description="837I: 131 hospital outpatient"
    )
    place_of_service: str | None = Field(default=None, description="837P: else the encounter's")
    frequency: str = "1"
    diagnosis: list[str] = Field(default_factory=list, description="ICD-10-CM, principal first")
    department: str | None = Field(
        default=None, description="revenue-code department: emergency, clinic, ..."
    )
    admission_type: str = "3"
    patient_status: str = "01"
    attending: Provider | None = None
    default_service_date: dt.date | None = Field(
        default=None, description="date for lines whose record has no time at all"
    )

    @field_validator("diagnosis")
    @classmethod
    def _icd10(cls, value: list[str]) -> list[str]:
        for code in value:
            if not re.fullmatch(r"[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?", code.upper()):
                raise ValueError(f"{code!r} is not an ICD-10-CM code")
        return [code.upper().replace(".", "") for code in value]


class Interchange(_Strict):
    sender_qualifier: str = "ZZ"
    sender_id: str = Field(min_length=1, max_length=15)
    receiver_qualifier: str = "ZZ"
    receiver_id: str = Field(min_length=1, max_length=15)
    usage: Literal["T", "P"] = "T"
    control_number: int = Field(default=1, ge=1, le=999999999)
    created: dt.datetime | None = Field(default=None, description="else the time of writing")


class ClaimHeader(_Strict):
    interchange: Interchange
    submitter: Submitter
    receiver: Receiver
    billing_provider: BillingProvider
    payer: Payer
    subscriber: Subscriber
    patient: Patient | None = None
    claim: ClaimDefaults = Field(default_factory=ClaimDefaults)
    charges: dict[str, Decimal] = Field(default_factory=dict, description="charge per unit by code")
    default_charge: Decimal = Field(
        default=Decimal("0"), ge=0, description="per unit, for codes not in charges"
    )
    encounters: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="overrides by encounter id"
    )

    def for_encounter(self, encounter_id: str) -> ClaimHeader:
        override = self.encounters.get(encounter_id)
        if not override:
            return self
        merged = _merge(self.model_dump(mode="json", exclude={"encounters"}), override)
        return ClaimHeader.model_validate(merged)

    def charge(self, code: str, units: int) -> Decimal:
        return self.charges.get(code, self.default_charge) * units


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def load_header(path: Path) -> ClaimHeader:
    """Read a header file (.json or .toml); raises ClaimError naming the file and field."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        return ClaimHeader.model_validate(raw)
    except (OSError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ClaimError(f"{path.name}: cannot read the header file: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ClaimError(f"{path.name}: {where}: {first['msg']}") from exc


@dataclass(frozen=True)
class NdcQuantity:
    amount: Decimal
    unit: str  # X12 CTP05: ME milligram, GR gram, ML millilitre, UN unit, F2 international unit


@dataclass(frozen=True)
class ClaimLine:
    code: str
    modifiers: tuple[str, ...]
    units: int
    date: dt.date
    revenue_code: str | None
    charge: Decimal
    kind: Literal["administration", "drug"]
    ndc: str | None = None  # 11 digits, 5-4-2 without hyphens
    ndc_quantity: NdcQuantity | None = None


@dataclass(frozen=True)
class Claim:
    encounter_id: str
    claim_type: str
    header: ClaimHeader
    place_of_service: str
    lines: tuple[ClaimLine, ...]
    readiness: str
    notes: tuple[str, ...] = field(default=())

    @property
    def total(self) -> Decimal:
        return sum((line.charge for line in self.lines), Decimal(0))

    @property
    def statement(self) -> tuple[dt.date, dt.date]:
        days = [line.date for line in self.lines]
        return min(days), max(days)


_CTP_UNITS = {
    "mg": ("ME", Decimal(1)),
    "g": ("GR", Decimal(1)),
    "gm": ("GR", Decimal(1)),
    "mcg": ("ME", Decimal("0.001")),
    "ml": ("ML", Decimal(1)),
    "l": ("ML", Decimal(1000)),
    "unit": ("UN", Decimal(1)),
    "units": ("UN", Decimal(1)),
    "iu": ("F2", Decimal(1)),
}


def _ndc_quantity(encounter: Encounter, ids: list[str], wasted: bool) -> NdcQuantity | None:
    found: list[tuple[str, Decimal]] = []
    by_id = {a.id: a for a in encounter.administrations}
    for admin_id in ids:
        admin = by_id.get(admin_id)
        amount = (admin.wasted if wasted else admin.dose) if admin else None
        unit = _CTP_UNITS.get((admin.dose_unit or "").strip().lower()) if admin else None
        if amount is None or unit is None:
            return None
        found.append((unit[0], Decimal(str(amount)) * unit[1]))
    if not found or len({u for u, _ in found}) != 1:
        return None
    total = sum((a for _, a in found), Decimal(0))
    return NdcQuantity(total.normalize(), found[0][0]) if total > 0 else None


def build_claim(
    encounter: Encounter,
    result: CodingResult,
    pack: ReferencePack,
    header: ClaimHeader,
    revenue: RevenueCodes,
    *,
    institutional: bool,
) -> Claim:
    """The claim of one coded encounter; raises ClaimError with the reason it cannot be written."""
    header = header.for_encounter(str(encounter.encounter_id))
    if not result.lines and not result.drug_lines:
        raise ClaimError(
            f"encounter {encounter.encounter_id}: no billable line (a claim with no service line is invalid); "
            "on a professional claim at a facility place of service the facility bills the administration"
        )
    if not header.claim.diagnosis:
        raise ClaimError("the header gives no claim.diagnosis: at least one ICD-10-CM code is required")
    fallback = header.claim.default_service_date
    department = header.claim.department
    lines: list[ClaimLine] = []

    def day_of(value: dt.date | None, code: str) -> dt.date:
        if value is not None:
            return value
        if fallback is None:
            raise ClaimError(
                f"encounter {encounter.encounter_id}: {code} has no date of service (the record has no time); "
                "set claim.default_service_date in the header"
            )
        return fallback

    for line in result.lines:
        info = pack.codes.codes.get(line.code)
        rev = revenue.resolve(department, line.code, info.family if info else "") if institutional else None
        if institutional and rev is None:
            raise ClaimError(f"no revenue code for {line.code} (department {department or '*'})")
        lines.append(
            ClaimLine(
                line.code,
                tuple(line.modifiers),
                line.units,
                day_of(line.date, line.code),
                rev,
                header.charge(line.code, line.units),
                "administration",
            )
        )
    for drug in result.drug_lines:
        rev = None
        if institutional:
            row = pack.money.opps.get(drug.hcpcs)
            family = "drug-packaged" if row is not None and row.status not in PAID_STATUSES else "drug"
            rev = revenue.resolve(department, drug.hcpcs, family)
            if rev is None:
                raise ClaimError(f"no revenue code for drug {drug.hcpcs} (department {department or '*'})")
        ndc = ndc11(drug.ndc)
        quantity = _ndc_quantity(encounter, drug.administrations, "JW" in drug.modifiers) if ndc else None
        lines.append(
            ClaimLine(
                drug.hcpcs,
                tuple(drug.modifiers),
                drug.units,
                day_of(drug.date, drug.hcpcs),
                rev,
                header.charge(drug.hcpcs, drug.units),
                "drug",
                ndc,
                quantity or (NdcQuantity(Decimal(drug.units), "UN") if ndc else None),
            )
        )
    notes = []
    bad_ndc = sorted({d.ndc for d in result.drug_lines if d.ndc and ndc11(d.ndc) is None})
    if bad_ndc:
        notes.append(f"{len(bad_ndc)} NDC(s) not in an 11-digit or hyphenated form: sent without LIN/CTP")
    pos = header.claim.place_of_service or encounter.place_of_service
    return Claim(
        str(encounter.encounter_id),
        encounter.claim_type.value,
        header,
        pos,
        tuple(lines),
        result.readiness,
        tuple(notes),
    )


# -- billed claims read back (CSV or 837) for `audit --billed`: the model both readers fill


@dataclass
class BilledClaims:
    """Billed lines by encounter id, in file order, and the claims that could not be read."""

    lines: dict[str, list[BilledLine]] = field(default_factory=dict)
    problems: list[tuple[str | None, str]] = field(default_factory=list)  # (encounter id, message)


def validation_message(exc: ValidationError) -> str:
    """The first error of a billed line, naming its field, never quoting the input whole."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
