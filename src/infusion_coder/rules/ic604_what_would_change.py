"""Where a few more documented minutes would change a line, the result says so.

Reasoning: most lost drug-administration revenue, and many audit findings, come from times that were never
charted or charted loosely. When a timed administration stops just short of a threshold (16 minutes for an
infusion, 31 for hydration, 91, 151, ... for an added hour) an info finding names the stop time that would
support the next code, so a nurse can check the record: only a true stop time may be charted, never one
moved to reach a code.

Example: ceftriaxone 10:15-10:27 -> 96374, finding what-would-change: "a stop at or after 10:31 would
support 96365 instead of 96374".
"""

import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__],
    "IC604",
    "what-would-change",
    ("S8", "S9", "S21", "S22", "S44", "S45", "S12", "S23"),
)

WITHIN_MINUTES = 10  # how close to a threshold a documented time must be to be worth a look
_ADDED_HOURS = tuple(91 + 60 * index for index in range(12))  # built once: asked for every timed record
_MARKS = (16, *_ADDED_HOURS)
_HYDRATION_MARKS = (31, *_ADDED_HOURS)


def _reach(marks: tuple[int, ...]) -> tuple[int, ...]:
    """Minutes (0 up to the last mark) -> the next mark when it is within reach, else 0."""
    table = []
    for minutes in range(marks[-1]):
        upcoming = next(mark for mark in marks if mark > minutes)
        table.append(upcoming if upcoming - minutes <= WITHIN_MINUTES else 0)
    return tuple(table)


# next_threshold as tables, indexed by minutes: built once, asked for every timed record
NEXT_MARK = _reach(_MARKS)
NEXT_HYDRATION_MARK = _reach(_HYDRATION_MARKS)


def next_threshold(minutes: int, *, hydration: bool) -> int | None:
    """The next minute count that earns a unit, if it is within reach."""
    table = NEXT_HYDRATION_MARK if hydration else NEXT_MARK
    if 0 <= minutes < len(table):
        return table[minutes] or None
    return None  # past the last mark, or a stop before the start
