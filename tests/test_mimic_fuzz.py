"""A mutation loop over the real MIMIC-IV demo (issue 16): small copies of two patients' rows, derived in
tmp_path (no data is committed), each damaged one way (a renamed or missing column, a truncated or corrupt
gzip, a missing or empty file, a huge cell, short and long rows, ids that are not ids, bytes that are not
UTF-8, a quote that does not close, dates that are not dates, NUL bytes, a gzip bomb, ...), then several
ways at once. Each must import without an exception, every emar line must be an administration, a named
drop or a damaged row named in an error, every record must code, and no message may echo a value."""

from __future__ import annotations

import csv
import gzip
import io
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infusion_coder import formats
from infusion_coder.api import Coder
from infusion_coder.formats import ImportOptions
from infusion_coder.formats.mimic import MimicImport, accounting, load

DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "mimic-iv-demo" / "hosp"
SUBJECTS = ("10023239", "10002930")  # ED visits, observation stays, unnamed fluids, a pump bolus, ...
TABLES = ("emar", "emar_detail", "pharmacy", "prescriptions", "transfers", "admissions", "hcpcsevents")
HUGE = "Q" * 200_000

pytestmark = pytest.mark.skipif(not DEMO.is_dir(), reason="MIMIC-IV demo not in ../shared/data")


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The two patients' rows of every table, as CSV text."""
    texts = {}
    for name in TABLES:
        rows = list(csv.reader(io.StringIO(gzip.decompress((DEMO / f"{name}.csv.gz").read_bytes()).decode())))
        kept = [rows[0], *(row for row in rows[1:] if row and row[0] in SUBJECTS)]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(kept)
        texts[name] = out.getvalue()
    return texts


Mutation = Callable[
    [str, random.Random], "str | bytes | None"
]  # table text -> new text, raw bytes or deleted


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _edit_row(text: str, rng: random.Random, edit: Callable[[list[str]], list[str]]) -> str:
    lines = _lines(text)
    if len(lines) > 2:
        i = rng.randrange(1, len(lines) - 1)
        lines[i] = ",".join(edit(lines[i].split(",")))
    return "\n".join(lines)


def _set_cell(text: str, rng: random.Random, value: str, column: str | None = None) -> str:
    header = _lines(text)[0].split(",")
    index = header.index(column) if column in header else rng.randrange(len(header))
    return _edit_row(text, rng, lambda cells: [*cells[:index], value, *cells[index + 1 :]])


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode())


MUTATIONS: dict[str, Mutation] = {
    "rename-column": lambda t, r: t.replace(r.choice(_lines(t)[0].split(",")), "renamed", 1),
    "drop-column": lambda t, r: "\n".join(",".join(line.split(",")[1:]) for line in _lines(t)),
    "truncated-gzip": lambda t, r: _gz(t)[: max(12, len(_gz(t)) // 2)],
    "corrupt-gzip": lambda t, r: (lambda b: b[:20] + bytes(x ^ 0x5A for x in b[20:60]) + b[60:])(_gz(t)),
    "not-gzip": lambda t, r: b"\x1f\x8b" + bytes(r.randrange(256) for _ in range(200)),
    "deleted": lambda t, r: None,
    "empty": lambda t, r: "",
    "header-only": lambda t, r: _lines(t)[0] + "\n",
    "huge-cell": lambda t, r: _set_cell(t, r, HUGE),
    "huge-quoted-cell": lambda t, r: _set_cell(t, r, f'"{HUGE}"'),
    "short-row": lambda t, r: _edit_row(t, r, lambda c: c[: max(1, len(c) // 3)]),
    "long-row": lambda t, r: _edit_row(t, r, lambda c: [*c, "extra", "cells"]),
    "seq-not-integer": lambda t, r: _set_cell(t, r, "seven", "emar_seq"),
    "id-not-id": lambda t, r: _set_cell(
        t, r, "1 OR 1=1; DROP", r.choice(["subject_id", "hadm_id", "emar_id"])
    ),
    "not-utf8": lambda t, r: _gz(t)[:0] + t.encode().replace(b"0", b"\xe9\xff", 3),
    "unclosed-quote": lambda t, r: _set_cell(t, r, '"open'),
    "bad-datetime": lambda t, r: re.sub(r"\d\d:\d\d:\d\d", "25:61:99", t, count=5),
    "nul-and-controls": lambda t, r: _set_cell(t, r, "a\x00b\x1bc\u2028d"),
    "header-again": lambda t, r: (lambda ls: "\n".join([*ls[: len(ls) // 2], ls[0], *ls[len(ls) // 2 :]]))(
        _lines(t)
    ),
    "only-commas": lambda t, r: t + "," * (len(_lines(t)[0].split(",")) - 1) + "\n",
    "numbers": lambda t, r: re.sub(
        r"(?<=,)\d+(\.\d+)?(?=,)", lambda m: r.choice(["nan", "1e999", "-5", "0"]), t
    ),
    "shuffled": lambda t, r: (lambda ls: "\n".join([ls[0], *r.sample(ls[1:], len(ls) - 1)]))(_lines(t)),
    "crlf-and-bom": lambda t, r: "\ufeff" + t.replace("\n", "\r\n"),
}


def _write(root: Path, texts: dict[str, str], changed: dict[str, str | bytes | None]) -> Path:
    hosp = root / "hosp"
    if root.exists():
        shutil.rmtree(root)
    hosp.mkdir(parents=True)
    for name, text in texts.items():
        value = changed.get(name, text) if name in changed else text
        if value is None:
            continue
        data = value.encode() if isinstance(value, str) else value
        target = hosp / f"{name}.csv.gz"
        target.write_bytes(data if data[:2] == b"\x1f\x8b" else gzip.compress(data))
    return root


def _check(loaded: MimicImport, emar_bytes: bytes | None, coder: Coder) -> None:
    """Every emar line accounted for, every record codes, no message echoes a value."""
    records: list[dict[str, Any]] = [*loaded.errors, *(b.record for b in loaded.encounters)]
    for record in records:
        text = repr(record)
        assert (
            "Traceback" not in text
            and "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ" not in text
        )
        if "error" in record:
            assert 0 < len(record["error"]["message"]) < 600
            continue
        result = coder.code_record(record)
        assert getattr(result, "error", None) is None, (record["encounter_id"], result)  # a valid encounter
    if not loaded.encounters and loaded.rows == 0:
        assert len(loaded.errors) >= 1  # the emar table could not be read, or holds nothing: said once
        return
    counts = accounting(loaded)
    assert counts["unaccounted"] == 0
    assert sum(counts.values()) == loaded.rows
    if emar_bytes is not None:  # every physical line of emar: a row read, a damaged span, or blank
        text = gzip.decompress(emar_bytes).decode("utf-8", "replace") if emar_bytes[:2] == b"\x1f\x8b" else ""
        physical = text.replace("\r\n", "\n").split("\n")[1:]
        blank = sum(1 for line in physical if not line.strip(" ,"))
        read = sum(len(b.stay.rows) for b in loaded.encounters) + sum(
            1 for e in loaded.errors if e["error"].get("field") == "charttime"
        )
        damaged = sum(max(d.last, d.line) - d.line + 1 for d in loaded.damaged)
        assert read + damaged + blank == len(physical)


def test_every_damage_of_every_table_imports_without_an_exception(
    coder: Coder, subset: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "MAX_SOURCE_BYTES", 4 * 2**20)  # the same ceiling, reached sooner
    rng = random.Random(20261202)
    cases = [(table, name) for table in TABLES for name in MUTATIONS]
    for table, name in cases:
        changed = {table: MUTATIONS[name](subset[table], rng)}
        root = _write(tmp_path / "case", subset, changed)
        loaded = load(root, ImportOptions(), coder.reference.latest)
        emar = root / "hosp" / "emar.csv.gz"
        _check(loaded, emar.read_bytes() if emar.exists() and table == "emar" else None, coder)


def test_several_damages_at_once_and_a_gzip_bomb(
    coder: Coder, subset: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "MAX_SOURCE_BYTES", 4 * 2**20)
    rng = random.Random(7)
    for _ in range(40):
        changed: dict[str, str | bytes | None] = {}
        for table in rng.sample(TABLES, 3):
            name = rng.choice([m for m in MUTATIONS if m != "deleted"])
            text = subset[table]
            for _ in range(rng.randint(1, 3)):
                value = MUTATIONS[name](text, rng)
                if not isinstance(value, str):
                    break
                text = value
            changed[table] = value
        root = _write(tmp_path / "case", subset, changed)
        _check(load(root, ImportOptions(), coder.reference.latest), None, coder)
    bomb = gzip.compress(b"subject_id,emar_id\n" + b"0" * (8 * 2**20))
    root = _write(tmp_path / "bomb", subset, {"emar_detail": bomb})
    loaded = load(root, ImportOptions(), coder.reference.latest)
    notes = {f["message"] for b in loaded.encounters for f in b.record["source_findings"]}
    assert any("emar_detail.csv.gz: expands to more than the 4 MiB" in n for n in notes)
    root = _write(tmp_path / "bomb", subset, {"emar": bomb})
    (error,) = load(root, ImportOptions(), coder.reference.latest).errors
    assert "expands to more than the 4 MiB" in error["error"]["message"]
