"""Hydration minutes that run alongside another infusion on the same access are not counted.

Reasoning: hydration has no concurrent code; fluid running during a drug infusion is not reported, and
documented push minutes are deducted from it. What is left before and after is added (option combine_hydration_segments).

Example: hydration 10:50-13:25 around a chemo infusion 11:20-13:05 -> 50 minutes, 96361 x1 (gold dev-36).
"""

import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__], "IC405", "hydration-not-concurrent", ("S20", "S25", "S29", "S34", "S26")
)
