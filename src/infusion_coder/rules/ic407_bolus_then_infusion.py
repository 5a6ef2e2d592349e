"""A push followed within 30 minutes by an infusion of the same drug is coded as the infusion only.

Reasoning: a loading bolus and the drip that follows are one therapy; adding 96375 would bill the drug
twice. A prolonged pump start (96416) is not a timed infusion and does not fold in a preceding bolus.
A drip is not a push: a record of a drug charted as started with no stop (a nitroglycerin or heparin drip)
while the same drug runs as a timed infusion in the encounter is part of that infusion; it joins that
infusion's line with its minutes uncounted and is never coded as a synthetic push (96375/96376). The
missing-stop policy (IC202) decides an infusion's time, never that a drug was pushed which was not.

Example: drug X bolus 09:00, drip 09:02-10:02 -> 96365 only (gold dev-47); nitroglycerin 09:00-11:00 and
"nitroglycerin drip" started 13:00 with no stop -> 96365 + 96366, finding drip-without-stop-folded.
Sources: CentraMed "Charge Audit Tip" (a push then an infusion of the same drug is the infusion only); no stop
time supports no infusion minutes, and it does not make a push of a drip.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC407", "bolus-then-infusion", ("S32",))

BOLUS_WINDOW_MINUTES = 30
