"""What the record itself lacks or adds: unknown fields, no date of service, data older than the pack.

Reasoning: nothing is dropped silently. A field the contract does not know is reported as ignored (it may
be a misspelt `end`); a line with no date of service cannot be billed as it stands; a date of service
before the reference data's effective date is coded with the oldest data and flagged.

Example: an administration with "stop" instead of "end" -> finding unknown-field naming it.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC504", "record-hygiene", ("R7.6",))
