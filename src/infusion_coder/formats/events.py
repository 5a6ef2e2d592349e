"""Fold charted MAR actions into administrations, whatever format they came in.

A MAR does not record "an infusion from 10:05 to 11:20"; it records actions: New Bag at 10:05, Paused at
10:40, Restarted at 10:50, Stopped at 11:20. `fold` turns the actions of each key (the administration or
order they belong to) into segments, each of which becomes one contract administration, and reports
every action it could not place as a problem (a source finding on the encounter). A segment runs in one or
more stretches: a pause ends a stretch and a restart opens the next of the same segment, so a paused and
restarted bag is one administration whose contract `segments` are its stretches (10:05-10:40,
10:50-11:20), and only they are counted.

The fold, per key, in time order:

| action | nothing running | running | paused |
|---|---|---|---|
| start (New Bag, Started) | opens a segment | same infusion continues (a new bag) | resumes the segment: a new stretch (a new bag) |
| restart | after a stop: opens a segment; never started: opens one, problem | problem, ignored | resumes the segment: a new stretch |
| pause | problem, ignored | ends the stretch | problem (duplicate pause), ignored |
| rate_change | opens a segment at the change, problem (no bag) | rate recorded | problem, ignored |
| stop (Stopped, Completed) | problem (no start), ignored | ends the segment | ends the pause: the segment ended when it paused |
| given (single-time) | a segment with a start only, whatever the state | | |
| not_given | problem (info): nothing was given | | |
| check (Confirmed) | not an event: ignored | | |

A restart with no rate of its own resumes the last rate charted before it. A segment still running when
the key's actions end has no end time and a problem says so; the policy decides what a missing stop time
means. When that segment had been paused and restarted, its stretches up to the last pause stay one
administration and the open stretch becomes its own segment with no end (the contract's segments all
have an end; the missing stop is a separate question). Two actions with the same key, action, time and
payload are one action charted twice: the second is a problem and is dropped.

Segment ids: the first segment of key `K` is `K`, the next `K.2`, `K.3`, ... in time order (a stop and a
later restart, and every single-time dose, make a new segment). Readers may use another id (MIMIC uses the
id of the event that starts the segment).

The result does not depend on the order of the input: actions are sorted by time, then by a fixed rank
at equal times (stops and pauses close before starts open), then by source reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal


class Action(StrEnum):
    START = "start"
    RESTART = "restart"
    PAUSE = "pause"
    RATE_CHANGE = "rate_change"
    STOP = "stop"
    GIVEN = "given"
    NOT_GIVEN = "not_given"
    CHECK = "check"


# At equal times: close before open, so a bag stopped and the next hung at 10:00 are two segments.
_RANK = {
    Action.STOP: 0,
    Action.PAUSE: 1,
    Action.START: 2,
    Action.RESTART: 3,
    Action.RATE_CHANGE: 4,
    Action.GIVEN: 5,
    Action.NOT_GIVEN: 6,
    Action.CHECK: 7,
}

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Event:
    """One charted action. `ref` names the source record for messages ("row 12", "emar_id 10-29");
    `payload` holds what the record says beyond the action (rate, volume, dose, route, ...)."""

    key: str
    action: Action
    time: datetime
    ref: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    def _payload_key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, repr(v)) for k, v in self.payload.items()))

    def sort_key(self) -> tuple[datetime, int, str, tuple[tuple[str, str], ...]]:
        return (_comparable(self.time), _RANK[self.action], self.ref, self._payload_key())


def _comparable(time: datetime) -> datetime:
    # Sources mixing offset and local times cannot be compared; order offsets by their UTC instant.
    return time if time.tzinfo is None else time.astimezone(UTC).replace(tzinfo=None)


@dataclass
class Segment:
    """A stretch of one key's administration: `end` None when no stop was charted (or a single dose)."""

    key: str
    index: int  # 1-based, in time order within the key
    start: datetime
    end: datetime | None
    single: bool  # a single-time administration (given), not an interval
    events: list[Event]  # the actions that made it, in time order; events[0] opened it
    rates: list[float] = field(default_factory=list)  # rates charted on start and rate changes
    bags: int = 1  # starts charted while it ran (New Bag on a running infusion)
    # (start, end) of each stretch it ran: more than one when paused and restarted; the last open if running
    stretches: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    # for each stretch after the first: where its opening sits in events and in rates
    resumed: list[tuple[int, int]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return segment_id(self.key, self.index)

    @property
    def paused(self) -> bool:
        """Paused and restarted: the stretches it ran are the contract administration's `segments`."""
        return len(self.stretches) > 1

    def closed_stretches(self) -> list[tuple[datetime, datetime]]:
        return [(start, end) for start, end in self.stretches if end is not None]

    def contract_segments(self, iso: Callable[[datetime], str]) -> list[dict[str, str]] | None:
        """The contract administration's `segments` (the stretches it ran), or None when it ran in one."""
        if not self.paused:
            return None
        return [{"start": iso(start), "end": iso(end)} for start, end in self.closed_stretches()]

    @property
    def opening(self) -> Event:
        return self.events[0]

    def payload(self) -> dict[str, Any]:
        """What the opening event says, completed by later events for fields it left empty."""
        merged: dict[str, Any] = {}
        for event in self.events:
            for name, value in event.payload.items():
                if merged.get(name) in (None, "") and value not in (None, ""):
                    merged[name] = value
        return merged


@dataclass(frozen=True)
class Problem:
    """An action the fold could not place, or a segment it had to leave open."""

    kind: str  # stop-without-start, start-without-stop, rate-change-without-start, ...
    key: str
    refs: tuple[str, ...]
    severity: Severity
    message: str
    segment: Segment | None = None  # the segment it concerns, if any


@dataclass
class Fold:
    segments: list[Segment]
    problems: list[Problem]


def segment_id(key: str, index: int) -> str:
    return key if index == 1 else f"{key}.{index}"


def _rate(event: Event) -> float | None:
    value = event.payload.get("rate_ml_per_hour")
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _when(time: datetime) -> str:
    return time.isoformat(timespec="minutes")


def fold(events: Iterable[Event]) -> Fold:
    """Segments and problems of all keys; keys in order of their first action, segments in time order."""
    by_key: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_key[event.key].append(event)
    segments: list[Segment] = []
    problems: list[Problem] = []
    order = sorted(by_key, key=lambda k: (min(e.sort_key() for e in by_key[k]), k))
    for key in order:
        key_segments, key_problems = _fold_key(key, sorted(by_key[key], key=Event.sort_key))
        segments.extend(key_segments)
        problems.extend(key_problems)
    return Fold(segments, problems)


def _fold_key(key: str, events: list[Event]) -> tuple[list[Segment], list[Problem]]:
    segments: list[Segment] = []
    problems: list[Problem] = []
    running: Segment | None = None
    last_closed: Segment | None = None  # the segment a pause or stop closed last
    paused = False
    ever_started = False
    seen: set[tuple[object, ...]] = set()

    def problem(
        kind: str, event: Event, severity: Severity, message: str, segment: Segment | None = None
    ) -> None:
        problems.append(Problem(kind, key, (event.ref,), severity, message, segment))

    def open_segment(event: Event, single: bool = False) -> Segment:
        segment = Segment(key, len(segments) + 1, event.time, None, single, [event])
        segment.stretches.append((event.time, None))
        rate = _rate(event)
        if rate is not None:
            segment.rates.append(rate)
        segments.append(segment)
        return segment

    def resume(segment: Segment, event: Event) -> Segment:
        """A restart (or a new bag) after a pause: the next stretch of the same segment."""
        segment.resumed.append((len(segment.events), len(segment.rates)))
        segment.events.append(event)
        segment.stretches.append((event.time, None))
        segment.end = None
        rate = _rate(event)
        if rate is not None:
            segment.rates.append(rate)
        return segment

    def close(segment: Segment, event: Event) -> None:
        segment.end = event.time
        segment.events.append(event)
        segment.stretches[-1] = (segment.stretches[-1][0], event.time)

    for event in events:
        identity = (event.action, _comparable(event.time), event._payload_key())
        if identity in seen:
            problem(
                "duplicate-event",
                event,
                "info",
                f"{event.action.value} at {_when(event.time)} charted twice: counted once",
            )
            continue
        seen.add(identity)
        action = event.action
        if action is Action.CHECK:
            continue
        if action is Action.GIVEN:
            open_segment(event, single=True)
            continue
        if action is Action.NOT_GIVEN:
            problem(
                "not-given", event, "info", f"charted as not given at {_when(event.time)}: nothing billed"
            )
            continue
        if action is Action.START:
            if running is not None:
                running.events.append(event)
                running.bags += 1
                rate = _rate(event)
                if rate is not None:
                    running.rates.append(rate)
            elif paused and last_closed is not None:
                running = resume(last_closed, event)  # a new bag hung after a pause: the same infusion
                running.bags += 1
            else:
                running = open_segment(event)
            paused = False
            ever_started = True
        elif action is Action.RESTART:
            if running is not None:
                problem(
                    "restart-while-running",
                    event,
                    "warning",
                    f"restart at {_when(event.time)} while the infusion was running: ignored",
                    running,
                )
                continue
            if paused and last_closed is not None:
                running = resume(last_closed, event)  # a restart after a pause: one administration
                paused = False
                continue
            running = open_segment(event)
            if not running.rates and last_closed is not None and last_closed.rates:
                running.rates.append(last_closed.rates[-1])  # a restart resumes the rate in effect
            if not paused and not ever_started:
                problem(
                    "restart-without-pause",
                    event,
                    "warning",
                    f"restart at {_when(event.time)} with no start or pause before it: "
                    "time counted from the restart",
                    running,
                )
            paused = False
            ever_started = True
        elif action is Action.PAUSE:
            if running is None:
                problem(
                    "pause-without-infusion",
                    event,
                    "warning",
                    f"pause at {_when(event.time)} with no running infusion: ignored",
                )
                continue
            close(running, event)
            last_closed, running = running, None
            paused = True
        elif action is Action.RATE_CHANGE:
            if running is not None:
                running.events.append(event)
                rate = _rate(event)
                if rate is not None:
                    running.rates.append(rate)
            elif paused:
                problem(
                    "rate-change-while-paused",
                    event,
                    "warning",
                    f"rate change at {_when(event.time)} while paused: ignored (restart not charted?)",
                )
            else:
                running = open_segment(event)
                ever_started = True
                problem(
                    "rate-change-without-start",
                    event,
                    "warning",
                    f"rate change at {_when(event.time)} with no bag started: "
                    "time counted from the rate change; chart the start",
                    running,
                )
        elif action is Action.STOP:
            if running is not None:
                close(running, event)
                last_closed, running = running, None
            elif paused:
                paused = False  # a stop after a pause ends the pause; the segment already ended
                if last_closed is not None:
                    last_closed.events.append(event)
            else:
                problem(
                    "stop-without-start",
                    event,
                    "warning",
                    f"stop at {_when(event.time)} with no start before it: nothing billed from it",
                )
    if running is not None:
        if running.paused:  # restarted and never stopped: the open stretch is its own segment
            running = _split_open_stretch(running, segments)
        problems.append(
            Problem(
                "start-without-stop",
                key,
                (running.opening.ref,),
                "warning",
                f"started at {_when(running.start)} and never stopped: no stop time",
                running,
            )
        )
    return segments, problems


def _split_open_stretch(segment: Segment, segments: list[Segment]) -> Segment:
    """The last, open stretch of a paused segment as a segment of its own (no stop time); the stretches
    before it stay the segment's. Segments are renumbered in time order."""
    cut, rates = segment.resumed.pop()
    tail = Segment(segment.key, 0, segment.stretches[-1][0], None, False, segment.events[cut:])
    tail.stretches.append((tail.start, None))
    tail.rates = segment.rates[rates:] or segment.rates[rates - 1 : rates]  # else the rate in effect
    segment.rates = segment.rates[:rates]
    segment.events = segment.events[:cut]
    segment.stretches.pop()
    segment.end = segment.stretches[-1][1]
    segments.append(tail)
    segments.sort(key=lambda s: (_comparable(s.start), s.index or len(segments) + 1))
    for number, item in enumerate(segments, start=1):
        item.index = number
    return tail
