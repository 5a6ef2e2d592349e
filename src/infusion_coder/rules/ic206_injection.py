"""IM and SC injections: 96372 each; chemotherapy 96401, or 96402 for a hormonal antineoplastic.

Reasoning: injections are reported per injection and never as an add-on, so they stand beside whatever the
IV timeline codes. One dose split over several syringes at the same time is one service or one per
injection depending on the `split_dose_injections` policy, always with a finding.

Example: leuprolide IM for prostate cancer -> 96402 (gold dev-39); two Lovenox SC doses on two days ->
96372 x2 (gold dev-44).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC206", "injection", ("S1", "S10", "S9", "CPTA-2010-05"))


def injection_code(family: str, hormonal: bool) -> str:
    if family == "chemotherapy":
        return "96402" if hormonal else "96401"
    return "96372"
