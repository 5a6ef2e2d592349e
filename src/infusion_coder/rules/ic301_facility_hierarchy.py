"""Hospital claims: the facility hierarchy picks the initial service, whatever came first.

Reasoning: for facility reporting CPT ranks chemotherapy/complex above therapeutic above hydration, and
within a family infusion above push above injection. Chronology never decides. Among services of the same
rank the longest is initial (ties: earliest, then id), which keeps the most time on the initial code. The
hierarchy overrides add-on parentheticals: a push is never an add-on to hydration in a facility.

Example: hydration 09:00-11:00 then a Decadron push -> 96374 initial, 96361 x2 (gold dev-32).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC301", "facility-hierarchy", ("S8", "S45", "S18", "S20"))

# Rank of each IV technique by family (1 highest), as CPT sets it (Noridian JE Part A "Chemotherapy Administration Billing").
RANK = {
    ("chemotherapy", "infusion"): 1,
    ("chemotherapy", "push"): 2,
    ("therapeutic", "infusion"): 4,
    ("therapeutic", "push"): 5,
    ("hydration", "infusion"): 7,
}

INITIAL_CODE = {
    ("chemotherapy", "infusion"): "96413",
    ("chemotherapy", "push"): "96409",
    ("therapeutic", "infusion"): "96365",
    ("therapeutic", "push"): "96374",
    ("hydration", "infusion"): "96360",
}
