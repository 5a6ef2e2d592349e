"""Chemotherapy by intralesional, pleural, peritoneal or CNS route: the code the table maps for that route.

Reasoning: 96405, 96440, 96446 and 96450 are procedures by route, not timed services, and they remain
reportable by a physician in a facility. The route-to-code map is reference data.

Example: methotrexate intrathecal -> 96450.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC209", "chemo-other-route", ("S19", "S10", "S42", "CPT"))
