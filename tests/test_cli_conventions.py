"""The command line as a native tool (issue 18): -h/--version, lazy imports, exit statuses, no traceback
for a user's mistake, "did you mean" for values, options checked once, --out that never overwrites or is
ignored, the readable table view, and rules / policies / findings for a person and for a program."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import encounter
from infusion_coder.cli import app
from infusion_coder.cli import commands as cli_module

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared"
runner = CliRunner()
GOOD = encounter([{"substance": "ondansetron 4 mg", "start": "09:00", "end": "09:02", "method": "push"}])


def invoke(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------------------------------ conventions


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_short_and_long_help(flag: str) -> None:
    for args in ([flag], ["code", flag], ["edits", "import", flag]):
        run = invoke(*args)
        assert run.exit_code == 0, run.output
        assert "Usage:" in run.output


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flag(flag: str) -> None:
    run = invoke(flag)
    assert run.exit_code == 0
    assert run.output.startswith("infusion-coder ") and (
        "pure Python" in run.output or "compiled" in run.output
    )
    assert run.output == invoke("version").output


def test_the_version_fast_path_says_the_same_without_loading_typer() -> None:
    run = python(
        "import sys\nsys.argv = ['infusion-coder', '-V']\nfrom infusion_coder.cli import main\nmain()\n"
        "print('typer' in sys.modules, 'pydantic' in sys.modules)"
    )
    line, loaded = run.stdout.splitlines()
    assert line == invoke("version").output.strip() and loaded == "False False"


HEAVY = ["pydantic", "pyarrow", "numpy", "duckdb", "fastapi", "hl7apy", "fhir", "infusion_coder.engine"]


def _loaded(after: str) -> set[str]:
    run = python(
        "import sys\n"
        f"{after}\n"
        "print(' '.join(sorted({m.split('.')[0] if not m.startswith('infusion_coder') else m "
        "for m in sys.modules})))"
    )
    assert run.returncode == 0, run.stderr
    return set(run.stdout.split())


def test_help_and_version_import_nothing_heavy() -> None:
    # the package and the CLI module load typer only: help and --version stay fast
    loaded = _loaded("import infusion_coder, infusion_coder.cli")
    assert not {m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)}, loaded


def test_code_imports_no_table_web_or_format_library() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from infusion_coder.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(' '.join(sorted(m.split('.')[0] for m in sys.modules)))",
            "code",
            str(EXAMPLES / "ed-visit.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert '"encounter_id": "ED-1001"' in run.stdout
    loaded = set(run.stderr.split())
    assert not loaded & {"pyarrow", "numpy", "duckdb", "fastapi", "hl7apy", "fhir", "uvicorn", "openpyxl"}


def test_an_internal_failure_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(reference: Path | None) -> Any:
        raise RuntimeError("patient Jane Doe")  # the text must not be shown

    monkeypatch.setattr(cli_module, "_coder", broken)
    monkeypatch.setattr(sys, "argv", ["infusion-coder", "code", str(EXAMPLES / "ed-visit.json")])
    monkeypatch.delenv("INFUSION_CODER_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stop:
        cli_module.main()
    assert stop.value.code == 3
    err = capsys.readouterr().err
    assert "internal error (RuntimeError)" in err and "Jane" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("batch", "{file}", "--out", "{file}"), "is a file"),
        (("code", "{file}", "--format", "csv", "--out", "{file}"), "is a file"),
        (
            ("edits", "import", "ptp", "{file}", "--pack", "{ref}", "--setting", "outpatient-hospital"),
            "not a pack",
        ),
        (("edits", "import", "ptp", "{file}", "--pack", "{nowhere}", "--setting", "practitioner"), "no such"),
        (("serve", "--port", "80000"), "65535"),
        (("reference", "export", "{file}"), "is a file"),
        (("claim", "837i", "{file}", "--header", "{file}", "--out", "{ref}"), "is a folder"),
    ],
)
def test_a_users_mistake_is_exit_2_without_a_traceback(
    tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "manifest.json").write_text("{}")
    (tmp_path / "ref" / "2026-01-01").mkdir()
    (tmp_path / "ref" / "2026-01-01" / "codes.json").write_text("{}")
    file = tmp_path / "in.jsonl"
    file.write_text(json.dumps(GOOD) + "\n")
    values = {"file": str(file), "ref": str(tmp_path / "ref"), "nowhere": str(tmp_path / "nowhere")}
    run = subprocess.run(
        [sys.executable, "-m", "infusion_coder", *(a.format(**values) for a in args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and words in run.stderr


# ------------------------------------------------------------------------------------------ did you mean


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("code", "-", "--policy", "cms-xx"), "did you mean 'cms-x'"),
        (("code", "-", "--finding", "missing-stop-tme"), "did you mean 'missing-stop-time'"),
        (("code", "-", "--format", "xls", "--out", "q"), "did you mean 'xlsx'"),
        (("code", "-", "--only", "hld"), "did you mean 'hold'"),
        (("import", "mimc", "x"), "did you mean 'mimic'"),
        (("batch", "in.jsonl", "--out", "o", "--format", "parqet"), "did you mean 'parquet'"),
        (("batch", "in.jsonl", "--out", "o", "--from", "fihr"), "did you mean 'fhir'"),
        (("policies", "strict-hydraton"), "did you mean 'strict-hydration'"),
        (("rules", "hour-unit"), "did you mean 'hour-units'"),
        (("findings", "crosses-midnite"), "did you mean 'crosses-midnight'"),
    ],
)
def test_did_you_mean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], said: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text(json.dumps(GOOD) + "\n")
    run = invoke(*args, input=json.dumps(GOOD))
    assert run.exit_code == 2, run.output
    assert said in run.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "q").exists()


def test_a_misspelt_finding_no_longer_gives_an_empty_queue_but_a_known_one_filters() -> None:
    misspelt = invoke("code", "-", "--finding", "assumed-push-usualy-infused", input=json.dumps(GOOD))
    assert misspelt.exit_code == 2 and misspelt.stdout == ""
    held = encounter([{"substance": "vancomycin 1 g", "start": "09:00"}], encounter_id="held")
    lines = "\n".join(json.dumps(r) for r in (GOOD, held)) + "\n"
    kept = invoke("code", "-", "--finding", "assumed-push-usually-infused", input=lines)
    assert [json.loads(x)["encounter_id"] for x in kept.stdout.splitlines()] == ["held"]
    # an importer's id is accepted through its pattern (mar-*), and a pattern filters too
    assert invoke("code", "-", "--finding", "mar-stop-without-start", input=lines).exit_code == 0
    # an id close to none may be another tool's source finding: kept, and said so
    other = invoke("code", "-", "--finding", "site-42-custom", input=lines)
    assert other.exit_code == 0 and "no finding id this version writes" in other.stderr
    patterned = invoke("code", "-", "--finding", "assumed-*", input=lines).stdout.splitlines()
    assert [json.loads(x)["encounter_id"] for x in patterned] == ["held"]


# ------------------------------------------------------------------------------------------ options checked


MAR = [str(EXAMPLES / "mar-export.csv"), "--mapping", str(EXAMPLES / "mar-mapping.toml")]


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--claim-type", "profesional", "did you mean 'professional'"),
        ("--place-of-service", "1", "did you mean '01'"),
        ("--place-of-service", "office", "two digits"),
    ],
)
@pytest.mark.parametrize("command", ["import", "code", "batch"])
def test_import_options_are_checked_before_any_record(
    tmp_path: Path, command: str, option: str, value: str, said: str
) -> None:
    args = {
        "import": ["import", "mar", *MAR],
        "code": ["code", "--from", "mar", *MAR],
        "batch": ["batch", "--from", "mar", *MAR, "--out", str(tmp_path / "o")],
    }[command]
    run = invoke(*args, option, value)
    assert run.exit_code == 2 and said in run.output
    assert run.stdout == "" and not (tmp_path / "o").exists()  # written into no encounter


def test_the_claim_type_is_taken_in_any_case() -> None:
    run = invoke("import", "mar", *MAR, "--claim-type", "Professional")
    assert run.exit_code == 0, run.output
    assert {json.loads(x)["claim_type"] for x in run.stdout.splitlines()} == {"professional"}


# ------------------------------------------------------------------------------------------ --out


def test_out_refuses_a_non_empty_folder_unless_forced(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(GOOD) + "\n")
    out = tmp_path / "queue"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    refused = invoke("code", str(source), "--format", "csv", "--out", str(out))
    assert refused.exit_code == 2 and "not empty" in refused.output and "--force" in refused.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    forced = invoke("code", str(source), "--format", "csv", "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert (out / "results.csv").exists() and (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("format", [None, "json", "table"])
def test_out_is_never_ignored(tmp_path: Path, format: str | None) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(GOOD) + "\n")
    args = ["code", str(source), "--out", str(tmp_path / "o")] + (["--format", format] if format else [])
    run = invoke(*args)
    assert run.exit_code == 2 and "--format csv, parquet or xlsx" in run.output
    assert run.stdout == "" and not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------ table view


def test_table_view_shows_lines_drug_lines_grouped_findings_and_readiness() -> None:
    run = invoke("code", str(EXAMPLES / "observation-overnight.json"), "--format", "table")
    assert run.exit_code == 0, run.output
    out = run.stdout
    assert "OBS-4004" in out and "hold" in out
    assert "96361" in out and "2026-03-06" in out and "115" in out  # code, date, minutes of that date
    assert (
        out.index("assumed-push-usually-infused")
        < out.index("missing-stop-time")
        < out.index("crosses-midnight")
    )  # errors, then warnings, then info
    assert "{" not in out  # not JSON


def test_table_view_groups_repeated_findings_and_shows_modifiers() -> None:
    # two accesses: the second initial service carries the distinct modifier; ten repeated pushes of
    # one drug give one finding row with its count
    admins = [
        {"substance": "ceftriaxone 1 g", "start": "09:00", "end": "09:40", "access": "left arm"},
        {
            "substance": "vancomycin 1 g",
            "start": "09:00",
            "end": "10:30",
            "access": "right arm",
            "separate_access_required": True,
        },
    ]
    admins += [
        {"substance": "ondansetron 4 mg", "start": f"{h:02d}:50", "method": "push", "access": "left arm"}
        for h in range(11, 21)
    ]
    record = encounter(admins, encounter_id="long")
    run = invoke("code", "-", "--format", "table", input=json.dumps(record))
    assert run.exit_code == 0, run.output
    text = " ".join(run.stdout.split())
    result = json.loads(invoke("code", "-", input=json.dumps(record)).stdout)
    modified = [line for line in result["lines"] if line["modifiers"]]
    assert modified and f"{modified[0]['code']}-{modified[0]['modifiers'][0]}" in text
    counts: dict[str, int] = {}
    for finding in result["findings"]:
        counts[finding["id"]] = counts.get(finding["id"], 0) + 1
    repeated = [finding_id for finding_id, n in counts.items() if n > 1]
    assert repeated
    for finding_id in repeated:
        assert text.count(finding_id) == 1  # one row per id
        assert f"(+{counts[finding_id] - 1} more like this)" in text
    pushes = [line for line in result["lines"] if line["code"] == "96376"]
    rows = [row for row in run.stdout.splitlines() if row.startswith("96376 ")]
    assert len(pushes) > 1 and len(rows) == 1  # one row: the lines of one code and date
    assert rows[0].split()[:4] == ["96376", str(len(pushes)), "2026-01-15", str(len(pushes))]


def test_make_examples_shows_the_table_view() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nexamples:", 1)[1].split("\n\n", 1)[0]
    assert "--format table" in recipe


# ------------------------------------------------------------------------------------------ catalogs


def test_rules_one_rule_and_json() -> None:
    from infusion_coder import CATALOG

    one = invoke("rules", "ic202")
    assert one.exit_code == 0 and one.output.startswith("IC202  missing-stop-time")
    assert "Example:" in one.output and "assumed-push-usually-infused" in one.output
    data = json.loads(invoke("rules", "--json").output)
    assert [r["id"] for r in data] == [r.id for r in CATALOG]
    assert json.loads(invoke("rules", "hour-units", "--json").output)["id"] == "IC203"


def test_policies_show_what_differs_from_cms_by_default(coder: Any) -> None:
    pack = coder.reference.latest
    run = invoke("policies")
    assert run.exit_code == 0
    sections = {block.split(":", 1)[0]: block for block in run.output.split("\n\n")}
    base = pack.policies["cms"]
    for name, profile in pack.policies.items():
        if name == "cms":
            continue
        block = sections[name]
        for option, value in profile.values.items():
            listed = f"    {option} = " in block
            assert listed == (value.value != base.values[option].value), (name, option)
    one = json.loads(invoke("policies", "cms-x", "--json").output)
    assert one["options"]["distinct_modifier"] == {
        **one["options"]["distinct_modifier"],
        "value": "XS",
        "differs": True,
    }
    assert len(one["options"]) == len(pack.policies["cms-x"].values)
    assert len(json.loads(invoke("policies", "--json").output)) == len(pack.policies)


def test_findings_lists_ids_with_rule_and_meaning() -> None:
    run = invoke("findings")
    assert run.exit_code == 0
    assert "missing-stop-time" in run.output and "IC202" in run.output
    data = {k["id"]: k for k in json.loads(invoke("findings", "--json").output)}
    assert data["missing-stop-time"]["rule"] == "IC202"
    assert set(data["missing-stop-time"]["severities"]) == {"error", "warning"}
    assert "No stop time for" in data["missing-stop-time"]["meanings"][0]
    assert data["not-coded-kvo"]["meanings"] == [
        "fluid run only to keep the vein open is neither diagnostic nor therapeutic"
    ]
    one = invoke("findings", "ncci-ptp")
    assert one.exit_code == 0 and "CO-97" in one.output
