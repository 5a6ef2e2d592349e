"""The hierarchy applies once per encounter (cms), or afresh on each calendar date (cpt).

Reasoning: CMS keeps one initial service per access for the whole encounter, even an observation stay over
several days, and reaffirmed it against CPT's 2011-2012 guidance that restarts the hierarchy each day.
The `initial_scope` option chooses; a continuous infusion across midnight stays with its start date.

Example: ED visit over two dates with Rocephin both days -> one 96365 under cms, the second day's Rocephin
as added hours (gold dev-03).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC304", "initial-scope", ("S3", "S4", "S1", "S2", "S23", "S29"))
