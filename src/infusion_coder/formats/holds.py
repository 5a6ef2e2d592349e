"""What a reader cannot settle and a person must, said the same way by every reader.

- A record that documents no route is imported with route "unspecified" and one error finding
  `route-missing` (the encounter is held): a coder confirms the route in the chart. The finding names the
  codes the method or product points to; the engine does not report the route a second time.
- The setting, as the hospital bills it, from positive evidence only. An inpatient stay keeps its place in
  the output with no administrations and an info finding `inpatient-stay` (with `--include-inpatient`, its
  administrations and a warning). A stay whose setting the source does not tell is held with an error
  finding `setting-unknown` saying what to check, unless the claim type settles it: on a professional claim
  the place of service carries the setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..reference import ReferencePack
from ..rules import ic104_route_without_code

NO_ROUTE = "unspecified"  # the route of an administration whose record documents none

_CANDIDATES = {
    "push": "the method says push: 96374 (96375 after another initial service) if intravenous, "
    "96409/96411 for chemotherapy",
    "infusion": "it was infused: 96365-96368 if intravenous (96360/96361 for hydration, 96413 for "
    "chemotherapy), 96369 if subcutaneous",
    "injection": "the method says injection: 96372 if subcutaneous or intramuscular (96401/96402 for "
    "chemotherapy), 96374 if an intravenous push",
}
_ANY = "96374 if an intravenous push, 96365 if an intravenous infusion, 96372 if subcutaneous or intramuscular; no code if oral or topical"


def finding(
    id: str, severity: str, message: str, source: str | None, administrations: Sequence[str] = ()
) -> dict[str, Any]:
    """A source finding as the contract has it."""
    return {
        "id": id,
        "severity": severity,
        "administrations": list(administrations),
        "message": message,
        "source": source,
    }


def route_missing(
    admin_id: str, label: str, where: str, method: str | None, infused: bool, product: str | None = None
) -> dict[str, Any]:
    """The one finding for a record with no route: held, with the codes its method or product points to."""
    kind = method if method in _CANDIDATES else "infusion" if infused else None
    candidates = _CANDIDATES[kind] if kind else _ANY
    shown = f"; its product is {product}" if product else ""
    return finding(
        "route-missing",
        "error",
        f"{label} documents no route, so it is not coded and the encounter is held: a coder must confirm the "
        f"route in the chart{shown} ({candidates})",
        where,
        [admin_id],
    )


def inpatient_stay(evidence: str, ids: Sequence[str], included: bool, source: str | None) -> dict[str, Any]:
    """An inpatient stay: its administrations are left out (or, asked for, imported with a warning)."""
    shown = ", ".join(_short(i) for i in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    listed = f" ({shown})" if ids else ""
    if included:
        return finding(
            "inpatient-stay",
            "warning",
            f"{evidence}: an inpatient stay, whose claim does not carry these codes; its {len(ids)} "
            f"administration(s){listed} are imported only because --include-inpatient was given, for review",
            source,
            ids,
        )
    return finding(
        "inpatient-stay",
        "info",
        f"{evidence}: an inpatient stay, whose claim does not carry these codes; its {len(ids)} "
        f"administration(s){listed} are left out (--include-inpatient imports them for review)",
        source,
    )


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def setting_unknown(evidence: str, source: str | None, ids: Sequence[str]) -> dict[str, Any]:
    """A stay the source does not place: held until someone checks the account."""
    return finding(
        "setting-unknown",
        "error",
        f"{evidence}, so whether the hospital bills this stay as outpatient is not known and the encounter "
        "is held: check the account's patient type. An outpatient visit (emergency, observation, clinic) is "
        "coded as it stands; an inpatient stay is not billed with these codes",
        source,
        ids,
    )


def could_bill(routes: Iterable[str], pack: ReferencePack) -> bool:
    """Whether any of these routes may give a drug-administration line (vascular, SC, IM, a chemotherapy
    route, or one the route table does not know): only then is an unknown setting worth a hold. An
    encounter of oral and topical medications is not held for it."""
    for route in routes:
        found = pack.routes.resolve(route)
        if found is None or found.route is None:
            return True
        if (
            ic104_route_without_code.route_class(found.route) != "other"
            or found.route in pack.codes.chemo_routes
        ):
            return True
    return False


_ORDER = {"info": 0, "warning": 1, "error": 2}


def worse(one: str, other: str) -> str:
    return one if _ORDER.get(one, 0) >= _ORDER.get(other, 0) else other


def more_findings(count: int, worst: str, ids: Iterable[str]) -> dict[str, Any]:
    """The one finding that stands for `count` findings left out, with their highest severity (an error
    among them still holds the claim)."""
    names = sorted(set(ids))
    shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    return finding(
        "more-source-findings",
        worst,
        f"{count} more findings on this encounter's source records ({shown}) are not listed",
        None,
    )


def capped(findings: list[dict[str, Any]], limit: int = 1_000) -> list[dict[str, Any]]:
    """At most `limit` findings for one encounter: the rest are counted in a last one."""
    if len(findings) <= limit:
        return findings
    kept, rest = findings[: limit - 1], findings[limit - 1 :]
    worst = "info"
    for item in rest:
        worst = worse(worst, item["severity"])
    return [*kept, more_findings(len(rest), worst, (f["id"] for f in rest))]
