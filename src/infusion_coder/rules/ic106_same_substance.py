"""Repeat records of one drug are recognised as the same drug: by their codes, the table, or their name.

Reasoning: the same-drug rules (repeat pushes, summed bags, bolus then drip) need to know two records are
one drug, and the sequential and concurrent rules need to know two records are two. Two records are the
same drug when their codes say so (HCPCS, or the NDC's HCPCS in the CMS ASP NDC-HCPCS crosswalk, mapped to
one substance-table entry; else the same HCPCS, RxNorm or NDC), else when the substance table maps both
names to one entry (Zofran = ondansetron), else only when their normalised names are equal. Normalising
folds case, doses, forms and routes ("bolus", "IVPB", "drip", "injection") and salt or packaging words
("HCl", "(PF)"); it never drops a word that could tell two drugs apart ("first", "second", "A", "B"), so
two unnamed drugs stay two and two concurrent infusions keep their 96368. A record that says it is the
"same drug", "same infusion" or "continued" refers back to the administration before it, and a finding
says so for the coder to confirm.

Example: "drug X (bolus)" then "drug X (drip)" -> one drug; "Zofran" and "ondansetron 4 mg" -> one drug;
"first drug (unnamed)" and "second drug (unnamed)" overlapping on one line -> 96365 + 96368.
Sources: the same-drug rules (bags of one drug are added; a bolus then a drip is the drip; 96376 repeats the same
drug) and the concurrent rule (different drugs in separate bags), as the rule catalog cites them.
"""

import re
import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__],
    "IC106",
    "same-substance",
    ("S29", "S34", "S25", "S20", "S26", "S32", "S48", "S33", "S30", "S45"),
)

_BACK_REFERENCE = re.compile(
    r"\bsame\s+(drug|substance|medication|infusion|dose|agent|bag|fluid)\b|\bcontinued\b", re.IGNORECASE
)
_DOSE = re.compile(r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|g|gm|ml|cc|l|units?|meq|%|mg/ml|mcg/ml|mg/kg)\b")
_FORM_WORDS = frozenset(
    [
        # routes and techniques
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
        "injection",
        "inj",
        "intravenous",
        "premix",
        "premixed",
        "bag",
        "in",
        "via",
        # salt and packaging words EHRs add to a drug's name
        "pf",
        "hcl",
        "hydrochloride",
        "preservative-free",
    ]
)


def refers_back(text: str) -> bool:
    return bool(_BACK_REFERENCE.search(text))


def text_key(text: str) -> str:
    """A comparison key for a substance neither codes nor the table identify: case, doses, forms and
    brackets folded; every other word kept."""
    lowered = _DOSE.sub(" ", text.lower().replace("(", " ").replace(")", " "))
    words = [w for w in re.split(r"[\s,;:/]+", lowered) if w and w not in _FORM_WORDS]
    return " ".join(words) or text.lower().strip()
