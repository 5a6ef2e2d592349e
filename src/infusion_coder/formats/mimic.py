"""MIMIC-IV (format "mimic"): hosp/emar + emar_detail + pharmacy + prescriptions + transfers + admissions.

The source is the MIMIC-IV folder (the one holding hosp/; files as .csv.gz or .csv). What it does, and
why, is in docs/import-mimic.md; in short:

- Events: one emar row is one charted event. Started / Restarted / every "Stopped ..." / Rate Change are
  folded by `events.fold` per order (pharmacy_id; poe_id when the row has none, as in the ED); Confirmed
  and other checks are not events; Administered (and its Delayed / Partial / Other Location variants) is a
  single-time administration: start only, the engine's policy decides push vs infusion without a stop.
- Not given (Not Given, Hold Dose, Not Applied, Not Started, zero dose) and flushes are skipped with one
  finding per encounter listing their emar_ids.
- Route: from the pharmacy order only when it is for the same drug; else from emar_detail.route,
  administration_type and the product scanned (tablet -> oral, Insulin SC -> subcutaneous, a vial,
  syringe or bag -> intravenous when the encounter shows an IV line, with a `mimic-route-inferred`
  finding; with no IV line the event is skipped with `mimic-route-unknown`).
- Drug vs diluent: prescriptions rows of the order, MAIN is the drug, BASE the diluent (a BASE-only
  order is a plain fluid).
- Encounters as a hospital bills them: an admission whose admission_type is an observation type is one
  outpatient encounter (its ED visit included), id = hadm_id; an ED visit with no hadm_id is one
  outpatient encounter, id `<subject_id>-ed-<transfer_id>`; emar rows outside any transfer are grouped
  per patient (a gap of more than 24 hours starts a new group), id `<subject_id>-out-<first emar_seq>`.
  Every other admission (and the ED visit that led to it) belongs to the inpatient claim: marked, and
  emitted only with `include_inpatient`.
- icu/inputevents is not read: every ICU stay in MIMIC belongs to a hospital admission the emar also
  charts (reading both would count doses twice), and ICU care is inpatient.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..reference import ReferencePack
from . import ImportOptions, Source, error_record
from .events import Action, Event, Segment, fold

# event_txt -> action; anything starting with "Stopped" is a stop (matched below).
_ACTIONS: dict[str, Action | str] = {
    "administered": Action.GIVEN,
    "delayed administered": Action.GIVEN,
    "partial administered": Action.GIVEN,
    "administered in other location": Action.GIVEN,
    "administered bolus from iv drip": Action.GIVEN,
    "applied": Action.GIVEN,
    "applied in other location": Action.GIVEN,
    "removed existing / applied new": Action.GIVEN,
    "started": Action.START,
    "delayed started": Action.START,
    "started in other location": Action.START,
    "restarted": Action.RESTART,
    "delayed restarted": Action.RESTART,
    "paused": Action.PAUSE,
    "rate change": Action.RATE_CHANGE,
    "delayed stopped": Action.STOP,
    "not given": Action.NOT_GIVEN,
    "not given per sliding scale": Action.NOT_GIVEN,
    "hold dose": Action.NOT_GIVEN,
    "not applied": Action.NOT_GIVEN,
    "not started": Action.NOT_GIVEN,
    "flushed": "flush",
    "delayed flushed": "flush",
    "flushed in other location": "flush",
    "not flushed": "flush",
}
_CHECKS = (
    "confirmed",
    "delayed confirmed",
    "confirmed in other location",
    "not confirmed",
    "not stopped",
    "assessed",
    "not assessed",
    "delayed assessed",
    "infusion reconciliation",
    "infusion reconciliation not done",
    "removed",
    "not removed",
    "read",
)

OBSERVATION_TYPES = (
    "OBSERVATION",
)  # admission_type containing it: EU / DIRECT / AMBULATORY OBSERVATION, ...
ICU_WORDS = ("Intensive Care", "ICU")
ED_GRACE = timedelta(hours=2)  # drugs charted just after the ED out-time still belong to the visit
GROUP_GAP = timedelta(hours=24)
# Routes with drug-administration codes; others (oral, enteral, patch, ...) are summarised in one finding.
CODED_ROUTES = ("intravenous", "intra-arterial", "subcutaneous", "intramuscular")

_ORAL_UNITS = {"tab", "cap", "half tab", "udcup", "ml udcup", "pkt", "btl", "loz", "waf", "stck", "tube"}
_INJECTABLE_UNITS = {"vial", "syr", "syringe", "amp", "bag", "cadd"}
_BOLUS_TYPES = ("Heparin IV Bolus", "Bolus Dose from IV Drip")
_IV_PHARMACY = {"iv": None, "iv drip": "infusion", "iv bolus": "push", "ivpca": "infusion"}
_NOT_IV_WORDS = re.compile(
    r"\b(ophth|otic|oral|liquid|syrup|susp|enema|cream|ointment|gel|nasal|inhal|neb)\b", re.I
)
_BAG_WORDS = re.compile(r"\bbag\b|/\s*\d+\s*ml\b|\bpremix", re.I)
_INJECT_WORDS = re.compile(r"\b(vial|syringe|inj|injection|carpuject|amp|ampule)\b", re.I)


def _read_table(folder: Path, name: str) -> list[dict[str, str]]:
    for path in (folder / f"{name}.csv.gz", folder / f"{name}.csv"):
        if path.exists():
            raw = path.read_bytes()
            text = gzip.decompress(raw).decode("utf-8") if path.suffix == ".gz" else raw.decode("utf-8")
            return list(csv.DictReader(io.StringIO(text, newline="")))
    raise FileNotFoundError(f"{folder.name}/{name}.csv(.gz)")


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _iso(time: datetime) -> str:
    return time.isoformat(timespec="seconds" if time.second else "minutes")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _same_drug(a: str, b: str) -> bool:
    """Same drug by the first word of the name (MIMIC writes "CefePIME" and "Cefepime", salts differ)."""
    first = [re.split(r"[^a-z0-9]+", x.lower().strip()) for x in (a, b)]
    return bool(first[0] and first[1] and first[0][0] and first[0][0] == first[1][0])


@dataclass
class Stay:
    """An encounter as the hospital bills it."""

    id: str
    kind: str  # ed-only, ed+observation, observation, outside-transfers, inpatient
    subject_id: str
    inpatient: bool
    rows: list[dict[str, str]] = field(default_factory=list)
    icu: bool = False


@dataclass
class Built:
    """One imported encounter with what the report needs beyond the contract record."""

    stay: Stay
    record: dict[str, Any]
    given_iv: dict[str, str | None]  # emar_id of a given IV event -> administration id (None: skipped)


@dataclass
class MimicImport:
    encounters: list[Built]
    errors: list[dict[str, Any]]


def read(sources: Sequence[Source], options: ImportOptions, pack: ReferencePack) -> Iterator[dict[str, Any]]:
    for source in sources:
        if source.path is None or not source.path.is_dir():
            yield error_record(None, f"{source.name}: mimic reads a MIMIC-IV folder (with hosp/)", "path")
            continue
        loaded = load(source.path, options, pack)
        yield from loaded.errors
        for built in loaded.encounters:
            if built.stay.inpatient and not options.include_inpatient:
                continue
            yield built.record


def load(folder: Path, options: ImportOptions, pack: ReferencePack) -> MimicImport:
    """Every stay of the folder, inpatient ones included (marked), with the accounting of IV events."""
    hosp = folder / "hosp" if (folder / "hosp").is_dir() else folder
    try:
        emar = _read_table(hosp, "emar")
        detail_rows = _read_table(hosp, "emar_detail")
        pharmacy_rows = _read_table(hosp, "pharmacy")
        prescriptions = _read_table(hosp, "prescriptions")
        transfers = _read_table(hosp, "transfers")
        admissions = _read_table(hosp, "admissions")
    except (FileNotFoundError, OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        return MimicImport([], [error_record(None, f"{folder.name}: cannot read {exc}", "path")])
    parents: dict[str, dict[str, str]] = {}
    products: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in detail_rows:
        if row.get("parent_field_ordinal"):
            products[row["emar_id"]].append(row)
        else:
            parents[row["emar_id"]] = row
    pharmacy = {row["pharmacy_id"]: row for row in pharmacy_rows if row.get("pharmacy_id")}
    drugs: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in prescriptions:
        if row.get("pharmacy_id"):
            drugs[row["pharmacy_id"]][row.get("drug_type", "")].append(row.get("drug", ""))
    stays = _stays(emar, transfers, admissions)
    context = _Context(parents, products, pharmacy, drugs, pack)
    built = [_build(stay, context, options) for stay in stays]
    return MimicImport(built, [])


def _stays(
    emar: list[dict[str, str]], transfers: list[dict[str, str]], admissions: list[dict[str, str]]
) -> list[Stay]:
    admission_type = {row["hadm_id"]: row.get("admission_type", "") for row in admissions}
    by_subject: dict[str, list[dict[str, str]]] = defaultdict(list)
    ed_hadm: set[str] = set()
    icu_hadm: set[str] = set()
    for row in transfers:
        if row.get("eventtype") == "discharge":
            continue
        by_subject[row["subject_id"]].append(row)
        if row.get("hadm_id") and row.get("eventtype") == "ED":
            ed_hadm.add(row["hadm_id"])
        if row.get("hadm_id") and any(w in row.get("careunit", "") for w in ICU_WORDS):
            icu_hadm.add(row["hadm_id"])
    stays: dict[str, Stay] = {}

    def admission_stay(hadm_id: str, subject_id: str) -> Stay:
        if hadm_id not in stays:
            observation = any(w in admission_type.get(hadm_id, "") for w in OBSERVATION_TYPES)
            icu = hadm_id in icu_hadm
            kind = "inpatient"
            if observation and icu:
                # ICU care under observation status does not happen on a real claim: the stay became inpatient
                kind = "observation-with-icu"
            elif observation:
                kind = "ed+observation" if hadm_id in ed_hadm else "observation"
            stays[hadm_id] = Stay(hadm_id, kind, subject_id, kind not in OUTPATIENT_STAY_KINDS, icu=icu)
        return stays[hadm_id]

    loose: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in emar:
        subject_id = row["subject_id"]
        if row.get("hadm_id"):
            admission_stay(row["hadm_id"], subject_id).rows.append(row)
            continue
        time = _time(row.get("charttime", ""))
        stay = None
        if time is not None:
            for transfer in by_subject[subject_id]:
                start, end = _time(transfer.get("intime", "")), _time(transfer.get("outtime", ""))
                if start is None or time < start or time > (end or start) + ED_GRACE:
                    continue
                if transfer.get("hadm_id"):
                    stay = admission_stay(transfer["hadm_id"], subject_id)
                elif transfer.get("eventtype") == "ED":
                    key = f"{subject_id}-ed-{transfer['transfer_id']}"
                    stay = stays.setdefault(key, Stay(key, "ed-only", subject_id, False))
                if stay is not None:
                    break
        if stay is not None:
            stay.rows.append(row)
        else:
            loose[subject_id].append(row)
    for subject_id, rows in loose.items():
        rows.sort(key=lambda r: (r.get("charttime", ""), int(r.get("emar_seq") or 0)))
        current: Stay | None = None
        last: datetime | None = None
        for row in rows:
            time = _time(row.get("charttime", ""))
            if current is None or time is None or last is None or time - last > GROUP_GAP:
                key = f"{subject_id}-out-{row.get('emar_seq') or row['emar_id']}"
                current = stays.setdefault(key, Stay(key, "outside-transfers", subject_id, False))
            current.rows.append(row)
            last = time or last
    ordered = list(stays.values())
    ordered.sort(key=lambda s: (s.subject_id, min((r.get("charttime", "") for r in s.rows), default="")))
    return ordered


@dataclass
class _Context:
    parents: dict[str, dict[str, str]]
    products: dict[str, list[dict[str, str]]]
    pharmacy: dict[str, dict[str, str]]
    drugs: dict[str, dict[str, list[str]]]
    pack: ReferencePack


@dataclass
class _Route:
    route: str | None  # None: unknown
    method: str | None
    inferred: bool  # from the product, not from an order or charted route


def _event_action(text: str) -> Action | str | None:
    word = " ".join(text.split()).lower()
    if word.startswith("stopped"):
        return Action.STOP
    if word in _CHECKS:
        return Action.CHECK
    return _ACTIONS.get(word)


def _substance(row: dict[str, str], ctx: _Context) -> str | None:
    """The drug: emar.medication, else the order's MAIN drug, else its BASE (a plain fluid), else the product."""
    order = ctx.drugs.get(row.get("pharmacy_id", ""), {})
    main = [d for d in order.get("MAIN", []) if d]
    base = [d for d in order.get("BASE", []) if d and d.lower() not in ("bag", "syringe", "syringe (chemo)")]
    if row.get("medication", "").strip():
        return row["medication"].strip()
    if main:
        return " + ".join(main)
    if base:
        return base[0]
    described = [p.get("product_description", "").strip() for p in ctx.products.get(row["emar_id"], [])]
    return next((d for d in described if d), None)


def _route(row: dict[str, str], ctx: _Context, iv_line: bool) -> _Route:
    parent = ctx.parents.get(row["emar_id"], {})
    admin_type = parent.get("administration_type", "")
    order = ctx.pharmacy.get(row.get("pharmacy_id", ""))
    medication = row.get("medication", "")
    if order is not None and (not medication or _same_drug(medication, order.get("medication", ""))):
        text = order.get("route", "").strip()
        key = text.lower()
        if key in _IV_PHARMACY:
            method = _IV_PHARMACY[key]
            proc, infusion = order.get("proc_type", ""), order.get("infusion_type", "")
            if method is None:
                if proc in ("IV Piggyback", "IV Large Volume", "TPN") or infusion in ("C", "B"):
                    method = "infusion"
                elif proc == "Unit Dose":
                    method = "push"
            return _Route("intravenous", method, False)
        if text:
            match = ctx.pack.routes.resolve(text)
            if match is not None and match.route:
                return _Route(match.route, match.method, False)
    charted = parent.get("route", "").strip()
    if charted:
        match = ctx.pack.routes.resolve(charted)
        if match is not None and match.route:
            return _Route(match.route, match.method, False)
    lowered = admin_type.lower()
    if "insulin sc" in lowered:
        return _Route("subcutaneous", "injection", False)
    if "transdermal" in lowered:
        return _Route("transdermal", None, False)
    if "epidural" in lowered:
        return _Route("epidural", None, False)
    if lowered in ("heparin iv bolus", "bolus dose from iv drip"):
        return _Route("intravenous", "push", False)
    if any(w in lowered for w in ("iv infusion", "iv drip", "medication infusion", "tpn", "iv fluid", "pca")):
        return _Route("intravenous", "infusion", False)
    if lowered == "ppd test":
        return _Route("intradermal", None, False)
    units = {p.get("product_unit", "").strip().lower() for p in ctx.products.get(row["emar_id"], [])}
    described = " ".join(p.get("product_description", "") for p in ctx.products.get(row["emar_id"], []))
    if units & _ORAL_UNITS:
        return _Route("oral", None, True)
    if "ptch" in units or "patch" in units:
        return _Route("transdermal", None, True)
    if "neb" in units:
        return _Route("inhalation", None, True)
    if "supp" in units:
        return _Route("rectal", None, True)
    if _NOT_IV_WORDS.search(medication) or _NOT_IV_WORDS.search(described):
        return _Route(None, None, True)
    bag = "bag" in units or bool(_BAG_WORDS.search(described))
    if bag:
        return _Route("intravenous", "infusion", True)  # a bag is hung on an IV line, nothing else
    # a vial, syringe or a dose drawn up in mL (morphine "mL", no description) needs an IV line shown
    injectable = bool(units & (_INJECTABLE_UNITS | {"ml"})) or bool(_INJECT_WORDS.search(described))
    if injectable and iv_line:
        return _Route("intravenous", "push", True)
    return _Route(None, None, True)


def _has_iv_line(stay: Stay, ctx: _Context) -> bool:
    """The encounter shows an IV line: a flush, an IV infusion, a bag or an IV order charted in it."""
    for row in stay.rows:
        admin_type = ctx.parents.get(row["emar_id"], {}).get("administration_type", "")
        if admin_type in ("IV Flush", "IV Infusion", "Medication Infusion", "Heparin IV Infusion"):
            return True
        for product in ctx.products.get(row["emar_id"], []):
            if product.get("product_unit", "").lower() == "bag" or _BAG_WORDS.search(
                product.get("product_description", "")
            ):
                return True
        order = ctx.pharmacy.get(row.get("pharmacy_id", ""))
        if order is not None and order.get("route", "").lower() in _IV_PHARMACY:
            return True
    return False


def _dose(row: dict[str, str], ctx: _Context) -> tuple[float | None, str | None]:
    given = [
        (_number(p.get("dose_given", "")), p.get("dose_given_unit", ""))
        for p in ctx.products.get(row["emar_id"], [])
    ]
    values = [(v, u) for v, u in given if v is not None]
    if values:
        return sum(v for v, _ in values), values[0][1] or None
    parent = ctx.parents.get(row["emar_id"], {})
    return _number(parent.get("dose_due", "")), parent.get("dose_due_unit") or None


def _skip_finding(kind: str, severity: str, what: str, ids: list[str]) -> dict[str, Any]:
    return {
        "id": f"mimic-{kind}",
        "severity": severity,
        "administrations": [],
        "message": f"{len(ids)} emar event(s) {what}: not imported",
        "source": "emar_id " + ", ".join(ids),
    }


def _build(stay: Stay, ctx: _Context, options: ImportOptions) -> Built:
    iv_line = _has_iv_line(stay, ctx)
    findings: list[dict[str, Any]] = []
    skipped: dict[str, list[str]] = defaultdict(list)
    events: list[Event] = []
    routes: dict[str, _Route] = {}
    for row in stay.rows:
        emar_id = row["emar_id"]
        time = _time(row.get("charttime", ""))
        action = _event_action(row.get("event_txt", ""))
        if action is None and row.get("event_txt", "").strip() in ("", "in Other Location", "Delayed"):
            # no event text: a dose scanned and given (the eMAR leaves it empty on some piggybacks)
            dose, _ = _dose(row, ctx)
            action = Action.GIVEN if dose else "unknown"
        if action is None or action == "unknown":
            skipped["unknown-event"].append(emar_id)
            continue
        if action == "flush" or ctx.parents.get(emar_id, {}).get("administration_type") == "IV Flush":
            skipped["flush"].append(emar_id)
            continue
        if action is Action.CHECK:
            continue
        if action is Action.NOT_GIVEN:
            skipped["not-given"].append(emar_id)
            continue
        if time is None:
            skipped["no-time"].append(emar_id)
            continue
        dose, unit = _dose(row, ctx)
        if action in (Action.GIVEN, Action.START) and dose == 0:
            skipped["zero-dose"].append(emar_id)
            continue
        assert isinstance(action, Action)
        key = row.get("pharmacy_id") or row.get("poe_id") or emar_id
        route = _route(row, ctx, iv_line)
        parent = ctx.parents.get(emar_id, {})
        bolus = (
            "bolus" in row.get("event_txt", "").lower() or parent.get("administration_type") in _BOLUS_TYPES
        )
        if route.route == "intravenous" and bolus:
            route = _Route(route.route, "push", route.inferred)  # a bolus off a drip order is a push
        routes[emar_id] = route
        rate = _number(parent.get("infusion_rate", ""))
        rate_ml = rate if rate and parent.get("infusion_rate_unit", "").lower() == "ml/hr" else None
        payload: dict[str, Any] = {
            "emar_id": emar_id,
            "substance": _substance(row, ctx),
            "dose": dose if dose and dose > 0 else None,
            "dose_unit": unit if dose and dose > 0 else None,
            "rate_ml_per_hour": rate_ml,
        }
        events.append(Event(key, action, time, f"emar_id {emar_id}", payload))
    result = fold(events)
    administrations: list[dict[str, Any]] = []
    admin_of: dict[str, str | None] = {}
    inferred: list[str] = []
    made: dict[int, str] = {}
    for segment in result.segments:
        built = _administration(segment, routes)
        if built is not None and built["route"] not in CODED_ROUTES:
            skipped["route-not-coded"].append(segment.opening.payload["emar_id"])
            for event in segment.events:
                admin_of[event.payload["emar_id"]] = None
            continue
        if built is None:
            skipped["route-unknown"].append(segment.opening.payload["emar_id"])
            for event in segment.events:
                admin_of[event.payload["emar_id"]] = None
            continue
        if routes[segment.opening.payload["emar_id"]].inferred and built["route"] == "intravenous":
            inferred.append(built["id"])
        administrations.append(built)
        made[id(segment)] = built["id"]
        for event in segment.events:
            admin_of[event.payload["emar_id"]] = built["id"]
    for problem in result.problems:
        ids = (
            [made[id(problem.segment)]] if problem.segment is not None and id(problem.segment) in made else []
        )
        findings.append(
            {
                "id": f"mimic-{problem.kind}",
                "severity": problem.severity,
                "administrations": ids,
                "message": f"order {problem.key}: {problem.message}",
                "source": ", ".join(problem.refs),
            }
        )
    if inferred:
        findings.append(
            {
                "id": "mimic-route-inferred",
                "severity": "warning",
                "administrations": inferred,
                "message": "route not charted: intravenous inferred from the product (vial, syringe or bag) "
                "and an IV line in the encounter; confirm in the chart",
                "source": "emar_id " + ", ".join(inferred),
            }
        )
    labels = {
        "not-given": ("info", "charted as not given (Not Given, Hold Dose, Not Applied, Not Started)"),
        "flush": ("info", "are flushes (never separately coded)"),
        "zero-dose": ("info", "charted with a zero dose"),
        "unknown-event": ("warning", "have an event text the importer does not know"),
        "no-time": ("warning", "have no chart time"),
        "route-not-coded": (
            "info",
            "were given by a route with no drug-administration code (oral, enteral, topical, ...)",
        ),
        "route-unknown": (
            "warning",
            "have no route in the record and none could be inferred "
            "(no injectable product, or no IV line in the encounter)",
        ),
    }
    for kind, ids in skipped.items():
        severity, what = labels[kind]
        findings.append(_skip_finding(kind, severity, what, ids))
    findings.insert(0, _kind_finding(stay))
    record: dict[str, Any] = {
        "encounter_id": stay.id,
        "claim_type": options.claim_type,
        "administrations": administrations,
        "source_findings": findings,
    }
    if options.place_of_service:
        record["place_of_service"] = options.place_of_service
    if options.policy:
        record["policy"] = options.policy
    if options.timezone:
        record["timezone"] = options.timezone
    given_iv = {
        row["emar_id"]: admin_of.get(row["emar_id"])
        for row in stay.rows
        if _event_action(row.get("event_txt", "")) in (Action.GIVEN, Action.START)
        and row["emar_id"] in routes
        and routes[row["emar_id"]].route == "intravenous"
    }
    return Built(stay, record, given_iv)


_KIND_TEXT = {
    "ed-only": "ED visit not admitted: one outpatient encounter (id from the ED transfer)",
    "ed+observation": "ED visit and the observation stay it led to: one outpatient encounter",
    "observation": "observation stay (direct or ambulatory): one outpatient encounter",
    "outside-transfers": "charted outside every stay in transfers (outpatient or after-discharge care): "
    "events less than 24 hours apart grouped as one encounter",
    "inpatient": "inpatient admission (with the ED visit that led to it): these services belong to the "
    "inpatient claim, which does not carry drug-administration CPT lines",
    "observation-with-icu": "observation admission with an ICU transfer: treated as inpatient (ICU care is "
    "inpatient care), so it belongs to the inpatient claim; check the claim type",
}
OUTPATIENT_STAY_KINDS = frozenset({"ed-only", "ed+observation", "observation", "outside-transfers"})


def _kind_finding(stay: Stay) -> dict[str, Any]:
    return {
        "id": f"mimic-encounter-{stay.kind}",
        "severity": "info",
        "administrations": [],
        "message": _KIND_TEXT[stay.kind],
        "source": f"subject_id {stay.subject_id}",
    }


def _administration(segment: Segment, routes: dict[str, _Route]) -> dict[str, Any] | None:
    opening = segment.opening.payload
    route = routes[opening["emar_id"]]
    payload = segment.payload()
    if route.route is None or not payload.get("substance"):
        return None
    administration: dict[str, Any] = {
        "id": opening["emar_id"],
        "substance": payload["substance"],
        "route": route.route,
        "start": _iso(segment.start),
    }
    method = route.method
    if not segment.single and route.route == "intravenous":
        method = "infusion"  # charted Started ... Stopped: a bag hung
    if method:
        administration["method"] = method
    if segment.end is not None:
        administration["end"] = _iso(segment.end)
    if stretches := segment.contract_segments(_iso):
        administration["segments"] = stretches  # paused and restarted: one administration (events.fold)
    if segment.rates:
        administration["rate_ml_per_hour"] = segment.rates[0]
    for name in ("dose", "dose_unit"):
        if payload.get(name) is not None:
            administration[name] = payload[name]
    if (
        route.route == "intravenous"
        and str(payload.get("dose_unit", "")).lower() == "ml"
        and payload.get("dose")
    ):
        administration["volume_ml"] = payload["dose"]  # a fluid charted by volume
    return administration
