"""An infusion with no stop time is handled by the policy, always with a CO-16 finding.

Reasoning: without a stop time nothing shows the infusion ran more than 15 minutes, so CPT supports only a
push; some MACs accept the duration derived from volume and rate; some payers want nothing billed. The
`missing_stop_time` policy option picks one (push by default) and the finding says what to document.
Hydration with no stop time cannot show its 31 minutes and is not coded unless a stop is derived.
The push is an assumption: when the drug is one practically never pushed (substances.csv
`usual_technique` = infusion), the push line would describe a service that did not happen, so the claim
is held (error assumed-push-usually-infused) until the stop time is documented. A record with no stop of a
drug that runs as a timed infusion in the same encounter is not a push at all (IC407).

Example: IV piggyback started 09:00, no stop -> 96374 with finding missing-stop-time (gold dev-50);
vancomycin 1 g started 09:00, no stop -> 96374, error assumed-push-usually-infused, readiness hold.
"""

import sys
from datetime import datetime, timedelta
from typing import Final

from ..times import MAX_ADMINISTRATION_SPAN
from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC202", "missing-stop-time", ("S27", "S32", "S28", "S42"))

# The longest one administration may run (times.py): a longer derived run is not believed.
MAX_DERIVED_HOURS: Final = MAX_ADMINISTRATION_SPAN.total_seconds() / 3600


def derived_hours(volume_ml: float | None, rate_ml_per_hour: float | None) -> float | None:
    """Hours that volume and rate give, when both are documented (may exceed MAX_DERIVED_HOURS)."""
    if volume_ml is None or rate_ml_per_hour is None or rate_ml_per_hour <= 0:
        return None
    return volume_ml / rate_ml_per_hour


def derived_end(start: datetime, volume_ml: float | None, rate_ml_per_hour: float | None) -> datetime | None:
    """Stop time from volume and rate, when both are documented and give at most 14 days."""
    hours = derived_hours(volume_ml, rate_ml_per_hour)
    if hours is None or not hours <= MAX_DERIVED_HOURS:  # also refuses NaN
        return None
    try:
        return start + timedelta(hours=hours)
    except OverflowError:  # a start near the end of the calendar
        return None
