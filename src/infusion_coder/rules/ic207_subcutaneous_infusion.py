"""SC infusion: 96369 for the first (16-90 minutes), 96370 per added hour, 96371 for a pump set-up at a new site.

Reasoning: a subcutaneous infusion of more than 15 minutes is 96369, once per encounter; its added time
follows the more-than-30-minutes rule on 96370; another SC infusion started at a new site is 96371. An SC
"infusion" of 15 minutes or less is an injection (96372); the CPT parentheticals behind parts of this were not
re-read. 96369 includes the pump set-up and the establishment of the infusion site(s) (CPT descriptor): SC immune globulin started at two or more sites at once (within 15 minutes, one sitting
with a multi-needle set) is 96369 only; 96371 needs an additional pump set-up with a new site, later.

Example: immune globulin SC 10:00-11:40 -> 96369 + 96370 x1; immune globulin SC at the left and right
abdomen, both 10:00-11:00 -> 96369 only (finding sc-sites-one-setup).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC207", "subcutaneous-infusion", ("CPT",))

# Sites started within this many minutes of the first are one pump set-up (one sitting), not a second one.
ONE_SETUP_MINUTES = 15
