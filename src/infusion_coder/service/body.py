"""Request bodies into records: JSON (one encounter or a list) or JSON Lines, with the hostile cases
(bad UTF-8, malformed JSON, NaN, numbers too large to be a dose, nesting deeper than a parser should go)
answered as client errors that say what was wrong.

JSON Lines are framed as the CLI frames them (formats/jsonio.py, docs/robustness.md): only LF ends a record
(a CR before it is dropped), so U+2028, U+0085 or a lone CR inside a string never split one; each line is
parsed by the CLI's own parser, so a bad line gives the CLI's message for it. A request holds at most
`max_records` records, counted before any is coded."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from ..formats import FORMATS, jsonio

JSON_TYPES = frozenset({"application/json", ""})
JSON_LINES_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/x-jsonlines"})
# No quantity of the contract (minutes, mL, mg, units) comes near this; larger is an attack or a typo.
LARGEST_NUMBER = 1e15


MAX_RECORDS = 10_000  # per request: a night's clinic; larger batches go to `infusion-coder batch`
_BLANK = b" \t\r\n"  # what a blank JSON line may hold (jsonio's rule)
_GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_STEP = 1 << 20
_RECORD_LINE = re.compile(rb"^[ \t\r]*[^ \t\r\n]", re.M)  # a line that is not blank


class BadBody(ValueError):
    """The body as a whole cannot be read; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Records:
    values: list[Any]  # one per record; a line that is not JSON holds its problem in `problems`
    problems: dict[int, str]
    single: bool  # one JSON object (or scalar) in, one result out


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > LARGEST_NUMBER:
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 15:
        raise ValueError(f"the number {text[:20]}... is out of range")
    return int(text)


def _constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def loads(text: str) -> Any:
    """Strict JSON: no NaN or Infinity, numbers within range; ValueError or RecursionError otherwise."""
    return json.loads(text, parse_float=_float, parse_int=_int, parse_constant=_constant)


def _describe(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "the JSON is nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return str(exc)


def unpacked_size(data: bytes, ceiling: int) -> int:
    """The bytes `data` holds once gunzipped (its own length when it is not gzip), counted as a stream and
    never past `ceiling + 1`, so a gzip bomb is measured without being inflated. Damaged gzip counts what
    inflates before the damage: the reader reports the damage itself (formats' shared guard)."""
    if data[:2] != _GZIP_MAGIC:
        return len(data)
    total, stream = 0, data
    try:
        while stream and total <= ceiling:
            inflater = zlib.decompressobj(wbits=31)  # gzip members follow one another
            pending = stream
            while pending and total <= ceiling:
                total += len(inflater.decompress(pending, _INFLATE_STEP))
                pending = inflater.unconsumed_tail
            if not inflater.eof:
                break  # truncated (or past the ceiling)
            stream = inflater.unused_data.lstrip(b"\0")
    except zlib.error:
        pass
    return total


def yaml_aliases(content: bytes) -> bool:
    """Whether YAML text uses anchors or aliases (`&a`, `*a`): a few hundred bytes of nested aliases expand
    into millions of values once read (361 bytes took the MAR mapping reader 4.5 s at depth 6, and each
    level multiplies that by 9). Syntax errors are left to the reader, which reports them."""
    try:
        import yaml  # type: ignore[import-untyped]  # optional, as for the MAR reader
    except ImportError:
        return False  # the reader says a YAML mapping needs PyYAML
    try:
        return any(
            isinstance(token, yaml.AliasToken | yaml.AnchorToken)
            for token in yaml.scan(content.decode("utf-8", "replace"))
        )
    except yaml.YAMLError:
        return False


def too_many(count: int, limit: int) -> BadBody:
    return BadBody(
        f"the request holds {count:,} records; at most {limit:,} are coded per request: split the batch "
        "(or code files with `infusion-coder batch`)",
        413,
    )


def json_lines(body: bytes, limit: int = MAX_RECORDS) -> Records:
    """JSON Lines as the CLI reads them: LF-only framing, a byte-order mark at the start skipped, blank
    lines skipped (line numbers count them), each line parsed by jsonio.parse."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    if body.count(b"\n") >= limit:  # maybe too many: count the records without splitting them out
        count = sum(1 for _ in _RECORD_LINE.finditer(body))
        if count > limit:
            raise too_many(count, limit)
    numbered = [(number, line) for number, line in enumerate(body.split(b"\n"), 1) if line.strip(_BLANK)]
    if not numbered:
        raise BadBody("the body is empty: expected an encounter, a list of encounters or JSON Lines")
    values: list[Any] = []
    problems: dict[int, str] = {}
    for number, line in numbered:
        item = jsonio.parse(line[:-1] if line.endswith(b"\r") else line, f"line {number}")
        if item.problem is not None:
            problems[len(values)] = item.problem
        values.append(item.value)
    return Records(values, problems, single=False)


def read_records(body: bytes, content_type: str | None, limit: int = MAX_RECORDS) -> Records:
    """Parse a request body of encounters; BadBody when the body as a whole is unreadable or holds more
    than `limit` records."""
    kind = media_type(content_type)
    if kind not in JSON_TYPES and kind not in JSON_LINES_TYPES and not kind.endswith("+json"):
        raise BadBody(
            f"unsupported content type {kind!r}: send application/json (one encounter or a list) "
            "or application/x-ndjson (JSON Lines)",
            415,
        )
    if kind in JSON_LINES_TYPES:
        return json_lines(body, limit)
    if len(body) > 2 * limit:  # room for more than `limit` records: count them at C speed first
        try:
            quick = orjson.loads(body)
        except orjson.JSONDecodeError:
            quick = None  # the strict parse below says what is wrong
        if isinstance(quick, list) and len(quick) > limit:
            raise too_many(len(quick), limit)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadBody(f"the body is not UTF-8 text (byte {exc.start + 1} is not valid)") from None
    if not text.strip():
        raise BadBody("the body is empty: expected an encounter, a list of encounters or JSON Lines")
    try:
        value = loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadBody(f"the body is not valid JSON: {_describe(exc)}") from None
    if isinstance(value, list):
        if len(value) > limit:
            raise too_many(len(value), limit)
        return Records(value, {}, single=False)
    return Records([value], {}, single=True)


# Formats whose reader needs folders on disk (MIMIC-IV tables): not uploadable.
FOLDER_FORMATS = frozenset({"mimic"})


def format_available(name: str) -> bool:
    """Whether an upload of this source format can be read here: a file format whose reader's library
    is installed."""
    if name not in FORMATS or name in FOLDER_FORMATS:
        return False
    try:
        return importlib.util.find_spec(FORMATS[name][0]) is not None
    except ModuleNotFoundError:
        return False
