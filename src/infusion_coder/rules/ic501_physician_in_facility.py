"""A physician or other professional at a facility place of service reports no drug administration.

Reasoning: in a hospital, ED, SNF and similar settings the facility reports the administration; CPT bars
the professional from 96360-96379 and most chemotherapy codes there. Only the physician-performed
chemotherapy procedures (intralesional, pleural, peritoneal, CNS) remain. The facility POS list is data.

Example: pediatrician, hydration 20 minutes, POS 22 -> no line (gold dev-15).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC501", "physician-in-facility", ("S19", "S10", "S42"))
