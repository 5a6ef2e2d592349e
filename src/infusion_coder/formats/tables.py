"""Flat tables from coding results: the one place every surface (batch, Spark, the service) turns results
into rows, and writes them as Parquet, CSV or JSON Lines.

Tables, one row each, every row with `seq` (the record's position in the input, from 0) and
`encounter_id` (null when the record had none):

- `results`: one row per input record: status (coded, audited, error), readiness, counts, and the whole
  result as JSON text in `result` (the exact object `infusion-coder code` prints).
- `lines`, `drug_lines`, `findings`, `differences`: one row per item of the result's list, with `ordinal`
  (its position in that list) and the model's own fields as columns.
- `errors`: one row per record that could not be coded (message, field).

Schemas are declared, never inferred from data: the flat tables' columns are derived from the pydantic
models' field annotations (so a field added to `Line` or `Difference` becomes a column) and are the same
whatever the rows hold, empty tables included. Lists of scalars are Arrow lists, nested models structs,
date-times ISO 8601 text (they may carry an offset). CSV has no lists: there, list and struct columns are
JSON text.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import IO, Any, Literal, Union, get_args, get_origin

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import BaseModel

from ..models import AuditResult, CodingResult, Difference, DrugLine, ErrorDetail, ErrorResult, Finding, Line
from .jsonio import render

Format = Literal["parquet", "csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("parquet", "csv", "jsonl")
EXTENSIONS: dict[str, str] = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}

KEYS = [pa.field("seq", pa.int64(), nullable=False), pa.field("encounter_id", pa.string())]


def _arrow_type(annotation: Any) -> tuple[pa.DataType, bool]:
    """Arrow type of a field annotation, and whether it may be null."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(get_args(annotation))
        if len(args) == 1:
            inner, _ = _arrow_type(args[0])
            return inner, nullable
        return pa.string(), nullable  # a real union: keep its JSON text
    if origin is Literal:
        return pa.string(), False
    if origin is list:
        (item,) = get_args(annotation)
        inner, _ = _arrow_type(item)
        return pa.list_(inner), False
    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            return pa.bool_(), False
        if issubclass(annotation, int):
            return pa.int64(), False
        if issubclass(annotation, float):
            return pa.float64(), False
        if issubclass(annotation, str | Enum):
            return pa.string(), False
        if issubclass(annotation, dt.datetime):
            return pa.string(), False  # ISO text: an offset must survive
        if issubclass(annotation, dt.date):
            return pa.date32(), False
        if issubclass(annotation, BaseModel):
            return pa.struct(model_fields(annotation)), False
    return pa.string(), True  # anything else travels as JSON text


def model_fields(model: type[BaseModel]) -> list[pa.Field]:
    fields = []
    for name, info in model.model_fields.items():
        kind, nullable = _arrow_type(info.annotation)
        fields.append(pa.field(name, kind, nullable=nullable or not info.is_required()))
    return fields


def _item_schema(model: type[BaseModel]) -> pa.Schema:
    own = model_fields(model)
    clash = {f.name for f in own} & {"seq", "encounter_id", "ordinal"}
    assert not clash, f"{model.__name__} has fields named like the key columns: {clash}"
    return pa.schema([*KEYS, pa.field("ordinal", pa.int32(), nullable=False), *own])


RESULTS_SCHEMA = pa.schema(
    [
        *KEYS,
        pa.field("status", pa.string(), nullable=False),  # coded, audited or error
        pa.field("readiness", pa.string()),  # ready, ready_with_warnings, hold; null for an error
        pa.field("policy", pa.string()),
        pa.field("reference_version", pa.string()),
        pa.field("lines", pa.int32(), nullable=False),
        pa.field("drug_lines", pa.int32(), nullable=False),
        pa.field("findings", pa.int32(), nullable=False),
        pa.field("error_findings", pa.int32(), nullable=False),
        pa.field("result", pa.string(), nullable=False),  # the result object as JSON text
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "results": RESULTS_SCHEMA,
    "lines": _item_schema(Line),
    "drug_lines": _item_schema(DrugLine),
    "findings": _item_schema(Finding),
    "differences": _item_schema(Difference),
    "errors": pa.schema([*KEYS, *model_fields(ErrorDetail)]),
}
TABLES: tuple[str, ...] = tuple(SCHEMAS)
# Columns holding JSON text that JSON Lines output embeds as JSON values, not as strings.
JSON_COLUMNS = {"results": {"result"}}

Result = CodingResult | AuditResult | ErrorResult


def _text_schema(schema: pa.Schema) -> pa.Schema:
    """The schema rows are first built in: dates as ISO text (as the JSON dump has them), cast after."""
    return pa.schema([f.with_type(_text_type(f.type)) for f in schema])


def _text_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_date32(kind):
        return pa.string()
    if pa.types.is_list(kind):
        return pa.list_(_text_type(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct(
            [kind.field(i).with_type(_text_type(kind.field(i).type)) for i in range(kind.num_fields)]
        )
    return kind


_TEXT_SCHEMAS = {name: _text_schema(schema) for name, schema in SCHEMAS.items()}


def result_json(result: Result) -> tuple[dict[str, Any], str]:
    """The result as a JSON-ready dict and as the JSON text `infusion-coder code` writes."""
    return result.model_dump(mode="json"), render(result)


class Rows:
    """Rows of every table for a run of results, collected in memory: keep it to one chunk."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}

    def add(self, seq: int, result: Result) -> dict[str, Any]:
        """Add one result's rows; returns its `results` row."""
        data, text = result_json(result)
        encounter_id = data.get("encounter_id")
        if isinstance(encounter_id, int):  # the column is text; the result itself keeps the integer
            encounter_id = str(encounter_id)
        keys = {"seq": seq, "encounter_id": encounter_id}
        if isinstance(result, ErrorResult):
            self.rows["errors"].append({**keys, **data["error"]})
            row = {**keys, "status": "error", "readiness": None, "policy": None, "reference_version": None}
            row.update(lines=0, drug_lines=0, findings=0, error_findings=0, result=text)
        else:
            for table in ("lines", "drug_lines", "findings", "differences"):
                target = self.rows[table]
                for ordinal, item in enumerate(data.get(table) or ()):
                    target.append({**keys, "ordinal": ordinal, **item})
            row = {
                **keys,
                "status": "audited" if isinstance(result, AuditResult) else "coded",
                "readiness": data["readiness"],
                "policy": data["policy"],
                "reference_version": data["reference_version"],
                "lines": len(data["lines"]),
                "drug_lines": len(data["drug_lines"]),
                "findings": len(data["findings"]),
                "error_findings": sum(1 for f in data["findings"] if f["severity"] == "error"),
                "result": text,
            }
        self.rows["results"].append(row)
        return row

    def tables(self) -> dict[str, pa.Table]:
        return {name: to_table(name, rows) for name, rows in self.rows.items()}


def to_table(name: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Rows (JSON-ready dicts) as an Arrow table in the declared schema of table `name`."""
    table = pa.Table.from_pylist(list(rows), schema=_TEXT_SCHEMAS[name])
    schema = SCHEMAS[name]
    return table if table.schema.equals(schema) else table.cast(schema)


def tables_of(results: Iterable[tuple[int, Result]]) -> dict[str, pa.Table]:
    """Every table of (seq, result) pairs, in memory: for a chunk, a test or a small upload."""
    rows = Rows()
    for seq, result in results:
        rows.add(seq, result)
    return rows.tables()


# ---------------------------------------------------------------------------------------------- writing


def csv_ready(table: pa.Table) -> pa.Table:
    """CSV holds no lists or structs: those columns become JSON text."""
    columns = []
    for index, field in enumerate(table.schema):
        column = table.column(index)
        if pa.types.is_list(field.type) or pa.types.is_struct(field.type):
            values = [
                None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                for v in column.to_pylist()
            ]
            column = pa.chunked_array([pa.array(values, pa.string())], pa.string())
            field = field.with_type(pa.string())
        columns.append((field, column))
    return pa.Table.from_arrays([c for _, c in columns], schema=pa.schema([f for f, _ in columns]))


def jsonl_lines(name: str, table: pa.Table) -> Iterator[str]:
    """Rows as JSON Lines; dates as ISO text and, for `results`, the result embedded as an object."""
    embedded = JSON_COLUMNS.get(name, set())
    encode = _ROW_ENCODER.encode
    for row in table.to_pylist():
        if not embedded:  # one encoder call per row: the same text as key by key, a third of the time
            yield encode(row) + "\n"
            continue
        parts = []
        for key, value in row.items():
            text = value if key in embedded else encode(value)
            parts.append(f"{json.dumps(key)}: {text}")
        yield "{" + ", ".join(parts) + "}\n"


def _iso(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_iso)  # made once: json.dumps makes one per call


class TableWriter:
    """Streams one table to one file in one format: write chunk after chunk, close once."""

    def __init__(self, path: Path, name: str, format: Format, *, header: bool = True) -> None:
        self.path, self.name, self.format = path, name, format
        self.schema = SCHEMAS[name]
        self._parquet: pq.ParquetWriter | None = None
        self._file: IO[bytes] | None = None
        self._header = header
        if format == "parquet":
            self._parquet = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            self._file = path.open("wb")
            if format == "csv" and header:
                self._file.write(csv_header(name))

    def write(self, table: pa.Table) -> None:
        if self._parquet is not None:
            if table.num_rows:
                self._parquet.write_table(table)
            return
        assert self._file is not None
        if self.format == "csv":
            self._file.write(csv_body(table))
        else:
            self._file.write("".join(jsonl_lines(self.name, table)).encode("utf-8"))

    def write_raw(self, data: bytes) -> None:
        """Append bytes already in this writer's format (a CSV or JSONL part without header)."""
        assert self._file is not None
        self._file.write(data)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def csv_header(name: str) -> bytes:
    return (",".join(f.name for f in SCHEMAS[name]) + "\n").encode("utf-8")


def csv_body(table: pa.Table) -> bytes:
    if not table.num_rows:
        return b""
    sink = io.BytesIO()
    pacsv.write_csv(csv_ready(table), sink, write_options=pacsv.WriteOptions(include_header=False))
    return sink.getvalue()


def encode(name: str, table: pa.Table, format: Format) -> bytes:
    """A whole table as the bytes of one file (CSV with its header)."""
    if format == "parquet":
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue()
    if format == "csv":
        return csv_header(name) + csv_body(table)
    return "".join(jsonl_lines(name, table)).encode("utf-8")


class TableSink:
    """Writes results to every table in a folder as they come, flushing every `chunk` results, so a run
    of any length holds one chunk in memory. Files: DIR/<table>.<format>."""

    def __init__(self, folder: Path, format: Format = "parquet", *, chunk: int = 1000) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.format, self.chunk = format, chunk
        self.writers = {
            name: TableWriter(folder / f"{name}.{EXTENSIONS[format]}", name, format) for name in TABLES
        }
        self._rows = Rows()
        self._pending = 0

    def add(self, seq: int, result: Result) -> dict[str, Any]:
        row = self._rows.add(seq, result)
        self._pending += 1
        if self._pending >= self.chunk:
            self.flush()
        return row

    def flush(self) -> None:
        for name, table in self._rows.tables().items():
            self.writers[name].write(table)
        self._rows, self._pending = Rows(), 0

    def close(self) -> None:
        self.flush()
        for writer in self.writers.values():
            writer.close()

    def __enter__(self) -> TableSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
