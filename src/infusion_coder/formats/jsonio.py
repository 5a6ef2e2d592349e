"""Reading encounters from JSON bytes: one object, an array, or JSON Lines, streamed so a large batch
never has to fit in memory. Every input record yields exactly one item, in order.

The framing contract (docs/robustness.md):

- The input is UTF-8; a byte-order mark at the start is skipped.
- One JSON object (on one line or pretty-printed over many) is one record; its result is one object.
- A JSON array is read element by element; each element is one record.
- Otherwise the input is JSON Lines: records are separated by LF (a CR before the LF is dropped), and
  nothing else splits a record: not a lone CR, not U+2028, U+2029 or U+0085. Blank lines are skipped.
- Any one record's failure (not UTF-8, not JSON, NaN or Infinity, nesting too deep, an integer too long,
  a record over MAX_RECORD_BYTES) becomes that record's problem; the records after it are read as usual.
- The input as a whole is unreadable (UnreadableInput, exit 2) only when it is empty, is another format
  (the message says which), or starts with a value over several lines and goes on after it.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import orjson
from pydantic_core import PydanticSerializationError

if TYPE_CHECKING:
    from ..engine.output import Coded

MAX_RECORD_BYTES = 16 * 1024 * 1024  # one encounter of 5,000 administrations is about 2 MB
HEAD_LINES = 100  # lines looked at to tell JSON Lines with a broken first line from another format
_CHUNK = 1 << 16
_BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r\n"
# A whole string, or one structural byte; a lone quote is a string not yet closed in the buffer.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},"]', re.S)


class UnreadableInput(ValueError):
    """The input as a whole is not JSON, a JSON array, or JSON Lines."""


@dataclass(frozen=True)
class Item:
    """One record read from the input: its value, or why it could not be read."""

    value: Any = None
    problem: str | None = None
    where: str = ""  # "line 7", "element 3": for messages that must not quote the record


@dataclass
class Batch:
    single: bool  # one JSON object in, one out
    items: Iterator[Item]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


# orjson reads a line about three times faster than json, to the same value, except: an integer over 64
# bits (a float to orjson), nesting json refuses (RecursionError) and orjson allows. Lines with a run of
# 19 digits or many brackets, and every line orjson refuses, are read by json, which words the problem.
# The digit runs are found by mapping every digit to "0" and the rest to a space: one substring search
# (a regular expression took 7 us a line, three times orjson's own time).
_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19
_FEW_BRACKETS = 200


def parse(data: bytes | bytearray, where: str) -> Item:
    """One record's bytes as an Item: its value, or the reason it is not a JSON value."""
    if data.count(b"[") + data.count(b"{") < _FEW_BRACKETS and _LONG_RUN not in data.translate(_DIGITS):
        try:
            return Item(orjson.loads(data), where=where)
        except orjson.JSONDecodeError:
            pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Item(problem=f"{where} is not UTF-8 text (byte {exc.start + 1} is not valid)", where=where)
    try:
        return Item(_DECODER.decode(text), where=where)
    except json.JSONDecodeError as exc:
        column = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno} column {exc.colno}"
        at = "" if exc.msg.endswith(" at") else " at"  # "Unterminated string starting at" has its own
        return Item(problem=f"{where} is not valid JSON: {exc.msg}{at} {column}", where=where)
    except RecursionError:
        return Item(problem=f"{where} is nested too deeply to read", where=where)
    except ValueError as exc:  # NaN/Infinity (above), or an integer of more than 4,300 digits
        reason = str(exc) if "JSON number" in str(exc) else "a number in it has too many digits"
        return Item(problem=f"{where} is not valid JSON: {reason}", where=where)


class _Input:
    """A binary stream with bytes pushed back in front of it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.front = b""

    def unread(self, data: bytes) -> None:
        self.front = data + self.front

    def read(self, size: int = _CHUNK) -> bytes:
        if self.front:
            data, self.front = self.front, b""
            return data
        return self.stream.read(size)

    def readline(self, limit: int) -> bytes:
        if self.front:
            end = self.front.find(b"\n", 0, limit)
            if end >= 0:
                line, self.front = self.front[: end + 1], self.front[end + 1 :]
                return line
            if len(self.front) >= limit:
                line, self.front = self.front[:limit], self.front[limit:]
                return line
            line, self.front = self.front, b""
            return line + self.stream.readline(limit - len(line))
        return self.stream.readline(limit)


def _binary(stream: BinaryIO | TextIO) -> BinaryIO:
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        return buffer  # type: ignore[no-any-return]
    if isinstance(stream, io.TextIOBase):
        return io.BytesIO(stream.read().encode("utf-8", "surrogatepass"))
    return stream  # type: ignore[return-value]


def read(stream: BinaryIO | TextIO) -> Batch:
    """Sniff the shape of the input and return its records lazily (text streams are read as bytes)."""
    source = _Input(_binary(stream))
    number, head = 1, b""
    while True:
        line = source.readline(MAX_RECORD_BYTES + 1)
        if not line:
            raise UnreadableInput("the input is empty: expected a JSON object, a JSON array or JSON Lines")
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if line.strip(_BLANK):
            head = line
            break
        number += 1
    first = head.lstrip(_BLANK)[:1]
    alone = parse(head, f"line {number}") if len(head) <= MAX_RECORD_BYTES else Item(problem="too long")
    if alone.problem is None:
        return _after_first_value(source, alone, number)
    if first == b"[":
        return Batch(False, _array(source, head))
    if first == b"{":
        whole = _multiline_object(source, head)  # when None, it has put back what it read, head too
        if whole is not None:
            return Batch(True, iter([whole]))
        return Batch(False, _lines(source, number))
    source.unread(head)
    if not _json_lines_ahead(source):
        raise UnreadableInput(_guess(head))
    return Batch(False, _lines(source, number))


def _after_first_value(source: _Input, first: Item, number: int) -> Batch:
    """The first non-blank line is a whole JSON value: one object, one array, or the first of JSON Lines."""
    while True:
        line = source.readline(MAX_RECORD_BYTES + 1)
        if not line:
            if isinstance(first.value, list):
                items = (Item(v, where=f"element {i}") for i, v in enumerate(first.value, 1))
                return Batch(False, items)
            return Batch(isinstance(first.value, dict), iter([first]))
        number += 1
        if line.strip(_BLANK):
            source.unread(line)
            return Batch(False, _chain(first, _lines(source, number)))


def _chain(first: Item, rest: Iterator[Item]) -> Iterator[Item]:
    yield first
    yield from rest


def _lines(source: _Input, number: int) -> Iterator[Item]:
    """JSON Lines from line `number` on: split on LF only, one item per non-blank line."""
    while True:
        line = source.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of it without holding it
                line = source.readline(_CHUNK)
            yield Item(
                problem=f"line {number} is longer than {MAX_RECORD_BYTES:,} bytes", where=f"line {number}"
            )
        elif line.strip(_BLANK):
            end = -2 if line.endswith(b"\r\n") else -1 if line.endswith(b"\n") else len(line)
            yield parse(line[:end], f"line {number}")
        number += 1


def _multiline_object(source: _Input, head: bytes) -> Item | None:
    """A pretty-printed object: the value that starts on the first line, if it closes on a later one,
    parses, and is all the input holds. None: read the input as JSON Lines instead."""
    second = source.readline(MAX_RECORD_BYTES + 1)
    source.unread(second)
    if second.startswith(b"{") and isinstance(parse(second.rstrip(b"\r\n"), "").value, dict):
        source.unread(head)  # a whole object at the start of the next line: JSON Lines, no need to look on
        return None
    buffer, pos, depth = bytearray(head), 0, 0
    while True:
        match = _TOKEN.search(buffer, pos)
        if match is not None and match.group() != b'"':
            pos = match.end()
            token = match.group()
            if token.startswith(b'"'):
                continue
            if token in (b"{", b"["):
                depth += 1
            elif token in (b"}", b"]"):
                depth -= 1
                if depth <= 0:
                    break
            continue
        if match is not None and b"\n" in buffer[match.start() :]:
            source.unread(bytes(buffer))  # a string cannot run over a line end in JSON: not one object
            return None
        more = source.read(max(_CHUNK, len(buffer))) if len(buffer) <= MAX_RECORD_BYTES else b""
        if not more:
            source.unread(bytes(buffer))
            return None
        buffer += more
    item = parse(buffer[:pos], "the input") if pos > len(head) else Item(problem="ends on its first line")
    if item.problem is not None:
        source.unread(bytes(buffer))
        return None
    rest = bytes(buffer[pos:])
    while not rest.strip(_BLANK):
        rest = source.read()
        if not rest:
            return item
    raise UnreadableInput(
        "the input starts with a JSON value over several lines and goes on after it: give one object, "
        "a JSON array, or JSON Lines (one encounter per line)"
    )


def _array(source: _Input, head: bytes) -> Iterator[Item]:
    """The elements of a JSON array, one at a time. A break in the array's structure (a bracket that
    does not match, a string or array left open at the end) ends it with one last problem item."""
    buffer = bytearray(head)
    pos = buffer.index(b"[") + 1
    start, depth, number, eof, oversized = pos, 1, 0, False, False
    while True:
        match = _TOKEN.search(buffer, pos)
        if match is None or (match.group() == b'"' and not eof):
            if eof:
                where = f"element {number + 1}"
                yield Item(
                    problem=f"{where} is cut off: the input ends before the array's closing ]", where=where
                )
                return
            more = source.read(max(_CHUNK, len(buffer) - start))
            if not more:
                eof = True
                continue
            keep = start
            if oversized or len(buffer) - start > MAX_RECORD_BYTES:
                # hold no more of an element already too long than an open string in it
                oversized = True
                keep = match.start() if match is not None else len(buffer)
                if len(buffer) - keep > 2 * MAX_RECORD_BYTES:
                    where = f"element {number + 1}"
                    yield Item(
                        problem=f"{where} holds a string too long to read; the array ends here", where=where
                    )
                    return
            del buffer[:keep]
            buffer += more
            pos, start = max(pos - keep, 0), max(start - keep, 0)
            continue
        token = match.group()
        if token == b'"':  # a string still open at the end of the input
            pos = len(buffer)
            continue
        pos = match.end()
        if token.startswith(b'"'):
            continue
        if token in (b"{", b"["):
            depth += 1
        elif token in (b"}", b"]") and depth > 1:
            depth -= 1
        elif token != b"," or depth == 1:
            element = buffer[start : match.start()]
            closing = token != b","
            if not (closing and number == 0 and not element.strip(_BLANK)):  # [] holds no element
                number += 1
                where = f"element {number}"
                if oversized:
                    yield Item(problem=f"{where} is longer than {MAX_RECORD_BYTES:,} bytes", where=where)
                elif not element.strip(_BLANK):
                    yield Item(problem=f"{where} is empty (two commas, or a comma before ])", where=where)
                else:
                    yield parse(element, where)
            oversized, start = False, pos
            if token == b"}":
                where = f"element {number + 1}"
                yield Item(
                    problem=f"the array breaks after element {number}: a }} closes nothing", where=where
                )
                return
            if closing:
                rest = bytes(buffer[pos:])
                while not rest.strip(_BLANK):
                    rest = source.read()
                    if not rest:
                        return
                where = f"element {number + 1}"
                yield Item(
                    problem="there is more after the array's closing ] (one array per input)", where=where
                )
                return


def _json_lines_ahead(source: _Input) -> bool:
    """Whether a line near the start is a JSON object: then the input is JSON Lines whose first line is
    broken, not another format."""
    seen: list[bytes] = []
    budget = 1 << 20
    try:
        for _ in range(HEAD_LINES):
            line = source.readline(budget + 1)
            if not line:
                break
            seen.append(line)
            budget -= len(line)
            if line.lstrip(_BLANK).startswith(b"{") and isinstance(parse(line, "").value, dict):
                return True
            if budget <= 0:
                break
        return False
    finally:
        source.unread(b"".join(seen))


def _guess(head: bytes) -> str:
    """What an input that is not JSON looks like, and what to do with it."""
    text = head.lstrip(_BLANK)
    not_json = "the input is not JSON (nor a JSON array or JSON Lines)"
    if text.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in text[:64]:
        return f"{not_json}: it looks like UTF-16 text; save it as UTF-8"
    if text.lstrip(b"\x0b").startswith(b"MSH|") or text.startswith(b"FHS|") or text.startswith(b"BHS|"):
        return f"{not_json}: this looks like an HL7 v2 message; use `infusion-coder code --from hl7`"
    if text.startswith(b"<"):
        return f"{not_json}: this looks like XML; FHIR is read as JSON with `infusion-coder code --from fhir`"
    if text.startswith(b"ISA"):
        return f"{not_json}: this looks like an X12 EDI file, which is not read here"
    if text.startswith(b"PK\x03\x04"):
        return f"{not_json}: this looks like a ZIP or XLSX file; export the sheet as CSV and use --from mar"
    try:
        line = text.decode("utf-8")
    except UnicodeDecodeError:
        return f"{not_json}: it is not UTF-8 text (binary data?)"
    if any(sep in line for sep in (",", ";", "\t")):
        return f"{not_json}: this looks like CSV (a header line with separators); use `infusion-coder code --from mar`"
    return f"{not_json}: its first line is not JSON and no line of the first {HEAD_LINES} is a JSON object"


def dumps(record: dict[str, Any], *, pretty: bool = False, compact: bool = False) -> str:
    """JSON text of a record: UTF-8 characters as they are, indented when pretty, no spaces when compact."""
    spacing: dict[str, Any] = {"indent": 2} if pretty else {"separators": (",", ":")} if compact else {}
    text = json.dumps(record, ensure_ascii=False, **spacing)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \\ud800 escape: keep it escaped, as it came
        text = json.dumps(record, **spacing)
    return text


def render_coded(coded: Coded) -> bytes | None:
    """A coded encounter as the bytes `render(coded.model())` writes, from plain objects (orjson), or None
    where that spelling is not certain: a UTC offset with seconds (a zone's local mean time before 1900-ish
    rules; pydantic truncates it, orjson rounds), or what orjson refuses (a lone surrogate, an integer over
    64 bits). The caller then renders the model."""
    for moment in coded.moments():
        offset = moment.utcoffset()
        if offset is not None and (offset.seconds % 60 or offset.microseconds):
            return None
    try:
        return orjson.dumps(coded.plain(), option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        return None


def render(result: Any, *, pretty: bool = False) -> str:
    """A result model as the text `code` writes for it (no trailing newline): compact JSON from pydantic's
    serialiser (four times faster than model_dump + json.dumps); pretty or with a lone surrogate (which UTF-8
    cannot hold), through json.dumps, which keeps it escaped as it came."""
    if not pretty:
        try:
            return str(result.model_dump_json())
        except PydanticSerializationError:
            pass
    return dumps(result.model_dump(mode="json"), pretty=pretty, compact=not pretty)
