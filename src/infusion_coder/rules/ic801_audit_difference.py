"""A billed claim is compared line by line with what the record supports; each difference names its direction of money and the amount at stake.

Reasoning: a payer's reviewer and a hospital's revenue-integrity team need the same answer from opposite
sides: which billed codes the record does not support (over-coded, billed more than supported), which it
supports but were not billed (under-coded, billed less), wrong units, and wrong or missing modifiers.
Everything billed is compared: administration lines against the supported lines, drug lines (HCPCS, units,
JZ; JW discarded units as a line of their own) against the drug lines, and dates of service: units billed
on a date the record does not support them are a wrong-date difference (a line billed a week late is not
supported as dated). Lines are compared by code, units added over the claim, modifiers as sets; each
difference carries the rules behind the supported lines. A billed drug code the engine could not derive
(no dose, no table entry) is unverified rather than over-coded. Each difference carries the national
unadjusted Medicare amount at stake: OPPS Addendum B rate x units for institutional administration lines
(status N packaged counts zero; Q1 zero beside a status S/T/V line the same day), ASP payment limit x
units for drug lines, none for professional administration lines (no physician fee schedule bundled).

Example: billed 96365 + 96366 x2 for a 100-minute infusion -> wrong-units on 96366, more than supported,
1 x $46.14 (OPPS APC 5691, Addendum B October 2025).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC801", "audit-difference", ("S5", "S40", "OPPS", "ASP"))
