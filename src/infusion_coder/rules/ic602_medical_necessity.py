"""The reason for the drug, and for hydration the signs of fluid loss, must be documented.

Reasoning: a payer denies what the record does not show to be necessary (CO-50, "not deemed a medical
necessity"; some guidance wrongly maps this to CO-197, which is missing prior authorization). Hydration is
a recovery-audit target: it is reportable only with signs or symptoms of dehydration or fluid loss; routine
fluids, KVO and carrier fluid are not hydration. An IV drug with no documented reason is flagged for the
same reason, more softly, since the reason may sit elsewhere in the chart.

Calibration: a stated reason that shows no fluid loss ("post-op maintenance") is a warning; no reason at all
is an info note (hydration-necessity-unstated), since exports often leave the indication out and the same
warning on every such encounter would bury the ones worth reading.
Hydration that the chemotherapy's labeling requires (cisplatin pre- and post-hydration, substances.csv
`labeled_hydration`) is flagged as a warning by default and not billed under `labeled_hydration` =
not_billed (profiles noridian-ja, noridian-je): Noridian JE Part A treats it as integral to the drug
(Noridian JE Part A "Hydration"); elsewhere it may be billed with a separate documented reason (SelectHealth
coding policy #09).

Example: normal saline 09:00-10:00 with indication "post-op maintenance" -> warning hydration-necessity,
CO-50; the same with no indication -> info hydration-necessity-unstated; saline before and after cisplatin
-> warning labeled-hydration (cms), no hydration line (noridian-je).
"""

import re
import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC602", "medical-necessity", ("S6", "S11", "S36", "S18", "S42"))

_FLUID_LOSS = re.compile(
    r"dehydrat|hypovol|volume deplet|fluid loss|vomit|emesis|diarrh|poor (oral )?intake|unable to (eat|drink|tolerate)"
    r"|hypotens|tachycard|orthostat|dry mucous|heat (exhaustion|stroke)|rhabdo|dka|ketoacidosis|hypernatrem"
    r"|acute kidney|aki|pre-?renal|sepsis|burn|hemorrhag|bleed|hyperemesis|nausea",
    re.IGNORECASE,
)


def shows_fluid_loss(indication: str) -> bool:
    return bool(_FLUID_LOSS.search(indication))
