"""99211 on the same claim as drug administration is not payable under Medicare.

Reasoning: CR 3631 bars 99211 with a drug administration code, with or without modifier 25; a higher E/M
that is separately identifiable needs modifier 25 on the E/M line. The E/M is not a drug-administration
line, so this rule only adds findings.

Example: nurse visit 99211 with an IM injection -> 96372, finding e-m-99211 (gold dev-51).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC503", "e-m-with-administration", ("S7", "S35", "S20", "S36"))
