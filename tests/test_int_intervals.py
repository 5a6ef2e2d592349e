"""The timeline's interval algebra on integer times (engine/intervals.py: merge, cut, common, total_minutes)
gives, piece for piece, what the datetime algebra (union, subtract, intersect, minutes) gives on the same
times, seconds and fractions of a second included: the timeline reads times once as integers and must count
exactly what the datetime code counted."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from infusion_coder.engine.intervals import (
    MINUTE_US,
    Interval,
    Span,
    common,
    cut,
    merge,
    minutes,
    total_minutes,
    union,
)
from interval_reference import intersect, subtract

EPOCH = datetime(2026, 3, 8)
US = timedelta(microseconds=1)

# starts over two days, lengths from negative (a stop before its start) to a few hours, at second and
# sub-second precision, so minutes are counted after adding seconds up, as minutes() does
spans = st.lists(
    st.tuples(
        st.integers(0, 2 * 1440 * MINUTE_US),
        st.one_of(st.integers(-10 * MINUTE_US, 300 * MINUTE_US), st.integers(-5, 5)),
    ).map(lambda p: (p[0], p[0] + p[1])),
    max_size=8,
)


def dated(pieces: list[Span]) -> list[Interval]:
    return [(EPOCH + US * start, EPOCH + US * end) for start, end in pieces]


@settings(max_examples=400, deadline=None)
@given(base=spans)
def test_merge_is_union(base: list[Span]) -> None:
    assert dated(merge(base)) == union(dated(base))


@settings(max_examples=400, deadline=None)
@given(base=spans, other=spans)
def test_cut_and_common_are_subtract_and_intersect(base: list[Span], other: list[Span]) -> None:
    merged, others = merge(base), merge(other)
    assert dated(cut(merged, others)) == subtract(dated(base), dated(other))
    assert dated(common(merged, others)) == intersect(dated(base), dated(other))


@settings(max_examples=400, deadline=None)
@given(base=spans)
def test_total_minutes_is_minutes(base: list[Span]) -> None:
    merged = merge(base)
    assert total_minutes(merged) == minutes(union(dated(base)))
    assert total_minutes(merged) == minutes(dated(merged))


def test_seconds_add_up_before_minutes_round_down() -> None:
    # two 30.5-second pieces are one whole minute; each alone is none
    pieces = merge([(0, 30_500_000), (60 * MINUTE_US, 60 * MINUTE_US + 30_500_000)])
    assert [total_minutes([piece]) for piece in pieces] == [0, 0]
    assert total_minutes(pieces) == 1


def test_touching_spans_join_and_empty_ones_go() -> None:
    assert merge([(5, 10), (0, 5), (7, 7), (12, 11)]) == [(0, 10)]
    assert cut([(0, 10)], []) == [(0, 10)]
    assert common([(0, 10)], []) == []
