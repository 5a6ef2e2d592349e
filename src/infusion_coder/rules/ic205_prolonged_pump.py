"""A pump infusion of more than 8 hours is the start of a prolonged infusion: 96416 (chemo), 96425 (chemo IA), C8957 (non-chemo, hospital).

Reasoning: these codes describe initiating an infusion that runs longer than 8 hours on a portable or
implantable pump; they are not timed, so no added hours go with them. A pump infusion of 8 hours or less
does not qualify and is coded by its time like any infusion, with a finding. C8957 is an OPPS code: a
professional claim codes a non-chemo pump infusion by its time. A chemo push before the pump start stays
its own service (the bolus-then-infusion rule does not fold it in). Medicare codes a chemotherapy infusion
started here on a portable pump the provider supplied and continued at home as G0498 (the record says so
with `home_pump` = provider; policy option `chemo_home_pump`, G0498 under the cms profiles, 96416 under
cpt); on a home-infusion supplier's pump it stays 96416. A pump that goes on at home has no stop time in
the clinic's record: its planned length comes from volume and rate, else it is coded as a prolonged start
with a warning asking for the planned length. A chemotherapy pump infusion with no `home_pump` stays 96416,
with an info finding saying what G0498 needs.
Sources: AHA Coding Clinic for HCPCS, 2nd quarter 2017; MAC billing article A55134 (retired 11 Dec 2025).

Example: 5-FU on an ambulatory pump 11:05 to 09:05 next day -> 96416 (gold dev-16, dev-40); the same on a
Medicare patient, continued at home on the practice's pump (home_pump = provider) -> G0498.
"""

import sys
from typing import Final

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__], "IC205", "prolonged-pump", ("S38", "S17", "S39", "CPT", "CC-HCPCS-2Q2017")
)

PROLONGED_MIN_MINUTES: Final = 8 * 60 + 1
