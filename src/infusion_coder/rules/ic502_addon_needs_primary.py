"""Every add-on line needs a primary code that may carry it on the same claim.

Reasoning: an add-on without a qualifying primary is denied (I/OCE edit 106). The engine checks its own
lines against the add-on to primary table; an add-on left without one is removed from the lines and
reported as an error finding, so no claim goes out with it.

It is a safety net: the engine builds only add-ons CPT allows (a concurrent infusion beside a chemo push
initial is 96367, IC402), so no input is known to reach it.

Example: 96370 with no 96369 -> removed, finding addon-without-primary.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC502", "addon-needs-primary", ("S20", "S24", "CPT"))
