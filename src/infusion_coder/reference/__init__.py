"""Reference data: the code table, the substance table and the policy profiles.

All of it lives in data files under `data/<effective date>/`, listed in `data/manifest.json`; a pack is
chosen by date of service. Loading reads files (I/O), so it happens once, in `load_library()`; the engine
receives the loaded objects and never reads anything itself.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from .edits import EditTables, read_tables
from .money import Money, RevenueCodes, read_money, read_revenue_codes

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class CodeInfo:
    code: str
    label: str
    family: str
    kind: str  # initial | addon | standalone
    rank: int | None
    physician_in_facility: bool
    addon_primaries: tuple[str, ...] = ()
    facility_only: bool = False
    institutional_only: bool = False
    opps_status: str | None = None


@dataclass(frozen=True)
class CodeTable:
    codes: dict[str, CodeInfo]
    physician_facility_pos: frozenset[str]
    chemo_routes: dict[str, str]
    _orphans: dict[frozenset[str], tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __getitem__(self, code: str) -> CodeInfo:
        return self.codes[code]

    def is_addon(self, code: str) -> bool:
        return code in self.codes and self.codes[code].kind == "addon"

    def orphan_addons(self, present: set[str]) -> list[str]:
        """Add-on codes among `present` with none of the primaries they may go with (rules.md R7.1).
        Remembered per set of codes (asked two or three times an encounter; claims repeat a few sets)."""
        key = frozenset(present)
        known = self._orphans.get(key)
        if known is None:
            known = tuple(
                sorted(
                    code
                    for code in present
                    if self.is_addon(code) and not present & set(self.codes[code].addon_primaries)
                )
            )
            if len(self._orphans) >= 4096:  # bounded: any code text may reach here
                self._orphans.clear()
            self._orphans[key] = known
        return list(known)


@dataclass(frozen=True)
class Substance:
    name: str
    category: str | None  # hydration | therapeutic | chemotherapy | None for non-coded classes
    kind: str  # fluid | electrolyte | drug | contrast | vaccine | immunotherapy | flush
    hormonal: bool
    hcpcs: str | None
    billing_unit: str | None
    note: str
    usual_technique: str | None = None  # "infusion" for a drug whose labeling has it infused, never pushed
    labeled_hydration: bool = False  # its labeling requires hydration with it (cisplatin), rules.md C7
    cms_check: str = ""  # how the HCPCS code and unit compare with the CMS ASP files, when not plainly


_CACHED_TEXTS = 65536  # substance texts remembered by SubstanceTable.match
_PERCENT_SPACE = re.compile(r"(\d)\s+%")
_SPACES = re.compile(r"\s+")


def normalise_substance(text: str) -> str:
    """Substance text as EHRs write it, folded for matching: case, "0.9 %" -> "0.9%", runs of spaces.
    Salt forms ("HCl", "sodium succinate"), "(PF)" and forms ("INJECTION", "IV BOLUS") need no folding:
    table names match as whole words anywhere in the text."""
    return _SPACES.sub(" ", _PERCENT_SPACE.sub(r"\1%", text.lower())).strip()


@dataclass(frozen=True)
class SubstanceTable:
    """Names and synonyms matched as whole words, longest first, in one pass over the text."""

    entries: dict[str, Substance]
    _pattern: re.Pattern[str] = field(repr=False)
    _by_alias: dict[str, str] = field(repr=False)
    _by_code: dict[str | None, list[Substance]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _matches: dict[str, tuple[Substance, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def build(cls, rows: list[Substance], aliases: dict[str, str]) -> SubstanceTable:
        ordered = sorted(aliases, key=len, reverse=True)
        body = "|".join(re.escape(alias) for alias in ordered)
        pattern = re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")
        return cls({row.name: row for row in rows}, pattern, aliases)

    def by_hcpcs(self, code: str) -> list[Substance]:
        """Table entries billed under a HCPCS code."""
        if not self._by_code:
            index: dict[str | None, list[Substance]] = {}
            for entry in self.entries.values():
                index.setdefault(entry.hcpcs, []).append(entry)
            self._by_code.update(index)  # whole, in one step: a reader never sees half an index
        return list(self._by_code.get(code, ()))

    def match(self, text: str) -> list[Substance]:
        """Every table entry named in the text, in order of appearance, without repeats. Remembered per
        text (a batch names the same few hundred substances over and over); bounded, since text is free."""
        known = self._matches.get(text)
        if known is None:
            found: list[Substance] = []
            for hit in self._pattern.finditer(normalise_substance(text)):
                entry = self.entries[self._by_alias[hit.group(0)]]
                if entry not in found:
                    found.append(entry)
            known = tuple(found)
            if len(self._matches) >= _CACHED_TEXTS:
                self._matches.clear()
            self._matches[text] = known
        return list(known)


@dataclass(frozen=True)
class RouteMatch:
    """What a route string or code means: the contract route (None for a method-only code) and the
    technique it implies (push or infusion), if any."""

    route: str | None
    method: str | None
    term: str
    system: str


_ROUTE_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class RouteTable:
    """Route strings and codes as EHRs send them (text, HL7 v2 tables 0162/0165, SNOMED CT) mapped to the
    contract's routes. Text is compared case-blind with spacing folded; codes exactly within their system."""

    entries: dict[tuple[str, str], RouteMatch]
    _resolved: dict[tuple[str, str], RouteMatch | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @staticmethod
    def _key(term: str, system: str) -> tuple[str, str]:
        term = _ROUTE_SPACES.sub(" ", term.strip())
        return (system, term.lower() if system == "text" else term.upper())

    def resolve(self, term: str, system: str = "text") -> RouteMatch | None:
        """The meaning of `term` in `system` (text, hl7-0162, hl7-0165, snomed, snomed-method), or None.
        Remembered per (term, system), bounded: a batch writes the same few routes over and over."""
        if (term, system) in self._resolved:
            return self._resolved[(term, system)]
        found = self._resolve(term, system)
        if len(self._resolved) >= _CACHED_TEXTS:
            self._resolved.clear()
        self._resolved[(term, system)] = found
        return found

    def _resolve(self, term: str, system: str) -> RouteMatch | None:
        found = self.entries.get(self._key(term, system))
        if found is None and system == "text":
            # "IV Push (Intravenous)" and "iv." are written as often as the bare term
            bare = re.sub(r"\s*\(.*?\)\s*", " ", term).strip(" .;,")
            found = self.entries.get(self._key(bare, "text")) if bare else None
        return found


@dataclass(frozen=True)
class NdcProduct:
    """One row of the CMS ASP NDC-HCPCS crosswalk: the HCPCS code a product bills under, the code's billing
    unit as CMS writes it ("10 MG", "1 ML", "50 UNITS") and how many billing units one package holds."""

    ndc11: str
    hcpcs: str
    billing_unit: str
    units_per_package: float | None


_NDC_DIGITS = re.compile(r"\d+")
# the labeler-product-package shapes an NDC is written in (10-digit forms, and the 11-digit billing form)
_NDC_SHAPES = frozenset({(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)})


def ndc11(ndc: str | None) -> str | None:
    """The 11-digit 5-4-2 form billing needs, or None when it cannot be told (10 bare digits are ambiguous)."""
    found = ndc_candidates(ndc) if ndc else []
    return found[0] if len(found) == 1 else None


def ndc_candidates(ndc: str) -> list[str]:
    """The 11-digit (5-4-2) forms an NDC as written may stand for. Hyphenated 10-digit forms (4-4-2, 5-3-2,
    5-4-1) pad the short segment; 11 bare digits are themselves; 10 bare digits are ambiguous and give all
    three paddings, for the crosswalk to decide."""
    text = ndc.strip()
    parts = _NDC_DIGITS.findall(text)
    if len(parts) == 3:
        a, b, c = parts
        if (len(a), len(b), len(c)) in _NDC_SHAPES:
            return [a.zfill(5) + b.zfill(4) + c.zfill(2)]
        return []
    digits = "".join(parts)
    if len(digits) == 11:
        return [digits]
    if len(digits) == 10:
        return ["0" + digits, digits[:5] + "0" + digits[5:], digits[:9] + "0" + digits[9:]]
    return []


@dataclass(frozen=True)
class NdcCrosswalk:
    """The dated CMS ASP NDC-HCPCS crosswalk (asp_crosswalk.csv); empty for a pack without one."""

    products: dict[str, tuple[NdcProduct, ...]] = field(default_factory=dict)
    _looked: dict[str, tuple[NdcProduct, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def lookup(self, ndc: str) -> tuple[NdcProduct, ...]:
        """Crosswalk rows for an NDC in any common form; () when CMS lists it under no HCPCS code.
        Remembered per NDC as written (bounded: it is free text)."""
        known = self._looked.get(ndc)
        if known is None:
            known = ()
            for candidate in ndc_candidates(ndc):
                found = self.products.get(candidate)
                if found:
                    known = found
                    break
            if len(self._looked) >= _CACHED_TEXTS:
                self._looked.clear()
            self._looked[ndc] = known
        return known

    def codes(self) -> dict[str, set[str]]:
        """HCPCS code -> the billing units CMS gives it across its NDCs."""
        out: dict[str, set[str]] = {}
        for rows in self.products.values():
            for row in rows:
                out.setdefault(row.hcpcs, set()).add(row.billing_unit)
        return out


@dataclass(frozen=True)
class PolicyValue:
    value: Any
    source: str


@dataclass(frozen=True)
class Policy:
    """A named profile: one value, with its source, for every option."""

    name: str
    description: str
    values: dict[str, PolicyValue]

    def __getitem__(self, option: str) -> Any:
        return self.values[option].value

    def source(self, option: str) -> str:
        return self.values[option].source


class SubstanceReading:
    """What a pack makes of one record's substance text and codes (engine/identity.reading): its table
    entries, drug key and what the entries say about family and technique. Made once per pack and text."""

    __slots__ = (
        "all_flush",
        "any_electrolyte",
        "coded",
        "drug",
        "entries",
        "hormonal",
        "label",
        "not_coded",
        "on_body_named",
        "refers_back",
        "states_push",
        "table_family",
        "usual_infusion",
    )

    def __init__(
        self,
        entries: tuple[Substance, ...],
        drug: str,
        table_family: str | None,
        not_coded: str | None,
        refers_back: bool,
        label: str = "",
        on_body_named: bool = False,
        states_push: bool = False,
        coded: str | None = None,
    ) -> None:
        self.coded = coded  # the HCPCS code the record's codes give (identity.coded_hcpcs)
        # what the engine reads from the substance text alone: its quoted name, an on-body injector named
        # (IC213), a push stated in words (prepare)
        self.label = label
        self.on_body_named = on_body_named
        self.states_push = states_push
        self.entries = entries
        self.drug = drug  # identity's drug key of the record
        # family_from_table's family, "" where the electrolyte_alone policy decides; its non-coded kind
        self.table_family = table_family
        self.not_coded = not_coded
        self.refers_back = refers_back  # "same drug", "continued": names the administration before it
        self.all_flush = bool(entries) and all(m.kind == "flush" for m in entries)
        self.any_electrolyte = any(m.kind == "electrolyte" for m in entries)
        self.hormonal = any(m.hormonal for m in entries)
        self.usual_infusion = any(m.usual_technique == "infusion" for m in entries)


@dataclass(frozen=True)
class ReferencePack:
    version: str
    effective_from: date
    effective_to: date | None
    codes: CodeTable
    substances: SubstanceTable
    policies: dict[str, Policy]
    options: dict[str, dict[str, Any]]
    edits: EditTables
    routes: RouteTable
    crosswalk: NdcCrosswalk = field(default_factory=NdcCrosswalk)
    money: Money = field(default_factory=Money.empty)
    revenue_codes: RevenueCodes = field(default_factory=lambda: RevenueCodes({}))
    # What the engine reads from record texts, remembered per pack (a batch repeats a few hundred texts);
    # bounded, since text is free. (substance, hcpcs, ndc, rxnorm) -> reading (engine/identity.py).
    readings: dict[tuple[str, str | None, str | None, str | None], SubstanceReading] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # route text -> (contract route, method it states, route class), None when no system reads it (prepare)
    route_readings: dict[str, tuple[str, str | None, str] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # access text -> (comparison key, text as shown), for services (prepare)
    access_readings: dict[str, tuple[str, str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )


@dataclass(frozen=True)
class ReferenceLibrary:
    packs: tuple[ReferencePack, ...]  # oldest first

    def for_date(self, when: date | None) -> ReferencePack:
        """The pack in force on `when`; the oldest pack for an earlier date, the newest when unknown."""
        if when is None:
            return self.packs[-1]
        chosen = self.packs[0]
        for pack in self.packs:
            if pack.effective_from <= when and (pack.effective_to is None or when < pack.effective_to):
                chosen = pack
        return chosen

    @property
    def latest(self) -> ReferencePack:
        return self.packs[-1]


def read_codes(folder: Path) -> CodeTable:
    """The code table of one pack folder."""
    raw = json.loads((folder / "codes.json").read_text())
    codes = {
        code: CodeInfo(
            code=code,
            label=item["label"],
            family=item["family"],
            kind=item["kind"],
            rank=item.get("rank"),
            physician_in_facility=item["physician_in_facility"],
            addon_primaries=tuple(item.get("addon_primaries", ())),
            facility_only=item.get("facility_only", False),
            institutional_only=item.get("institutional_only", False),
            opps_status=item.get("opps_status"),
        )
        for code, item in raw["codes"].items()
    }
    return CodeTable(codes, frozenset(raw["physician_facility_pos"]), dict(raw["chemo_routes"]))


def _read_substances(folder: Path) -> SubstanceTable:
    rows: list[Substance] = []
    aliases: dict[str, str] = {}
    with (folder / "substances.csv").open(newline="") as handle:
        for item in csv.DictReader(handle):
            row = Substance(
                name=item["name"],
                category=item["category"] or None,
                kind=item["class"],
                hormonal=item["hormonal"] == "true",
                hcpcs=item["hcpcs"] or None,
                billing_unit=item["billing_unit"] or None,
                note=item["note"],
                usual_technique=item.get("usual_technique") or None,
                labeled_hydration=item.get("labeled_hydration") == "true",
                cms_check=item.get("cms_check") or "",
            )
            rows.append(row)
            for alias in [row.name, *filter(None, item["synonyms"].split("|"))]:
                key = alias.lower()
                if key in aliases:
                    raise ValueError(
                        f"substances.csv: {alias!r} names both {aliases[key]!r} and {row.name!r}"
                    )
                aliases[key] = row.name
    return SubstanceTable.build(rows, aliases)


def read_routes(folder: Path) -> RouteTable:
    """The route table of one pack folder (routes.csv: term, system, route, method, source)."""
    entries: dict[tuple[str, str], RouteMatch] = {}
    with (folder / "routes.csv").open(newline="") as handle:
        for item in csv.DictReader(handle):
            match = RouteMatch(item["route"] or None, item["method"] or None, item["term"], item["system"])
            key = RouteTable._key(item["term"], item["system"])
            if key in entries:
                raise ValueError(f"routes.csv: {item['term']!r} ({item['system']}) is listed twice")
            entries[key] = match
    return RouteTable(entries)


def read_crosswalk(folder: Path) -> NdcCrosswalk:
    """The reduced CMS ASP NDC-HCPCS crosswalk of one pack folder, when it has one."""
    path = folder / "asp_crosswalk.csv"
    if not path.exists():
        return NdcCrosswalk()
    products: dict[str, list[NdcProduct]] = {}
    with path.open(newline="") as handle:
        for item in csv.DictReader(handle):
            units = item["units_per_package"]
            row = NdcProduct(
                item["ndc11"], item["hcpcs"], item["billing_unit"], float(units) if units else None
            )
            products.setdefault(row.ndc11, []).append(row)
    return NdcCrosswalk({k: tuple(v) for k, v in products.items()})


def _read_policies(folder: Path) -> tuple[dict[str, Policy], dict[str, dict[str, Any]]]:
    raw = json.loads((folder / "policies.json").read_text())
    options: dict[str, dict[str, Any]] = raw["options"]
    profiles: dict[str, Policy] = {}
    pending = dict(raw["profiles"])
    while pending:  # profiles may extend one another; resolve parents first
        progressed = False
        for name, body in list(pending.items()):
            parent = body.get("extends")
            if parent is not None and parent not in profiles:
                continue
            values = dict(profiles[parent].values) if parent else {}
            for option, item in body["values"].items():
                if option not in options:
                    raise ValueError(f"policies.json: profile {name!r} sets unknown option {option!r}")
                values[option] = PolicyValue(item["value"], item["source"])
            missing = sorted(set(options) - set(values))
            if missing:
                raise ValueError(f"policies.json: profile {name!r} leaves {missing} unset")
            profiles[name] = Policy(name, body["description"], values)
            del pending[name]
            progressed = True
        if not progressed:
            raise ValueError(f"policies.json: profiles {sorted(pending)} extend unknown or circular parents")
    return profiles, options


def load_library(data_dir: Path = DATA_DIR) -> ReferenceLibrary:
    """Read every pack listed in the manifest."""
    manifest = json.loads((data_dir / "manifest.json").read_text())
    packs = []
    for entry in manifest["packs"]:
        folder = data_dir / entry["folder"]
        policies, options = _read_policies(folder)
        packs.append(
            ReferencePack(
                version=entry["version"],
                effective_from=date.fromisoformat(entry["effective_from"]),
                effective_to=date.fromisoformat(entry["effective_to"]) if entry["effective_to"] else None,
                codes=read_codes(folder),
                substances=_read_substances(folder),
                policies=policies,
                options=options,
                edits=read_tables(folder / "edits"),
                routes=read_routes(folder),
                crosswalk=read_crosswalk(folder),
                money=read_money(folder),
                revenue_codes=read_revenue_codes(folder / "revenue_codes.csv")
                if (folder / "revenue_codes.csv").exists()
                else RevenueCodes({}),
            )
        )
    packs.sort(key=lambda pack: pack.effective_from)
    return ReferenceLibrary(tuple(packs))
