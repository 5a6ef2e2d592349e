"""`infusion-coder batch`: inputs in three layouts, outputs in three formats, --jobs identical to one
process, resume that codes nothing twice, bad records as error rows, and `report`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from batch_data import encounters
from infusion_coder import Coder
from infusion_coder.batch.run import BatchError, Settings, run_batch, write_encounters
from infusion_coder.cli import app
from infusion_coder.formats.tables import TABLES

runner = CliRunner()
RECORDS = encounters(120)


def batch(*args: str) -> Any:
    return runner.invoke(app, ["batch", *args])


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "summary.json"}


def results(folder: Path) -> list[dict[str, Any]]:
    return pq.read_table(folder / "results.parquet").to_pylist()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    paths = {}
    for format in ("jsonl", "parquet", "csv"):
        paths[format] = folder / f"encounters.{format}"
        write_encounters(RECORDS, paths[format], format)
    return paths


@pytest.fixture(scope="module")
def reference(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "out"
    run = batch(str(inputs["jsonl"]), "--out", str(out), "--chunk-size", "25")
    assert run.exit_code == 0, run.output
    return out


def test_every_record_gives_one_result_in_order(reference: Path, coder: Coder) -> None:
    rows = results(reference)
    assert [r["seq"] for r in rows] == list(range(len(RECORDS)))
    assert [r["encounter_id"] for r in rows] == [r["encounter_id"] for r in RECORDS]
    for row, record in zip(rows, RECORDS, strict=True):
        assert json.loads(row["result"]) == coder.code_record(record).model_dump(mode="json")
    lines = pq.read_table(reference / "lines.parquet").to_pylist()
    ids = {r["seq"]: r["encounter_id"] for r in rows}
    assert lines and all(line["encounter_id"] == ids[line["seq"]] for line in lines)
    assert [line["seq"] for line in lines] == sorted(line["seq"] for line in lines)
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["encounters"] == len(RECORDS) and summary["errors"] == 0
    assert sum(summary["readiness"].values()) == len(RECORDS)
    assert not (reference / "_parts").exists()


@pytest.mark.parametrize("layout", ["parquet", "csv"])
def test_parquet_and_csv_inputs_give_the_same_output_as_json_lines(
    layout: str, inputs: dict[str, Path], reference: Path, tmp_path: Path
) -> None:
    run = batch(str(inputs[layout]), "--out", str(tmp_path / "o"), "--chunk-size", "25")
    assert run.exit_code == 0, run.output
    assert outputs(tmp_path / "o") == outputs(reference)


def test_jobs_two_writes_the_same_bytes_as_one(
    inputs: dict[str, Path], reference: Path, tmp_path: Path
) -> None:
    run = batch(str(inputs["jsonl"]), "--out", str(tmp_path / "o"), "--chunk-size", "25", "--jobs", "2")
    assert run.exit_code == 0, run.output
    assert outputs(tmp_path / "o") == outputs(reference)


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_csv_and_jsonl_outputs_hold_the_same_rows(
    format: str, inputs: dict[str, Path], reference: Path, tmp_path: Path
) -> None:
    import duckdb

    run = batch(str(inputs["jsonl"]), "--out", str(tmp_path / "o"), "--format", format)
    assert run.exit_code == 0, run.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(
        [f"{name}.{format}" for name in TABLES] + ["summary.json"]
    )
    reader = "read_csv" if format == "csv" else "read_json"
    for name, columns in [
        ("lines", "seq, encounter_id, ordinal, code, units, date"),
        ("findings", "seq, id"),
    ]:
        got = duckdb.sql(
            f"SELECT {columns} FROM {reader}('{tmp_path / 'o' / name}.{format}') ORDER BY ALL"
        ).fetchall()
        want = duckdb.sql(f"SELECT {columns} FROM '{reference / name}.parquet' ORDER BY ALL").fetchall()
        assert [tuple(str(v) for v in r) for r in got] == [tuple(str(v) for v in r) for r in want]
    if format == "jsonl":
        first = json.loads((tmp_path / "o" / "results.jsonl").read_text().splitlines()[0])
        assert first["result"] == json.loads(results(reference)[0]["result"])


class Counting(Coder):
    def __init__(self) -> None:
        super().__init__(Coder.default().reference)
        self.seen: list[str] = []

    def code_record(self, record: Any, **kwargs: Any) -> Any:
        self.seen.append(record["encounter_id"])
        return super().code_record(record, **kwargs)


def test_resume_after_an_interruption_codes_nothing_twice(
    inputs: dict[str, Path], reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    settings = Settings(chunk_size=25)
    first = Counting()
    calls = 0

    def interrupt(count: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch([inputs["jsonl"]], out, settings, coder=first, progress=interrupt)
    assert len(first.seen) == 75  # three chunks coded, then the interruption
    run = batch(str(inputs["jsonl"]), "--out", str(out), "--chunk-size", "25")
    assert run.exit_code == 2 and "--resume" in run.output
    second = Counting()
    summary = run_batch([inputs["jsonl"]], out, settings, coder=second, resume=True)
    assert sorted(first.seen + second.seen) == sorted(r["encounter_id"] for r in RECORDS)
    assert summary.resumed_chunks == 3 and summary.encounters == len(RECORDS)
    assert outputs(out) == outputs(reference)


def test_resume_after_a_killed_process(inputs: dict[str, Path], reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    command = [sys.executable, "-m", "infusion_coder", "batch", str(inputs["jsonl"]), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--chunk-size", "5"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if len([p for p in (out / "_parts").glob("c*")]) >= 2:
            break
        time.sleep(0.02)
    if process.poll() is not None:
        pytest.skip("the run finished before it could be killed")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    kept = len(list((out / "_parts").glob("c*")))
    assert 2 <= kept < len(RECORDS) // 5
    run = subprocess.run(
        [*command, "--chunk-size", "5", "--resume"], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert f"{kept} of 24 chunks from the interrupted run" in run.stdout
    assert outputs(out) == outputs(reference)  # chunking changed neither rows nor their order


def test_resume_refuses_a_changed_input_or_options(inputs: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(inputs["jsonl"].read_bytes())
    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        run_batch(
            [source],
            out,
            Settings(chunk_size=25),
            progress=lambda n: (_ for _ in ()).throw(KeyboardInterrupt),
        )
    with pytest.raises(BatchError, match="options differ"):
        run_batch([source], out, Settings(chunk_size=10), resume=True)
    source.write_text(source.read_text().replace("E0000100", "E9999999"))
    run = batch(str(source), "--out", str(out), "--chunk-size", "25", "--resume")
    assert run.exit_code == 2 and "changed since the interrupted run" in run.output


def test_malformed_records_become_error_rows_in_place(tmp_path: Path) -> None:
    good = [json.dumps(r) for r in RECORDS[:3]]
    (tmp_path / "in.jsonl").write_text("\n".join([good[0], "{not json", good[1], "[1]", good[2]]) + "\n")
    header = "encounter_id,claim_type,administrations\n"
    admins = json.dumps(RECORDS[0]["administrations"]).replace('"', '""')
    (tmp_path / "in.csv").write_text(
        header
        + f'c1,institutional,"{admins}"\n'
        + "c2,institutional,[{oops\n"
        + f'c3,,"{admins}"\n'
        + f'c4,institutional,"{admins}",extra\n'
        + f'c5,institutional,"{admins}"\n'
    )
    run = batch(str(tmp_path / "in.jsonl"), str(tmp_path / "in.csv"), "--out", str(tmp_path / "o"))
    assert run.exit_code == 1, run.output
    rows = results(tmp_path / "o")
    first, second, third = (r["encounter_id"] for r in RECORDS[:3])
    assert [r["encounter_id"] for r in rows] == [
        first,
        None,
        second,
        None,
        third,
        "c1",
        "c2",
        "c3",
        "c4",
        "c5",
    ]
    assert [r["status"] for r in rows] == [
        "coded",
        "error",
        "coded",
        "error",
        "coded",
        "coded",
        "error",
        "error",
        "error",
        "coded",
    ]
    errors = pq.read_table(tmp_path / "o" / "errors.parquet").to_pylist()
    assert [e["seq"] for e in errors] == [1, 3, 6, 7, 8]
    messages = [e["message"] for e in errors]
    assert "line 2 is not valid JSON" in messages[0]
    assert "column administrations is not valid JSON" in messages[2] and "row 3" in messages[2]
    assert errors[3]["field"] == "claim_type"
    assert "row 5 has more fields than the header" in messages[4]


def test_parquet_rows_with_missing_fields_are_error_rows(tmp_path: Path) -> None:
    broken = [RECORDS[0], {"encounter_id": "no-claim", "administrations": []}, RECORDS[1]]
    write_encounters(broken, tmp_path / "in.parquet", "parquet")
    run = batch(str(tmp_path / "in.parquet"), "--out", str(tmp_path / "o"))
    assert run.exit_code == 1
    assert [r["status"] for r in results(tmp_path / "o")] == ["coded", "error", "coded"]


@pytest.mark.parametrize(
    ("content", "message"),
    # a cut-off array is read element by element (docs/robustness.md); a CSV is not JSON Lines at all
    [(None, "no such file"), (b"PAR1 not really parquet", "cannot read"), (b"a,b\n1,2\n", "looks like CSV")],
)
def test_an_unreadable_input_file_exits_2(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / ("in.parquet" if content and content.startswith(b"PAR1") else "in.jsonl")
    if content is not None:
        path.write_bytes(content)
    run = batch(str(path), "--out", str(tmp_path / "o"))
    assert run.exit_code == 2
    assert message in run.output


def test_report_counts_from_the_tables(reference: Path) -> None:
    run = runner.invoke(app, ["report", str(reference)])
    assert run.exit_code == 0, run.output
    lines = pq.read_table(reference / "lines.parquet").column("code").to_pylist()
    top = max(set(lines), key=lambda c: (lines.count(c), -int(c)))
    section = run.output.split("Lines by code")[1]
    first_row = section.strip().splitlines()[2].split()  # title, header, rule, then the rows
    assert first_row[:2] == [top, f"{lines.count(top):,}"]
    assert "Findings by id" in run.output and "Results by status and readiness" in run.output
    assert runner.invoke(app, ["report", str(reference / "nowhere")]).exit_code == 2


def test_an_importer_format_through_from(tmp_path: Path) -> None:
    from infusion_coder.formats import FORMATS, register

    register("fake-test", "fake_format", "two columns: encounter id, substance")
    try:
        (tmp_path / "a.txt").write_text("x1,vancomycin\nx2,\n")
        (tmp_path / "b.txt").write_text("x3,ceftriaxone\n")
        run = batch(
            str(tmp_path / "a.txt"),
            str(tmp_path / "b.txt"),
            "--from",
            "fake-test",
            "--timezone",
            "America/Chicago",
            "--out",
            str(tmp_path / "o"),
        )
    finally:
        del FORMATS["fake-test"]
    assert run.exit_code == 1, run.output
    rows = results(tmp_path / "o")
    assert [(r["encounter_id"], r["status"]) for r in rows] == [
        ("x1", "coded"),
        ("x2", "error"),
        ("x3", "coded"),
    ]
    assert json.loads(rows[0]["result"])["lines"][0]["code"] == "96365"
    unknown = batch(str(tmp_path / "a.txt"), "--from", "nope", "--out", str(tmp_path / "p"))
    assert unknown.exit_code == 2 and "unknown input format 'nope'" in unknown.output
    assert not (tmp_path / "p").exists()


def test_the_progress_total_is_known_for_parquet_only(inputs: dict[str, Path]) -> None:
    from infusion_coder.batch.run import known_total

    assert known_total([inputs["parquet"], inputs["parquet"]], None) == 2 * len(RECORDS)
    assert known_total([inputs["parquet"], inputs["jsonl"]], None) is None


# --- any contract-valid record, in any output format (issue 16) ------------------------------------------


@pytest.mark.parametrize("format", ["parquet", "csv", "jsonl"])
def test_an_integer_encounter_id_is_written_in_every_format(tmp_path: Path, format: str) -> None:
    records = [dict(RECORDS[0], encounter_id=123), dict(RECORDS[1], encounter_id=-(2**63) + 1), RECORDS[2]]
    source = tmp_path / "in.jsonl"
    write_encounters(records, source, "jsonl")
    run = batch(str(source), "--out", str(tmp_path / "o"), "--format", format)
    assert run.exit_code == 0, run.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["coded"] == 3
    if format == "parquet":
        rows = results(tmp_path / "o")
        assert [r["encounter_id"] for r in rows] == ["123", str(-(2**63) + 1), RECORDS[2]["encounter_id"]]
        assert json.loads(rows[0]["result"])["encounter_id"] == 123  # the result keeps the integer


def test_code_csv_out_takes_an_integer_encounter_id(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(dict(RECORDS[0], encounter_id=7)) + "\n")
    run = runner.invoke(app, ["code", str(source), "--format", "csv", "--out", str(tmp_path / "o")])
    assert run.exit_code == 0, run.output
    assert '"7"' in (tmp_path / "o" / "results.csv").read_text().splitlines()[1]


@pytest.mark.parametrize("layout", ["parquet", "csv"])
def test_integer_ids_go_through_write_encounters_in_every_layout(tmp_path: Path, layout: str) -> None:
    path = tmp_path / f"in.{layout}"
    write_encounters([dict(RECORDS[0], encounter_id=42)], path, layout)
    run = batch(str(path), "--out", str(tmp_path / "o"))
    assert run.exit_code == 0, run.output
    assert results(tmp_path / "o")[0]["encounter_id"] == "42"


def deep_record(depth: int = 600) -> dict[str, Any]:
    nested: list[Any] = []
    for _ in range(depth):
        nested = [nested]
    return dict(RECORDS[1], encounter_id="deep", note=nested)


def test_a_record_that_cannot_cross_to_a_worker_is_coded_in_the_parent(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in [RECORDS[0], deep_record(), RECORDS[2]]))
    one = batch(str(source), "--out", str(tmp_path / "one"), "--chunk-size", "1")
    assert one.exit_code == 0, one.output
    two = batch(str(source), "--out", str(tmp_path / "two"), "--chunk-size", "1", "--jobs", "2")
    assert two.exit_code == 0, two.output
    assert outputs(tmp_path / "two") == outputs(tmp_path / "one")
    assert [r["encounter_id"] for r in results(tmp_path / "two")] == [
        RECORDS[0]["encounter_id"],
        "deep",
        RECORDS[2]["encounter_id"],
    ]


def test_resume_with_workers_codes_a_deep_record(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    records = [*RECORDS[:4], deep_record(), *RECORDS[4:8]]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "o"
    settings = Settings(chunk_size=2)
    calls = 0

    def interrupt(count: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch([source], out, settings, progress=interrupt)
    summary = run_batch([source], out, settings, jobs=2, resume=True)
    assert summary.encounters == len(records) and summary.errors == 0
    assert [r["encounter_id"] for r in results(out)] == [r["encounter_id"] for r in records]


def big_encounter(count: int = 1200) -> dict[str, Any]:
    admins = [
        {
            "id": f"a{i}",
            "substance": "ondansetron",
            "route": "intravenous",
            "method": "push",
            "start": f"2026-01-{15 + i // 600:02d}T{(i % 600) // 60 + 8:02d}:{i % 60:02d}",
        }
        for i in range(count)
    ]
    return {"encounter_id": "big", "claim_type": "institutional", "administrations": admins}


def test_a_csv_cell_over_131072_characters_is_read(tmp_path: Path, coder: Coder) -> None:
    record = big_encounter()
    assert len(json.dumps(record["administrations"])) > 131_072
    path = tmp_path / "in.csv"
    write_encounters([RECORDS[0], record, RECORDS[2]], path, "csv")
    run = batch(str(path), "--out", str(tmp_path / "o"))
    assert run.exit_code == 0, run.output
    rows = results(tmp_path / "o")
    assert [r["status"] for r in rows] == ["coded"] * 3
    assert json.loads(rows[1]["result"]) == coder.code_record(record).model_dump(mode="json")


def test_a_csv_line_that_is_not_utf8_or_too_long_is_its_row_error(tmp_path: Path) -> None:
    from infusion_coder.formats.jsonio import MAX_RECORD_BYTES

    admins = json.dumps(RECORDS[0]["administrations"]).replace('"', '""')
    good = f'c1,institutional,"{admins}"\n'.encode()
    path = tmp_path / "in.csv"
    path.write_bytes(
        b"encounter_id,claim_type,administrations\n"
        + good
        + b"c2,institutional,caf\xe9\n"
        + b"c3,institutional,"
        + b"x" * (MAX_RECORD_BYTES + 10)
        + b"\n"
        + good.replace(b"c1", b"c4")
    )
    run = batch(str(path), "--out", str(tmp_path / "o"))
    assert run.exit_code == 1, run.output
    rows = results(tmp_path / "o")
    assert [r["status"] for r in rows] == ["coded", "error", "error", "coded"]
    errors = pq.read_table(tmp_path / "o" / "errors.parquet").to_pylist()
    assert "row 3 is not UTF-8 text" in errors[0]["message"]
    assert "row 4 is longer than" in errors[1]["message"]


def test_a_damaged_parquet_row_group_is_one_error_row_per_row(tmp_path: Path) -> None:
    import pyarrow as pa

    from infusion_coder.batch.run import ENCOUNTER_SCHEMA

    path = tmp_path / "in.parquet"
    with pq.ParquetWriter(path, ENCOUNTER_SCHEMA, compression="none") as writer:
        for group in (RECORDS[:3], RECORDS[3:5]):
            writer.write_table(pa.Table.from_pylist(group, schema=ENCOUNTER_SCHEMA))
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(0).column(0)
    data = bytearray(path.read_bytes())
    start = column.data_page_offset
    data[start : start + 8] = b"\xff" * 8  # the first row group's first page header
    path.write_bytes(bytes(data))
    run = batch(str(path), "--out", str(tmp_path / "o"))
    assert run.exit_code == 1, run.output
    rows = results(tmp_path / "o")
    assert [r["status"] for r in rows] == ["error"] * 3 + ["coded"] * 2
    errors = pq.read_table(tmp_path / "o" / "errors.parquet").to_pylist()
    assert all("row group 0 cannot be read" in e["message"] for e in errors)


def test_a_mar_file_without_the_columns_ends_the_batch_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("encounter,drug\nE1,x\n")
    run = batch(str(path), "--from", "mar", "--out", str(tmp_path / "o"))
    assert run.exit_code == 2 and "required column 'encounter_id'" in run.output
    assert not (tmp_path / "o").exists()  # refused before the folder is made: a rerun needs no --resume
