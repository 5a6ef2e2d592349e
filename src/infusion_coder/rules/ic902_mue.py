"""Medically unlikely edits cap the units of a code: per line (MAI 1) or per date of service (MAI 2 and 3).

Reasoning: units over the MUE are denied (CARC 151 with RARC N362). A line edit (MAI 1) looks at each line;
a date-of-service edit adds the units of all lines of the code on that date. MAI 2 is absolute (policy);
MAI 3 rests on clinical benchmarks and may be appealed with the records. An MUE of 0 means the code is not
payable in that setting. Values come only from the CMS files (some are confidential): none is hard-coded.

Example: with an outpatient hospital MUE of 1 (MAI 2) for 96413, 96413 x1 and 96413-59 x1 on one date ->
error mue-exceeded.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC902", "mue", ("R7.2", "U2"))
