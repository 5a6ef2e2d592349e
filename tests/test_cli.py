"""The command line as the contract describes it: shapes in and out, error objects, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import encounter
from infusion_coder.cli import commands as cli_module

GOOD = encounter([{"substance": "ondansetron", "start": "09:00", "method": "push"}], encounter_id="good")
COMMAND = [sys.executable, "-m", "infusion_coder"]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], input=stdin, capture_output=True, text=True, timeout=120)


def results(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_one_object_in_gives_one_object_out() -> None:
    run = cli("code", "-", stdin=json.dumps(GOOD, indent=2))
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["encounter_id"] == "good"
    assert [line["code"] for line in result["lines"]] == ["96374"]


def test_array_in_gives_json_lines_in_order() -> None:
    batch = [dict(GOOD, encounter_id=f"e{i}") for i in range(5)]
    run = cli("code", "-", stdin=json.dumps(batch))
    assert run.returncode == 0
    assert [r["encounter_id"] for r in results(run.stdout)] == [f"e{i}" for i in range(5)]


def test_a_bad_record_in_json_lines_does_not_disturb_its_neighbours() -> None:
    lines = [
        json.dumps(dict(GOOD, encounter_id="first")),
        "{not json",
        json.dumps({"encounter_id": "no-claim", "administrations": []}),
        json.dumps(dict(GOOD, encounter_id="last")),
    ]
    run = cli("code", "-", stdin="\n".join(lines) + "\n")
    assert run.returncode == 1
    out = results(run.stdout)
    assert len(out) == 4
    assert out[0]["encounter_id"] == "first" and out[0]["lines"]
    assert "line 2 is not valid JSON" in out[1]["error"]["message"]
    assert out[2] == {
        "encounter_id": "no-claim",
        "error": {"message": "claim_type: required field is missing", "field": "claim_type"},
    }
    assert out[3]["encounter_id"] == "last" and out[3]["lines"]


def test_file_path_and_policy_override(tmp_path: Path) -> None:
    body = encounter(
        [
            {"substance": "ceftriaxone", "start": "12:00", "end": "12:40"},
            {"substance": "ceftriaxone", "start": "+1 12:00", "end": "+1 12:40"},
        ]
    )
    path = tmp_path / "enc.json"
    path.write_text(json.dumps(body))
    cms = json.loads(cli("code", str(path)).stdout)
    cpt = json.loads(cli("code", str(path), "--policy", "cpt").stdout)
    assert [line["code"] for line in cms["lines"]] == ["96365", "96366"]
    assert [line["code"] for line in cpt["lines"]] == ["96365", "96365"]
    assert cpt["policy"] == "cpt"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("code", "/no/such/file.json"), "", "cannot read"),
        (("code", str(EXAMPLES)), "", "a folder is read with --from fhir|hl7|mar|mimic"),
        (("code", "-"), "", "empty"),
        (("code", "-"), "substance,start\nondansetron,09:00\n", "looks like CSV"),
        (("code", "-", "--policy", "nope"), json.dumps(GOOD), "unknown policy"),
    ],
)
def test_unreadable_input_exits_2(args: tuple[str, ...], stdin: str, message: str) -> None:
    run = cli(*args, stdin=stdin)
    assert run.returncode == 2
    assert message in run.stderr
    assert run.stdout == ""


def test_rules_command_lists_the_catalog() -> None:
    run = cli("rules")
    assert run.returncode == 0
    assert "IC203  hour-units" in run.stdout and "96415 parenthetical" in run.stdout
    assert "rules.md" not in run.stdout


def test_policies_command_shows_sources() -> None:
    run = cli("policies", "cms")
    assert "initial_scope = encounter" in run.stdout and "Ch.4" in run.stdout


def test_a_misspelt_timezone_is_one_usage_error() -> None:
    run = CliRunner().invoke(cli_module.app, ["code", "-", "--timezone", "Europe/Amsterdm"], input="{}")
    assert run.exit_code == 2 and "not an IANA time zone" in run.output
