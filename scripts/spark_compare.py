"""Spark local[2] against batch on the same generated encounters: every table identical (DuckDB EXCEPT
ALL both ways over the Parquet outputs). Prints times and row counts.

PYSPARK_PYTHON=.venv/bin/python .venv/bin/python scripts/spark_compare.py [--encounters 100000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from _bench_util import stream  # noqa: E402  (the tests' generator)

from infusion_coder.batch.run import write_encounters  # noqa: E402
from infusion_coder.formats.tables import TABLES  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encounters", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        plain, with_seq = folder / "in.parquet", folder / "in_seq.parquet"
        write_encounters(stream(args.encounters, seed=3), plain, "parquet")
        table = pq.read_table(plain)
        # row groups of 8,192 rows: Spark splits the file into partitions that fit the default heap
        seq = pa.array(range(table.num_rows), pa.int64())
        pq.write_table(table.append_column("seq", seq), with_seq, row_group_size=8192)
        del table

        began = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "infusion_coder",
            "batch",
            str(plain),
            "--out",
            str(folder / "batch"),
        ]
        subprocess.run([*command, "--jobs", str(args.jobs)], check=False, capture_output=True)
        print(f"batch --jobs {args.jobs}: {time.perf_counter() - began:.0f} s")

        from pyspark.sql import SparkSession

        from infusion_coder.spark import code_dataframe

        began = time.perf_counter()
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.memory", "4g")  # local mode: the driver's heap is the executor's
            .config("spark.sql.files.maxPartitionBytes", "8m")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        started = time.perf_counter()
        coded = code_dataframe(spark.read.parquet(str(with_seq)))
        for name in TABLES:
            getattr(coded, name).write.parquet(str(folder / "spark" / name))
        coded.unpersist()
        spark.stop()
        done = time.perf_counter()
        print(f"spark local[2]: session {started - began:.0f} s, coding and writing {done - started:.0f} s")

        same = True
        for name in TABLES:
            a = f"read_parquet('{folder / 'batch' / name}.parquet')"
            b = f"read_parquet('{folder / 'spark' / name}/*.parquet')"
            rows = duckdb.sql(f"SELECT count(*) FROM {a}").fetchall()[0]
            only_batch = duckdb.sql(
                f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})"
            ).fetchall()[0]
            only_spark = duckdb.sql(
                f"SELECT count(*) FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a})"
            ).fetchall()[0]
            assert rows and only_batch and only_spark
            same = same and only_batch[0] == 0 and only_spark[0] == 0
            print(f"{name}: {rows[0]:,} rows; only in batch {only_batch[0]}, only in Spark {only_spark[0]}")
        print("identical" if same else "DIFFERENT")


if __name__ == "__main__":
    main()
