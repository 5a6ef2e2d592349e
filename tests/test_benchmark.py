"""The benchmark's helpers (scripts/_bench_util.py): the verdict on issue 9's target, CPU and memory of a
process tree, and the comparison of two batch output folders. No timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _bench_util import first_difference, measure, stream, summary_line, verdict

from batch_data import encounters


def test_the_target_is_judged_on_batch_jobs_1() -> None:
    assert verdict(9_999.9) == "not met"
    assert verdict(10_000) == "met"
    line = summary_line(711, 617, [(2, 1_150, 1.86)])
    assert "end to end 711/s in process" in line
    assert "batch --jobs 1 617/s" in line
    assert "--jobs 2 1,150/s wall (1.86x)" in line
    assert line.endswith("target 10,000/s on one core through batch --jobs 1: not met")
    # a fast library does not count: the figure is batch --jobs 1
    assert summary_line(12_000, 9_000, []).endswith(": not met")
    assert summary_line(800, 10_500, []).endswith(": met")
    assert "not judged" in summary_line(711, None, [])


def test_the_benchmark_codes_the_tests_encounters() -> None:
    assert list(stream(5)) == encounters(5)
    assert [e["encounter_id"] for e in stream(3)] == ["E0000000", "E0000001", "E0000002"]


def test_cpu_counts_the_grandchildren_and_memory_is_sampled() -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}], check=True)"
    run = measure([sys.executable, "-c", parent], interval=0.05)
    assert run.returncode == 0
    assert run.cpu >= 0.4  # the grandchild's 0.4 s is in the parent's children's rusage
    assert run.wall >= 0.4
    assert run.samples and run.peak_kib > 1024  # two interpreters, each several MiB resident


def test_first_difference_names_the_file_row_and_column(tmp_path: Path) -> None:
    left, right = tmp_path / "one", tmp_path / "two"
    for folder, value in ((left, "b"), (right, "b")):
        folder.mkdir()
        pq.write_table(pa.table({"seq": [0, 1], "code": ["a", value]}), folder / "lines.parquet")
        (folder / "results.jsonl").write_text('{"seq": 0}\n{"seq": 1}\n')
    (left / "summary.json").write_text('{"seconds": 1.0}')
    (right / "summary.json").write_text('{"seconds": 2.0}')  # differs by design: not compared
    assert first_difference(left, right) is None
    pq.write_table(pa.table({"seq": [0, 1], "code": ["a", "c"]}), right / "lines.parquet")
    assert first_difference(left, right) == "lines.parquet: row 1, column code"
    pq.write_table(pa.table({"seq": [0, 1], "code": ["a", "b"]}), right / "lines.parquet")
    (right / "results.jsonl").write_text('{"seq": 0}\n{"seq": 2}\n')
    assert first_difference(left, right) == "results.jsonl: first differing byte at 19 (line 2)"
    (right / "errors.parquet").write_bytes(b"")
    assert "different files" in (first_difference(left, right) or "")
