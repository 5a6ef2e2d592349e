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
