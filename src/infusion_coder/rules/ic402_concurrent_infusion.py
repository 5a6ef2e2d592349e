"""A drug infused at the same time as another, in its own bag on the same access, with no time of its own, is concurrent: 96368.

Reasoning: 96368 is not timed and is reported once per encounter (cms) or per date (cpt). A drug counts as
concurrent when its own minutes (not overlapping a drug already counted) are under 16 and the documented
overlap reaches `concurrent_min_overlap_minutes`. A drug that overlaps only partly and keeps 16
minutes of its own is sequential instead, with the overlap counted once. Hydration is never concurrent.
96368 is an add-on that goes only with the primaries CPT lists for it (96360, 96365, 96366, 96413, 96415,
96416, C8957 in the code table); beside a chemo push initial (96409) with no such primary on the claim, the
concurrent drug is coded as CPT allows there, an additional infusion of a new drug (96367) by its own
documented minutes, with an info finding: never built as 96368 and then removed as an orphan add-on.

Example: three piggybacks together through one multi-lumen line -> 96365 + 96368 x1 (gold dev-43); bortezomib push, then ondansetron 09:10-10:10 with famotidine 09:20-09:50 alongside ->
96409 + 96367 x2.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC402", "concurrent-infusion", ("S45", "S48", "S30", "S31"))
