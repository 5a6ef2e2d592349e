"""A repeat push of the same drug is 96376 in a facility when more than 30 minutes from its last reported service; otherwise nothing.

Reasoning: 96376 is facility-only and needs more than 30 minutes since the drug was last pushed (or last
ran); 96375 is for new drugs only, so a physician office has no code for the repeat. A same-drug push
within 30 minutes is not coded. A repeat chemo push has no code at all. The relation is symmetric in
time: a push of a drug that is also infused in the encounter repeats that drug whether it was given
before or after the infusion, whichever service is initial (a drug pushed on day 1 of an observation stay
and infused on day 2 is 96376, never 96375). Only the first push of a drug that is never infused is new.

Example: ondansetron at 10:00 and 10:35 -> 96374 + 96376 in a hospital (gold dev-48), 96374 only in an
office (gold dev-12), 96374 only at 10:20 (gold dev-49); ondansetron pushed on day 1 and infused on day 2 of
an observation stay -> 96365 + 96376 (HCPro APCs Insider, November 2013).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC404", "repeat-push", ("S48", "S32", "S34", "S33", "HCPro-2013-11"))

REPEAT_GAP_MINUTES = 30
