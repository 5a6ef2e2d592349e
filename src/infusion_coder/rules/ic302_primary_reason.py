"""Professional claims: the primary reason for the encounter is the initial service.

Reasoning: the facility hierarchy does not bind a physician; the initial code is the one that best
describes the main reason for the visit (`primary_administration`). Without it the engine ranks by the
hierarchy and says so in a finding. If the named service cannot carry the others as add-ons, the hierarchy
is used instead, with a finding.

Example: urgent care, dehydration is the reason, hydration 60 minutes and a Phenergan push -> 96360
initial, 96375 (gold dev-14).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC302", "primary-reason", ("S20", "S1", "S8"))
