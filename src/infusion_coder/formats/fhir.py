"""FHIR R4 / R4B / R5 MedicationAdministration in (Bundles, single resources, Bulk Data NDJSON) and out.

Reading. Sources are read record by record (NDJSON line by line on LF only, gzip as a stream) within
bounds that hold the machine (a file's size, a record's size, nesting depth, number size, resources per
import). Each Bundle is its own scope for ids and references (FHIR's rules: fullUrl first, then Type/id in
the Bundle), so Bundles that reuse ids never mix; resources that come alone (Bulk Data NDJSON) share the
import's own scope. Every resource is validated with `fhir.resources` on its own (R4B models for R4/R4B, R5
models for R5; the version is read off the elements the resource uses), so one broken resource becomes a
finding on its encounter (or an error object when no encounter can be told) and its neighbours still
import. A MedicationAdministration becomes one administration whose `id` is the resource id; a Medication
with no code and two or more ingredients is a mixed bag: one administration per ingredient
(`<resource id>/<n>`) sharing a `mix` label, as the contract's `mix` wants. Administrations group by their
encounter reference (R4 `context`, R5 `encounter`); those without one group by subject and local date, with
a finding saying so. The setting comes from Encounter.class only (formats/holds.py): inpatient classes are
not coded without `--include-inpatient`, an unknown one holds the encounter. docs/import-fhir.md has the
full table.

Writing. `write_bundle` gives a collection Bundle (Encounter + MedicationAdministrations) in R4 or R5 that
carries every contract field, the ones FHIR has no element for as extensions under `EXT`, which the
reader reads back; `write_ndjson` writes the same as Bulk Data files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, Literal
from zoneinfo import ZoneInfo

import pydantic
from fhir.resources import get_fhir_model_class as r5_model_class
from fhir.resources.R4B import get_fhir_model_class as r4b_model_class

from ..models import Administration, Encounter
from ..models import excerpt as value_excerpt
from ..reference import ReferencePack, RouteMatch
from . import ImportOptions, Source, SourceError, error_record, excerpt, holds, jsonio, unreadable
from .jsonio import HEAD_LINES

_BOM = b"\xef\xbb\xbf"

_finding = holds.finding

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
#
# Two passes. The first reads every source record by record (NDJSON line by line, a gzip file as a
# stream) and keeps what may be needed (MedicationAdministrations, the resources they refer to, Bundles) as
# JSON text: parsed, a resource takes about eight times the room. The second takes the Bundles and the
# MedicationAdministrations in reading order, each with the scope its references resolve in.

MAX_DEPTH = 64  # nesting levels in one document; a FHIR resource uses under 20
MAX_NUMBER_DIGITS = 18  # a FHIR decimal or integer with more digits is not a dose, a rate or a volume
MAX_HELD_RESOURCES = 100_000  # resources and Bundles kept across one import
MAX_HELD_BYTES = 128 * 2**20  # their JSON text
MAX_FILE_RECORDS = 200_000  # lines (or array elements) read from one file
MAX_FILE_ERRORS = 1_000  # unreadable records of one file before the rest of it is given up
_CACHED = 4_096  # parsed resources of the import's own scope kept at once (Encounters, Medications)
# Types whose resources are kept: MedicationAdministrations and what they refer to. Other resources
# (Patient, Observation, Provenance, ...) are read past.
KEPT_TYPES = frozenset(
    {"MedicationAdministration", "Encounter", "Medication", "MedicationRequest", "Condition"}
)
OUTPATIENT_CLASSES = frozenset({"AMB", "EMER", "OBSENC"})
_PROBLEM = "_infusion_coder_problem"  # marks a resource left out for its shape (too deep, a huge number)


@dataclass
class _Held:
    """A Bundle or a resource of the import's own scope, as JSON text until it is used."""

    data: bytes
    where: str
    kind: str
    file: str = ""  # the source it came from: its errors are counted against MAX_FILE_ERRORS


@dataclass
class _Scope:
    """Where references resolve: one Bundle (by fullUrl, then Type/id), else the Bundle around it, else
    the import's own scope (resources that came alone: Bulk Data NDJSON, single resources, arrays)."""

    number: int  # 0: the import's own scope
    parent: _Scope | None = None
    by_url: dict[str, _Item] = field(default_factory=dict)
    by_ref: dict[str, _Item] = field(default_factory=dict)
    conflicts: dict[str, str] = field(default_factory=dict)  # key -> where the other copy is


@dataclass
class _Item:
    """One resource as read, with where it was (for messages), its Bundle fullUrl and its scope."""

    raw: Json
    where: str
    full_url: str | None = None
    scope: _Scope | None = None
    contained: bool = False
    checked: tuple[Version, str | None, str | None] | None = None

    @property
    def type(self) -> str:
        kind = self.raw.get("resourceType")
        return _short(kind, 40) if isinstance(kind, str) else "resource"

    @property
    def label(self) -> str:
        rid = self.raw.get("id")
        return f"{self.type}/{_short(rid, 60)}" if isinstance(rid, str) else f"{self.type} ({self.where})"


@dataclass
class _Group:
    """The administrations of one encounter as they are gathered."""

    encounter_id: str
    encounter: _Item | None = None
    by_subject: str | None = None  # "subject on date" when grouped without an encounter reference
    administrations: list[Json] = field(default_factory=list)
    findings: list[Json] = field(default_factory=list)
    inpatient_hint: list[str] = field(default_factory=list)  # MA labels whose category says inpatient
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (where, digest)
    ids: dict[str, str] = field(default_factory=dict)  # administration id -> where it came from


def _short(value: object, limit: int = 60) -> str:
    """A source value in a label or message, unquoted: at most `limit` characters (a lone surrogate, which
    UTF-8 cannot hold, shown as its escape)."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _key(value: object) -> str:
    """An id as the contract takes it: valid Unicode, at most 200 characters (a longer one is cut and keeps a
    hash of the whole, so two stay two)."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= 200:
        return text
    return f"{text[:180]}~{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def _json(value: Any) -> str:
    """A JSON value as a message shows it: null, true, 12, 'text' (at most 20 characters), an array."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return value_excerpt(value, 20)


def _dict(value: Any) -> Json:
    """An element as an object; before validation a broken one may be anything."""
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    """A repeating element as a list; before validation a broken one may be anything."""
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# ---- messages in our own words: a validator's text may quote the input or speak Python

_CORE_TEXTS = (
    (re.compile(r"^(\w+) value string does not match spec regex"), r"not a valid FHIR \1"),
    (re.compile(r"^DateTime must be timezone aware"), "a time of day needs a UTC offset"),
    (re.compile(r"^Instant (must be timezone aware|value does not parse)"), "not a valid FHIR instant"),
    (re.compile(r"^Expect any of field value from this list \[([^\]]{0,200})\]"), r"one of \1 is required"),
    (
        re.compile(r"^Any of one field value is expected from this list \[([^\]]{0,200})\]"),
        r"only one of \1 may be given",
    ),
)
_WRONG_TYPE = re.compile(r"expects resource type ``(\w+)``,\s+but got ``(\w{1,40})")
_EXPECTED = re.compile(r"^Value is expected from the instance of (\w+), but got type <class '(\w+)'>")
_JSON_NAMES = {"int": "a number", "float": "a number", "bool": "true or false", "list": "an array",
               "str": "text", "dict": "an object", "NoneType": "null"}  # fmt: skip


def _error_text(item: Any) -> str:
    """One validation problem in the project's words: pydantic's own short messages as they are, the
    FHIR library's known ones reworded, anything else (an exception's text) replaced."""
    kind = str(item.get("type", ""))
    message = str(item.get("msg", ""))
    if kind == "value_error":
        text = message.removeprefix("Value error, ")
        for pattern, words in _CORE_TEXTS:
            if pattern.match(text):
                return pattern.sub(words, text.split("\n", 1)[0])[:200].rstrip(".").replace("'", "")
        return "not a valid value"
    if kind == "fhir-validation-wrong-resource-type" and (found := _WRONG_TYPE.search(message)):
        return f"expected {found[1]}, got a {found[2]} resource"
    if kind == "model_validation_format":
        if found := _EXPECTED.match(message):
            return f"expected {found[1]}, got {_JSON_NAMES.get(found[2], 'another kind of value')}"
        return "not the element or resource expected here"
    if kind == "json_invalid":
        return "expected an object, got text"
    if kind in ("type_error", "assertion_error") or "\n" in message or len(message) > 120:
        return "not a valid value"
    return message


def _validation_message(error: pydantic.ValidationError, limit: int = 3) -> tuple[str, str | None]:
    """'dosage.rateQuantity.value: ... (got '...')' for the first few problems, and the first element."""
    parts = []
    first: str | None = None
    errors = error.errors()
    for item in errors[:limit]:
        where = ".".join(_short(p, 30) for p in item["loc"][:8]) or "(resource)"
        first = first or where
        got = item.get("input")
        shown = (
            f" (got {excerpt(got, 30)})"
            if isinstance(got, str | int | float) and len(str(got)) < 10**4
            else ""
        )
        parts.append(f"{where}: {_error_text(item)}{shown}")
    more = len(errors) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else ""), first


def _guess_version(raw: Json) -> Version | None:
    kind = str(raw.get("resourceType"))
    keys = set(raw)
    if kind == "Encounter" and "class" in raw:
        return "R5" if isinstance(raw["class"], list) else "R4"
    if kind == "Medication":
        for ingredient in _as_list(raw.get("ingredient")):
            if isinstance(ingredient, dict) and "item" in ingredient:
                return "R5"
            if isinstance(ingredient, dict) and {"itemCodeableConcept", "itemReference"} & set(ingredient):
                return "R4"
    if keys & _R5_ONLY.get(kind, set()):
        return "R5"
    if keys & _R4_ONLY.get(kind, set()):
        return "R4"
    return None


@cache
def _model(kind: str, version: Version) -> Any:
    """The fhir.resources model of a resource type, or None when there is no such resource type."""
    if not re.fullmatch(r"[A-Z][A-Za-z]{1,63}", kind):
        return None
    try:
        model = r4b_model_class(kind) if version == "R4" else r5_model_class(kind)
    except Exception:  # the getter raises ValueError, KeyError or AttributeError for names it lacks
        return None
    if getattr(model, "__resource_type__", None) != kind or not model.has_resource_base():
        return None  # a data type (Period, Quantity), not a resource
    return model


def _type_problem(kind: str) -> str | None:
    """Why a resourceType is not a FHIR resource type, or None: a Bundle spelled "bundle" would otherwise
    lose its administrations without a word."""
    if _model(kind, "R5") is not None or _model(kind, "R4") is not None:
        return None
    known = {"bundle": "Bundle", **{t.lower(): t for t in KEPT_TYPES}}
    near = known.get(kind.strip().lower())
    hint = f" (FHIR type names are exact: {near})" if near else ""
    return f"resourceType {excerpt(kind, 40)} is not a FHIR resource type{hint}"


def _validate(raw: Json) -> tuple[Version, str | None, str | None]:
    if _PROBLEM in raw:
        return "R4", str(raw[_PROBLEM]), None
    kind = str(raw.get("resourceType"))
    guessed = _guess_version(raw)
    if kind == "MedicationAdministration":
        # elements both versions require, checked before the costly validation: junk is refused cheaply
        missing = [name for name in ("status", "subject") if name not in raw and f"_{name}" not in raw]
        if len(missing) == 2:
            name = "R5" if guessed == "R5" else "R4/R4B"
            return guessed or "R4", f"not valid FHIR {name}: {', '.join(missing)}: Field required", missing[0]
    tries: list[Version] = [guessed] if guessed else ["R4", "R5"]
    problems: list[tuple[Version, str, str | None]] = []
    for version in tries:
        model = _model(kind, version)
        if model is None:
            problems.append((version, f"resourceType {excerpt(kind, 40)} is not a FHIR resource type", None))
            continue
        try:
            model.model_validate(raw)
        except pydantic.ValidationError as error:
            message, element = _validation_message(error)
            problems.append((version, message, element))
            continue
        except (RecursionError, MemoryError):
            problems.append((version, "too deeply nested or too large to check", None))
            continue
        except Exception:  # fhir-core raises TypeError, KeyError, ... for a contained oddity
            problems.append(
                (
                    version,
                    "a contained resource or element has a shape the FHIR library cannot check",
                    None,
                )
            )
            continue
        return version, None, None
    version, message, element = min(problems, key=lambda p: p[1].count(";"))
    name = "R4/R4B" if version == "R4" else "R5"
    return version, f"not valid FHIR {name}: {message}", element


def _shape_problem(value: Any, limit: int = MAX_DEPTH, shown: int = MAX_DEPTH) -> str | None:
    """Why a document may not be read at all (nesting deeper than `limit`, a number of more than
    MAX_NUMBER_DIGITS digits or not finite), checked without recursion before anything else walks it."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            if isinstance(node, bool) or node is None or isinstance(node, str):
                continue
            if isinstance(node, int) and abs(node) >= 10**MAX_NUMBER_DIGITS:
                return f"not readable: a number in it has more than {MAX_NUMBER_DIGITS} digits"
            if isinstance(node, float) and not math.isfinite(node):
                return "not readable: a number in it is too large to be one (1e400 is infinity)"
            continue
        if depth > limit:
            return f"not readable: it is nested more than {shown} levels deep"
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | int | float))
    return None


def _stub(resource: Any, problem: str) -> Json:
    """What is kept of a resource left out for its shape: its type and id, for the message."""
    raw = _dict(resource)
    stub: Json = {_PROBLEM: problem}
    for key in ("resourceType", "id"):
        if isinstance(raw.get(key), str):
            stub[key] = _short(raw[key], 200)
    return stub


class _Gathered:
    """The first pass: what every source holds, kept as JSON text, with error objects for what is not
    FHIR. `units` are the Bundles and the MedicationAdministrations of the import's own scope, in reading
    order; `index` the import's own resources by Type/id."""

    def __init__(self) -> None:
        self.units: list[_Held] = []
        self.index: dict[str, _Held] = {}
        self.conflicts: dict[str, str] = {}
        self.count = 0
        self.size = 0
        self.full: str | None = None  # where reading stopped at the bounds
        self.file = ""

    def read(self, sources: Sequence[Source]) -> Iterator[Json]:
        for source in sources:
            if source.path is not None and source.path.is_dir():
                files = sorted(p for p in source.path.rglob("*") if _fhir_file(p))
                if not files:
                    yield error_record(
                        None, f"{source.name}: no .json or .ndjson files (gzipped or not) to read"
                    )
                for path in files:
                    yield from self._file(Source(f"{source.name}/{path.relative_to(source.path)}", path=path))
            else:
                yield from self._file(source)

    def _file(self, source: Source) -> Iterator[Json]:
        self.file = source.name
        if self.full is not None:
            yield error_record(None, f"{source.name}: not read: {self.full}")
            return
        try:
            yield from self._records(source.name, _documents(source))
        except SourceError as exc:
            yield error_record(None, str(exc)[:500])
        except OSError as exc:
            yield error_record(None, unreadable(source.name, exc))

    def _records(self, name: str, documents: Iterator[jsonio.Item]) -> Iterator[Json]:
        """The records of one file; its errors, at most MAX_FILE_ERRORS of them and MAX_FILE_RECORDS records
        read, then one error saying where reading stopped."""
        errors = 0
        for number, item in enumerate(documents, 1):
            where = f"{name} {item.where}" if item.where else name
            if number > MAX_FILE_RECORDS:
                yield error_record(
                    None,
                    f"{where}: {name} holds more than {MAX_FILE_RECORDS:,} records, the most one file may; "
                    "the rest of it is not read (split the file)",
                )
                return
            if item.problem is not None:
                found = [error_record(None, f"{name}{' ' if item.where else ': '}{item.problem}")]
            else:
                found = list(self._value(item.value, where, nested=False))
            for record in found:
                errors += 1
                if errors > MAX_FILE_ERRORS:
                    yield error_record(
                        None,
                        f"{where}: more than {MAX_FILE_ERRORS:,} records of {name} cannot be read; the rest of "
                        "it is not read (is it a FHIR export?)",
                    )
                    return
                yield record
            if self.full is not None:
                yield error_record(None, f"{where}: {self.full}; the rest of {name} is not read")
                return

    def _value(self, value: Any, where: str, nested: bool) -> Iterator[Json]:
        if isinstance(value, list) and not nested:
            for index, inner in enumerate(value, 1):
                yield from self._value(inner, f"{where} item {index}", nested=True)
                if self.full is not None:
                    return
            return
        if not isinstance(value, dict):
            yield error_record(None, f"{where}: not a FHIR resource ({_json(value)}, not an object)")
            return
        kind = value.get("resourceType")
        if not isinstance(kind, str) or not kind:
            yield error_record(None, f"{where}: not a FHIR resource (no resourceType)", "resourceType")
            return
        if kind != "Bundle":
            problem = _type_problem(kind)
            if problem is not None:
                yield error_record(None, f"{where}: {problem}; it is not read", "resourceType")
                return
            if kind not in KEPT_TYPES:
                return  # Patient, Observation, ...: not needed to code or to resolve a reference
        if kind == "MedicationAdministration" and not {"status", "_status", "subject", "_subject"} & set(
            value
        ):
            # refused at once, like any resource both versions would refuse for it: junk holds no room
            label = f"{kind}/{_short(value['id'], 60)}" if isinstance(value.get("id"), str) else kind
            _, problem, element = _validate(value)
            yield error_record(None, f"{where}: {label} is {problem}; it is not coded", element)
            return
        problem = _shape_problem(value)
        if problem is not None and kind == "Bundle":
            problem = _prune(value)
        if problem is not None:
            if kind == "MedicationAdministration":
                value = _stub(value, problem)  # kept: it still needs an answer on its encounter
            else:
                label = f"{kind}/{_short(value['id'], 60)}" if isinstance(value.get("id"), str) else kind
                yield error_record(None, f"{where}: {label} is {problem}; it is not read")
                return
        data = json.dumps(value, separators=(",", ":")).encode()  # ASCII: a lone surrogate stays escaped
        held = _Held(data, where, kind, self.file)
        self.count += 1
        self.size += len(data)
        if self.count > MAX_HELD_RESOURCES or self.size > MAX_HELD_BYTES:
            self.full = (
                f"the import holds more than {MAX_HELD_RESOURCES:,} resources or {MAX_HELD_BYTES // 2**20} MiB "
                "of them, the most one import reads; import the export in parts (fewer files at once)"
            )
            return
        if kind in ("Bundle", "MedicationAdministration"):
            self.units.append(held)
        rid = value.get("id")
        if kind != "Bundle" and isinstance(rid, str):
            key = f"{kind}/{rid}"
            first = self.index.setdefault(key, held)
            if first is not held and first.data != data:
                self.conflicts.setdefault(key, first.where)


_NON_BLANK = re.compile(rb"[^ \t\n\r\x0b\x0c]")  # what bytes.isspace() is not
_READ = 1 << 20
_LARGE = f"a JSON document larger than {jsonio.MAX_RECORD_BYTES // 2**20} MiB, the most one record may be"


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for each non-blank line of a stream, split on LF only (a CR before it is
    dropped; U+2028 and a lone CR split nothing), as jsonio frames JSON Lines. A line longer than
    jsonio.MAX_RECORD_BYTES comes as None and is skipped without being held. Blank stretches are passed
    over a megabyte at a time, so a file of nothing but line feeds costs no more than its size."""
    limit = jsonio.MAX_RECORD_BYTES
    buffer = bytearray()
    number = 1  # the line buffer[0] is on
    skipping: bool | None = None  # inside a line too long to keep: whether it has something on it
    while True:
        chunk = stream.read(_READ)
        eof = not chunk
        if skipping is not None:
            cut = chunk.find(b"\n")
            part = chunk if cut < 0 else chunk[:cut]
            skipping = skipping or (bool(part) and not part.isspace())
            if cut < 0 and not eof:
                continue
            if skipping:
                yield number, None
            number, skipping = number + 1, None
            chunk = chunk[cut + 1 :] if cut >= 0 else b""
        buffer += chunk
        end = len(buffer) if eof else buffer.rfind(b"\n") + 1  # whole lines; all of it at the end
        pos = 0
        if end == 0 or buffer[:end].isspace():  # at C speed: a blank stretch is passed over at once
            number += buffer.count(b"\n", 0, end)
            pos = end
        while pos < end:
            found = _NON_BLANK.search(buffer, pos, end)
            if found is None:
                break
            first = max(buffer.rfind(b"\n", pos, found.start()) + 1, pos)
            stop = buffer.find(b"\n", found.start(), end)
            stop = end if stop < 0 else stop
            number += buffer.count(b"\n", pos, first)
            line = bytes(buffer[first:stop])
            line = line[:-1] if line.endswith(b"\r") else line
            yield number, line if len(line) <= limit else None
            number += 1
            pos = stop + 1
        if pos < end:
            number += buffer.count(b"\n", pos, end)
        del buffer[:end]
        if eof:
            return
        if len(buffer) > limit + 1:  # no line end within the limit (and a CR): skip the rest of this line
            skipping = not buffer.isspace()
            buffer.clear()


def _documents(source: Source) -> Iterator[jsonio.Item]:
    """The records of a FHIR file as jsonio items (value or problem, and where): one document (a Bundle, a
    resource, an array of them), whole or pretty-printed over lines up to jsonio.MAX_RECORD_BYTES; or
    NDJSON, one record a line. The first non-blank line decides: a whole JSON value followed by more lines
    is NDJSON; a value spread over lines is one document; NDJSON whose first line is broken is read as
    NDJSON when one of its first HEAD_LINES lines is JSON; anything else is one problem for the file."""
    with source.open() as stream:
        lines = _lines(stream)
        head: list[tuple[int, bytes | None]] = []
        for number, line in lines:
            head.append((number, line[3:] if line and number == 1 and line.startswith(_BOM) else line))
            break
        if not head:
            yield jsonio.Item(problem="empty")
            return
        number, line = head[0]
        first = jsonio.parse(line, f"line {number}") if line is not None else None
        if first is not None and first.problem is None:
            following = next(lines, None)
            if following is None:
                yield jsonio.Item(first.value)  # one document on one line
                return
            yield first
            head = [following]
        else:
            starts = (line or b"").lstrip(b" \t")[:1]
            if starts in (b"{", b"["):  # perhaps one document over several lines
                whole = _whole(source)
                if whole is not None:
                    yield whole
                    return
            for more in lines:  # NDJSON with a broken first line, or no JSON at all?
                head.append(more)
                if more[1] is not None and jsonio.parse(more[1], "").problem is None:
                    break
                if len(head) >= HEAD_LINES:
                    yield jsonio.Item(problem="not JSON, nor NDJSON (no JSON in its first lines)")
                    return
            else:
                if len(head) == 1 and line is None:
                    yield jsonio.Item(
                        problem=f"{_LARGE}; write a large export as NDJSON (one resource a line)"
                    )
                    return
                if len(head) > 1 or starts not in (b"{", b"["):
                    yield jsonio.Item(problem="not JSON, nor NDJSON (no JSON in its first lines)")
                    return
        for number, line in itertools.chain(head, lines):
            where = f"line {number}"
            if line is None:
                yield jsonio.Item(
                    problem=f"{where} is longer than {jsonio.MAX_RECORD_BYTES:,} bytes", where=where
                )
            else:
                yield jsonio.parse(line, where)


def _whole(source: Source) -> jsonio.Item | None:
    """The file as one JSON document over several lines, or None when it is not one (NDJSON with a broken
    first line, say). Too large is a problem: a pretty-printed document is parsed whole."""
    with source.open() as stream:
        data = stream.read(jsonio.MAX_RECORD_BYTES + len(_BOM) + 1)
    data = data[len(_BOM) :] if data.startswith(_BOM) else data
    if len(data) > jsonio.MAX_RECORD_BYTES:
        return jsonio.Item(problem=f"{_LARGE}; write a large export as NDJSON (one resource a line)")
    item = jsonio.parse(data, "the file")
    return item if item.problem is None else None


def _prune(bundle: Json) -> str | None:
    """A Bundle that fails the shape check: each entry resource at fault is replaced by a stub naming its
    problem, so its neighbours are read; the problem of the Bundle itself if that does not suffice."""
    stack = [(bundle, 1)]
    while stack:
        node, depth = stack.pop()
        for entry in _as_list(node.get("entry")):
            resource = _dict(entry).get("resource")
            if not isinstance(resource, dict):
                continue
            if resource.get("resourceType") == "Bundle" and depth < 8:
                stack.append((resource, depth + 1))
                continue
            problem = _shape_problem(resource, MAX_DEPTH - 3 * depth)  # an entry sits 3 levels down
            if problem is not None:
                entry["resource"] = _stub(resource, problem)
    return _shape_problem(bundle)


def _fhir_file(path: Path) -> bool:
    """A file of a folder read as FHIR: JSON or NDJSON, gzipped or not (a .csv.gz beside them is not),
    unless its name says it holds a resource type the reader does not use (Observation.ndjson,
    Patient.000.ndjson.gz in a Bulk Data export): those are not opened."""
    name = path.name.lower().removesuffix(".gz")
    if not path.is_file() or not name.endswith((".json", ".ndjson")):
        return False
    kind = path.name.split(".", 1)[0]
    used = kind in KEPT_TYPES or kind == "Bundle"
    return used or (_model(kind, "R5") is None and _model(kind, "R4") is None)


def read(sources: Sequence[Source], options: ImportOptions, pack: ReferencePack) -> Iterator[Json]:
    """Contract encounters from FHIR Bundles, resources or NDJSON; error objects for unreadable input."""
    gathered = _Gathered()
    yield from gathered.read(sources)
    own = _Scope(0)
    reader = _Reader(gathered, own, options, pack)
    errors: dict[str, int] = {}  # per file: past MAX_FILE_ERRORS, the rest of its records are given up
    for unit in gathered.units:
        count = errors.get(unit.file, 0)
        if count > MAX_FILE_ERRORS:
            continue
        for record in _answers(reader, own, unit):
            if "error" in record:
                count += 1
                if count > MAX_FILE_ERRORS:
                    yield error_record(
                        None,
                        f"{unit.where}: more than {MAX_FILE_ERRORS:,} records of {unit.file} cannot be read; the "
                        "rest of it is not read (is it a FHIR export?)",
                    )
                    break
            yield record
        errors[unit.file] = count
    for group in reader.groups.values():
        try:
            record = reader.encounter(group)
        except Exception as exc:  # one encounter's error object, never the end of the import
            record = error_record(
                group.encounter_id,
                f"could not be built (an internal error: {type(exc).__name__}); it was not coded",
            )
        yield record


def _answers(reader: _Reader, own: _Scope, unit: _Held) -> Iterator[Json]:
    """The error objects of one held Bundle or MedicationAdministration (its administrations go to their
    encounters)."""
    value = json.loads(unit.data)
    if unit.kind == "Bundle":
        for found in reader.bundle(value, unit.where):
            if isinstance(found, _Item):
                yield from reader.guarded(found)
            else:
                yield found
    else:
        yield from reader.guarded(_Item(value, unit.where, None, own))


class _Reader:
    def __init__(self, gathered: _Gathered, own: _Scope, options: ImportOptions, pack: ReferencePack) -> None:
        self.gathered = gathered
        self.own = own
        self.options = options
        self.pack = pack
        self.routes = pack.routes
        self.groups: dict[tuple[str, int, str], _Group] = {}
        self.scopes = 0
        self._cache: dict[str, _Item | None] = {}
        self._checked: dict[str, tuple[Version, str | None, str | None]] = {}
        self._names: dict[str, set[int]] = {}  # encounter id -> the scopes of groups that carry it

    # ---- scopes and references

    def bundle(self, bundle: Json, where: str, parent: _Scope | None = None) -> Iterator[_Item | Json]:
        """The MedicationAdministrations of a Bundle (and of Bundles inside it) with their scope, and error
        objects for entries that are not resources. A Bundle is its own scope for ids and references."""
        self.scopes += 1
        scope = _Scope(self.scopes, parent or self.own)
        entries = bundle.get("entry")
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            yield error_record(None, f"{where}: Bundle.entry is not a list", "entry")
            return
        items: list[_Item] = []
        nested: list[tuple[Json, str]] = []
        for index, entry in enumerate(entries, 1):
            place = f"{where} entry {index}"
            if not isinstance(entry, dict):
                yield error_record(None, f"{place}: not an entry ({_json(entry)}, not an object)", "entry")
                continue
            resource = entry.get("resource")
            if resource is None:
                if "request" in entry or "response" in entry:
                    continue  # a transaction's DELETE, a batch response: no record
                yield error_record(None, f"{place}: an entry with no resource", "entry.resource")
                continue
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                yield error_record(None, f"{place}: not a FHIR resource (no resourceType)", "resourceType")
                continue
            kind = resource["resourceType"]
            if kind == "Bundle":
                nested.append((resource, place))
                continue
            problem = _type_problem(kind) if _PROBLEM not in resource else None
            if problem is not None:
                yield error_record(None, f"{place}: {problem}; it is not read", "resourceType")
                continue
            url = entry.get("fullUrl")
            item = _Item(resource, place, _strip_history(url) if isinstance(url, str) else None, scope)
            items.append(item)
            self._index(scope, item)
        for item in items:
            if item.type == "MedicationAdministration":
                yield item
        for resource, place in nested:
            yield from self.bundle(resource, place, scope)

    @staticmethod
    def _index(scope: _Scope, item: _Item) -> None:
        keys = [item.full_url] if item.full_url else []
        rid = item.raw.get("id")
        if isinstance(rid, str):
            keys.append(f"{item.raw['resourceType']}/{rid}")
        for key in keys:
            table = scope.by_url if key == item.full_url else scope.by_ref
            first = table.setdefault(key, item)
            if first is not item and first.raw != item.raw:
                scope.conflicts.setdefault(key, first.where)

    def resolve(self, reference: Any, item: _Item, container: Json | None = None) -> _Item | None:
        """A reference from `item` by FHIR's rules in Bundles: a contained `#id`; then in the Bundle, by
        fullUrl (an absolute reference, or a relative one on the entry's own base), then by Type/id; then
        in the Bundle around it; then among the import's own resources."""
        if not isinstance(reference, str) or not reference:
            return None
        if reference.startswith("#"):
            for inner in _as_list(_dict(container if container is not None else item.raw).get("contained")):
                if isinstance(inner, dict) and inner.get("id") == reference[1:]:
                    return _Item(inner, item.where, None, item.scope, contained=True)
            return None
        reference = _strip_history(reference)
        match = _REFERENCE.search(reference)
        relative = match is not None and match.start() == 0
        tail = f"{match[1]}/{match[2]}" if match else None
        base = _base(item.full_url)
        scope = item.scope
        while scope is not None and scope.number:
            found = scope.by_url.get(reference)
            if found is None and relative and base:
                found = scope.by_url.get(base + reference)
            if found is None and tail:
                found = scope.by_ref.get(tail)
            if found is not None:
                return found
            scope = scope.parent
        if tail is None or reference.startswith("urn:"):
            return None
        return self._own(tail)

    def _own(self, key: str) -> _Item | None:
        if key in self._cache:
            return self._cache[key]
        held = self.gathered.index.get(key)
        found = _Item(json.loads(held.data), held.where, None, self.own) if held else None
        if len(self._cache) >= _CACHED:
            self._cache.clear()
        self._cache[key] = found
        return found

    def check(self, item: _Item) -> tuple[Version, str | None, str | None]:
        """(version, problem, element), each resource validated once: the problem is None when it is valid."""
        if item.checked is None:
            shared = item.scope is self.own and not item.contained and item.type != "MedicationAdministration"
            key = item.label if shared else None  # one Encounter or Medication serves many administrations
            cached = self._checked.get(key) if key is not None else None
            item.checked = cached or _validate(item.raw)
            if key is not None and cached is None:
                self._checked[key] = item.checked
        return item.checked

    def conflict(self, item: _Item) -> str | None:
        """Where a different resource with the same id is, in the scope `item` was found in."""
        scope = item.scope
        rid = item.raw.get("id")
        keys = [
            k
            for k in (
                item.full_url,
                f"{item.raw.get('resourceType')}/{rid}" if isinstance(rid, str) else None,
            )
            if k
        ]
        for key in keys:
            where = (
                self.gathered.conflicts.get(key)
                if scope is self.own
                else scope.conflicts.get(key)
                if scope
                else None
            )
            if where is not None:
                return where
        return None

    # ---- grouping

    def group_of(self, item: _Item) -> _Group | None:
        raw = item.raw
        version = _guess_version(raw) or "R4"
        link = _dict(raw.get("context" if version == "R4" else "encounter"))
        reference = _str(_str(link.get("reference")) and link["reference"].strip())  # blank: none
        scope = item.scope
        local = scope.number if scope is not None else 0
        if reference is not None and reference.split("/")[-2:-1] != ["EpisodeOfCare"]:
            target = self.resolve(reference, item)
            if target is not None and target.raw.get("resourceType") == "Encounter":
                ours = _our_identifier(target.raw, ENCOUNTER_ID_SYSTEM)
                rid = target.raw.get("id")
                encounter_id = _key(
                    ours or (rid if isinstance(rid, str) and rid.strip() else reference.rsplit("/", 1)[-1])
                )
                # an id is a server's unless the Bundle names the resource by a urn:uuid of its own
                bundle_local = (
                    not ours and (target.full_url or "").startswith("urn:") and target.scope is not None
                )
                key = ("visit", target.scope.number if bundle_local and target.scope else 0, encounter_id)
                return self._group(key, encounter_id, target)
            match = _REFERENCE.search(reference)
            tail = match[2] if match else reference.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            key = ("visit", local if reference.startswith("urn:") else 0, _key(tail.strip() or reference))
            return self._group(key, key[2], None)
        logical = _dict(link.get("identifier"))
        value = _str(_str(logical.get("value")) and logical["value"].strip())
        if value is not None:
            # a logical reference (the visit number, no resource): the number is the encounter id
            return self._group(("visit", 0, _key(value)), _key(value), None)
        who = _str(_str(_dict(raw.get("subject")).get("reference")) and raw["subject"]["reference"].strip())
        if who is None:
            return None
        match = _REFERENCE.search(who)
        patient = _key(match[2] if match else who.rsplit("/", 1)[-1] or who)[:100]
        start = _first_time(raw, version)
        day = start[:10] if start else "undated"
        key = ("subject", local if who.startswith("urn:") else 0, f"{patient}|{day}")
        group = self._group(key, f"{patient}-{day}", None)
        group.by_subject = f"subject {patient} on {day}"
        return group

    def _group(self, key: tuple[str, int, str], encounter_id: str, encounter: _Item | None) -> _Group:
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(encounter_id, encounter)
            self._names.setdefault(encounter_id, set()).add(key[1])
        elif group.encounter is None:
            group.encounter = encounter
        return group

    # ---- one MedicationAdministration

    def guarded(self, item: _Item) -> Iterator[Json]:
        try:
            problem = self.administration(item)
        except Exception as exc:  # a shape no check foresaw must not end the import
            problem = error_record(
                None,
                f"{item.where}: {item.label} could not be read (an internal error: {type(exc).__name__}); "
                "it is not coded",
            )
        if problem is not None:
            yield problem

    def administration(self, item: _Item) -> Json | None:
        """Adds the administrations of one resource to its group; an error object if it has none."""
        group = self.group_of(item)
        label = item.label
        if group is not None:
            digest = hashlib.sha1(json.dumps(item.raw, sort_keys=True).encode()).hexdigest()
            seen = group.seen.get(label)
            if seen is not None:
                same = seen[1] == digest
                group.findings.append(
                    _finding(
                        "duplicate-resource",
                        "info" if same else "error",
                        f"{label} is read twice: the first copy ({_short(seen[0], 80)}) is used"
                        if same
                        else f"{label} is given twice with different content ({_short(seen[0], 80)} and here); "
                        "only the first is coded and the encounter is held: check which is right",
                        item.where,
                    )
                )
                return None
            group.seen[label] = (item.where, digest)
        version, problem, element = self.check(item)
        if problem is not None:
            message = f"{label} is {problem}; it is not coded"
            if group is None:
                return error_record(None, f"{item.where}: {message}", element)
            group.findings.append(_finding("invalid-resource", "error", message, item.where))
            return None
        if group is None:
            return error_record(
                None,
                f"{item.where}: {label} has neither an encounter reference nor a subject to group it by",
                "context" if version == "R4" else "encounter",
            )
        raw = item.raw
        status = str(raw.get("status") or "")
        if status in SKIPPED_STATUSES:
            group.findings.append(
                _finding(SKIPPED_STATUSES[status], "info", f"{label} has status {status}: not coded", label)
            )
            return None
        findings: list[Json] = []
        if status not in CODED_STATUSES:
            findings.append(
                _finding(
                    "administration-status-unknown",
                    "warning",
                    f"{label} has status {excerpt(status or 'none', 20)}: coded as given; check the chart",
                    label,
                )
            )
        admins = self._administrations(item, version, findings)
        accepted: list[Json] = []
        for admin in admins:
            try:
                Administration.model_validate(admin)
            except pydantic.ValidationError as error:
                message, _ = _validation_message(error, 1)
                findings.append(
                    _finding("unreadable-administration", "error", f"{label}: {message}; not coded", label)
                )
                continue
            other = group.ids.get(admin["id"])
            if other is not None:
                findings.append(
                    _finding(
                        "duplicate-administration-id",
                        "error",
                        f"{label} gives administration id {excerpt(admin['id'], 30)} again (first from "
                        f"{_short(other, 80)}): not coded, and the encounter is held: check which is right",
                        label,
                    )
                )
                continue
            group.ids[admin["id"]] = item.where
            accepted.append(admin)
        ids = [a["id"] for a in accepted]
        for finding in findings:
            if finding["severity"] != "error" or finding["id"] == "route-missing":
                finding["administrations"] = ids
        group.administrations.extend(accepted)
        group.findings.extend(findings)
        if _is_inpatient_category(raw):
            group.inpatient_hint.append(label)
        return None

    def _administrations(self, item: _Item, version: Version, findings: list[Json]) -> list[Json]:
        raw, label = item.raw, item.label
        base_id = _our_identifier(raw, ADMINISTRATION_ID_SYSTEM) or str(raw.get("id") or label)
        base: Json = {}
        start, end = self._times(raw, version, label, findings)
        base["start"], base["end"] = start, end
        dosage = _dict(raw.get("dosage"))
        drugs, product = self._drugs(item, version, findings)
        base.update(self._route_and_method(dosage, label, product, findings))
        base["access"] = _text(dosage.get("site"))
        dose = _dict(dosage.get("dose"))
        if _positive(dose.get("value")):
            base["dose"] = float(dose["value"])
            base["dose_unit"] = _str(dose.get("unit")) or _str(dose.get("code"))
        base["rate_ml_per_hour"] = _rate(dosage)
        base["administered_by"] = self._performer(raw, version)
        base["ordered_by"] = self._orderer(item)
        base["indication"] = self._indication(item, version)
        base.update(_extension_fields(raw.get("extension")))
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
            events = [e for e in _as_list(raw["occurenceTiming"].get("event")) if isinstance(e, str)]
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

    def _route_and_method(self, dosage: Json, label: str, product: str | None, findings: list[Json]) -> Json:
        concept = dosage.get("route")
        match = _lookup(self.routes, concept, _ROUTE_SYSTEMS, want="route")
        route = match.route if match else _text(concept)
        hint = match.method if match else None
        method_concept = dosage.get("method")
        method_match = _lookup(self.routes, method_concept, _METHOD_SYSTEMS, want="method")
        method = method_match.method if method_match else None
        if method is None:
            method = _method_word(_text(method_concept)) or hint
        if route is None:
            dose = _dict(dosage.get("dose"))
            form = None
            for term, system in ((dose.get("code"), "v3-orderableDrugForm"), (dose.get("unit"), "text")):
                if isinstance(term, str) and term and form is None:
                    found = self.routes.resolve(term, system)
                    form = found if found and found.route else None
            if form is not None and form.route is not None:
                route = form.route
                billable = route in ("intravenous", "intra-arterial", "subcutaneous", "intramuscular")
                findings.append(
                    _finding(
                        "route-inferred",
                        "warning" if billable else "info",
                        f"{label} records no route; {route} is inferred from its dose unit {excerpt(form.term, 20)}",
                        label,
                    )
                )
            else:
                route = holds.NO_ROUTE
                infused = method == "infusion" or _rate(dosage) is not None
                findings.append(holds.route_missing("", label, label, method, infused, product))
        return {"route": route, "method": method}

    def _drugs(
        self, item: _Item, version: Version, findings: list[Json]
    ) -> tuple[list[tuple[Json, Json]], str | None]:
        """(CodeableConcept, fields from our ingredient extensions) per substance given, and the product's
        dose form if its Medication names one."""
        raw, label = item.raw, item.label
        if version == "R4":
            concept, reference = raw.get("medicationCodeableConcept"), raw.get("medicationReference")
        else:
            medication = _dict(raw.get("medication"))
            concept, reference = medication.get("concept"), medication.get("reference")
        if isinstance(concept, dict) and concept:
            return [(concept, {})], None
        reference = _dict(reference)
        target = self.resolve(reference.get("reference"), item)
        if target is None:
            findings.append(
                _finding(
                    "medication-unresolved",
                    "warning",
                    f"{label}: its Medication {excerpt(reference.get('reference'), 40)} is not in the input; "
                    "named from the reference text only",
                    label,
                )
            )
            return [({"text": _str(reference.get("display"))}, {})], None
        resource = target.raw
        if not str(reference.get("reference", "")).startswith("#"):
            _, problem, _ = self.check(target)
            if problem is not None:
                findings.append(
                    _finding("invalid-resource", "warning", f"{target.label} is {problem}", label)
                )
        conflict = self.conflict(target)
        if conflict is not None:
            findings.append(
                _finding(
                    "duplicate-resource",
                    "warning",
                    f"{target.label} is given twice with different content (also {_short(conflict, 80)}): "
                    "the first is used",
                    label,
                )
            )
        product = _text(resource.get("form") if version == "R4" else resource.get("doseForm"))
        code = _dict(resource.get("code"))
        if code.get("coding") or code.get("text"):
            return [(code, {})], product  # a product (premix) is one drug, whatever its ingredients
        drugs: list[tuple[Json, Json]] = []
        for ingredient in _as_list(resource.get("ingredient")):
            ingredient = _dict(ingredient)
            if "item" in ingredient:  # R5: CodeableReference
                inner, ref = (
                    _dict(ingredient["item"]).get("concept"),
                    _dict(ingredient["item"]).get("reference"),
                )
            else:
                inner, ref = ingredient.get("itemCodeableConcept"), ingredient.get("itemReference")
            if not isinstance(inner, dict) or not inner:
                ref = _dict(ref)
                found = self.resolve(ref.get("reference"), target, resource) or self.resolve(
                    ref.get("reference"), item
                )
                inner = _dict((found.raw if found else {}).get("code")) or {"text": _str(ref.get("display"))}
            drugs.append((inner, _extension_fields(ingredient.get("extension"))))
        if not drugs:
            findings.append(
                _finding("medication-without-code", "warning", f"{label}: its Medication has no code", label)
            )
            drugs.append(({}, {}))
        return drugs, product

    def _performer(self, raw: Json, version: Version) -> str | None:
        for performer in _as_list(raw.get("performer")):
            actor = _dict(_dict(performer).get("actor"))
            if version == "R5":
                actor = _dict(actor.get("reference")) or {"display": _text(actor.get("concept"))}
            name = _str(actor.get("display")) or _str(actor.get("reference"))
            if name:
                return name
        return None

    def _orderer(self, item: _Item) -> str | None:
        request = self.resolve(_dict(item.raw.get("request")).get("reference"), item)
        requester = _dict((request.raw if request else {}).get("requester"))
        return _str(requester.get("display")) or _str(requester.get("reference"))

    def _indication(self, item: _Item, version: Version) -> str | None:
        raw = item.raw
        concepts: list[Any] = []
        references: list[Any] = []
        if version == "R4":
            concepts = _as_list(raw.get("reasonCode"))
            references = _as_list(raw.get("reasonReference"))
        else:
            for reason in _as_list(raw.get("reason")):
                concepts.append(_dict(reason).get("concept"))
                references.append(_dict(reason).get("reference"))
        texts: list[str] = []
        for concept in concepts:
            if not isinstance(concept, dict) or not concept:
                continue
            codings = [_dict(c) for c in _as_list(concept.get("coding"))]
            if not concept.get("text") and all(c.get("system") == REASON_GIVEN for c in codings):
                continue
            texts.append(_text(concept) or "")
        for reference in references:
            if not isinstance(reference, dict) or not reference:
                continue
            target = self.resolve(reference.get("reference"), item)
            texts.append(
                _str(reference.get("display")) or _text((target.raw if target else {}).get("code")) or ""
            )
        texts = [t for t in dict.fromkeys(texts) if t]
        return "; ".join(texts) or None

    # ---- one encounter

    def encounter(self, group: _Group) -> Json:
        findings = list(group.findings)
        record: Json = {"encounter_id": group.encounter_id, "claim_type": self.options.claim_type}
        timezone = self.options.timezone
        resource = group.encounter.raw if group.encounter else None
        label = group.encounter.label if group.encounter else None
        classes: set[str] = set()
        if group.encounter is not None and resource is not None:
            _, problem, _ = self.check(group.encounter)
            classes = _classes(resource)
            if problem is not None:
                findings.append(
                    _finding(
                        "invalid-resource",
                        "warning",
                        f"{label} is {problem}; only its class is read",
                        group.encounter.where,
                    )
                )
            else:
                record.update(_encounter_extensions(resource))
                timezone = timezone or _str(
                    _extension_value(resource.get("extension"), EXT_TIMEZONE, "valueCode")
                )
            conflict = self.conflict(group.encounter)
            if conflict is not None:
                findings.append(
                    _finding(
                        "duplicate-resource",
                        "warning",
                        f"{label} is given twice with different content (also {_short(conflict, 80)}): the "
                        "first is used",
                        group.encounter.where,
                    )
                )
        if len(self._names.get(group.encounter_id, ())) > 1:
            findings.append(
                _finding(
                    "encounter-id-reused",
                    "warning",
                    f"Other Bundles use the encounter id {excerpt(group.encounter_id, 60)} for another Encounter "
                    "(a urn:uuid of their own): they are kept apart; check that they are different visits",
                    label,
                )
            )
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
        administrations = group.administrations
        inpatient = sorted(classes & INPATIENT_CLASSES)
        if inpatient:
            evidence = f"{label} has class {inpatient[0]}"
            findings.append(holds.inpatient_stay(evidence, ids, self.options.include_inpatient, label))
            if not self.options.include_inpatient:
                administrations = []
        elif (
            not classes & OUTPATIENT_CLASSES
            and self.options.claim_type != "professional"
            and holds.could_bill((a["route"] for a in administrations), self.pack)
        ):
            if group.encounter is not None:
                shown = ", ".join(excerpt(c, 12) for c in sorted(classes)[:3])
                evidence = f"{label} has class {shown}" if classes else f"{label} has no class"
            elif group.by_subject is not None:
                evidence = "No Encounter is referenced"
            else:
                evidence = (
                    f"Encounter {excerpt(group.encounter_id, 60)} is not in the input (import the Encounter "
                    "resources with the administrations to tell)"
                )
            if group.inpatient_hint:
                evidence += f"; the category of {', '.join(group.inpatient_hint[:3])} is inpatient"
            findings.append(holds.setting_unknown(evidence, label, ids))
        if administrations and record.get("primary_administration") not in {None, *ids}:
            record.pop("primary_administration")
        elif not administrations:
            record.pop("primary_administration", None)
        record["administrations"] = administrations
        record["source_findings"] = holds.capped(findings)
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
            listed = ", ".join(_short(i, 40) for i in ids[:5]) + (
                f" and {len(ids) - 5} more" if len(ids) > 5 else ""
            )
            left = f"; its {len(ids)} administration(s) ({listed}) are not coded" if ids else ""
            return error_record(group.encounter_id, f"{message}{left}", element)
        return record


def _strip_history(reference: str) -> str:
    return re.sub(r"/_history/[^/]*$", "", reference)


def _base(full_url: str | None) -> str | None:
    """The server base of a RESTful fullUrl (`https://x/fhir/` of `https://x/fhir/Encounter/1`)."""
    if not full_url or full_url.startswith("urn:"):
        return None
    match = _REFERENCE.search(full_url)
    return full_url[: match.start(1)] if match else None


# ------------------------------------------------------------------------------------ reading helpers


def _text(concept: Any) -> str | None:
    """A CodeableConcept's words: text, else the first display, else the first code."""
    if not isinstance(concept, dict):
        return None
    if _str(concept.get("text")):
        return str(concept["text"])
    codings = [_dict(c) for c in _as_list(concept.get("coding"))]
    for key in ("display", "code"):
        for coding in codings:
            if _str(coding.get(key)):
                return str(coding[key])
    return None


def _drug_codes(concept: Json) -> Json:
    codes: Json = {}
    for coding in _as_list(concept.get("coding")):
        coding = _dict(coding)
        system, code = str(coding.get("system") or ""), _str(coding.get("code"))
        if not code:
            continue
        if system == RXNORM:
            codes.setdefault("rxnorm", code)
        elif system == NDC:
            codes.setdefault("ndc", code)
        elif system.rstrip("/").split("://")[-1] == HCPCS.split("://")[-1]:
            codes.setdefault("hcpcs", code)
    return codes


def _lookup(routes: Any, concept: Any, systems: dict[str, str], want: str) -> RouteMatch | None:
    """Codes first (their system decides the table), then text and displays."""
    if not isinstance(concept, dict):
        return None
    codings = [_dict(c) for c in _as_list(concept.get("coding"))]
    for coding in codings:
        system = str(coding.get("system") or "").rstrip("/").rsplit("/", 1)[-1]
        table = systems.get(system)
        if table and _str(coding.get("code")):
            found: RouteMatch | None = routes.resolve(str(coding["code"]), table)
            if found is not None and getattr(found, want):
                return found
    words = [concept.get("text")] + [c.get("display") for c in codings]
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
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e15


_ML = {"ml": 1.0, "l": 1000.0}
_PER_HOUR = {"h": 1.0, "hr": 1.0, "hour": 1.0, "min": 60.0, "s": 3600.0}


def _unit(quantity: Json) -> str:
    return str(_str(quantity.get("code")) or _str(quantity.get("unit")) or "").strip().lower()


def _rate(dosage: Json) -> float | None:
    """mL/h from rateQuantity (mL/h, mL/min, L/h) or rateRatio (mL per h or min)."""
    quantity = dosage.get("rateQuantity")
    if isinstance(quantity, dict) and _positive(quantity.get("value")) and "/" in _unit(quantity):
        volume, _, per = _unit(quantity).partition("/")
        if volume in _ML and per in _PER_HOUR:
            return float(quantity["value"]) * _ML[volume] * _PER_HOUR[per]
    ratio = dosage.get("rateRatio")
    if isinstance(ratio, dict):
        top, bottom = _dict(ratio.get("numerator")), _dict(ratio.get("denominator"))
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
    if _extension_value(_dict(holder.get("_" + name)).get("extension"), EXT_LOCAL_TIME, "valueBoolean"):
        return re.sub(r"(Z|[+-]\d\d:\d\d)$", "", value)  # our writer's filler offset for a wall-clock time
    return value


def _first_time(raw: Json, version: Version) -> str | None:
    prefix = "effective" if version == "R4" else "occurence"
    value = raw.get(f"{prefix}DateTime")
    if value is None and isinstance(raw.get(f"{prefix}Period"), dict):
        value = raw[f"{prefix}Period"].get("start")
    return _short(value, 40) if isinstance(value, str) else None


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
        if isinstance(value, str | bool):
            found[name] = value
    for url, name in ((EXT_VOLUME, "volume_ml"), (EXT_WASTED, "wasted"), (EXT_DOSE, "dose")):
        quantity = _extension_value(extensions, url, "valueQuantity")
        if isinstance(quantity, dict) and _number(quantity.get("value")):
            found[name] = float(quantity["value"])
            unit = _str(quantity.get("unit")) or _str(quantity.get("code"))
            if name == "dose" and unit:
                found["dose_unit"] = unit
    return found


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e15


def _our_identifier(raw: Json, system: str) -> str | None:
    for identifier in _as_list(raw.get("identifier")):
        value = _dict(identifier).get("value")
        if _dict(identifier).get("system") == system and isinstance(value, str) and value.strip():
            return value
    return None


def _classes(resource: Json) -> set[str]:
    """Encounter.class codes: one Coding in R4, a list of CodeableConcepts in R5."""
    value = resource.get("class")
    if isinstance(value, dict):
        codings = [value]
    else:
        codings = [c for cc in _as_list(value) for c in _as_list(_dict(cc).get("coding"))]
    return {c["code"].upper() for c in codings if isinstance(c, dict) and _str(c.get("code"))}


def _is_inpatient_category(raw: Json) -> bool:
    value = raw.get("category")
    concepts = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    return any(
        _dict(c).get("code") == "inpatient" for cc in concepts for c in _as_list(_dict(cc).get("coding"))
    )


def _encounter_extensions(resource: Json) -> Json:
    found: Json = {}  # the encounter id is the group's (our identifier first, as a valid id)
    primary = _extension_value(resource.get("extension"), EXT_PRIMARY, "valueString")
    if _str(primary):
        found["primary_administration"] = primary
    for extension in _as_list(resource.get("extension")):
        if isinstance(extension, dict) and extension.get("url") == EXT_EM:
            inner = extension.get("extension")
            code = _extension_value(inner, "code", "valueCode")
            if _str(code):
                em: Json = {"code": code}
                flag = _extension_value(inner, "separately-identifiable", "valueBoolean")
                if isinstance(flag, bool):
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
