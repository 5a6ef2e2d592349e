"""Figures of the work queue (docs/service.md): how long a batch output folder takes to index on first open,
and a page of the list, one encounter and a full export after that. Prints figures, asserts nothing.

python scripts/queue_benchmark.py [--encounters 2000] [--source FILE.jsonl]

Encounters: --source's contract JSON Lines (e.g. `infusion-coder import mimic ...` output) repeated under
new ids up to --encounters, else the bundled examples repeated.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from infusion_coder.api import Coder
from infusion_coder.batch.run import Settings, run_batch
from infusion_coder.service.queue import Query, Queue

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encounters", type=int, default=2000)
    parser.add_argument("--source", type=Path)
    args = parser.parse_args()
    if args.source:
        base = [json.loads(line) for line in args.source.read_text().splitlines() if line.strip()]
    else:
        base = [
            json.loads(p.read_text())
            for p in sorted((ROOT / "examples").glob("*.json"))
            if '"administrations"' in p.read_text()
        ]
    coder = Coder.default()
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "in.jsonl"
        with source.open("w") as out:
            for n in range(args.encounters):
                record = dict(base[n % len(base)])
                record["encounter_id"] = f"{record.get('encounter_id')}-{n}"
                out.write(json.dumps(record) + "\n")
        folder = Path(work) / "queue"
        began = time.perf_counter()
        run_batch([source], folder, Settings(format="parquet", input_format="jsonl"), coder=coder)
        print(f"batch of {args.encounters} encounters: {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        queue = Queue(folder, coder.reference)
        spent = time.perf_counter() - began
        print(f"index on first open: {spent:.2f} s ({spent / args.encounters * 1000:.2f} ms per result)")
        began = time.perf_counter()
        Queue(folder, coder.reference)
        print(f"open again (index kept): {(time.perf_counter() - began) * 1000:.0f} ms")
        for query in (Query(), Query(sort="-amount", page=5), Query(readiness="hold", sort="date")):
            began = time.perf_counter()
            listing = queue.listing(query)
            print(
                f"list {query.params() or 'default'}: {listing.total} rows, "
                f"{(time.perf_counter() - began) * 1000:.0f} ms"
            )
        began = time.perf_counter()
        queue.result(listing.entries[0].seq if listing.entries else 0)
        print(f"one encounter's result: {(time.perf_counter() - began) * 1000:.0f} ms")
        began = time.perf_counter()
        _, rows = queue.export_rows(Query())
        print(f"export rows of the whole queue ({len(rows)}): {(time.perf_counter() - began) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
