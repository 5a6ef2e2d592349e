"""Throughput and memory of `infusion-coder batch` on generated encounters (1-6 administrations).
Prints figures; asserts only, with --million, that every input came back in exactly one result.

python scripts/benchmark_batch.py [--encounters 20000] [--million] [--million-jobs 1]

Stages: batch --jobs 1 and --jobs 2 on JSON Lines, --jobs 1 on Parquet (encounters/s, wall time, peak
RSS of the run). --million: 1,000,000 encounters streamed through batch (written as JSON Lines first),
with the process tree's resident memory sampled every second to show it stays flat, then a check that
results hold seq 0..N-1 with the input's encounter ids, in order.
(scripts/benchmark.py measures the library and `code`; this file measures batch.)
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from batch_data import generated  # noqa: E402  (the tests' generator: one definition of the encounters)
from infusion_coder.adapters.batch import write_encounters  # noqa: E402


def stream(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for index in range(count):
        yield generated(index, rng)


def _rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, KiB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def run_batch(inputs: Path, out: Path, jobs: int, extra: list[str] | None = None) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "infusion_coder",
        "batch",
        str(inputs),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
    ]
    began = time.perf_counter()
    process = subprocess.Popen(
        [*command, *(extra or [])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    samples: list[tuple[float, int]] = []
    while process.poll() is None:
        samples.append((time.perf_counter() - began, _rss_kib(process.pid)))
        time.sleep(1.0 if samples[-1][0] > 10 else 0.2)
    stdout, stderr = process.communicate()
    took = time.perf_counter() - began
    if process.returncode not in (0, 1):
        raise SystemExit(f"batch failed ({process.returncode}): {stderr[-2000:]}")
    return {"seconds": took, "samples": samples, "stdout": stdout.strip()}


def report(label: str, count: int, run: dict[str, Any]) -> None:
    peak = max((kib for _, kib in run["samples"]), default=0)
    print(
        f"{label}: {count:,} encounters in {run['seconds']:.1f} s = {count / run['seconds']:,.0f}/s "
        f"(wall, process start and reference load included); peak RSS {peak / 1024:,.0f} MiB"
    )


def stages(count: int, folder: Path) -> None:
    jsonl, parquet = folder / "in.jsonl", folder / "in.parquet"
    write_encounters(stream(count), jsonl, "jsonl")
    write_encounters(stream(count), parquet, "parquet")
    for jobs in (1, 2):
        report(
            f"batch --jobs {jobs} (JSON Lines in, Parquet out)",
            count,
            run_batch(jsonl, folder / f"o{jobs}", jobs),
        )
    report("batch --jobs 1 (Parquet in, Parquet out)", count, run_batch(parquet, folder / "op", 1))
    same = all(
        (folder / "o1" / f.name).read_bytes() == f.read_bytes() for f in (folder / "o2").glob("*.parquet")
    )
    print(f"--jobs 2 output identical to --jobs 1: {same}")


def million(count: int, folder: Path, jobs: int) -> None:
    source = folder / "million.jsonl"
    began = time.perf_counter()
    write_encounters(stream(count), source, "jsonl")
    print(
        f"generated {count:,} encounters ({source.stat().st_size / 2**20:,.0f} MiB JSON Lines) in {time.perf_counter() - began:.0f} s"
    )
    out = folder / "million"
    run = run_batch(source, out, jobs)
    report(f"batch --jobs {jobs}, {count:,} encounters", count, run)
    samples = run["samples"]
    if samples:
        quarter = max(1, len(samples) // 4)
        early = max(k for _, k in samples[:quarter]) / 1024
        late = max(k for _, k in samples[-quarter:]) / 1024
        print(
            f"resident memory: first quarter of the run max {early:,.0f} MiB, last quarter max {late:,.0f} MiB"
        )
        for at, kib in samples[:: max(1, len(samples) // 10)]:
            print(f"  {at:7.0f} s  {kib / 1024:7.0f} MiB")
    print(run["stdout"])
    expected = 0
    seen = 0
    file = pq.ParquetFile(out / "results.parquet")
    for batch in file.iter_batches(columns=["seq", "encounter_id"], batch_size=65536):
        for seq, encounter_id in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
            assert seq == expected and encounter_id == f"E{seq:07d}", (seq, encounter_id)
            expected += 1
            seen += 1
    assert seen == count, f"{seen} results for {count} encounters"
    print(f"check: {seen:,} results, seq 0..{seen - 1} in order, every encounter id once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encounters", type=int, default=20000)
    parser.add_argument("--million", action="store_true", help="stream 1,000,000 encounters through batch")
    parser.add_argument("--million-count", type=int, default=1_000_000)
    parser.add_argument("--million-jobs", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this folder instead of a temporary one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        if args.million:
            million(args.million_count, folder, args.million_jobs)
        else:
            stages(args.encounters, folder)


if __name__ == "__main__":
    main()
