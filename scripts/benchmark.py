"""Speed and memory of infusion-coder (issue 9): the one entry point for the figures. Prints figures; fails
(exit 1) only when --jobs N wrote other bytes than --jobs 1, or, with --million / --million-code, when an
input did not come back in exactly one result, in order.

python scripts/benchmark.py [--encounters 5000] [--jobs-list 1,2]
                            [--stages] [--batch] [--library] [--curve] [--million] [--million-code]
                            [--million-count 1000000] [--million-jobs 1] [--keep DIR]

Encounters: `tests/batch_data.generated` (through scripts/_bench_util.stream, seed 7), the tests' generator:
1-6 administrations, pushes, infusions, IM/SC injections, drug doses, E/M, professional claims, billed lines.
They are written once as JSON Lines (and Parquet); the stage figures read the very lines `batch` reads, so
the in-process and the batch figures are for the same encounters.

Without a part option it prints, in this order:
(a) stages: per stage, in process, one core, in CPU seconds (process_time): decode (jsonio.parse of a line),
    validate (fast_input.fast_encounter, else Encounter.model_validate, as `code` reads a record), engine
    (engine.code_plain: the plain result `code` writes), encode
    (jsonio.render_coded, orjson), their sum, and end to end (parse + code_record_plain + render_coded per
    line, as `code` does)
(b) `infusion-coder batch --jobs 1`, JSON Lines in, Parquet out: encounters/s of wall time, CPU per
    encounter of the process tree (getrusage of the children, so "per core" holds on a shared machine),
    both also net of start-up (the same command on a tiny input), peak RSS of the tree
(c) the same for every other --jobs-list entry (default --jobs 2), the speed-up over --jobs 1, and whether
    its output files are byte-identical to --jobs 1's ("identical" or the first difference)
(d) batch --jobs 1 with the same encounters as Parquet input
(e) the library (Coder.code_record in a loop) and the `code` CLI on the JSON Lines file
(f) the cost curve: one encounter of 1 .. 5,000 administrations
(g) `infusion-coder code FILE` net of start-up beside a JSON round trip (json.loads + json.dumps) of the same
    lines, both per CPU second, and issue 19's target for this build (3,000/s pure, 5,000/s compiled)
and a summary line; "target met" is judged on batch --jobs 1 in encounters per CPU second of its process
tree, start-up excluded (the issue: "10,000 encounters/s on one core through batch --jobs 1").

--stages, --batch, --library, --curve, --code   only those parts (combinable)
--million       --million-count (1,000,000) generated encounters streamed through `batch --jobs
                --million-jobs` (1): wall time, rate, the process tree's resident memory sampled every
                second (a compact series and the peak), then a check that results hold every input once, in
                order, with its encounter id
--million-code  the same count of mixed good and malformed records through `infusion-coder code -` on a pipe:
                wall time, records/s, the CLI's peak RSS (VmHWM), and a check of count, order and ids
--hl7           the HL7 v2 reader (issue 16): one RAS message with 1,000 .. 20,000 NTE segments (CPU seconds,
                best of 3, and the growth against 1,000: linear is the segment ratio, quadratic its square),
                then a feed of the gold cases as RAS messages (messages/s of CPU)
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
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from _bench_util import (
    Measured,
    first_difference,
    generated,
    measure,
    rss_series,
    status_kib,
    stream,
    summary_line,
)

import infusion_coder
from infusion_coder import Coder
from infusion_coder.batch.run import write_encounters
from infusion_coder.engine import Coded, code_plain
from infusion_coder.fast_input import fast_encounter
from infusion_coder.formats import jsonio
from infusion_coder.models import Encounter

GOLD = Path(__file__).resolve().parents[2] / "shared" / "cases" / "dev.jsonl"

CLI = [sys.executable, "-m", "infusion_coder"]


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


# ---------------------------------------------------------------------------------------------- (a) stages


def stages(coder: Coder, lines: list[bytes]) -> float:
    """Encounters per second on one core for each stage of `code`, in process, then all four together.
    Timed in CPU seconds of this process (process_time), so the figures mean "per core" even on a machine
    other jobs share. Each record goes through every stage before the next one starts and nothing of it is
    kept (as `code` runs): holding thousands of models alive makes the garbage collector walk them all and
    bills that to whichever stage allocates. Returns end to end encounters per CPU second."""
    count = len(lines)
    clock = time.process_time

    def rate(took: float) -> str:
        return f"{count / took:>10,.0f}/s {1e6 * took / count:>8.1f} us/encounter"

    decode = validate = engine = encode = 0.0
    admins: list[int] = []
    for line in lines:
        t0 = clock()
        value = jsonio.parse(line, "line 1").value
        t1 = clock()
        encounter = fast_encounter(value) or Encounter.model_validate(value)
        t2 = clock()
        result = code_plain(encounter, coder.reference)
        t3 = clock()
        write(result)
        t4 = clock()
        decode, validate, engine, encode = (
            decode + t1 - t0,
            validate + t2 - t1,
            engine + t3 - t2,
            encode + t4 - t3,
        )
        admins.append(len(encounter.administrations))
    del value, encounter, result
    # what one clock() read costs, taken off every stage (each stage's span holds one read)
    began = clock()
    for _ in range(10_000):
        clock()
    tick = (clock() - began) / 10_000 * count
    decode, validate, engine, encode = (max(t - tick, 1e-9) for t in (decode, validate, engine, encode))
    began = clock()
    for line in lines:
        write(coder.code_record_plain(jsonio.parse(line, "line 1").value))
    whole = clock() - began
    heading(
        f"(a) stages, in process, one core, CPU time: {count:,} encounters of {min(admins)}-{max(admins)} "
        "administrations"
    )
    for name, took in (("decode", decode), ("validate", validate), ("engine", engine), ("encode", encode)):
        print(f"  {name:<10} {rate(took)}")
    print(f"  {'sum':<10} {rate(decode + validate + engine + encode)}")
    print(f"  {'end to end':<10} {rate(whole)}  (parse + code_record_plain + render_coded, as `code` does)")
    return count / whole


def write(result: Any) -> bytes:
    """A result's bytes as `code` writes them in JSON Lines (cli._emit): plain where it can, else the model."""
    if isinstance(result, Coded):
        data = jsonio.render_coded(result)
        if data is not None:
            return data
        result = result.model()
    return jsonio.render(result).encode("utf-8")


def round_trip(lines: list[bytes]) -> float:
    """CPU seconds to decode and re-encode every line with the standard json module: the floor a coder
    of the same bytes is compared with (the issue's "N times a JSON round trip")."""
    began = time.process_time()
    for line in lines:
        json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":"))
    return time.process_time() - began


def code_part(jsonl: Path, count: int) -> tuple[float, float]:
    """`infusion-coder code FILE` as a subprocess, net of start-up (the same command on one encounter),
    side by side with a JSON round trip of the same lines. Returns (code, round trip) per CPU second."""
    heading("(g) `code` against a JSON round trip of the same input, one core, CPU time")
    lines = jsonl.read_bytes().splitlines()
    one = jsonl.with_name("one.jsonl")
    one.write_bytes(lines[0] + b"\n")
    runs = [measure([*CLI, "code", str(path)]) for path in (jsonl, one, jsonl, one)]
    whole = min(runs[0].cpu, runs[2].cpu)
    start = min(runs[1].cpu, runs[3].cpu)
    net = max(whole - start, 1e-9)
    trip = min(round_trip(lines) for _ in range(3))
    code_rate, trip_rate = count / net, count / trip
    print(
        f"  code         {count:,} encounters: {whole:.2f} s CPU, start-up {start:.2f} s (1 encounter); net"
    )
    print(
        f"               {code_rate:>10,.0f} encounters per CPU second {1e6 / code_rate:>8.1f} us/encounter"
    )
    print(
        f"  round trip   {trip_rate:>10,.0f} encounters per CPU second {1e6 / trip_rate:>8.1f} us/encounter"
        "  (json.loads + json.dumps of each line, in process)"
    )
    print(
        f"  ratio        `code` costs {trip_rate / code_rate:.1f}x a JSON round trip"
        f"  (best of two runs each; exit {runs[0].returncode})"
    )
    build, target = ("compiled", 5_000) if infusion_coder.compiled else ("pure", 3_000)
    print(
        f"  target       {target:,}/s through `code` ({build} build, issue 19): "
        f"{'met' if code_rate >= target else 'not met'}"
    )
    return code_rate, trip_rate


# ----------------------------------------------------------------------------------------- (b-d) batch


def batch_command(source: Path, out: Path, jobs: int, *extra: str) -> list[str]:
    return [*CLI, "batch", str(source), "--out", str(out), "--jobs", str(jobs), *extra]


@dataclass
class BatchFigures:
    count: int
    run: Measured
    startup: Measured
    summary: dict[str, Any]

    @property
    def net_wall(self) -> float:
        """Wall seconds for the encounters alone: the run less the start-up run (the raw figure when the
        difference is not positive, as on a tiny input)."""
        net = self.run.wall - self.startup.wall
        return net if net > 0 else self.run.wall

    @property
    def net_cpu(self) -> float:
        net = self.run.cpu - self.startup.cpu
        return net if net > 0 else self.run.cpu

    @property
    def wall_rate(self) -> float:
        return self.count / self.net_wall

    @property
    def cpu_rate(self) -> float:
        return self.count / self.net_cpu


def run_batch(source: Path, out: Path, jobs: int, interval: float = 0.2) -> tuple[Measured, dict[str, Any]]:
    run = measure(batch_command(source, out, jobs), interval=interval)
    if run.returncode not in (0, 1):
        raise SystemExit(f"batch failed ({run.returncode}): {run.stderr[-2000:]}")
    return run, json.loads((out / "summary.json").read_text())


def startup(folder: Path, jobs: int, kind: str) -> Measured:
    """The fixed cost of a batch run: interpreter, imports, reference data, worker spawn, writing and joining
    the tables. `jobs` encounters cut in chunks of one, so --jobs N starts all N workers."""
    source = folder / f"startup{jobs}.{kind}"
    write_encounters(stream(jobs, seed=99), source, kind)
    out = folder / f"startup{jobs}-{kind}-out"
    run = measure(batch_command(source, out, jobs, "--chunk-size", "1"))
    if run.returncode not in (0, 1):
        raise SystemExit(f"batch failed ({run.returncode}): {run.stderr[-2000:]}")
    return run


def report_batch(label: str, figures: BatchFigures) -> None:
    run, start, count = figures.run, figures.startup, figures.count
    heading(label)
    print(
        f"  whole run   {count:,} encounters, wall {run.wall:6.1f} s = {count / run.wall:>7,.0f} encounters/s; "
        f"CPU of the process tree {run.cpu:6.1f} s = {1e6 * run.cpu / count:>7,.0f} us/encounter"
    )
    print(
        f"  start-up    wall {start.wall:6.1f} s, CPU {start.cpu:6.1f} s (the same command on "
        f"{figures.summary['jobs']} encounter(s))"
    )
    print(
        f"  net         wall {figures.wall_rate:>7,.0f} encounters/s; "
        f"CPU {1e6 * figures.net_cpu / count:>7,.0f} us/encounter = {figures.cpu_rate:>7,.0f} encounters per CPU second"
    )
    print(
        f"  batch says  {figures.summary['encounters_per_second']:,.0f} encounters/s "
        f"({figures.summary['seconds']:.1f} s from reference load to joined tables); "
        f"errors {figures.summary['errors']}"
    )
    print(f"  peak RSS    {run.peak_kib / 1024:,.0f} MiB (process tree, sampled every 0.2 s)")
    if run.cpu <= start.cpu or run.wall <= start.wall:
        print("  note        the run was not longer than its start-up: net figures are the whole run's")


def batch_part(folder: Path, jsonl: Path, parquet: Path, count: int, jobs_list: list[int]) -> dict[str, Any]:
    """(b), (c), (d). Returns the figures the summary line needs."""
    figures: dict[int, BatchFigures] = {}
    startups = {jobs: startup(folder, jobs, "jsonl") for jobs in jobs_list}
    for position, jobs in enumerate(jobs_list):
        run, summary = run_batch(jsonl, folder / f"out-jobs{jobs}", jobs)
        figures[jobs] = BatchFigures(count, run, startups[jobs], summary)
        part = "(b)" if position == 0 else "(c)"
        report_batch(f"{part} batch --jobs {jobs}, JSON Lines in, Parquet out", figures[jobs])
    base = jobs_list[0]
    more: list[tuple[int, float, float]] = []
    different: list[int] = []
    for jobs in jobs_list[1:]:
        speedup = figures[jobs].wall_rate / figures[base].wall_rate
        more.append((jobs, figures[jobs].wall_rate, speedup))
        difference = first_difference(folder / f"out-jobs{base}", folder / f"out-jobs{jobs}")
        if difference is not None:
            different.append(jobs)
        print(
            f"  speed-up    {speedup:.2f}x over --jobs {base} (net wall); output against --jobs {base}: "
            f"{'identical' if difference is None else 'DIFFERENT: ' + difference}"
        )
    run, summary = run_batch(parquet, folder / "out-parquet", base)
    report_batch(
        f"(d) batch --jobs {base}, Parquet in, Parquet out",
        BatchFigures(count, run, startup(folder, base, "parquet"), summary),
    )
    return {"one": figures[base].cpu_rate if base == 1 else None, "more": more, "different": different}


# --------------------------------------------------------------------------------- (e) library and CLI


def library_and_cli(records: list[dict[str, Any]], jsonl: Path) -> None:
    heading("(e) library and `code` CLI")
    began, cpu_began = time.perf_counter(), time.process_time()
    coder = Coder.default()
    loaded, cpu_loaded = time.perf_counter(), time.process_time()
    for record in records:
        coder.code_record(record)
    coded, cpu_coded = time.perf_counter(), time.process_time()
    count = len(records)
    print(
        f"  reference data load   {1000 * (loaded - began):,.0f} ms wall, {1000 * (cpu_loaded - cpu_began):,.0f} ms CPU"
    )
    print(
        f"  library               {count:,} encounters (code_record on dicts) in {coded - loaded:.2f} s wall = "
        f"{count / (coded - loaded):,.0f}/s; {count / (cpu_coded - cpu_loaded):,.0f} per CPU second"
    )
    run = measure([*CLI, "code", str(jsonl)])
    results = run.stdout.count("\n")
    print(
        f"  code CLI              {count:,} encounters in {run.wall:.2f} s wall = {count / run.wall:,.0f}/s, "
        f"{run.cpu:.1f} s CPU = {count / run.cpu:,.0f} per CPU second (start-up included); "
        f"{results:,} results, exit {run.returncode}, peak RSS {run.peak_kib / 1024:,.0f} MiB"
    )


# ------------------------------------------------------------------------------------------- (f) curve


def large(size: int, days: int = 3, seed: int = 0) -> dict[str, Any]:
    """One encounter of `size` administrations drawn from the generator, spread over `days` days."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    index = 0
    while len(records) < size:
        for record in generated(index, rng)["administrations"]:
            start = datetime.fromisoformat(record["start"])
            shift = (
                datetime.combine(date(2026, 1, 15) + timedelta(days=rng.randrange(days)), start.time())
                - start
            )
            record["start"] = (start + shift).isoformat(timespec="minutes")
            if "end" in record:
                record["end"] = (datetime.fromisoformat(record["end"]) + shift).isoformat(timespec="minutes")
            record["id"] = f"a{len(records)}"
            records.append(record)
        index += 1
    return {"encounter_id": f"L{size}", "claim_type": "institutional", "administrations": records[:size]}


def curve(coder: Coder) -> None:
    """Milliseconds to code one encounter, by number of administrations (best of three, to damp noise)."""
    heading("(f) cost curve: one encounter, administrations over 3 days, wall time, best of 3")
    print(f"  {'admins':>8} {'ms':>9} {'us/admin':>9}")
    for size in (1, 10, 100, 500, 1000, 2000, 5000):
        body = large(size, seed=size)
        best = float("inf")
        for _ in range(3 if size <= 2000 else 2):
            began = time.perf_counter()
            coder.code_record(body)
            best = min(best, time.perf_counter() - began)
        print(f"  {size:>8} {1000 * best:>9.1f} {1e6 * best / size:>9.0f}")


# ------------------------------------------------------------------------------- --million through batch


def million(count: int, folder: Path, jobs: int) -> None:
    heading(f"--million: {count:,} generated encounters streamed through batch --jobs {jobs}")
    source = folder / "million.jsonl"
    began = time.perf_counter()
    write_encounters(stream(count), source, "jsonl")
    print(
        f"  input       {source.stat().st_size / 2**20:,.0f} MiB JSON Lines, generated in "
        f"{time.perf_counter() - began:.0f} s"
    )
    out = folder / "million"
    run, summary = run_batch(source, out, jobs, interval=1.0)
    print(
        f"  run         wall {run.wall:,.1f} s = {count / run.wall:,.0f} encounters/s; CPU of the process tree "
        f"{run.cpu:,.1f} s = {1e6 * run.cpu / count:,.0f} us/encounter ({count / run.cpu:,.0f} per CPU second)"
    )
    samples = run.samples
    print(f"  RSS         peak {run.peak_kib / 1024:,.0f} MiB (process tree, sampled every second)")
    if samples:
        # Flat memory: before the peak (the final join of the chunk parts, when it comes at the end), the
        # second half of the run holds no more than the first.
        peak_at = max(range(len(samples)), key=lambda i: samples[i][1])
        before = samples[:peak_at]
        print(f"              at {samples[peak_at][0]:,.0f} s of {run.wall:,.0f} s")
        if len(before) >= 2:
            half = len(before) // 2
            early = max(k for _, k in before[:half]) / 1024
            late = max(k for _, k in before[half:]) / 1024
            print(
                f"              before the peak: first half max {early:,.0f} MiB, second half max {late:,.0f} MiB"
            )
        print(f"  series      seconds from start, max MiB of each window: {rss_series(samples)}")
    print(
        f"  batch says  {summary['encounters']:,} encounters, {summary['errors']} errors, "
        f"readiness {summary['readiness']}, {summary['encounters_per_second']:,.0f} encounters/s"
    )
    seen = 0
    expected = stream(count)
    file = pq.ParquetFile(out / "results.parquet")
    for batch in file.iter_batches(columns=["seq", "encounter_id"], batch_size=65536):
        for seq, encounter_id in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
            want = next(expected, None)
            if want is None or seq != seen or encounter_id != want["encounter_id"]:
                raise SystemExit(f"check FAILED at result {seen:,}: seq {seq}, encounter id {encounter_id!r}")
            seen += 1
    if seen != count:
        raise SystemExit(f"check FAILED: {seen:,} results for {count:,} encounters")
    print(
        f"  check       {seen:,} results for {count:,} inputs: seq 0..{seen - 1:,} in order, every id its input's"
    )


# -------------------------------------------------------------------------------- --million-code (CLI)


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
    templates = [json.dumps(generated(0, rng)) for _ in range(50)]
    for index in range(count):
        if index % 10 == 7:
            yield MALFORMED[index % len(MALFORMED)], None
        else:
            template = templates[index % len(templates)]
            yield template.replace('"E0000000"', f'"E{index}"', 1).encode(), f"E{index}"


def million_code(count: int, folder: Path) -> None:
    heading(f"--million-code: {count:,} records through `infusion-coder code -` on a pipe")
    expected: list[str | None] = []
    path = folder / "million-code.jsonl"
    with path.open("wb") as out:
        for line, encounter_id in million_lines(count):
            out.write(line + b"\r\n" if len(expected) % 3 == 0 else line + b"\n")
            expected.append(encounter_id)
    size = path.stat().st_size
    print(f"  input       {count:,} records ({size / 1e6:.0f} MB JSON Lines, 1 in 10 malformed)")
    got: list[Any] = []
    began = time.perf_counter()
    with path.open("rb") as source:
        run = subprocess.Popen(
            [*CLI, "code", "-"], stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        errors: list[bytes] = []
        reader = threading.Thread(target=lambda: errors.append(run.stderr.read() if run.stderr else b""))
        reader.start()
        assert run.stdout is not None
        peak_kb = 0
        for line in run.stdout:
            if len(got) % 10_000 == 0:
                # VmHWM: the CLI's own peak (reset at exec; getrusage for children would count the fork of
                # this process, which holds the expected ids, before the exec)
                peak_kb = max(peak_kb, status_kib(run.pid, "VmHWM") or 0)
            value = json.loads(line)
            got.append(
                value.get("encounter_id") if "error" not in value else ("error", value["encounter_id"])
            )
        code = run.wait()
        reader.join()
    took = time.perf_counter() - began
    print(
        f"  run         {len(got):,} results in {took:.1f} s = {len(got) / took:,.0f} records/s; "
        f"peak RSS of the CLI {peak_kb / 1024:.0f} MB (VmHWM, sampled every 10,000 results); exit {code}; "
        f"stderr {len(b''.join(errors))} bytes"
    )
    ok = len(got) == len(expected)
    mismatches = 0
    for want, have in zip(expected, got, strict=False):
        if want is None:
            mismatches += not (isinstance(have, tuple) and have[0] == "error")
        else:
            mismatches += have != want
    print(
        f"  check       count {'ok' if ok else 'WRONG'} ({len(got):,}/{len(expected):,}); order and ids: "
        f"{mismatches} mismatches"
    )
    if not ok or mismatches:
        sys.exit(1)


# ------------------------------------------------------------------------------------------------- HL7


def hl7_part(coder: Coder) -> None:
    """HL7 import time against segments per message, and messages per CPU second on a feed."""
    from infusion_coder.formats import ImportOptions, Source, hl7v2  # the reader's own imports are heavy

    pack = coder.reference.latest
    head = [
        "MSH|^~\\&|EHR|HOSP|||20260115120000||RAS^O17^RAS_O17|C1|P|2.5.1",
        "PID|||MRN1^^^HOSP^MR",
        "PV1||E|ED^1^1||||||||||||||||V1",
        "ORC|RE|ORD1",
        "RXA|0|1|20260115100500|20260115100500|^ondansetron|4|mg||||||||||||||CP|A",
        "RXR|IV^Intravenous^HL70162",
    ]

    def cpu(data: bytes) -> float:
        best = float("inf")
        for _ in range(3):
            began = time.process_time()
            list(hl7v2.read([Source("feed.hl7", data=data)], ImportOptions(), pack))
            best = min(best, time.process_time() - began)
        return best

    heading("HL7 v2: one RAS message with N NTE segments (CPU s, best of 3)")
    print(f"  {'segments':>9} {'CPU s':>8} {'us/segment':>11} {'x of 1,000':>11}")
    base = 0.0
    for count in (1_000, 2_000, 5_000, 10_000, 20_000):
        text = "\r".join([*head, *(f"NTE|{n}||note {n}" for n in range(count))])
        seconds = cpu(text.encode())
        base = base or seconds
        print(f"  {count:>9,} {seconds:>8.3f} {seconds / count * 1e6:>11.1f} {seconds / base:>11.1f}")
    print("  (linear: 20,000 segments cost 20 times 1,000; quadratic, as before issue 16: 400 times)")

    cases = (
        [json.loads(line)["encounter"] for line in GOLD.read_text().splitlines()] if GOLD.is_file() else []
    )
    if not cases:
        return
    messages = []
    for copy in range(40):
        for case in cases:
            encounter = Encounter.model_validate({**case, "encounter_id": f"{case['encounter_id']}-{copy}"})
            messages.append(hl7v2.write_ras(encounter, "2.5.1", pack))
    seconds = cpu("\r".join(messages).encode())
    heading("HL7 v2: a feed of the gold cases as RAS^O17 messages")
    print(
        f"  {len(messages):,} messages in {seconds:.2f} s of CPU: {len(messages) / seconds:,.0f} messages/s"
    )


# ------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--encounters", type=int, default=5000, help="encounters for (a)-(e) (5,000)")
    parser.add_argument("--jobs-list", default="1,2", help="batch --jobs values, the first the base (1,2)")
    parser.add_argument("--stages", action="store_true", help="(a) per-stage figures, in process")
    parser.add_argument("--batch", action="store_true", help="(b)-(d) batch --jobs 1, 2, Parquet input")
    parser.add_argument("--library", action="store_true", help="(e) library and `code` CLI")
    parser.add_argument(
        "--code", action="store_true", help="(g) `code` net of start-up beside a JSON round trip"
    )
    parser.add_argument(
        "--curve", action="store_true", help="(f) one encounter of 1 .. 5,000 administrations"
    )
    parser.add_argument("--million", action="store_true", help="1,000,000 encounters streamed through batch")
    parser.add_argument("--million-code", action="store_true", help="1,000,000 mixed records through `code`")
    parser.add_argument("--million-count", type=int, default=1_000_000, help="records for --million(-code)")
    parser.add_argument("--million-jobs", type=int, default=1, help="batch --jobs for --million (1)")
    parser.add_argument("--hl7", action="store_true", help="HL7 import: 1,000 .. 20,000 segments, a feed")
    parser.add_argument("--keep", type=Path, help="work in this folder instead of a temporary one")
    args = parser.parse_args()
    jobs_list = [int(j) for j in args.jobs_list.split(",") if j.strip()]
    chosen = {
        p
        for p in ("stages", "batch", "library", "curve", "code", "million", "million_code", "hl7")
        if getattr(args, p)
    }
    parts = chosen or {"stages", "batch", "library", "curve", "code"}

    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        if "million" in parts:
            million(args.million_count, folder, args.million_jobs)
        if "million_code" in parts:
            million_code(args.million_count, folder)
        if "hl7" in parts:
            hl7_part(Coder.default())
        if not parts & {"stages", "batch", "library", "curve", "code"}:
            return

        print(
            f"benchmark {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: {args.encounters:,} encounters from "
            "tests/batch_data.generated (seed 7); CPU figures are per core, wall figures feel the neighbours"
        )
        jsonl, parquet = folder / "encounters.jsonl", folder / "encounters.parquet"
        if parts & {"stages", "batch", "library", "code"}:
            write_encounters(stream(args.encounters), jsonl, "jsonl")
        if "batch" in parts:
            write_encounters(stream(args.encounters), parquet, "parquet")
        coder = Coder.default()
        end_to_end = batch_one = None
        more: list[tuple[int, float, float]] = []
        different: list[int] = []
        if "stages" in parts:
            end_to_end = stages(coder, jsonl.read_bytes().splitlines())
        if "batch" in parts:
            figures = batch_part(folder, jsonl, parquet, args.encounters, jobs_list)
            batch_one, more, different = figures["one"], figures["more"], figures["different"]
        if "library" in parts:
            library_and_cli(list(stream(args.encounters)), jsonl)
        if "curve" in parts:
            curve(coder)
        if "code" in parts:
            code_part(jsonl, args.encounters)
        if parts & {"stages", "batch"}:
            heading("summary")
            print(f"  {summary_line(end_to_end, batch_one, more)}")
            print(
                "  (one core = encounters per CPU second: in process, and of batch's process tree with start-up"
                " excluded; --jobs N: net wall)"
            )
        if different:
            # a speed-up that changes the output is no speed-up: fail loudly
            raise SystemExit(
                f"output of --jobs {', '.join(map(str, different))} differs from --jobs {jobs_list[0]}"
            )


if __name__ == "__main__":
    main()
