"""The category comes from the record, else from the substance table; a substance the table does not know is a finding, never a guess.

Reasoning: the three families (hydration, therapeutic, chemotherapy/complex) are decided by the substance
and its purpose, and Medicare does not decide complexity by drug name alone, so the record's `category`
wins. Without one, the bundled substance table (data, versioned) names the family. A fluid with
electrolytes is hydration; an electrolyte alone follows the `electrolyte_alone` policy (authorities
disagree: option electrolyte_alone). Hormonal antineoplastics are marked for 96402.

Example: "Zofran 4 mg" with no category -> therapeutic (ondansetron); "Drug Q" with no category -> no line,
finding unknown-substance.
"""

import re
import sys
from collections.abc import Sequence

from ..reference import Substance
from .base import Rule

RULE = Rule.of(
    sys.modules[__name__],
    "IC101",
    "category",
    ("S8", "S9", "S42", "S12", "S18", "S46", "S10", "S13", "S14", "S41", "CPT"),
)

_FAMILY_ORDER = {"hydration": 0, "therapeutic": 1, "chemotherapy": 2}
NOT_CODED_KINDS = ("contrast", "vaccine", "immunotherapy", "flush")

# Name stems that suggest a family; used only in a finding's hint, never to code.
_STEM_HINTS = (
    (
        re.compile(r"(mab|tug|bart|mig|ment)\b"),
        "a monoclonal antibody stem: chemotherapy/complex if it is one",
    ),
    (re.compile(r"(platin|rubicin|taxel|mustine|fosfamide)\b"), "an antineoplastic stem: chemotherapy"),
    (re.compile(r"(cept)\b"), "a fusion-protein stem: often a complex biologic"),
)


def highest_family(families: Sequence[str]) -> str:
    return max(families, key=_FAMILY_ORDER.__getitem__)


def family_from_table(matches: Sequence[Substance], electrolyte_alone: str) -> tuple[str | None, str | None]:
    """(family, non-coded kind) from table matches; (None, None) when nothing matched."""
    drugs = [m for m in matches if m.kind == "drug" and m.category]
    if drugs:
        return highest_family([m.category for m in drugs if m.category]), None
    if any(m.kind == "fluid" for m in matches):
        return "hydration", None
    if any(m.kind == "electrolyte" for m in matches):
        return electrolyte_alone, None
    for kind in NOT_CODED_KINDS:
        if any(m.kind == kind for m in matches):
            return None, kind
    return None, None


def stem_hint(text: str) -> str | None:
    lowered = text.lower()
    for pattern, hint in _STEM_HINTS:
        if pattern.search(lowered):
            return hint
    return None
