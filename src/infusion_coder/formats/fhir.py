"""FHIR R4 / R4B / R5 MedicationAdministration in (Bundles, single resources, Bulk Data NDJSON) and out.

Reading. Every resource is validated with `fhir.resources` on its own (R4B models for R4/R4B, R5 models
for R5; the version is read off the elements the resource uses), so one broken resource becomes a finding
on its encounter (or an error object when no encounter can be told) and its neighbours still import.
A MedicationAdministration becomes one administration whose `id` is the resource id; a Medication with no
code and two or more ingredients is a mixed bag: one administration per ingredient (`<resource id>/<n>`)
sharing a `mix` label, as the contract's `mix` wants. Administrations group by their encounter reference
(R4 `context`, R5 `encounter`); those without one group by subject and local date, with a finding saying
so. An inpatient Encounter (class IMP, ACUTE, NONAC) belongs to the inpatient claim: its administrations
are kept only with `--include-inpatient`. docs/import-fhir.md has the full table.

Writing. `write_bundle` gives a collection Bundle (Encounter + MedicationAdministrations) in R4 or R5 that
carries every contract field, the ones FHIR has no element for as extensions under `EXT`, which the
reader reads back; `write_ndjson` writes the same as Bulk Data files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pydantic
from fhir.resources import get_fhir_model_class as r5_model_class
from fhir.resources.R4B import get_fhir_model_class as r4b_model_class

from ..models import Administration, Encounter
from ..reference import ReferencePack, RouteMatch
from . import ImportOptions, Source, SourceError, error_record, excerpt
from .jsonio import HEAD_LINES

Json = dict[str, Any]
Version = Literal["R4", "R5"]

# Our own extensions and identifier systems: what FHIR has no element for.
EXT = "https://infusion-coder.org/fhir/StructureDefinition/"
EXT_CATEGORY = EXT + "administration-category"  # valueCode hydration | therapeutic | chemotherapy
EXT_HORMONAL = EXT + "hormonal"  # valueBoolean
EXT_PURPOSE = EXT + "purpose"  # valueCode carrier | kvo | flush
EXT_PUMP = EXT + "pump"  # valueCode portable | implantable
EXT_SEPARATE_ACCESS = EXT + "separate-access-required"  # valueBoolean
EXT_MIX = EXT + "mix"  # valueString: the mix label
EXT_VOLUME = EXT + "volume"  # valueQuantity (mL)
EXT_DOSE = EXT + "dose"  # valueQuantity: an ingredient's own dose in a mixed bag
EXT_WASTED = EXT + "wasted"  # valueQuantity (in the dose unit)
EXT_SINGLE_DOSE = EXT + "single-dose-container"  # valueBoolean
EXT_ADMINISTRATION_ID = EXT + "administration-id"  # valueString: an ingredient's administration id
EXT_LOCAL_TIME = EXT + "local-time"  # valueBoolean on a dateTime: wall-clock time, the offset is filler
EXT_PRIMARY = EXT + "primary-administration"  # valueString on Encounter
EXT_EM = EXT + "evaluation-and-management"  # complex on Encounter: code, separately-identifiable
EXT_TIMEZONE = EXT + "timezone"  # valueCode on Encounter: IANA zone of the facility
ENCOUNTER_ID_SYSTEM = "https://infusion-coder.org/fhir/NamingSystem/encounter-id"
ADMINISTRATION_ID_SYSTEM = "https://infusion-coder.org/fhir/NamingSystem/administration-id"
BASE_URL = "https://infusion-coder.org/fhir/"

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
SNOMED = "http://snomed.info/sct"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
# "Given as ordered", "Emergency": why it was given in the workflow sense, not an indication.
REASON_GIVEN = "http://terminology.hl7.org/CodeSystem/reason-medication-given"
# Code systems whose codes the route table knows, by the suffix of their URL.
_ROUTE_SYSTEMS = {"sct": "snomed", "v2-0162": "hl7-0162", "v3-orderableDrugForm": "v3-orderableDrugForm"}
_METHOD_SYSTEMS = {"sct": "snomed-method", "v2-0165": "hl7-0165"}

INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC"})
CODED_STATUSES = frozenset({"completed", "in-progress", "on-hold", "stopped"})
SKIPPED_STATUSES = {"not-done": "administration-not-done", "entered-in-error": "entered-in-error"}

# Elements only one version has, per resource type: how a resource tells its version.
_R4_ONLY = {
    "MedicationAdministration": {
        "effectiveDateTime",
        "effectivePeriod",
        "medicationCodeableConcept",
        "medicationReference",
        "context",
        "reasonCode",
        "reasonReference",
        "instantiates",
    },
    "Encounter": {"period", "hospitalization", "classHistory", "statusHistory", "reasonCode"},
    "Medication": {"form", "amount", "manufacturer"},
    "MedicationRequest": {
        "medicationCodeableConcept",
        "medicationReference",
        "reasonCode",
        "reportedBoolean",
    },
}
_R5_ONLY = {
    "MedicationAdministration": {
        "occurenceDateTime",
        "occurencePeriod",
        "occurenceTiming",
        "medication",
        "encounter",
        "reason",
        "isSubPotent",
        "recorded",
    },
    "Encounter": {"actualPeriod", "virtualService", "admission", "plannedStartDate", "subjectStatus"},
    "Medication": {"doseForm", "totalVolume", "marketingAuthorizationHolder", "definition"},
    "MedicationRequest": {"medication", "renderedDosageInstruction", "effectiveDosePeriod", "reported"},
}
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


# --------------------------------------------------------------------------------------------- reading


@dataclass
class _Item:
    """One resource as read from a source, with where it was (for messages) and its Bundle fullUrl."""

    raw: Json
    where: str
    full_url: str | None = None

    @property
    def type(self) -> str:
        return str(self.raw.get("resourceType"))

    @property
    def label(self) -> str:
        rid = self.raw.get("id")
        return f"{self.type}/{rid}" if isinstance(rid, str) else f"{self.type} ({self.where})"


@dataclass
class _Group:
    """The administrations of one encounter as they are gathered."""

    encounter_id: str
    encounter: _Item | None = None
    by_subject: str | None = None  # "subject on date" when grouped without an encounter reference
    administrations: list[Json] = field(default_factory=list)
    findings: list[Json] = field(default_factory=list)
    inpatient_hint: list[str] = field(default_factory=list)  # MA ids whose category says inpatient


def _finding(
    id: str, severity: str, message: str, source: str | None, administrations: Sequence[str] = ()
) -> Json:
    return {
        "id": id,
        "severity": severity,
        "administrations": list(administrations),
        "message": message,
        "source": source,
    }


def _validation_message(error: pydantic.ValidationError, limit: int = 3) -> tuple[str, str | None]:
    """'dosage.rateQuantity.value: ... (got '...')' for the first few problems, and the first element."""
    parts = []
    first: str | None = None
    for item in error.errors()[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "(resource)"
        first = first or where
        message = str(item["msg"]).removeprefix("Value error, ")
        got = item.get("input")
        shown = f" (got {excerpt(got, 30)})" if isinstance(got, str | int | float) else ""
        parts.append(f"{where}: {message}{shown}")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else ""), first


def _guess_version(raw: Json) -> Version | None:
    kind = str(raw.get("resourceType"))
    keys = set(raw)
    if kind == "Encounter" and "class" in raw:
        return "R5" if isinstance(raw["class"], list) else "R4"
    if kind == "Medication":
        for ingredient in raw.get("ingredient") or []:
            if isinstance(ingredient, dict) and "item" in ingredient:
                return "R5"
            if isinstance(ingredient, dict) and {"itemCodeableConcept", "itemReference"} & set(ingredient):
                return "R4"
    if keys & _R5_ONLY.get(kind, set()):
        return "R5"
    if keys & _R4_ONLY.get(kind, set()):
        return "R4"
    return None


class _Index:
    """Resources by reference ("Type/id" and fullUrl), each validated once on first use."""

    def __init__(self, items: Sequence[_Item]) -> None:
        self.by_ref: dict[str, _Item] = {}
        for item in items:
            rid = item.raw.get("id")
            if isinstance(rid, str):
                self.by_ref.setdefault(f"{item.type}/{rid}", item)
            if item.full_url:
                self.by_ref.setdefault(item.full_url, item)
        self._checked: dict[int, tuple[Version, str | None, str | None]] = {}

    def resolve(self, reference: Any, container: Json | None = None) -> Json | None:
        if not isinstance(reference, str):
            return None
        if reference.startswith("#") and container is not None:
            for inner in container.get("contained") or []:
                if isinstance(inner, dict) and inner.get("id") == reference[1:]:
                    return inner
            return None
        item = self.by_ref.get(reference)
        if item is None:
            match = _REFERENCE.search(reference)
            item = self.by_ref.get(f"{match[1]}/{match[2]}") if match else None
        return item.raw if item is not None else None

    def check(self, raw: Json) -> tuple[Version, str | None, str | None]:
        """(version, problem, element): the problem is None when the resource validates."""
        key = id(raw)
        if key not in self._checked:
            self._checked[key] = _validate(raw)
        return self._checked[key]


def _validate(raw: Json) -> tuple[Version, str | None, str | None]:
    kind = str(raw.get("resourceType"))
    guessed = _guess_version(raw)
    tries: list[Version] = [guessed] if guessed else ["R4", "R5"]
    problems: list[tuple[Version, str, str | None]] = []
    for version in tries:
        model = r4b_model_class(kind) if version == "R4" else r5_model_class(kind)
        try:
            model.model_validate(raw)
        except pydantic.ValidationError as error:
            message, element = _validation_message(error)
            problems.append((version, message, element))
            continue
        except (TypeError, KeyError, ValueError, AttributeError) as error:
            # fhir-core raises these, not ValidationError, for a contained resource of no known type
            problems.append(
                (
                    version,
                    f"a contained resource or element has an unexpected shape ({type(error).__name__})",
                    None,
                )
            )
            continue
        return version, None, None
    version, message, element = min(problems, key=lambda p: p[1].count(";"))
    name = "R4/R4B" if version == "R4" else "R5"
    return version, f"not valid FHIR {name}: {message}", element


def _sources(sources: Sequence[Source]) -> Iterator[_Item | Json]:
    """Every resource in the sources (Bundle entries unpacked), or error objects for what is not FHIR."""
    for source in sources:
        if source.path is not None and source.path.is_dir():
            files = sorted(p for p in source.path.rglob("*") if _fhir_file(p))
            if not files:
                yield error_record(None, f"{source.name}: no .json or .ndjson files (gzipped or not) to read")
            for path in files:
                yield from _one_source(Source(f"{source.name}/{path.relative_to(source.path)}", path=path))
        else:
            yield from _one_source(source)


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _fhir_file(path: Path) -> bool:
    """A file of a folder read as FHIR: JSON or NDJSON, gzipped or not (a .csv.gz beside them is not)."""
    return path.is_file() and path.name.lower().removesuffix(".gz").endswith((".json", ".ndjson"))


def _one_source(source: Source) -> Iterator[_Item | Json]:
    try:
        text = source.read_bytes().decode("utf-8-sig")  # gunzipped, with a ceiling
    except SourceError as exc:
        yield error_record(None, str(exc))
        return
    except (OSError, UnicodeDecodeError) as exc:
        yield error_record(None, f"{source.name}: cannot be read ({type(exc).__name__})")
        return
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
        lines = text.splitlines()
        if len([line for line in lines if line.strip()]) <= 1:
            yield error_record(None, f"{source.name}: not JSON, nor NDJSON (one resource a line)")
            return
    if whole is not None:
        yield from _unpack(whole, source.name)
        return
    if not any(_is_json(line) for line in lines[:HEAD_LINES] if line.strip()):
        # not NDJSON with a bad line or two but another kind of file: one error, not one a line
        yield error_record(None, f"{source.name}: not JSON, nor NDJSON (no JSON in its first lines)")
        return
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield error_record(None, f"{source.name} line {number}: not valid JSON ({exc.msg})")
            continue
        yield from _unpack(value, f"{source.name} line {number}")


def _unpack(value: Any, where: str) -> Iterator[_Item | Json]:
    if isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _unpack(inner, f"{where} item {index + 1}")
        return
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        yield error_record(None, f"{where}: not a FHIR resource (no resourceType)", "resourceType")
        return
    if value["resourceType"] != "Bundle":
        yield _Item(value, where)
        return
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        yield error_record(None, f"{where}: Bundle.entry is not a list", "entry")
        return
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            continue  # a transaction's DELETE or a search outcome link: no record to read
        place = f"{where} entry {index + 1}"
        if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
            yield from _unpack(resource, place)
        elif isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            full_url = entry.get("fullUrl")
            yield _Item(resource, place, full_url if isinstance(full_url, str) else None)
        else:
            yield error_record(None, f"{place}: not a FHIR resource (no resourceType)", "resourceType")


def read(sources: Sequence[Source], options: ImportOptions, pack: ReferencePack) -> Iterator[Json]:
    """Contract encounters from FHIR Bundles, resources or NDJSON; error objects for unreadable input."""
    items: list[_Item] = []
    for found in _sources(sources):
        if isinstance(found, _Item):
            items.append(found)
        else:
            yield found
    index = _Index(items)
    reader = _Reader(index, options, pack)
    seen: set[str] = set()
    for item in items:
        if item.type != "MedicationAdministration":
            continue
        if item.label in seen:
            group = reader.group_of(item)
            if group is not None:
                group.findings.append(
                    _finding(
                        "duplicate-resource",
                        "info",
                        f"{item.label} is read twice: the first copy is used",
                        item.where,
                    )
                )
            continue
        seen.add(item.label)
        try:
            problem = reader.administration(item)
        except Exception as exc:  # a shape no check foresaw must not end the batch
            problem = error_record(
                None, f"{item.where}: {item.label} could not be read ({type(exc).__name__})"
            )
        if problem is not None:
            yield problem
    for group in reader.groups.values():
        try:
            record = reader.encounter(group)
        except Exception as exc:  # as above: one encounter's error object, never the end of the import
            record = error_record(group.encounter_id, f"could not be built ({type(exc).__name__})")
        yield record


class _Reader:
    def __init__(self, index: _Index, options: ImportOptions, pack: ReferencePack) -> None:
        self.index = index
        self.options = options
        self.routes = pack.routes
        self.groups: dict[str, _Group] = {}

    # ---- grouping

    def group_of(self, item: _Item) -> _Group | None:
        raw = item.raw
        version = _guess_version(raw) or "R4"
        link = raw.get("context" if version == "R4" else "encounter")
        reference = link.get("reference") if isinstance(link, dict) else None
        if isinstance(reference, str) and reference.split("/")[-2:-1] != ["EpisodeOfCare"]:
            resource = self.index.resolve(reference, raw)
            found = self.index.by_ref.get(f"Encounter/{resource.get('id')}") if resource else None
            if resource is not None and found is not None:
                key = f"Encounter/{resource.get('id')}"
                encounter_id = _our_identifier(resource, ENCOUNTER_ID_SYSTEM) or str(resource.get("id"))
            else:
                match = _REFERENCE.search(reference)
                tail = match[2] if match else reference.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
                key, encounter_id = f"Encounter/{tail}", tail
            if key not in self.groups:
                self.groups[key] = _Group(encounter_id, found)
            return self.groups[key]
        logical = link.get("identifier") if isinstance(link, dict) else None
        if isinstance(logical, dict) and isinstance(logical.get("value"), str) and logical["value"]:
            # a logical reference (the visit number, no resource): the number is the encounter id
            key = f"Encounter?identifier={logical['value']}"
            return self.groups.setdefault(key, _Group(logical["value"]))
        subject = raw.get("subject")
        who = subject.get("reference") if isinstance(subject, dict) else None
        if not isinstance(who, str):
            return None
        match = _REFERENCE.search(who)
        patient = match[2] if match else who.rsplit("/", 1)[-1]
        start = _first_time(raw, version)
        day = start[:10] if start else "undated"
        key = f"subject:{patient}|{day}"
        if key not in self.groups:
            self.groups[key] = _Group(f"{patient}-{day}", by_subject=f"subject {patient} on {day}")
        return self.groups[key]

    # ---- one MedicationAdministration

    def administration(self, item: _Item) -> Json | None:
        """Adds the administrations of one resource to its group; an error object if it has none."""
        group = self.group_of(item)
        version, problem, element = self.index.check(item.raw)
        if problem is not None:
            message = f"{item.label} is {problem}; it is not coded"
            if group is None:
                return error_record(None, f"{item.where}: {message}", element)
            group.findings.append(_finding("invalid-resource", "error", message, item.where))
            return None
        if group is None:
            return error_record(
                None,
                f"{item.where}: {item.label} has neither an encounter reference nor a subject to group it by",
                "context" if version == "R4" else "encounter",
            )
        raw = item.raw
        status = str(raw.get("status") or "")
        if status in SKIPPED_STATUSES:
            group.findings.append(
                _finding(
                    SKIPPED_STATUSES[status],
                    "info",
                    f"{item.label} has status {status}: not coded",
                    item.label,
                )
            )
            return None
        findings: list[Json] = []
        if status not in CODED_STATUSES:
            findings.append(
                _finding(
                    "administration-status-unknown",
                    "warning",
                    f"{item.label} has status {excerpt(status or 'none', 20)}: coded as given; check the chart",
                    item.label,
                )
            )
        admins = self._administrations(raw, version, item.label, findings)
        accepted: list[Json] = []
        taken = {a["id"] for a in group.administrations}
        for admin in admins:
            try:
                Administration.model_validate(admin)
            except pydantic.ValidationError as error:
                message, _ = _validation_message(error, 1)
                findings.append(
                    _finding(
                        "unreadable-administration",
                        "error",
                        f"{item.label}: {message}; not coded",
                        item.label,
                    )
                )
                continue
            if admin["id"] in taken:
                findings.append(
                    _finding(
                        "duplicate-administration-id",
                        "warning",
                        f"{item.label} gives administration id {excerpt(admin['id'], 30)} a second time: not coded",
                        item.label,
                    )
                )
                continue
            taken.add(admin["id"])
            accepted.append(admin)
        ids = [a["id"] for a in accepted]
        for finding in findings:
            if finding["severity"] != "error" and finding["id"] != "duplicate-administration-id":
                finding["administrations"] = ids
        group.administrations.extend(accepted)
        group.findings.extend(findings)
        if _is_inpatient_category(raw):
            group.inpatient_hint.append(item.label)
        return None

    def _administrations(self, raw: Json, version: Version, label: str, findings: list[Json]) -> list[Json]:
        base_id = _our_identifier(raw, ADMINISTRATION_ID_SYSTEM) or str(raw.get("id") or label)
        base: Json = {}
        start, end = self._times(raw, version, label, findings)
        base["start"], base["end"] = start, end
        dosage = raw.get("dosage") or {}
        base.update(self._route_and_method(dosage, label, findings))
        base["access"] = _text(dosage.get("site"))
        dose = dosage.get("dose") or {}
        if _positive(dose.get("value")):
            base["dose"] = float(dose["value"])
            base["dose_unit"] = dose.get("unit") or dose.get("code")
        base["rate_ml_per_hour"] = _rate(dosage)
        base["administered_by"] = self._performer(raw, version)
        base["ordered_by"] = self._orderer(raw)
        base["indication"] = self._indication(raw, version)
        base.update(_extension_fields(raw.get("extension")))
        drugs = self._drugs(raw, version, label, findings)
        admins = []
        mixed = len(drugs) > 1
        for number, (concept, extra) in enumerate(drugs, 1):
            admin: Json = {"id": None, "substance": None, **base}
            if mixed:
                admin.pop("dose", None)  # the resource's dose is the bag's, not one ingredient's
                admin.pop("dose_unit", None)
                admin.setdefault("mix", base_id)
                admin["id"] = f"{base_id}/{number}"
            else:
                admin["id"] = base_id
            admin["substance"] = _text(concept) or "medication with no name or code"
            admin.update(_drug_codes(concept))
            admin.update(extra)
            admins.append({k: v for k, v in admin.items() if v is not None})
        return admins

    def _times(
        self, raw: Json, version: Version, label: str, findings: list[Json]
    ) -> tuple[str | None, str | None]:
        prefix = "effective" if version == "R4" else "occurence"
        if f"{prefix}DateTime" in raw or f"_{prefix}DateTime" in raw:
            start, end = _time(raw, f"{prefix}DateTime"), None
        elif isinstance(raw.get(f"{prefix}Period"), dict):
            period = raw[f"{prefix}Period"]
            start, end = _time(period, "start"), _time(period, "end")
        elif isinstance(raw.get("occurenceTiming"), dict):
            events = raw["occurenceTiming"].get("event") or []
            start, end = (events[0] if events else None), None
            if len(events) > 1:
                findings.append(
                    _finding(
                        "timing-events",
                        "warning",
                        f"{label} lists {len(events)} times: the first is used",
                        label,
                    )
                )
        else:
            start = end = None
        for name, value in (("start", start), ("end", end)):
            if value is not None and "T" not in value:
                findings.append(
                    _finding(
                        "time-without-clock",
                        "warning",
                        f"{label}: the {name} {excerpt(value, 12)} is a date without a time; it is left out",
                        label,
                    )
                )
        return (start if start and "T" in start else None), (end if end and "T" in end else None)

    def _route_and_method(self, dosage: Json, label: str, findings: list[Json]) -> Json:
        concept = dosage.get("route")
        match = _lookup(self.routes, concept, _ROUTE_SYSTEMS, want="route")
        route = match.route if match else _text(concept)
        hint = match.method if match else None
        if route is None:
            dose = dosage.get("dose") or {}
            form = None
            for term, system in ((dose.get("code"), "v3-orderableDrugForm"), (dose.get("unit"), "text")):
                if isinstance(term, str) and form is None:
                    found = self.routes.resolve(term, system)
                    form = found if found and found.route else None
            if form is not None:
                route = form.route
                findings.append(
                    _finding(
                        "route-inferred",
                        "info",
                        f"{label} records no route; {route} is inferred from its dose unit {excerpt(form.term, 20)}",
                        label,
                    )
                )
            else:
                route = "unspecified"
                findings.append(
                    _finding(
                        "route-missing",
                        "warning",
                        f"{label} records no route (dosage.route): not coded until the route is documented",
                        label,
                    )
                )
        method_concept = dosage.get("method")
        method_match = _lookup(self.routes, method_concept, _METHOD_SYSTEMS, want="method")
        method = method_match.method if method_match else None
        if method is None:
            method = _method_word(_text(method_concept)) or hint
        return {"route": route, "method": method}

    def _drugs(
        self, raw: Json, version: Version, label: str, findings: list[Json]
    ) -> list[tuple[Json, Json]]:
        """(CodeableConcept, fields from our ingredient extensions) per substance given."""
        if version == "R4":
            concept, reference = raw.get("medicationCodeableConcept"), raw.get("medicationReference")
        else:
            medication = raw.get("medication") or {}
            concept, reference = medication.get("concept"), medication.get("reference")
        if concept:
            return [(concept, {})]
        reference = reference or {}
        resource = self.index.resolve(reference.get("reference"), raw)
        if resource is None:
            findings.append(
                _finding(
                    "medication-unresolved",
                    "warning",
                    f"{label}: its Medication {excerpt(reference.get('reference'), 40)} is not in the input; "
                    "named from the reference text only",
                    label,
                )
            )
            return [({"text": reference.get("display")}, {})]
        if not str(reference.get("reference", "")).startswith("#"):
            _, problem, _ = self.index.check(resource)
            if problem is not None:
                findings.append(
                    _finding(
                        "invalid-resource", "warning", f"Medication/{resource.get('id')} is {problem}", label
                    )
                )
        code = resource.get("code")
        if code and (code.get("coding") or code.get("text")):
            return [(code, {})]  # a product (premix) is one drug, whatever its ingredients
        drugs: list[tuple[Json, Json]] = []
        for ingredient in resource.get("ingredient") or []:
            if "item" in ingredient:  # R5: CodeableReference
                item = ingredient["item"]
                inner, ref = item.get("concept"), item.get("reference")
            else:
                inner, ref = ingredient.get("itemCodeableConcept"), ingredient.get("itemReference")
            if not inner and isinstance(ref, dict):
                target = self.index.resolve(ref.get("reference"), resource) or self.index.resolve(
                    ref.get("reference"), raw
                )
                inner = (target or {}).get("code") or {"text": ref.get("display")}
            drugs.append((inner or {}, _extension_fields(ingredient.get("extension"))))
        if not drugs:
            findings.append(
                _finding("medication-without-code", "warning", f"{label}: its Medication has no code", label)
            )
            drugs.append(({}, {}))
        return drugs

    def _performer(self, raw: Json, version: Version) -> str | None:
        for performer in raw.get("performer") or []:
            actor = performer.get("actor") or {}
            if version == "R5":
                actor = actor.get("reference") or {"display": _text(actor.get("concept"))}
            name = actor.get("display") or actor.get("reference")
            if name:
                return str(name)
        return None

    def _orderer(self, raw: Json) -> str | None:
        request = self.index.resolve((raw.get("request") or {}).get("reference"), raw)
        requester = (request or {}).get("requester") or {}
        name = requester.get("display") or requester.get("reference")
        return str(name) if name else None

    def _indication(self, raw: Json, version: Version) -> str | None:
        concepts: list[Any] = []
        references: list[Any] = []
        if version == "R4":
            concepts = list(raw.get("reasonCode") or [])
            references = list(raw.get("reasonReference") or [])
        else:
            for reason in raw.get("reason") or []:
                concepts.append(reason.get("concept"))
                references.append(reason.get("reference"))
        texts: list[str] = []
        for concept in concepts:
            if not concept:
                continue
            if not concept.get("text") and all(
                c.get("system") == REASON_GIVEN for c in concept.get("coding") or []
            ):
                continue
            texts.append(_text(concept) or "")
        for reference in references:
            if not reference:
                continue
            target = self.index.resolve(reference.get("reference"), raw)
            texts.append(reference.get("display") or _text((target or {}).get("code")) or "")
        texts = [t for t in dict.fromkeys(texts) if t]
        return "; ".join(texts) or None

    # ---- one encounter

    def encounter(self, group: _Group) -> Json:
        findings = list(group.findings)
        record: Json = {"encounter_id": group.encounter_id, "claim_type": self.options.claim_type}
        timezone = self.options.timezone
        inpatient = False
        resource = group.encounter.raw if group.encounter else None
        if resource is not None:
            label = group.encounter.label if group.encounter else ""
            _, problem, _ = self.index.check(resource)
            if problem is not None:
                findings.append(
                    _finding(
                        "invalid-resource", "warning", f"{label} is {problem}; its class is not read", label
                    )
                )
            else:
                inpatient = bool(_classes(resource) & INPATIENT_CLASSES)
                record.update(_encounter_extensions(resource))
                timezone = timezone or _extension_value(resource.get("extension"), EXT_TIMEZONE, "valueCode")
        ids = [a["id"] for a in group.administrations]
        if group.by_subject is not None and ids:
            findings.append(
                _finding(
                    "no-encounter-reference",
                    "info",
                    f"{len(ids)} MedicationAdministration(s) carry no encounter reference: grouped by "
                    f"{group.by_subject}; check that they belong to one claim",
                    None,
                    ids,
                )
            )
        if resource is None and group.inpatient_hint and group.by_subject is None:
            findings.append(
                _finding(
                    "setting-not-known",
                    "info",
                    f"{', '.join(group.inpatient_hint[:3])}: category inpatient, but the Encounter resource is not "
                    "in the input: coded as the claim type given; import the Encounter to decide the setting",
                    None,
                )
            )
        administrations = group.administrations
        if inpatient:
            if self.options.include_inpatient:
                findings.append(
                    _finding(
                        "inpatient-claim",
                        "warning",
                        "The Encounter is inpatient (class IMP/ACUTE/NONAC): its services belong to the "
                        "inpatient claim, which does not carry these codes; coded only because it was asked",
                        group.encounter.label if group.encounter else None,
                        ids,
                    )
                )
            else:
                sources = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
                findings.append(
                    _finding(
                        "inpatient-claim",
                        "info",
                        f"The Encounter is inpatient (class IMP/ACUTE/NONAC): its {len(ids)} administration(s) "
                        "belong to the inpatient claim and are not coded here (--include-inpatient codes them)",
                        sources or None,
                    )
                )
                administrations = []
        if administrations and record.get("primary_administration") not in {None, *ids}:
            record.pop("primary_administration")
        elif not administrations:
            record.pop("primary_administration", None)
        record["administrations"] = administrations
        record["source_findings"] = findings
        for name, value in (
            ("place_of_service", self.options.place_of_service),
            ("policy", self.options.policy),
            ("timezone", timezone),
        ):
            if value is not None:
                record[name] = value
        try:
            Encounter.model_validate(record)
        except pydantic.ValidationError as error:
            message, element = _validation_message(error, 1)
            return error_record(group.encounter_id, message, element)
        return record


# ------------------------------------------------------------------------------------ reading helpers


def _text(concept: Any) -> str | None:
    """A CodeableConcept's words: text, else the first display, else the first code."""
    if not isinstance(concept, dict):
        return None
    if concept.get("text"):
        return str(concept["text"])
    codings = concept.get("coding") or []
    for key in ("display", "code"):
        for coding in codings:
            if coding.get(key):
                return str(coding[key])
    return None


def _drug_codes(concept: Json) -> Json:
    codes: Json = {}
    for coding in concept.get("coding") or []:
        system, code = str(coding.get("system") or ""), coding.get("code")
        if not code:
            continue
        if system == RXNORM:
            codes.setdefault("rxnorm", str(code))
        elif system == NDC:
            codes.setdefault("ndc", str(code))
        elif system.rstrip("/").split("://")[-1] == HCPCS.split("://")[-1]:
            codes.setdefault("hcpcs", str(code))
    return codes


def _lookup(routes: Any, concept: Any, systems: dict[str, str], want: str) -> RouteMatch | None:
    """Codes first (their system decides the table), then text and displays."""
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or []:
        system = str(coding.get("system") or "").rstrip("/").rsplit("/", 1)[-1]
        table = systems.get(system)
        if table and coding.get("code"):
            found: RouteMatch | None = routes.resolve(str(coding["code"]), table)
            if found is not None and getattr(found, want):
                return found
    words = [concept.get("text")] + [c.get("display") for c in concept.get("coding") or []]
    for word in words:
        if isinstance(word, str) and word.strip():
            found = routes.resolve(word, "text")
            if found is not None and getattr(found, want):
                return found
    return None


def _method_word(text: str | None) -> str | None:
    """Free method text ("slow push over 2 min"): the technique word in it, if there is one."""
    words = (text or "").lower()
    for stem, method in (("push", "push"), ("bolus", "push"), ("infus", "infusion"), ("drip", "infusion")):
        if stem in words:
            return method
    return "injection" if "inject" in words else None


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


_ML = {"ml": 1.0, "l": 1000.0}
_PER_HOUR = {"h": 1.0, "hr": 1.0, "hour": 1.0, "min": 60.0, "s": 3600.0}


def _unit(quantity: Json) -> str:
    return str(quantity.get("code") or quantity.get("unit") or "").strip().lower()


def _rate(dosage: Json) -> float | None:
    """mL/h from rateQuantity (mL/h, mL/min, L/h) or rateRatio (mL per h or min)."""
    quantity = dosage.get("rateQuantity")
    if isinstance(quantity, dict) and _positive(quantity.get("value")) and "/" in _unit(quantity):
        volume, _, per = _unit(quantity).partition("/")
        if volume in _ML and per in _PER_HOUR:
            return float(quantity["value"]) * _ML[volume] * _PER_HOUR[per]
    ratio = dosage.get("rateRatio")
    if isinstance(ratio, dict):
        top, bottom = ratio.get("numerator") or {}, ratio.get("denominator") or {}
        amount = bottom.get("value", 1)
        if (
            _positive(top.get("value"))
            and _positive(amount)
            and _unit(top) in _ML
            and _unit(bottom) in _PER_HOUR
        ):
            per_unit = float(top["value"]) * _ML[_unit(top)] / float(amount)
            return per_unit * _PER_HOUR[_unit(bottom)]
    return None


def _time(holder: Json, name: str) -> str | None:
    value = holder.get(name)
    if not isinstance(value, str):
        return None
    if _extension_value((holder.get("_" + name) or {}).get("extension"), EXT_LOCAL_TIME, "valueBoolean"):
        return re.sub(r"(Z|[+-]\d\d:\d\d)$", "", value)  # our writer's filler offset for a wall-clock time
    return value


def _first_time(raw: Json, version: Version) -> str | None:
    prefix = "effective" if version == "R4" else "occurence"
    value = raw.get(f"{prefix}DateTime")
    if value is None and isinstance(raw.get(f"{prefix}Period"), dict):
        value = raw[f"{prefix}Period"].get("start")
    return value if isinstance(value, str) else None


def _extension_value(extensions: Any, url: str, key: str) -> Any:
    for extension in _as_list(extensions):
        if isinstance(extension, dict) and extension.get("url") == url:
            return extension.get(key)
    return None


def _extension_fields(extensions: Any) -> Json:
    """Contract fields carried in our extensions (on a MedicationAdministration or an ingredient)."""
    found: Json = {}
    simple = (
        (EXT_CATEGORY, "valueCode", "category"),
        (EXT_HORMONAL, "valueBoolean", "hormonal"),
        (EXT_PURPOSE, "valueCode", "purpose"),
        (EXT_PUMP, "valueCode", "pump"),
        (EXT_SEPARATE_ACCESS, "valueBoolean", "separate_access_required"),
        (EXT_MIX, "valueString", "mix"),
        (EXT_SINGLE_DOSE, "valueBoolean", "single_dose_container"),
        (EXT_ADMINISTRATION_ID, "valueString", "id"),
    )
    for url, key, name in simple:
        value = _extension_value(extensions, url, key)
        if value is not None:
            found[name] = value
    for url, name in ((EXT_VOLUME, "volume_ml"), (EXT_WASTED, "wasted"), (EXT_DOSE, "dose")):
        quantity = _extension_value(extensions, url, "valueQuantity")
        if isinstance(quantity, dict) and quantity.get("value") is not None:
            found[name] = float(quantity["value"])
            if name == "dose" and (quantity.get("unit") or quantity.get("code")):
                found["dose_unit"] = quantity.get("unit") or quantity.get("code")
    return found


def _as_list(value: Any) -> list[Any]:
    """A repeating element as a list; before validation a broken one may be anything."""
    return value if isinstance(value, list) else []


def _our_identifier(raw: Json, system: str) -> str | None:
    for identifier in _as_list(raw.get("identifier")):
        if isinstance(identifier, dict) and identifier.get("system") == system and identifier.get("value"):
            return str(identifier["value"])
    return None


def _classes(resource: Json) -> set[str]:
    """Encounter.class codes: one Coding in R4, a list of CodeableConcepts in R5."""
    value = resource.get("class")
    codings = (
        [value] if isinstance(value, dict) else [c for cc in value or [] for c in cc.get("coding") or []]
    )
    return {str(c.get("code")).upper() for c in codings if isinstance(c, dict) and c.get("code")}


def _is_inpatient_category(raw: Json) -> bool:
    value = raw.get("category")
    concepts = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    return any(c.get("code") == "inpatient" for cc in concepts for c in cc.get("coding") or [])


def _encounter_extensions(resource: Json) -> Json:
    found: Json = {}
    encounter_id = _our_identifier(resource, ENCOUNTER_ID_SYSTEM)
    if encounter_id:
        found["encounter_id"] = encounter_id
    primary = _extension_value(resource.get("extension"), EXT_PRIMARY, "valueString")
    if primary:
        found["primary_administration"] = primary
    for extension in resource.get("extension") or []:
        if extension.get("url") == EXT_EM:
            inner = extension.get("extension") or []
            code = _extension_value(inner, "code", "valueCode")
            if code:
                em: Json = {"code": code}
                flag = _extension_value(inner, "separately-identifiable", "valueBoolean")
                if flag is not None:
                    em["separately_identifiable"] = flag
                found["evaluation_and_management"] = em
    return found


# --------------------------------------------------------------------------------------------- writing


def fhir_id(text: str) -> str:
    """A valid FHIR id ([A-Za-z0-9-.]{1,64}) for any string; a changed id gets a hash to stay unique."""
    clean = re.sub(r"[^A-Za-z0-9\-.]", "-", text)
    if clean == text and 0 < len(text) <= 64:
        return text
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"{clean[:55].strip('-') or 'x'}-{digest}"


def _fhir_time(value: datetime, zone: str | None) -> tuple[str, Json | None]:
    """FHIR wants an offset on every time: the zone's when known, else a filler flagged as such."""
    if value.tzinfo is not None:
        return value.isoformat(timespec="seconds"), None
    if zone:
        return value.replace(tzinfo=ZoneInfo(zone)).isoformat(timespec="seconds"), None
    flag = {"extension": [{"url": EXT_LOCAL_TIME, "valueBoolean": True}]}
    return value.isoformat(timespec="seconds") + "+00:00", flag


def _concept(admin: Administration) -> Json:
    codings = [
        {"system": system, "code": code}
        for system, code in ((RXNORM, admin.rxnorm), (NDC, admin.ndc), (HCPCS, admin.hcpcs))
        if code
    ]
    return {"coding": codings, "text": admin.substance} if codings else {"text": admin.substance}


def _extensions(pairs: Iterable[tuple[str, str, Any]]) -> list[Json]:
    return [{"url": url, key: value} for url, key, value in pairs if value is not None]


def _quantity(value: float | None, unit: str | None) -> Json | None:
    if value is None:
        return None
    return {"value": value, "unit": unit} if unit else {"value": value}


def _member_extensions(admin: Administration) -> list[Json]:
    """What one administration alone says (kept per ingredient in a mixed bag)."""
    return _extensions(
        [
            (EXT_CATEGORY, "valueCode", admin.category.value if admin.category else None),
            (EXT_HORMONAL, "valueBoolean", admin.hormonal),
            (EXT_PURPOSE, "valueCode", admin.purpose.value if admin.purpose else None),
            (EXT_SINGLE_DOSE, "valueBoolean", admin.single_dose_container),
            (EXT_WASTED, "valueQuantity", _quantity(admin.wasted, admin.dose_unit)),
        ]
    )


class _Writer:
    def __init__(
        self, encounter: Encounter, version: Version, encounter_class: str, subject: str | None
    ) -> None:
        self.encounter = encounter
        self.version = version
        self.encounter_class = encounter_class
        self.zone = encounter.timezone
        self.subject: Json = (
            {"reference": f"Patient/{fhir_id(subject)}"} if subject else {"display": "not recorded"}
        )
        self.encounter_fid = fhir_id(str(encounter.encounter_id))
        self.routes: dict[str, str] = {}

    def resources(self, pack: ReferencePack | None) -> list[Json]:
        if pack is not None:
            for (system, term), match in pack.routes.entries.items():
                if system == "snomed" and match.route:
                    self.routes.setdefault(match.route, term)
        groups: dict[str, list[Administration]] = {}
        for admin in self.encounter.administrations:
            groups.setdefault(f"mix:{admin.mix}" if admin.mix else f"id:{admin.id}", []).append(admin)
        resources = [self._encounter()]
        resources += [self._administration(group) for group in groups.values()]
        return resources

    def _encounter(self) -> Json:
        encounter = self.encounter
        extensions = _extensions(
            [
                (EXT_PRIMARY, "valueString", encounter.primary_administration),
                (EXT_TIMEZONE, "valueCode", encounter.timezone),
            ]
        )
        if encounter.evaluation_and_management is not None:
            em = encounter.evaluation_and_management
            inner = _extensions(
                [
                    ("code", "valueCode", em.code),
                    ("separately-identifiable", "valueBoolean", em.separately_identifiable),
                ]
            )
            extensions.append({"url": EXT_EM, "extension": inner})
        coding = {"system": ACT_CODE, "code": self.encounter_class}
        resource: Json = {
            "resourceType": "Encounter",
            "id": self.encounter_fid,
            "identifier": [{"system": ENCOUNTER_ID_SYSTEM, "value": encounter.encounter_id}],
            "status": "finished" if self.version == "R4" else "completed",
            "class": coding if self.version == "R4" else [{"coding": [coding]}],
            "subject": self.subject,
        }
        if extensions:
            resource["extension"] = extensions
        return resource

    def _administration(self, group: list[Administration]) -> Json:
        r4 = self.version == "R4"
        first = group[0]
        mixed = len(group) > 1
        resource: Json = {"resourceType": "MedicationAdministration"}
        if mixed:
            resource["id"] = fhir_id(f"{self.encounter.encounter_id}-mix-{first.mix}")
        else:
            resource["id"] = fhir_id(f"{self.encounter.encounter_id}-{first.id}")
            resource["identifier"] = [{"system": ADMINISTRATION_ID_SYSTEM, "value": first.id}]
        separate = [a.separate_access_required for a in group]
        shared = [
            (EXT_MIX, "valueString", first.mix),
            (EXT_PUMP, "valueCode", next((a.pump.value for a in group if a.pump), None)),
            (
                EXT_SEPARATE_ACCESS,
                "valueBoolean",
                True
                if True in separate
                else False
                if separate and all(s is False for s in separate)
                else None,
            ),
            (
                EXT_VOLUME,
                "valueQuantity",
                _quantity(next((a.volume_ml for a in group if a.volume_ml), None), "mL"),
            ),
        ]
        extensions = _extensions(shared) + ([] if mixed else _member_extensions(first))
        if extensions:
            resource["extension"] = extensions
        contained: list[Json] = []
        resource["status"] = "completed"
        if mixed:
            contained.append(self._mix_medication(group))
            reference = {"reference": "#mix"}
            resource.update(
                {"medicationReference": reference} if r4 else {"medication": {"reference": reference}}
            )
        else:
            concept = _concept(first)
            resource.update(
                {"medicationCodeableConcept": concept} if r4 else {"medication": {"concept": concept}}
            )
        resource["subject"] = self.subject
        resource["context" if r4 else "encounter"] = {"reference": f"Encounter/{self.encounter_fid}"}
        resource.update(self._times(group))
        performer = next((a.administered_by for a in group if a.administered_by), None)
        if performer:
            actor = {"display": performer}
            resource["performer"] = [{"actor": actor if r4 else {"reference": actor}}]
        orderer = next((a.ordered_by for a in group if a.ordered_by), None)
        if orderer:
            contained.append(self._order(first, orderer))
            resource["request"] = {"reference": "#order"}
        reasons = list(dict.fromkeys(a.indication for a in group if a.indication))
        if reasons:
            resource["reasonCode" if r4 else "reason"] = [
                {"text": text} if r4 else {"concept": {"text": text}} for text in reasons
            ]
        resource["dosage"] = self._dosage(group)
        if contained:
            resource["contained"] = contained
        return resource

    def _times(self, group: list[Administration]) -> Json:
        prefix = "effective" if self.version == "R4" else "occurence"
        starts = [a.start for a in group if a.start]
        ends = [a.end for a in group if a.end]
        if not starts:  # FHIR requires a time; say it is unknown rather than invent one
            return {f"{prefix}Period": {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}}
        start, start_flag = _fhir_time(min(starts), self.zone)
        if len(ends) != len(group):
            out: Json = {f"{prefix}DateTime": start}
            if start_flag:
                out[f"_{prefix}DateTime"] = start_flag
            return out
        end, end_flag = _fhir_time(max(ends), self.zone)
        period: Json = {"start": start, "end": end}
        if start_flag:
            period["_start"] = start_flag
        if end_flag:
            period["_end"] = end_flag
        return {f"{prefix}Period": period}

    def _dosage(self, group: list[Administration]) -> Json:
        first = group[0]
        route: Json = {"text": first.route}
        code = self.routes.get(first.route)
        if code:
            route["coding"] = [{"system": SNOMED, "code": code}]
        dosage: Json = {"route": route}
        method = next((a.method for a in group if a.method), None)
        if method is not None:
            dosage["method"] = {"text": method.value}
            snomed = {"push": "420620005", "injection": "422145002"}.get(method.value)
            if snomed:  # the same codes the route table reads back (snomed-method rows)
                dosage["method"]["coding"] = [{"system": SNOMED, "code": snomed}]
        access = next((a.access for a in group if a.access), None)
        if access:
            dosage["site"] = {"text": access}
        if len(group) == 1 and first.dose is not None:
            dosage["dose"] = _quantity(first.dose, first.dose_unit)
        rate = next((a.rate_ml_per_hour for a in group if a.rate_ml_per_hour), None)
        if rate is not None:
            unit = "mL/h"
            dosage["rateQuantity"] = {
                "value": rate,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            }
        return dosage

    def _mix_medication(self, group: list[Administration]) -> Json:
        ingredients = []
        for admin in group:
            extensions = [{"url": EXT_ADMINISTRATION_ID, "valueString": admin.id}, *_member_extensions(admin)]
            dose = _quantity(admin.dose, admin.dose_unit)
            if dose is not None:
                extensions.append({"url": EXT_DOSE, "valueQuantity": dose})
            concept = _concept(admin)
            item = (
                {"itemCodeableConcept": concept} if self.version == "R4" else {"item": {"concept": concept}}
            )
            ingredients.append({"extension": extensions, **item})
        return {"resourceType": "Medication", "id": "mix", "ingredient": ingredients}

    def _order(self, admin: Administration, orderer: str) -> Json:
        concept = _concept(admin)
        order: Json = {
            "resourceType": "MedicationRequest",
            "id": "order",
            "status": "completed",
            "intent": "order",
            "subject": self.subject,
            "requester": {"display": orderer},
        }
        order.update(
            {"medicationCodeableConcept": concept}
            if self.version == "R4"
            else {"medication": {"concept": concept}}
        )
        return order


def write_resources(
    encounter: Encounter,
    version: Version = "R4",
    *,
    pack: ReferencePack | None = None,
    encounter_class: str = "AMB",
    subject: str | None = None,
) -> list[Json]:
    """The Encounter and its MedicationAdministrations (mixed bags as one, with a contained Medication)."""
    return _Writer(encounter, version, encounter_class, subject).resources(pack)


def write_bundle(
    encounter: Encounter,
    version: Version = "R4",
    *,
    pack: ReferencePack | None = None,
    encounter_class: str = "AMB",
    subject: str | None = None,
) -> Json:
    """A collection Bundle for one encounter; `pack` supplies SNOMED route codes (text only without it)."""
    resources = write_resources(
        encounter, version, pack=pack, encounter_class=encounter_class, subject=subject
    )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"{BASE_URL}{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }


def write_ndjson(
    encounters: Iterable[Encounter],
    folder: Path,
    version: Version = "R4",
    *,
    pack: ReferencePack | None = None,
    encounter_class: str = "AMB",
) -> list[Path]:
    """Bulk Data files: Encounter.ndjson, MedicationAdministration.ndjson, Medication.ndjson (mixed bags'
    Medications as resources of their own, referenced as Medication/<id>)."""
    lines: dict[str, list[str]] = {"Encounter": [], "MedicationAdministration": [], "Medication": []}
    for encounter in encounters:
        for resource in write_resources(encounter, version, pack=pack, encounter_class=encounter_class):
            for inner in list(resource.get("contained") or []):
                if inner["resourceType"] != "Medication":
                    continue
                inner = {**inner, "id": fhir_id(f"{resource['id']}-{inner['id']}")}
                resource["contained"] = [
                    c for c in resource["contained"] if c["resourceType"] != "Medication"
                ]
                if not resource["contained"]:
                    del resource["contained"]
                target = {"reference": f"Medication/{inner['id']}"}
                key = "medicationReference" if version == "R4" else "medication"
                resource[key] = target if version == "R4" else {"reference": target}
                lines["Medication"].append(json.dumps(inner))
            lines[resource["resourceType"]].append(json.dumps(resource))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, rows in lines.items():
        if rows:
            path = folder / f"{kind}.ndjson"
            path.write_text("\n".join(rows) + "\n")
            paths.append(path)
    return paths
