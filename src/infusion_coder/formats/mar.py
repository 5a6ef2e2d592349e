"""MAR event CSV (format "mar"): one row per charted action, folded into administrations.

Default layout (docs/import-mar.md): encounter_id, administration_id, medication, dose, dose_unit, route,
site, action, time, rate_ml_per_hour, volume_ml, ndc, plus optional claim_type, place_of_service, rxnorm,
hcpcs, indication, ordered_by, administered_by, category, purpose, method, mix, pump, hormonal,
separate_access_required. A mapping file (TOML; YAML when PyYAML is installed) renames columns, adds
action words and sets the time format. Rows of one administration_id within one encounter are folded by
`events.fold`; a paused and restarted infusion is one administration whose `segments` are the stretches it
ran; a stop and a later restart, or another Given, make `<id>.2`, `<id>.3`, ...
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

from ..models import MAX_ID, MAX_SOURCE_FINDINGS, MAX_TEXT
from ..reference import ReferencePack
from . import ImportOptions, Source, SourceError, UnusableInput, error_record, excerpt
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
MAX_CELL = MAX_TEXT  # characters in one cell: a longer value is no MAR entry (docs/robustness.md)
MAX_MAR_BYTES = 32 * 2**20  # one import, all files: its rows are held until the last is read (robustness.md)
REQUIRED = ("encounter_id", "administration_id", "action", "time")
NUMBERS = ("dose", "rate_ml_per_hour", "volume_ml")
BOOLEANS = ("hormonal", "separate_access_required")
_EMPTY = dict.fromkeys((*COLUMNS, *OPTIONAL_COLUMNS), "")

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


class MappingError(UnusableInput):
    """A mapping file that cannot be used: nothing would be imported right, so the command stops (exit 2)."""


MAPPING_KEYS = ("columns", "actions", "time_format")
_SAMPLE_TIME = datetime(2026, 1, 15, 10, 5, tzinfo=timezone(timedelta(hours=-6)))


def load_layout(path: Path | None) -> Layout:
    """The layout a mapping file describes (see docs/import-mar.md); the default layout without one.
    Raises MappingError naming the file and the key at fault, never a parser's traceback."""
    if path is None:
        return Layout()
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MappingError(
            f"mapping file {name}: cannot read it ({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"mapping file {name}: not UTF-8 text (byte {exc.start} is not valid); save it as UTF-8"
        ) from None
    data: Any
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]  # optional: only when the site uses YAML
        except ImportError:
            raise MappingError(f"mapping file {name}: YAML mapping files need PyYAML; use TOML") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "a syntax error"
            raise MappingError(f"mapping file {name}: not YAML{where}: {_short(problem, 80)}") from None
        except RecursionError:
            raise MappingError(f"mapping file {name}: nested too deeply to be a mapping") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"mapping file {name}: not TOML: {_short(exc, 120)}") from None
        except RecursionError:
            raise MappingError(f"mapping file {name}: nested too deeply to be a mapping") from None
    if not isinstance(data, dict):
        raise MappingError(f"mapping file {name}: expected a table with {', '.join(MAPPING_KEYS)}")
    for key in data:
        if key not in MAPPING_KEYS:
            raise MappingError(
                f"mapping file {name}: unknown key {excerpt(key, 40)}; a mapping has {', '.join(MAPPING_KEYS)}"
                + _closest(str(key), MAPPING_KEYS)
            )
    columns = _table(data, "columns", name)
    known = (*COLUMNS, *OPTIONAL_COLUMNS)
    headers: dict[str, str] = {}
    for column, header in columns.items():
        if column not in known:
            raise MappingError(
                f"mapping file {name}: [columns] {excerpt(column, 40)} is not a MAR column"
                + _closest(str(column), known)
                + f"; the columns are {', '.join(COLUMNS)}, ..."
            )
        if not isinstance(header, str) or not header.strip():
            raise MappingError(
                f"mapping file {name}: [columns] {column} must be the header text of the site's column, "
                f"not {_kind(header)}"
            )
        headers[column] = header
    actions = dict(DEFAULT_ACTIONS)
    choices = ", ".join(a.value for a in Action)
    for word, meaning in _table(data, "actions", name).items():
        try:
            actions[" ".join(str(word).split()).lower()] = Action(str(meaning).lower())
        except ValueError:
            raise MappingError(
                f"mapping file {name}: [actions] {excerpt(word, 40)} = {excerpt(meaning, 40)}: "
                f"expected one of {choices}"
            ) from None
    return Layout(headers, actions, _time_format(data.get("time_format"), name))


def _table(data: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise MappingError(
            f"mapping file {name}: {key} must be a table ([{key}] with one name = value a line), "
            f"not {_kind(value)}"
        )
    return value


def _time_format(value: Any, name: str) -> str | None:
    """A strptime pattern that reads back a full date and time; an empty one means the defaults."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MappingError(f"mapping file {name}: time_format must be a strptime text, not {_kind(value)}")
    try:
        back = datetime.strptime(_SAMPLE_TIME.strftime(value), value)
    except (ValueError, re.error):
        raise MappingError(
            f"mapping file {name}: time_format {excerpt(value, 40)} is not a strptime pattern this reader "
            'can use (each of %Y %m %d %H %M once, e.g. "%m/%d/%Y %H:%M")'
        ) from None
    if back.replace(tzinfo=None) != _SAMPLE_TIME.replace(tzinfo=None):
        raise MappingError(
            f"mapping file {name}: time_format {excerpt(value, 40)} does not hold a whole date and time "
            "(year, month, day, hour and minute), so the times read with it would be wrong"
        )
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "empty text" if isinstance(value, str) else f"a {type(value).__name__}"


def _short(value: object, limit: int) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _closest(word: str, choices: Sequence[str]) -> str:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {excerpt(found[0], 60)}?)" if found else ""


@dataclass
class _Encounter:
    id: str
    fields: dict[str, str] = field(default_factory=dict)  # claim_type, place_of_service from rows
    events: list[Event] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)


def read(sources: Sequence[Source], options: ImportOptions, pack: ReferencePack) -> Iterator[dict[str, Any]]:
    layout = load_layout(options.mapping)  # MappingError: the whole input is unusable (exit 2)
    encounters: dict[str, _Encounter] = {}
    budget = _Budget(MAX_MAR_BYTES)
    for index, source in enumerate(sources):
        try:
            yield from _read_source(source, layout, encounters, budget)
        except UnusableInput as exc:
            if index == 0:
                raise  # the first file: the command stops before writing anything (exit 2)
            yield error_record(None, str(exc), "mapping")  # a later file: its error; the others go on
    for encounter in encounters.values():
        if budget.refused:
            encounter.findings.append(_incomplete(budget.refused))
        yield _encounter(encounter, options, pack)


@dataclass
class _Budget:
    """What one import may still read: every row is held until the last file is read (an encounter's rows
    may be in any file), so the import as a whole is bounded, not each file."""

    left: int
    refused: list[str] = field(default_factory=list)  # files not read for want of it


def _incomplete(refused: list[str]) -> dict[str, Any]:
    names = ", ".join(refused[:3]) + (" ..." if len(refused) > 3 else "")
    return {
        "id": "mar-import-incomplete",
        "severity": "error",
        "administrations": [],
        "message": f"the import did not read {names} (over the {MAX_MAR_BYTES // 2**20} MiB one MAR import "
        "may hold): rows of this encounter there would be missing; import fewer files at once",
        "source": names,
    }


def _check_header(source: Source, layout: Layout, header: Sequence[str]) -> None:
    """A column the mapping names, or a required one, that the file does not have: nothing of the file
    could be imported right, so it is an UnusableInput naming the column and the closest header."""
    for name in (*REQUIRED, *(n for n in layout.columns if n not in REQUIRED)):
        column = layout.column(name)
        if column in header:
            continue
        shown = [h for h in header if h][:200]
        close = difflib.get_close_matches(column, shown, n=1, cutoff=0.6)
        hint = f"; the closest header is {excerpt(close[0], 60)}" if close else ""
        if name in layout.columns:
            why = f"the mapping file names column {excerpt(column, 60)} for {name}, but"
            fix = "correct the mapping file"
        else:
            why = f"required column {excerpt(column, 60)} ({name}):"
            fix = "a site's own column names go in a --mapping file"
        raise UnusableInput(f"{source.name}: {why} the file has no such column{hint}; {fix}")


def _read_source(
    source: Source, layout: Layout, encounters: dict[str, _Encounter], budget: _Budget
) -> Iterator[dict[str, Any]]:
    try:
        data = source.read_bytes(budget.left)
    except SourceError as exc:
        if "larger than" in str(exc) or "expands to more than" in str(exc):
            budget.refused.append(source.name)
            yield error_record(
                None,
                f"{source.name}: not read: one MAR import holds at most {MAX_MAR_BYTES // 2**20} MiB of rows "
                "(about 300,000; they are all held until the last file is read); split the export",
            )
            return
        yield error_record(None, str(exc))
        return
    except OSError as exc:
        yield error_record(None, f"{source.name}: cannot read it ({exc.strerror or type(exc).__name__})")
        return
    budget.left -= len(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield error_record(None, f"{source.name}: not UTF-8 text (byte {exc.start} is not valid)")
        return
    del data
    yield from _read_rows(source, layout, encounters, text)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # as newline="": CR, LF or CRLF, kept


def _read_rows(
    source: Source, layout: Layout, encounters: dict[str, _Encounter], text: str
) -> Iterator[dict[str, Any]]:
    # lines sliced one at a time: io.StringIO would hold the whole text again, four bytes a character
    rows = csv.reader(match.group() for match in _LINE.finditer(text))
    try:
        header = next(rows, [])
    except csv.Error:
        header = []
    if not any(h.strip() for h in header):
        yield error_record(
            None, f"{source.name}: no header row: the file is empty or starts with a blank line"
        )
        return
    _check_header(source, layout, header)
    where = [
        (name, header.index(layout.column(name)))
        for name in (*COLUMNS, *OPTIONAL_COLUMNS)
        if layout.column(name) in header
    ]
    number = 1  # spreadsheet row numbers: the header is row 1
    while True:
        number += 1
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error:
            yield error_record(
                None,
                f"{source.name} row {number}: not readable CSV (a cell over {csv.field_size_limit():,} "
                "characters or a stray quote): row skipped",
            )
            continue
        if not row:
            continue  # a blank line
        ref = f"{source.name} row {number}"
        values = dict(_EMPTY)
        width = len(row)
        for name, i in where:
            if i < width and row[i]:
                values[name] = row[i].strip()
        encounter_id = values["encounter_id"]
        if not encounter_id:
            yield error_record(
                None, f"{ref}: no encounter_id: the row belongs to no encounter", "encounter_id"
            )
            continue
        if len(encounter_id) > MAX_ID:
            yield error_record(
                None, f"{ref}: encounter_id is longer than {MAX_ID} characters: row skipped", "encounter_id"
            )
            continue
        encounter = encounters.setdefault(encounter_id, _Encounter(encounter_id))
        long = None
        if sum(map(len, row)) > MAX_CELL:  # only then can a cell be too long
            long = next((n for n, v in values.items() if len(v) > MAX_CELL), None)
        if long is not None:
            _row_finding(
                encounter, ref, layout.column(long), f"longer than {MAX_CELL:,} characters: row skipped"
            )
            continue
        if len(values["administration_id"]) > MAX_ID:  # ids are echoed in every finding: the contract's bound
            _row_finding(
                encounter,
                ref,
                layout.column("administration_id"),
                f"longer than {MAX_ID} characters, more than an id may be: row skipped",
            )
            continue
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


def _more(rest: list[dict[str, Any]]) -> dict[str, Any]:
    order = ("error", "warning", "info")
    worst = min((f["severity"] for f in rest), key=order.index)
    kinds = sorted({f["id"] for f in rest})
    return {
        "id": "mar-more-findings",
        "severity": worst,
        "administrations": [],
        "message": f"{len(rest):,} more findings on this encounter's rows ({', '.join(kinds[:5])}"
        + (", ..." if len(kinds) > 5 else "")
        + f"), beyond the {MAX_SOURCE_FINDINGS:,} one encounter may carry: check the export",
        "source": _refs([f["source"] for f in rest if f.get("source")]),
    }


def _refs(refs: Sequence[str]) -> str:
    """The rows a finding concerns: a few named, the rest counted (a bag charted 2,000 times)."""
    shown = ", ".join(refs[:5])
    return shown + (f" and {len(refs) - 5:,} more rows" if len(refs) > 5 else "")


def _finding(problem: Problem, administrations: list[str]) -> dict[str, Any]:
    return {
        "id": f"mar-{problem.kind}",
        "severity": problem.severity,
        "administrations": administrations,
        "message": f"administration {problem.key}: {problem.message}",
        "source": _refs(problem.refs),
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
                    "source": _refs([e.ref for e in segment.events]),
                }
            )
            continue
        administrations.append(administration)
        made.add(segment.id)
    for problem in result.problems:
        ids = [problem.segment.id] if problem.segment is not None and problem.segment.id in made else []
        findings.append(_finding(problem, ids))
    if len(findings) > MAX_SOURCE_FINDINGS:  # the contract's bound: the rest are counted, not dropped
        findings = [*findings[: MAX_SOURCE_FINDINGS - 1], _more(findings[MAX_SOURCE_FINDINGS - 1 :])]
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
    stretches = segment.contract_segments(_iso)
    if stretches:
        administration["segments"] = stretches  # paused and restarted: only these minutes count
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


# Writer: contract encounters -> MAR event rows (a start/stop pair per timed administration, with Paused /
# Restarted between its segments, a Given row for a start-only one). Used by round-trip tests and to hand an analyst a file in the default layout.

WRITE_COLUMNS = (*COLUMNS, *OPTIONAL_COLUMNS)


def write_csv(encounters: Sequence[Mapping[str, Any]]) -> str:
    """Event rows for the encounters; administrations without a start time cannot be charted (skipped)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, WRITE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for encounter in encounters:
        for administration in encounter.get("administrations", []):
            segments = administration.get("segments") or []
            start = administration.get("start") or (segments[0].get("start") if segments else None)
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
            end = administration.get("end") or (segments[-1].get("end") if segments else None)
            row["action"] = "New Bag" if end else "Given"
            writer.writerow(row)
            marks: list[tuple[str, Any]] = []  # a paused bag: Paused / Restarted between its segments
            for before, after in pairwise(segments):
                marks += [("Paused", before.get("end")), ("Restarted", after.get("start"))]
            if end:
                marks.append(("Stopped", end))
            for action, time in marks:
                writer.writerow(
                    {
                        "encounter_id": encounter["encounter_id"],
                        "administration_id": administration["id"],
                        "action": action,
                        "time": str(time),
                    }
                )
    return out.getvalue()
