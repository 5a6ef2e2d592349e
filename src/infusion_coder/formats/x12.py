"""X12 837I (005010X223A2) and 837P (005010X222A1): a writer of complete interchanges and a reader of the
billed lines they carry.

Segment layouts follow pyx12 4.0's bundled 5010 maps (../shared/domain/ecosystem.md 2.1). pyx12 has no
837 builder, so the writer is a small serialiser of `claims.Claim`; pyx12 reads the files back
(`X12ContextReader`) and validates them in the tests. Separators: `*` element, `:` component, `^`
repetition, `~` segment.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..claims import Claim, ClaimError, ClaimHeader, Person
from ..models import BilledLine
from .billed import BilledClaims

Variant = Literal["837i", "837p"]
VERSIONS: dict[Variant, str] = {"837i": "005010X223A2", "837p": "005010X222A1"}
# the maximum service lines of one claim in each guide (2400 loop repeat)
MAX_LINES: dict[Variant, int] = {"837i": 999, "837p": 50}

_UNSAFE = re.compile(r"[*:~^]")


def _text(value: str, limit: int = 60) -> str:
    """An X12 data element: separators removed, upper case, trimmed to the element's maximum length."""
    return _UNSAFE.sub(" ", value).strip().upper()[:limit]


def _ident(value: str, limit: int, what: str) -> str:
    """An identifier kept as given (the encounter id comes back from CLM01 to join the claim): one that
    holds a separator or is too long cannot be written faithfully."""
    if _UNSAFE.search(value) or len(value) > limit or not value:
        raise ClaimError(
            f"{what} {value[:60]!r} cannot go on an 837: at most {limit} characters, none of * : ~ ^"
        )
    return value


def _amount(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.01")).normalize(), "f")
    return text if text not in ("-0", "") else "0"


def _segment(*elements: str) -> str:
    items = list(elements)
    while len(items) > 1 and items[-1] == "":
        items.pop()
    return "*".join(items) + "~"


def _person(segments: list[str], qualifier: str, person: Person, member_id: str | None) -> None:
    ids = ["MI", _text(member_id, 80)] if member_id else []
    segments.append(
        _segment(
            "NM1", qualifier, "1", _text(person.last_name), _text(person.first_name, 35), "", "", "", *ids
        )
    )
    _address(
        segments,
        person.address.line,
        person.address.line2,
        person.address.city,
        person.address.state,
        person.address.zip,
    )
    segments.append(_segment("DMG", "D8", person.birth_date.strftime("%Y%m%d"), person.sex))


def _address(segments: list[str], line: str, line2: str | None, city: str, state: str, zip_code: str) -> None:
    segments.append(_segment("N3", _text(line, 55), _text(line2 or "", 55)))
    segments.append(_segment("N4", _text(city, 30), state.upper(), zip_code))


def check(claim: Claim, variant: Variant) -> None:
    """Raise ClaimError when the claim cannot go on this 837 (too many lines, an id CLM01 cannot hold)."""
    _ident(claim.encounter_id, 38, "encounter id")
    if len(claim.lines) > MAX_LINES[variant]:
        raise ClaimError(
            f"encounter {claim.encounter_id}: {len(claim.lines)} lines, more than {variant.upper()} allows "
            f"({MAX_LINES[variant]}); split the claim"
        )


def write_837(
    claims: Sequence[Claim], header: ClaimHeader, variant: Variant, *, created: dt.datetime | None = None
) -> str:
    """One interchange (ISA/GS/ST ... SE/GE/IEA) holding every claim, one subscriber loop per claim."""
    if not claims:
        raise ValueError("no claim to write")
    version = VERSIONS[variant]
    institutional = variant == "837i"
    when = header.interchange.created or created or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    control = header.interchange.control_number
    ic = header.interchange
    body: list[str] = [
        _segment("ST", "837", "0001", version),
        _segment(
            "BHT", "0019", "00", f"IC{control:09d}", when.strftime("%Y%m%d"), when.strftime("%H%M"), "CH"
        ),
        _segment(
            "NM1",
            "41",
            "2",
            _text(header.submitter.name),
            "",
            "",
            "",
            "",
            "46",
            _text(header.submitter.id, 80),
        ),
        _segment("PER", "IC", _text(header.submitter.contact.name), "TE", header.submitter.contact.phone),
        _segment(
            "NM1", "40", "2", _text(header.receiver.name), "", "", "", "", "46", _text(header.receiver.id, 80)
        ),
        _segment("HL", "1", "", "20", "1"),
    ]
    bp = header.billing_provider
    body.append(_segment("NM1", "85", "2", _text(bp.name), "", "", "", "", "XX", bp.npi))
    _address(body, bp.address.line, bp.address.line2, bp.address.city, bp.address.state, bp.address.zip)
    body.append(_segment("REF", "EI", bp.tax_id))
    hl = 1
    for claim in claims:
        check(claim, variant)
        head = claim.header
        sub, patient = head.subscriber, head.patient
        hl += 1
        subscriber_hl = hl
        body.append(_segment("HL", str(hl), "1", "22", "1" if patient else "0"))
        body.append(
            _segment(
                "SBR",
                sub.payer_responsibility,
                "" if patient else "18",
                "",
                "",
                "",
                "",
                "",
                "",
                sub.claim_filing,
            )
        )
        if patient:
            body.append(
                _segment(
                    "NM1",
                    "IL",
                    "1",
                    _text(sub.last_name),
                    _text(sub.first_name, 35),
                    "",
                    "",
                    "",
                    "MI",
                    _text(sub.member_id, 80),
                )
            )
        else:
            _person(body, "IL", sub, sub.member_id)
        body.append(
            _segment("NM1", "PR", "2", _text(head.payer.name), "", "", "", "", "PI", _text(head.payer.id, 80))
        )
        if patient:
            hl += 1
            body.append(_segment("HL", str(hl), str(subscriber_hl), "23", "0"))
            body.append(_segment("PAT", patient.relationship))
            _person(body, "QC", patient, None)
        body.extend(_claim(claim, institutional))
    body.append(_segment("SE", str(len(body) + 1), "0001"))
    isa = (
        f"ISA*00*{'':10}*00*{'':10}*{ic.sender_qualifier:2}*{_text(ic.sender_id, 15):15}*"
        f"{ic.receiver_qualifier:2}*{_text(ic.receiver_id, 15):15}*{when:%y%m%d}*{when:%H%M}*^*00501*"
        f"{control:09d}*0*{ic.usage}*:~"
    )
    gs = _segment(
        "GS",
        "HC",
        _text(ic.sender_id, 15),
        _text(ic.receiver_id, 15),
        f"{when:%Y%m%d}",
        f"{when:%H%M}",
        str(control),
        "X",
        version,
    )
    tail = [_segment("GE", "1", str(control)), _segment("IEA", "1", f"{control:09d}")]
    return "\n".join([isa, gs, *body, *tail]) + "\n"


def _claim(claim: Claim, institutional: bool) -> list[str]:
    head = claim.header
    out: list[str] = []
    if institutional:
        tob = head.claim.type_of_bill.lstrip("0")
        facility = f"{tob[:2]}:A:{head.claim.frequency}"
        out.append(
            _segment(
                "CLM",
                _ident(claim.encounter_id, 38, "encounter id"),
                _amount(claim.total),
                "",
                "",
                facility,
                "",
                "A",
                "Y",
                "Y",
            )
        )
        first, last = claim.statement
        out.append(_segment("DTP", "434", "RD8", f"{first:%Y%m%d}-{last:%Y%m%d}"))
        out.append(_segment("CL1", head.claim.admission_type, "", head.claim.patient_status))
    else:
        place = f"{claim.place_of_service}:B:{head.claim.frequency}"
        out.append(
            _segment(
                "CLM",
                _ident(claim.encounter_id, 38, "encounter id"),
                _amount(claim.total),
                "",
                "",
                place,
                "Y",
                "A",
                "Y",
                "Y",
            )
        )
    codes = head.claim.diagnosis[:12]
    others = [f"ABF:{code}" for code in codes[1:]]
    if institutional:  # 837I: principal diagnosis alone, other diagnoses in their own HI
        out.append(_segment("HI", f"ABK:{codes[0]}"))
        if others:
            out.append(_segment("HI", *others))
    else:
        out.append(_segment("HI", f"ABK:{codes[0]}", *others))
    attending = head.claim.attending
    if institutional and attending is not None:
        out.append(
            _segment(
                "NM1",
                "71",
                "1",
                _text(attending.last_name),
                _text(attending.first_name, 35),
                "",
                "",
                "",
                "XX",
                attending.npi,
            )
        )
    for number, line in enumerate(claim.lines, 1):
        out.append(_segment("LX", str(number)))
        procedure = ":".join(["HC", line.code, *line.modifiers[:4]])
        if institutional:
            out.append(
                _segment(
                    "SV2", line.revenue_code or "", procedure, _amount(line.charge), "UN", str(line.units)
                )
            )
        else:
            out.append(_segment("SV1", procedure, _amount(line.charge), "UN", str(line.units), "", "", "1"))
        out.append(_segment("DTP", "472", "D8", f"{line.date:%Y%m%d}"))
        if line.ndc:
            out.append(_segment("LIN", "", "N4", line.ndc))
            if line.ndc_quantity is not None:
                amount = format(line.ndc_quantity.amount.normalize(), "f")
                out.append(_segment("CTP", "", "", "", amount, line.ndc_quantity.unit))
    return out


# ---- reader ------------------------------------------------------------------------------------------


def read_837(data: bytes, name: str) -> BilledClaims:
    """Billed lines of every claim (CLM01 is the encounter id) in an 837I or 837P file, read with pyx12.

    A claim whose lines cannot be read becomes a problem entry naming the claim and the segment, never an
    exception; the file's own structural errors are left to a validator (x12valid)."""
    import pyx12.error_handler
    import pyx12.errors
    import pyx12.params
    import pyx12.x12context

    out = BilledClaims()
    text = data.decode("ascii", errors="replace")
    try:
        reader = pyx12.x12context.X12ContextReader(
            pyx12.params.params(), pyx12.error_handler.errh_null(), io.StringIO(text)
        )
        found_claim = _read_claims(reader, name, out)
    except pyx12.errors.X12Error as exc:
        raise ClaimError(f"{name}: not a readable X12 file: {exc}") from exc
    if not found_claim:
        out.problems.append((None, f"{name}: no 837 claim (loop 2300) found"))
    return out


def _read_claims(reader: Any, name: str, out: BilledClaims) -> bool:
    found_claim = False
    for node in reader.iter_segments("2300"):
        if node.id != "2300":
            continue
        found_claim = True
        encounter_id = (node.get_value("CLM01") or "").strip()
        if not encounter_id:
            out.problems.append((None, f"{name}: a claim (CLM) without CLM01"))
            continue
        lines: list[BilledLine] = []
        try:
            for service in node.select("2400"):
                lines.append(_line(service))
        except ValueError as exc:
            out.problems.append((encounter_id, f"{name}: claim {encounter_id}: {exc}"))
            continue
        if encounter_id in out.lines:
            out.problems.append((encounter_id, f"{name}: claim {encounter_id} appears twice; lines joined"))
        out.lines.setdefault(encounter_id, []).extend(lines)
    return found_claim


def _line(service: Any) -> BilledLine:
    get = service.get_value
    institutional = bool(get("SV201"))
    prefix = "SV202" if institutional else "SV101"
    code = (get(f"{prefix}-2") or "").strip().upper()
    if not code:
        raise ValueError(f"service line {get('LX01')}: no procedure code ({prefix}-2)")
    modifiers = [m.strip().upper() for i in range(3, 7) if (m := get(f"{prefix}-{i}"))]
    raw_units = get("SV205" if institutional else "SV104") or "1"
    try:
        units = Decimal(raw_units)
    except InvalidOperation:
        units = Decimal(0)
    if units != units.to_integral_value() or units <= 0:
        raise ValueError(f"{code}: units {raw_units!r} are not a positive whole number")
    served = get("DTP[472]03")
    day = dt.datetime.strptime(served[:8], "%Y%m%d").date() if served else None
    ndc = get("2410/LIN03") or None
    return BilledLine(
        code=code,
        units=int(units),
        modifiers=modifiers,
        date=day,
        revenue_code=get("SV201") or None,
        ndc=ndc,
    )
