"""`infusion-coder batch`: code files of encounters into a folder of results and flat tables.

How a run goes (docs/batch.md):
- Inputs (JSON Lines, Parquet, CSV, or an importer's format) are read lazily, record by record; every
  record gets `seq`, its position over all inputs, and gives exactly one result.
- Records are cut into chunks of `chunk_size`. A chunk is coded in one process (the parent with
  `--jobs 1`, else one of N worker processes, each loading one Coder once) and written as its own part
  files under DIR/_parts/cNNNNNN/, through a temporary folder renamed into place, so a part exists whole
  or not at all. A chunk's part folder is the record that it is done.
- At most 2 x jobs chunks are in flight, so memory stays flat whatever the input's length.
- When every chunk is done, the parts are joined in chunk order into DIR/<table>.<format> and
  DIR/summary.json is written; the parts are removed.
- `--resume` after an interruption checks that inputs and options are those of the manifest
  (DIR/_parts/manifest.json: size, mtime and a hash of the first MiB of every input) and codes only the
  chunks that have no part folder. Chunking does not depend on `--jobs`, so the output bytes do not
  either.
- Every input is checked before the folder is touched (it exists, is not empty, reads as its format), so
  an unusable input leaves nothing behind; a run that fails later with no chunk finished removes what it
  made, and one with finished chunks says how to go on (`--resume`, or `--force` to start again).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from ..api import Coder, Result
from ..formats import FORMATS as IMPORT_FORMATS
from ..formats import ImportOptions, Source, UnusableInput, read_eagerly
from ..formats.jsonio import MAX_RECORD_BYTES, UnreadableInput
from ..formats.jsonio import read as read_json
from ..formats.tables import (
    EXTENSIONS,
    TABLES,
    WORKBOOK,
    Format,
    Rows,
    TableWriter,
    Workbook,
    csv_body,
    encode,
    model_fields,
)
from ..models import Encounter, ErrorDetail, ErrorResult

INPUT_FORMATS = ("jsonl", "parquet", "csv")
# Columns that hold nested values: list<struct> or struct in Parquet, JSON text in CSV.
NESTED_COLUMNS = ("administrations", "billed_lines", "evaluation_and_management", "source_findings")
MANIFEST_VERSION = 2  # 2: the import options (mapping, claim type, place of service, inpatient) joined


# The Parquet input layout, from the contract: scalars as columns, nested models as structs, lists of them
# as list<struct>, date-times as ISO 8601 text. Readers take any layout with these names (extra columns
# are unknown fields, as in JSON); this one is what write_encounters writes.
def _nullable(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_list(kind):
        return pa.list_(_nullable(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _nullable(f.type)) for f in kind])
    return kind


# every column nullable: a file may hold a record that is not a valid encounter, and gets its error row
ENCOUNTER_SCHEMA = pa.schema([pa.field(f.name, _nullable(f.type)) for f in model_fields(Encounter)])


class BatchError(Exception):
    """The batch cannot run or go on: an unreadable input, a folder in use, a resume that does not fit.
    The command exits 2 with this message."""


@dataclass(frozen=True)
class Record:
    """One input record: its value, or why it could not be read (then `encounter_id` if known)."""

    value: Any = None
    problem: str | None = None
    encounter_id: str | None = None


# ------------------------------------------------------------------------------------------------ inputs


def input_format(path: Path, forced: str | None) -> str:
    if forced:
        if forced not in INPUT_FORMATS and forced not in IMPORT_FORMATS:
            known = ", ".join([*INPUT_FORMATS, *sorted(IMPORT_FORMATS)])
            raise BatchError(f"unknown input format {forced!r}; known: {known}")
        return forced
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return "csv"
    return "jsonl"  # .jsonl, .ndjson, .json and anything else: the JSON reader sniffs the shape


# columns that tell a CSV in the encounter layout from a source export (a MAR CSV has none of them)
ENCOUNTER_COLUMNS = ("encounter_id", "claim_type", "administrations")


def check_input(path: Path, forced: str | None) -> None:
    """Raise BatchError when an input cannot be read at all as its format, before anything is written: no
    such file, an empty file, JSON that is not JSON, a CSV that is not in the encounter layout (a MAR
    export given without --from mar), a file that is not Parquet. `code` reads files through the same
    check, so both commands say the same thing about the same file."""
    if not path.exists():
        raise BatchError(f"cannot read {path}: no such file or folder")
    kind = input_format(path, forced)
    if kind in IMPORT_FORMATS:
        return  # the importer reads it (read_eagerly stops at an unusable source)
    if path.is_dir():
        raise BatchError(f"cannot read {path}: it is a folder; a folder is read with --from fhir or mimic")
    if path.stat().st_size == 0:
        raise BatchError(f"{path}: the input is empty: expected encounters ({kind}); nothing to code")
    try:
        if kind == "parquet":
            pq.ParquetFile(path)
        elif kind == "csv":
            with path.open("rb") as raw:  # only the header line: a bad byte further on is its row's error
                first = raw.readline(MAX_RECORD_BYTES).decode("utf-8-sig", errors="replace")
            header = next(csv.reader([first], delimiter="\t" if path.suffix.lower() == ".tsv" else ","), [])
            if not set(header) & {"administrations", "claim_type"}:
                raise BatchError(
                    f"{path} is not a CSV of encounters (it has no {', '.join(ENCOUNTER_COLUMNS)} columns): "
                    "it looks like a MAR export; read it with --from mar (and --mapping FILE for a site's own "
                    "column names)"
                )
        else:
            with path.open("rb") as stream:
                next(iter(read_json(stream).items), None)
    except (OSError, UnicodeDecodeError, UnreadableInput, pa.ArrowException) as exc:
        raise BatchError(f"cannot read {path}: {_reason(exc)}") from exc


def read_records(
    paths: Sequence[Path], forced: str | None, options: ImportOptions, coder: Coder, batch_rows: int = 1000
) -> Iterator[Record]:
    """Every record of every input, in order. Raises BatchError for an input that cannot be read at all:
    an importer's format is started at once, so an input it cannot use (a bad mapping, a file without the
    columns) is refused here, before a caller has made anything."""
    for path in paths:
        if not path.exists():
            raise BatchError(f"cannot read {path}: no such file or folder")
    if forced in IMPORT_FORMATS:
        sources = [Source(p.name, path=p) for p in paths]
        try:
            values = read_eagerly(forced, sources, options, coder.reference.latest)
        except UnusableInput as exc:
            raise BatchError(str(exc)) from None
        return (Record(value) for value in values)
    return _file_records(paths, forced, batch_rows)


def _file_records(paths: Sequence[Path], forced: str | None, batch_rows: int) -> Iterator[Record]:
    for path in paths:
        kind = input_format(path, forced)
        try:
            if kind == "parquet":
                yield from _parquet_records(path, batch_rows)
            elif kind == "csv":
                yield from _csv_records(path)
            else:
                yield from _json_records(path)
        except (OSError, UnicodeDecodeError, UnreadableInput, pa.ArrowException) as exc:
            raise BatchError(f"cannot read {path}: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """Why a file cannot be read, in words and short: not Python's codec text, not a file's contents."""
    if isinstance(exc, UnicodeDecodeError):  # Parquet metadata or a JSON file that is not UTF-8
        return f"it holds text that is not UTF-8 (byte {exc.start + 1} of a value)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)[:200]


def known_total(paths: Sequence[Path], forced: str | None) -> int | None:
    """The number of records when the inputs say it without being read (Parquet metadata), else None."""
    try:
        if all(input_format(p, forced) == "parquet" for p in paths):
            return sum(int(pq.ParquetFile(p).metadata.num_rows) for p in paths)
    except (OSError, BatchError, pa.ArrowException):
        pass
    return None


def _json_records(path: Path) -> Iterator[Record]:
    if path.stat().st_size == 0:
        return
    with path.open("rb") as stream:  # bytes: records split on LF only (the reader's framing contract)
        for item in read_json(stream).items:
            yield Record(item.value, item.problem)


def drop_nulls(value: Any) -> Any:
    """A columnar row has every column; a null one means the field is absent."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def arrow_records(batch: pa.RecordBatch | pa.Table) -> Iterator[Record]:
    """Encounters of an Arrow batch in the Parquet layout (docs/batch.md)."""
    for row in batch.to_pylist():
        yield Record(drop_nulls(row))


def _parquet_records(path: Path, batch_rows: int) -> Iterator[Record]:
    file = pq.ParquetFile(path)
    for group in range(file.metadata.num_row_groups):
        rows = file.metadata.row_group(group).num_rows
        read = 0
        try:
            for batch in file.iter_batches(batch_size=batch_rows, row_groups=[group]):
                for record in arrow_records(batch):
                    read += 1
                    yield record
        except (pa.ArrowException, OSError, ValueError) as exc:
            # a damaged row group: each of its rows not read is an error row, and the next group goes on
            reason = f"row group {group} cannot be read ({type(exc).__name__})"
            for _ in range(max(rows - read, 0)):
                yield Record(problem=f"{path.name}: {reason}")


class _BadLine(Exception):
    """A CSV input line that cannot be a row (not UTF-8, or longer than a record may be)."""


class _CsvLines:
    """The lines of a CSV input for csv.reader, read as bytes with a ceiling: a line longer than
    MAX_RECORD_BYTES is skipped without being held, and it or a line that is not UTF-8 raises _BadLine,
    after which reading goes on with the next line (an iterator class, so it survives raising)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.first = True

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        line = self.stream.readline(MAX_RECORD_BYTES + 1)
        if not line:
            raise StopIteration
        if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
            while (rest := self.stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            raise _BadLine(f"longer than {MAX_RECORD_BYTES:,} bytes")
        encoding = "utf-8-sig" if self.first else "utf-8"
        self.first = False
        try:
            return line.decode(encoding)
        except UnicodeDecodeError as exc:
            raise _BadLine(f"not UTF-8 text (byte {exc.start + 1} is not valid)") from None


def _csv_records(path: Path) -> Iterator[Record]:
    with path.open("rb") as stream:
        rows = csv.reader(_CsvLines(stream), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        header: list[str] | None = None
        number = 0  # rows as a spreadsheet counts them: the header is row 1, blank lines are skipped
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except (_BadLine, csv.Error) as exc:
                reason = str(exc) if isinstance(exc, _BadLine) else "not readable CSV (a stray quote?)"
                if header is None:
                    raise UnreadableInput(f"the header line is {reason}") from None
                number += 1
                yield Record(problem=f"row {number} is {reason}")
                continue
            if not row:
                continue
            number += 1
            if header is None:
                header = row
                continue
            yield _csv_record(header, row, number)


def _csv_record(header: list[str], row: list[str], number: int) -> Record:
    named = dict(zip(header, row, strict=False))
    encounter_id = named.get("encounter_id") or None
    if len(row) > len(header):
        return Record(problem=f"row {number} has more fields than the header", encounter_id=encounter_id)
    record: dict[str, Any] = {}
    for name, text in named.items():
        if text == "":
            continue
        if name in NESTED_COLUMNS:
            try:
                record[name] = json.loads(text)
            except json.JSONDecodeError as exc:
                return Record(
                    problem=f"row {number}: column {name} is not valid JSON: {exc.msg} at column {exc.colno}",
                    encounter_id=encounter_id,
                )
            except RecursionError:
                return Record(
                    problem=f"row {number}: column {name} is nested too deeply", encounter_id=encounter_id
                )
            except ValueError as exc:  # an integer of more than 4,300 digits
                return Record(
                    problem=f"row {number}: column {name} cannot be read ({_short(exc)})",
                    encounter_id=encounter_id,
                )
        else:
            record[name] = text
    return Record(record)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 80 else text[:80] + "..."


def write_encounters(
    records: Iterable[dict[str, Any]], path: Path, format: str, *, chunk: int = 10000
) -> None:
    """Write encounter dicts in an input layout (jsonl, parquet or csv), streamed in chunks."""

    def chunks() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append(record)
            if len(batch) == chunk:
                yield batch
                batch = []
        if batch:
            yield batch

    if format == "parquet":
        with pq.ParquetWriter(path, ENCOUNTER_SCHEMA, compression="zstd") as writer:
            for batch in chunks():
                rows = [_text_id(record) for record in batch]
                writer.write_table(pa.Table.from_pylist(rows, schema=ENCOUNTER_SCHEMA))
        return
    with path.open("w", encoding="utf-8", newline="") as stream:
        if format == "jsonl":
            for batch in chunks():
                stream.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in batch))
            return
        names = [f.name for f in ENCOUNTER_SCHEMA]
        writer_csv = csv.DictWriter(stream, names, extrasaction="ignore")
        writer_csv.writeheader()
        for batch in chunks():
            for record in batch:
                row = {
                    k: json.dumps(v, ensure_ascii=False, default=str) if k in NESTED_COLUMNS else v
                    for k, v in record.items()
                    if v is not None
                }
                writer_csv.writerow(row)


def _text_id(record: dict[str, Any]) -> dict[str, Any]:
    """The Parquet layout's encounter_id column is text, as in CSV: an integer id is written as its digits."""
    found = record.get("encounter_id")
    if isinstance(found, int) and not isinstance(found, bool):
        return {**record, "encounter_id": str(found)}
    return record


# ------------------------------------------------------------------------------------------------ coding


def code_one(
    coder: Coder, record: Record, *, policy: str | None, timezone: str | None, audit: bool = False
) -> Result:
    """The result of one record; never raises (an internal error becomes an error result)."""
    if record.problem is not None:
        return ErrorResult(
            encounter_id=record.encounter_id, error=ErrorDetail(message=record.problem, field=None)
        )
    run = coder.audit_record if audit else coder.code_record
    try:
        return run(record.value, policy=policy, timezone=timezone)
    except Exception as exc:  # one broken record must not stop a batch
        traceback.print_exc(file=sys.stderr)
        value = record.value
        found = value.get("encounter_id") if isinstance(value, dict) else None
        return ErrorResult(
            encounter_id=found if isinstance(found, str | int) and not isinstance(found, bool) else None,
            error=ErrorDetail(message=f"internal error while coding: {exc!r}", field=None),
        )


@dataclass(frozen=True)
class Settings:
    """What decides the output of a run besides the input: kept in the manifest for --resume."""

    format: Format = "parquet"
    chunk_size: int = 1000
    policy: str | None = None
    timezone: str | None = None
    input_format: str | None = None
    audit: bool = False
    reference: str | None = None
    # what `code --from` takes besides: for the importers (--from fhir|hl7|mar|mimic)
    mapping: str | None = None
    claim_type: str = "institutional"
    place_of_service: str | None = None
    include_inpatient: bool = False

    def import_options(self) -> ImportOptions:
        return ImportOptions(
            timezone=self.timezone,
            claim_type=self.claim_type,
            place_of_service=self.place_of_service,
            policy=self.policy,
            mapping=Path(self.mapping) if self.mapping else None,
            include_inpatient=self.include_inpatient,
        )


@dataclass
class ChunkStats:
    chunk: int
    records: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    readiness: dict[str, int] = field(default_factory=dict)


_WORKER_CODER: Coder | None = None


def _worker_init(reference: str | None) -> None:
    global _WORKER_CODER
    _WORKER_CODER = Coder.default(Path(reference)) if reference else Coder.default()


def _worker_chunk(
    chunk: int, records: list[tuple[int, Record]], parts: str, settings: Settings
) -> ChunkStats:
    assert _WORKER_CODER is not None
    return code_chunk(_WORKER_CODER, chunk, records, Path(parts), settings)


def part_format(format: Format) -> Format:
    """The format of a chunk's part files: the output's, but Parquet for xlsx (one workbook is written
    from them at the end)."""
    return "parquet" if format == "xlsx" else format


def chunk_dir(parts: Path, chunk: int) -> Path:
    return parts / f"c{chunk:06d}"


def code_chunk(
    coder: Coder, chunk: int, records: list[tuple[int, Record]], parts: Path, settings: Settings
) -> ChunkStats:
    """Code one chunk and write its part files, whole or not at all."""
    rows = Rows()
    stats = ChunkStats(chunk, records=len(records))
    statuses: Counter[str] = Counter()
    readiness: Counter[str] = Counter()
    for seq, record in records:
        result = code_one(
            coder, record, policy=settings.policy, timezone=settings.timezone, audit=settings.audit
        )
        row = rows.add(seq, result)
        statuses[row["status"]] += 1
        if row["readiness"]:
            readiness[row["readiness"]] += 1
    stats.statuses, stats.readiness = dict(sorted(statuses.items())), dict(sorted(readiness.items()))
    temporary = parts / f".tmp-c{chunk:06d}-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    part = part_format(settings.format)
    for name, table in rows.tables().items():
        data = csv_body(table, name) if part == "csv" else encode(name, table, part)
        (temporary / f"{name}.{EXTENSIONS[part]}").write_bytes(data)
    (temporary / "stats.json").write_text(json.dumps(asdict(stats)))
    final = chunk_dir(parts, chunk)
    shutil.rmtree(final, ignore_errors=True)
    temporary.rename(final)
    return stats


def _chunks(records: Iterable[Record], size: int) -> Iterator[tuple[int, list[tuple[int, Record]]]]:
    chunk: list[tuple[int, Record]] = []
    number = 0
    for seq, record in enumerate(records):
        chunk.append((seq, record))
        if len(chunk) == size:
            yield number, chunk
            number, chunk = number + 1, []
    if chunk:
        yield number, chunk


# ------------------------------------------------------------------------------------------------ manifest


def fingerprint(path: Path) -> dict[str, Any]:
    """Enough to tell that an input is the one a run started on: size, mtime and the first MiB's hash."""
    stat = path.stat()
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as stream:
            digest.update(stream.read(1 << 20))
    return {
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "head_sha256": digest.hexdigest(),
    }


def _manifest(paths: Sequence[Path], settings: Settings) -> dict[str, Any]:
    return {
        "version": MANIFEST_VERSION,
        "inputs": [fingerprint(p) for p in paths],
        "settings": asdict(settings),
    }


def _why_not_resumable(saved: dict[str, Any], now: dict[str, Any]) -> str | None:
    if saved.get("version") != MANIFEST_VERSION:
        return "the folder was written by another version of batch"
    if saved["settings"] != now["settings"]:
        changed = sorted(k for k in now["settings"] if saved["settings"].get(k) != now["settings"][k])
        return f"the options differ from the interrupted run ({', '.join(changed)})"
    before, after = saved["inputs"], now["inputs"]
    if [i["path"] for i in before] != [i["path"] for i in after]:
        return "the inputs are not the files the interrupted run read"
    for old, new in zip(before, after, strict=True):
        for key, label in (("size", "size"), ("mtime_ns", "modification time"), ("head_sha256", "content")):
            if old[key] != new[key]:
                return f"{new['path']} changed since the interrupted run ({label})"
    return None


# ------------------------------------------------------------------------------------------------ the run


@dataclass
class Summary:
    encounters: int
    coded: int
    errors: int
    statuses: dict[str, int]
    readiness: dict[str, int]
    seconds: float
    encounters_per_second: float
    jobs: int
    chunks: int
    resumed_chunks: int
    format: str
    outputs: dict[str, str]


Progress = Callable[[int], None]


def run_batch(
    paths: Sequence[Path],
    out: Path,
    settings: Settings,
    *,
    jobs: int = 1,
    resume: bool = False,
    force: bool = False,
    coder: Coder | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Code every record of `paths` into `out`. Raises BatchError (exit 2); KeyboardInterrupt leaves the
    finished chunks in place for --resume. `force` writes into a non-empty folder, dropping an earlier
    interrupted run's chunks there."""
    began = time.perf_counter()
    coder = coder or (Coder.default(Path(settings.reference)) if settings.reference else Coder.default())
    if settings.policy is not None and settings.policy not in coder.policies:
        raise BatchError(f"unknown policy {settings.policy!r}; known: {', '.join(coder.policies)}")
    if out.exists() and not out.is_dir():
        raise BatchError(f"--out {out} is a file: name a folder (new or empty) for the tables")
    for path in paths:
        check_input(path, settings.input_format)  # an unusable input fails before the folder is made
    parts = out / "_parts"
    manifest = _manifest(paths, settings)
    done: dict[int, ChunkStats] = {}
    made_folder = not out.exists()
    if resume:
        if (out / "summary.json").exists() and not parts.exists():
            raise BatchError(f"{out} holds a finished run: nothing to resume")
        try:
            saved = json.loads((parts / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise BatchError(f"cannot resume: {out} has no readable manifest of an interrupted run") from exc
        reason = _why_not_resumable(saved, manifest)
        if reason:
            raise BatchError(
                f"cannot resume: {reason}; run without --resume and with --force to start again in {out} "
                "(its finished chunks are dropped), or give another folder"
            )
        records = read_records(
            paths, settings.input_format, settings.import_options(), coder, settings.chunk_size
        )
        for entry in parts.iterdir():
            if entry.name.startswith(".tmp-"):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_dir():
                stats = ChunkStats(**json.loads((entry / "stats.json").read_text()))
                done[stats.chunk] = stats
    else:
        if out.exists() and any(out.iterdir()) and not force:
            if (parts / "manifest.json").exists():
                count = sum(1 for p in parts.iterdir() if p.is_dir() and p.name.startswith("c"))
                raise BatchError(
                    f"{out} holds an interrupted run ({count} chunk(s) finished): add --resume to finish it "
                    "with the same inputs and options, or --force to start again"
                )
            raise BatchError(
                f"{out} is not empty: give a new or empty folder, or add --force to write into it"
            )
        # read before the folder is made: an input an importer cannot use leaves nothing behind
        records = read_records(
            paths, settings.input_format, settings.import_options(), coder, settings.chunk_size
        )
        if force and parts.exists():
            shutil.rmtree(parts)
        parts.mkdir(parents=True, exist_ok=True)
        (parts / "manifest.json").write_text(json.dumps(manifest, indent=1))

    resumed = len(done)
    resumed_records = sum(stats.records for stats in done.values())
    if progress and resumed_records:
        progress(resumed_records)

    def finished(stats: ChunkStats) -> None:
        done[stats.chunk] = stats
        if progress:
            progress(stats.records)

    todo = ((n, chunk) for n, chunk in _chunks(records, settings.chunk_size) if n not in done)
    try:
        if jobs <= 1:
            for number, chunk in todo:
                finished(code_chunk(coder, number, chunk, parts, settings))
        else:
            _parallel(todo, jobs, parts, settings, finished, coder)
    except BatchError as exc:
        raise BatchError(_failed(exc, out, parts, len(done), made_folder)) from exc

    outputs = _join(out, parts, sorted(done), settings.format)
    statuses: Counter[str] = Counter()
    readiness: Counter[str] = Counter()
    for stats in done.values():
        statuses.update(stats.statuses)
        readiness.update(stats.readiness)
    total = sum(s.records for s in done.values())
    this_run = total - resumed_records
    seconds = time.perf_counter() - began
    summary = Summary(
        encounters=total,
        coded=total - statuses.get("error", 0),
        errors=statuses.get("error", 0),
        statuses=dict(sorted(statuses.items())),
        readiness={k: readiness.get(k, 0) for k in ("ready", "ready_with_warnings", "hold")},
        seconds=round(seconds, 3),
        encounters_per_second=round(this_run / seconds, 1) if seconds else 0.0,
        jobs=jobs,
        chunks=len(done),
        resumed_chunks=resumed,
        format=settings.format,
        outputs=outputs,
    )
    (out / "summary.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    shutil.rmtree(parts)
    return summary


def _failed(exc: BatchError, out: Path, parts: Path, finished: int, made_folder: bool) -> str:
    """What a run that could not go on leaves, and what to do: with no chunk finished, nothing at all (the
    folder is as before, so the same command runs again once the input is fixed)."""
    if not finished:
        shutil.rmtree(parts, ignore_errors=True)
        if made_folder and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        return f"{exc}; nothing was written"
    return (
        f"{exc}; {finished} finished chunk(s) are kept in {out}: once the input reads, --resume finishes the "
        "run if the inputs are unchanged, --force starts it again"
    )


def _parallel(
    todo: Iterator[tuple[int, list[tuple[int, Record]]]],
    jobs: int,
    parts: Path,
    settings: Settings,
    finished: Callable[[ChunkStats], None],
    coder: Coder,
) -> None:
    # spawn, not fork: the parent may run a progress thread, and a forked lock can hang a worker
    context = get_context("spawn")
    pending: deque[tuple[Future[ChunkStats], int, list[tuple[int, Record]]]] = deque()

    def settle() -> None:
        future, number, chunk = pending.popleft()
        try:
            stats = future.result()
        except BrokenProcessPool:
            raise
        except Exception as exc:
            # Most often a record that cannot cross to a worker (pickling a valid record nested some 600
            # deep raises RecursionError): the parent codes the chunk itself, as --jobs 1 would.
            print(
                f"infusion-coder: chunk {number} could not be coded in a worker ({type(exc).__name__}); "
                "coded in the main process",
                file=sys.stderr,
            )
            stats = code_chunk(coder, number, chunk, parts, settings)
        finished(stats)

    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_worker_init, initargs=(settings.reference,)
    ) as pool:
        try:
            for number, chunk in todo:
                future = pool.submit(_worker_chunk, number, chunk, str(parts), settings)
                pending.append((future, number, chunk))
                while len(pending) >= 2 * jobs:  # bounded: the reader never runs far ahead
                    settle()
            while pending:
                settle()
        except BaseException:
            for future, _number, _chunk in pending:
                future.cancel()
            raise


def _join(out: Path, parts: Path, chunks: list[int], format: Format) -> dict[str, str]:
    """Join the chunks' part files, in chunk order, into one file per table (one workbook for xlsx)."""
    if format == "xlsx":
        book = Workbook(out / WORKBOOK)
        for name in TABLES:
            for chunk in chunks:
                book.write(name, pq.read_table(chunk_dir(parts, chunk) / f"{name}.parquet"))
        book.close()
        return {name: WORKBOOK for name in TABLES}
    outputs = {}
    for name in TABLES:
        target = out / f"{name}.{EXTENSIONS[format]}"
        outputs[name] = target.name
        with TableWriter(target, name, format) as writer:
            if format == "parquet":
                batch: list[pa.Table] = []
                rows = 0
                for chunk in chunks:
                    table = pq.read_table(chunk_dir(parts, chunk) / f"{name}.parquet")
                    batch.append(table)
                    rows += table.num_rows
                    if rows >= 65536:  # row groups of a useful size, one group's worth in memory
                        writer.write(pa.concat_tables(batch))
                        batch, rows = [], 0
                if batch:
                    writer.write(pa.concat_tables(batch))
            else:
                for chunk in chunks:
                    with (chunk_dir(parts, chunk) / f"{name}.{EXTENSIONS[format]}").open("rb") as part:
                        shutil.copyfileobj(part, _Raw(writer))
    return outputs


class _Raw(io.RawIOBase):
    """Lets shutil copy a part straight into a TableWriter."""

    def __init__(self, writer: TableWriter) -> None:
        self.writer = writer

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.writer.write_raw(bytes(data))
        return len(data)
