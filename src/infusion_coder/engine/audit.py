"""Compare billed lines with the lines the record supports (IC801). Pure: results in, differences out."""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from ..models import BilledLine, CodingResult, Difference, Line

Kind = Literal["over-coded", "under-coded", "wrong-units"]
Money = Literal["more than supported", "less than supported"]


def _totals(lines: list[tuple[str, int, list[str]]]) -> dict[str, tuple[int, set[str]]]:
    units: dict[str, int] = defaultdict(int)
    modifiers: dict[str, set[str]] = defaultdict(set)
    for code, count, mods in lines:
        units[code] += count
        modifiers[code] |= {m.upper() for m in mods}
    return {code: (units[code], modifiers[code]) for code in units}


def differences(result: CodingResult, billed: list[BilledLine]) -> list[Difference]:
    supported_lines: dict[str, list[Line]] = defaultdict(list)
    for line in result.lines:
        supported_lines[line.code].append(line)
    supported = _totals([(line.code, line.units, line.modifiers) for line in result.lines])
    claimed = _totals([(line.code, line.units, line.modifiers) for line in billed])
    found: list[Difference] = []
    for code in sorted(set(supported) | set(claimed)):
        billed_units, billed_mods = claimed.get(code, (0, set()))
        supported_units, supported_mods = supported.get(code, (0, set()))
        lines = supported_lines.get(code, [])
        rules = sorted({line.rule for line in lines})
        why = " ".join(line.explanation for line in lines[:2])
        common = {
            "code": code,
            "billed_units": billed_units,
            "supported_units": supported_units,
            "billed_modifiers": sorted(billed_mods),
            "supported_modifiers": sorted(supported_mods),
            "rules": rules,
        }
        units = _units_difference(code, billed_units, supported_units, why)
        if units is not None:
            kind, money, message = units
            found.append(Difference(kind=kind, money=money, message=message, **common))
        if billed_units and supported_units and billed_mods != supported_mods:
            extra, missing = sorted(billed_mods - supported_mods), sorted(supported_mods - billed_mods)
            parts = []
            if extra:
                parts.append(f"billed with {', '.join(extra)} that the record does not support")
            if missing:
                parts.append(f"missing {', '.join(missing)} that the record supports")
            found.append(
                Difference(
                    kind="wrong-modifiers",
                    # an unsupported modifier unlocks payment; a missing one gets the line denied
                    money="more than supported" if extra else "less than supported",
                    message=f"{code}: " + "; ".join(parts) + ".",
                    **common,
                )
            )
    return found


def _units_difference(code: str, billed: int, supported: int, why: str) -> tuple[Kind, Money, str] | None:
    """Kind, direction of money and message when the billed units of a code differ from the supported."""
    if supported == 0:
        return (
            "over-coded",
            "more than supported",
            f"{code} x{billed} is billed, but the record supports no {code}.",
        )
    if billed == 0:
        return "under-coded", "less than supported", f"{code} x{supported} is supported but not billed. {why}"
    if billed != supported:
        money: Money = "more than supported" if billed > supported else "less than supported"
        return "wrong-units", money, f"{code} is billed x{billed}; the record supports x{supported}. {why}"
    return None
