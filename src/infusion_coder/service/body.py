"""Request bodies into records: JSON (one encounter or a list) or JSON Lines, with the hostile cases
(bad UTF-8, malformed JSON, NaN, numbers too large to be a dose, nesting deeper than a parser should go)
answered as client errors that say what was wrong."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

JSON_TYPES = frozenset({"application/json", ""})
JSON_LINES_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/x-jsonlines"})
# No quantity of the contract (minutes, mL, mg, units) comes near this; larger is an attack or a typo.
LARGEST_NUMBER = 1e15


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


def read_records(body: bytes, content_type: str | None) -> Records:
    """Parse a request body of encounters; BadBody when the body as a whole is unreadable."""
    kind = media_type(content_type)
    if kind not in JSON_TYPES and kind not in JSON_LINES_TYPES and not kind.endswith("+json"):
        raise BadBody(
            f"unsupported content type {kind!r}: send application/json (one encounter or a list) "
            "or application/x-ndjson (JSON Lines)",
            415,
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadBody(f"the body is not UTF-8 text (byte {exc.start})") from exc
    if not text.strip():
        raise BadBody("the body is empty: expected an encounter, a list of encounters or JSON Lines")
    if kind in JSON_LINES_TYPES:
        values: list[Any] = []
        problems: dict[int, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                values.append(loads(line))
            except (ValueError, RecursionError) as exc:
                problems[len(values)] = f"line {number} is not valid JSON: {_describe(exc)}"
                values.append(None)
        return Records(values, problems, single=False)
    try:
        value = loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadBody(f"the body is not valid JSON: {_describe(exc)}") from exc
    if isinstance(value, list):
        return Records(value, {}, single=False)
    return Records([value], {}, single=True)
