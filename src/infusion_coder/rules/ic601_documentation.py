"""Each coded administration is checked for the documentation its line rests on.

Reasoning: a line is only as good as the record behind it. Auditors look for the drug and dose, the route
and, for a push, the push stated as such; start and stop times for infusions, with volume and rate; the
order and the clinician who gave it; and the reason the drug went in by vein. Gaps that lead straight to a
denial are warnings with their CARC (CO-16 missing information); the rest are listed, per administration,
as one info finding naming each missing element.

Example: vancomycin 09:00-10:40 with no dose, volume, rate or orderer -> info documentation-gaps listing
them.
"""

import re
import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__],
    "IC601",
    "documentation",
    ("S28", "S15", "S18", "S11", "S8", "S9", "S27", "S32", "S42"),
)

_DOSE = re.compile(
    r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|g|gm|ml|l|units?|meq|mmol|million units|mg/m2|mg/kg)\b", re.I
)


def dose_in_text(text: str) -> bool:
    return bool(_DOSE.search(text))
