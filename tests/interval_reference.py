"""The interval algebra on datetimes the engine used before the timeline read times as integers: subtract and
intersect as one sweep over merged lists. The engine now cuts and intersects integer spans
(engine/intervals.py: cut, common); these stay as the definition the tests hold that algebra to, minute by
minute (tests/test_bounds.py) and piece for piece (tests/test_int_intervals.py)."""

from __future__ import annotations

from collections.abc import Iterable

from infusion_coder.engine.intervals import Interval, union


def subtract(base: Iterable[Interval], cut: Iterable[Interval]) -> list[Interval]:
    """Parts of `base` not covered by `cut`: one sweep over both, sorted and merged (linear after sorting)."""
    cuts = union(cut)
    if not cuts:  # the first stream of a scope: nothing covered yet
        return union(base)
    pieces: list[Interval] = []
    k = 0
    count = len(cuts)
    for start, end in union(base):
        while k < count and cuts[k][1] <= start:
            k += 1  # cuts that end before this piece cannot touch it or any later piece
        j = k
        while j < count and cuts[j][0] < end:
            if start < cuts[j][0]:
                pieces.append((start, cuts[j][0]))
            if cuts[j][1] > start:
                start = cuts[j][1]
            j += 1
        if start < end:
            pieces.append((start, end))
    return pieces


def intersect(base: Iterable[Interval], other: Iterable[Interval]) -> list[Interval]:
    """Parts of `base` that `other` covers too: what subtract(base, subtract(base, other)) gives, in one
    sweep over both merged lists (tests/test_times.py holds the two to the same pieces)."""
    others = union(other)
    if not others:
        return []
    pieces: list[Interval] = []
    k = 0
    count = len(others)
    for start, end in union(base):
        while k < count and others[k][1] <= start:
            k += 1
        j = k
        while j < count and others[j][0] < end:
            low = start if start > others[j][0] else others[j][0]
            high = end if end < others[j][1] else others[j][1]
            if low < high:
                pieces.append((low, high))
            j += 1
    return pieces
