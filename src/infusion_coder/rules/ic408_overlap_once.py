"""Time where two drugs overlap is counted once, for the drug that ranks first.

Reasoning: minutes cannot be billed twice. Drugs are taken in order (the initial first, then by rank and
length) and each keeps only the minutes no earlier drug has claimed; what is left decides whether it is
sequential (16 minutes or more of its own) or concurrent.

Example: Drug A 06:00-07:30, Drug B 07:00-16:00 on one line -> B 96365 + 96366 x8, A keeps 60 minutes:
96367 (gold dev-01).
"""

import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__], "IC408", "overlap-once", ("S29", "S34", "S25", "S20", "S26", "S45", "S48")
)
