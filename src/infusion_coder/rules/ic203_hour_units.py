"""Timed infusion units: the first hour covers 16-90 minutes; each added hour needs more than 30 minutes past the last hour mark.

Reasoning: CPT's added-hour codes (96366, 96415, 96370, 96423, 96361) are reported for time "greater than
30 minutes beyond 1-hour increments". So 90 minutes is the initial hour only, 91 earns one added hour, 151
two. Time that continues a service whose first hour is already coded (a later date, a repeat bag of the
same drug) is added hours only: 31-90 minutes is one unit, 91-150 two.

Example: 93-minute chemo infusion -> 96413 + 96415 x1; 90 minutes -> 96413 only (gold dev-06, dev-26).
"""

import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__], "IC203", "hour-units", ("S21", "S22", "S44", "S45", "S46", "S30", "CPT")
)

FIRST_HOUR_FROM = 16


def added_hours_after_first(minutes: int) -> int:
    """Added-hour units for a service whose first hour is in these minutes."""
    return max(0, (minutes - 31) // 60)


def added_hours_only(minutes: int) -> int:
    """Added-hour units for minutes that continue an already-coded first hour."""
    return (minutes + 29) // 60 if minutes >= 31 else 0


def added_hour_marks(units: int, *, after_first: bool) -> list[int]:
    """The minute at which each added-hour unit qualifies (91, 151, ... or 31, 91, ...)."""
    first = 91 if after_first else 31
    return [first + 60 * index for index in range(units)]
