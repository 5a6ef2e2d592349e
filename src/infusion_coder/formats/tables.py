"""Flat tables from coding results: the one place every surface (batch, Spark, the service) turns results
into rows, and writes them as Parquet, CSV or JSON Lines.

Tables, one row each, every row with `seq` (the record's position in the input, from 0) and
`encounter_id` (null when the record had none):

- `results`: one row per input record: status (coded, audited, error), readiness, counts, a summary
  (dates of service, codes with units, drug codes, finding ids, money at stake, the error message) and the
  whole result as JSON text in `result` (the exact object `infusion-coder code` prints).
- `lines`, `drug_lines`, `findings`, `differences`: one row per item of the result's list, with `ordinal`
  (its position in that list) and the model's own fields as columns.
- `errors`: one row per record that could not be coded (message, field).

Schemas are declared, never inferred from data: the flat tables' columns are derived from the pydantic
models' field annotations (so a field added to `Line` or `Difference` becomes a column) and are the same
whatever the rows hold, empty tables included. Lists of scalars are Arrow lists, nested models structs,
date-times ISO 8601 text (they may carry an offset).

CSV and XLSX are for spreadsheets: a list is `;`-joined text (`25;59`), an interval `start/end` (ISO 8601),
and `results` has no `result` column (a whole result can exceed a spreadsheet cell's 32,767 characters; the
summary columns say what it holds, and Parquet and JSON Lines keep it whole). XLSX is one workbook,
`results.xlsx`, with a sheet per table (a table longer than a sheet continues on `lines (2)`, ...).
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

Format = Literal["parquet", "csv", "jsonl", "xlsx"]
FORMATS: tuple[Format, ...] = ("parquet", "csv", "jsonl", "xlsx")
EXTENSIONS: dict[str, str] = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl", "xlsx": "xlsx"}
WORKBOOK = "results.xlsx"  # the one file of the xlsx format: a sheet per table

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
        # a summary a person reads in a spreadsheet, where `result` is left out
        pa.field("first_date", pa.date32()),  # dates of service of the lines
        pa.field("last_date", pa.date32()),
        pa.field("codes", pa.list_(pa.string()), nullable=False),  # "96365 x1", "96375-59 x2", in line order
        pa.field("drug_codes", pa.list_(pa.string()), nullable=False),  # "J1885 x1"
        pa.field("finding_ids", pa.list_(pa.string()), nullable=False),  # distinct, errors first
        pa.field("amount_at_stake", pa.float64()),  # audit: USD, national unadjusted
        pa.field("error", pa.string()),  # the error message of a record that could not be coded
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
# Columns a spreadsheet (CSV, XLSX) does not get: a whole result may not fit in a cell.
SPREADSHEET_DROPPED = {"results": {"result"}}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

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
            row.update(lines=0, drug_lines=0, findings=0, error_findings=0, **_summary(data), result=text)
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
                **_summary(data),
                "result": text,
            }
        self.rows["results"].append(row)
        return row

    def tables(self) -> dict[str, pa.Table]:
        return {name: to_table(name, rows) for name, rows in self.rows.items()}


def _with_units(code: str, modifiers: list[str], units: int) -> str:
    return code + "".join(f"-{m}" for m in modifiers) + f" x{units}"


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    """The summary columns of a `results` row, from the result's JSON-ready dict."""
    lines, drugs, findings = data.get("lines") or [], data.get("drug_lines") or [], data.get("findings") or []
    dates = sorted({line["date"] for line in lines if line.get("date")})
    ranked = sorted(findings, key=lambda f: SEVERITY_ORDER.get(f["severity"], 3))
    error = data.get("error")
    return {
        "first_date": dates[0] if dates else None,
        "last_date": dates[-1] if dates else None,
        "codes": [_with_units(x["code"], x["modifiers"], x["units"]) for x in lines],
        "drug_codes": [_with_units(x["hcpcs"], x["modifiers"], x["units"]) for x in drugs],
        "finding_ids": list(dict.fromkeys(f["id"] for f in ranked)),
        "amount_at_stake": data.get("amount_at_stake"),
        "error": error.get("message") if isinstance(error, dict) else None,
    }


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


def spreadsheet_columns(name: str) -> list[str]:
    """The columns a spreadsheet gets for table `name` (CSV header, XLSX sheet)."""
    dropped = SPREADSHEET_DROPPED.get(name, set())
    return [f.name for f in SCHEMAS[name] if f.name not in dropped]


def cell_text(value: Any) -> Any:
    """A list or struct value as spreadsheet text: items joined by `;`, an interval as `start/end`, dates
    as ISO; scalars unchanged."""
    if isinstance(value, list):
        return ";".join("" if v is None else str(cell_text(v)) for v in value)
    if isinstance(value, dict):
        if set(value) == {"start", "end"}:
            return f"{cell_text(value['start'])}/{cell_text(value['end'])}"
        return ", ".join(f"{k}={cell_text(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def csv_ready(table: pa.Table, name: str | None = None) -> pa.Table:
    """CSV holds no lists or structs: those columns become `;`-joined text; for `results`, no `result`."""
    dropped = SPREADSHEET_DROPPED.get(name or "", set())
    columns = []
    for index, field in enumerate(table.schema):
        if field.name in dropped:
            continue
        column = table.column(index)
        if pa.types.is_list(field.type) or pa.types.is_struct(field.type):
            values = [None if v is None else cell_text(v) for v in column.to_pylist()]
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
            self._file.write(csv_body(table, self.name))
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
    return (",".join(spreadsheet_columns(name)) + "\n").encode("utf-8")


def csv_body(table: pa.Table, name: str | None = None) -> bytes:
    if not table.num_rows:
        return b""
    sink = io.BytesIO()
    pacsv.write_csv(csv_ready(table, name), sink, write_options=pacsv.WriteOptions(include_header=False))
    return sink.getvalue()


def encode(name: str, table: pa.Table, format: Format) -> bytes:
    """A whole table as the bytes of one file (CSV with its header)."""
    if format == "parquet":
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue()
    if format == "csv":
        return csv_header(name) + csv_body(table, name)
    if format == "xlsx":
        raise ValueError("xlsx is one workbook for every table: write it with Workbook")
    return "".join(jsonl_lines(name, table)).encode("utf-8")


EXCEL_ROWS = 1_048_576  # rows of one sheet, its header included
EXCEL_CELL = 32_767  # characters of one cell


class Workbook:
    """The xlsx format: one workbook, a sheet per table in TABLES order, streamed (openpyxl's write-only
    mode), the header bold and frozen. Text is written as text (a value starting with = is never a
    formula), cut to a cell's 32,767 characters with a note, control characters Excel refuses removed."""

    def __init__(self, path: Path) -> None:
        try:
            from openpyxl import Workbook as OpenWorkbook
            from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
            from openpyxl.styles import Font
        except ImportError as exc:  # the command checks first; a library caller gets the same advice
            raise RuntimeError("xlsx output needs openpyxl: pip install 'infusion-coder[xlsx]'") from exc
        self.path = path
        self._book = OpenWorkbook(write_only=True)
        self._illegal = ILLEGAL_CHARACTERS_RE
        self._bold = Font(bold=True)
        self._sheets: dict[str, tuple[Any, int, int]] = {}  # table -> (sheet, rows in it, sheet number)
        for name in TABLES:
            self._sheet(name, 1)

    def _sheet(self, name: str, number: int) -> Any:
        from openpyxl.cell import WriteOnlyCell

        sheet = self._book.create_sheet(name if number == 1 else f"{name} ({number})")
        sheet.freeze_panes = "A2"
        header = []
        for column in spreadsheet_columns(name):
            cell = WriteOnlyCell(sheet, value=column)
            cell.font = self._bold
            header.append(cell)
        sheet.append(header)
        self._sheets[name] = (sheet, 1, number)
        return sheet

    def _cell(self, sheet: Any, value: Any) -> Any:
        from openpyxl.cell import WriteOnlyCell

        value = cell_text(value) if isinstance(value, list | dict) else value
        if isinstance(value, dt.date):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = "yyyy-mm-dd"
            return cell
        if not isinstance(value, str):
            return value
        value = self._illegal.sub("", value)
        if len(value) > EXCEL_CELL:
            note = f" [cut: {len(value):,} characters; the JSON Lines or Parquet output has it whole]"
            value = value[: EXCEL_CELL - len(note)] + note
        if not value.startswith("="):
            return value  # plain text is written as text
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # never a formula
        return cell

    def write(self, name: str, table: pa.Table) -> None:
        columns = spreadsheet_columns(name)
        sheet, rows, number = self._sheets[name]
        for row in table.select(columns).to_pylist():
            if rows >= EXCEL_ROWS:
                number += 1
                sheet, rows = self._sheet(name, number), 1
            sheet.append([self._cell(sheet, row[c]) for c in columns])
            rows += 1
        self._sheets[name] = (sheet, rows, number)

    def close(self) -> None:
        self._book.save(self.path)


class TableSink:
    """Writes results to every table in a folder as they come, flushing every `chunk` results, so a run
    of any length holds one chunk in memory. Files: DIR/<table>.<format>, or DIR/results.xlsx."""

    def __init__(self, folder: Path, format: Format = "parquet", *, chunk: int = 1000) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.format, self.chunk = format, chunk
        self.workbook = Workbook(folder / WORKBOOK) if format == "xlsx" else None
        self.writers = (
            {}
            if self.workbook is not None
            else {name: TableWriter(folder / f"{name}.{EXTENSIONS[format]}", name, format) for name in TABLES}
        )
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
            if self.workbook is not None:
                self.workbook.write(name, table)
            else:
                self.writers[name].write(table)
        self._rows, self._pending = Rows(), 0

    def close(self) -> None:
        self.flush()
        for writer in self.writers.values():
            writer.close()
        if self.workbook is not None:
            self.workbook.close()

    def __enter__(self) -> TableSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
