"""Each push of a new drug after the initial service: 96375, or 96411 for a chemo drug.

Reasoning: the added push codes are per new drug. A push that is subsequent in nature takes the added code
even when it is the first push of the encounter (an initial infusion already stands), and even when it was
charted before the initial service: the hierarchy, not the order, makes it an add-on, and its explanation
says "before" or "after" as charted. A push of a drug that is also infused is not a new drug (IC404).

Example: ondansetron push after hydration and a first push -> 96375 (gold dev-02).
"""

import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__], "IC403", "additional-push", ("S48", "S32", "S34", "S33", "S21", "S1", "S20")
)

ADDED_PUSH_CODE = {"chemotherapy": "96411", "therapeutic": "96375"}
