"""Contrast, vaccines, allergen immunotherapy and flush solutions are outside the 96360-96549 family.

Reasoning: an IV started only for imaging contrast is part of the imaging study; vaccines are reported with
their own administration codes (G0008-G0010, 90460-90474) and allergen immunotherapy with 95115 and up.
None of them is a 96372 or a push.

Example: Gadavist contrast push during an observation stay -> no line, finding not-in-family (gold dev-44).
"""

import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__],
    "IC103",
    "not-in-family",
    ("S43", "S48", "S18", "S11", "S50", "S8", "S36", "S10", "S20"),
)

REASONS = {
    "contrast": "imaging contrast is part of the imaging study, not a drug administration",
    "vaccine": "vaccines use their own administration codes (G0008-G0010 or 90460-90474), not 96372",
    "immunotherapy": "allergen immunotherapy is reported with 95115 and up, not 96372",
    "flush": "a flush is part of the administration it serves",
}
