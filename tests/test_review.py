"""Review queues from `code` and `audit`: --only, --finding, and flat tables with --format/--out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from helpers import encounter
from infusion_coder.cli import commands as cli

READY = encounter([{"substance": "ondansetron 4 mg", "start": "09:00", "end": "09:02", "method": "push"}])
HOLD = encounter([{"substance": "vancomycin 1 g", "start": "09:00"}])  # a push assumed for an infused drug
BROKEN = {"encounter_id": "broken", "administrations": []}


def _run(tmp_path: Path, *args: str) -> tuple[int, list[dict[str, object]], str]:
    source = tmp_path / "in.jsonl"
    records = [dict(READY, encounter_id="ready"), dict(HOLD, encounter_id="hold"), BROKEN]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    run = CliRunner().invoke(cli.app, [args[0], str(source), *args[1:]])
    out = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return run.exit_code, out, run.stderr


def test_only_hold_keeps_held_results_and_every_error(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "code", "--only", "hold")
    assert code == 1  # an error object was among the results
    assert [r["encounter_id"] for r in out] == ["hold", "broken"]
    assert "2 result(s) kept, 1 left out" in err


def test_finding_filter(tmp_path: Path) -> None:
    _, out, _ = _run(tmp_path, "code", "--finding", "assumed-push-usually-infused")
    assert [r["encounter_id"] for r in out] == ["hold", "broken"]


def test_flat_tables_in_a_folder(tmp_path: Path) -> None:
    exit_code, out, err = _run(tmp_path, "code", "--format", "parquet", "--out", str(tmp_path / "q"))
    assert exit_code == 1 and out == [] and "3 result(s) written as parquet tables" in err
    results = pq.read_table(tmp_path / "q" / "results.parquet").to_pylist()
    assert [(r["encounter_id"], r["status"]) for r in results] == [
        ("ready", "coded"),
        ("hold", "coded"),
        ("broken", "error"),
    ]
    lines = pq.read_table(tmp_path / "q" / "lines.parquet").to_pylist()
    assert {(r["encounter_id"], r["code"]) for r in lines} == {("ready", "96374"), ("hold", "96374")}


def test_audit_differences_as_csv(tmp_path: Path) -> None:
    billed = dict(READY, encounter_id="ready", billed_lines=[{"code": "96374", "units": 2}])
    source = tmp_path / "audit.jsonl"
    source.write_text(json.dumps(billed) + "\n")
    run = CliRunner().invoke(cli.app, ["audit", str(source), "--format", "csv", "--out", str(tmp_path / "a")])
    assert run.exit_code == 0, run.output
    with (tmp_path / "a" / "differences.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert any(r["code"] == "96374" and r["kind"] == "wrong-units" for r in rows)


def test_flat_format_needs_a_folder(tmp_path: Path) -> None:
    code, _, err = _run(tmp_path, "code", "--format", "csv")
    assert code == 2 and "--out DIR" in err
