"""A flush of an implanted port is 96523 only when it is the only service that day.

Reasoning: irrigating an implanted venous access device is payable alone; with a visit, injection or
infusion on the same day it is included in them, like any flush.

Example: heparin flush of a Mediport with nothing else that day -> 96523.
"""

import re
import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC210", "port-irrigation", ("S37", "S20", "S8", "S18", "S36", "S10"))

_PORT = re.compile(r"\b(port|mediport|port-a-cath|portacath|implanted)\b", re.IGNORECASE)


def is_port(access: str | None) -> bool:
    return bool(access and _PORT.search(access))
