"""Hydration needs 31 minutes: initial 96360 at 31-90, 96361 per added hour; as a secondary service only 96361.

Reasoning: the hydration codes start at 31 minutes, so 30 minutes or less is not reported. Hydration after
a different initial service is reported only with 96361, whose first unit starts at 31 minutes (90 minutes
is one unit, 91 two). Minutes that ran alongside another infusion on the same access never count, and
documented push minutes are taken out of a running hydration.

Example: hydration 09:00-12:00 with two pushes (5 minutes) -> 96374 + 96375 + 96361 x3 (gold dev-02).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC204", "hydration-time", ("S12", "S23", "S45", "S24", "S26", "S20"))

HYDRATION_MIN_MINUTES = 31


def qualifies(minutes: int) -> bool:
    return minutes >= HYDRATION_MIN_MINUTES
