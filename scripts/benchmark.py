"""Throughput of the engine and of the command line on synthetic encounters. Prints figures; asserts nothing.

python scripts/benchmark.py [--encounters 20000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from infusion_coder import Coder

SUBSTANCES = [
    "normal saline",
    "ondansetron",
    "ceftriaxone",
    "vancomycin",
    "cisplatin",
    "dexamethasone",
    "ketorolac",
]


def synthetic(index: int, rng: random.Random) -> dict[str, Any]:
    start = datetime(2026, 1, 15, 8, 0)
    admins = []
    for number in range(rng.randint(1, 8)):
        begin = start + timedelta(minutes=rng.randint(0, 600))
        record: dict[str, Any] = {
            "id": f"a{number}",
            "substance": rng.choice(SUBSTANCES),
            "route": "intravenous",
            "start": begin.isoformat(timespec="minutes"),
        }
        if rng.random() < 0.8:
            record["end"] = (begin + timedelta(minutes=rng.randint(1, 240))).isoformat(timespec="minutes")
        else:
            record["method"] = "push"
        admins.append(record)
    return {"encounter_id": f"E{index}", "claim_type": "institutional", "administrations": admins}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encounters", type=int, default=20000)
    args = parser.parse_args()
    rng = random.Random(7)
    batch = [synthetic(i, rng) for i in range(args.encounters)]

    began = time.perf_counter()
    coder = Coder.default()
    loaded = time.perf_counter()
    for record in batch:
        coder.code_record(record)
    coded = time.perf_counter()
    print(f"reference data load: {1000 * (loaded - began):.0f} ms")
    print(
        f"library: {len(batch)} encounters in {coded - loaded:.2f} s = {len(batch) / (coded - loaded):,.0f} per second"
    )

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "batch.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in batch))
        began = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "infusion_coder", "code", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.perf_counter() - began
        out = run.stdout.count("\n")
    print(
        f"cli: {len(batch)} encounters in {took:.2f} s = {len(batch) / took:,.0f} per second ({out} results, exit {run.returncode})"
    )


if __name__ == "__main__":
    main()
