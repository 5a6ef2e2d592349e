"""Helpers shared by scripts/benchmark.py and scripts/spark_compare.py: the generated encounters (the tests'
generator, `tests/batch_data.generated`, so scripts and tests code the same shapes), running a command while
measuring its whole process tree (wall time, CPU time, resident memory), and comparing two output folders."""

from __future__ import annotations

import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from batch_data import generated  # noqa: E402  (one definition of the encounters, shared with the tests)

__all__ = [
    "TARGET",
    "Measured",
    "first_difference",
    "generated",
    "measure",
    "rss_series",
    "stream",
    "summary_line",
    "tree_rss_kib",
    "verdict",
]

TARGET = 10_000  # issue 9: encounters per second on one core through `batch --jobs 1`


def stream(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` generated encounters (ids E0000000, E0000001, ...), lazily: a million need not fit in memory."""
    rng = random.Random(seed)
    for index in range(count):
        yield generated(index, rng)


def status_kib(pid: int, field: str = "VmRSS") -> int | None:
    """A memory field of /proc/PID/status in KiB (VmRSS now, VmHWM the peak); None once the process has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, KiB (Linux /proc; 0 once it has gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += status_kib(current) or 0
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


@dataclass
class Measured:
    """One run of a command: wall seconds, CPU seconds (user + system) of the process and every descendant it
    waited for, resident memory samples (seconds from start, KiB of the tree), exit status and output."""

    wall: float
    cpu: float
    returncode: int
    stdout: str
    stderr: str
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def peak_kib(self) -> int:
        return max((kib for _, kib in self.samples), default=0)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: Sequence[str], *, interval: float = 0.2) -> Measured:
    """Run `command` to its end, sampling the tree's RSS every `interval` seconds. CPU comes from
    getrusage(RUSAGE_CHILDREN) before and after: it counts the child and the grandchildren it reaped (batch's
    workers), and nothing of other processes on the machine, so CPU per encounter means "per core" even
    when the machine is shared. Output goes through temporary files (a full pipe would stall the child)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        cpu_before = _children_cpu()
        began = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=out, stderr=err)
        samples: list[tuple[float, int]] = []
        while process.poll() is None:  # poll() reaps the child at its end, so its rusage is counted below
            samples.append((time.perf_counter() - began, tree_rss_kib(process.pid)))
            time.sleep(interval)
        wall = time.perf_counter() - began
        cpu = _children_cpu() - cpu_before
        out.seek(0)
        err.seek(0)
        return Measured(
            wall=wall,
            cpu=cpu,
            returncode=process.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            samples=[s for s in samples if s[1]],
        )


def rss_series(samples: list[tuple[float, int]], points: int = 30) -> str:
    """The samples as at most `points` windows, each `time: max MiB of the window`, on one line."""
    if not samples:
        return "(no samples)"
    size = max(1, -(-len(samples) // points))
    parts = []
    for start in range(0, len(samples), size):
        window = samples[start : start + size]
        parts.append(f"{window[0][0]:.0f}s {max(k for _, k in window) / 1024:.0f}")
    return " | ".join(parts)


def verdict(rate: float, target: float = TARGET) -> str:
    return "met" if rate >= target else "not met"


def summary_line(
    end_to_end: float | None, batch_one: float | None, batch_more: list[tuple[int, float, float]]
) -> str:
    """The closing line. `end_to_end`: in-process encounters per CPU second; `batch_one`: batch --jobs 1,
    encounters per CPU second of its process tree, start-up excluded (the issue's "on one core through batch
    --jobs 1"); `batch_more`: (jobs, encounters per wall second, speed-up over --jobs 1) for the other runs."""
    parts = []
    if end_to_end is not None:
        parts.append(f"end to end {end_to_end:,.0f}/s in process")
    if batch_one is not None:
        parts.append(f"batch --jobs 1 {batch_one:,.0f}/s")
    text = "one core: " + ", ".join(parts) if parts else "no speed figures"
    for jobs, rate, speedup in batch_more:
        text += f"; --jobs {jobs} {rate:,.0f}/s wall ({speedup:.2f}x)"
    if batch_one is not None:
        text += f"; target {TARGET:,}/s on one core through batch --jobs 1: {verdict(batch_one)}"
    else:
        text += f"; target {TARGET:,}/s on one core: not judged (needs the batch part)"
    return text


def first_difference(left: Path, right: Path, skip: tuple[str, ...] = ("summary.json",)) -> str | None:
    """None when the two output folders hold the same files with the same bytes (`skip` aside), else where
    they first differ: the file, and for Parquet the first row and column (no values: they may be patient
    data)."""
    names_left = sorted(p.name for p in left.iterdir() if p.is_file() and p.name not in skip)
    names_right = sorted(p.name for p in right.iterdir() if p.is_file() and p.name not in skip)
    if names_left != names_right:
        return f"different files: {names_left} against {names_right}"
    for name in names_left:
        a, b = (left / name).read_bytes(), (right / name).read_bytes()
        if a == b:
            continue
        if name.endswith(".parquet"):
            return f"{name}: {_parquet_difference(left / name, right / name)}"
        offset = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        line = a[:offset].count(b"\n") + 1
        return f"{name}: first differing byte at {offset:,} (line {line})"
    return None


def _parquet_difference(left: Path, right: Path) -> str:
    a, b = pq.read_table(left), pq.read_table(right)
    if a.schema != b.schema:
        return "schemas differ"
    if a.num_rows != b.num_rows:
        return f"{a.num_rows:,} rows against {b.num_rows:,}"
    for column in a.column_names:
        values_a, values_b = a.column(column).to_pylist(), b.column(column).to_pylist()
        for row, (x, y) in enumerate(zip(values_a, values_b, strict=True)):
            if x != y:
                return f"row {row:,}, column {column}"
    return "same rows, different bytes (metadata or encoding)"
