"""Throughput of the engine and of the command line on synthetic encounters. Prints figures; asserts nothing
except, with --million, that the batch came back whole (count, order, ids).

python scripts/benchmark.py [--encounters 20000] [--stages] [--curve] [--million]

Without options: library and CLI throughput, the per-stage figures, then the cost curve. Encounters have
1-6 administrations.
--stages   only the per-stage figures, in process, one core, in CPU seconds: decode, validate, engine,
           encode, their sum, and end to end (parse + code_record + render per line, as `code` does)
--curve    time to code one encounter of 1 .. 5,000 administrations (the cost curve: near linear)
--million  1,000,000 mixed good and malformed records through `infusion-coder code`, streamed through a pipe:
           wall time, records per second, peak memory of the CLI, and a check of count, order and ids
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from infusion_coder import Coder
from infusion_coder.adapters import jsonio
from infusion_coder.models import Encounter


def _render(result: Any) -> str:
    """What `code` writes for a result (jsonio.render; spelled out for a checkout older than it)."""
    render = getattr(jsonio, "render", None)
    if render is not None:
        return str(render(result))
    return jsonio.dumps(result.model_dump(mode="json"))


SUBSTANCES = [
    "normal saline",
    "ondansetron",
    "ceftriaxone",
    "vancomycin",
    "cisplatin",
    "dexamethasone",
    "ketorolac",
]


def synthetic(index: int, rng: random.Random, admins: int | None = None, days: int = 1) -> dict[str, Any]:
    start = datetime(2026, 1, 15, 8, 0)
    records = []
    for number in range(admins if admins is not None else rng.randint(1, 8)):
        begin = start + timedelta(minutes=rng.randint(0, 600 if days == 1 else days * 24 * 60 - 300))
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
        if rng.random() < 0.2:
            record["access"] = rng.choice(["L forearm PIV", "R hand PIV"])
        records.append(record)
    return {"encounter_id": f"E{index}", "claim_type": "institutional", "administrations": records}


def stages(coder: Coder, batch: list[dict[str, Any]]) -> None:
    """Encounters per second on one core for each stage of `code`, in process, then all four together:
    decode (jsonio.parse of a line), validate (Encounter.model_validate), engine (Coder.code on the valid
    encounter), encode (jsonio.render of the result). Timed in CPU seconds of this process (process_time), so
    the figures mean "per core" even on a machine other jobs share."""
    lines = [json.dumps(r).encode() for r in batch]
    count = len(lines)

    def rate(took: float) -> str:
        return f"{count / took:>10,.0f}/s {1e6 * took / count:>7.1f} us"

    began = time.process_time()
    values = [jsonio.parse(line, "line 1").value for line in lines]
    decode = time.process_time() - began
    began = time.process_time()
    encounters = [Encounter.model_validate(v) for v in values]
    validate = time.process_time() - began
    began = time.process_time()
    results = [coder.code(e) for e in encounters]
    engine = time.process_time() - began
    began = time.process_time()
    for result in results:
        _render(result)
    encode = time.process_time() - began
    began = time.process_time()
    for line in lines:
        _render(coder.code_record(jsonio.parse(line, "line 1").value))
    whole = time.process_time() - began
    print(
        f"stages, one core, {count:,} encounters of 1-{max(len(r['administrations']) for r in batch)} administrations:"
    )
    for name, took in (("decode", decode), ("validate", validate), ("engine", engine), ("encode", encode)):
        print(f"  {name:<10} {rate(took)}")
    print(f"  {'sum':<10} {rate(decode + validate + engine + encode)}")
    print(f"  {'end to end':<10} {rate(whole)}  (parse + code_record + render, as `code` does per line)")


def curve(coder: Coder) -> None:
    """Milliseconds to code one encounter, by number of administrations (best of three, to damp noise)."""
    print("cost curve (one encounter, administrations over 3 days; best of 3):")
    print(f"{'admins':>8} {'ms':>9} {'us/admin':>9}")
    for size in (1, 10, 100, 500, 1000, 2000, 5000):
        body = synthetic(0, random.Random(size), admins=size, days=3)
        best = float("inf")
        for _ in range(3 if size <= 2000 else 2):
            began = time.perf_counter()
            coder.code_record(body)
            best = min(best, time.perf_counter() - began)
        print(f"{size:>8} {1000 * best:>9.1f} {1e6 * best / size:>9.0f}")


MALFORMED = [
    b"{not json",
    b'{"encounter_id": "M", "claim_type": "institutional"',  # truncated
    b'{"encounter_id": "M", "x": "\xff\xfe"}',  # not UTF-8
    b'{"encounter_id": "M", "dose": NaN}',
    b"[" * 5000,  # nested too deeply
    b'{"encounter_id": "M", "n": ' + b"9" * 5000 + b"}",  # integer too long
    b'{"encounter_id": "M\r", "claim_type": "institutional", "administrations": []}',  # CR inside a line
    '{"encounter_id": "M\u2028", "claim_type": "clinic", "administrations": []}'.encode(),
]


def million_lines(count: int, seed: int = 11) -> Iterator[tuple[bytes, str | None]]:
    """(line, expected encounter_id or None) for a mixed batch: mostly good, one in ten malformed."""
    rng = random.Random(seed)
    templates = [json.dumps(synthetic(0, rng)) for _ in range(50)]
    for index in range(count):
        if index % 10 == 7:
            yield MALFORMED[index % len(MALFORMED)], None
        else:
            template = templates[index % len(templates)]
            yield template.replace('"E0"', f'"E{index}"', 1).encode(), f"E{index}"


def _peak_rss_kb(pid: int) -> int:
    """The CLI's own peak RSS (VmHWM, reset at exec; getrusage for children would count the fork of
    this process, which holds the expected ids, before the exec)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for row in status:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1])
    except OSError:
        pass
    return 0


def million(count: int) -> None:
    expected: list[str | None] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "million.jsonl"
        with path.open("wb") as out:
            for line, encounter_id in million_lines(count):
                out.write(line + b"\r\n" if len(expected) % 3 == 0 else line + b"\n")
                expected.append(encounter_id)
        size = path.stat().st_size
        print(f"million: {count:,} records ({size / 1e6:.0f} MB JSON Lines, 1 in 10 malformed)")
        got: list[Any] = []
        began = time.perf_counter()
        with path.open("rb") as source:
            run = subprocess.Popen(
                [sys.executable, "-m", "infusion_coder", "code", "-"],
                stdin=source,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            errors: list[bytes] = []
            reader = threading.Thread(target=lambda: errors.append(run.stderr.read() if run.stderr else b""))
            reader.start()
            assert run.stdout is not None
            peak_kb = 0
            for line in run.stdout:
                if len(got) % 10_000 == 0:
                    peak_kb = max(peak_kb, _peak_rss_kb(run.pid))
                value = json.loads(line)
                got.append(
                    value.get("encounter_id") if "error" not in value else ("error", value["encounter_id"])
                )
            code = run.wait()
            reader.join()
        took = time.perf_counter() - began
    print(
        f"million: {len(got):,} results in {took:.1f} s = {len(got) / took:,.0f} records/s; "
        f"peak RSS of the CLI {peak_kb / 1024:.0f} MB (VmHWM, sampled every 10,000 results); exit {code}; stderr {len(b''.join(errors))} bytes"
    )
    ok = len(got) == len(expected)
    mismatches = 0
    for want, have in zip(expected, got, strict=False):
        if want is None:
            mismatches += not (isinstance(have, tuple) and have[0] == "error")
        else:
            mismatches += have != want
    print(
        f"million: count {'ok' if ok else 'WRONG'} ({len(got):,}/{len(expected):,}); order and ids: {mismatches} mismatches"
    )
    if not ok or mismatches:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--encounters", type=int, default=20000)
    parser.add_argument(
        "--curve", action="store_true", help="time one encounter of 1 .. 5,000 administrations"
    )
    parser.add_argument("--stages", action="store_true", help="per-stage figures only (in process)")
    parser.add_argument("--million", action="store_true", help="1,000,000 mixed records through the CLI")
    parser.add_argument("--million-count", type=int, default=1_000_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.million:
        million(args.million_count)
        return
    coder = Coder.default()
    if args.curve:
        curve(coder)
        return
    rng = random.Random(7)
    batch = [synthetic(i, rng, admins=rng.randint(1, 6)) for i in range(args.encounters)]
    if args.stages:
        stages(coder, batch)
        return

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
    stages(coder, batch)
    curve(coder)


if __name__ == "__main__":
    main()
