"""Applying an on-body injector for a timed subcutaneous injection is 96377, not 96372.

Reasoning: an on-body injector (pegfilgrastim Onpro kit, UDENYCA Onbody) is filled and applied to the skin in
the clinic and delivers the dose subcutaneously later, on its own; the service is the application, 96377,
whether or not the dose is delivered during the visit. The record says so with `device` =
on_body_injector; a subcutaneous record whose product name says it ("Onpro", "on-body", "onbody") is read
the same way, with an info finding saying it was read from the name. A device recorded with a route other
than subcutaneous is coded by its route, with a warning. The drug itself is billed on its own line.
Source: CMS MAC billing and coding article A54682, "Billing and Coding: Neulasta (pegfilgrastim) Onpro Kit /
UDENYCA ONBODY (On-body Injector)", https://www.cms.gov/medicare-coverage-database/view/article.aspx?articleId=54682

Example: "pegfilgrastim 6 mg Onpro kit", route subcutaneous -> 96377 (finding on-body-injector-from-name).
"""

import re
import sys

from .base import Rule

RULE = Rule.of(sys.modules[__name__], "IC213", "on-body-injector", ("A54682",))

_NAMED = re.compile(r"\b(on[- ]?body|onpro)\b", re.IGNORECASE)


def named(substance: str) -> bool:
    """True when a product name says an on-body injector ("Neulasta Onpro", "on-body injector")."""
    return _NAMED.search(substance) is not None
