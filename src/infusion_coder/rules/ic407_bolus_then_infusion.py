"""A push followed within 30 minutes by an infusion of the same drug is coded as the infusion only.

Reasoning: a loading bolus and the drip that follows are one therapy; adding 96375 would bill the drug
twice. A prolonged pump start (96416) is not a timed infusion and does not fold in a preceding bolus.

Example: drug X bolus 09:00, drip 09:02-10:02 -> 96365 only (gold dev-47).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC407", "bolus-then-infusion", ("R2.10", "T8"))

BOLUS_WINDOW_MINUTES = 30
