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
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import ValidationError

from ..claims import BilledClaims, Claim, ClaimError, ClaimHeader, Person, validation_message
from ..models import BilledLine
from . import excerpt

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
    exception, and the next claim is read. When pyx12 cannot follow the file past some segment (a damaged
    envelope or trailer), the claims read before it are kept and one problem says where reading stopped;
    a file it cannot start on at all is a ClaimError. The file's own structural errors are left to a
    validator (x12valid)."""
    import pyx12.error_handler
    import pyx12.params
    import pyx12.x12context

    class Dropped(pyx12.error_handler.errh_null):  # type: ignore[misc]  # pyx12 is untyped here
        """Notes the segments pyx12 could not place in the 837's structure: it leaves them out."""

        def __init__(self) -> None:
            super().__init__()
            self.segments: list[tuple[int | None, str]] = []

        def seg_error(
            self, err_cde: str, err_str: str, err_value: str | None = None, src_line: int | None = None
        ) -> None:
            super().seg_error(err_cde, err_str, err_value, src_line)
            if err_cde == "1":  # "Segment XX*... not found": only its id is kept (the text quotes data)
                found = _SEGMENT_ID.match(err_str)
                self.segments.append((src_line, found.group(1) if found else "?"))

    out = BilledClaims()
    text = data.decode("ascii", errors="replace")
    state = _ReadState()
    dropped = Dropped()
    try:
        reader = pyx12.x12context.X12ContextReader(pyx12.params.params(), dropped, io.StringIO(text))
        _read_claims(reader, name, out, state)
    except RecursionError:
        _stopped(name, out, state, "nested too deeply")
    except Exception as exc:  # pyx12 raises X12Error, EngineError, IndexError... on damaged files
        _stopped(name, out, state, _x12_reason(exc))
    if dropped.segments:
        shown = ", ".join(f"segment {line} {seg}" for line, seg in dropped.segments[:5])
        more = f" and {len(dropped.segments) - 5} more" if len(dropped.segments) > 5 else ""
        out.problems.append(
            (
                None,
                f"{name}: {len(dropped.segments)} segment(s) are not where an 837 allows them and were not "
                f"read ({shown}{more}); a claim whose CLM segment is damaged or missing loses its lines",
            )
        )
    named = set(out.lines) | {claim for claim, _ in out.problems if claim}
    for claim in _clm01s(text):  # pyx12 may also stop without a word (an HL loop that lost its CLM)
        if claim not in named:
            named.add(claim)
            out.problems.append(
                (
                    claim,
                    f"{name}: claim {excerpt(claim, 40)} was not read: the 837's structure is damaged before or in it",
                )
            )
    last = text.rstrip().rstrip("~").rsplit("~", 1)[-1].strip()
    if state.claims and not last.startswith("IEA") and not any(e is None for e, _ in out.problems):
        # pyx12 gives a claim when the next loop begins: a file cut short loses its last claim unsaid
        after = f"claim {excerpt(state.last, 40)}" if state.last else f"claim {state.claims}"
        out.problems.append(
            (
                None,
                f"{name}: the file does not end with its IEA trailer (cut short?): the claims after {after} "
                "were not read",
            )
        )
    if not state.claims and not out.problems:
        out.problems.append((None, f"{name}: no 837 claim (loop 2300) found"))
    return out


def _clm01s(text: str) -> list[str]:
    """CLM01 of every CLM segment in the file, split with the delimiters its ISA declares: what the file
    claims to hold, to account for every claim whatever pyx12 made of the structure around it."""
    start = text.find("ISA")
    isa = text[start : start + 106]
    element, terminator = (isa[3], isa[105]) if len(isa) == 106 else ("*", "~")
    found = []
    for segment in text.split(terminator):
        fields = segment.strip().split(element)
        if fields[0] == "CLM" and len(fields) > 1 and fields[1].strip() and len(fields[1].strip()) <= 38:
            found.append(fields[1].strip())
    return found


_SEGMENT_ID = re.compile(r"Segment ([A-Z0-9]{2,3})\b")


@dataclass
class _ReadState:
    claims: int = 0  # claims (loop 2300) met so far
    last: str | None = None  # the last claim's CLM01


def _stopped(name: str, out: BilledClaims, state: _ReadState, reason: str) -> None:
    if state.claims == 0:
        raise ClaimError(f"{name}: not a readable X12 file: {reason}")
    after = f"claim {excerpt(state.last, 40)}" if state.last else f"claim {state.claims}"
    out.problems.append(
        (None, f"{name}: the file cannot be read after {after}: {reason}; any claims after it were not read")
    )


def _x12_reason(exc: Exception) -> str:
    """pyx12's complaint in our words: its texts may quote the file's bytes."""
    text = str(exc)
    if "Map not found" in text:
        return "the GS/ST version is not an 837I or 837P version pyx12 knows"
    if "ISA" in text or "Interchange" in text:
        return "the ISA envelope is damaged"
    return f"a damaged segment or envelope ({type(exc).__name__})"


def _read_claims(reader: Any, name: str, out: BilledClaims, state: _ReadState) -> None:
    for node in reader.iter_segments("2300"):
        if node.id != "2300":
            continue
        state.claims += 1
        encounter_id = _clm01(node)
        if not encounter_id:
            out.problems.append(
                (
                    None,
                    f"{name}: claim {state.claims} (loop 2300) has no readable CLM01: its lines were not read",
                )
            )
            continue
        state.last = encounter_id
        if len(encounter_id) > 38:  # CLM01's maximum length: longer is not an id this file can carry
            out.problems.append((None, f"{name}: claim {state.claims}: CLM01 is longer than 38 characters"))
            continue
        lines: list[BilledLine] = []
        try:
            for number, service in enumerate(node.select("2400"), start=1):
                lines.append(_line(service, number))
        except ValueError as exc:
            out.problems.append((encounter_id, f"{name}: claim {encounter_id}: {exc}"))
            continue
        except Exception as exc:
            out.problems.append(
                (
                    encounter_id,
                    f"{name}: claim {encounter_id}: its service lines (loop 2400) cannot be read "
                    f"({type(exc).__name__}); the claim is left out",
                )
            )
            continue
        if encounter_id in out.lines:
            out.problems.append((encounter_id, f"{name}: claim {encounter_id} appears twice; lines joined"))
        out.lines.setdefault(encounter_id, []).extend(lines)


def _clm01(node: Any) -> str:
    """CLM01 of a 2300 loop, or "" when its first segment is not a CLM (a damaged or missing segment)."""
    try:
        return str(node.get_value("CLM01") or "").strip()
    except Exception:
        return ""


def _line(service: Any, number: int) -> BilledLine:
    get = service.get_value
    institutional = bool(_value(get, "SV201"))
    prefix = "SV202" if institutional else "SV101"
    where = f"service line {number} ({'SV2' if institutional else 'SV1'})"
    code = _value(get, f"{prefix}-2").strip().upper()
    if not code:
        raise ValueError(f"{where}: no procedure code ({prefix}-2)")
    modifiers = [m.strip().upper() for i in range(3, 7) if (m := _value(get, f"{prefix}-{i}"))]
    raw_units = _value(get, "SV205" if institutional else "SV104") or "1"
    try:
        units = Decimal(raw_units)
    except InvalidOperation:
        units = Decimal(0)
    if not units.is_finite() or units != units.to_integral_value() or units <= 0 or units > 99_999:
        raise ValueError(
            f"{where}: {excerpt(code, 10)} units {excerpt(raw_units, 20)} are not a whole number of 1-99,999"
        )
    served = _value(get, "DTP[472]03")
    try:
        day = dt.datetime.strptime(served[:8], "%Y%m%d").date() if served else None
    except ValueError:
        raise ValueError(f"{where}: date of service {excerpt(served, 20)} is not CCYYMMDD") from None
    try:
        return BilledLine(
            code=code,
            units=int(units),
            modifiers=modifiers,
            date=day,
            revenue_code=_value(get, "SV201") or None,
            ndc=_value(get, "2410/LIN03") or None,
        )
    except ValidationError as exc:
        raise ValueError(f"{where}: {validation_message(exc)}") from None


def _value(get: Any, path: str) -> str:
    """An element as text: pyx12 raises EngineError for a path into a segment that is not there as
    expected (a damaged or misplaced segment), which is read as absent here."""
    try:
        value = get(path)
    except Exception:
        return ""
    return value if isinstance(value, str) else ""
