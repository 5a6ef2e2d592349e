"""Each drug gets a supply line: its HCPCS code, with units from the dose and the code's billing unit.

Reasoning: units follow the HCPCS descriptor ("per 1 mg"), not the package. All doses of one drug on a date
are added, then rounded up once. For a single-dose container (dates of service from 2023-07-01), JZ attests
nothing was discarded and JW marks a discarded amount on its own line, only when the discard is at least
one billing unit beyond the rounded dose; never both on one line. A dose or billing unit that is unknown,
or a dose in units that do not convert (mg/m2), is a finding, never a guess. Hydration fluids are billed by
bag size and left to the coder with a finding.

A record with an NDC takes its HCPCS code and billing unit from the CMS ASP NDC-HCPCS crosswalk of the
quarter (bundled reduced as reference/data/<date>/asp_crosswalk.csv); an NDC CMS lists under two codes is
settled by the substance name when it can be, and an NDC CMS does not list falls back to the substance
table with a finding. The substance table's codes and units are checked against the CMS ASP payment-limit
file and crosswalk in tests (its `cms_check` column says why a code is not there or was replaced).

Example: 70 mg given from a 100 mg single-dose vial, billing unit 100 mg, 30 mg discarded -> 1 unit + JZ,
no JW line (Noridian DME "Modifier JZ" rounding example); ondansetron 4 mg with NDC 0409-4755-03 -> J2405 x4 (CMS: 1 MG).
"""

import math
import re
import sys
from datetime import date

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC701", "drug-lines", ("S16", "S15", "S30", "S18", "ASP"))

JZ_JW_FROM = date(2023, 7, 1)

_AMOUNT = re.compile(
    r"(\d+(?:[.,]\d+)*)\s*(million\s+units|mg/m2|mg/kg|mcg|mg|gm|g|ml|cc|l|units?|meq)\b", re.IGNORECASE
)
# Each unit as a multiple of the base unit of its dimension.
_SCALE = {
    "mcg": ("mass", 0.001),
    "mg": ("mass", 1.0),
    "g": ("mass", 1000.0),
    "gm": ("mass", 1000.0),
    "ml": ("volume", 1.0),
    "cc": ("volume", 1.0),
    "l": ("volume", 1000.0),
    "unit": ("units", 1.0),
    "units": ("units", 1.0),
    "million units": ("units", 1_000_000.0),
    "meq": ("meq", 1.0),
}


def parse_amount(text: str) -> tuple[float, str] | None:
    """The first amount in the text as (value, unit), units lower-case: '4 mg' -> (4.0, 'mg')."""
    found = _AMOUNT.search(text)
    if not found:
        return None
    value = float(found.group(1).replace(",", ""))
    return value, " ".join(found.group(2).lower().split())


BASE_NAME = {"mass": "mg", "volume": "mL", "units": "units", "meq": "mEq"}


def in_base(value: float, unit: str) -> tuple[str, float] | None:
    """(dimension, value in the base unit), or None when the unit does not convert."""
    scale = _SCALE.get(unit)
    if scale is None:
        return None
    return scale[0], value * scale[1]


def billing_units(total: float, unit_size: float) -> int:
    """Units for a total dose, rounded up once (a tiny epsilon keeps 4.0000001 from becoming 5)."""
    return max(1, math.ceil(total / unit_size - 1e-9))


def discarded_units(given: float, wasted: float, unit_size: float) -> int:
    """JW units: only the discard that reaches past the units the dose already rounds up to."""
    if wasted <= 0:
        return 0
    return billing_units(given + wasted, unit_size) - billing_units(given, unit_size)
