"""Compare billed lines with the lines the record supports (IC801). Pure: results in, differences out.

Everything billed is compared: administration lines against `result.lines`, drug lines (HCPCS, units, JZ,
and JW as its own line) against `result.drug_lines`, and dates of service. Each difference carries the
Medicare amount at stake where CMS publishes one (OPPS Addendum B rate for institutional administration
lines, ASP payment limit for drug lines), with the figure and its source in `basis`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from ..models import BilledLine, CodingResult, Difference
from ..reference import ReferencePack
from ..reference.money import CONDITIONALLY_PACKAGED, PACKAGED_STATUSES, PAID_STATUSES, Money

Kind = Literal["over-coded", "under-coded", "wrong-units", "wrong-modifiers", "wrong-date", "unverified"]
Direction = Literal["more than supported", "less than supported", "unknown"]
LineKind = Literal["administration", "drug"]

# findings of IC701 that mean the engine could not turn a drug into a line: a billed drug code is then
# unverified, not over-coded
_DRUG_NOT_DERIVED = frozenset(
    {"drug-code-unknown", "dose-missing", "dose-not-convertible", "fluid-billed-by-bag"}
)
_PROCEDURE_STATUSES = frozenset({"S", "T", "V"})


@dataclass
class _Group:
    code: str
    line: LineKind
    units: dict[date | None, int] = field(default_factory=lambda: defaultdict(int))
    modifiers: set[str] = field(default_factory=set)
    lines: list[tuple[int, frozenset[str]]] = field(default_factory=list)  # units and modifiers per line
    rules: set[str] = field(default_factory=set)
    explanations: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.units.values())

    @property
    def dated(self) -> bool:
        return bool(self.units) and None not in self.units

    def dates(self) -> list[date]:
        return sorted(d for d in self.units if d is not None)


def _key(code: str, modifiers: list[str] | set[str]) -> str:
    # a drug's discarded amount (JW) is its own line with its own units
    return f"{code}-JW" if "JW" in modifiers else code


def _add(
    groups: dict[str, _Group], code: str, line: LineKind, units: int, mods: list[str], day: date | None
) -> _Group:
    upper = {m.upper() for m in mods}
    group = groups.setdefault(_key(code, upper), _Group(code, line))
    group.units[day] += units
    group.modifiers |= upper
    group.lines.append((units, frozenset(upper)))
    return group


def differences(
    result: CodingResult,
    billed: list[BilledLine],
    pack: ReferencePack | None = None,
    *,
    claim_type: str = "institutional",
) -> list[Difference]:
    supported: dict[str, _Group] = {}
    for line in result.lines:
        group = _add(supported, line.code, "administration", line.units, line.modifiers, line.date)
        group.rules.add(line.rule)
        group.explanations.append(line.explanation)
    for drug in result.drug_lines:
        group = _add(supported, drug.hcpcs, "drug", drug.units, drug.modifiers, drug.date)
        group.rules.add(drug.rule)
        group.explanations.append(drug.explanation)
    admin_codes = set(pack.codes.codes) if pack is not None else set()
    drug_codes = {d.hcpcs for d in result.drug_lines}
    if pack is not None:
        drug_codes |= set(pack.money.asp) | {e.hcpcs for e in pack.substances.entries.values() if e.hcpcs}
    claimed: dict[str, _Group] = {}
    for item in billed:
        code = item.code.upper()
        kind: LineKind = (
            "drug" if code in drug_codes or _looks_like_drug(code, admin_codes) else "administration"
        )
        _add(claimed, code, kind, item.units, item.modifiers, item.date)
    underived = any(f.rule == "IC701" and f.id in _DRUG_NOT_DERIVED for f in result.findings)
    pricer = _Pricer(pack.money if pack is not None else None, claim_type, supported, claimed)
    found: list[Difference] = []
    for key in sorted(set(supported) | set(claimed)):
        have, want = claimed.get(key), supported.get(key)
        template = have or want
        assert template is not None
        found.extend(_compare(key, template, have, want, underived, pricer))
    return found


def _looks_like_drug(code: str, admin_codes: set[str]) -> bool:
    # J and Q codes outside the tables (drugs and biologicals); G0463, 99213 and the like are services
    return code not in admin_codes and len(code) == 5 and code[0] in "JQ" and code[1:].isdigit()


def _compare(
    key: str, template: _Group, have: _Group | None, want: _Group | None, underived: bool, pricer: _Pricer
) -> list[Difference]:
    code, line = template.code, template.line
    billed_units = have.total if have else 0
    supported_units = want.total if want else 0
    billed_mods = sorted(have.modifiers) if have else []
    supported_mods = sorted(want.modifiers) if want else []
    why = " ".join((want.explanations if want else [])[:2])
    common = {
        "code": code,
        "billed_units": billed_units,
        "supported_units": supported_units,
        "billed_modifiers": billed_mods,
        "supported_modifiers": supported_mods,
        "rules": sorted(want.rules) if want else [],
        "line": line,
        "billed_dates": have.dates() if have else [],
        "supported_dates": want.dates() if want else [],
    }
    days = (have.dates() if have else []) or (want.dates() if want else [])
    found: list[Difference] = []

    def add(kind: Kind, money: Direction, units: int, message: str, day: date | None = None) -> None:
        amount, basis = pricer.price(code, line, units, day or (days[0] if days else None))
        found.append(
            Difference(kind=kind, money=money, message=message, amount=amount, basis=basis, **common)
        )

    if supported_units == 0 and line == "drug" and underived:
        add(
            "unverified",
            "unknown",
            billed_units,
            f"{key} x{billed_units} is billed; the record names a drug the engine could not turn into a line "
            "(see the IC701 findings), so this line is not verified.",
        )
        return found
    if supported_units == 0:
        add(
            "over-coded",
            "more than supported",
            billed_units,
            f"{key} x{billed_units} is billed, but the record supports no {key}.",
        )
    elif billed_units == 0:
        add(
            "under-coded",
            "less than supported",
            supported_units,
            f"{key} x{supported_units} is supported but not billed. {why}",
        )
    elif billed_units != supported_units:
        direction: Direction = (
            "more than supported" if billed_units > supported_units else "less than supported"
        )
        add(
            "wrong-units",
            direction,
            abs(billed_units - supported_units),
            f"{key} is billed x{billed_units}; the record supports x{supported_units}. {why}",
        )
    if have is not None and want is not None and have.modifiers != want.modifiers:
        extra, missing = sorted(have.modifiers - want.modifiers), sorted(want.modifiers - have.modifiers)
        parts = []
        if extra:
            parts.append(f"billed with {', '.join(extra)} that the record does not support")
        if missing:
            parts.append(f"missing {', '.join(missing)} that the record supports")
        # an unsupported modifier unlocks payment; a missing one gets the line denied
        # the units whose payment the modifier decides: the lines that carry the extra or the missing one
        at_stake = max(
            sum(units for units, mods in have.lines if mods & set(extra)),
            sum(units for units, mods in want.lines if mods & set(missing)),
        )
        add(
            "wrong-modifiers",
            "more than supported" if extra else "less than supported",
            at_stake,
            f"{key}: " + "; ".join(parts) + ".",
        )
    if have is not None and want is not None and have.dated and want.dated:
        off = sum(max(0, units - want.units.get(day, 0)) for day, units in have.units.items())
        off -= max(0, billed_units - supported_units)  # extra units are reported as such above
        if off > 0:
            wrong = [d for d in have.dates() if have.units[d] > want.units.get(d, 0)]
            shown = ", ".join(d.isoformat() for d in wrong)
            right = ", ".join(f"x{want.units[d]} on {d.isoformat()}" for d in want.dates())
            # the units billed on a date the record does not support are unsupported as dated
            add(
                "wrong-date",
                "more than supported",
                off,
                f"{key}: {off} unit(s) billed on {shown}, a date the record does not support them; "
                f"the record supports {right}.",
                wrong[0],
            )
    return found


class _Pricer:
    """The Medicare amount of some units of a line, and the figure it rests on."""

    def __init__(self, money: Money | None, claim_type: str, *sides: dict[str, _Group]) -> None:
        self.money = money
        self.institutional = claim_type == "institutional"
        # dates with a status S, T or V procedure, for Q1 conditional packaging
        self.procedure_days: set[date | None] = set()
        if money is not None:
            for side in sides:
                for group in side.values():
                    row = money.opps.get(group.code)
                    if group.line == "administration" and row and row.status in _PROCEDURE_STATUSES:
                        self.procedure_days |= set(group.units)

    def price(self, code: str, line: LineKind, units: int, day: date | None) -> tuple[float | None, str]:
        money = self.money
        if money is None or not (money.opps or money.asp):
            return None, "no Medicare figures in the reference pack"
        tail = "national unadjusted Medicare figure"
        opps = money.opps.get(code)
        if line == "drug":
            if self.institutional and opps is not None and opps.status in PACKAGED_STATUSES:
                return 0.0, (
                    f"{code} has OPPS status {opps.status} (packaged, no separate payment) in Addendum B "
                    f"{money.opps_quarter}; {money.opps_source}"
                )
            asp = money.asp.get(code)
            if asp is None:
                return None, f"CMS publishes no ASP payment limit for {code} in {money.asp_quarter}"
            return round(units * asp.limit, 2), (
                f"{units} x ${asp.limit:.3f} ASP payment limit per {asp.billing_unit} ({money.asp_quarter}, "
                f"{tail}); {money.asp_source}"
            )
        if not self.institutional:
            return None, (
                "professional lines are paid on the Medicare physician fee schedule, which is not bundled; "
                "no amount"
            )
        if opps is None:
            return None, f"no OPPS Addendum B row for {code} in the bundled table ({money.opps_quarter})"
        if opps.status in PACKAGED_STATUSES:
            return 0.0, (
                f"{code} has OPPS status N (packaged into the primary service, no separate payment) in "
                f"Addendum B {money.opps_quarter}; {money.opps_source}"
            )
        if opps.status in CONDITIONALLY_PACKAGED and day in self.procedure_days:
            return 0.0, (
                f"{code} has OPPS status {opps.status}: packaged when a status S, T or V service is billed the "
                f"same date, as here (Addendum B {money.opps_quarter}); {money.opps_source}"
            )
        if (opps.status in PAID_STATUSES or opps.status in CONDITIONALLY_PACKAGED) and opps.rate is not None:
            return round(units * opps.rate, 2), (
                f"{units} x ${opps.rate:.2f} OPPS payment rate, status {opps.status}, APC {opps.apc} "
                f"(Addendum B {money.opps_quarter}, {tail}); {money.opps_source}"
            )
        return (
            None,
            f"{code} has OPPS status {opps.status} with no national payment rate ({money.opps_quarter})",
        )
