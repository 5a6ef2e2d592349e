"""Reading encounters from JSON text: one object, an array, or JSON Lines, streamed so a large batch
never has to fit in memory. Every input record yields exactly one output record."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO


class UnreadableInput(ValueError):
    """The input as a whole is not JSON, a JSON array, or JSON Lines."""


@dataclass(frozen=True)
class Item:
    """One record read from the input: its value, or why it could not be read."""

    value: Any = None
    problem: str | None = None


@dataclass
class Batch:
    single: bool  # one JSON object in, one out
    items: Iterator[Item]


def read(stream: TextIO) -> Batch:
    """Sniff the shape of the input and return its records lazily."""
    head = ""
    for line in stream:
        if line.strip():
            head = line
            break
    if not head:
        raise UnreadableInput("the input is empty: expected a JSON object, a JSON array or JSON Lines")
    first = head.lstrip()[0]
    if first == "[":
        return Batch(False, _array(head + stream.read()))
    try:
        value = json.loads(head)
    except json.JSONDecodeError:
        value = None
    if value is None and first == "{":
        # a pretty-printed object spans lines: read it whole
        text = head + stream.read()
        try:
            return Batch(True, iter([Item(json.loads(text))]))
        except json.JSONDecodeError:
            return Batch(False, _lines(text.splitlines(keepends=True), 1))
    rest = _lines(stream, 2)
    peeked = next(rest, None)
    if peeked is None and value is not None and isinstance(value, dict):
        return Batch(True, iter([Item(value)]))
    first_item = Item(value) if value is not None else _parse_line(head, 1)
    return Batch(False, _chain(first_item, peeked, rest))


def _chain(first: Item, second: Item | None, rest: Iterator[Item]) -> Iterator[Item]:
    yield first
    if second is not None:
        yield second
        yield from rest


def _array(text: str) -> Iterator[Item]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableInput(f"the input starts like a JSON array but is not valid JSON: {exc}") from exc
    if not isinstance(value, list):
        raise UnreadableInput("expected a JSON array")
    return (Item(v) for v in value)


def _parse_line(line: str, number: int) -> Item:
    try:
        return Item(json.loads(line))
    except json.JSONDecodeError as exc:
        return Item(problem=f"line {number} is not valid JSON: {exc.msg} at column {exc.colno}")


def _lines(lines: Iterable[str], start: int) -> Iterator[Item]:
    for number, line in enumerate(lines, start):
        if line.strip():
            yield _parse_line(line, number)


def dumps(record: dict[str, Any], *, pretty: bool = False) -> str:
    return json.dumps(record, indent=2 if pretty else None, ensure_ascii=False)
