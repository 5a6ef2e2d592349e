"""Carrier fluid, KVO and flushes are never coded separately.

Reasoning: fluid that only carries a drug is incidental hydration, fluid that keeps a vein open is neither
diagnostic nor therapeutic, and a flush is part of the administration it follows. The bag may still be
charged as a supply; its administration is not. Each gets an info finding so "what was not billed" is
always answered.

Example: normal saline marked purpose carrier under a 90-minute Zithromax IVPB -> 96365 only (gold dev-13).
"""

import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__],
    "IC102",
    "not-coded-purpose",
    ("S6", "S11", "S36", "S18", "S42", "S8", "S10", "S20", "S28", "S27"),
)

REASONS = {
    "carrier": "fluid used only to deliver a drug is incidental, not hydration",
    "kvo": "fluid run only to keep the vein open is neither diagnostic nor therapeutic",
    "flush": "a flush is part of the administration it serves",
}
