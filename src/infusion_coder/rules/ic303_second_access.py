"""One initial service per vascular access; a second access keeps its own initial with the distinct modifier.

Reasoning: hospitals report one initial service per vascular access site per encounter (Ch.4 s230.2(B));
physicians one per encounter unless a protocol requires two separate sites (Ch.12 s30.5). The second
initial carries 59 (or an X modifier, by policy). A second access documented as not required (a restart
after infiltration) continues the first access. On a hospital claim an access whose need is not documented
follows the `second_access_undocumented` policy, with a finding asking for the reason; on a professional
claim it joins the first access, with a finding that documenting the need would support a second initial.

Example: two chemo drugs at the same time through two lines -> 96413 and 96413-59 (gold dev-19, dev-21);
infiltration and restart at a new site -> one 96365 (gold dev-41).
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC303", "second-access", ("R3.4", "R3.5", "R6.1", "R7.5", "T14"))
