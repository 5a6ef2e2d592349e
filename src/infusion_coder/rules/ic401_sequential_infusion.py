"""A new drug infused after the initial service is sequential: 96367 (or 96417 for chemo), its time past the hour on 96366/96415.

Reasoning: one sequential unit per new drug or mix covers up to its first hour (16 minutes on); later time
follows the more-than-30-minutes rule on the added-hour code of its family. After a chemo initial a
non-chemo infusion is still 96367: the non-chemo add-ons are used across subsections.

Example: antibiotic 30 minutes before a 115-minute chemo infusion -> 96413 + 96415 + 96367 (gold dev-07).
"""

import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__], "IC401", "sequential-infusion", ("S45", "S46", "S1", "S20", "S21", "S30")
)

SEQUENTIAL_CODE = {"chemotherapy": "96417", "therapeutic": "96367"}
ADDED_HOUR_CODE = {"chemotherapy": "96415", "therapeutic": "96366", "hydration": "96361"}
