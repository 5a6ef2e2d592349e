"""NCCI procedure-to-procedure edits fire on the engine's own lines, from the table for the claim's setting.

Reasoning: two codes on the same date that NCCI pairs deny the column-2 code (CO-97; B5 on some Medicare
hospital remits) unless the pair's modifier indicator is 1 and a justified NCCI-associated modifier (59,
XE, XS, XP, XU, ...) is on one of the lines; indicator 0 is never bypassed. Hospital claims use the
outpatient hospital table, professional claims the practitioner table; a row counts only between its
effective and deletion dates. The engine never adds a modifier just to get past an edit; it adds the
profile's distinct modifier (59, XS under cms-x) only where the record's own facts make the site distinct:
an IM or SC injection is given at a site of its own, never through the IV line, so where an indicator-1
pair joins it to an IV code on the same date, the column-two code of that pair carries the modifier, with
an info finding saying why (the record must still show the injection site). Any other indicator-1 pair
left without a modifier is a warning that says what the record would have to show.
Sources: rules.md R6.1, R7.3 (S40: modifier only when the clinical facts justify it); Noridian JE Part A
"Modifier 59" (different site; append to the secondary procedure of the NCCI combination); CMS MLN SE0715.

Example: an IV push (96374) and an IM injection (96372) on one hospital claim -> 96374 + 96372-59, info
findings distinct-site-modifier and ncci-ptp-bypassed (96372-XS under cms-x).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC901", "ncci-ptp", ("R7.3", "R6.1", "U3"))

BYPASS_MODIFIERS = frozenset({"59", "XE", "XS", "XP", "XU", "25", "27", "57", "58", "78", "79", "91", "24"})

# IM/SC injection, on-body injector and SC infusion codes: at a site of their own, never through the IV line.
OWN_SITE_CODES = frozenset({"96372", "96377", "96401", "96402", "96369", "96370", "96371"})
