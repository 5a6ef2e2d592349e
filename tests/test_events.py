"""The format-neutral fold of MAR actions into administrations (formats/events.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from infusion_coder.formats.events import Action, Event, Fold, fold

T0 = datetime(2026, 1, 15, 8, 0)


def ev(action: Action, minute: int, key: str = "a1", ref: str | None = None, **payload: object) -> Event:
    return Event(key, action, T0 + timedelta(minutes=minute), ref or f"row {minute}", payload)


def spans(result: Fold) -> list[tuple[str, int, int | None]]:
    def minute(t: datetime | None) -> int | None:
        return None if t is None else int((t - T0).total_seconds() // 60)

    return [(s.id, minute(s.start) or 0, minute(s.end)) for s in result.segments]


def kinds(result: Fold) -> list[str]:
    return [p.kind for p in result.problems]


def test_start_stop_is_one_segment() -> None:
    result = fold([ev(Action.STOP, 60), ev(Action.START, 0, rate_ml_per_hour=125.0)])
    assert spans(result) == [("a1", 0, 60)]
    assert result.problems == []
    assert result.segments[0].rates == [125.0]


def stretches(result: Fold) -> list[list[tuple[int, int | None]]]:
    def minute(t: datetime | None) -> int | None:
        return None if t is None else int((t - T0).total_seconds() // 60)

    return [[(minute(a) or 0, minute(b)) for a, b in s.stretches] for s in result.segments]


def test_pause_and_restart_are_one_segment_with_two_stretches() -> None:
    result = fold([ev(Action.START, 0), ev(Action.PAUSE, 30), ev(Action.RESTART, 45), ev(Action.STOP, 90)])
    assert spans(result) == [("a1", 0, 90)]
    assert stretches(result) == [[(0, 30), (45, 90)]]
    assert result.segments[0].paused and result.problems == []
    assert [e.action for e in result.segments[0].events] == [
        Action.START,
        Action.PAUSE,
        Action.RESTART,
        Action.STOP,
    ]


def test_several_pauses_and_a_new_bag_after_a_pause_stay_one_segment() -> None:
    result = fold(
        [
            ev(Action.START, 0),
            ev(Action.PAUSE, 20),
            ev(Action.RESTART, 25),
            ev(Action.PAUSE, 40),
            ev(Action.START, 50),  # a new bag hung after the pause
            ev(Action.STOP, 70),
        ]
    )
    assert stretches(result) == [[(0, 20), (25, 40), (50, 70)]]
    assert result.segments[0].bags == 2


def test_a_restart_never_stopped_keeps_the_stretches_before_it_and_opens_its_own_segment() -> None:
    result = fold(
        [
            ev(Action.START, 0, rate_ml_per_hour=100.0),
            ev(Action.PAUSE, 20),
            ev(Action.RESTART, 30),
            ev(Action.PAUSE, 40),
            ev(Action.RESTART, 50, ref="restart"),
            ev(Action.GIVEN, 45, ref="bolus"),
        ]
    )
    assert spans(result) == [("a1", 0, 40), ("a1.2", 45, None), ("a1.3", 50, None)]
    assert stretches(result) == [[(0, 20), (30, 40)], [(45, None)], [(50, None)]]
    assert [s.rates for s in result.segments] == [[100.0], [], [100.0]]
    assert kinds(result) == ["start-without-stop"]
    assert result.problems[0].segment is result.segments[2]
    assert result.problems[0].refs == ("restart",)


def test_restart_resumes_the_rate_before_the_pause() -> None:
    result = fold(
        [
            ev(Action.START, 0, rate_ml_per_hour=100.0),
            ev(Action.RATE_CHANGE, 10, rate_ml_per_hour=150.0),
            ev(Action.PAUSE, 20),
            ev(Action.RESTART, 30),
            ev(Action.STOP, 60),
        ]
    )
    assert [s.rates for s in result.segments] == [[100.0, 150.0]]  # one segment, the first rate first


def test_rate_change_does_not_split_and_is_recorded() -> None:
    result = fold(
        [
            ev(Action.START, 0, rate_ml_per_hour=100.0),
            ev(Action.RATE_CHANGE, 20, rate_ml_per_hour=200.0),
            ev(Action.STOP, 60),
        ]
    )
    assert spans(result) == [("a1", 0, 60)]
    assert result.segments[0].rates == [100.0, 200.0]


def test_unpaired_events_are_problems() -> None:
    assert kinds(fold([ev(Action.STOP, 10)])) == ["stop-without-start"]
    result = fold([ev(Action.START, 10)])
    assert spans(result) == [("a1", 10, None)]
    assert kinds(result) == ["start-without-stop"]
    assert result.problems[0].segment is result.segments[0]
    result = fold([ev(Action.RATE_CHANGE, 10), ev(Action.STOP, 40)])
    assert spans(result) == [("a1", 10, 40)]
    assert kinds(result) == ["rate-change-without-start"]
    result = fold([ev(Action.RESTART, 10), ev(Action.STOP, 40)])
    assert spans(result) == [("a1", 10, 40)]
    assert kinds(result) == ["restart-without-pause"]
    assert kinds(fold([ev(Action.PAUSE, 5)])) == ["pause-without-infusion"]


def test_restart_after_stop_opens_a_segment_quietly() -> None:
    result = fold([ev(Action.START, 0), ev(Action.STOP, 30), ev(Action.RESTART, 40), ev(Action.STOP, 50)])
    assert spans(result) == [("a1", 0, 30), ("a1.2", 40, 50)]
    assert result.problems == []


def test_stop_after_pause_ends_the_pause() -> None:
    result = fold([ev(Action.START, 0), ev(Action.PAUSE, 30), ev(Action.STOP, 50)])
    assert spans(result) == [("a1", 0, 30)]
    assert result.problems == []


def test_duplicates_count_once() -> None:
    result = fold([ev(Action.START, 0, ref="row 2"), ev(Action.START, 0, ref="row 3"), ev(Action.STOP, 30)])
    assert spans(result) == [("a1", 0, 30)]
    assert kinds(result) == ["duplicate-event"]
    assert result.problems[0].refs == ("row 3",)


def test_given_not_given_and_checks() -> None:
    result = fold(
        [
            ev(Action.GIVEN, 0),
            ev(Action.GIVEN, 240),
            ev(Action.NOT_GIVEN, 480),
            ev(Action.CHECK, 500),
        ]
    )
    assert spans(result) == [("a1", 0, None), ("a1.2", 240, None)]
    assert all(s.single for s in result.segments)
    assert kinds(result) == ["not-given"]


def test_stop_and_start_at_the_same_time_are_two_segments() -> None:
    result = fold([ev(Action.START, 0), ev(Action.START, 60, ref="b"), ev(Action.STOP, 60, ref="a")])
    assert spans(result) == [("a1", 0, 60), ("a1.2", 60, None)]


def test_new_bag_on_a_running_infusion_continues_it() -> None:
    result = fold([ev(Action.START, 0), ev(Action.START, 60), ev(Action.STOP, 120)])
    assert spans(result) == [("a1", 0, 120)]
    assert result.segments[0].bags == 2


actions = st.sampled_from(list(Action))
events_strategy = st.lists(
    st.builds(
        lambda action, minute, key, n: Event(
            key, action, T0 + timedelta(minutes=minute), f"row {n}", {"rate_ml_per_hour": float(minute % 3)}
        ),
        actions,
        st.integers(0, 300),
        st.sampled_from(["a1", "a2", "a3"]),
        st.integers(0, 10_000),
    ),
    max_size=25,
    unique_by=lambda e: e.ref,
)


@given(events_strategy)
def test_every_event_ends_in_a_segment_or_a_problem(events: list[Event]) -> None:
    result = fold(events)
    placed = {e.ref for s in result.segments for e in s.events}
    reported = {ref for p in result.problems for ref in p.refs}
    for event in events:
        if event.action is not Action.CHECK:
            assert event.ref in placed | reported, event


@given(events_strategy)
def test_segments_never_overlap_within_a_key(events: list[Event]) -> None:
    result = fold(events)
    by_key: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for segment in result.segments:
        if not segment.single:
            by_key.setdefault(segment.key, []).append((segment.start, segment.end))
    for intervals in by_key.values():
        intervals.sort(key=lambda i: i[0])
        for (start, end), (next_start, _) in pairwise(intervals):
            assert end is not None and start <= end <= next_start


@given(events_strategy)
def test_stretches_are_ordered_closed_and_inside_their_segment(events: list[Event]) -> None:
    for segment in fold(events).segments:
        assert segment.stretches[0][0] == segment.start and segment.stretches[-1][1] == segment.end
        if segment.paused:  # what becomes the contract's segments: every stretch closed, in order
            closed = segment.closed_stretches()
            assert len(closed) == len(segment.stretches)
            assert all(a <= b for a, b in closed)
            assert all(b <= c for (_, b), (c, _) in pairwise(closed))


@given(events_strategy, st.randoms(use_true_random=False))
def test_input_order_does_not_matter(events: list[Event], rnd: object) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]

    def view(result: Fold) -> object:
        return (
            [(s.id, s.start, s.end, s.stretches, [e.ref for e in s.events]) for s in result.segments],
            sorted((p.kind, p.refs) for p in result.problems),
        )

    assert view(fold(events)) == view(fold(shuffled))
