"""Fuzzing the FHIR and HL7 v2 readers (issue 16): mutations of real files, and bombs in a capped child.

The seeds are the real files: the 14 official FHIR R4 examples, the two HL7 v2 samples, the project's
examples/ed-visit.hl7, and every gold case written as R4 and R5 Bundles, Bulk NDJSON and RAS messages. Each
mutated file is read by the reader itself (not behind the shared guard, so an exception would show), and:

- nothing raises, and every record is an error object with a short message or an encounter the coder
  takes (a result or an error object, never an exception);
- nothing is lost: every MedicationAdministration in a FHIR input is answered for (an administration, a
  finding or an error naming it or its place), and a mutation of one HL7 message or one NDJSON line never
  takes another's administrations with it;
- each file is read in well under 10 s of CPU.

A child process under an address space of 1 GiB reads gzip bombs of every shape found (zeros past the
ceiling, line feeds, one huge array or Bundle, millions of small records, endless segments) and must
answer each with an error in its own words, within seconds, and go on to the next file.

HYPOTHESIS_PROFILE=long (or FUZZ_ROUNDS=n) runs more rounds locally; FUZZ_SEED=n another set of them.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infusion_coder import Coder
from infusion_coder.formats import ImportOptions, Source, fhir, hl7v2
from infusion_coder.models import Encounter

SHARED = Path(__file__).resolve().parents[2] / "shared"
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((SHARED / "data" / "fhir-r4-examples").glob("*.json"))
SAMPLES = sorted((SHARED / "data" / "hl7v2-samples").glob("*.hl7"))
GOLD = (
    [json.loads(line)["encounter"] for line in (SHARED / "cases" / "dev.jsonl").read_text().splitlines()]
    if (SHARED / "cases" / "dev.jsonl").is_file()
    else []
)
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
ROUNDS = int(os.environ.get("FUZZ_ROUNDS", "3000" if LONG else "300"))
SEED = int(os.environ.get("FUZZ_SEED", "0"))  # another seed, another set of mutations
CPU_LIMIT = 10.0  # seconds a single file may take: a runaway guard, far above what any case needs
needs_shared = pytest.mark.skipif(not EXAMPLES or not GOLD, reason="no ../shared data beside the checkout")


def _checked(coder: Coder, records: list[dict[str, Any]]) -> str:
    """Every record an error object with a short message, or an encounter the coder takes; the output's text."""
    for record in records:
        if "error" in record:
            message = record["error"]["message"]
            assert isinstance(message, str) and 0 < len(message) <= 1_000, message[:200]
            assert "Traceback" not in message and "internal error" not in message
        else:
            Encounter.model_validate(record)
            for finding in record["source_findings"]:
                assert len(finding["message"]) <= 1_000
            result = coder.code_record(record)
            assert result is not None
    return json.dumps(records)


def _timed(read: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    began = time.process_time()
    records = read()
    assert time.process_time() - began < CPU_LIMIT
    return records


# ------------------------------------------------------------------------------------------------ FHIR

JUNK: list[Any] = [
    None, 0, -1, 1.5, 10**30, 9 * 10**300, "", "x" * 5_000, "2026-13-45T99:00", "\u2028", "\ud800", True, [],
    {}, [None], [1, "a"], {"reference": "#nowhere"}, {"resourceType": "Bundle"}, {"resourceType": "bundle"},
    {"resourceType": "Foo", "id": 3}, [{"resourceType": "Medication", "code": 5}], "MedicationAdministration",
]  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, inner in items:
        yield (*prefix, key)
        yield from _paths(inner, (*prefix, key))


def _deep(depth: int) -> Any:
    value: Any = {"url": "x", "valueString": "deep"}
    for _ in range(depth):
        value = {"url": "x", "extension": [value]}
    return value


def _mutate_json(rng: random.Random, document: Any) -> Any:
    document = copy.deepcopy(document)
    deep = rng.random() < 0.1  # a deeply nested element goes in last, so nothing copies it again
    for _ in range(rng.randint(1, 4)):
        paths = list(_paths(document))
        if not paths:
            return rng.choice(JUNK)
        *parents, last = rng.choice(paths)
        target = document
        for step in parents:
            target = target[step]
        roll = rng.random()
        if roll < 0.55:
            target[last] = copy.deepcopy(rng.choice(JUNK))
        elif roll < 0.7 and isinstance(target, dict):
            del target[last]
        elif roll < 0.85 and isinstance(target, list):
            target.append(copy.deepcopy(target[last]))  # a duplicate entry, resource or element
        else:
            target[last] = copy.deepcopy(
                target[rng.choice(list(target) if isinstance(target, dict) else range(len(target)))]
            )
    if deep:
        paths = list(_paths(document))
        if paths:
            *parents, last = rng.choice(paths)
            target = document
            for step in parents:
                target = target[step]
            target[last] = _deep(rng.choice([70, 300]))
    return document


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    roll = rng.random()
    if roll < 0.3:
        return data[: rng.randint(0, len(data))]
    if roll < 0.6:
        spot = rng.randint(0, len(data))
        insert = rng.choice(
            [b"\x00", "\u2028".encode(), b"\r", b"\n", b"\n\n\n", b"\xff\xfe", b"{", b"]", b'"']
        )
        return data[:spot] + insert + data[spot:]
    if roll < 0.8:
        packed = gzip.compress(data)
        cut = rng.randint(10, max(11, len(packed) - 1))
        return packed[:cut] + bytes(b ^ 0xA5 for b in packed[cut : cut + 8]) + packed[cut + 8 :]
    return gzip.compress(data)


def _fhir_seeds(coder: Coder) -> list[tuple[str, Any]]:
    pack = coder.reference.latest
    seeds: list[tuple[str, Any]] = [(p.name, json.loads(p.read_text())) for p in EXAMPLES]
    for version in ("R4", "R5"):
        for case in GOLD[:: 3 if not LONG else 1]:
            bundle = fhir.write_bundle(Encounter.model_validate(case), version, pack=pack)  # type: ignore[arg-type]
            seeds.append((f"{case['encounter_id']}-{version}.json", bundle))
    return seeds


def _ma_accounted(document: Any, text: str, name: str) -> list[str]:
    """MedicationAdministrations of a (mutated) document the output says nothing about."""
    missing = []
    entries = document.get("entry") if isinstance(document, dict) else None
    resources: list[tuple[Any, str]] = []
    if isinstance(document, dict) and document.get("resourceType") == "MedicationAdministration":
        resources.append((document, name))
    for index, entry in enumerate(entries if isinstance(entries, list) else [], 1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "MedicationAdministration":
            resources.append((resource, f"entry {index}"))
    whole_file = f'"{name}: ' in text or f'"{name} line 1' in text  # the file itself refused
    for resource, where in resources:
        names = [resource.get("id")]
        identifiers = resource.get("identifier")
        names += (
            [i.get("value") for i in identifiers if isinstance(i, dict)]
            if isinstance(identifiers, list)
            else []
        )
        texts = [n[:50] for n in names if isinstance(n, str)]
        if whole_file or where in text or any(t in text for t in texts):
            continue
        missing.append(where)
    return missing


@needs_shared
def test_mutated_fhir_files_never_raise_and_every_administration_is_answered(coder: Coder) -> None:
    rng = random.Random(16 + SEED)
    seeds = _fhir_seeds(coder)
    pack = coder.reference.latest
    for round_ in range(ROUNDS):
        name, seed = rng.choice(seeds)
        document = _mutate_json(rng, seed)
        try:
            data = json.dumps(document, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        except RecursionError:
            continue
        if rng.random() < 0.25:
            data = _mutate_bytes(rng, data)
            document = None
        options = ImportOptions(include_inpatient=rng.random() < 0.2)
        source = Source(name, data=data)
        records = _timed(lambda: list(fhir.read([source], options, pack)))  # noqa: B023 (called at once)
        text = _checked(coder, records)
        if document is not None:
            assert not _ma_accounted(document, text, name), (round_, name)


@needs_shared
def test_one_bad_ndjson_line_never_takes_another_with_it(coder: Coder, tmp_path: Path) -> None:
    rng = random.Random(15 + SEED)
    pack = coder.reference.latest
    encounters = [Encounter.model_validate(case) for case in GOLD[:12]]
    folder = tmp_path / "bulk"
    fhir.write_ndjson(encounters, folder, "R4", pack=pack)
    lines = (folder / "MedicationAdministration.ndjson").read_text().splitlines()
    for _ in range(max(20, ROUNDS // 5)):
        spot = rng.randrange(len(lines))
        broken = lines.copy()
        broken[spot] = rng.choice(
            [
                _mutate_bytes(rng, lines[spot].encode()).decode("latin-1"),
                json.dumps(_mutate_json(rng, json.loads(lines[spot]))),
                "[" * 3_000,
                '{"resourceType": "MedicationAdministration", "dose": ' + "9" * 5_000 + "}",
            ]
        )
        (folder / "MedicationAdministration.ndjson").write_text("\n".join(broken) + "\n")
        records = _timed(lambda: list(fhir.read([Source("bulk", path=folder)], ImportOptions(), pack)))
        text = _checked(coder, records)
        for index, line in enumerate(lines):
            if index != spot:
                resource = json.loads(line)
                identifier = (
                    resource["identifier"][0]["value"] if "identifier" in resource else resource["id"]
                )
                assert json.dumps(identifier) in text, (index, spot)


@settings(max_examples=400 if LONG else 60, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r", b" ", b"\t", b"{}", b"ab", "\u2028".encode(), b"\x0c"]),
                max_size=60), st.sampled_from([1, 2, 5, 64]))  # fmt: skip
def test_ndjson_lines_are_split_on_line_feeds_only(pieces: list[bytes], chunk: int) -> None:
    data = b"".join(pieces)
    expected = []
    for number, line in enumerate(data.split(b"\n"), 1):
        line = line[:-1] if line.endswith(b"\r") else line
        if not line.isspace() and line:
            expected.append((number, line))
    saved = fhir._READ
    fhir._READ = chunk  # small reads put every boundary at a chunk's edge
    try:
        assert list(fhir._lines(io.BytesIO(data))) == expected
    finally:
        fhir._READ = saved


# ------------------------------------------------------------------------------------------------ HL7


def _hl7_seeds(coder: Coder) -> list[tuple[str, str]]:
    pack = coder.reference.latest
    seeds = [
        (p.name, p.read_bytes().decode("latin-1")) for p in [*SAMPLES, ROOT / "examples" / "ed-visit.hl7"]
    ]
    for version in ("2.5.1", "2.3"):
        for case in GOLD[:: 3 if not LONG else 1]:
            seeds.append(
                (
                    f"{case['encounter_id']}.hl7",
                    hl7v2.write_ras(Encounter.model_validate(case), version, pack),
                )
            )
    return seeds


FIELD_JUNK = ["", '""', "x" * 5_000, "^^^^", "~~~", "\\F\\\\S\\\\E\\", "\\X0D\\", "2026", "99999999999999", "\xe9",
              "|||||", "I", "E", "D", "NA", "-1", "1e400", "H0", "M0", "\u2028"]  # fmt: skip
SEGMENT_JUNK = ["NTE|||" + "n" * 100, "ZZZ|1", "RXA|0|1", "RXR|", "ORC|RE|", "MSH|^~\\&", "PV1||I", "OBX|1|ST|x^y^99IC||Y",
                "@@@", "FHS|^~\\&", "BTS|1", "\x0b", "\x1c", "RXA|" + "|" * 30, "TQ1|||||||x|y"]  # fmt: skip


def _mutate_message(rng: random.Random, er7: str) -> str:
    segments = [s for s in er7.replace("\n", "\r").split("\r") if s]
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        spot = rng.randrange(len(segments)) if segments else 0
        if not segments or roll < 0.15:
            segments.insert(spot, rng.choice(SEGMENT_JUNK))
        elif roll < 0.3:
            del segments[spot]
        elif roll < 0.4:
            segments.insert(spot, segments[spot])
        elif roll < 0.5:
            other = rng.randrange(len(segments))
            segments[spot], segments[other] = segments[other], segments[spot]
        elif roll < 0.55:
            segments[spot:spot] = ["NTE|||x"] * rng.choice([100, 3_000])
        else:
            fields = segments[spot].split("|")
            fields[rng.randrange(len(fields))] = rng.choice(FIELD_JUNK)
            segments[spot] = "|".join(fields)
    return rng.choice(["\r", "\n", "\r\n"]).join(segments)


def _administration_count(record: dict[str, Any]) -> int:
    return len(record.get("administrations", []))


@needs_shared
def test_mutated_hl7_feeds_never_raise_and_a_bad_message_takes_no_other_with_it(coder: Coder) -> None:
    rng = random.Random(17 + SEED)
    pack = coder.reference.latest
    seeds = _hl7_seeds(coder)
    for round_ in range(ROUNDS):
        picked = [rng.choice(seeds) for _ in range(3)]
        # three messages of three visits: the middle one is mutated
        texts = [text for _, text in picked]
        visits = [f"VISIT{round_}-{n}" for n in range(3)]
        texts = [_with_visit(text, visit) for text, visit in zip(texts, visits, strict=True)]
        texts[1] = _mutate_message(rng, texts[1])
        framing = rng.choice(["plain", "mllp", "latin"])
        if framing == "mllp":
            data = b"".join(b"\x0b" + t.encode("utf-8", "surrogatepass") + b"\x1c\r" for t in texts)
        else:
            data = "\r".join(texts).encode("latin-1" if framing == "latin" else "utf-8", "replace")
        mangled = rng.random() < 0.1
        if mangled:
            data = _mutate_bytes(rng, data)
        options = ImportOptions(include_inpatient=rng.random() < 0.2)
        source = Source("feed.hl7", data=data)
        records = _timed(lambda: list(hl7v2.read([source], options, pack)))  # noqa: B023 (called at once)
        _checked(coder, records)
        if mangled:
            continue  # bytes cut or damaged across messages: the neighbours' check does not apply
        alone = [list(hl7v2.read([Source("one.hl7", data=t.encode("utf-8", "replace"))], options, pack))
                 for t in (texts[0], texts[2])]  # fmt: skip
        for visit, own in zip((visits[0], visits[2]), alone, strict=True):
            wanted = sum(_administration_count(r) for r in own if r.get("encounter_id") == visit)
            got = sum(_administration_count(r) for r in records if r.get("encounter_id") == visit)
            assert got >= wanted, (round_, visit)


def _with_visit(er7: str, visit: str) -> str:
    """The message with PV1-19 set to `visit` (and PID-3 kept), so three seeds are three encounters."""
    out = []
    for segment in er7.replace("\n", "\r").split("\r"):
        if segment.startswith("PV1|"):
            fields = segment.split("|") + [""] * 20
            fields[19] = visit
            segment = "|".join(fields[: max(20, len(segment.split("|")))])
        out.append(segment)
    return "\r".join(out)


# ------------------------------------------------------------------------------------------------ bombs

BOMBS = """
import json, resource, sys, time, zlib
resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
from infusion_coder import Coder
from infusion_coder.formats import ImportOptions, Source, reader
pack = Coder.default().reference.latest
for case in json.loads(sys.argv[1]):
    head, body, tail = (bytes.fromhex(part) for part in case["shape"])
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = body * (2**20 // len(body))
    data = b"".join([packer.compress(head), *(packer.compress(block) for _ in range(case["mib"])),
                     packer.compress(tail), packer.flush()])
    good = Source("good" + case["suffix"], data=case["good"].encode())
    began = time.process_time()
    out = list(reader(case["format"])([Source("bomb" + case["suffix"] + ".gz", data=data), good],
                                      ImportOptions(), pack))
    print(json.dumps({"name": case["name"], "gz": len(data), "cpu": time.process_time() - began,
                      "records": out, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}),
          flush=True)
"""

GOOD_FHIR = json.dumps(
    {
        "resourceType": "MedicationAdministration",
        "id": "good",
        "status": "completed",
        "subject": {"reference": "Patient/p"},
        "context": {"reference": "Encounter/e"},
        "medicationCodeableConcept": {"text": "ondansetron"},
        "effectiveDateTime": "2026-01-15T09:00:00Z",
        "dosage": {"route": {"text": "oral"}},
    }
)
GOOD_HL7 = (
    "MSH|^~\\&|EHR|HOSP|||20260115120000||RAS^O17^RAS_O17|G1|P|2.5.1\rPID|||MRN1\rPV1||E"
    + "|" * 17
    + "GOOD\r"
    "ORC|RE|O1\rRXA|0|1|202601151000|202601151000|^ondansetron|4|mg\rRXR|IV"
)
HL7_MESSAGE = GOOD_HL7.replace("GOOD", "V1").encode() + b"\r"


def _case(name: str, format: str, shape: tuple[bytes, bytes, bytes], mib: int) -> dict[str, Any]:
    suffix = ".ndjson" if format == "fhir" else ".hl7"
    good = GOOD_FHIR if format == "fhir" else GOOD_HL7
    return {"name": name, "format": format, "shape": [p.hex() for p in shape], "mib": mib, "suffix": suffix,
            "good": good}  # fmt: skip


BOMB_CASES = [
    _case("fhir zeros past the ceiling", "fhir", (b"", b"\0", b""), 300),
    _case("fhir line feeds", "fhir", (b"", b"\n", b""), 100),
    _case("fhir one array of objects", "fhir", (b"[", b"{},", b"{}]"), 100),
    _case(
        "fhir one Bundle line",
        "fhir",
        (b'{"resourceType":"Bundle","entry":[', b'{"resource":{}},', b"{}]}"),
        100,
    ),
    _case("fhir deep brackets", "fhir", (b"", b"[", b""), 100),
    _case("fhir small resources", "fhir", (b"", b'{"resourceType":"Patient"}\n', b""), 100),
    _case(
        "fhir empty administrations",
        "fhir",
        (b"", b'{"resourceType":"MedicationAdministration"}\n', b""),
        100,
    ),
    _case("hl7 line ends", "hl7", (b"", b"\r\n", b""), 100),
    _case("hl7 frame marks", "hl7", (b"", b"\x0b\x1c\r", b""), 100),
    _case("hl7 endless notes", "hl7", (HL7_MESSAGE, b"NTE|||x\r", b""), 100),
    _case("hl7 one endless segment", "hl7", (HL7_MESSAGE, b"x", b""), 100),
    _case("hl7 headers only", "hl7", (b"", b"MSH|^~\\&|||||||RAS^O17|1|P|2.5.1\r", b""), 100),
    _case("hl7 one message again and again", "hl7", (b"", HL7_MESSAGE, b""), 100),
]


def test_gzip_bombs_are_answered_within_a_gigabyte_and_the_next_file_is_read() -> None:
    """Before: a 1 MB .json.gz took the reader to 2.2 GB; endless segments took minutes (quadratic)."""
    done = subprocess.run(
        [sys.executable, "-c", BOMBS, json.dumps(BOMB_CASES)],
        capture_output=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["name"] for r in results] == [c["name"] for c in BOMB_CASES]
    for result in results:
        assert result["gz"] < 1_100_000, result["name"]  # a small file: the bomb is in what it expands to
        assert result["cpu"] < CPU_LIMIT, result["name"]
        records = result["records"]
        errors = [r["error"]["message"] for r in records if "error" in r]
        assert errors and all(e.startswith("bomb") and len(e) < 600 for e in errors), (
            result["name"],
            errors[:3],
        )
        assert len(errors) <= 1_002, result["name"]  # bounded: never one error a line for millions of lines
        good = [r for r in records if r.get("encounter_id") in ("e", "GOOD")]
        if result["name"].startswith("hl7"):
            assert [len(r["administrations"]) for r in good] == [1], result["name"]  # the next file is read
        else:
            assert [a["id"] for r in good for a in r["administrations"]] == ["good"], result["name"]
