"""`batch` takes every option `code --from` takes and keeps them for --resume; an input that cannot be read
leaves nothing behind, a failed run says how to go on; `code` and `batch` agree on an empty file and on a
CSV given without --from; spreadsheet outputs (CSV, XLSX) hold text a spreadsheet can show."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from batch_data import encounters
from helpers import encounter
from infusion_coder.batch import run as batch_run
from infusion_coder.batch.run import BatchError, Settings, run_batch, write_encounters
from infusion_coder.cli import app
from infusion_coder.formats import tables

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MAR = [str(EXAMPLES / "mar-export.csv"), "--from", "mar", "--mapping", str(EXAMPLES / "mar-mapping.toml")]
runner = CliRunner()
RECORDS = encounters(30)


def invoke(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def results(folder: Path) -> list[dict[str, Any]]:
    return pq.read_table(folder / "results.parquet").to_pylist()


# ------------------------------------------------------------------------------------------ import options


def test_batch_codes_the_mar_example_with_its_mapping_as_code_does(tmp_path: Path) -> None:
    options = ["--claim-type", "professional", "--place-of-service", "11", "--timezone", "America/Chicago"]
    run = invoke("batch", *MAR, *options, "--out", str(tmp_path / "o"))
    assert run.exit_code == 0, run.output
    coded = invoke("code", *MAR, *options)
    want = [json.loads(line) for line in coded.stdout.splitlines()]
    got = [json.loads(r["result"]) for r in results(tmp_path / "o")]
    assert got == want and len(got) == 2
    assert all(r["lines"] for r in got)


def test_the_import_options_are_kept_for_resume(tmp_path: Path) -> None:
    out = tmp_path / "o"
    settings = Settings(
        input_format="mar",
        mapping=str(EXAMPLES / "mar-mapping.toml"),
        claim_type="professional",
        place_of_service="11",
        include_inpatient=True,
    )
    with pytest.raises(KeyboardInterrupt):
        run_batch(
            [EXAMPLES / "mar-export.csv"],
            out,
            Settings(**{**settings.__dict__, "chunk_size": 1}),
            progress=lambda n: (_ for _ in ()).throw(KeyboardInterrupt),
        )
    saved = json.loads((out / "_parts" / "manifest.json").read_text())["settings"]
    assert saved["mapping"] == str(EXAMPLES / "mar-mapping.toml") and saved["claim_type"] == "professional"
    assert saved["place_of_service"] == "11" and saved["include_inpatient"] is True
    other = invoke(
        *["batch", *MAR, "--chunk-size", "1", "--out", str(out), "--resume", "--include-inpatient"]
    )
    assert other.exit_code == 2 and "options differ" in other.output and "claim_type" in other.output
    same = invoke(
        "batch",
        *MAR,
        "--chunk-size",
        "1",
        "--out",
        str(out),
        "--resume",
        "--include-inpatient",
        "--claim-type",
        "professional",
        "--place-of-service",
        "11",
    )
    assert same.exit_code == 0, same.output
    assert [json.loads(r["result"])["encounter_id"] for r in results(out)] == ["880001", "880002"]


def test_mapping_without_from_mar_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_encounters(RECORDS, source, "jsonl")
    run = invoke(
        "batch", str(source), "--mapping", str(EXAMPLES / "mar-mapping.toml"), "--out", str(tmp_path / "o")
    )
    assert run.exit_code == 2 and "--from mar" in run.output and not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------ failed runs


def test_an_unreadable_second_input_leaves_nothing_and_the_rerun_works(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    write_encounters(RECORDS, good, "jsonl")
    bad.write_text("a,b\n1,2\n")
    out = tmp_path / "o"
    run = invoke("batch", str(good), str(bad), "--out", str(out), "--chunk-size", "10")
    assert run.exit_code == 2 and "looks like CSV" in run.output
    assert not out.exists()  # before: _parts/ with a manifest that neither a rerun nor --resume took
    write_encounters(RECORDS[:3], bad, "jsonl")
    again = invoke("batch", str(good), str(bad), "--out", str(out), "--chunk-size", "10")
    assert again.exit_code == 0, again.output
    assert len(results(out)) == len(RECORDS) + 3


def _failing_reader(after: int) -> Any:
    real = batch_run.read_records

    def read(*args: Any, **kwargs: Any) -> Any:
        for count, record in enumerate(real(*args, **kwargs)):
            if count == after:
                raise BatchError("cannot read in.jsonl: the disk went away")
            yield record

    return read


def test_a_run_failing_before_any_chunk_removes_what_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.jsonl"
    write_encounters(RECORDS, source, "jsonl")
    monkeypatch.setattr(batch_run, "read_records", _failing_reader(5))
    out = tmp_path / "o"
    with pytest.raises(BatchError, match="nothing was written"):
        run_batch([source], out, Settings(chunk_size=10))
    assert not out.exists()


def test_a_run_failing_after_some_chunks_says_how_to_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.jsonl"
    write_encounters(RECORDS, source, "jsonl")
    out = tmp_path / "o"
    with monkeypatch.context() as patch:
        patch.setattr(batch_run, "read_records", _failing_reader(25))
        with pytest.raises(BatchError, match=r"2 finished chunk.*--resume.*--force"):
            run_batch([source], out, Settings(chunk_size=10))
    rerun = invoke("batch", str(source), "--out", str(out), "--chunk-size", "10")
    assert rerun.exit_code == 2
    assert "interrupted run (2 chunk(s) finished)" in rerun.output and "--resume" in rerun.output
    assert "--force" in rerun.output
    resumed = invoke("batch", str(source), "--out", str(out), "--chunk-size", "10", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "2 of 3 chunks from the interrupted run" in resumed.output
    assert [r["encounter_id"] for r in results(out)] == [r["encounter_id"] for r in RECORDS]


def test_force_starts_again_over_an_interrupted_or_finished_run(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_encounters(RECORDS, source, "jsonl")
    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        run_batch(
            [source],
            out,
            Settings(chunk_size=10),
            progress=lambda n: (_ for _ in ()).throw(KeyboardInterrupt),
        )
    source.write_text(source.read_text().replace(RECORDS[0]["encounter_id"], "CHANGED"))
    resume = invoke("batch", str(source), "--out", str(out), "--chunk-size", "10", "--resume")
    assert resume.exit_code == 2 and "changed since" in resume.output and "--force" in resume.output
    forced = invoke("batch", str(source), "--out", str(out), "--chunk-size", "10", "--force")
    assert forced.exit_code == 0, forced.output
    assert results(out)[0]["encounter_id"] == "CHANGED" and not (out / "_parts").exists()
    finished = invoke("batch", str(source), "--out", str(out))
    assert finished.exit_code == 2 and "not empty" in finished.output
    assert invoke("batch", str(source), "--out", str(out), "--force").exit_code == 0


# ------------------------------------------------------------------------------------------ code = batch


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv", "empty.json"])
def test_code_and_batch_agree_on_an_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    coded = invoke("code", str(path))
    batched = invoke("batch", str(path), "--out", str(tmp_path / "o"))
    assert coded.exit_code == batched.exit_code == 2
    assert "the input is empty" in coded.output and "the input is empty" in batched.output
    assert not (tmp_path / "o").exists()


def test_code_and_batch_agree_on_a_csv_given_without_from(tmp_path: Path) -> None:
    mar = EXAMPLES / "mar-export.csv"
    coded = invoke("code", str(mar))
    batched = invoke("batch", str(mar), "--out", str(tmp_path / "o"))
    assert coded.exit_code == batched.exit_code == 2
    for run in (coded, batched):
        assert "looks like a MAR export; read it with --from mar" in run.output
    # a CSV in the encounter layout is coded by both, the same way
    layout = tmp_path / "encounters.csv"
    write_encounters(RECORDS, layout, "csv")
    coded = invoke("code", str(layout))
    assert coded.exit_code == 0, coded.output
    assert invoke("batch", str(layout), "--out", str(tmp_path / "p")).exit_code == 0
    assert [json.loads(x) for x in coded.stdout.splitlines()] == [
        json.loads(r["result"]) for r in results(tmp_path / "p")
    ]


def test_code_reads_parquet_in_the_batch_layout(tmp_path: Path) -> None:
    layout = tmp_path / "encounters.parquet"
    write_encounters(RECORDS[:5], layout, "parquet")
    coded = invoke("code", str(layout), "--format", "table")
    assert coded.exit_code == 0, coded.output
    assert all(str(r["encounter_id"]) in coded.stdout for r in RECORDS[:5])


# ------------------------------------------------------------------------------------------ spreadsheets


def _big() -> dict[str, Any]:
    """An encounter whose result JSON exceeds a spreadsheet cell (32,767 characters)."""
    admins = [
        {"substance": "ondansetron 4 mg", "start": f"+{day} {hour:02d}:00", "method": "push"}
        for day in range(3)
        for hour in range(6, 22)
    ]
    return encounter(admins, encounter_id="long-stay")


def test_csv_lists_are_text_and_no_cell_holds_a_whole_result(tmp_path: Path) -> None:
    two_access = encounter(
        [
            {"substance": "ceftriaxone 1 g", "start": "09:00", "end": "09:40", "access": "left arm"},
            {
                "substance": "vancomycin 1 g",
                "start": "09:00",
                "end": "10:30",
                "access": "right arm",
                "separate_access_required": True,
            },
        ],
        encounter_id="two",
    )
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(_big()) + "\n" + json.dumps(two_access) + "\n")
    assert len(invoke("code", str(source)).stdout.splitlines()[0]) > tables.EXCEL_CELL
    for command in (
        ["code", str(source), "--format", "csv", "--out"],
        ["batch", str(source), "--format", "csv", "--out"],
    ):
        out = tmp_path / command[0]
        run = invoke(*command, str(out))
        assert run.exit_code == 0, run.output
        for path in out.glob("*.csv"):
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    for value in row.values():
                        assert len(value) <= tables.EXCEL_CELL
                        assert not value.startswith(("[", "{")), (path.name, value[:40])
        with (out / "results.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert "result" not in rows[0]
        assert rows[1]["codes"].split(";")[0].endswith(" x1") and "-59 x1" in rows[1]["codes"]
        assert rows[0]["first_date"] == "2026-01-15" and rows[0]["last_date"] == "2026-01-17"
        with (out / "lines.csv").open(newline="") as handle:
            lines = [r for r in csv.DictReader(handle) if r["encounter_id"] == "two"]
        assert any(r["modifiers"] == "59" for r in lines)
        start, end = lines[0]["intervals"].split(";")[0].split("/")
        assert start.startswith("2026-01-15T09:00") and end.startswith("2026-01-15T")


def test_parquet_and_jsonl_keep_the_whole_result_and_gain_the_summary(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(_big()) + "\n")
    assert invoke("batch", str(source), "--out", str(tmp_path / "o")).exit_code == 0
    (row,) = results(tmp_path / "o")
    whole = json.loads(row["result"])
    assert len(row["result"]) > tables.EXCEL_CELL
    assert row["codes"] == [
        f"{x['code']}{''.join('-' + m for m in x['modifiers'])} x{x['units']}" for x in whole["lines"]
    ]
    assert row["finding_ids"] and row["error"] is None


def test_xlsx_from_code_and_batch(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    formula = encounter(
        [{"substance": '=HYPERLINK("x")', "start": "09:00", "method": "push"}], encounter_id="f"
    )
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in [_big(), formula, {"encounter_id": "bad"}]))
    for command in ("code", "batch"):
        out = tmp_path / command
        run = invoke(command, str(source), "--format", "xlsx", "--out", str(out))
        assert run.exit_code == 1, run.output  # one record is an error
        book = load_workbook(out / tables.WORKBOOK, read_only=True)
        assert book.sheetnames == list(tables.TABLES)
        rows = list(book["results"].iter_rows(values_only=True))
        assert rows[0] == tuple(tables.spreadsheet_columns("results"))
        assert [r[1] for r in rows[1:]] == ["long-stay", "f", "bad"]
        assert rows[3][rows[0].index("error")].startswith("claim_type")
        lines = list(book["lines"].iter_rows(values_only=True))
        assert len(lines) > 40
        cells = [c for r in book["findings"].iter_rows() for c in r]
        texts = [c for c in cells if isinstance(c.value, str) and c.value.startswith("=HYPERLINK")]
        assert all(c.data_type == "s" for c in texts)  # text, never a formula


def test_xlsx_without_openpyxl_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_openpyxl(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("openpyxl"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openpyxl)
    run = invoke("code", "-", "--format", "xlsx", "--out", str(tmp_path / "o"), input="{}")
    assert run.exit_code == 2 and "infusion-coder[xlsx]" in run.output and not (tmp_path / "o").exists()


def test_report_refuses_an_xlsx_folder_with_advice(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_encounters(RECORDS[:3], source, "jsonl")
    assert invoke("batch", str(source), "--format", "xlsx", "--out", str(tmp_path / "o")).exit_code == 0
    run = invoke("report", str(tmp_path / "o"))
    assert run.exit_code == 2 and "--format parquet" in run.output
