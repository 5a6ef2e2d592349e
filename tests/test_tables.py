"""Flat tables: declared schemas that follow the models, one row per item with seq and encounter id, and
the three writers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_data import encounters
from infusion_coder import Coder
from infusion_coder.formats import tables
from infusion_coder.models import Difference, DrugLine, ErrorResult, Finding, Line

MODELS = {"lines": Line, "drug_lines": DrugLine, "findings": Finding, "differences": Difference}


@pytest.fixture(scope="module")
def coded(coder: Coder) -> list[tuple[int, tables.Result]]:
    records: list[object] = [*encounters(40), {"encounter_id": "bad", "administrations": []}, [1, 2]]
    out: list[tuple[int, tables.Result]] = []
    for seq, record in enumerate(records):
        has_billed = isinstance(record, dict) and "billed_lines" in record
        out.append((seq, coder.audit_record(record) if has_billed else coder.code_record(record)))
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_field_is_a_column_after_the_keys(name: str) -> None:
    schema = tables.SCHEMAS[name]
    assert schema.names[:3] == ["seq", "encounter_id", "ordinal"]
    assert schema.names[3:] == list(MODELS[name].model_fields)


def test_types_are_declared_not_inferred() -> None:
    lines = tables.SCHEMAS["lines"]
    assert lines.field("units").type == pa.int64()
    assert lines.field("date").type == pa.date32()
    assert lines.field("modifiers").type == pa.list_(pa.string())
    assert lines.field("intervals").type.value_type.field("start").type == pa.string()
    empty = tables.to_table("findings", [])
    assert empty.schema.equals(tables.SCHEMAS["findings"]) and empty.num_rows == 0


def test_one_row_per_item_with_seq_and_encounter_id(coded: list[tuple[int, tables.Result]]) -> None:
    built = tables.tables_of(coded)
    assert built["results"].column("seq").to_pylist() == list(range(len(coded)))
    for name in ("lines", "drug_lines", "findings", "differences"):
        rows = built[name].to_pylist()
        expected = [
            (seq, result.encounter_id, ordinal)
            for seq, result in coded
            if not isinstance(result, ErrorResult)
            for ordinal, _ in enumerate(getattr(result, name, []))
        ]
        assert [(r["seq"], r["encounter_id"], r["ordinal"]) for r in rows] == expected, name
    assert built["differences"].num_rows > 0, "the generated batch has audited encounters"
    lines = built["lines"].to_pylist()
    seq, first = next((s, r) for s, r in coded if not isinstance(r, ErrorResult) and r.lines)
    row = next(r for r in lines if r["seq"] == seq)
    assert row["code"] == first.lines[0].code and row["date"] == first.lines[0].date
    errors = built["errors"].to_pylist()
    assert [(r["seq"], r["encounter_id"]) for r in errors] == [(40, "bad"), (41, None)]
    assert errors[0]["field"] == "claim_type"
    statuses = built["results"].column("status").to_pylist()
    assert statuses.count("error") == 2 and "audited" in statuses and "coded" in statuses


def test_result_column_is_the_code_commands_json(coded: list[tuple[int, tables.Result]]) -> None:
    built = tables.tables_of(coded)
    for (_, result), text in zip(coded, built["results"].column("result").to_pylist(), strict=True):
        assert json.loads(text) == result.model_dump(mode="json")


def test_writers_round_trip(tmp_path: Path, coded: list[tuple[int, tables.Result]]) -> None:
    built = tables.tables_of(coded)
    lines = built["lines"]
    (tmp_path / "l.parquet").write_bytes(tables.encode("lines", lines, "parquet"))
    assert pq.read_table(tmp_path / "l.parquet").equals(lines)
    rows = list(csv.DictReader(io.StringIO(tables.encode("lines", lines, "csv").decode())))
    assert len(rows) == lines.num_rows
    assert rows[0]["modifiers"] == ";".join(lines.column("modifiers")[0].as_py())
    assert rows[0]["date"] == lines.column("date")[0].as_py().isoformat()
    results = [
        json.loads(x) for x in tables.encode("results", built["results"], "jsonl").decode().splitlines()
    ]
    assert results[3]["result"] == coded[3][1].model_dump(mode="json")  # embedded, not a string
    assert results[3]["seq"] == 3


@pytest.mark.parametrize("format", ["parquet", "csv", "jsonl"])
def test_sink_streams_in_chunks_to_the_same_tables(
    tmp_path: Path, coded: list[tuple[int, tables.Result]], format: tables.Format
) -> None:
    with tables.TableSink(tmp_path, format, chunk=7) as sink:
        for seq, result in coded:
            sink.add(seq, result)
    built = tables.tables_of(coded)
    for name in tables.TABLES:
        whole = tables.encode(name, built[name], format)
        written = (tmp_path / f"{name}.{format}").read_bytes()
        if format == "parquet":
            assert pq.read_table(tmp_path / f"{name}.parquet").equals(built[name])
        else:
            assert written == whole, name
