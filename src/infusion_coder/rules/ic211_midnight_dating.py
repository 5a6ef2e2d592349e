"""Each unit carries the date it happened: by its qualifying minute, or by the service start (policy).

Reasoning: hospital claims carry a line-item date of service. A continuous infusion across midnight is one
service, and how to date its units is unsettled; the default dates each unit by the day its
qualifying minute (16th, 31st, 91st, ...) fell on, and a finding flags every service that crosses midnight.
A line's explanation agrees with the line: a line dated on a later day than the service started names that
date and the minutes that earned its units there ("the 2 units dated 2026-01-16 are earned by its 151st
and 211th minutes"), never only the minutes counted on the start date.

Example: hydration 23:00-02:00 -> 96360 dated day 1, 96361 x2 dated day 2 (gold dev-11).
"""

import sys
from collections.abc import Sequence

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC211", "midnight-dating", ("S2", "S3", "S4", "S23", "S1", "S29"))


def moment_of_minute(intervals: Sequence[tuple[int, int]], minute: int, per_minute: int) -> int:
    """When the running total of the intervals (integer times, `per_minute` to a minute, in order) reaches
    `minute` minutes: the moment a unit is earned, whose date the unit carries."""
    needed = minute * per_minute
    for start, end in intervals:
        if end - start >= needed:
            return start + needed
        needed -= end - start
    return intervals[-1][1]
