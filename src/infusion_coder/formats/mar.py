"""MAR event CSV (format "mar"): one row per charted action, folded into administrations.

Default layout (docs/import-mar.md): encounter_id, administration_id, medication, dose, dose_unit, route,
site, action, time, rate_ml_per_hour, volume_ml, ndc, plus optional claim_type, place_of_service, rxnorm,
hcpcs, indication, ordered_by, administered_by, category, purpose, method, mix, pump, hormonal,
separate_access_required. A mapping file (TOML; YAML when PyYAML is installed) renames columns, adds
action words and sets the time format. Rows of one administration_id within one encounter are folded by
`events.fold`; a pause splits an infusion into administrations `<id>`, `<id>.2`, ...
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..reference import ReferencePack
from . import ImportOptions, Source, error_record, excerpt
from .events import Action, Event, Problem, Segment, fold

COLUMNS = (
    "encounter_id",
    "administration_id",
    "medication",
    "dose",
    "dose_unit",
    "route",
    "site",
    "action",
    "time",
    "rate_ml_per_hour",
    "volume_ml",
    "ndc",
)
OPTIONAL_COLUMNS = (
    "claim_type",
    "place_of_service",
    "rxnorm",
    "hcpcs",
    "indication",
    "ordered_by",
    "administered_by",
    "category",
    "purpose",
    "method",
    "mix",
    "pump",
    "hormonal",
    "separate_access_required",
)
REQUIRED = ("encounter_id", "administration_id", "action", "time")
NUMBERS = ("dose", "rate_ml_per_hour", "volume_ml")
BOOLEANS = ("hormonal", "separate_access_required")

# Action words, compared case-blind. Epic's ZC_MAR_RSLT names (ecosystem.md 1.4) and common variants.
DEFAULT_ACTIONS: dict[str, Action] = {
    "given": Action.GIVEN,
    "administered": Action.GIVEN,
    "push": Action.GIVEN,
    "bolus": Action.GIVEN,
    "bolus from bag": Action.GIVEN,
    "self administered": Action.GIVEN,
    "given by other": Action.GIVEN,
    "new bag": Action.START,
    "started": Action.START,
    "start": Action.START,
    "new syringe/cartridge": Action.START,
    "new syringe": Action.START,
    "new bag/syringe": Action.START,
    "given during downtime": Action.GIVEN,
    "patient/family admin": Action.GIVEN,
    "automatically held": Action.NOT_GIVEN,
    "mar hold": Action.NOT_GIVEN,
    "pt refused": Action.NOT_GIVEN,
    "infusion verify": Action.CHECK,
    "return to cabinet": Action.CHECK,
    "handoff": Action.CHECK,
    "restarted": Action.RESTART,
    "resumed": Action.RESTART,
    "rate change": Action.RATE_CHANGE,
    "rate changed": Action.RATE_CHANGE,
    "rate/dose change": Action.RATE_CHANGE,
    "dose change": Action.RATE_CHANGE,
    "paused": Action.PAUSE,
    "pause": Action.PAUSE,
    "stopped": Action.STOP,
    "stop": Action.STOP,
    "completed": Action.STOP,
    "infusion complete": Action.STOP,
    "bag removed": Action.STOP,
    "discontinued": Action.STOP,
    "not given": Action.NOT_GIVEN,
    "held": Action.NOT_GIVEN,
    "hold": Action.NOT_GIVEN,
    "refused": Action.NOT_GIVEN,
    "missed": Action.NOT_GIVEN,
    "canceled entry": Action.NOT_GIVEN,
    "cancelled entry": Action.NOT_GIVEN,
    "rate verify": Action.CHECK,
    "confirmed": Action.CHECK,
    "see alternative": Action.CHECK,
    "due": Action.CHECK,
}

_AMOUNT = re.compile(r"^\s*([0-9][0-9.,]*)\s*([A-Za-z%/][A-Za-z%/ ]*)?\s*$")
DEFAULT_TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p")


@dataclass(frozen=True)
class Layout:
    """Column names (contract name -> the file's header), action words and time format of one site."""

    columns: Mapping[str, str] = field(default_factory=dict)
    actions: Mapping[str, Action] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    time_format: str | None = None  # strptime pattern; None: ISO 8601 and DEFAULT_TIME_FORMATS

    def column(self, name: str) -> str:
        return self.columns.get(name, name)

    def action(self, word: str) -> Action | None:
        word = " ".join(word.split()).lower()
        found = self.actions.get(word)
        if found is None and word.startswith("stopped"):
            return Action.STOP  # "Stopped - Unscheduled", "Stopped (Completed)", ...
        return found

    def parse_time(self, text: str) -> datetime:
        text = text.strip()
        if self.time_format:
            return datetime.strptime(text, self.time_format)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
        for pattern in DEFAULT_TIME_FORMATS:
            try:
                return datetime.strptime(text, pattern)
            except ValueError:
                continue
        raise ValueError(f"not a time: {excerpt(text, 30)}")


class MappingError(ValueError):
    pass


def load_layout(path: Path | None) -> Layout:
    """The layout a mapping file describes (see docs/import-mar.md); the default layout without one."""
    if path is None:
        return Layout()
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]  # optional: only when the site uses YAML
        except ImportError as exc:
            raise MappingError(f"{path.name}: YAML mapping files need PyYAML; use TOML") from exc
        data = yaml.safe_load(text) or {}
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"{path.name}: not TOML: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError(f"{path.name}: expected a table with columns, actions, time_format")
    columns = data.get("columns", {})
    known = set(COLUMNS) | set(OPTIONAL_COLUMNS)
    for name in columns:
        if name not in known:
            raise MappingError(
                f"{path.name}: [columns] {name!r} is not a MAR column ({', '.join(COLUMNS)}, ...)"
            )
    actions = dict(DEFAULT_ACTIONS)
    for word, meaning in data.get("actions", {}).items():
        try:
            actions[" ".join(str(word).split()).lower()] = Action(str(meaning).lower())
        except ValueError as exc:
            choices = ", ".join(a.value for a in Action)
            raise MappingError(
                f"{path.name}: [actions] {word!r} = {meaning!r}: expected one of {choices}"
            ) from exc
    time_format = data.get("time_format")
    return Layout(
        {str(k): str(v) for k, v in columns.items()}, actions, str(time_format) if time_format else None
    )


@dataclass
class _Encounter:
    id: str
    fields: dict[str, str] = field(default_factory=dict)  # claim_type, place_of_service from rows
    events: list[Event] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)


def read(sources: Sequence[Source], options: ImportOptions, pack: ReferencePack) -> Iterator[dict[str, Any]]:
    try:
        layout = load_layout(options.mapping)
    except (OSError, MappingError) as exc:
        yield error_record(None, f"mapping file: {exc}", "mapping")
        return
    encounters: dict[str, _Encounter] = {}
    for source in sources:
        yield from _read_source(source, layout, encounters)
    for encounter in encounters.values():
        yield _encounter(encounter, options, pack)


def _read_source(
    source: Source, layout: Layout, encounters: dict[str, _Encounter]
) -> Iterator[dict[str, Any]]:
    try:
        text = source.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        yield error_record(None, f"{source.name}: cannot read: {exc}")
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [name for name in REQUIRED if layout.column(name) not in header]
    if missing:
        names = ", ".join(f"{layout.column(n)!r}" for n in missing)
        yield error_record(
            None,
            f"{source.name}: no column {names} in the header; a site's own column names go in a --mapping file",
            missing[0],
        )
        return
    for number, row in enumerate(reader, start=2):  # spreadsheet row numbers: the header is row 1
        ref = f"{source.name} row {number}"
        values = {
            name: (row.get(layout.column(name)) or "").strip() for name in (*COLUMNS, *OPTIONAL_COLUMNS)
        }
        encounter_id = values["encounter_id"]
        if not encounter_id:
            yield error_record(
                None, f"{ref}: no encounter_id: the row belongs to no encounter", "encounter_id"
            )
            continue
        encounter = encounters.setdefault(encounter_id, _Encounter(encounter_id))
        for name in ("claim_type", "place_of_service"):
            if values[name] and name not in encounter.fields:
                encounter.fields[name] = values[name]
        event = _event(values, ref, layout, encounter)
        if event is not None:
            encounter.events.append(event)


def _row_finding(
    encounter: _Encounter, ref: str, column: str, message: str, severity: str = "warning"
) -> None:
    encounter.findings.append(
        {
            "id": "mar-unreadable-row",
            "severity": severity,
            "administrations": [],
            "message": f"{ref}, column {column}: {message}",
            "source": ref,
        }
    )


def _event(values: dict[str, str], ref: str, layout: Layout, encounter: _Encounter) -> Event | None:
    for name in ("administration_id", "action", "time"):
        if not values[name]:
            _row_finding(encounter, ref, layout.column(name), "empty: row skipped")
            return None
    action = layout.action(values["action"])
    if action is None:
        _row_finding(
            encounter,
            ref,
            layout.column("action"),
            f"unknown action {excerpt(values['action'], 30)}: row skipped (name it in the mapping file)",
        )
        return None
    try:
        time = layout.parse_time(values["time"])
    except ValueError:
        expected = layout.time_format or "ISO 8601"
        _row_finding(
            encounter,
            ref,
            layout.column("time"),
            f"{excerpt(values['time'], 30)} is not a time ({expected}): row skipped",
        )
        return None
    payload: dict[str, Any] = {}
    for name in (*COLUMNS, *OPTIONAL_COLUMNS):
        if name in REQUIRED or name in ("claim_type", "place_of_service") or not values[name]:
            continue
        value: Any = values[name]
        if name in NUMBERS:
            amount = _AMOUNT.match(value)
            if name == "dose" and amount and amount.group(2) and not values["dose_unit"]:
                payload["dose_unit"] = amount.group(2)  # "4 mg" in one column
            try:
                value = float((amount.group(1) if amount else value).replace(",", ""))
            except ValueError:
                _row_finding(
                    encounter, ref, layout.column(name), f"{excerpt(value, 20)} is not a number: ignored"
                )
                continue
        elif name in BOOLEANS:
            value = value.lower() in ("true", "yes", "y", "1")
        payload[name] = value
    return Event(values["administration_id"], action, time, ref, payload)


def _finding(problem: Problem, administrations: list[str]) -> dict[str, Any]:
    return {
        "id": f"mar-{problem.kind}",
        "severity": problem.severity,
        "administrations": administrations,
        "message": f"administration {problem.key}: {problem.message}",
        "source": ", ".join(problem.refs),
    }


def _encounter(encounter: _Encounter, options: ImportOptions, pack: ReferencePack) -> dict[str, Any]:
    result = fold(encounter.events)
    # What a key's rows say about the drug, for segments opened by a bare Restarted row.
    identity: dict[str, dict[str, Any]] = {}
    for event in sorted(encounter.events, key=Event.sort_key):
        known = identity.setdefault(event.key, {})
        for name, value in event.payload.items():
            if name not in ("rate_ml_per_hour", "volume_ml") and name not in known:
                known[name] = value
    administrations: list[dict[str, Any]] = []
    made: set[str] = set()
    findings = list(encounter.findings)
    for segment in result.segments:
        administration = _administration(segment, identity.get(segment.key, {}), pack)
        if "substance" not in administration or "route" not in administration:
            missing = "medication" if "substance" not in administration else "route"
            findings.append(
                {
                    "id": "mar-incomplete-administration",
                    "severity": "warning",
                    "administrations": [],
                    "message": f"administration {segment.id}: no {missing} on any of its rows: not imported",
                    "source": ", ".join(e.ref for e in segment.events),
                }
            )
            continue
        administrations.append(administration)
        made.add(segment.id)
    for problem in result.problems:
        ids = [problem.segment.id] if problem.segment is not None and problem.segment.id in made else []
        findings.append(_finding(problem, ids))
    record: dict[str, Any] = {
        "encounter_id": encounter.id,
        "claim_type": encounter.fields.get("claim_type") or options.claim_type,
        "administrations": administrations,
        "source_findings": findings,
    }
    place = encounter.fields.get("place_of_service") or options.place_of_service
    if place:
        record["place_of_service"] = place
    if options.policy:
        record["policy"] = options.policy
    if options.timezone:
        record["timezone"] = options.timezone
    return record


def _iso(time: datetime) -> str:
    return time.isoformat(timespec="seconds" if time.second else "minutes")


def _administration(segment: Segment, identity: Mapping[str, Any], pack: ReferencePack) -> dict[str, Any]:
    payload = {**identity, **segment.payload()}
    administration: dict[str, Any] = {"id": segment.id}
    if payload.get("medication"):
        administration["substance"] = payload["medication"]
    route_text = payload.get("route")
    method = payload.get("method")
    if route_text:
        match = pack.routes.resolve(route_text)
        administration["route"] = match.route if match is not None and match.route else route_text
        if method is None and match is not None and match.method:
            method = match.method
    if method:
        administration["method"] = method
    administration["start"] = _iso(segment.start)
    if segment.end is not None:
        administration["end"] = _iso(segment.end)
    if segment.rates:
        administration["rate_ml_per_hour"] = segment.rates[0]
    if "volume_ml" in payload:
        administration["volume_ml"] = payload["volume_ml"]
    if "site" in payload:
        administration["access"] = payload["site"]
    for name in (
        "dose",
        "dose_unit",
        "ndc",
        "rxnorm",
        "hcpcs",
        "indication",
        "ordered_by",
        "administered_by",
    ):
        if name in payload:
            administration[name] = payload[name]
    for name in ("category", "purpose", "mix", "pump", "hormonal", "separate_access_required"):
        if name in payload:
            administration[name] = payload[name]
    return administration


# Writer: contract encounters -> MAR event rows (a start/stop pair per timed administration, a Given row
# for a start-only one). Used by round-trip tests and to hand an analyst a file in the default layout.

WRITE_COLUMNS = (*COLUMNS, *OPTIONAL_COLUMNS)


def write_csv(encounters: Sequence[Mapping[str, Any]]) -> str:
    """Event rows for the encounters; administrations without a start time cannot be charted (skipped)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, WRITE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for encounter in encounters:
        for administration in encounter.get("administrations", []):
            start = administration.get("start")
            if not start:
                continue
            row = {
                "encounter_id": encounter["encounter_id"],
                "claim_type": encounter.get("claim_type", ""),
                "place_of_service": encounter.get("place_of_service", ""),
                "administration_id": administration["id"],
                "medication": administration.get("substance", ""),
                "route": administration.get("route", ""),
                "site": administration.get("access", ""),
                "time": str(start),
            }
            for name in ("dose", "dose_unit", "rate_ml_per_hour", "volume_ml", "ndc", *OPTIONAL_COLUMNS[2:]):
                value = administration.get(name)
                if value is not None and name in administration:
                    row[name] = str(value).lower() if isinstance(value, bool) else str(value)
            end = administration.get("end")
            row["action"] = "New Bag" if end else "Given"
            writer.writerow(row)
            if end:
                writer.writerow(
                    {
                        "encounter_id": encounter["encounter_id"],
                        "administration_id": administration["id"],
                        "action": "Stopped",
                        "time": str(end),
                    }
                )
    return out.getvalue()
