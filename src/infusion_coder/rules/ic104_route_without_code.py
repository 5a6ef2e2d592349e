"""Routes are read through the route table; routes with no code in the family give no line, unknown routes hold.

Reasoning: the family covers IV, intra-arterial, subcutaneous and intramuscular administration, plus a few
chemotherapy routes (intralesional, pleural, peritoneal, CNS) that the code table maps. EHRs write routes
their own way ("IVPB", "IV Push", "IVP", "IV bolus", HL7 v2 table 0162 codes such as IV, SNOMED CT route
codes such as 47625008): the dated route table (reference/data/<date>/routes.csv, each row with its source)
maps them to the contract's routes, and some also state the technique (IVPB an infusion, IV Push a push).
A known route with no code (oral, topical, inhaled, ...) is accepted and reported as not coded. A route the
table cannot read is an error that holds the claim: it may be an IV service, and dropping it silently would
lose a line no one sees (compliance-first: ask, never guess a code and never lose one quietly).

Example: "acetaminophen 650 mg" by mouth -> no line, finding route-without-code; ondansetron by route "IVP"
-> 96374; route "intravenous-ish" -> no line, error route-unresolved, readiness hold.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC104", "route-without-code", ("S8", "S9", "S42", "CPT"))

# The contract's routes that have codes of their own in the family, by class.
CLASS = {"intravenous": "iv", "intra-arterial": "ia", "subcutaneous": "sc", "intramuscular": "im"}
# Systems a bare route string is tried in, in order: EHR text, then HL7 v2 table 0162, then SNOMED CT.
SYSTEMS = ("text", "hl7-0162", "snomed")


def route_class(route: str) -> str:
    """iv | ia | sc | im | other, for a contract route name (as the route table resolves it)."""
    return CLASS.get(route, "other")
