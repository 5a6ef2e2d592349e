"""NCCI procedure-to-procedure edits fire on the engine's own lines, from the table for the claim's setting.

Reasoning: two codes on the same date of service that an NCCI pair joins deny the column-2 code (CO-97; B5
on some Medicare hospital remits) unless the pair's modifier indicator is 1 and a justified NCCI-associated
modifier (59, XE, XS, XP, XU, ...) is on one of the lines; indicator 0 is never bypassed. Pairs apply per
date of service (a pair on two dates is no edit), between a row's effective and deletion dates. Hospital
claims use the CMS outpatient hospital table, professional claims the CMS practitioner table (they differ:
99211 under a drug-administration code is indicator 0 for practitioners, and the ED E/M codes are column
one over the administration codes there). The E/M the encounter names is checked on its first date. The
engine never adds a modifier just to get past an edit; it adds the profile's distinct modifier (59, XS
under cms-x) only where the record's own facts make the service distinct, and always on the column-two
code: an IM or SC injection is given at a site of its own, never through the IV line; two injections (or
an SC infusion and an injection) are each at their own site (option `distinct_injections`); a second
required vascular access (IC303). Any other indicator-1 pair left without a modifier is a warning that says
what the record would have to show. A code the bundled tables do not cover (they are extracts for the
drug-administration, E/M and G0463 codes) gets a finding that its pairs were not evaluated.
Sources: CMS NCCI PTP files (Practitioner, Outpatient Hospital); Noridian JE Part A "Modifier 59" (different
site; append to the secondary procedure of the NCCI combination); CMS MLN "Proper Use of Modifier 59"
(SE0715); CPT Assistant May 2010 (separate injections).

Example: an IV push (96374) and an IM injection (96372) on one claim -> 96374 + 96372-59, info findings
distinct-site-modifier and ncci-ptp-bypassed (96372-XS under cms-x); chemotherapy at a required second site
beside a therapeutic infusion on a professional claim -> 96413 + 96365-59.
"""

import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__], "IC901", "ncci-ptp", ("S7", "S37", "S20", "S5", "S40", "NCCI", "CPTA-2010-05")
)

BYPASS_MODIFIERS = frozenset({"59", "XE", "XS", "XP", "XU", "25", "27", "57", "58", "78", "79", "91", "24"})

# IM/SC injection, on-body injector and SC infusion codes: at a site of their own, never through the IV line.
OWN_SITE_CODES = frozenset({"96372", "96377", "96401", "96402", "96369", "96370", "96371"})
