"""Which drug a record is (IC106): its codes first, then the substance table, then its normalised name."""

from __future__ import annotations

from typing import Final

from ..models import Administration
from ..names import shown_name
from ..reference import NdcProduct, Substance, SubstanceReading, ndc_candidates
from ..rules import ic101_category, ic106_same_substance, ic201_push_or_infusion, ic213_on_body_injector
from .context import Context


def products(ctx: Context, admin: Administration) -> tuple[NdcProduct, ...]:
    """The CMS crosswalk rows for the record's NDC (none without one)."""
    return ctx.pack.crosswalk.lookup(admin.ndc) if admin.ndc else ()


def coded_hcpcs(ctx: Context, admin: Administration) -> str | None:
    """The HCPCS drug code the record's codes give: its own `hcpcs`, else its NDC's one CMS code."""
    if admin.hcpcs:
        return admin.hcpcs.strip().upper()
    if not admin.ndc:
        return None  # no codes: nothing for the name to choose between
    return reading(ctx, admin).coded  # an NDC: read once per pack


def _coded_hcpcs(ctx: Context, admin: Administration) -> str | None:
    if admin.hcpcs:
        return admin.hcpcs.strip().upper()
    if not admin.ndc:
        return None  # no codes: nothing for the name to choose between
    codes = sorted({row.hcpcs for row in products(ctx, admin)})
    if len(codes) == 1:
        return codes[0]
    if not codes:
        return None
    names = {m.hcpcs for m in ctx.substances.match(admin.substance)}
    chosen = [code for code in codes if code in names]  # an NDC under two codes: the name decides
    return chosen[0] if len(chosen) == 1 else None


def table_entries(ctx: Context, admin: Administration) -> list[Substance]:
    """Substance-table entries for the record: the one its codes name, else those its text names.
    Remembered per pack by what decides them (prepare, documentation and drug lines each ask)."""
    return list(reading(ctx, admin).entries)


_CACHED_READINGS: Final = 65536  # bound on the readings a pack remembers: substance text is free


def reading(ctx: Context, admin: Administration) -> SubstanceReading:
    """Everything the pack says about the record's substance (entries, drug key, family): one dict lookup
    for a text the pack has read before. Depends only on the pack and the four fields in the key."""
    return reading_of(ctx, admin, admin.substance, admin.hcpcs, admin.ndc, admin.rxnorm)


def reading_of(
    ctx: Context,
    admin: Administration,
    substance: str,
    hcpcs: str | None,
    ndc: str | None,
    rxnorm: str | None,
) -> SubstanceReading:
    """reading(), given the record's four fields already read (prepare reads each record once)."""
    key = (substance, hcpcs, ndc, rxnorm)
    memo = ctx.pack.readings
    known = memo.get(key)
    if known is None:
        code = _coded_hcpcs(ctx, admin)
        entries = _table_entries(ctx, admin, code)
        family, kind = ic101_category.family_from_table(entries, "")
        known = SubstanceReading(
            tuple(entries),
            _drug_key(ctx, admin, entries, code),
            family,
            kind,
            ic106_same_substance.refers_back(admin.substance),
            shown_name(admin.substance),
            ic213_on_body_injector.named(admin.substance),
            ic201_push_or_infusion.states_push(admin.substance),
            code,
        )
        if len(memo) >= _CACHED_READINGS:
            memo.clear()
        memo[key] = known
    return known


def _table_entries(ctx: Context, admin: Administration, code: str | None) -> list[Substance]:
    if code is not None:
        by_code = ctx.substances.by_hcpcs(code)
        if len(by_code) == 1:
            return by_code
    return ctx.substances.match(admin.substance)


def _drug_key(ctx: Context, admin: Administration, matches: list[Substance], code: str | None) -> str:
    """Two records are one drug when their codes say so, else when the table maps both to one entry, else
    only when their normalised names are equal (never by dropping words)."""
    if code is not None:
        by_code = ctx.substances.by_hcpcs(code)
        if len(by_code) == 1:
            return by_code[0].name
    if len(matches) == 1 and matches[0].kind in ("drug", "electrolyte", "fluid"):
        return matches[0].name  # the common case: what the two sorted sets below give for one entry
    drugs = sorted({m.name for m in matches if m.kind in ("drug", "electrolyte")})
    fluids = sorted({m.name for m in matches if m.kind == "fluid"})
    if drugs or fluids:
        return "+".join(drugs or fluids)  # the fluid a drug is mixed in is its carrier, not its identity
    if code is not None:
        return f"hcpcs:{code}"
    if admin.rxnorm:
        return f"rxnorm:{admin.rxnorm.strip()}"
    if admin.ndc:
        forms = ndc_candidates(admin.ndc)
        return f"ndc:{forms[0] if len(forms) == 1 else admin.ndc.strip()}"
    return ic106_same_substance.text_key(admin.substance)


def text_reading(substance: str) -> SubstanceReading:
    """What the substance text alone says (a mixed bag's joined text, which no table entry names)."""
    return SubstanceReading(
        (),
        "",
        None,
        None,
        False,
        shown_name(substance),
        ic213_on_body_injector.named(substance),
        ic201_push_or_infusion.states_push(substance),
    )
