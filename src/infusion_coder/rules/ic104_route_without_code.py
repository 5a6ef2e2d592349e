"""Routes with no code in the family (oral, topical, inhaled, ...) give no line.

Reasoning: the family covers IV, intra-arterial, subcutaneous and intramuscular administration, plus a few
chemotherapy routes (intralesional, pleural, peritoneal, CNS) that the code table maps. Anything else is
accepted, reported as not coded, and never guessed into a code.

Example: "acetaminophen 650 mg" by mouth -> no line, finding route-without-code.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC104", "route-without-code", ("R1.1",))

VASCULAR = {
    "intravenous": "iv",
    "iv": "iv",
    "intra-arterial": "ia",
    "intraarterial": "ia",
    "ia": "ia",
}
INJECTION = {
    "subcutaneous": "sc",
    "sc": "sc",
    "subq": "sc",
    "sq": "sc",
    "intramuscular": "im",
    "im": "im",
}


def route_class(route: str) -> str:
    """iv | ia | sc | im | other."""
    return VASCULAR.get(route) or INJECTION.get(route) or "other"
