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
from datetime import datetime, timedelta

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC211", "midnight-dating", ("S2", "S3", "S4", "S23", "S1", "S29"))

Interval = tuple[datetime, datetime]
_MINUTE = timedelta(minutes=1)


def moment_of_minute(intervals: Sequence[Interval], minute: int) -> datetime:
    """When the running total of the intervals reaches `minute` minutes."""
    needed = _MINUTE * minute  # timedelta(minutes=...) parses keywords: several times slower
    for start, end in intervals:
        length = end - start
        if length >= needed:
            return start + needed
        needed -= length
    return intervals[-1][1]
