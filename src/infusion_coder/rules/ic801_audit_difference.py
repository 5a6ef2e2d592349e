"""A billed claim is compared line by line with what the record supports; each difference names its direction of money.

Reasoning: a payer's reviewer and a hospital's revenue-integrity team need the same answer from opposite
sides: which billed codes the record does not support (over-coded, billed more than supported), which it
supports but were not billed (under-coded, billed less), wrong units, and wrong or missing modifiers.
Lines are compared by code, units added over the claim, modifiers as sets; each difference carries the
rules behind the supported lines.

Example: billed 96365 + 96366 x2 for a 100-minute infusion -> wrong-units on 96366, more than supported.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC801", "audit-difference", ("R3-R4", "R6.1"))
