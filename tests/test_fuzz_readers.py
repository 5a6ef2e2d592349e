"""Fuzz suite of the readers around the engine (issue 16): the MAR reader, batch inputs (JSON Lines, CSV,
Parquet) and the billed-claim readers (837, CSV). A mutation loop over real files (the MAR example with its
mapping; MAR, batch and 837 files written from the gold cases with the project's own writers) checks, in a
child process under a 1 GiB address-space cap with 10 s per file (tests/fuzz_readers.py): no exception
escapes, every input record comes out as a result, finding or error, and no message quotes too much or
leaks Python's text. FUZZ_SCALE=10 runs ten times the mutants (locally; the default suits CI).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fuzz_readers import HOSTILE_CELLS, mutate_bytes, mutate_cells

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CASES = ROOT.parent / "shared" / "cases" / "dev.jsonl"
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
needs_gold = pytest.mark.skipif(not CASES.exists(), reason="../shared/cases/dev.jsonl not present")


def gold() -> list[dict[str, Any]]:
    return [json.loads(line)["encounter"] for line in CASES.read_text().splitlines() if line.strip()]


def run_job(cases: list[dict[str, Any]], folder: Path) -> dict[str, Any]:
    job = folder / "job.json"
    job.write_text(json.dumps({"cases": cases}))
    child = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "fuzz_readers.py"), str(job)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])
    assert report["checked"] == len(cases)
    return report


def count(n: int) -> int:
    return max(1, int(n * SCALE))


# ------------------------------------------------------------------------------------------------ MAR


def mar_cases(folder: Path) -> list[dict[str, Any]]:
    from infusion_coder.formats.mar import write_csv

    rng = random.Random(16)
    bases: list[tuple[str, bytes, str | None, str]] = [
        (
            "example",
            (EXAMPLES / "mar-export.csv").read_bytes(),
            str(EXAMPLES / "mar-mapping.toml"),
            "PAT_ENC_CSN_ID",
        )
    ]
    if CASES.exists():
        timed = [e for e in gold() if all(a.get("start") for a in e["administrations"])]
        bases.append(("gold", write_csv(timed).encode(), None, "encounter_id"))
    cases: list[dict[str, Any]] = []

    def add(name: str, data: bytes, mapping: str | None, column: str, how: str) -> None:
        path = folder / f"mar-{len(cases):04d}-{name}"
        path.write_bytes(data)
        cases.append({"kind": "mar", "path": str(path), "mapping": mapping, "id_column": column, "how": how})

    for name, data, mapping, column in bases:
        for _ in range(count(35)):
            add(f"{name}.csv", mutate_bytes(data, rng), mapping, column, "bytes")
        for _ in range(count(35)):
            text, _rows = mutate_cells(data.decode(), rng)
            add(f"{name}.csv", text.encode(), mapping, column, "cells")
        add(f"{name}.csv.gz", gzip.compress(mutate_bytes(data, rng)), mapping, column, "gzip")
        add(f"{name}.csv", b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"), mapping, column, "bom-crlf")
        add(f"{name}.csv", data.replace(b"\n", b"\r"), mapping, column, "cr-only")
        add(f"{name}.csv", data.decode().encode("utf-16"), mapping, column, "utf-16")
    header = b"encounter_id,administration_id,medication,route,action,time\n"
    many = b"".join(b"E1,A%d,Saline,IV,Given,2026-01-15 10:00\n" % i for i in range(6000))
    add("admins.csv", header + many, None, "encounter_id", "6,000 administrations in one encounter")
    pauses = b"E1,A1,Saline,IV,New Bag,2026-01-15 00:00\n" + b"".join(
        b"E1,A1,,,%s,2026-01-15 %02d:%02d\n" % (action, m // 60, m % 60)
        for i in range(150)
        for action, m in ((b"Paused", 4 * i + 1), (b"Restarted", 4 * i + 2))
    )
    add("pauses.csv", header + pauses, None, "encounter_id", "150 pauses of one bag")
    add(
        "cell.csv",
        header + b"E1,A1," + b"x" * 300_000 + b",IV,Given,2026-01-15 10:00\n",
        None,
        "encounter_id",
        "huge cell",
    )
    add("bomb.csv.gz", gzip.compress(header + b"0" * (300 * 2**20)), None, "encounter_id", "gzip bomb")
    bags = b"".join(b"E1,A1,,IV,New Bag,2026-01-15 10:%02d:%02d\n" % (i % 60, i // 60) for i in range(2000))
    add("bags.csv", header + bags, None, "encounter_id", "a bag charted 2,000 times, no medication")
    held = b"".join(b"E1,A%d,Saline,IV,Held,2026-01-15 10:00\n" % i for i in range(5100))
    add("held.csv", header + held, None, "encounter_id", "5,100 findings for one encounter")
    ids = b"".join(b"E1,%s,Saline,IV,Given,2026-01-15 10:00\n" % (b"A" * 5000) for _ in range(3))
    add("ids.csv", header + ids, None, "encounter_id", "administration ids of 5,000 characters")
    return cases


def test_the_mar_reader_holds_whatever_a_file_contains(tmp_path: Path) -> None:
    cases = mar_cases(tmp_path)
    report = run_job(cases, tmp_path)
    assert report["failures"] == [], report["failures"][:20]
    assert report["outcomes"].get("read", 0) > len(cases) // 2, report["outcomes"]  # most mutants are read
    assert report["peak_mb"] < 1024


# ------------------------------------------------------------------------------------------------ batch


def batch_cases(folder: Path) -> list[dict[str, Any]]:
    from infusion_coder.batch.run import ENCOUNTER_SCHEMA, write_encounters

    rng = random.Random(17)
    records = gold()[:20] if CASES.exists() else []
    records += [dict(records[0] if records else {}, encounter_id=123), {"encounter_id": 7}]
    cases: list[dict[str, Any]] = []

    def add(layout: str, data: bytes, how: str, expected: int | None) -> None:
        path = folder / f"batch-{len(cases):04d}.{layout}"
        path.write_bytes(data)
        cases.append({"kind": "batch", "path": str(path), "layout": layout, "how": how, "records": expected})

    bases = {}
    for layout in ("jsonl", "csv", "parquet"):
        path = folder / f"base.{layout}"
        write_encounters(records, path, layout)
        bases[layout] = path.read_bytes()
    # JSON Lines: values replaced inside a record keep one record a line
    lines = bases["jsonl"].decode().splitlines()
    for _ in range(count(30)):
        chosen = list(lines)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(chosen))
            record = json.loads(chosen[at])
            record[
                rng.choice(["encounter_id", "claim_type", "administrations", "policy", "timezone", "x"])
            ] = rng.choice(
                [*HOSTILE_CELLS, 123, -(2**63), 2**70, 1.5, None, [], {}, _nested(600), [_nested(50)]]
            )
            chosen[at] = json.dumps(record)
        add("jsonl", ("\n".join(chosen) + "\n").encode(), "values", len(chosen))
    for _ in range(count(15)):
        data = mutate_bytes(bases["jsonl"], rng)
        add("jsonl", data, "bytes", None)
    # CSV: cells replaced keep one record a row
    for _ in range(count(30)):
        text, rows = mutate_cells(bases["csv"].decode(), rng)
        add("csv", text.encode(), "cells", rows)
    for _ in range(count(15)):
        add("csv", mutate_bytes(bases["csv"], rng), "bytes", None)
    # Parquet: values of the declared layout, another layout's types, damaged bytes
    table = pa.Table.from_pylist([_text_id(r) for r in records], schema=ENCOUNTER_SCHEMA)
    for _ in range(count(10)):
        rows = table.to_pylist()
        for _ in range(rng.randint(1, 4)):
            row = rows[rng.randrange(len(rows))]
            row[rng.choice(["encounter_id", "claim_type", "policy", "timezone"])] = rng.choice(
                [c for c in HOSTILE_CELLS if isinstance(c, str)] + [None]
            )
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist(rows, schema=ENCOUNTER_SCHEMA), sink)
        add("parquet", sink.getvalue().to_pybytes(), "values", len(rows))
    odd = pa.table(
        {
            "encounter_id": pa.array(range(len(records)), pa.int64()),
            "claim_type": pa.array(["institutional"] * len(records)),
            "administrations": pa.array([json.dumps(r.get("administrations", [])) for r in records]),
            "extra": pa.array([b"\x00\xff"] * len(records), pa.binary()),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(odd, sink)
    add("parquet", sink.getvalue().to_pybytes(), "other types", len(records))
    for _ in range(count(15)):
        add("parquet", mutate_bytes(bases["parquet"], rng), "bytes", None)
    return cases


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _text_id(record: dict[str, Any]) -> dict[str, Any]:
    found = record.get("encounter_id")
    return {**record, "encounter_id": str(found)} if isinstance(found, int) else record


def test_batch_inputs_hold_whatever_a_file_contains(tmp_path: Path) -> None:
    cases = batch_cases(tmp_path)
    report = run_job(cases, tmp_path)
    assert report["failures"] == [], report["failures"][:20]
    assert report["outcomes"].get("read", 0) > len(cases) // 2, report["outcomes"]
    assert report["peak_mb"] < 1024


# ------------------------------------------------------------------------------------------------ billed


def billed_cases(folder: Path) -> list[dict[str, Any]]:
    from claim_support import GOLD, claim_for, header
    from infusion_coder import Coder, Encounter
    from infusion_coder.claims import ClaimError
    from infusion_coder.formats.x12 import write_837

    rng = random.Random(18)
    coder = Coder.default()
    claims: dict[str, list[Any]] = {"837i": [], "837p": []}
    rows = ["encounter_id,code,units,modifiers,date"]
    for case in GOLD:
        encounter = Encounter.model_validate(case["encounter"])
        try:
            claim = claim_for(coder, encounter)
        except ClaimError:
            continue
        claims["837i" if claim.claim_type == "institutional" else "837p"].append(claim)
        rows += [
            f"{claim.encounter_id},{line.code},{line.units},{' '.join(line.modifiers)},{line.date}"
            for line in claim.lines
        ]
    texts = {
        variant: write_837(chosen, header(), variant).encode()  # type: ignore[arg-type]
        for variant, chosen in claims.items()
        if chosen
    }
    cases: list[dict[str, Any]] = []

    def add(name: str, data: bytes, how: str) -> None:
        path = folder / f"billed-{len(cases):04d}-{name}"
        path.write_bytes(data)
        cases.append({"kind": "billed", "path": str(path), "how": how})

    for variant, data in texts.items():
        for _ in range(count(12)):
            add(f"claims.{variant}", mutate_bytes(data, rng), "bytes")
        for _ in range(count(12)):
            add(f"claims.{variant}", _mutate_segments(data, rng), "segments")
    text = "\n".join(rows) + "\n"
    for _ in range(count(30)):
        mutated, _count = mutate_cells(text, rng)
        add("billed.csv", mutated.encode(), "cells")
    for _ in range(count(15)):
        add("billed.csv", mutate_bytes(text.encode(), rng), "bytes")
    add("billed.csv", text.encode() + b"E1,96365,1,,2026-01-15,extra,cells\n", "row longer than its header")
    return cases


def _mutate_segments(data: bytes, rng: random.Random) -> bytes:
    """Segment-level damage as an interface engine makes it: a segment lost, doubled, moved or cut, an
    element emptied or replaced."""
    segments = data.split(b"~")
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(segments))
        op = rng.random()
        if op < 0.25:
            del segments[at]
        elif op < 0.45:
            segments.insert(rng.randrange(len(segments) + 1), segments[at])
        elif op < 0.6:
            segments[at] = segments[at][: rng.randrange(len(segments[at]) + 1)]
        else:
            elements = segments[at].split(b"*")
            pick = rng.randrange(len(elements))
            elements[pick] = rng.choice(
                [b"", b"X" * 300, b"-1", b"1.5", b"99999999999", b"::", b"^", b"20261399"]
            )
            segments[at] = b"*".join(elements)
    return b"~".join(segments)


@needs_gold
def test_billed_claim_readers_hold_whatever_a_file_contains(tmp_path: Path) -> None:
    cases = billed_cases(tmp_path)
    report = run_job(cases, tmp_path)
    assert report["failures"] == [], report["failures"][:20]
    assert report["outcomes"].get("read", 0) > len(cases) // 2, report["outcomes"]
    assert report["peak_mb"] < 1024
