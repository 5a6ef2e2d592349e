"""Code a Parquet dataset of encounters with Spark and write the results and flat tables as Parquet.

    spark-submit --master 'local[2]' examples/spark_job.py INPUT OUTPUT [--policy cms] [--timezone ZONE]

INPUT is a Parquet file or folder in the batch layout (docs/batch.md), e.g.
examples/batch/encounters.parquet. OUTPUT gets one folder per table (results, lines, drug_lines,
findings, differences, errors), the same columns as `infusion-coder batch --format parquet`.
infusion-coder must be installed in the Python the executors run (PYSPARK_PYTHON): on a cluster, install
the wheel on every node or ship it with --py-files / a packed environment (docs/batch.md).
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession

from infusion_coder.spark import code_dataframe


def main() -> None:
    parser = argparse.ArgumentParser(description="Code encounters with Spark.")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--policy")
    parser.add_argument("--timezone")
    args = parser.parse_args()

    spark = SparkSession.builder.appName("infusion-coder").getOrCreate()
    encounters = spark.read.parquet(args.input)
    coded = code_dataframe(encounters, policy=args.policy, timezone=args.timezone)
    for name in ("results", "lines", "drug_lines", "findings", "differences", "errors"):
        getattr(coded, name).write.mode("overwrite").parquet(f"{args.output}/{name}")
    coded.results.groupBy("status", "readiness").count().orderBy("status", "readiness").show()
    coded.unpersist()
    spark.stop()


if __name__ == "__main__":
    main()
