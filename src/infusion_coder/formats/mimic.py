"""MIMIC-IV (format "mimic"): hosp/emar + emar_detail + pharmacy + prescriptions + transfers + admissions
+ hcpcsevents.

The source is the MIMIC-IV folder (the one holding hosp/; files as .csv.gz or .csv). What it does, and
why, is in docs/import-mimic.md; in short:

- Encounters as the hospital bills them (`_stays`): outpatient only on positive evidence (an ED visit not
  admitted; an observation stay billed with G0378 / 99218-99220 or of an observation admission type, with
  no ICU care; charting outside every stay that does not run over two midnights). Every other admission
  (OBSERVATION ADMIT with no observation HCPCS, ICU or CCU care, EW EMER., URGENT, ...) is inpatient: it
  is written with no administrations and an `inpatient-stay` finding naming the evidence and what was
  left out (`include_inpatient` includes them). A stay the folder cannot class is held the same way with
  a `setting-unknown` error saying what to check.
- Events: one emar row is one charted event, folded by `events.fold` per infusion: its order (poe_id,
  which every emar row carries), joined with the orders its pharmacy dispensing links (`_Links`). Not
  given, flushes, checks (Confirmed), self-administered doses and zero doses are named drops; a row with no
  event text but a scanned dose is imported and holds the encounter.
- Route (`mimic_routes`): charted first (order, emar_detail.route, administration type, another event of
  the order); else the product and this folder's own orders of the drug, with the evidence in a
  `route-inferred` warning, or a `route-uncertain` error naming both candidate codes when it does not
  settle it.
- Damaged files and rows (`mimic_tables`): emar unreadable is one error record; another table degrades
  with a finding on every encounter; a damaged row is an error finding on the encounter it belongs to
  (or an error record when it belongs to none).
- icu/inputevents is not read: every ICU stay in MIMIC belongs to a hospital admission the emar also
  charts (reading both would count doses twice), and ICU care is inpatient.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..reference import ReferencePack
from . import ImportOptions, Source, UnusableInput, error_record
from .events import Action, Event, Fold, Segment, fold
from .mimic_routes import (
    CODED_ROUTES,
    Call,
    OrderHistory,
    administration_type_route,
    form_of,
    pharmacy_route,
    same_drug,
    settle,
)
from .mimic_tables import Damage, Table, read_table

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
_NO_VERB = ("", "in other location", "delayed")  # event text with its verb missing

# Observation billed by the hospital (hcpcsevents): hourly observation and observation E/M visits.
OBSERVATION_HCPCS = frozenset(
    {
        "G0378",
        "G0379",
        "99217",
        "99218",
        "99219",
        "99220",
        "99224",
        "99225",
        "99226",
        "99234",
        "99235",
        "99236",
    }
)
# admission_type values that are the source's own observation class (OBSERVATION ADMIT is not: it is
# billed as an inpatient admission, never with observation HCPCS, median 116 hours in the demo)
OBSERVATION_TYPES = ("EU OBSERVATION", "DIRECT OBSERVATION", "AMBULATORY OBSERVATION")
_ICU = re.compile(r"intensive care|coronary care|\b[a-z/-]*icu\b|\bccu\b", re.I)
ED_GRACE = timedelta(hours=2)  # drugs charted just after the ED out-time still belong to the visit
GROUP_GAP = timedelta(hours=24)
LONG_GROUP_MIDNIGHTS = 2  # charting outside every stay over two midnights: an admission, not a visit
_SELF_ADMINISTERED = "self administering"
UNNAMED_FLUID = "IV fluid (name not charted)"
UNNAMED_VOLUME_ML = 100  # an unnamed dose of at least this many mL is a fluid (a bag), not a drug

_EMAR = (
    ("subject_id", "hadm_id", "emar_id", "charttime", "event_txt", "medication"),
    ("emar_seq", "poe_id", "pharmacy_id"),
)
_IDS = ("subject_id", "hadm_id", "emar_id", "emar_seq", "transfer_id")  # they make encounter ids
_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "emar_detail": (
        ("emar_id",),
        (
            "parent_field_ordinal",
            "administration_type",
            "dose_due",
            "dose_due_unit",
            "dose_given",
            "dose_given_unit",
            "product_unit",
            "product_description",
            "product_description_other",
            "pharmacy_id",
            "infusion_rate",
            "infusion_rate_unit",
            "route",
            "subject_id",
        ),
    ),
    "pharmacy": (
        ("pharmacy_id", "route"),
        ("medication", "proc_type", "infusion_type", "subject_id", "hadm_id"),
    ),
    "prescriptions": (("pharmacy_id", "drug"), ("drug_type", "subject_id", "hadm_id")),
    "transfers": (("subject_id", "hadm_id", "transfer_id", "eventtype", "careunit", "intime", "outtime"), ()),
    "admissions": (("hadm_id", "admission_type"), ("subject_id", "admittime", "dischtime")),
    "hcpcsevents": (("hadm_id", "hcpcs_cd"), ("subject_id",)),
}
# what an unreadable table costs: (severity, consequence)
_DEGRADED = {
    "emar_detail": (
        "error",
        "doses, products, rates and charted routes are not known; check each administration",
    ),
    "pharmacy": (
        "error",
        "routes come from the MAR and the products only, and no order history; check each route",
    ),
    "prescriptions": ("warning", "fluids whose name is only on the order are imported without it"),
    "transfers": ("error", "ED visits and ICU care cannot be told apart; the class of the stay is unclear"),
    "admissions": ("error", "the class of every admission is unclear"),
    "hcpcsevents": (
        "warning",
        "observation is recognised by admission type only (no G0378 / 99218-99220 check)",
    ),
}


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _iso(time: datetime) -> str:
    return time.isoformat(timespec="seconds" if time.second else "minutes")


def _number(text: str | None) -> float | None:
    """A dose, volume or rate: a finite, non-negative number, else not documented ("___" is MIMIC's mask)."""
    try:
        value = float(text) if text else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and 0 <= value < 1e12 else None


def _seq(row: dict[str, str]) -> tuple[int, str]:
    seq = row.get("emar_seq", "")
    return (len(seq), seq)  # numeric order for digit strings, whatever a damaged file holds


@dataclass
class Stay:
    """An encounter as the hospital bills it."""

    id: str
    kind: str  # ed-only, ed+observation, observation, outside-transfers, inpatient
    subject_id: str
    klass: str  # outpatient | inpatient | unclear
    evidence: str  # what the class rests on, for the finding
    rows: list[dict[str, str]] = field(default_factory=list)
    damage: list[str] = field(default_factory=list)  # damaged source rows that belong to it

    @property
    def inpatient(self) -> bool:
        """Not coded unless asked (inpatient, or a class the folder cannot settle)."""
        return self.klass != "outpatient"


@dataclass
class Built:
    """One imported encounter with what the report needs beyond the contract record."""

    stay: Stay
    record: dict[str, Any]
    fate: dict[str, str]  # emar_id -> "admin <id>" or the named drop it went to ("not-given", "check", ...)
    administrations: list[dict[str, Any]]  # built, also when the record leaves them out (inpatient)


@dataclass
class MimicImport:
    encounters: list[Built]
    errors: list[dict[str, Any]]
    rows: int = 0  # emar rows in the folder, damaged ones included
    damaged: list[Damage] = field(default_factory=list)  # emar rows that could not be read
    unusable: bool = False  # the folder gave nothing: no emar table, not its columns, no rows


def read(sources: Sequence[Source], options: ImportOptions, pack: ReferencePack) -> Iterator[dict[str, Any]]:
    """The encounters of each folder. A folder that gives nothing is UnusableInput when it is the first
    (the command stops with exit 2 before writing), and an error record after that (the rest go on)."""
    started = False
    for source in sources:
        if source.path is None or not source.path.is_dir():
            message = f"{source.name}: mimic reads a MIMIC-IV folder (with hosp/)"
            if not started:
                raise UnusableInput(message)
            yield error_record(None, message, "path")
            continue
        try:
            loaded = load(source.path, options, pack, source.name)
        except (MemoryError, RecursionError) as exc:
            started = True
            yield error_record(None, f"{source.name}: too large to read ({type(exc).__name__})", "path")
            continue
        except Exception as exc:  # a defect: the next folder still goes on; the text may quote the data
            started = True
            yield error_record(
                None,
                f"{source.name}: the mimic reader stopped on an internal error ({type(exc).__name__})",
                "path",
            )
            continue
        if loaded.unusable and not started:
            raise UnusableInput(loaded.errors[0]["error"]["message"])
        started = True
        yield from loaded.errors
        for built in loaded.encounters:
            yield built.record


def load(folder: Path, options: ImportOptions, pack: ReferencePack, name: str | None = None) -> MimicImport:
    """Every stay of the folder (inpatient ones with their administrations in `Built.administrations`,
    and in the record only with `include_inpatient`), with the fate of every emar row."""
    hosp = folder / "hosp" if (folder / "hosp").is_dir() else folder
    name = name or folder.name
    emar = read_table(hosp, "emar", *_EMAR, ids=_IDS)
    if not emar.usable:
        problem = error_record(None, f"{name}: {emar.problem}; nothing was imported", "path")
        return MimicImport([], [problem], unusable=True)
    if not emar.rows and not emar.damage:
        empty = error_record(None, f"{name}: {emar.file} has no rows: nothing to import", "path")
        return MimicImport([], [empty], unusable=True)
    tables = {name: read_table(hosp, name, *columns, ids=_IDS) for name, columns in _TABLES.items()}
    ctx = _Context.build(emar, tables, pack)
    stays, unplaced = _stays(emar.rows, ctx)
    errors = [
        error_record(
            None,
            f"{emar.file} line {row['_line']}: emar_id {row['emar_id'][:40]} has no chart time and "
            "no admission, so it belongs to no encounter; it was not imported",
            "charttime",
        )
        for row in unplaced
    ]
    errors += _place_damage(stays, emar, tables)
    notes = _table_notes(emar, tables)
    built = [_build(stay, ctx, options, notes) for stay in stays]
    return MimicImport(built, errors, len(emar.rows) + len(emar.damage), emar.damage)


def _table_notes(emar: Table, tables: dict[str, Table]) -> list[dict[str, Any]]:
    """One finding per table the import had to do without (or read without a column it uses)."""
    notes: list[dict[str, Any]] = []
    for table in [emar, *tables.values()]:
        if not table.usable:
            severity, consequence = _DEGRADED[table.name]
            notes.append(_finding("mimic-table-unreadable", severity, f"{table.problem}: {consequence}"))
        elif table.missing and table.name != "hcpcsevents":
            used = [c for c in table.missing if c not in ("subject_id", "hadm_id")]
            if used:
                notes.append(
                    _finding(
                        "mimic-column-missing",
                        "warning",
                        f"{table.file} has no column {', '.join(repr(c) for c in used)}: read as empty",
                    )
                )
    return notes


def _place_damage(stays: list[Stay], emar: Table, tables: dict[str, Table]) -> list[dict[str, Any]]:
    """Each damaged row goes to the encounter it belongs to (by emar_id, hadm_id or pharmacy_id), as an
    error finding; a row that belongs to none is an error record."""
    by_emar = {row["emar_id"]: stay for stay in stays for row in stay.rows}
    by_id = {stay.id: stay for stay in stays}
    by_pharmacy: dict[str, list[Stay]] = defaultdict(list)
    for stay in stays:
        for pid in {row["pharmacy_id"] for row in stay.rows if row.get("pharmacy_id")}:
            by_pharmacy[pid].append(stay)
    errors: list[dict[str, Any]] = []
    for table in [emar, *tables.values()]:
        for damage in table.damage:
            ids = damage.ids
            targets: list[Stay] = []
            if ids.get("emar_id") in by_emar:
                targets = [by_emar[ids["emar_id"]]]
            elif ids.get("hadm_id") in by_id:
                targets = [by_id[ids["hadm_id"]]]
            elif ids.get("pharmacy_id") in by_pharmacy:
                targets = by_pharmacy[ids["pharmacy_id"]]
            for stay in targets:
                stay.damage.append(damage.describe())
            if not targets:
                errors.append(
                    error_record(
                        ids.get("hadm_id") or None,
                        f"{damage.describe()}; the row was not read and belongs to no encounter read",
                        "row",
                    )
                )
    return errors


@dataclass
class _Context:
    parents: dict[str, dict[str, str]]
    products: dict[str, list[dict[str, str]]]
    pharmacy: dict[str, dict[str, str]]
    drugs: dict[str, dict[str, list[str]]]
    poe_pharmacy: dict[str, list[str]]  # order (poe_id) -> pharmacy ids its emar rows carry
    history: OrderHistory
    tables: dict[str, Table]
    pack: ReferencePack
    settled: dict[tuple[Any, ...], Call] = field(default_factory=dict)  # route calls already made

    @classmethod
    def build(cls, emar: Table, tables: dict[str, Table], pack: ReferencePack) -> _Context:
        parents: dict[str, dict[str, str]] = {}
        products: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in tables["emar_detail"].rows:
            if row.get("parent_field_ordinal"):
                products[row["emar_id"]].append(row)
            else:
                parents[row["emar_id"]] = row
        pharmacy = {row["pharmacy_id"]: row for row in tables["pharmacy"].rows if row.get("pharmacy_id")}
        drugs: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for row in tables["prescriptions"].rows:
            if row.get("pharmacy_id"):
                drugs[row["pharmacy_id"]][row.get("drug_type", "")].append(row.get("drug", ""))
        poe_pharmacy: dict[str, list[str]] = defaultdict(list)
        for row in emar.rows:
            pid, poe = row.get("pharmacy_id", ""), row.get("poe_id", "")
            if pid and poe and pid not in poe_pharmacy[poe]:
                poe_pharmacy[poe].append(pid)
        return cls(
            parents,
            products,
            pharmacy,
            drugs,
            poe_pharmacy,
            OrderHistory(pharmacy.values(), pack),
            tables,
            pack,
        )

    def order_for(self, row: dict[str, str]) -> dict[str, str] | None:
        """The row's pharmacy order, else another order its poe_id carries, when it is for the same drug
        (MIMIC links some rows to another drug's order; a row with no medication, a fluid, takes it)."""
        medication = row.get("medication", "").strip()
        ids = [row["pharmacy_id"]] if row.get("pharmacy_id") else []
        for product in self.products.get(row["emar_id"], []):  # emar_detail names the order scanned too
            if product.get("pharmacy_id") and product["pharmacy_id"] not in ids:
                ids.append(product["pharmacy_id"])
        ids += [p for p in self.poe_pharmacy.get(row.get("poe_id", ""), []) if p not in ids]
        for pid in ids:
            order = self.pharmacy.get(pid)
            if order is not None and (not medication or same_drug(medication, order.get("medication", ""))):
                return order
        return None


def _stays(emar: list[dict[str, str]], ctx: _Context) -> tuple[list[Stay], list[dict[str, str]]]:
    transfers_ok = ctx.tables["transfers"].usable
    admissions_ok = ctx.tables["admissions"].usable
    admissions = {row["hadm_id"]: row for row in ctx.tables["admissions"].rows}
    billed: dict[str, set[str]] = defaultdict(set)
    for row in ctx.tables["hcpcsevents"].rows:
        billed[row["hadm_id"]].add(row["hcpcs_cd"].strip().upper())
    by_subject: dict[str, list[tuple[datetime, datetime | None, dict[str, str]]]] = defaultdict(list)
    ed_hadm: set[str] = set()
    units: dict[str, list[str]] = defaultdict(list)
    for row in ctx.tables["transfers"].rows:
        if row.get("eventtype") == "discharge":
            continue
        start, end = _time(row.get("intime", "")), _time(row.get("outtime", ""))
        if start is None or (end is None and row.get("outtime")):
            ids = {k: row[k] for k in ("subject_id", "hadm_id") if row.get(k)}
            why = "intime or outtime is not a date and time: the transfer was not used"
            ctx.tables["transfers"].damage.append(
                Damage(ctx.tables["transfers"].file, int(row["_line"]), why, ids)
            )
            continue
        by_subject[row["subject_id"]].append((start, end, row))
        if row.get("hadm_id"):
            if row.get("eventtype") == "ED":
                ed_hadm.add(row["hadm_id"])
            if row.get("careunit") and row["careunit"] not in units[row["hadm_id"]]:
                units[row["hadm_id"]].append(row["careunit"])
    stays: dict[str, Stay] = {}

    def admission_stay(hadm_id: str, subject_id: str) -> Stay:
        if hadm_id not in stays:
            stays[hadm_id] = _admission_class(
                hadm_id,
                subject_id,
                admissions.get(hadm_id),
                billed.get(hadm_id, set()),
                units.get(hadm_id, []),
                hadm_id in ed_hadm,
                admissions_ok,
                transfers_ok,
                ctx.tables["hcpcsevents"].usable,
            )
        return stays[hadm_id]

    loose: dict[str, list[dict[str, str]]] = defaultdict(list)
    unplaced: list[dict[str, str]] = []
    for row in emar:
        subject_id = row["subject_id"]
        if row.get("hadm_id"):
            admission_stay(row["hadm_id"], subject_id).rows.append(row)
            continue
        time = _time(row.get("charttime", ""))
        if time is None:
            unplaced.append(row)
            continue
        stay = None
        for start, end, transfer in by_subject[subject_id]:
            if time < start or time > (end or start) + ED_GRACE:
                continue
            if transfer.get("hadm_id"):
                stay = admission_stay(transfer["hadm_id"], subject_id)
            elif transfer.get("eventtype") == "ED":
                key = f"{subject_id}-ed-{transfer['transfer_id']}"
                evidence = (
                    f"ED visit with no admission (transfer_id {transfer['transfer_id'][:20]}, no hadm_id)"
                )
                stay = stays.setdefault(key, Stay(key, "ed-only", subject_id, "outpatient", evidence))
            if stay is not None:
                break
        if stay is not None:
            stay.rows.append(row)
        else:
            loose[subject_id].append(row)
    for subject_id, rows in loose.items():
        rows.sort(key=lambda r: (r.get("charttime", ""), _seq(r)))
        group: list[dict[str, str]] = []
        last: datetime | None = None
        for row in rows:
            time = _time(row["charttime"])
            if group and time is not None and last is not None and time - last > GROUP_GAP:
                _outside_stay(group, subject_id, stays, transfers_ok)
                group = []
            group.append(row)
            last = time or last
        if group:
            _outside_stay(group, subject_id, stays, transfers_ok)
    ordered = list(stays.values())
    ordered.sort(
        key=lambda s: (s.subject_id, min((r.get("charttime", "") for r in s.rows), default=""), s.id)
    )
    return ordered, unplaced


def _outside_stay(
    rows: list[dict[str, str]], subject_id: str, stays: dict[str, Stay], transfers_ok: bool
) -> None:
    first, last = _time(rows[0]["charttime"]), _time(rows[-1]["charttime"])
    key = f"{subject_id}-out-{rows[0].get('emar_seq') or rows[0]['emar_id']}"
    assert first is not None and last is not None
    midnights = (last.date() - first.date()).days
    hours = (last - first).total_seconds() / 3600
    if not transfers_ok:
        klass, evidence = "unclear", "no admission (hadm_id), and transfers could not be read to place it"
    elif midnights >= LONG_GROUP_MIDNIGHTS:
        klass = "unclear"
        evidence = (
            f"charted over {hours:.0f} hours and {midnights} midnights outside every stay in transfers, with no "
            "admission (hadm_id): a stay this long is usually an admission the folder does not hold; check "
            "the patient's registration (inpatient, observation or outpatient) before billing"
        )
    else:
        klass = "outpatient"
        evidence = (
            f"charted over {hours:.1f} hours outside every stay in transfers, with no admission (hadm_id): "
            "outpatient care (clinic or procedure visit)"
        )
    stay = stays.setdefault(key, Stay(key, "outside-transfers", subject_id, klass, evidence))
    stay.rows.extend(rows)


def _admission_class(
    hadm_id: str,
    subject_id: str,
    admission: dict[str, str] | None,
    billed: set[str],
    careunits: list[str],
    via_ed: bool,
    admissions_ok: bool,
    transfers_ok: bool,
    hcpcs_ok: bool,
) -> Stay:
    kind = "ed+observation" if via_ed else "observation"
    if admission is None:
        why = (
            "admissions could not be read"
            if not admissions_ok
            else f"hadm_id {hadm_id[:20]} is not in admissions"
        )
        return Stay(
            hadm_id,
            "admission",
            subject_id,
            "unclear",
            f"{why}: check whether the stay was inpatient or observation",
        )
    admission_type = " ".join(admission.get("admission_type", "").split()).upper()
    observation_codes = sorted(billed & OBSERVATION_HCPCS)
    icu = [unit for unit in careunits if _ICU.search(unit)]
    start, end = _time(admission.get("admittime", "")), _time(admission.get("dischtime", ""))
    length = f", {((end - start).total_seconds() / 3600):.0f} hours" if start and end else ""
    billed_text = (
        f"{', '.join(observation_codes)} billed" if observation_codes else "no observation HCPCS billed"
    )
    if not hcpcs_ok:
        billed_text = "hcpcsevents not readable"
    stated = f"admission_type {admission_type[:40] or '(empty)'}{length}; {billed_text}"
    if observation_codes or admission_type in OBSERVATION_TYPES:
        if icu:
            return Stay(
                hadm_id,
                kind,
                subject_id,
                "unclear",
                f"{stated}, but ICU care ({', '.join(u[:60] for u in icu)}): check whether the stay became "
                "inpatient (an order to admit, condition code 44) before billing it as observation",
            )
        if not transfers_ok:
            return Stay(
                hadm_id,
                kind,
                subject_id,
                "unclear",
                f"{stated}; transfers could not be read to check ICU care",
            )
        return Stay(hadm_id, kind, subject_id, "outpatient", f"observation stay: {stated}")
    if "OBSERVATION" in admission_type:
        reason = "an inpatient admission by the hospital's own billing (observation is billed with G0378 / 99218-99220)"
    else:
        reason = "an inpatient admission"
    icu_text = f"; ICU care: {', '.join(u[:60] for u in icu)}" if icu else ""
    return Stay(hadm_id, "inpatient", subject_id, "inpatient", f"{stated}{icu_text}: {reason}")


def _event_action(text: str) -> Action | str | None:
    word = " ".join(text.split()).lower()
    if word.startswith("stopped"):
        return Action.STOP
    if word in _CHECKS:
        return Action.CHECK
    return _ACTIONS.get(word)


def _substance(row: dict[str, str], ctx: _Context) -> str | None:
    """The drug: emar.medication, else the order's MAIN drug, else its BASE (a plain fluid), else the product.
    A medication charted by a brand the substance table does not know ("Lantus") takes the generic name
    the scanned product gives ("Lantus (Insulin Glargine)"), as a coder reading the label would."""
    medication = row.get("medication", "").strip()
    if medication:
        if not ctx.pack.substances.match(medication):
            for product in ctx.products.get(row["emar_id"], []):
                other = product.get("product_description_other", "").strip()
                if other.strip("_ ") and ctx.pack.substances.match(other):
                    return f"{medication} ({other[:60]})"
        return medication
    order = ctx.order_for(row)
    drugs = ctx.drugs.get(order["pharmacy_id"], {}) if order is not None else {}
    main = [d for d in drugs.get("MAIN", []) if d]
    base = [d for d in drugs.get("BASE", []) if d and d.lower() not in ("bag", "syringe", "syringe (chemo)")]
    if main:
        return " + ".join(main)
    if base:
        return base[0]
    described = [p.get("product_description", "").strip() for p in ctx.products.get(row["emar_id"], [])]
    return next((d for d in described if d), None)


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


def _charted_route(row: dict[str, str], ctx: _Context) -> tuple[Call | None, bool]:
    """The route the record states for this row (order, emar_detail.route, administration type), and
    whether the row is a bolus off a drip."""
    parent = ctx.parents.get(row["emar_id"], {})
    admin_type = parent.get("administration_type", "")
    bolus = "bolus" in row.get("event_txt", "").lower() or admin_type in (
        "Heparin IV Bolus",
        "Bolus Dose from IV Drip",
    )
    order = ctx.order_for(row)
    if order is not None:
        found = pharmacy_route(order, ctx.pack)
        if found is not None:
            proc = order.get("proc_type", "")
            return Call(
                found[0],
                found[1],
                "charted",
                f"order route {order.get('route', '')[:20]} {proc[:20]}".strip(),
            ), bolus
    charted = parent.get("route", "").strip()
    if charted:
        match = ctx.pack.routes.resolve(charted) or ctx.pack.routes.resolve(charted.upper(), "hl7-0162")
        if match is not None and match.route:
            return Call(match.route, match.method, "charted", f"route {charted[:20]} charted"), bolus
    found = administration_type_route(admin_type)
    if found is not None:
        return Call(found[0], found[1], "charted", f"administration type {admin_type[:40]}"), bolus
    return None, bolus


def _finding(
    kind: str, severity: str, message: str, ids: Sequence[str] = (), source: str | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": kind,
        "severity": severity,
        "administrations": list(ids),
        "message": message,
    }
    if source:
        found["source"] = source
    return found


def _emar_ids(ids: Sequence[str]) -> str:
    return "emar_id " + ", ".join(ids)


_DROPS = {
    # kind: (severity, what it says about the events)
    "not-given": (
        "info",
        "charted as not given (Not Given, Hold Dose, Not Applied, Not Started): not imported",
    ),
    "flush": ("info", "are flushes (never separately coded): not imported"),
    "zero-dose": ("info", "charted with a zero dose: not imported"),
    "self-administered": (
        "info",
        "are the patient's own medication, self-administered (an insulin pump bolus): not a facility service, "
        "not imported",
    ),
    "unknown-event": (
        "warning",
        "have no event text and no dose scanned: nothing says a dose was given; not imported",
    ),
    "no-drug": ("warning", "name no drug and scan no product: nothing to import"),
    "no-time": ("error", "have no readable chart time: not imported; check the MAR for the time given"),
    "route-not-coded": (
        "info",
        "were given by a route with no drug-administration code (oral, enteral, eye drops, creams, inhalers, "
        "nasal sprays, patches, ...): not imported",
    ),
}


class _Links:
    """Keys of one infusion: an order (poe_id) and the pharmacy dispensing it. Started and Stopped pair on
    the order, and across orders that one dispensing links (a drip whose dose was re-ordered keeps its
    pharmacy_id under a new poe_id, and the stop is charted on the new order)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        root = key
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(key, key) != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def link(self, order: str, dispensing: str | None) -> None:
        if dispensing is None:
            return
        a, b = self.find(order), self.find(dispensing)
        if a != b:
            first, second = sorted((a, b), key=lambda k: (k.startswith("pharmacy "), k))
            self.parent[second] = first  # an order id names the group, as messages show it


def _pharmacy_key(row: dict[str, str], ctx: _Context) -> str | None:
    """The row's pharmacy dispensing, when it can be trusted to be this drug's (MIMIC links some rows to
    another drug's order): its order names the same drug, or the row names none."""
    pid = row.get("pharmacy_id", "")
    if not pid or not row.get("poe_id"):
        return None
    order = ctx.pharmacy.get(pid)
    medication = row.get("medication", "").strip()
    if order is not None and medication and not same_drug(medication, order.get("medication", "")):
        return None
    return f"pharmacy {pid}"


def _build(stay: Stay, ctx: _Context, options: ImportOptions, notes: list[dict[str, Any]]) -> Built:
    findings: list[dict[str, Any]] = []
    fate: dict[str, str] = {}
    pending: list[tuple[str, Action, datetime, str, dict[str, Any]]] = []
    flagged: list[str] = []  # emar_ids given with no event text: a coder confirms them
    rows = {row["emar_id"]: row for row in stay.rows}
    charted: dict[str, Call | None] = {}
    links = _Links()
    for row in sorted(stay.rows, key=lambda r: (r.get("charttime", ""), _seq(r))):
        emar_id = row["emar_id"]
        parent = ctx.parents.get(emar_id, {})
        text = row.get("event_txt", "")
        action = _event_action(text)
        if _SELF_ADMINISTERED in parent.get("administration_type", "").lower():
            fate[emar_id] = "self-administered"
            continue
        if action == "flush" or parent.get("administration_type") == "IV Flush":
            fate[emar_id] = "flush"
            continue
        if action is None and " ".join(text.split()).lower() in _NO_VERB:
            dose, _ = _dose(row, ctx)
            rate = _number(parent.get("infusion_rate"))
            if dose or rate:
                # no verb, but a dose scanned (or a rate set): imported, and a coder confirms it was given
                infusion = administration_type_route(parent.get("administration_type", "")) == (
                    "intravenous",
                    "infusion",
                )
                action = Action.START if infusion and not dose else Action.GIVEN
                flagged.append(emar_id)
        if action is None:
            fate[emar_id] = "unknown-event"
            continue
        if action is Action.CHECK:
            fate[emar_id] = "check"
            continue
        if action is Action.NOT_GIVEN:
            fate[emar_id] = "not-given"
            continue
        time = _time(row.get("charttime", ""))
        if time is None:
            fate[emar_id] = "no-time"
            continue
        dose, unit = _dose(row, ctx)
        if action in (Action.GIVEN, Action.START) and dose == 0:
            fate[emar_id] = "zero-dose"
            continue
        assert isinstance(action, Action)
        key = row.get("poe_id") or row.get("pharmacy_id") or emar_id
        if action not in (Action.GIVEN, Action.NOT_GIVEN, Action.CHECK):
            links.link(key, _pharmacy_key(row, ctx))  # the same infusion under a changed order
        charted[emar_id], bolus = _charted_route(row, ctx)
        if charted[emar_id] is None:
            form, words = form_of(row.get("medication", ""), ctx.products.get(emar_id, []), unit or "")
            if form not in ("bag", "injectable", "none"):
                charted[emar_id] = Call(form, None, "charted", words)  # a tablet, drops, a cream ...
        rate = _number(parent.get("infusion_rate", ""))
        rate_ml = rate if rate and parent.get("infusion_rate_unit", "").lower() == "ml/hr" else None
        payload: dict[str, Any] = {
            "emar_id": emar_id,
            "substance": _substance(row, ctx),
            "dose": dose if dose and dose > 0 else None,
            "dose_unit": unit if dose and dose > 0 else None,
            "rate_ml_per_hour": rate_ml,
            "bolus": bolus or None,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        pending.append((key, action, time, emar_id, payload))
    events = [
        Event(links.find(key), action, time, f"emar_id {i}", payload)
        for key, action, time, i, payload in pending
    ]
    result = fold(events)
    for problem in result.problems:
        for ref in problem.refs:
            fate.setdefault(ref.removeprefix("emar_id "), "unpaired")
    administrations, calls = _administrations(stay, result, ctx, rows, charted, fate)
    findings.extend(_route_findings(calls, administrations))
    made = {a["id"] for a in administrations}
    segment_admin = {id(s): s.opening.payload["emar_id"] for s in result.segments}
    for problem in result.problems:
        ids = [segment_admin[id(problem.segment)]] if problem.segment is not None else []
        findings.append(
            _finding(
                f"mimic-{problem.kind}",
                problem.severity,
                f"order {problem.key}: {problem.message}",
                [i for i in ids if i in made],
                ", ".join(problem.refs),
            )
        )
    flagged_made = [i for i in flagged if fate.get(i, "").startswith("admin ")]
    if flagged_made:
        admins = sorted({fate[i].removeprefix("admin ") for i in flagged_made})
        findings.append(
            _finding(
                "mimic-given-not-charted",
                "error",
                f"{len(flagged_made)} emar event(s) have no event text (Administered, Started ...) but a dose scanned "
                "or a rate set: imported as given; confirm in the MAR that they were given",
                admins,
                _emar_ids(flagged_made),
            )
        )
    drops: dict[str, list[str]] = defaultdict(list)
    for emar_id, what in fate.items():
        if what in _DROPS:
            drops[what].append(emar_id)
    for kind, ids in drops.items():
        severity, what = _DROPS[kind]
        findings.append(
            _finding(f"mimic-{kind}", severity, f"{len(ids)} emar event(s) {what}", (), _emar_ids(ids))
        )
    for damage in stay.damage:
        findings.append(
            _finding(
                "mimic-row-damaged",
                "error",
                f"{damage}: the row was not read, so this encounter may lack what it held; check the chart",
            )
        )
    findings = [*notes, *findings]
    record: dict[str, Any] = {
        "encounter_id": stay.id,
        "claim_type": options.claim_type,
        "administrations": [],
    }
    if stay.inpatient and not options.include_inpatient:
        damaged = [f for f in findings if f["id"] == "mimic-row-damaged"]
        record["source_findings"] = [_class_finding(stay, len(administrations), False), *notes, *damaged]
        for emar_id in fate:  # the whole stay is left out, whatever each event was
            fate[emar_id] = "inpatient" if stay.klass == "inpatient" else "unclear-class"
    else:
        record["administrations"] = administrations
        record["source_findings"] = [_class_finding(stay, len(administrations), True), *findings]
    if options.place_of_service:
        record["place_of_service"] = options.place_of_service
    if options.policy:
        record["policy"] = options.policy
    if options.timezone:
        record["timezone"] = options.timezone
    return Built(stay, record, fate, administrations)


def _class_finding(stay: Stay, count: int, included: bool) -> dict[str, Any]:
    subject = f"subject_id {stay.subject_id}"
    if stay.klass == "outpatient":
        return _finding(
            f"mimic-encounter-{stay.kind}", "info", _KIND_TEXT[stay.kind] + f" ({stay.evidence})", (), subject
        )
    if stay.klass == "inpatient":
        if included:
            return _finding(
                "inpatient-stay",
                "warning",
                f"Inpatient stay ({stay.evidence}): its services belong to the inpatient claim, which does not carry "
                f"these codes; its {count} administration(s) are coded only because --include-inpatient was given",
                (),
                subject,
            )
        return _finding(
            "inpatient-stay",
            "info",
            f"Inpatient stay ({stay.evidence}): its {count} administration(s) belong to the inpatient claim and are "
            "not coded here (--include-inpatient codes them)",
            (),
            subject,
        )
    left = (
        f"its {count} administration(s) are coded only because --include-inpatient was given"
        if included
        else f"its {count} administration(s) are not coded until it is settled (--include-inpatient codes them)"
    )
    return _finding(
        "setting-unknown", "error", f"Class of the stay unclear: {stay.evidence}; {left}", (), subject
    )


_KIND_TEXT = {
    "ed-only": "ED visit not admitted: one outpatient encounter",
    "ed+observation": "ED visit and the observation stay it led to: one outpatient encounter",
    "observation": "observation stay (direct or ambulatory): one outpatient encounter",
    "outside-transfers": "charted outside every stay in transfers: events less than 24 hours apart are one "
    "outpatient encounter",
}


def _running_infusions(segments: list[tuple[Segment, Call]]) -> list[tuple[datetime, datetime, str]]:
    """IV infusions of the stay with a documented start and stop: evidence of an IV line at a time."""
    running = []
    for segment, call in segments:
        if call.route == "intravenous" and call.method == "infusion" and segment.end is not None:
            name = segment.payload().get("substance") or "an IV fluid"
            running.append((segment.start, segment.end, str(name)[:40]))
    return running


def _administrations(
    stay: Stay,
    result: Fold,
    ctx: _Context,
    rows: dict[str, dict[str, str]],
    charted: dict[str, Call | None],
    fate: dict[str, str],
) -> tuple[list[dict[str, Any]], list[_RouteCall]]:
    """Each segment's administration, its route decided from the evidence; `calls` lists (administration
    id, route call, substance) for the route findings."""
    by_order: dict[str, Call] = {}  # what one event of an order documents holds for the whole order
    for emar_id, call in charted.items():
        if call is not None:
            by_order.setdefault(rows[emar_id].get("poe_id") or emar_id, call)
    decided: list[tuple[Segment, Call]] = []
    pending: list[Segment] = []
    for segment in result.segments:
        call = next(
            (charted[e.payload["emar_id"]] for e in segment.events if charted.get(e.payload["emar_id"])), None
        )
        if call is None:
            poe = rows[segment.opening.payload["emar_id"]].get("poe_id", "")
            if poe in by_order:
                found = by_order[poe]
                call = Call(
                    found.route, found.method, "charted", f"{found.evidence} on another event of the order"
                )
        if call is None:
            pending.append(segment)
        else:
            decided.append((segment, call))
    running = _running_infusions(decided)
    for segment in pending:
        decided.append((segment, _infer(segment, ctx, rows, running)))
    administrations: list[dict[str, Any]] = []
    calls: list[_RouteCall] = []
    order = {id(s): i for i, s in enumerate(result.segments)}
    decided.sort(key=lambda item: order[id(item[0])])
    for segment, call in decided:
        ids = [e.payload["emar_id"] for e in segment.events]
        opening = segment.opening.payload["emar_id"]
        payload = segment.payload()
        substance = payload.get("substance")
        if call.route is not None and call.route not in CODED_ROUTES and call.strength != "uncertain":
            for i in ids:
                fate[i] = "route-not-coded"
            continue
        infused = call.route == "intravenous" and (call.method == "infusion" or not segment.single)
        documented = (
            segment.rates
            or str(payload.get("dose_unit", "")).lower() == "ml"
            or _is_fluid_type(rows[opening], ctx)
        )
        if infused and not substance and documented:
            substance = UNNAMED_FLUID
        if call.route is None or not substance:
            kind = "no-drug" if not substance else "route-unknown"
            for i in ids:
                fate[i] = kind
            if kind == "route-unknown":
                calls.append(("", call, str(substance), ids))
            continue
        if call.route not in CODED_ROUTES:  # uncertain, most often by an uncoded route (oral)
            for i in ids:
                fate[i] = "route-uncertain"
            calls.append(("", call, str(substance), ids))
            continue
        built = _administration(segment, call, str(substance))
        administrations.append(built)
        for i in ids:
            fate[i] = f"admin {built['id']}"
        calls.append((built["id"], call, str(substance), ids))
    return administrations, calls


def _infer(
    segment: Segment,
    ctx: _Context,
    rows: dict[str, dict[str, str]],
    running: list[tuple[datetime, datetime, str]],
) -> Call:
    """The route of a segment none of whose events (nor its order) documents one: from what was scanned,
    the orders of the drug here, and an IV infusion running at the time."""
    payload = segment.payload()
    emar_ids = [e.payload["emar_id"] for e in segment.events]
    products = [p for emar_id in emar_ids for p in ctx.products.get(emar_id, [])]
    medication = str(payload.get("substance") or "")
    form, words = form_of(medication, products, str(payload.get("dose_unit") or ""))
    if form not in ("bag", "injectable", "none"):
        return Call(form, None, "charted", words)
    if not medication:
        dose, unit = payload.get("dose"), str(payload.get("dose_unit") or "").lower()
        if unit == "ml" and isinstance(dose, float) and dose >= UNNAMED_VOLUME_ML:
            return Call(
                "intravenous", "infusion", "inferred", f"a volume of {dose:g} mL with no drug named (a fluid)"
            )
        return Call(None, None, "unknown", "no drug named")
    if form == "injectable" and any(s.kind == "vaccine" for s in ctx.pack.substances.match(medication)):
        return Call(
            "intramuscular", "injection", "inferred", f"{medication}: a vaccine (given IM or SC, never IV)"
        )
    others = [p.get("product_description_other", "").strip() for p in products]
    names = (medication, *[o for o in others if o])
    at = [name for start, end, name in running if start <= segment.start <= end]
    seen = f"an IV infusion ({at[0]}) was running at {segment.start:%H:%M}" if at else None
    key = (names, form, words, seen)
    if key not in ctx.settled:
        ctx.settled[key] = settle(names, form, words, ctx.history, seen)
    return ctx.settled[key]


def _is_fluid_type(row: dict[str, str], ctx: _Context) -> bool:
    admin_type = ctx.parents.get(row["emar_id"], {}).get("administration_type", "").lower()
    return admin_type in ("iv infusion", "medication infusion", "iv fluid repletion")


_RouteCall = tuple[str, Call, str, list[str]]  # administration id ("" if none), call, substance, emar_ids


def _route_findings(calls: list[_RouteCall], administrations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """route-inferred (warning) per evidence; route-uncertain and route-unknown (errors) per drug; and
    mimic-fluid-unnamed for fluids with no name."""
    findings: list[dict[str, Any]] = []
    inferred: dict[str, list[str]] = defaultdict(list)
    uncertain: dict[str, tuple[Call, list[str], list[str]]] = {}
    unknown: dict[str, list[str]] = defaultdict(list)
    for admin_id, call, _substance_name, ids in calls:
        if call.strength == "inferred" and admin_id:
            route = f"{_SHORT_ROUTE.get(call.route or '', call.route)} {call.method or ''}".strip()
            inferred[f"{call.evidence}: {route}"].append(admin_id)
        elif call.strength == "uncertain":
            entry = uncertain.setdefault(call.evidence, (call, [], []))
            if admin_id:
                entry[1].append(admin_id)
            entry[2].extend(ids[:1])
        elif call.strength == "unknown" or call.route is None:
            unknown[call.evidence].extend(ids[:1])
    for evidence, admins in inferred.items():
        findings.append(
            _finding(
                "route-inferred",
                "warning",
                f"Route not charted, inferred from {evidence}; confirm in the chart",
                admins,
                _emar_ids(admins),
            )
        )
    for evidence, (call, admins, refs) in uncertain.items():
        findings.append(
            _finding(
                "route-uncertain",
                "error",
                _uncertain_text(call, evidence, bool(admins)),
                admins,
                _emar_ids(refs),
            )
        )
    for evidence, refs in unknown.items():
        findings.append(
            _finding(
                "route-unknown",
                "error",
                f"Route not charted and not inferable: {evidence}. It was not imported: check the chart "
                "(96374 if an IV push, 96372 if SC or IM)",
                (),
                _emar_ids(refs),
            )
        )
    unnamed = [a["id"] for a in administrations if a["substance"] == UNNAMED_FLUID]
    if unnamed:
        findings.append(
            _finding(
                "mimic-fluid-unnamed",
                "warning",
                "IV infusion charted with a rate or volume but no fluid name (no medication, order or product): "
                f"imported as {UNNAMED_FLUID!r}; check the fluid in the chart (hydration or a drug infusion)",
                unnamed,
                _emar_ids(unnamed),
            )
        )
    return findings


_SHORT_ROUTE = {"intravenous": "IV", "intramuscular": "IM", "subcutaneous": "SC"}
_CANDIDATE_CODES = {
    "intravenous": "96374 if an IV push (96375/96376 after another service)",
    "intramuscular": "96372 if IM or SC",
    "subcutaneous": "96372 if IM or SC",
}


def _uncertain_text(call: Call, evidence: str, imported: bool) -> str:
    codes: list[str] = []
    for route in call.candidates:
        text = _CANDIDATE_CODES.get(route)
        if text and text not in codes:
            codes.append(text)
        elif route not in CODED_ROUTES and "no code if " + route not in codes:
            codes.append(f"no code if {route}")
    chosen = _SHORT_ROUTE.get(call.route or "", call.route or "")
    done = (
        f"imported as {chosen} (its most frequent route here)"
        if imported
        else f"not imported (most often {call.route} here)"
    )
    return f"Route not charted and not settled by the evidence: {evidence}. It was {done}: {', '.join(codes)}; check the chart"


def _administration(segment: Segment, call: Call, substance: str) -> dict[str, Any]:
    opening = segment.opening.payload
    payload = segment.payload()
    administration: dict[str, Any] = {
        "id": opening["emar_id"],
        "substance": substance,
        "route": call.route,
        "start": _iso(segment.start),
    }
    method = call.method
    if call.route == "intravenous":
        if not segment.single:
            method = "infusion"  # charted Started ... Stopped: a bag hung
        elif opening.get("bolus"):
            method = "push"  # a bolus off a drip order
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
        call.route == "intravenous"
        and str(payload.get("dose_unit", "")).lower() == "ml"
        and payload.get("dose")
    ):
        administration["volume_ml"] = payload["dose"]  # a fluid charted by volume
    return administration


def accounting(loaded: MimicImport) -> Counter[str]:
    """Every emar row of the folder by where it went: `admin` (in an imported administration), a named
    drop (not-given, flush, check, inpatient, ...) or `damaged`."""
    counts: Counter[str] = Counter()
    for built in loaded.encounters:
        for emar_id in (row["emar_id"] for row in built.stay.rows):
            what = built.fate.get(emar_id, "unaccounted")
            counts["admin" if what.startswith("admin ") else what] += 1
    counts["damaged"] += len(loaded.damaged)
    counts["no-time"] += sum(1 for e in loaded.errors if e["error"].get("field") == "charttime")
    return counts
