"""A pump infusion of more than 8 hours is the start of a prolonged infusion: 96416 (chemo), 96425 (chemo IA), C8957 (non-chemo, hospital).

Reasoning: these codes describe initiating an infusion that runs longer than 8 hours on a portable or
implantable pump; they are not timed, so no added hours go with them. A pump infusion of 8 hours or less
does not qualify and is coded by its time like any infusion, with a finding. C8957 is an OPPS code: a
professional claim codes a non-chemo pump infusion by its time. A chemo push before the pump start stays
its own service (the bolus-then-infusion rule does not fold it in).

Example: 5-FU on an ambulatory pump 11:05 to 09:05 next day -> 96416 (gold dev-16, dev-40).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC205", "prolonged-pump", ("R2.8",))

PROLONGED_MIN_MINUTES = 8 * 60 + 1
