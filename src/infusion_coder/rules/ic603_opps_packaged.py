"""On hospital claims, packaged codes (OPPS status N: 96368, 96376) are still reported.

Reasoning: CMS tells hospitals to report every drug-administration code that describes the service even
when its payment is packaged into another line; the line earns nothing on its own. An info finding says
so, so a reviewer does not read a zero payment as an error.

Example: a concurrent infusion on a hospital claim -> 96368 reported, finding opps-packaged.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC603", "opps-packaged", ("S1", "S2", "S3", "S29", "OPPS"))
