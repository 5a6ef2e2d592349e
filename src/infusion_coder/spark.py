"""Spark: `code_dataframe(df)` codes a DataFrame of encounters with mapInArrow. Needs the `spark` extra and Java 17+.

The DataFrame has the batch command's Parquet layout (docs/batch.md): one row an encounter, scalar
columns, `administrations` a list of structs. Optionally a `seq` column (a row number you give, e.g. from
`zipWithIndex` or the source's own): it becomes `seq` on every output row. Without it, `seq` is
`monotonically_increasing_id()`: unique and increasing in the DataFrame's order, not contiguous.

Each Python worker process builds one Coder, lazily, the first time it codes a batch, from the reference
data inside the installed package: nothing large travels with the task, and with Spark's default
`spark.python.worker.reuse` a worker loads the reference data once for all the batches it codes.
The package must be installed on the workers (the same wheel as the driver).

One coding pass: mapInArrow yields one wide row per encounter (the `results` columns plus one list column
per flat table), persisted; each table is a projection of it (`inline` of its list). Call
`SparkResults.unpersist()` when done.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .api import Coder
from .batch.run import arrow_records, code_one
from .formats.tables import SCHEMAS, Rows, to_table

FLAT = ("lines", "drug_lines", "findings", "differences", "errors")
WIDE_SCHEMA = pa.schema(
    [*SCHEMAS["results"], *(pa.field(f"_{name}", pa.list_(pa.struct(list(SCHEMAS[name])))) for name in FLAT)]
)

_CODER: Coder | None = None


def _coder() -> Coder:
    """One Coder per Python worker process, built on first use."""
    global _CODER
    if _CODER is None:
        _CODER = Coder.default()
    return _CODER


def code_batches(
    batches: Iterator[pa.RecordBatch],
    *,
    policy: str | None = None,
    timezone: str | None = None,
    audit: bool = False,
) -> Iterator[pa.RecordBatch]:
    """The mapInArrow function: encounters in (with `seq`), wide result rows out."""
    coder = _coder()
    for batch in batches:
        seqs = batch.column(batch.schema.get_field_index("seq")).to_pylist()
        encounters = batch.drop_columns(["seq"])
        rows = Rows()
        for seq, record in zip(seqs, arrow_records(encounters), strict=True):
            rows.add(seq, code_one(coder, record, policy=policy, timezone=timezone, audit=audit))
        yield from wide_table(rows).to_batches()


def wide_table(rows: Rows) -> pa.Table:
    """One row per result: its `results` row and, per flat table, the list of its rows there."""
    tables = {name: to_table(name, rows.rows[name]) for name in FLAT}
    per_seq: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for name in FLAT:
        grouped: dict[int, list[dict[str, Any]]] = {}
        for row in tables[name].to_pylist():  # typed (dates) rows, in the declared schema
            grouped.setdefault(row["seq"], []).append(row)
        per_seq[name] = grouped
    results = to_table("results", rows.rows["results"])
    columns = [results.column(i) for i in range(results.num_columns)]
    seqs = results.column("seq").to_pylist()
    for name in FLAT:
        kind = WIDE_SCHEMA.field(f"_{name}").type
        columns.append(pa.chunked_array([pa.array([per_seq[name].get(s, []) for s in seqs], kind)], kind))
    return pa.Table.from_arrays(columns, schema=WIDE_SCHEMA)


def spark_type(kind: pa.DataType) -> Any:
    """The Spark SQL type of an Arrow type of the tables' schemas."""
    from pyspark.sql import types as T

    if pa.types.is_string(kind):
        return T.StringType()
    if pa.types.is_int64(kind):
        return T.LongType()
    if pa.types.is_int32(kind):
        return T.IntegerType()
    if pa.types.is_float64(kind):
        return T.DoubleType()
    if pa.types.is_boolean(kind):
        return T.BooleanType()
    if pa.types.is_date32(kind):
        return T.DateType()
    if pa.types.is_list(kind):
        return T.ArrayType(spark_type(kind.value_type), True)
    if pa.types.is_struct(kind):
        return T.StructType([T.StructField(f.name, spark_type(f.type), True) for f in kind])
    raise TypeError(f"no Spark type for {kind}")


def spark_schema(schema: pa.Schema) -> Any:
    """A tables.py schema as a Spark StructType (every field nullable: Spark checks no more)."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, spark_type(f.type), True) for f in schema])


@dataclass
class SparkResults:
    """The DataFrames of one coding pass; columns as in tables.py (docs/batch.md)."""

    results: Any
    lines: Any
    drug_lines: Any
    findings: Any
    differences: Any
    errors: Any
    coded: Any  # the persisted wide DataFrame they are projected from

    def unpersist(self) -> None:
        self.coded.unpersist()


def code_dataframe(
    df: Any, *, policy: str | None = None, timezone: str | None = None, audit: bool = False
) -> SparkResults:
    """Code a DataFrame of encounters (Parquet layout) into DataFrames of results and flat tables."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if policy is not None and policy not in _coder().policies:
        raise ValueError(f"unknown policy {policy!r}; known: {', '.join(_coder().policies)}")
    if "seq" not in df.columns:
        df = df.withColumn("seq", F.monotonically_increasing_id())

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return code_batches(batches, policy=policy, timezone=timezone, audit=audit)

    coded = df.mapInArrow(run, spark_schema(WIDE_SCHEMA)).persist(StorageLevel.MEMORY_AND_DISK)
    tables = {name: coded.selectExpr(f"inline(_{name})") for name in FLAT}
    results = coded.select(*[f.name for f in SCHEMAS["results"]])
    return SparkResults(results=results, coded=coded, **tables)
