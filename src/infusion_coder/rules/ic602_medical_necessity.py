"""The reason for the drug, and for hydration the signs of fluid loss, must be documented.

Reasoning: a payer denies what the record does not show to be necessary (CO-50, "not deemed a medical
necessity"; some guidance wrongly maps this to CO-197, which is missing prior authorization). Hydration is
a recovery-audit target: it is reportable only with signs or symptoms of dehydration or fluid loss; routine
fluids, KVO and carrier fluid are not hydration. An IV drug with no documented reason is flagged for the
same reason, more softly, since the reason may sit elsewhere in the chart.

Example: normal saline 09:00-10:00 with indication "post-op maintenance" -> warning hydration-necessity,
CO-50.
"""

import re
import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC602", "medical-necessity", ("R1.6", "R1.13", "S6"))

_FLUID_LOSS = re.compile(
    r"dehydrat|hypovol|volume deplet|fluid loss|vomit|emesis|diarrh|poor (oral )?intake|unable to (eat|drink|tolerate)"
    r"|hypotens|tachycard|orthostat|dry mucous|heat (exhaustion|stroke)|rhabdo|dka|ketoacidosis|hypernatrem"
    r"|acute kidney|aki|pre-?renal|sepsis|burn|hemorrhag|bleed|hyperemesis|nausea",
    re.IGNORECASE,
)


def shows_fluid_loss(indication: str) -> bool:
    return bool(_FLUID_LOSS.search(indication))
