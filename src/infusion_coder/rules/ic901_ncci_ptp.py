"""NCCI procedure-to-procedure edits fire on the engine's own lines, from the table for the claim's setting.

Reasoning: two codes on the same date that NCCI pairs deny the column-2 code (CO-97; B5 on some Medicare
hospital remits) unless the pair's modifier indicator is 1 and a justified NCCI-associated modifier (59,
XE, XS, XP, XU, ...) is on one of the lines; indicator 0 is never bypassed. Hospital claims use the
outpatient hospital table, professional claims the practitioner table; a row counts only between its
effective and deletion dates. The engine never adds a modifier to get past an edit: it says what the
record would have to show.

Example: an IV push (96374) and an IM injection (96372) on one hospital claim -> warning ncci-ptp: 96372 is
column 2 of 96374 and needs a modifier the record supports.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC901", "ncci-ptp", ("R7.3", "R6.1", "U3"))

BYPASS_MODIFIERS = frozenset({"59", "XE", "XS", "XP", "XU", "25", "27", "57", "58", "78", "79", "91", "24"})
