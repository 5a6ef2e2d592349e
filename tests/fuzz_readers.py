"""The readers' fuzz suite (issue 16), shared by tests/test_fuzz_readers.py: mutations of real files, and the
checks run on each in a child process under a 1 GiB address-space cap (RLIMIT_AS) with a 10 s alarm per
file. `python tests/fuzz_readers.py JOB.json` runs one job and prints a JSON report: the number of files
checked, what each outcome was, and every failure (an exception that escaped, a record lost, a message that
quotes too much or leaks Python's own text, a file that ran past its time).

What counts as "one result, finding or error per input record":
- MAR: every encounter id a row carries (as csv parses the file) comes out as an encounter (its rows are
  administrations or findings on it) or the file is refused as a whole with one message naming it; every
  encounter then codes to one result or error object.
- batch inputs: records read = records in (non-blank lines of JSON Lines, rows of a CSV, rows of a Parquet
  file) where the mutation keeps them countable; every one codes, and its rows go into all three output
  formats (Arrow typing included). An input that cannot be read at all is a BatchError naming the file.
- billed claims: every CLM01 in an 837 is read, named in a problem, or covered by a file-level problem;
  every row of a billed CSV is a line or a problem. A file that cannot be read at all is a ClaimError
  naming it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
import resource
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIMIT_BYTES = 2**30  # RLIMIT_AS of the child: what "bounded memory" means here
SECONDS = 10  # per file, the alarm that makes a hang a failure (not a speed figure)

# Python's and parsers' own words that must never reach a user (issue 16: "Echo and text").
LEAKS = (
    "Traceback",
    "codec can't decode",
    "invalid literal",
    "object has no attribute",
    "list index out of range",
    "is not subscriptable",
    "NoneType",
    "unsupported operand",
    "Expected bytes, got",
    "Reference Designator",
)

HOSTILE_CELLS = [
    "",
    " ",
    "\x00",
    '"',
    '""',
    "'",
    "\u2028",
    "\u0085",
    "\r",
    "\n",
    "é",
    "🧪",
    "x" * 12_000,
    "y" * 200_000,
    "-1",
    "0",
    "1e400",
    "nan",
    "inf",
    "9" * 5_000,
    "1,000.5",
    "4 mg",
    "2026-13-45 25:61",
    "9999-12-31 23:59",
    "0001-01-01 00:00",
    "2026-01-15T10:00+25:00",
    "2026-01-15T10:00:00.123456789",
    "2026-01-15 10:00",
    "01/15/2026 10:00",
    "New Bag",
    "Paused",
    "Restarted",
    "Stopped",
    "Given",
    "Rate Change",
    "Not Given",
    "Held",
    "IV",
    "Intravenous",
    "IV Push",
    "Subcutaneous",
    "nonsense route",
    "E" * 300,
    "{",
    "[",
    "]]]]",
    "null",
    "true",
]

Mutator = Callable[[bytes, random.Random], bytes]


# ------------------------------------------------------------------------------------------------ mutators


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def cut(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def splice(data: bytes, rng: random.Random) -> bytes:
    """Insert a run of hostile bytes somewhere."""
    at = rng.randrange(len(data) + 1)
    junk = rng.choice([b"\x00" * 50, b'"', b"\r", b"\xff\xfe", b"\xe9", "\u2028".encode(), b",,,,,", b"~*:^"])
    return data[:at] + junk + data[at:]


def shuffle_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    head, body = lines[:1], lines[1:]
    op = rng.random()
    if body and op < 0.3:
        del body[rng.randrange(len(body))]
    elif body and op < 0.6:
        body.insert(rng.randrange(len(body) + 1), rng.choice(body))
    else:
        rng.shuffle(body)
    return b"\n".join(head + body)


BYTE_MUTATORS: list[Mutator] = [flip_bytes, cut, splice, shuffle_lines]


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    for _ in range(rng.randint(1, 3)):
        data = rng.choice(BYTE_MUTATORS)(data, rng)
    return data


def mutate_cells(text: str, rng: random.Random, *, header: bool = True) -> tuple[str, int]:
    """Replace cells of a CSV with hostile values, written back with csv's quoting: the rows stay rows.
    Returns the text and its number of data rows."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    first = 1 if header else 0
    for _ in range(rng.randint(1, 6)):
        if len(rows) <= first:
            break
        row = rows[rng.randrange(first, len(rows))]
        if row:
            row[rng.randrange(len(row))] = rng.choice(HOSTILE_CELLS)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue(), len(rows) - first


# ------------------------------------------------------------------------------------------------ checks


def _message_problem(message: Any, where: str) -> str | None:
    if not isinstance(message, str):
        return f"{where}: a message that is not text"
    if len(message) > 1000:
        return f"{where}: a message of {len(message):,} characters (more than an excerpt)"
    for leak in LEAKS:
        if leak in message:
            return f"{where}: the message leaks {leak!r}: {message[:200]!r}"
    return None


# Fields a reader builds itself (the ids it gives, its findings, the segments it folds): an encounter refused
# for one of them is the reader's defect. The data may still break the contract's bounds (more than 5,000
# administrations, a bag paused 150 times: "at most ..."), and then it is an error object, as it should be.
READER_FIELDS = re.compile(r"^(source_findings|administrations\[\d+\]\.(id|segments))")


def _code_all(coder: Any, records: list[dict[str, Any]], where: str) -> list[str]:
    """Each record codes to one result or error object, and its messages are clean."""
    failures = []
    for record in records:
        result = coder.code_record(record)
        data = result.model_dump(mode="json")
        if "error" in data:
            message, field = data["error"]["message"], data["error"]["field"] or ""
            found = _message_problem(message, f"{where} coding")
            if found:
                failures.append(found)
            bound = "at most" in message and not field.startswith("source_findings")
            if READER_FIELDS.match(field) and not bound:
                failures.append(f"{where}: the reader built an invalid encounter ({message[:120]})")
        else:  # the reader's own findings (the engine's texts are the engine's fuzz suite's concern)
            for finding in data["findings"]:
                if finding["rule"] == "IC505":
                    found = _message_problem(finding["message"], f"{where} finding {finding['id']}")
                    if found:
                        failures.append(found)
    return failures


def check_mar(coder: Any, case: dict[str, Any]) -> tuple[str, list[str]]:
    from infusion_coder.formats import ImportOptions, Source, UnusableInput, reader

    path = Path(case["path"])
    mapping = Path(case["mapping"]) if case.get("mapping") else None
    options = ImportOptions(mapping=mapping)
    try:
        records = list(reader("mar")([Source(path.name, path=path)], options, coder.reference.latest))
    except UnusableInput as exc:
        found = _message_problem(str(exc), "refused")
        return "refused", [found] if found else []
    failures = []
    errors = [r for r in records if "error" in r]
    encounters = [r for r in records if "error" not in r]
    for record in errors:
        found = _message_problem(record["error"]["message"], "error record")
        if found:
            failures.append(found)
    whole_file = any(  # the file refused as a whole, with one message naming it
        path.name in r["error"]["message"] and not re.search(r" row \d+", r["error"]["message"])
        for r in errors
    )
    if not whole_file:
        expected = _mar_encounter_ids(path, case.get("id_column", "encounter_id"))
        if expected is not None:
            missing = expected - {r["encounter_id"] for r in encounters}
            if missing:
                failures.append(
                    f"{len(missing)} encounter(s) lost without a word, e.g. {sorted(missing)[0][:40]!r}"
                )
    failures += _code_all(coder, encounters, "MAR encounter")
    return f"{len(encounters)} encounters, {len(errors)} errors", failures


def _mar_encounter_ids(path: Path, column: str) -> set[str] | None:
    """The encounter ids the file's rows carry, as csv reads them (None when it cannot be decoded)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows)
    except (StopIteration, csv.Error):
        return None
    if column not in header:
        return None
    at = header.index(column)
    found: set[str] = set()
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return found
        except csv.Error:
            continue
        value = row[at].strip() if at < len(row) else ""
        if value and len(value) <= 200:
            found.add(value)


def check_batch(coder: Any, case: dict[str, Any]) -> tuple[str, list[str]]:
    from infusion_coder.batch.run import BatchError, code_one, read_records
    from infusion_coder.formats import ImportOptions
    from infusion_coder.formats.tables import FORMATS, Rows, Workbook, encode

    path = Path(case["path"])
    try:
        records = list(read_records([path], case["layout"], ImportOptions(), coder))
    except BatchError as exc:
        found = _message_problem(str(exc), "refused")
        named = path.name in str(exc)
        return "refused", ([found] if found else []) + ([] if named else ["a refusal that names no file"])
    failures = []
    expected = case.get("records")
    if expected is not None and len(records) != expected:
        failures.append(f"{len(records)} records read from {expected}")
    rows = Rows()
    errors = 0
    for seq, record in enumerate(records):
        result = code_one(coder, record, policy=None, timezone=None)
        data = result.model_dump(mode="json")
        if "error" in data:
            errors += 1
            found = _message_problem(data["error"]["message"], f"record {seq}")
            if found:
                failures.append(found)
        rows.add(seq, result)
    book = Workbook(path.with_suffix(".xlsx"))  # xlsx is one workbook for every table
    for name, table in rows.tables().items():
        for format in FORMATS:
            if format != "xlsx":
                encode(name, table, format)  # raises on a value its column cannot hold
        book.write(name, table)
    book.close()
    return f"{len(records)} records, {errors} errors", failures


def check_billed(coder: Any, case: dict[str, Any]) -> tuple[str, list[str]]:
    from infusion_coder.claims import ClaimError
    from infusion_coder.formats.billed import read_billed

    path = Path(case["path"])
    try:
        claims = read_billed(path)
    except ClaimError as exc:
        found = _message_problem(str(exc), "refused")
        says = str(exc).startswith(path.name)
        return "refused", ([found] if found else []) + ([] if says else ["a refusal that names no file"])
    failures = []
    for _, message in claims.problems:
        found = _message_problem(message, "problem")
        if found:
            failures.append(found)
        if path.name not in message:
            failures.append(f"a problem that names no file: {message[:80]!r}")
    lines = sum(len(v) for v in claims.lines.values())
    text = path.read_bytes().decode("ascii", errors="replace")
    if text.lstrip()[:3] == "ISA":
        named = set(claims.lines) | {eid for eid, _ in claims.problems if eid}
        file_level = any(eid is None for eid, _ in claims.problems)
        ids = {m.strip() for m in re.findall(r"CLM\*([^*~]*)", text) if m.strip()}
        lost = ids - named
        if lost and not file_level:
            failures.append(f"claim(s) lost without a word: {sorted(lost)[:3]}")
    else:
        rows = _csv_rows(text)
        if rows is not None and lines + len(claims.problems) != rows:
            failures.append(f"{rows} rows gave {lines} lines and {len(claims.problems)} problems")
    return f"{len(claims.lines)} claims, {lines} lines, {len(claims.problems)} problems", failures


def _csv_rows(text: str) -> int | None:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    count = 0
    try:
        next(reader)
    except (StopIteration, csv.Error):
        return None
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return count
        except csv.Error:
            count += 1
            continue
        if row:
            count += 1


CHECKS = {"mar": check_mar, "batch": check_batch, "billed": check_billed}


class _Late(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _Late


def _peak_mb() -> int:
    """This process's own peak RSS: ru_maxrss also counts the parent's pages from before exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main(job_path: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))
    from infusion_coder import Coder

    job = json.loads(Path(job_path).read_text())
    coder = Coder.default()
    signal.signal(signal.SIGALRM, _alarm)
    outcomes: dict[str, int] = {}
    failures = []
    for case in job["cases"]:
        signal.alarm(SECONDS)
        try:
            outcome, found = CHECKS[case["kind"]](coder, case)
        except _Late:
            outcome, found = "late", [f"ran past {SECONDS} s"]
        except BaseException as exc:  # what escaped: the failure this suite exists to find
            outcome, found = "raised", [f"raised {type(exc).__name__}: {str(exc)[:200]}"]
        finally:
            signal.alarm(0)
        kind = outcome.split(" ")[0] if outcome in ("refused", "late", "raised") else "read"
        outcomes[kind] = outcomes.get(kind, 0) + 1
        failures += [
            {"file": Path(case["path"]).name, "how": case.get("how", ""), "problem": p} for p in found
        ]
    peak = _peak_mb()
    print(
        json.dumps(
            {"checked": len(job["cases"]), "outcomes": outcomes, "failures": failures, "peak_mb": peak}
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
