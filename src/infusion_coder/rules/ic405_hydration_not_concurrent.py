"""Hydration minutes that run alongside another infusion on the same access are not counted.

Reasoning: hydration has no concurrent code; fluid running during a drug infusion is not reported, and
documented push minutes are deducted from it. What is left before and after is added (C6 policy).

Example: hydration 10:50-13:25 around a chemo infusion 11:20-13:05 -> 50 minutes, 96361 x1 (gold dev-36).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC405", "hydration-not-concurrent", ("R4.3", "R2.7", "C6"))
