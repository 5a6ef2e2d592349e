"""Medically unlikely edits cap the units of a code: per line (MAI 1) or per date of service (MAI 2 and 3).

Reasoning: units over the MUE are denied (CARC 151 with RARC N362). A line edit (MAI 1) looks at each line,
and units over it may be billed on another line with an appropriate modifier when the record supports them
(a warning). A date-of-service edit adds the units of all lines of the code on that date and no modifier
bypasses it: MAI 2 is absolute, policy-based, never paid on appeal (an error: correct the units); MAI 3
rests on clinical benchmarks and may be paid on appeal with the records (a warning). An MUE of 0 means the
code is not payable in that setting (an error). Values come only from the CMS files for the claim's setting
(practitioner or outpatient hospital); none is hard-coded. A code the bundled tables do not cover, or a date
before their values were in force, gets a finding that its units were not evaluated.
Sources: CMS MUE files (MUE Adjudication Indicator column); MLN "Medically Unlikely Edits" fact sheet.

Example: two chemotherapy initials at two required sites on one hospital date, 96413 + 96413-59, against
the outpatient hospital MUE of 1 (MAI 3) -> warning mue-exceeded saying no modifier bypasses it and the
second unit may be paid on appeal.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC902", "mue", ("S39", "NCCI"))
