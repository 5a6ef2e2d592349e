"""Intra-arterial: 96373 therapeutic push, 96420 chemo push, 96422 + 96423 chemo infusion, 96425 chemo pump.

Reasoning: an artery is its own access, so intra-arterial services keep their own initial code. The chemo
infusion hours follow the same more-than-30-minutes rule. A therapeutic intra-arterial infusion has no
code of its own and is reported with the unlisted 96379, with a finding.

Example: chemo into the hepatic artery 09:00-10:40 -> 96422 + 96423 x1.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC208", "intra-arterial", ("CPT",))
