"""HL7 v2 pharmacy administration messages (RAS^O17, RAS^O01, RGV^O15) in, RAS^O17 out.

Reading, in short (docs/import-hl7.md has the field table):
- A file is read as a stream and split into messages as it comes: MLLP-framed (0x0B ... 0x1C 0x0D) or
  not, segments separated by CR, LF or CRLF, a new message at every MSH; batch envelopes (FHS, BHS, BTS,
  FTS) are framing. A message is at most MAX_SEGMENTS segments and MAX_MESSAGE_BYTES; a larger one is an
  error object, and the next goes on.
- hl7apy checks each message's sequence of segment names against its version's structure
  (`find_groups=True`, tolerant), one segment name at a time and never the field contents, so the check
  costs the same for every message of a feed: runs of one segment are folded to two (10,000 NTE check as
  two), the answer is remembered per sequence, and a message of more than MAX_CHECKED names after folding
  is read unchecked. Segments hl7apy did not place in its groups make an info finding. Field values are
  read by position from the segment text (hl7apy's v2.8 field names are shifted), and groups off the
  segment order, the same in every version: ORC opens an order, RXA (or RXG) opens an administration
  (consecutive RXAs before their RXR are the components of one mix), the RXR, OBX and NTE that follow
  belong to it. Reading is linear in segments.
- Messages are gathered per encounter (PV1-19 visit number) across messages and files, in the order the
  encounters first appear. An RXA sent again with the same id replaces the earlier one; RXA-21 = D
  removes it.
- A message that cannot be read becomes an error object naming the file, the message number and its
  control id (MSH-10); the others go on.

Writing: `write_ras` makes one RAS^O17 per encounter with hl7apy, one ORDER group per administration.
What HL7 v2 has no field for (category, purpose, pump, separate access, mix, the primary administration,
rate and volume beside a dose, ...) goes into OBX segments of the administration's OBSERVATION group with
the local coding system `99IC`, which this reader reads back. OBX is used rather than a Z-segment because
hl7apy drops Z-segments when it finds groups.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Group, Message, Segment
from hl7apy.parser import parse_message, parse_segment
from pydantic import ValidationError

from ..models import VASCULAR_ROUTES, Administration, Encounter
from ..reference import ReferencePack, load_library
from . import ImportOptions, Source, SourceError, error_record, excerpt, holds, unreadable

LOCAL_SYSTEM = "99IC"  # our local coding system for OBX extras ("99zzz" is HL7's local-system pattern)
ADMINISTRATION_TYPES = {"RAS", "RGV"}
ORDER_TYPES = {"RDE", "RDS", "OMP", "ORP", "RRE", "RRD", "RRG", "RRA"}  # pharmacy orders, not administrations
NOT_GIVEN = {"NA": "not administered", "RE": "refused"}
PATIENT_CLASS = {"E": "emergency", "I": "inpatient", "O": "outpatient", "R": "recurring patient"}
PATIENT_CLASS_WORDS = {"EMERGENCY": "E", "INPATIENT": "I", "OUTPATIENT": "O", "RECURRING": "R"}
WRITE_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7")
_DATA = Path(__file__).parent / "data"
_MLLP_START, _MLLP_END = "\x0b", "\x1c"
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$")
_RATE_UNIT = re.compile(r"^m[lL]\s*/\s*(h|hr|hour)$", re.IGNORECASE)
_TIME_UNIT = re.compile(r"^([SMHD])(\d*)$")


# ---------------------------------------------------------------------------------------------------------
# Splitting a file into messages


MAX_SEGMENTS = 50_000  # segments in one message (our writer's 5,000-administration encounter is under it)
MAX_MESSAGE_BYTES = 16 * 2**20  # bytes in one message
MAX_CHECKED = 500  # segment names checked against the message structure, runs folded
MAX_HELD = 100_000  # administrations and error objects held across one import
MAX_FILE_MESSAGES = 200_000  # messages read from one file
MAX_FILE_ERRORS = 1_000  # messages of one file that cannot be read before the rest of it is given up
_ENVELOPE = {b"FHS", b"BHS", b"BTS", b"FTS"}  # batch and file envelopes: framing, not message content
_READ = 1 << 20


@dataclass
class _Raw:
    """One message as split from the file: its segment lines, or why it is not read (its first line kept,
    for the control id)."""

    lines: list[bytes]
    too_large: str | None = None


_TOO_LARGE = (
    f"more than {MAX_SEGMENTS:,} segments or {MAX_MESSAGE_BYTES // 2**20} MiB, the most one message may hold"
)
_STARTS = (b"\rMSH", b"\nMSH", b"\x0b", b"\x1c")  # where the next message may start


def _next_start(buffer: bytearray, at: int) -> int:
    """Where the next message may start in `buffer` (at or after `at`), or -1: found at C speed."""
    found = [i for i in (buffer.find(mark, at) for mark in _STARTS) if i >= 0]
    return min(found) if found else -1


def _messages(stream: BinaryIO) -> Iterator[_Raw]:
    """The messages of a stream, split as they come, a megabyte at a time: lines are split and blank
    ones dropped at C speed (bytes.splitlines), so floods of line ends cost what their bytes cost, and the
    rest of a message too large to read is skipped to the next MSH or frame without being split."""
    buffer = bytearray()
    current: list[bytes] = []
    size = 0
    too_large: str | None = None
    while True:
        chunk = stream.read(_READ)
        eof = not chunk
        buffer += chunk
        if too_large is not None and current:  # skip to where the next message may start
            at = _next_start(buffer, 0)
            if at < 0 and not eof:
                del buffer[: max(len(buffer) - 4, 0)]
                continue
            yield _Raw(current, too_large)
            current, size, too_large = [], 0, None
            del buffer[: at + 1 if at >= 0 and buffer[at] in b"\r\n" else at if at >= 0 else len(buffer)]
        end = len(buffer) if eof else max(buffer.rfind(b) for b in (b"\r", b"\n", b"\x0b", b"\x1c")) + 1
        parts = _SPLIT.split(bytes(buffer[:end]))  # separators, and the blank around them, found in C
        for index in range(0, len(parts), 2):
            if index and parts[index - 1] is not None:  # a frame boundary (0x0B or 0x1C)
                if current:
                    yield _Raw(current, too_large)
                current, size, too_large = [], 0, None
            piece = parts[index].strip(b" \t")
            if not piece:
                continue
            if piece.startswith(b"MSH"):
                if current:
                    yield _Raw(current, too_large)
                current, size, too_large = [], 0, None
            elif piece[:3] in _ENVELOPE and not piece[3:4].isalnum():
                continue
            if too_large is not None:
                continue
            if len(current) >= MAX_SEGMENTS or size + len(piece) > MAX_MESSAGE_BYTES:
                too_large = _TOO_LARGE
                del current[1:]
                continue
            current.append(piece)
            size += len(piece) + 1
        del buffer[:end]
        if eof:
            if current:
                yield _Raw(current, too_large)
            return
        if len(buffer) > MAX_MESSAGE_BYTES:  # one line longer than a message may be
            if not current:
                current = [bytes(buffer[:200])]
            del current[1:]
            too_large = f"a segment longer than {MAX_MESSAGE_BYTES // 2**20} MiB"
            del buffer[: max(len(buffer) - 4, 0)]


# A frame mark (captured) with the blank and marks after it, or a line end with the blank after it.
_SPLIT = re.compile(rb"([\x0b\x1c])[\x0b\x1c \t\r\n]*|[\r\n][ \t\r\n]*")


def _decode(data: bytes) -> str:
    # MSH-18 often says 8859/1; UTF-8 first, Latin-1 never fails. Decided per message.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def split_messages(text: str) -> list[str]:
    """Messages of a text: MLLP frames (if any) split on MSH, segments joined with CR, blank lines dropped."""
    data = text.encode("utf-8", "surrogatepass")
    return [_decode(b"\r".join(raw.lines)) for raw in _messages(io.BytesIO(data))]


# ---------------------------------------------------------------------------------------------------------
# Field access: every value goes through the field's ER7, split on the message's own encoding characters,
# so the same code reads CE and CWE, TS and DTM, grouped and flat parses.


@dataclass(frozen=True)
class _Chars:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    def unescape(self, text: str) -> str:
        if self.escape not in text:
            return text
        e = self.escape
        table = {"F": self.field, "S": self.component, "T": self.subcomponent, "R": self.repetition, "E": e}
        return re.sub(re.escape(e) + r"([FSTRE])" + re.escape(e), lambda m: table[m.group(1)], text).replace(
            e + ".br" + e, " "
        )

    def escaped(self, text: str) -> str:
        out = text.replace(self.escape, f"{self.escape}E{self.escape}")
        for char, code in (
            (self.field, "F"),
            (self.component, "S"),
            (self.subcomponent, "T"),
            (self.repetition, "R"),
        ):
            out = out.replace(char, f"{self.escape}{code}{self.escape}")
        return out


@dataclass
class _Seg:
    """One segment's fields by position, split on the message's own encoding characters.

    Values are read by position from the segment text hl7apy accepted, not through hl7apy's field names:
    in hl7apy 1.3.5 the v2.8 references leave out withdrawn fields (RXA-11, PV1-52, ...), which shifts the
    names of the fields after them."""

    name: str
    fields: dict[int, str]
    chars: _Chars
    _split: dict[tuple[int, int], list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, line: str, chars: _Chars) -> _Seg:
        parts = line.split(chars.field)
        name = parts[0]
        if name == "MSH":  # MSH-1 is the field separator itself, MSH-2 the encoding characters
            fields = {1: chars.field, 2: parts[1] if len(parts) > 1 else ""}
            fields.update(enumerate(parts[2:], 3))
        else:
            fields = dict(enumerate(parts[1:], 1))
        return cls(name, fields, chars)

    def components(self, number: int, repetition: int = 0) -> list[str]:
        """The components of one repetition of a field, split once."""
        key = (number, repetition)
        found = self._split.get(key)
        if found is None:
            text = self.fields.get(number, "")
            if number == 2 and self.name == "MSH":
                found = [text]  # the encoding characters are not split on themselves
            else:
                reps = (
                    text.split(self.chars.repetition)
                    if repetition
                    else [text.split(self.chars.repetition, 1)[0]]
                )
                found = reps[repetition].split(self.chars.component) if repetition < len(reps) else []
            self._split[key] = found
        return found

    def get(self, number: int, component: int = 1, repetition: int = 0) -> str:
        parts = self.components(number, repetition)
        return self.value(parts[component - 1]) if component <= len(parts) else ""

    def value(self, component: str) -> str:
        value = component.split(self.chars.subcomponent, 1)[0]
        return "" if value == '""' else self.chars.unescape(value).strip()


def _encoding(chars: _Chars) -> dict[str, str]:
    return {
        "FIELD": chars.field,
        "COMPONENT": chars.component,
        "REPETITION": chars.repetition,
        "ESCAPE": chars.escape,
        "SUBCOMPONENT": chars.subcomponent,
        "GROUP": "\r",
        "SEGMENT": "\r",
    }


@dataclass(frozen=True)
class _Coded:
    code: str
    text: str
    system: str
    alt_code: str
    alt_text: str
    alt_system: str
    original_text: str

    @classmethod
    def of(cls, seg: _Seg, number: int, repetition: int = 0) -> _Coded:
        parts = seg.components(number, repetition)
        code, text, system, alt_code, alt_text, alt_system, _, _, original = (
            seg.value(parts[c]) if c < len(parts) else "" for c in range(9)
        )
        return cls(code, text, system, alt_code, alt_text, alt_system, original)

    def label(self) -> str:
        return self.original_text or self.text or self.alt_text or self.code or self.alt_code

    def code_in(self, *systems: str) -> str | None:
        wanted = {s.upper() for s in systems}
        for code, system in ((self.code, self.system), (self.alt_code, self.alt_system)):
            if code and system.upper() in wanted:
                return code
        return None


def _person(seg: _Seg, number: int) -> str | None:
    """An XCN as a coder reads it: "Given Family (id)", or what of it is there."""
    ident, family, given = seg.get(number, 1), seg.get(number, 2), seg.get(number, 3)
    name = " ".join(part for part in (given, family) if part)
    if name and ident:
        return f"{name} ({ident})"
    return name or ident or None


def hl7_time(value: str) -> tuple[str | None, bool]:
    """HL7 TS/DTM -> ISO 8601 (offset kept), and whether it had a time of day at all.

    `20260115100500-0500` -> `2026-01-15T10:05:00-05:00`; `202601151005` -> `2026-01-15T10:05`;
    a date alone gives (None, False) since the contract needs a time of day."""
    found = _TS.match(value.strip())
    if not found:
        return None, False
    year, month, day, hour, minute, second, fraction, offset = found.groups()
    if not (month and day and hour):
        return None, False
    text = f"{year}-{month}-{day}T{hour}:{minute or '00'}"
    if second:
        text += f":{second}{fraction or ''}"
    if offset:
        text += f"{offset[:3]}:{offset[3:]}"
    return text, True


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def _hours(time_unit: str) -> float | None:
    """RXA-12 / RXG-14 time unit (S<n>, M<n>, H<n>, D<n>; default H1) in hours."""
    found = _TIME_UNIT.match(time_unit.strip().upper()) if time_unit.strip() else None
    if time_unit.strip().lower() in ("h", "hr", "hour", "/h", "/hr"):
        return 1.0
    if not found:
        return None
    count = float(found.group(2) or 1)
    return count * {"S": 1 / 3600, "M": 1 / 60, "H": 1.0, "D": 24.0}[found.group(1)]


@cache
def body_sites() -> dict[str, str]:
    """HL7 table 0163 (body site): code -> readable text (data/hl7-0163.csv)."""
    with (_DATA / "hl7-0163.csv").open(newline="") as handle:
        return {row["code"]: row["text"] for row in csv.DictReader(handle)}


# ---------------------------------------------------------------------------------------------------------
# Reading a message into orders and administrations


@dataclass
class _Run:
    """An administration group: one or more RXA (or one RXG) sharing one RXR, with their OBX and NTE."""

    records: list[_Seg]
    rxr: _Seg | None = None
    rxcs: list[_Seg] = field(default_factory=list)
    timing: list[_Seg] = field(default_factory=list)
    obx: list[_Seg] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Order:
    orc: _Seg | None
    rx: _Seg | None = None  # RXE (preferred) or RXO
    rxrs: list[_Seg] = field(default_factory=list)
    rxcs: list[_Seg] = field(default_factory=list)
    runs: list[_Run] = field(default_factory=list)
    fallback: str = ""  # the id of administrations that come before any ORC

    def number(self) -> str:
        if self.orc is None:
            return self.fallback
        return self.orc.get(2) or self.orc.get(3)


def _orders(segments: list[_Seg]) -> list[_Order]:
    orders: list[_Order] = []
    order: _Order | None = None
    run: _Run | None = None
    previous = ""
    for seg in segments:
        name = seg.name
        if name == "ORC":
            order, run = _Order(seg), None
            orders.append(order)
        elif name in ("RXA", "RXG"):
            if order is None:
                order = _Order(None)
                orders.append(order)
            if name == "RXA" and previous == "RXA" and run is not None:
                run.records.append(seg)
            else:
                run = _Run([seg])
                order.runs.append(run)
        elif order is None:
            pass  # MSH, PID, PV1 and the like are read by name elsewhere
        elif name in ("RXE", "RXO"):
            if order.rx is None or name == "RXE":
                order.rx = seg
        elif name == "RXR":
            if run is not None and run.rxr is None:
                run.rxr = seg
            elif run is None:
                order.rxrs.append(seg)
        elif name == "RXC":
            (run.rxcs if run is not None else order.rxcs).append(seg)
        elif name == "TQ1" and run is not None:
            run.timing.append(seg)
        elif name == "OBX" and run is not None:
            run.obx.append(seg)
        elif name == "NTE" and run is not None:
            run.notes.append(seg.get(3))
        previous = name
    return orders


@dataclass
class _Parsed:
    segments: list[_Seg]
    mode: str  # groups | segments | segment-by-segment | unchecked
    dropped: list[str]  # segments left out, by name and position


class _Unreadable(ValueError):
    """A message that cannot be read at all, in the project's words."""


def _placed(node: Message | Group) -> Iterator[str]:
    """Names of the segments hl7apy placed in its tree, in order."""
    for child in node.children:
        if isinstance(child, Segment):
            yield child.name
        elif isinstance(child, Group):
            yield from _placed(child)


def _folded(names: list[str]) -> list[str]:
    """Runs of one segment name cut to two: the structure takes a run of two as it takes a run of any
    length (a segment repeats or it does not), and hl7apy's check is quadratic in the length of a run."""
    out: list[str] = []
    for name in names:
        if len(out) < 2 or not (out[-1] == out[-2] == name):
            out.append(name)
    return out


_MODES: dict[tuple[str, ...], str] = {}  # a checked sequence of names -> its mode (or "bad-msh")


def _structure(msh: str, chars: _Chars, version: str, names: list[str]) -> str:
    """How hl7apy takes a sequence of segment names: "groups" (it fits the structure), "segments" (it
    does not, or the message type has none), "bad-msh" (hl7apy refuses the MSH: its version, its
    encoding characters). hl7apy sees an MSH of only its encoding characters, type and version, and bare
    segment names, so the answer holds for every message of the same shape and is remembered."""
    parts = msh.split(chars.field)
    kind = parts[8][:100] if len(parts) > 8 else ""
    key = (chars.field, parts[1] if len(parts) > 1 else "", kind, version, *names)
    mode = _MODES.get(key)
    if mode is not None:
        return mode
    header = chars.field.join(["MSH", key[1], "", "", "", "", "", "", kind, "", "", version])
    mode = "bad-msh"
    for find_groups in (True, False):
        try:
            message = parse_message(
                "\r".join([header, *names[1:]]),
                validation_level=VALIDATION_LEVEL.TOLERANT,
                find_groups=find_groups,
            )
        except Exception:  # hl7apy raises many types on bad input; the next level decides
            continue
        if not find_groups:
            mode = "segments"
        else:
            placed = list(_placed(message))
            mode = "groups" if placed == [n for n in names if not n.startswith("Z")] else "segments"
        break
    if len(_MODES) >= 4_096:
        _MODES.clear()
    _MODES[key] = mode
    return mode


def _parse(er7: str) -> _Parsed:
    """Lines shaped like segments, read by position, and how they fit the message structure (_structure).
    A message hl7apy cannot take even as bare names is read segment by segment: the segments hl7apy
    cannot parse are left out (at most MAX_CHECKED are tried; the rest are kept unchecked)."""
    lines = er7.split("\r")
    header = _split_header(lines[0])
    if header is None:
        raise _Unreadable("the message does not start with a readable MSH segment")
    chars, version = header
    shaped = re.compile(r"^[A-Z][A-Z0-9]{2}(" + re.escape(chars.field) + "|$)")
    dropped = [
        f"line {n} ({excerpt(line, 12)}: not a segment)"
        for n, line in enumerate(lines, 1)
        if not shaped.match(line)
    ]
    lines = [line for line in lines if shaped.match(line)]
    segments = [_Seg.of(line, chars) for line in lines]
    names = _folded([line[:3] for line in lines])
    if len(names) > MAX_CHECKED:
        return _Parsed(segments, "unchecked", dropped)
    mode = _structure(lines[0], chars, version, names)
    if mode != "bad-msh":
        return _Parsed(segments, mode, dropped)
    kept = []
    for position, (line, seg) in enumerate(zip(lines, segments, strict=True), 1):
        if position > MAX_CHECKED:
            kept.append(seg)
            continue
        try:
            parse_segment(
                line,
                version=version,
                encoding_chars=_encoding(chars),
                validation_level=VALIDATION_LEVEL.TOLERANT,
            )
            kept.append(seg)
        except Exception:  # a segment hl7apy cannot read is left out and reported, the rest is read
            if position == 1:
                raise _Unreadable(
                    f"its MSH segment cannot be parsed (version {excerpt(version, 12)}, encoding characters "
                    f"{excerpt(lines[0][3:8], 8)})"
                ) from None
            dropped.append(f"segment {position} ({excerpt(line[:3], 10)})")
    return _Parsed(kept, "segment-by-segment", dropped)


def _split_header(msh: str) -> tuple[_Chars, str] | None:
    """Encoding characters and version from a raw MSH line (for messages hl7apy cannot take whole)."""
    if not msh.startswith("MSH") or len(msh) < 8:
        return None
    sep = msh[3]
    enc = msh[4:8]
    chars = _Chars(sep, enc[0], enc[1], enc[2], enc[3] if len(enc) > 3 else "&")
    fields = msh.split(sep)
    version = fields[11].split(chars.component)[0] if len(fields) > 11 else ""
    return chars, version or "2.5"


def _control_id(er7: str) -> str:
    first = er7.split("\r", 1)[0]
    fields = first.split(first[3]) if len(first) > 3 else []
    return fields[9] if len(fields) > 9 else ""


# ---------------------------------------------------------------------------------------------------------
# Gathering encounters


@dataclass
class _Encounter:
    fields: dict[str, Any]
    administrations: dict[str, dict[str, Any]] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)  # PV1-2 patient class -> where it was first sent
    more: int = 0  # findings past the first thousand: counted, not kept
    worst: str = "info"
    more_ids: set[str] = field(default_factory=set)

    def finding(self, id: str, severity: str, message: str, source: str, admins: Sequence[str] = ()) -> None:
        if len(self.findings) < _FINDINGS - 1:
            self.findings.append(holds.finding(id, severity, message, source, admins))
            return
        self.more += 1
        self.worst = holds.worse(self.worst, severity)
        if len(self.more_ids) < 10:
            self.more_ids.add(id)

    def forget(self, admin_id: str) -> bool:
        """An administration replaced or deleted by a later message: gone, and so is the missing route
        that held it."""
        self.findings = [
            f
            for f in self.findings
            if not (f["id"] == "route-missing" and f["administrations"] == [admin_id])
        ]
        return self.administrations.pop(admin_id, None) is not None

    def record(self, options: ImportOptions, pack: ReferencePack) -> dict[str, Any]:
        administrations = list(self.administrations.values())
        ids = [admin["id"] for admin in administrations]
        findings = list(self.findings)
        if self.more:
            findings.append(holds.more_findings(self.more, self.worst, self.more_ids))
        fields = dict(self.fields)
        if "I" in self.classes:
            # an inpatient visit (or the ED visit that led to it): its services belong to the inpatient claim
            findings.append(
                holds.inpatient_stay(
                    "PV1-2 patient class I", ids, options.include_inpatient, self.classes["I"]
                )
            )
            if not options.include_inpatient:
                administrations = []
                fields.pop("primary_administration", None)
        elif (
            not {"E", "O"} & set(self.classes)
            and options.claim_type != "professional"
            and holds.could_bill((admin["route"] for admin in administrations), pack)
        ):
            sent = ", ".join(sorted(self.classes))
            evidence = (
                f"PV1-2 patient class {excerpt(sent, 20)} (table 0004) is neither E, O nor I"
                if sent
                else "No PV1-2 patient class was sent"
            )
            findings.append(holds.setting_unknown(evidence, "PV1-2", ids))
        return {**fields, "administrations": administrations, "source_findings": findings}


_FINDINGS = 1_000  # source findings kept per encounter; the rest are summed up in one


class _Builder:
    def __init__(self, options: ImportOptions, pack: ReferencePack) -> None:
        self.options = options
        self.pack = pack
        self.encounters: dict[str, _Encounter] = {}
        self.slots: list[str | dict[str, Any]] = []  # encounter ids and error objects, in reading order
        self.held = 0  # administrations and error objects held: MAX_HELD at most
        self.errors = 0  # error objects so far
        self.last_visit: str | None = None  # the encounter the last message was read into

    def results(self) -> Iterator[dict[str, Any]]:
        for slot in self.slots:
            if isinstance(slot, dict):
                yield slot
                continue
            record = self.encounters[slot].record(self.options, self.pack)
            try:
                Encounter.model_validate(record)
            except ValidationError as error:
                problem = error.errors()[0]
                where = ".".join(str(p) for p in problem["loc"][:4])
                record = error_record(
                    excerpt(slot, 60)[1:-1] if len(slot) > 200 else slot,
                    f"visit {excerpt(slot, 60)}: {where}: {problem['msg'][:200]}",
                    where,
                )
            yield record

    def error(self, where: str, control: str, message: str, field: str | None = None) -> None:
        label = f"{where} (control id {excerpt(control, 30)})" if control else where
        self.slots.append(error_record(None, f"{label}: {message}", field))
        self.held += 1
        self.errors += 1

    def file(self, name: str, messages: Iterator[_Raw]) -> None:
        """The messages of one file, within the bounds: MAX_FILE_MESSAGES messages, MAX_FILE_ERRORS error
        objects, MAX_HELD administrations and errors in the import. A message sent again byte for byte (a
        feed replayed, a file repeated) is answered by a finding on its encounter, not read again."""
        seen: dict[bytes, str] = {}  # a message's digest -> the visit it was read into
        errors = self.errors
        count = 0
        for count, raw in enumerate(messages, 1):
            where = f"{name} message {count}"
            if count > MAX_FILE_MESSAGES:
                self.error(where, "", f"{name} holds more than {MAX_FILE_MESSAGES:,} messages, the most one "
                           "file may; the rest of it is not read (split the file)")  # fmt: skip
                return
            digest = hashlib.sha1(b"\r".join(raw.lines)).digest()
            visit = seen.get(digest)
            if visit is not None:
                self.encounters[visit].finding(
                    "hl7-duplicate-message", "info", "HL7 message: a byte-for-byte copy of an earlier message; "
                    "not read again.", where,
                )  # fmt: skip
                continue
            before, self.last_visit = self.errors, None
            self.add(name, count, raw)
            if self.errors == before and self.last_visit is not None and len(seen) < MAX_FILE_MESSAGES:
                seen[digest] = self.last_visit
            if self.errors - errors > MAX_FILE_ERRORS:
                self.error(where, "", f"more than {MAX_FILE_ERRORS:,} messages of {name} cannot be read; "
                           "the rest of it is not read (is it an HL7 v2 feed?)")  # fmt: skip
                return
            if self.held > MAX_HELD:
                self.error(where, "", f"{_FULL}; the rest is not read")
                return
        if count == 0:
            self.error(name, "", "holds no HL7 v2 message (no MSH segment)")

    def add(self, file: str, number: int, raw: _Raw) -> None:
        where = f"{file} message {number}"
        er7 = _decode(b"\r".join(raw.lines))
        control = _control_id(er7)
        if raw.too_large is not None:
            self.error(where, control, f"{raw.too_large}: not read; it starts {excerpt(er7, 40)}", "MSH")
            return
        try:
            parsed = _parse(er7)
        except _Unreadable as exc:
            self.error(where, control, f"not readable as HL7 v2: {exc}; it starts {excerpt(er7, 40)}", "MSH")
            return
        except Exception:  # hl7apy's own exceptions: their text may quote the message
            self.error(
                where,
                control,
                f"not readable as HL7 v2 (hl7apy refused it); it starts {excerpt(er7, 40)}",
                "MSH",
            )
            return
        try:
            self._read(parsed, where, control, file, number)
        except Exception as exc:  # one strange message must not end the batch
            self.error(where, control, f"could not be read (an internal error: {type(exc).__name__})")

    def _read(self, parsed: _Parsed, where: str, control: str, file: str, number: int) -> None:
        segments = parsed.segments
        msh = segments[0]
        kind, trigger = msh.get(9, 1).upper(), msh.get(9, 2).upper()
        source = f"{where} (MSH-10 {excerpt(control, 30)[1:-1]})" if control else where
        first = {seg.name: seg for seg in reversed(segments)}
        if kind not in ADMINISTRATION_TYPES and kind not in ORDER_TYPES:
            self.error(
                where,
                control,
                f"{excerpt(kind or '?', 10)[1:-1]}^{excerpt(trigger or '?', 10)[1:-1]} is not a pharmacy "
                "administration message (RAS^O17, RAS^O01 or RGV^O15): skipped",
                "MSH-9",
            )
            return
        orders = _orders(segments)
        sent = msh.get(7)
        when = self._first_date(orders) or (f"{sent[:4]}-{sent[4:6]}-{sent[6:8]}" if len(sent) >= 8 else None)
        encounter = self._encounter(first.get("PID"), first.get("PV1"), when, source)
        self.last_visit = encounter.fields["encounter_id"] if encounter is not None else None
        if encounter is None:
            self.error(
                where, control, "names no encounter: no PV1-19 visit number and no PID-3 patient id", "PV1-19"
            )
            return
        if parsed.dropped:
            shown = ", ".join(parsed.dropped[:5]) + (
                f" and {len(parsed.dropped) - 5} more" if len(parsed.dropped) > 5 else ""
            )
            encounter.finding(
                "hl7-segment-unreadable",
                "warning",
                f"HL7 message: {shown} could not be read and were left out.",
                source,
            )
        if parsed.mode == "unchecked":
            encounter.finding(
                "hl7-structure",
                "info",
                f"HL7 message: {len(segments):,} segments, too many kinds in a row to check against the "
                f"{excerpt(kind, 10)[1:-1]}^{excerpt(trigger, 10)[1:-1]} structure; read in the order sent.",
                source,
            )
        elif parsed.mode != "groups":
            encounter.finding(
                "hl7-structure",
                "info",
                f"HL7 message: its segments do not fit the {excerpt(kind, 10)[1:-1]}^{excerpt(trigger, 10)[1:-1]} "
                f"v{excerpt(msh.get(12) or '?', 12)[1:-1]} structure; read in the order sent (ORC opens an order, "
                "RXA an administration).",
                source,
            )
        if kind in ORDER_TYPES:
            numbers = ", ".join(excerpt(o.number(), 30) for o in orders[:10] if o.number()) or "none"
            encounter.finding(
                "hl7-not-administration",
                "info",
                f"{kind}^{excerpt(trigger, 10)[1:-1]} is a pharmacy order message, not an administration record: "
                f"its orders ({numbers}{' ...' if len(orders) > 10 else ''}) were not imported; send RAS^O17 "
                "(or RGV^O15) for what was given.",
                source,
            )
            return
        orphans = [order for order in orders if order.orc is None]
        for count, order in enumerate(orphans, 1):
            # no ORC, so no order number: the id comes from the message, never from the file's name
            base = control or "message-" + hashlib.sha1(f"{file}|{number}".encode()).hexdigest()[:10]
            order.fallback = f"{base}/{count}" if len(orphans) > 1 or count > 1 else base
            encounter.finding(
                "hl7-no-order",
                "warning",
                f"RXA before any ORC: it has no order number (ORC-2), so its id {excerpt(order.fallback, 40)} "
                "is made from the message control id (MSH-10); a correction sent under another control id "
                "would not replace it.",
                source,
            )
        for order in orders:
            if not order.runs and order.orc is not None:
                encounter.finding(
                    "hl7-order-without-administration",
                    "warning",
                    f"Order {excerpt(order.number() or '(no number)', 40)} (ORC) has no RXA"
                    f"{' or RXG' if kind == 'RGV' else ''}: nothing of it is imported; check whether it was given.",
                    source,
                )
            for index, run in enumerate(order.runs, 1):
                self._run(encounter, order, run, index, source)

    def _first_date(self, orders: list[_Order]) -> str | None:
        for order in orders:
            for run in order.runs:
                for seg in run.records:
                    text, has_time = hl7_time(seg.get(3) if seg.name == "RXA" else "")
                    if has_time and text:
                        return text
        return None

    def _encounter(
        self, pid: _Seg | None, pv1: _Seg | None, when: str | None, source: str
    ) -> _Encounter | None:
        visit = pv1.get(19) if pv1 else ""
        patient = pid.get(3) if pid else ""
        missing_visit = not visit
        if missing_visit:
            if not patient:
                return None
            visit = f"{patient}-{(when or 'undated')[:10]}"
        visit = _id(visit)
        encounter = self.encounters.get(visit)
        if encounter is None:
            fields: dict[str, Any] = {"encounter_id": visit, "claim_type": self.options.claim_type}
            if self.options.place_of_service:
                fields["place_of_service"] = self.options.place_of_service
            if self.options.policy:
                fields["policy"] = self.options.policy
            if self.options.timezone:
                fields["timezone"] = self.options.timezone
            encounter = _Encounter(fields)
            self.encounters[visit] = encounter
            self.slots.append(visit)
            if missing_visit:
                encounter.finding(
                    "hl7-no-visit-number",
                    "warning",
                    "No PV1-19 visit number: the encounter id is the patient id (PID-3) and the date; "
                    "administrations of one visit on another date would be a separate encounter.",
                    source,
                )
        patient_class = (pv1.get(2) if pv1 else "").upper()
        patient_class = PATIENT_CLASS_WORDS.get(patient_class, patient_class)
        if patient_class and len(encounter.classes) < 10:
            encounter.classes.setdefault(patient_class[:10], source)
        return encounter

    # --- one administration group ------------------------------------------------------------------

    def _run(self, encounter: _Encounter, order: _Order, run: _Run, index: int, source: str) -> None:
        extras = _extras(run.obx)
        mix = extras.pop("mix", None)
        if mix is None and len(run.records) > 1:
            mix = f"{order.number() or 'order'}/{index}"
        for seg in run.records:
            if seg.name == "RXG":
                self._give(encounter, order, run, seg, dict(extras), source)
            else:
                self._rxa(encounter, order, run, seg, dict(extras), mix, source)

    def _common(self, order: _Order, run: _Run) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Route, method, site, ordering provider and indication: what the RXR and order give."""
        admin: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        rxr = run.rxr or (order.rxrs[0] if order.rxrs else None)
        if rxr is not None:
            route = _Coded.of(rxr, 1)
            match = self.pack.routes.resolve(route.code, "hl7-0162") if route.code else None
            if match is None and route.label():
                match = self.pack.routes.resolve(route.label(), "text")
            if match is not None and match.route:
                admin["route"] = match.route
                if match.method:
                    admin["method"] = match.method
            elif route.label():
                admin["route"] = route.label().lower()[:200]  # the engine says it is not in the route table
            method = _Coded.of(rxr, 4)
            found = self.pack.routes.resolve(method.code, "hl7-0165") if method.code else None
            if found is None and method.label():
                found = self.pack.routes.resolve(method.label(), "text")
            if found is not None and found.method:
                admin["method"] = found.method
            site = _Coded.of(rxr, 2)
            device = _Coded.of(rxr, 3)
            access = " ".join(
                part
                for part in (site.text or body_sites().get(site.code.upper(), site.code), device.label())
                if part
            )
            if access:
                admin["access"] = access
        if order.orc is not None and (ordered_by := _person(order.orc, 12)):
            admin["ordered_by"] = ordered_by
        if order.rx is not None:
            indication = _Coded.of(order.rx, 27 if order.rx.name == "RXE" else 20).label()
            if indication:
                admin["indication"] = indication
        return admin, problems

    def _rxa(
        self,
        encounter: _Encounter,
        order: _Order,
        run: _Run,
        rxa: _Seg,
        extras: dict[str, Any],
        mix: str | None,
        source: str,
    ) -> None:
        admin_id = _admin_id(order, rxa.get(1), rxa.get(2))
        where = f"{source}, RXA {excerpt(admin_id, 40)}"
        action = rxa.get(21).upper()
        if action == "D":
            removed = encounter.forget(admin_id)
            encounter.finding(
                "hl7-deleted",
                "info",
                f"RXA-21 action D: administration {_shown(admin_id)} was deleted by the sender"
                + (" and removed." if removed else " (it was not imported before)."),
                where,
                [admin_id],
            )
            return
        status = rxa.get(20).upper()
        if status in NOT_GIVEN:
            encounter.forget(admin_id)
            encounter.finding(
                "not-given",
                "info",
                f"RXA-20 completion status {status} ({NOT_GIVEN[status]}): administration {_shown(admin_id)} "
                "is not coded.",
                where,
                [admin_id],
            )
            return
        common, problems = self._common(order, run)
        code = _Coded.of(rxa, 5)
        if not code.label() and order.rx is not None:
            code = _Coded.of(order.rx, 2 if order.rx.name == "RXE" else 1)
        admin: dict[str, Any] = {"id": admin_id, "substance": code.label() or "unnamed substance", **common}
        if ndc := code.code_in("NDC"):
            admin["ndc"] = ndc
        if rxnorm := code.code_in("RXNORM", "RXN"):
            admin["rxnorm"] = rxnorm
        start, start_has_time = hl7_time(rxa.get(3))
        end, _ = hl7_time(rxa.get(4))
        if start:
            admin["start"] = start
            if end and rxa.get(4) != rxa.get(3):
                admin["end"] = end
        _amounts(admin, rxa.get(6), _Coded.of(rxa, 7), rxa.get(12))
        volume = _number(rxa.get(23))
        if volume and rxa.get(24, 1).lower() == "ml" and "volume_ml" not in admin:
            admin["volume_ml"] = volume
        if given_by := _person(rxa, 10):
            admin["administered_by"] = given_by
        if indication := _Coded.of(rxa, 19).label():
            admin["indication"] = indication
        if mix:
            admin["mix"] = mix
        if status == "PA":
            problems.append(("partially-given", "RXA-20 completion status PA: partially administered"))
        self._place(encounter, admin, extras, problems, where, start_has_time, "RXA-3")

    def _give(
        self, encounter: _Encounter, order: _Order, run: _Run, rxg: _Seg, extras: dict[str, Any], source: str
    ) -> None:
        """RGV^O15: a pharmacy give instruction. Planned times (TQ1-7/8, else RXG-3), not charted ones."""
        give_id = _admin_id(order, rxg.get(1), "")
        where = f"{source}, RXG {excerpt(give_id, 40)}"
        base, problems = self._common(order, run)
        timing = run.timing[0] if run.timing else None
        start_raw = timing.get(7) if timing else rxg.get(3, 4)
        end_raw = timing.get(8) if timing else rxg.get(3, 5)
        start, has_time = hl7_time(start_raw)
        end, _ = hl7_time(end_raw)
        components = run.rxcs or (order.rxcs if len(order.rxcs) > 1 else [])
        parts: list[tuple[str, _Coded, str, _Coded]] = []
        if len(components) > 1:
            for number, rxc in enumerate(components, 1):
                parts.append((_id(f"{give_id}/{number}"), _Coded.of(rxc, 2), rxc.get(3), _Coded.of(rxc, 4)))
        else:
            parts.append((give_id, _Coded.of(rxg, 4), rxg.get(5), _Coded.of(rxg, 7)))
        problems.append(
            (
                "hl7-give-not-administration",
                "from a pharmacy give message (RGV^O15): the times are the planned give times, not charted "
                "administration times",
            )
        )
        for part_id, code, amount, units in parts:
            admin = {"id": part_id, "substance": code.label() or "unnamed substance", **base}
            if ndc := code.code_in("NDC"):
                admin["ndc"] = ndc
            if rxnorm := code.code_in("RXNORM", "RXN"):
                admin["rxnorm"] = rxnorm
            if start:
                admin["start"] = start
                if end and end_raw != start_raw:
                    admin["end"] = end
            _amounts(admin, amount, units, "")
            rate = _number(rxg.get(15))
            if rate and _RATE_UNIT.match(rxg.get(16, 1)):
                admin["rate_ml_per_hour"] = rate
            if len(parts) > 1:
                admin["mix"] = give_id
            self._place(encounter, admin, dict(extras), list(problems), where, has_time, "TQ1-7")

    def _place(
        self,
        encounter: _Encounter,
        admin: dict[str, Any],
        extras: dict[str, Any],
        problems: list[tuple[str, str]],
        where: str,
        has_time: bool,
        time_field: str,
    ) -> None:
        primary = extras.pop("primary", False)
        for key, value in extras.items():
            admin[key] = value
        admin_id = admin["id"]
        if "route" not in admin:  # imported, held: a coder confirms the route (formats/holds.py)
            admin["route"] = holds.NO_ROUTE
            infused = admin.get("method") == "infusion" or "rate_ml_per_hour" in admin
            label = f"Administration {_shown(admin_id)} (no RXR-1)"
            found = holds.route_missing(admin_id, label, where, admin.get("method"), infused)
            encounter.finding(found["id"], found["severity"], found["message"], where, [admin_id])
        if not has_time and admin["route"] in VASCULAR_ROUTES:
            encounter.finding(
                "hl7-no-time",
                "error",
                f"Administration {_shown(admin_id)} has no time of day in {time_field}: an IV administration "
                "cannot be coded without its start time.",
                where,
                [admin_id],
            )
            return
        if not _valid(encounter, admin, set(extras), where):
            return
        self.held += admin_id not in encounter.administrations
        if admin_id in encounter.administrations:
            encounter.forget(admin_id)
            problems.append(("hl7-sent-again", "sent again: the later message replaces the earlier one"))
        encounter.administrations[admin_id] = admin
        if primary:
            encounter.fields["primary_administration"] = admin_id
        for finding_id, text in problems:
            severity = "info" if finding_id in ("hl7-sent-again", "partially-given") else "warning"
            encounter.finding(
                finding_id, severity, f"Administration {_shown(admin_id)}: {text}.", where, [admin_id]
            )


def _valid(encounter: _Encounter, admin: dict[str, Any], extras: set[str], where: str) -> bool:
    """Whether the administration is one the contract takes. A value from our OBX extras that it does not
    take (category "-1") is left out with a warning and the administration kept; any other problem leaves
    the administration out with an error finding, so one bad value never costs the encounter."""
    for _ in range(len(extras) + 1):
        try:
            Administration.model_validate(admin)
            return True
        except ValidationError as error:
            problem = error.errors()[0]
            name = str(problem["loc"][0]) if problem["loc"] else ""
            text = str(problem["msg"]).split("\n", 1)[0][:120]
            if name in extras and name in admin:
                value = admin.pop(name)
                encounter.finding(
                    "hl7-extra-unreadable",
                    "warning",
                    f"Administration {_shown(admin['id'])}: OBX {name} {excerpt(value, 30)} is left out ({text}).",
                    where,
                    [admin["id"]],
                )
                continue
            encounter.finding(
                "unreadable-administration",
                "error",
                f"Administration {_shown(admin['id'])}: {excerpt(name, 30)[1:-1]}: {text}; not imported.",
                where,
                [admin["id"]],
            )
            return False
    return False


def _admin_id(order: _Order, give: str, sub: str) -> str:
    """Order number (ORC-2, else ORC-3), then /RXA-1/RXA-2 unless they are the first give (0) and first
    administration (1): stable across messages, and a coder finds the order in the chart by it."""
    number = order.number() or "no-order-number"
    give = give or "0"
    sub = sub or "1"
    return _id(number if (give, sub) == ("0", "1") else f"{number}/{give}/{sub}")


def _shown(text: str) -> str:
    """An id or value in a message: at most 60 characters of it."""
    return text if len(text) <= 60 else text[:57] + "..."


def _id(text: str) -> str:
    """An id as the contract takes it (at most 200 characters): a longer one is cut and keeps a hash of
    the whole, so two long ids stay two."""
    if len(text) <= 200:
        return text
    return f"{text[:180]}~{hashlib.sha1(text.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def _amounts(admin: dict[str, Any], amount_text: str, units: _Coded, time_unit: str) -> None:
    """RXA-6/7 (RXG-5/7): a dose, or with RXA-12 or a mL/h unit a rate; mL amounts are also the volume."""
    amount = _number(amount_text)
    unit = units.code or units.text
    if amount is None:
        return
    hours = _hours(time_unit) if time_unit else None
    if _RATE_UNIT.match(unit.strip()):
        admin["rate_ml_per_hour"] = amount
        return
    if hours:
        if unit.lower() == "ml":
            admin["rate_ml_per_hour"] = round(amount / hours, 3)
        return
    admin["dose"] = amount
    if unit:
        admin["dose_unit"] = unit
    if unit.lower() == "ml":
        admin["volume_ml"] = amount


# OBX extras: code -> (contract field, kind)
EXTRAS: dict[str, tuple[str, str]] = {
    "category": ("category", "text"),
    "hormonal": ("hormonal", "bool"),
    "purpose": ("purpose", "text"),
    "pump": ("pump", "text"),
    "separate-access": ("separate_access_required", "bool"),
    "mix": ("mix", "text"),
    "method": ("method", "text"),
    "primary": ("primary", "bool"),
    "volume-ml": ("volume_ml", "number"),
    "rate-ml-per-hour": ("rate_ml_per_hour", "number"),
    "single-dose-container": ("single_dose_container", "bool"),
    "wasted": ("wasted", "number"),
    "hcpcs": ("hcpcs", "text"),
}


def _extras(observations: list[_Seg]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for obx in observations:
        if obx.get(3, 3).upper() != LOCAL_SYSTEM or obx.get(3, 1) not in EXTRAS:
            continue
        name, kind = EXTRAS[obx.get(3, 1)]
        value = obx.get(5)
        if kind == "bool":
            found[name] = value.upper() in ("Y", "YES", "TRUE", "1")
        elif kind == "number":
            try:
                found[name] = float(value)
            except ValueError:
                continue
        elif value:
            found[name] = value
    return found


def read(sources: Sequence[Source], options: ImportOptions, pack: ReferencePack) -> Iterator[dict[str, Any]]:
    """Contract encounters from HL7 v2 files (error objects for messages that cannot be read)."""
    builder = _Builder(options, pack)
    for source in sources:
        if builder.held > MAX_HELD:
            builder.error(source.name, "", f"not read: {_FULL}")
            continue
        try:
            with source.open() as stream:
                builder.file(source.name, _messages(stream))
        except SourceError as exc:
            builder.slots.append(error_record(None, str(exc)[:500]))
        except OSError as exc:
            builder.slots.append(error_record(None, unreadable(source.name, exc)))
    yield from builder.results()


_FULL = (
    f"the import holds more than {MAX_HELD:,} administrations and errors, the most one import reads; "
    "import the feed in parts"
)


# ---------------------------------------------------------------------------------------------------------
# Writing


def _ts(value: Any) -> str:
    return str(value.strftime("%Y%m%d%H%M%S" if value.second else "%Y%m%d%H%M"))


@cache
def _bundled_pack() -> ReferencePack:
    return load_library().latest


def _routes_0162(pack: ReferencePack) -> dict[str, str]:
    """Contract route -> its HL7 table 0162 code (the first listed)."""
    codes: dict[str, str] = {}
    for (system, term), match in pack.routes.entries.items():
        if system == "hl7-0162" and match.route and match.route not in codes:
            codes[match.route] = term
    return codes


def write_ras(encounter: Encounter, version: str = "2.5.1", pack: ReferencePack | None = None) -> str:
    """One RAS message (RAS^O17; RAS^O01 in v2.3 and v2.3.1) for an encounter, one ORDER per administration.

    Versions 2.3 to 2.7: hl7apy 1.3.5 writes v2.8 RXA segments one field short (it leaves out the withdrawn
    RXA-11), so 2.8 is refused rather than written wrong."""
    if version not in WRITE_VERSIONS:
        raise ValueError(f"cannot write HL7 v{version}; choose one of {', '.join(WRITE_VERSIONS)}")
    pack = pack or _bundled_pack()
    route_codes = _routes_0162(pack)
    sites = {text.lower(): code for code, text in body_sites().items()}
    chars = _Chars()
    esc = chars.escaped
    trigger = "O01" if version in ("2.3", "2.3.1") else "O17"
    structure = f"RAS_{trigger}"
    message = Message(structure, version=version, validation_level=VALIDATION_LEVEL.TOLERANT)
    message.msh.msh_3 = "infusion-coder"
    message.msh.msh_9 = f"RAS^{trigger}^{structure}" if version not in ("2.3", "2.3.1") else f"RAS^{trigger}"
    encounter_id = str(encounter.encounter_id)
    message.msh.msh_10 = "IC" + hashlib.sha1(encounter_id.encode()).hexdigest()[:16]
    message.msh.msh_11 = "P"
    patient = message.add_group(f"{structure}_PATIENT")
    patient.add_segment("PID")
    patient.pid.pid_3 = esc(encounter_id)
    visit = patient.add_group(f"{structure}_PATIENT_VISIT")
    visit.pv1.pv1_2 = "O"
    visit.pv1.pv1_19 = esc(encounter_id)
    for admin in encounter.administrations:
        order = message.add_group(f"{structure}_ORDER")
        order.orc.orc_1 = "RE"
        order.orc.orc_2 = esc(admin.id)
        if admin.ordered_by:
            order.orc.orc_12 = "^" + esc(admin.ordered_by)
        try:
            group = order.add_group(f"{structure}_ADMINISTRATION")
        except Exception:  # v2.3-2.4 have no ADMINISTRATION group: RXA sits in the ORDER group
            group = order
        rxa = group.add_segment("RXA")
        rxa.rxa_1 = "0"
        rxa.rxa_2 = "1"
        start = _ts(admin.start) if admin.start else ""
        rxa.rxa_3 = start
        rxa.rxa_4 = _ts(admin.end) if admin.end else start
        code = f"^{esc(admin.substance)}"
        if admin.ndc:
            code = f"{esc(admin.ndc)}{code}^NDC"
            if admin.rxnorm:
                code += f"^{esc(admin.rxnorm)}^^RXNORM"
        elif admin.rxnorm:
            code = f"{esc(admin.rxnorm)}{code}^RXNORM"
        rxa.rxa_5 = code
        extras: list[tuple[str, str, str]] = []
        if admin.dose:
            rxa.rxa_6 = _num(admin.dose)
            if admin.dose_unit:
                rxa.rxa_7 = esc(admin.dose_unit)
            if admin.volume_ml and (admin.dose_unit or "").lower() != "ml":
                extras.append(("volume-ml", "NM", _num(admin.volume_ml)))
        elif admin.volume_ml:
            rxa.rxa_6 = _num(admin.volume_ml)
            rxa.rxa_7 = "mL"
        else:
            rxa.rxa_6 = "0"
        if admin.administered_by:
            rxa.rxa_10 = "^" + esc(admin.administered_by)
        if admin.indication:
            rxa.rxa_19 = "^" + esc(admin.indication)
        rxa.rxa_20 = "CP"
        rxa.rxa_21 = "A"
        rxr = group.add_segment("RXR")
        route = route_codes.get(admin.route)
        rxr.rxr_1 = f"{route}^{esc(admin.route)}^HL70162" if route else f"^{esc(admin.route)}"
        if admin.access:
            site = sites.get(admin.access.lower())
            rxr.rxr_2 = f"{site}^{esc(admin.access)}^HL70163" if site else f"^{esc(admin.access)}"
        if admin.method == "push":
            rxr.rxr_4 = "IVP^IV push^HL70165"
        elif admin.method == "infusion":
            rxr.rxr_4 = "IVPB^IV piggyback^HL70165"
        elif admin.method:
            extras.append(("method", "ST", admin.method))
        for name, value in (
            ("category", admin.category),
            ("purpose", admin.purpose),
            ("pump", admin.pump),
            ("mix", admin.mix),
            ("hcpcs", admin.hcpcs),
        ):
            if value:
                extras.append((name, "ST", str(value)))
        for name, flag in (
            ("hormonal", admin.hormonal),
            ("separate-access", admin.separate_access_required),
            ("single-dose-container", admin.single_dose_container),
            ("primary", encounter.primary_administration == admin.id or None),
        ):
            if flag is not None:
                extras.append((name, "ST", "Y" if flag else "N"))
        if admin.rate_ml_per_hour:
            extras.append(("rate-ml-per-hour", "NM", _num(admin.rate_ml_per_hour)))
        if admin.wasted is not None:
            extras.append(("wasted", "NM", _num(admin.wasted)))
        for number, (name, kind, value) in enumerate(extras, 1):
            observation = group.add_group(f"{structure}_OBSERVATION")
            obx = observation.add_segment("OBX")
            obx.obx_1 = str(number)
            obx.obx_2 = kind
            obx.obx_3 = f"{name}^{name}^{LOCAL_SYSTEM}"
            obx.obx_5 = esc(value)
            obx.obx_11 = "F"
    return str(message.to_er7())


def _num(value: float) -> str:
    return f"{value:g}"
