"""Documented time decides push or infusion: 15 minutes or less is a push, more than 15 an infusion.

Reasoning: CPT defines a push as an injection the clinician stays to give, or an infusion of 15 minutes
or less; an infusion needs at least 16 whole minutes. The recorded `method` decides only where the record
has no stop time. A bag that ran 15 minutes is a push; a "push" that ran 20 minutes is an infusion.
A push of a drug that is practically never pushed (substances.csv `usual_technique` = infusion: vancomycin,
most IV antibiotics, infused chemotherapy and biologics, per their labeling) rests on the record alone:
it is coded as documented, with a warning to check the record (push-of-infused-drug).

Example: Rocephin in a bag 09:00-09:15 -> 96374, not 96365 (gold dev-42); vancomycin 09:00-09:10 -> 96374
with warning push-of-infused-drug.
"""

import re
import sys
from typing import Final

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__],
    "IC201",
    "push-or-infusion",
    ("S8", "S9", "S44", "S45", "S22", "S28", "S27", "S20", "CPT"),
)

PUSH_MAX_MINUTES: Final = 15  # Final: a constant in the compiled build, not a module-dict lookup


def is_push(minutes: int) -> bool:
    return minutes <= PUSH_MAX_MINUTES


# Words in a substance text that state a push; whole words, so "IVPB" (a piggyback infusion) is not "IVP".
PUSH_WORDS = re.compile(r"\b(push|ivp|bolus|slow iv)\b")


def states_push(text: str) -> bool:
    """The substance text states a push in words (read only where the record has no method)."""
    return PUSH_WORDS.search(text.lower()) is not None
