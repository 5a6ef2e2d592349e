"""What the record itself lacks or adds: unknown fields, no date of service, data older than the pack.

Reasoning: nothing is dropped silently. A field the contract does not know is reported as ignored; a
field that looks like a misspelt contract field whose absence changes the codes (`stop`, `stop_time`,
`end_time`, `start_time`, `rate`, `site`, ...) is not ignored but refused: the record becomes an error
object naming the field it meant (models.misnamed_field), since coding it without its stop time would bill
a push for an infusion. A line with no date of service cannot be billed as it stands; a date of service
before the reference data's effective date is coded with the oldest data and flagged.

Example: an administration with "nurse_note" -> finding unknown-field; one with "stop" instead of "end"
-> error result, field administrations[0].stop, "did you mean 'end'?".
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC504", "record-hygiene", ("S28", "S15"))
