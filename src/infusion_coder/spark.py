"""Spark: `code_dataframe(df)` codes a DataFrame of encounters with mapInArrow (see adapters/spark.py and
docs/batch.md). Needs the `spark` extra and Java 17+."""

from .adapters.spark import SparkResults, code_dataframe

__all__ = ["SparkResults", "code_dataframe"]
