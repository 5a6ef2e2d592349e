"""Source formats: one module per format, its reader and its writer side by side.

A reader turns outside records into contract encounters (plain dicts, as `Encounter.model_validate`
takes them), one per encounter, in a stable order. A record it cannot read becomes an error object
(`{"encounter_id": ..., "error": {"message": ..., "field": ...}}`) in the stream, never an exception and
never a silent drop; a source record that belongs to an encounter but gives no administration (not given,
entered in error, an unpaired stop) becomes a `source_findings` entry on that encounter.

Every surface (the `import` and `code --from` commands, the service's upload endpoints, batch) reads
through `reader(name)`, so a format is added here once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import excerpt as models_excerpt
from ..reference import ReferencePack


@dataclass(frozen=True)
class ImportOptions:
    """What the source does not say and the user does (`--timezone`, `--claim-type`, ...)."""

    timezone: str | None = None  # IANA zone of the facility, set on every encounter
    claim_type: str = "institutional"
    place_of_service: str | None = None
    policy: str | None = None
    mapping: Path | None = None  # a site's own column names and action words (MAR CSV)
    include_inpatient: bool = False  # MIMIC: also emit stays that belong to an inpatient claim


@dataclass(frozen=True)
class Source:
    """One input: a file or folder on disk, or bytes uploaded to the service."""

    name: str  # for messages: a file name, never its contents
    path: Path | None = None
    data: bytes | None = None

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


Reader = Callable[[Sequence[Source], ImportOptions, ReferencePack], Iterator[dict[str, Any]]]

# name -> (module, what it reads); modules import lazily, since some pull in large libraries.
FORMATS: dict[str, tuple[str, str]] = {}


def register(name: str, module: str, description: str) -> None:
    FORMATS[name] = (module, description)


def reader(name: str) -> Reader:
    """The reader of a format; KeyError names the known formats."""
    if name not in FORMATS:
        raise KeyError(f"unknown format {name!r}; known: {', '.join(sorted(FORMATS))}")
    module = importlib.import_module(FORMATS[name][0])
    read: Reader = module.read
    return read


def error_record(encounter_id: str | None, message: str, field: str | None = None) -> dict[str, Any]:
    """An error object in an import stream: the record could not become an encounter."""
    return {"encounter_id": encounter_id, "error": {"message": message, "field": field}}


def excerpt(value: object, limit: int = 60) -> str:
    """A short, truncated rendering of a source value for messages: never a whole record."""
    return models_excerpt(str(value), limit)  # always quoted: a source value is text


register("fhir", f"{__name__}.fhir", "FHIR R4/R4B/R5 MedicationAdministration: Bundles (JSON) or NDJSON")
register("hl7", f"{__name__}.hl7v2", "HL7 v2 RAS^O17 / RGV^O15 messages (MLLP-framed or CR/LF separated)")
register("mar", f"{__name__}.mar", "MAR event CSV: one row per charted action (New Bag, Stopped, ...)")
register("mimic", f"{__name__}.mimic", "MIMIC-IV hosp/icu folders (emar, emar_detail, pharmacy, ...)")
