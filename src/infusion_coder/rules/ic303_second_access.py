"""One initial service per vascular access; a second access keeps its own initial with the distinct modifier.

Reasoning: hospitals report one initial service per vascular access site per encounter (Ch.4 s230.2(B));
physicians one per encounter unless a protocol requires two separate sites (Ch.12 s30.5). The second
initial carries 59 (or an X modifier, by policy). A second access documented as not required (a restart
after infiltration) continues the first access. On a hospital claim an access whose need is not documented
follows the `second_access_undocumented` policy; under `separate` (the default) it keeps its line, the
answer public guidance gives, but the claim is held (error second-access-undocumented) until the record
shows why the second site was needed, since the need must be documented (Noridian JE Part A "Initial Drug
Administration"; CPT Assistant December 2011 as cited by The Haugen Group) and a second initial billed without it is the RAC finding of
issue 0071. The `merge` profile value joins it to the first access instead; on a professional
claim it joins the first access, with a finding that documenting the need would support a second initial.
The distinct modifier belongs on the column-two code of the NCCI pair it answers: when the second access's
initial code is column one of an indicator-1 pair with the first access's initial code, the modifier goes
on the first access's code instead (the edit denies the column-two code; the modifier tells it the two are
at separate sites). Sources: Noridian JE/JF Part A "Modifier 59" (append to the secondary, additional or
lesser procedure of an NCCI combination; on the second initial injection code when the protocol requires two
IV sites); WPS J5 "Modifier 59 Fact Sheet" (same wording); CMS MLN SE0715 "Proper Use of Modifier 59"
(NCCI-associated modifiers let both codes of an edit pay); AAPC Coding Alert (append 59 to the column-two
code). The NCCI Policy Manual chapter I text itself was not retrieved.

Example: two chemo drugs at the same time through two lines -> 96413 and 96413-59 (gold dev-19, dev-21);
chemo at a required second site beside a therapeutic infusion at the first -> 96413 + 96365-59, not
96413-59 + 96365; infiltration and restart at a new site -> one 96365 (gold dev-41).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC303", "second-access", ("S5", "S1", "S2", "S3", "S31", "S40", "S4"))
