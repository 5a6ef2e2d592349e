"""What an importer could not turn into administrations is reported on the encounter's result.

Reasoning: nothing is lost between the source system and the coder. A FHIR resource entered in error, a
MAR "Stopped" row with no start, an HL7 administration marked not given: each becomes a finding on the
result of the encounter it belongs to, with the source record named, so a coder can go back to the chart.

Example: a MedicationAdministration with status entered-in-error -> finding source-record-skipped naming
the resource id; no line.
"""

import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC505", "source-records", ("S28", "S15"))
