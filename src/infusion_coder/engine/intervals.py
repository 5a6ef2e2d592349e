"""Interval arithmetic: union and whole minutes on wall-clock times, and union, difference and intersection on
the integer times the timeline reads (merge, cut, common, total_minutes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

Interval = tuple[datetime, datetime]


def union(intervals: Iterable[Interval]) -> list[Interval]:
    kept = [i for i in intervals if i[1] > i[0]]
    if len(kept) < 2:  # the common case (none or one): nothing to sort or merge (intervals are tuples)
        return kept
    kept.sort()
    start, end = kept[0]
    merged: list[Interval] = []
    for begin, finish in kept[1:]:
        if begin <= end:
            if finish > end:
                end = finish
        else:
            merged.append((start, end))
            start, end = begin, finish
    merged.append((start, end))
    return merged


def minutes(intervals: Sequence[Interval]) -> int:
    """Whole minutes covered (seconds are counted before rounding down)."""
    if len(intervals) == 1:  # the common case: nothing to merge
        start, end = intervals[0]
        return span_minutes(start, end) if end > start else 0
    total = sum((end - start for start, end in union(intervals)), timedelta())
    return int(total.total_seconds() // 60)


def span_minutes(start: datetime, end: datetime) -> int:
    delta = end - start
    days: int = delta.days
    if -100_000 < days < 100_000:
        # the same whole minutes from the fields, without the float: exact where the float is (a span
        # under ~285 years; the microseconds never cross a minute, which is a whole number of seconds)
        seconds: int = delta.seconds
        return days * 1440 + seconds // 60
    return int(delta.total_seconds() // 60)


# --- the same algebra on integer times -------------------------------------------------------------------
# The timeline converts each service's times once to integers (microseconds from an epoch, so seconds and
# fractions of a second count as before) and does its union, difference and totals on int pairs: no
# datetime or timedelta objects in the loop, and native integers under the compiled build. These take
# lists that are already merged (what merge() returns), so none of them sorts again.

Span = tuple[int, int]
MINUTE_US: Final = 60_000_000  # one minute in microseconds (Final: a constant in the compiled build)


def merge(spans: list[Span]) -> list[Span]:
    """union() on integer spans: the non-empty ones, sorted and merged (touching spans join)."""
    kept = [span for span in spans if span[1] > span[0]]
    if len(kept) < 2:
        return kept
    kept.sort()
    start, end = kept[0]
    merged: list[Span] = []
    for index in range(1, len(kept)):
        begin, finish = kept[index]
        if begin <= end:
            if finish > end:
                end = finish
        else:
            merged.append((start, end))
            start, end = begin, finish
    merged.append((start, end))
    return merged


def cut(base: list[Span], cuts: list[Span]) -> list[Span]:
    """subtract() on merged integer spans: the parts of `base` no span of `cuts` covers."""
    if not cuts:
        return list(base)
    pieces: list[Span] = []
    k = 0
    count = len(cuts)
    for start, end in base:
        while k < count and cuts[k][1] <= start:
            k += 1
        j = k
        while j < count and cuts[j][0] < end:
            low, high = cuts[j]
            if start < low:
                pieces.append((start, low))
            if high > start:
                start = high
            j += 1
        if start < end:
            pieces.append((start, end))
    return pieces


def common(base: list[Span], others: list[Span]) -> list[Span]:
    """intersect() on merged integer spans: the parts of `base` that `others` covers too."""
    if not others or not base:
        return []
    pieces: list[Span] = []
    k = 0
    count = len(others)
    for start, end in base:
        while k < count and others[k][1] <= start:
            k += 1
        j = k
        while j < count and others[j][0] < end:
            low, high = others[j]
            if start > low:
                low = start
            if end < high:
                high = end
            if low < high:
                pieces.append((low, high))
            j += 1
    return pieces


def total_minutes(spans: list[Span]) -> int:
    """minutes() on merged integer spans (microseconds): whole minutes, rounded down after adding up."""
    covered = 0
    for start, end in spans:
        covered += end - start
    return covered // MINUTE_US
