"""Bags of the same drug on the same date are added before units are counted; on a later date (cms) the drug's minutes are added hours.

Reasoning: summing repeat infusions of one drug keeps its added hours from being overstated and keeps a
second bag from posing as a new drug (96367 is for new drugs only). A short bag of 15 minutes or less is a
push first. Under the per-encounter scope a drug whose first hour is already coded continues on added
hours on a later date.

Example: Rocephin 23 minutes on day 1, 30 + 30 minutes on day 2 -> 96365, then 96366 x1 on day 2 (gold
dev-03).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC406", "same-drug-time", ("R2.7", "C11"))
