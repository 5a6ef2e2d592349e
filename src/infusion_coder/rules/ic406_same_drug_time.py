"""Bags of the same drug on the same date are added before units are counted; on a later date (cms) the drug's minutes are added hours.

Reasoning: summing repeat infusions of one drug keeps its added hours from being overstated and keeps a
second bag from posing as a new drug (96367 is for new drugs only). A short bag of 15 minutes or less is a
push first. Under the per-encounter scope a drug whose first hour is already coded continues on added
hours on a later date. A bag charted with no stop time, of a drug already reported in the scope (another
bag, a push, or the drug's infusion), is one more bag of that drug whose minutes are unknown: it adds
nothing, so it is not coded, and a warning names it (stopless-bag-added); it is never recoded as a repeat
push (96376 describes a push). So a drug's stopless bags give at most one push equivalent per date, and under
the per-encounter scope one per encounter. The policy option `stopless_same_drug` (added | each_push) holds
the choice; `each_push` codes every stopless bag as its own push equivalent. The drug given is still billed.

Example: Rocephin 23 minutes on day 1, 30 + 30 minutes on day 2 -> 96365, then 96366 x1 on day 2 (gold
dev-03). Magnesium sulfate bags at 10:03 and 11:10 with no stop times -> 96374 for the first, warning
stopless-bag-added for the second (no 96376).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC406", "same-drug-time", ("S29", "S34", "S25", "S20", "S26", "S31"))
