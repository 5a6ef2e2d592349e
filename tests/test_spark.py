"""Spark: code_dataframe on local[2] gives the same tables as `batch` on the same input.

Marked `spark` (deselect with -m 'not spark'); skipped, with the reason, when PySpark or Java is missing.
One session for the module, a few hundred encounters: the whole file runs in well under a minute."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_data import encounters
from infusion_coder.batch.run import ENCOUNTER_SCHEMA, Settings, run_batch, write_encounters
from infusion_coder.formats.tables import SCHEMAS

pytestmark = pytest.mark.spark
pyspark = pytest.importorskip("pyspark", reason="PySpark is not installed (pip install -e '.[spark]')")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip(
        "no Java runtime: PySpark needs Java 17+ (apt-get install openjdk-17-jre-headless)",
        allow_module_level=True,
    )

COUNT = 300


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers must use this interpreter and its packages
    session = (
        SparkSession.builder.master("local[2]")
        .appName("infusion-coder-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.files.maxPartitionBytes", "16k")  # several partitions from a small file
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("spark")
    records: list[dict[str, Any]] = encounters(COUNT, seed=11)
    records[5] = {"encounter_id": "no-claim", "administrations": []}  # an error row too
    plain = folder / "encounters.parquet"
    write_encounters(records, plain, "parquet")
    table = pq.read_table(plain)
    with_seq = folder / "with_seq.parquet"
    # the seq column carries the row number, so Spark's seq matches batch's input position
    pq.write_table(
        table.append_column("seq", pa.array(range(COUNT), pa.int64())), with_seq, row_group_size=64
    )
    out = folder / "batch"
    run_batch([plain], out, Settings(chunk_size=64))
    return {"plain": plain, "with_seq": with_seq, "batch": out}


def _plain(value: Any) -> Any:
    if hasattr(value, "asDict"):
        return {k: _plain(v) for k, v in value.asDict().items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["seq"], row.get("ordinal", 0))


def test_spark_tables_are_the_batch_tables(spark: Any, data: dict[str, Path]) -> None:
    from infusion_coder.spark import code_dataframe

    df = spark.read.parquet(str(data["with_seq"]))
    assert df.rdd.getNumPartitions() > 1
    coded = code_dataframe(df)
    try:
        for name in ("results", "lines", "drug_lines", "findings", "differences", "errors"):
            frame = getattr(coded, name)
            assert frame.columns == SCHEMAS[name].names, name
            got = sorted((_plain(r) for r in frame.collect()), key=_key)
            want = sorted(pq.read_table(data["batch"] / f"{name}.parquet").to_pylist(), key=_key)
            assert len(got) == len(want), name
            assert got == want, name
            if name in ("results", "lines", "findings", "errors"):
                assert want, f"the batch output has {name} rows to compare"
    finally:
        coded.unpersist()


def test_without_seq_rows_are_numbered_in_order(spark: Any, data: dict[str, Path]) -> None:
    from infusion_coder.spark import code_dataframe

    coded = code_dataframe(spark.read.parquet(str(data["plain"])), policy="cpt")
    try:
        rows = coded.results.orderBy("seq").select("encounter_id", "policy").collect()
    finally:
        coded.unpersist()
    names = pq.read_table(data["plain"], columns=["encounter_id"]).column("encounter_id").to_pylist()
    assert [r["encounter_id"] for r in rows] == names
    assert {r["policy"] for r in rows} == {"cpt", None}  # None: the error row


def test_the_input_layout_is_the_parquet_schema() -> None:
    assert ENCOUNTER_SCHEMA.field("administrations").type.value_type.field("start").type == pa.string()
