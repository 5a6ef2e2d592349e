"""The route of a MIMIC-IV emar event from the evidence the folder holds, with its strength.

MIMIC's emar never charts "IV": the route of an IV dose is on its pharmacy order, and 96% of ED rows have
no pharmacy order. A coder reading such a row looks at what was scanned (a vial, a bag, a tablet) and
knows how this hospital gives the drug. This module does the same, in this order, and says what it
rested on:

1. **Charted** (no finding): the pharmacy order of the same drug (IV / IV DRIP / IV BOLUS / IVPCA with
   its proc_type; PO, SC, IM, TP, ...), emar_detail.route (PO, NG, SC, IM), the MAR's administration
   type (Insulin SC, IV Infusion, Medication Infusion, Heparin IV Bolus, PCA, ...), or another event of
   the same order (poe_id) that carries one of these.
2. **Not coded** forms: tablets, capsules, cups, eye drops, creams, inhalers, nasal sprays, patches,
   suppositories, by the product's unit or the drug's name, or the drug's orders here all by such routes.
3. **Inferred** (`route-inferred` warning): a bag (only an IV line takes one); an injectable (vial,
   syringe, ampule, a dose drawn up in mL) or a drug named with no product, whose orders in this folder
   settle the route (at least `SETTLED_SHARE` of at least `SETTLED_ORDERS` orders by one parenteral route:
   "Ondansetron: IV in 158 of 158 orders here"); or an IV infusion running at the time of the dose when
   IV is the drug's most frequent route here (or it has no orders here).
4. **Uncertain** (`route-uncertain` error, holds the encounter): an injectable whose orders do not settle
   it (Ketorolac: IV 31, IM 15): imported by its most frequent route, with both candidate codes named.
5. **Unknown**: a named drug with nothing scanned and no orders here: not imported, an error names it.

A bag charted later in the encounter is not evidence for an earlier push (only an infusion running at
the time of the dose is).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ..reference import ReferencePack

SETTLED_SHARE = 0.9  # share of a drug's parenteral orders by one route that settles an uncharted route
SETTLED_ORDERS = 3  # ... among at least this many orders

CODED_ROUTES = ("intravenous", "intra-arterial", "subcutaneous", "intramuscular")
PARENTERAL = ("intravenous", "intramuscular", "subcutaneous")
_SHORT = {"intravenous": "IV", "intramuscular": "IM", "subcutaneous": "SC"}

# pharmacy.route values the shared route table does not hold (MIMIC's own abbreviations)
_PHARMACY_EXTRA = {"nu": "nasal", "subcut": "subcutaneous", "oral": "oral", "ij": "catheter dwell"}
_IV_PHARMACY = {"iv": None, "iv drip": "infusion", "iv bolus": "push", "ivpca": "infusion"}
_INFUSED_PROC = ("IV Piggyback", "IV Large Volume", "TPN")

_ORAL_UNITS = {"tab", "half tab", "cap", "udcup", "ml udcup", "pkt", "btl", "loz", "waf", "stck", "tube"}
_DOSE_UNIT_ROUTES = {
    "tab": "oral",
    "cap": "oral",
    "loz": "oral",
    "waf": "oral",
    "pkt": "oral",
    "appl": "topical",
    "drop": "ophthalmic",
    "puff": "inhalation",
    "inh": "inhalation",
    "neb": "inhalation",
    "spry": "nasal",
    "ptch": "transdermal",
    "supp": "rectal",
    "enema": "rectal",
}
_PRODUCT_UNIT_ROUTES = {"ptch": "transdermal", "patch": "transdermal", "neb": "inhalation", "supp": "rectal"}
_INJECTABLE_UNITS = {"vial", "syr", "syringe", "amp", "cadd", "ml"}
# words of a name or product description that say the route (checked in this order)
_NAME_ROUTES = (
    (
        re.compile(r"\b(oral|elixir|syrup|susp(ension)?|liquid|tab(let)?s?|caps?(ule)?s?|chewable|odt)\b"),
        "oral",
    ),
    (re.compile(r"\b(ophth|ophthalmic|eye|artificial tears?)\b"), "ophthalmic"),
    (re.compile(r"\b(otic|ear)\b"), "otic"),
    (re.compile(r"\b(nasal|intranasal)\b"), "nasal"),
    (re.compile(r"\b(inhaler|mdi|diskus|neb|inh|inhalation|hfa|respimat|handihaler)\b"), "inhalation"),
    (re.compile(r"\b(patch|transdermal)\b"), "transdermal"),
    (re.compile(r"\b(suppository|supp|enema|rectal)\b"), "rectal"),
    (
        re.compile(
            r"\b(cream|ointment|oint|lotion|gel|jelly|topical|powder|shampoo|wash|rinse|mouthwash|paste)\b"
        ),
        "topical",
    ),
)
_BAG = re.compile(r"\bbag\b|/\s*\d+\s*ml\b|\bpremix", re.I)
_INJECT = re.compile(r"\b(vial|syringe|inj|injection|carpuject|amp|ampule|ampul)\b", re.I)
_IV_INFUSION_TYPES = ("iv infusion", "iv drip", "medication infusion", "tpn", "iv fluid", "pca")


@dataclass(frozen=True)
class Call:
    """A route decision: the contract route and method, how strong it is, and what it rests on."""

    route: str | None  # None: unknown
    method: str | None
    strength: str  # charted | inferred | uncertain | unknown
    evidence: str  # for the finding, e.g. "Morphine Sulfate: IV in 108 of 108 orders here"
    candidates: tuple[str, ...] = ()  # uncertain: the routes it could be (most frequent first)


def normal_name(name: str) -> str:
    return " ".join(name.lower().split())


def first_word(name: str) -> str:
    words = re.split(r"[^a-z0-9]+", name.lower().strip())
    return next((w for w in words if w), "")


def same_drug(a: str, b: str) -> bool:
    """Same drug by the first word of the name (MIMIC writes "CefePIME" and "Cefepime", salts differ)."""
    first = first_word(a)
    return bool(first) and first == first_word(b)


def pharmacy_route(order: dict[str, str], pack: ReferencePack) -> tuple[str, str | None] | None:
    """(route, method) of a pharmacy order, or None when its route says nothing we know."""
    text = order.get("route", "").strip()
    key = text.lower()
    if key in _IV_PHARMACY:
        method = _IV_PHARMACY[key]
        proc, infusion = order.get("proc_type", ""), order.get("infusion_type", "")
        if method is None:
            if proc in _INFUSED_PROC or infusion in ("C", "B"):
                method = "infusion"
            elif proc == "Unit Dose":
                method = "push"
        return "intravenous", method
    if not text:
        return None
    if key in _PHARMACY_EXTRA:
        return _PHARMACY_EXTRA[key], None
    match = pack.routes.resolve(text) or pack.routes.resolve(text.upper(), "hl7-0162")
    if match is not None and match.route:
        return match.route, match.method
    return None


class OrderHistory:
    """This folder's own pharmacy orders of each drug name, counted by route: how this hospital gives it."""

    def __init__(self, orders: Iterable[dict[str, str]], pack: ReferencePack) -> None:
        self.by_name: dict[str, Counter[str]] = {}
        self.by_word: dict[str, Counter[str]] = {}
        self.piggyback: Counter[str] = Counter()  # IV orders of a name given as a piggyback
        for order in orders:
            name = normal_name(order.get("medication", ""))
            if not name:
                continue
            found = pharmacy_route(order, pack)
            if found is None:
                continue
            route = found[0]
            self.by_name.setdefault(name, Counter())[route] += 1
            self.by_word.setdefault(first_word(name), Counter())[route] += 1
            # an intermittent piggyback (IV route), not a drip that pharmacy also makes up as a piggyback
            if order.get("route", "").strip().lower() == "iv" and order.get("proc_type") == "IV Piggyback":
                self.piggyback[name] += 1
                self.piggyback[first_word(name)] += 1

    def counts(self, *names: str) -> tuple[Counter[str], str]:
        """Orders of the drug by route, and the name they were counted under: the first of `names` (the
        charted medication, then the product's other description) with orders under its exact name, else
        under its first word (every product of the drug)."""
        for name in names:
            if normal_name(name) in self.by_name:
                return self.by_name[normal_name(name)], name.strip()
        for name in names:
            word = first_word(name)
            if word and word in self.by_word:
                return self.by_word[word], f"{word} (any product)"
        return Counter(), names[0].strip() if names else ""

    def iv_method(self, name: str) -> str:
        """push (a dose drawn up from a vial or syringe, as a Unit Dose order), unless most of the drug's
        IV orders here are piggybacks (a vial made up into a small bag)."""
        counts, counted_as = self.counts(name)
        key = normal_name(counted_as.removesuffix(" (any product)"))
        return (
            "infusion"
            if counts["intravenous"] and self.piggyback[key] * 2 > counts["intravenous"]
            else "push"
        )


def describe_counts(counts: Counter[str], routes: Iterable[str]) -> str:
    """ "IV in 31, IM in 15 of 46 orders" """
    chosen = [(r, counts[r]) for r in routes if counts[r]]
    total = sum(n for _, n in chosen)
    chosen.sort(key=lambda item: -item[1])
    parts = [f"{_SHORT.get(r, r)} in {n}" for r, n in chosen]
    return f"{', '.join(parts)} of {total} order{'s' if total != 1 else ''} here"


def form_of(medication: str, products: list[dict[str, str]], dose_unit: str) -> tuple[str, str]:
    """What the product scanned says: (form, words for the finding). form is a route name for forms
    that say it (oral, ophthalmic, topical, ...), "bag", "injectable" or "none"."""
    units = frozenset(p.get("product_unit", "").strip().lower() for p in products) - {""}
    texts = [
        (p.get("product_description", "") or p.get("product_description_other", "")).strip() for p in products
    ]
    described = " ".join(dict.fromkeys(t for t in texts if t.strip("_ "))).strip()  # "___" is MIMIC's mask
    return _form(medication, units, described, dose_unit.strip().lower())


@functools.lru_cache(maxsize=4096)  # a folder scans the same few hundred products over and over
def _form(medication: str, units: frozenset[str], described: str, unit: str) -> tuple[str, str]:
    text = f"{medication} {described}".lower()
    for unit in sorted(units):
        if unit in _PRODUCT_UNIT_ROUTES:
            return _PRODUCT_UNIT_ROUTES[unit], f"product unit {unit.upper()}"
    if units & _ORAL_UNITS and not units & {"vial", "amp", "bag"}:
        return "oral", f"product unit {sorted(units & _ORAL_UNITS)[0].upper()}"
    if unit in _DOSE_UNIT_ROUTES:
        return _DOSE_UNIT_ROUTES[unit], f"dose in {unit.upper()}"
    for pattern, route in _NAME_ROUTES:
        if pattern.search(text):
            return route, "the name of the product"
    if "bag" in units or _BAG.search(described):
        return "bag", f"a bag ({described[:50]})" if described else "a bag"
    if units & _INJECTABLE_UNITS or _INJECT.search(described):
        shown = described[:50] or sorted(units & _INJECTABLE_UNITS)[0].upper()
        return "injectable", f"an injectable ({shown})"
    return "none", "nothing scanned"


def administration_type_route(admin_type: str) -> tuple[str, str | None] | None:
    """The MAR's own form for the event (emar_detail.administration_type), when it says the route."""
    lowered = admin_type.lower()
    if "insulin sc" in lowered:
        return "subcutaneous", "injection"
    if "transdermal" in lowered:
        return "transdermal", None
    if "epidural" in lowered:
        return "epidural", None
    if lowered in ("heparin iv bolus", "bolus dose from iv drip"):
        return "intravenous", "push"
    if any(w in lowered for w in _IV_INFUSION_TYPES):
        return "intravenous", "infusion"
    if lowered == "ppd test":
        return "intradermal", None
    return None


def settle(
    names: tuple[str, ...],
    form: str,
    form_words: str,
    history: OrderHistory,
    running: str | None,
) -> Call:
    """Route of an uncharted dose from its form ("bag", "injectable" or "none"), the orders here of its
    `names` (the charted medication first) and a running infusion (`running`: words naming the IV
    infusion running at the time of the dose, if any)."""
    medication = names[0] if names else ""
    if form == "bag":
        return Call("intravenous", "infusion", "inferred", f"{medication or 'fluid'}: {form_words}")
    counts, counted_as = history.counts(*names)
    injectable = form == "injectable"
    # an injectable was given by one of the parenteral routes; a drug with nothing scanned by any
    pool = Counter({r: n for r, n in counts.items() if n and (r in PARENTERAL or not injectable)})
    total = sum(pool.values())
    what = f"{medication}, {form_words}"
    method = (
        history.iv_method(counted_as) if injectable else None
    )  # nothing scanned: the record says no method
    if total:
        ordered = tuple(r for r, _ in pool.most_common())
        top, n = ordered[0], pool[ordered[0]]
        shares = describe_counts(pool, ordered)
        label = f"{counted_as}{' injectable' if injectable else ''}: {shares}"
        if not any(r in CODED_ROUTES for r in ordered):
            return Call(top, None, "inferred", label)  # whichever it was, no code
        if n >= SETTLED_SHARE * total and total >= SETTLED_ORDERS:
            return Call(top, _method(top, method), "inferred", label)
        if injectable and running and pool["intravenous"] == max(pool.values()):
            return Call("intravenous", method, "inferred", f"{what}: {running}; {shares}")
        return Call(top, _method(top, method), "uncertain", f"{what}: {shares}", ordered)
    if not injectable:
        return Call(None, None, "unknown", f"{what}: no orders of it here to infer the route")
    if running:
        return Call("intravenous", "push", "inferred", f"{what}: {running}; no orders of it here")
    return Call(
        "intravenous",
        "push",
        "uncertain",
        f"{what}: no orders of it here and no IV infusion running at the time",
        ("intravenous", "intramuscular"),
    )


def _method(route: str, iv_method: str | None) -> str | None:
    if route == "intravenous":
        return iv_method
    return "injection" if route in PARENTERAL else None
