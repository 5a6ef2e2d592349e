"""A drug infused at the same time as another, in its own bag on the same access, with no time of its own, is concurrent: 96368.

Reasoning: 96368 is not timed and is reported once per encounter (cms) or per date (cpt). A drug counts as
concurrent when its own minutes (not overlapping a drug already counted) are under 16 and the documented
overlap reaches `concurrent_min_overlap_minutes` (C12). A drug that overlaps only partly and keeps 16
minutes of its own is sequential instead, with the overlap counted once. Hydration is never concurrent.

Example: three piggybacks together through one multi-lumen line -> 96365 + 96368 x1 (gold dev-43).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC402", "concurrent-infusion", ("R4.2", "R1.11", "C5", "C12"))
