"""Substances sharing a `mix` label are one administration.

Reasoning: drugs mixed in one bag or syringe are one infusate: one administration, timed as one, coded
once (each drug keeps its own supply line). A mixed bag of 15 minutes or less is one push. Its family is
the highest of its members, so a drug mixed into saline is not hydration.

Example: Decadron and Zofran in one bag 13:05-13:20 -> one 96375, not two (gold dev-17).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC105", "mixed-bag", ("S30", "S20"))
