"""Minutes are real elapsed time; dates of service are the facility's local dates.

Reasoning: CMS asks for the actual infusion time (CMS Transmittal 902). A record that carries UTC
offsets (FHIR and HL7 feeds do) is converted to the facility's local time, never read by dropping the
offset; a naive time is the facility's wall clock, in the zone the encounter (or `--timezone`) names. On a
daylight-saving night the wall clock jumps, so minutes are counted between real instants and each unit is
dated by the local date its qualifying minute fell on (IC211). Times with different offsets and no facility
zone, and local times that do not exist or occur twice, are flagged for review.

Example: start 2026-01-15T10:00-05:00, stop 2026-01-15T16:00Z -> 60 minutes, 96365 x1, with a warning that
the offsets differ. Hydration 2026-11-01 00:30 to 03:30 in America/New_York -> 240 minutes (the clocks went
back at 02:00).
"""

import sys

from .base import Rule

RULE = Rule.of(
    sys.modules[__name__], "IC212", "time-zones", ("S28", "S27", "S20", "S2", "S3", "S4", "S23", "T902")
)
