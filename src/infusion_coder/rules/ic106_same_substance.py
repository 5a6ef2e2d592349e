"""Repeat records of one drug are recognised as the same drug, by table name or by normalised text.

Reasoning: the same-drug rules (repeat pushes, summed bags, bolus then drip) need to know two records are
one drug. Brand and generic names meet in the substance table (Zofran = ondansetron); otherwise doses,
forms ("bolus", "IVPB", "drip") and parenthetical remarks are set aside. A record that says it is the
"same drug", "same infusion" or "continued" refers back to the administration before it, and a finding
says so for the coder to confirm.

Example: "drug X (bolus)" then "drug X (drip)" -> one drug; "Zofran" and "ondansetron 4 mg" -> one drug.
"""

import re
import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC106", "same-substance", ("R2.7", "R2.10", "R4.5"))

_BACK_REFERENCE = re.compile(
    r"\bsame\s+(drug|substance|medication|infusion|dose|agent|bag|fluid)\b|\bcontinued\b", re.IGNORECASE
)
_PARENTHETICAL = re.compile(r"\([^)]*\)")
_DOSE = re.compile(r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|g|gm|ml|cc|l|units?|meq|%|mg/ml|mcg/ml|mg/kg)\b")
_FORM_WORDS = frozenset(
    [
        "iv",
        "ivp",
        "ivpb",
        "push",
        "bolus",
        "drip",
        "infusion",
        "infused",
        "continuous",
        "piggyback",
        "bag",
        "in",
        "via",
        "premix",
        "premixed",
        "injection",
        "inj",
        "therapeutic",
        "prophylactic",
        "chemotherapy",
        "chemo",
        "the",
        "of",
        "first",
        "second",
        "third",
        "repeat",
        "repeated",
        "additional",
        "initial",
        "dose",
    ]
)


def refers_back(text: str) -> bool:
    return bool(_BACK_REFERENCE.search(text))


def text_key(text: str) -> str:
    """A comparison key for a substance the table does not know."""
    lowered = text.lower()
    for candidate in (_PARENTHETICAL.sub(" ", lowered), lowered.replace("(", " ").replace(")", " ")):
        words = [w for w in re.split(r"[\s,;:/]+", _DOSE.sub(" ", candidate)) if w and w not in _FORM_WORDS]
        if words:
            return " ".join(words)
    return lowered.strip()
