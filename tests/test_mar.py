"""MAR event CSV import (formats/mar.py): pairing, mapping files, bad rows, round trips, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from infusion_coder.api import Coder
from infusion_coder.cli import app
from infusion_coder.formats import ImportOptions, Source, UnusableInput, guarded
from infusion_coder.formats.mar import read, write_csv
from infusion_coder.models import Encounter

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases" / "dev.jsonl"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

HEADER = "encounter_id,administration_id,medication,dose,dose_unit,route,site,action,time,rate_ml_per_hour,volume_ml,ndc\n"


def imported(text: str, coder: Coder, **options: Any) -> list[dict[str, Any]]:
    source = Source("mar.csv", data=text.encode())
    return list(read([source], ImportOptions(**options), coder.reference.latest))


def one(text: str, coder: Coder, **options: Any) -> dict[str, Any]:
    records = imported(text, coder, **options)
    assert len(records) == 1, records
    return records[0]


def finding_ids(record: dict[str, Any]) -> list[str]:
    return [f["id"] for f in record["source_findings"]]


def test_new_bag_and_stopped_pair_into_an_infusion(coder: Coder) -> None:
    record = one(
        HEADER
        + "E1,A1,Normal saline,1000,mL,IV,L forearm,New Bag,2026-01-15 10:00,250,1000,\n"
        + "E1,A1,,,,,,Stopped,2026-01-15 12:05,,,\n"
        + "E1,A2,Ondansetron,4,mg,IV Push,L forearm,Given,2026-01-15 10:02,,,\n",
        coder,
    )
    a1, a2 = record["administrations"]
    assert a1["start"] == "2026-01-15T10:00" and a1["end"] == "2026-01-15T12:05"
    assert (a1["route"], a1["rate_ml_per_hour"], a1["volume_ml"], a1["access"]) == (
        "intravenous",
        250.0,
        1000.0,
        "L forearm",
    )
    assert (a2["route"], a2["method"], a2["dose"], a2["dose_unit"]) == ("intravenous", "push", 4.0, "mg")
    assert "end" not in a2
    assert record["source_findings"] == []
    result = coder.code(Encounter.model_validate(record))
    assert {line.code for line in result.lines} == {"96374", "96361"}  # push initial, hydration add-on


def test_pause_and_restart_are_one_administration_with_segments(coder: Coder) -> None:
    record = one(
        HEADER
        + "E1,A1,Vancomycin,1,g,IV,,Started,2026-01-15 10:00,,,\n"
        + "E1,A1,,,,,,Paused,2026-01-15 10:30,,,\n"
        + "E1,A1,,,,,,Restarted,2026-01-15 11:00,,,\n"
        + "E1,A1,,,,,,Completed,2026-01-15 11:40,,,\n",
        coder,
    )
    (a1,) = record["administrations"]
    assert (a1["id"], a1["start"], a1["end"]) == ("A1", "2026-01-15T10:00", "2026-01-15T11:40")
    assert a1["segments"] == [
        {"start": "2026-01-15T10:00", "end": "2026-01-15T10:30"},
        {"start": "2026-01-15T11:00", "end": "2026-01-15T11:40"},
    ]
    result = coder.code(Encounter.model_validate(record))
    (line,) = result.lines  # 70 minutes infused, not the 100 from start to stop: no added hour
    assert (line.code, line.units, line.minutes, line.administrations) == ("96365", 1, 70, ["A1"])


def test_segments_go_out_as_paused_and_restarted_rows_and_back(coder: Coder) -> None:
    encounter = {
        "encounter_id": "E1",
        "claim_type": "institutional",
        "administrations": [
            {
                "id": "A1",
                "substance": "Vancomycin",
                "route": "intravenous",
                "segments": [
                    {"start": "2026-01-15T10:00", "end": "2026-01-15T10:30"},
                    {"start": "2026-01-15T10:50", "end": "2026-01-15T11:20"},
                    {"start": "2026-01-15T11:25", "end": "2026-01-15T11:40"},
                ],
            }
        ],
    }
    text = write_csv([encounter])
    assert [line.split(",")[7] for line in text.splitlines()[1:]] == [
        "New Bag",
        "Paused",
        "Restarted",
        "Paused",
        "Restarted",
        "Stopped",
    ]
    (back,) = imported(text, coder)
    assert back["administrations"][0]["segments"] == encounter["administrations"][0]["segments"]


def test_a_restart_never_stopped_is_its_own_administration(coder: Coder) -> None:
    record = one(
        HEADER
        + "E1,A1,Normal saline,,,IV,,New Bag,2026-01-15 10:00,,,\n"
        + "E1,A1,,,,,,Paused,2026-01-15 10:40,,,\n"
        + "E1,A1,,,,,,Restarted,2026-01-15 11:00,,,\n",
        coder,
    )
    spans = [
        (a["id"], a["start"][-5:], a.get("end", "")[-5:], "segments" in a) for a in record["administrations"]
    ]
    assert spans == [("A1", "10:00", "10:40", False), ("A1.2", "11:00", "", False)]
    (finding,) = record["source_findings"]
    assert finding["id"] == "mar-start-without-stop" and finding["administrations"] == ["A1.2"]
    assert finding["source"] == "mar.csv row 4"


def test_rate_change_keeps_the_first_rate(coder: Coder) -> None:
    record = one(
        HEADER
        + "E1,A1,Heparin,,,IV,,New Bag,2026-01-15 08:00,10,,\n"
        + "E1,A1,,,,,,Rate Change,2026-01-15 09:00,15,,\n"
        + "E1,A1,,,,,,Stopped - Unscheduled,2026-01-15 10:00,,,\n",
        coder,
    )
    (a1,) = record["administrations"]
    assert (a1["rate_ml_per_hour"], a1["end"]) == (10.0, "2026-01-15T10:00")


def test_unpaired_events_become_findings(coder: Coder) -> None:
    record = one(
        HEADER
        + "E1,A1,Saline,,,IV,,Stopped,2026-01-15 09:00,,,\n"
        + "E1,A2,Cefazolin,1,g,IV,,New Bag,2026-01-15 09:10,,,\n"
        + "E1,A3,Heparin,,,IV,,Rate Change,2026-01-15 09:20,12,,\n"
        + "E1,A3,,,,,,Stopped,2026-01-15 10:20,,,\n"
        + "E1,A4,Ketorolac,15,mg,IV,,Not Given,2026-01-15 09:30,,,\n",
        coder,
    )
    assert [a["id"] for a in record["administrations"]] == ["A2", "A3"]
    by_id = {f["id"]: f for f in record["source_findings"]}
    assert set(by_id) == {
        "mar-stop-without-start",
        "mar-start-without-stop",
        "mar-rate-change-without-start",
        "mar-not-given",
    }
    assert by_id["mar-start-without-stop"]["administrations"] == ["A2"]
    assert by_id["mar-stop-without-start"]["source"] == "mar.csv row 2"
    result = coder.code(Encounter.model_validate(record))
    assert {"mar-stop-without-start", "mar-not-given"} <= {f.id for f in result.findings}


def test_bad_rows_are_findings_naming_row_and_column(coder: Coder) -> None:
    records = imported(
        HEADER
        + "E1,A1,Saline,,,IV,,New Bag,yesterday at ten,,,\n"
        + "E1,A2,Saline,,,IV,,Given,2026-01-15 10:00,fast,,\n"
        + "E1,A3,Saline,,,IV,,Hung upside down,2026-01-15 10:00,,,\n"
        + ",A4,Saline,,,IV,,Given,2026-01-15 10:00,,,\n",
        coder,
    )
    errors = [r for r in records if "error" in r]
    assert len(errors) == 1 and "row 5" in errors[0]["error"]["message"]
    (record,) = [r for r in records if "error" not in r]
    messages = [f["message"] for f in record["source_findings"]]
    assert any("row 2, column time" in m for m in messages)
    assert any("row 3, column rate_ml_per_hour" in m for m in messages)
    assert any("row 4, column action" in m for m in messages)
    assert [a["id"] for a in record["administrations"]] == ["A2"]


def test_missing_required_column_stops_the_import_naming_the_column(coder: Coder) -> None:
    with pytest.raises(UnusableInput, match="required column 'action'"):
        imported("encounter_id,administration_id,medication,time\nE1,A1,x,2026-01-15 10:00\n", coder)


def test_mapping_file_with_site_columns_and_words(coder: Coder, tmp_path: Path) -> None:
    mapping = tmp_path / "site.toml"
    mapping.write_text(
        'time_format = "%m/%d/%Y %H:%M"\n'
        "[columns]\n"
        'encounter_id = "CSN"\nadministration_id = "ORDER_ID"\nmedication = "MED_NAME"\n'
        'route = "ROUTE"\naction = "MAR_ACTION"\ntime = "TAKEN_TIME"\n'
        "[actions]\n"
        '"Hang" = "start"\n"Rate Verify" = "check"\n"Take down" = "stop"\n'
    )
    text = (
        "CSN,ORDER_ID,MED_NAME,ROUTE,MAR_ACTION,TAKEN_TIME\n"
        "9001,77,Normal saline,Intravenous,Hang,01/15/2026 10:00\n"
        "9001,77,,,Rate Verify,01/15/2026 11:00\n"
        "9001,77,,,take  down,01/15/2026 12:30\n"
    )
    record = one(text, coder, mapping=mapping)
    assert record["encounter_id"] == "9001"
    (a,) = record["administrations"]
    assert (a["id"], a["start"], a["end"]) == ("77", "2026-01-15T10:00", "2026-01-15T12:30")
    assert record["source_findings"] == []


MAPPING_TEXT = (EXAMPLES / "mar-mapping.toml").read_text() if (EXAMPLES / "mar-mapping.toml").exists() else ""
EXPORT = EXAMPLES / "mar-export.csv"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("site.toml", '[actions]\n"Hang" = "dangle"\n', "[actions] 'Hang' = 'dangle': expected one of start"),
        ("site.toml", "columns = 5\n", "columns must be a table"),
        ("site.toml", 'actions = ["Hang", "start"]\n', "actions must be a table"),
        ("site.toml", 'time_format = "%H%H"\n', "time_format '%H%H' is not a strptime pattern"),
        ("site.toml", 'time_format = "%Q"\n', "time_format '%Q' is not a strptime pattern"),
        ("site.toml", 'time_format = "%H:%M"\n', "does not hold a whole date and time"),
        ("site.toml", "time_format = 5\n", "time_format must be a strptime text, not a number"),
        ("site.toml", "[columns]\nmedication = 5\n", "[columns] medication must be the header text"),
        ("site.toml", '[columns]\nmedicaton = "MED"\n', "(did you mean 'medication'?)"),
        ("site.toml", '[column]\nmedication = "MED"\n', "unknown key 'column'"),
        ("site.toml", "[columns\n", "not TOML"),
        ("site.yaml", "columns: [a\n  b: c\n", "not YAML at line"),
        ("site.yaml", "- a\n- b\n", "expected a table"),
    ],
)
def test_a_bad_mapping_file_is_one_clear_error_naming_the_key(
    coder: Coder, tmp_path: Path, name: str, content: str, expected: str
) -> None:
    mapping = tmp_path / name
    mapping.write_text(content)
    with pytest.raises(UnusableInput) as caught:
        imported(HEADER, coder, mapping=mapping)
    assert expected in str(caught.value) and name in str(caught.value)


def test_a_mapping_file_that_is_not_utf8_is_named(coder: Coder, tmp_path: Path) -> None:
    mapping = tmp_path / "site.toml"
    mapping.write_bytes('[columns]\nmedication = "MÉDICAMENT"\n'.encode("latin-1"))
    with pytest.raises(UnusableInput, match=r"site\.toml: not UTF-8 text"):
        imported(HEADER, coder, mapping=mapping)


def test_a_mapped_column_the_file_lacks_names_it_and_the_closest_header(coder: Coder, tmp_path: Path) -> None:
    mapping = tmp_path / "site.toml"
    mapping.write_text(MAPPING_TEXT.replace('"MEDICATION_NAME"', '"MEDICATION_NAM"'))
    source = Source("mar-export.csv", path=EXPORT)
    with pytest.raises(UnusableInput) as caught:
        list(guarded("mar", read)([source], ImportOptions(mapping=mapping), coder.reference.latest))
    message = str(caught.value)
    assert "'MEDICATION_NAM'" in message and "closest header is 'MEDICATION_NAME'" in message


@pytest.mark.skipif(not EXPORT.exists(), reason="examples not present")
@pytest.mark.parametrize("command", [["import", "mar"], ["code", "--from", "mar"]])
def test_cli_stops_with_exit_2_on_a_mapping_typo(tmp_path: Path, command: list[str]) -> None:
    mapping = tmp_path / "site.toml"
    mapping.write_text(MAPPING_TEXT.replace('"MEDICATION_NAME"', '"MEDICATION_NAM"'))
    result = CliRunner().invoke(app, [*command, "--mapping", str(mapping), str(EXPORT)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "MEDICATION_NAM" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("content", ["columns = 5\n", 'time_format = "%H%H"\n', "[columns\n"])
def test_cli_bad_mapping_exit_2_no_traceback(tmp_path: Path, content: str) -> None:
    mapping = tmp_path / "site.toml"
    mapping.write_text(content)
    path = tmp_path / "mar.csv"
    path.write_text(HEADER + "E1,A1,Saline,,,IV,,Given,2026-01-15 10:00,,,\n")
    result = CliRunner().invoke(app, ["import", "mar", "--mapping", str(mapping), str(path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert "site.toml" in result.stderr and "Traceback" not in result.stderr


def test_a_later_file_without_the_columns_is_its_own_error(coder: Coder) -> None:
    good = Source("a.csv", data=(HEADER + "E1,A1,Saline,,,IV,,Given,2026-01-15 10:00,,,\n").encode())
    bad = Source("b.csv", data=b"encounter,drug\nE2,x\n")
    records = list(read([good, bad], ImportOptions(), coder.reference.latest))
    errors = [r for r in records if "error" in r]
    assert len(errors) == 1 and errors[0]["error"]["message"].startswith("b.csv: required column")
    assert [r["encounter_id"] for r in records if "error" not in r] == ["E1"]


def test_encounters_in_order_of_first_appearance(coder: Coder) -> None:
    records = imported(
        HEADER
        + "E2,A1,Saline,,,IV,,Given,2026-01-15 10:00,,,\n"
        + "E1,A1,Saline,,,IV,,Given,2026-01-15 09:00,,,\n"
        + "E2,A2,Saline,,,IV,,Given,2026-01-15 11:00,,,\n",
        coder,
    )
    assert [r["encounter_id"] for r in records] == ["E2", "E1"]


def gold_cases() -> list[dict[str, Any]]:
    if not CASES.exists():
        return []
    return [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]


def expressible(encounter: dict[str, Any]) -> str | None:
    """Why a gold encounter cannot go through the CSV unchanged, or None."""
    if "evaluation_and_management" in encounter:
        return "E/M visit: not a MAR row"
    if "primary_administration" in encounter:
        return "primary administration: a claim choice, not a MAR row"
    if any(not a.get("start") for a in encounter["administrations"]):
        return "administration without a time: a MAR row needs one"
    return None


def coding(result: Any) -> list[tuple[str, int, list[str], Any, list[str]]]:
    return sorted(
        (x.code, x.units, sorted(x.modifiers), x.date, sorted(x.administrations)) for x in result.lines
    )


@pytest.mark.skipif(not CASES.exists(), reason="../shared/cases/dev.jsonl not present")
def test_round_trip_gives_the_same_coding_on_gold_cases(coder: Coder) -> None:
    checked, skipped = 0, {}
    for case in gold_cases():
        encounter = case["encounter"]
        reason = expressible(encounter)
        if reason:
            skipped[case["id"]] = reason
            continue
        (back,) = imported(write_csv([encounter]), coder)
        assert back["source_findings"] == [] or all(
            f["id"] == "mar-start-without-stop" for f in back["source_findings"]
        )
        before = coder.code(Encounter.model_validate(encounter))
        after = coder.code(Encounter.model_validate(back))
        assert coding(after) == coding(before), case["id"]
        checked += 1
    assert checked >= 45, skipped


def test_cli_import_and_code_from_mar(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "mar.csv"
    path.write_text(
        HEADER
        + "E1,A1,Normal saline,,,IV,,New Bag,2026-01-15 10:00,,,\n"
        + "E1,A1,,,,,,Stopped,2026-01-15 11:30,,,\n"
    )
    imported_out = runner.invoke(app, ["import", "mar", str(path)])
    assert imported_out.exit_code == 0, imported_out.output
    (record,) = [json.loads(line) for line in imported_out.output.splitlines()]
    assert record["administrations"][0]["end"] == "2026-01-15T11:30"
    coded = runner.invoke(app, ["code", "--from", "mar", str(path)])
    assert coded.exit_code == 0, coded.output
    (result,) = [json.loads(line) for line in coded.output.splitlines()]
    assert [(line["code"], line["units"]) for line in result["lines"]] == [("96360", 1)]


@pytest.mark.skipif(not (EXAMPLES / "mar-export.csv").exists(), reason="examples not present")
def test_example_files_import(coder: Coder) -> None:
    source = Source("mar-export.csv", path=EXAMPLES / "mar-export.csv")
    options = ImportOptions(mapping=EXAMPLES / "mar-mapping.toml")
    records = list(read([source], options, coder.reference.latest))
    assert records and not any("error" in r for r in records)
    for record in records:
        result = coder.code(Encounter.model_validate(record))
        assert result.lines


ROWS = [
    "E1,A1,Normal saline,1000,mL,IV,,New Bag,2026-01-15 10:00,250,1000,",
    "E1,A1,,,,,,Paused,2026-01-15 10:30,,,",
    "E1,A1,,,,,,Restarted,2026-01-15 10:45,,,",
    "E1,A1,,,,,,Rate Change,2026-01-15 11:00,125,,",
    "E1,A1,,,,,,Stopped,2026-01-15 12:00,,,",
    "E1,A2,Ondansetron,4,mg,IV Push,,Given,2026-01-15 10:05,,,",
    "E1,A3,Cefazolin,1,g,IVPB,,Started,2026-01-15 10:10,,,",
    "E1,A4,Ketorolac,15,mg,IV,,Stopped,2026-01-15 10:20,,,",
]


@given(st.permutations(ROWS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_row_order_does_not_change_the_import(coder: Coder, rows: list[str]) -> None:
    def view(record: dict[str, Any]) -> tuple[Any, ...]:
        admins = sorted(json.dumps(a, sort_keys=True) for a in record["administrations"])
        found = sorted((f["id"], f["source"] is not None) for f in record["source_findings"])
        return admins, found

    assert view(one(HEADER + "\n".join(rows) + "\n", coder)) == view(
        one(HEADER + "\n".join(ROWS) + "\n", coder)
    )


def test_times_with_offsets_are_kept(coder: Coder) -> None:
    record = one(
        HEADER
        + "E1,A1,Normal saline,,,IV,,New Bag,2026-01-15T10:00:00-05:00,,,\n"
        + "E1,A1,,,,,,Stopped,2026-01-15T11:10:00-05:00,,,\n",
        coder,
        timezone="America/New_York",
    )
    (a,) = record["administrations"]
    assert (a["start"], a["end"]) == ("2026-01-15T10:00-05:00", "2026-01-15T11:10-05:00")
    assert record["timezone"] == "America/New_York"


def test_cli_code_from_mar_with_mapping() -> None:
    result = CliRunner().invoke(
        app,
        [
            "code",
            "--from",
            "mar",
            "--mapping",
            str(EXAMPLES / "mar-mapping.toml"),
            str(EXAMPLES / "mar-export.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    codes = {
        r["encounter_id"]: sorted(x["code"] for x in r["lines"])
        for r in map(json.loads, result.output.splitlines())
    }
    assert codes == {"880001": ["96361", "96374"], "880002": ["96365", "96375"]}


@pytest.mark.skipif(not EXPORT.exists(), reason="examples not present")
def test_the_example_paused_bag_is_one_administration_with_its_findings_once(coder: Coder) -> None:
    options = ImportOptions(mapping=EXAMPLES / "mar-mapping.toml")
    record = next(r for r in read([Source("mar-export.csv", path=EXPORT)], options, coder.reference.latest))
    saline = [a for a in record["administrations"] if a["substance"].startswith("Sodium chloride")]
    assert [a["id"] for a in saline] == ["5001"]
    assert [(s["start"][-5:], s["end"][-5:]) for s in saline[0]["segments"]] == [
        ("09:40", "10:50"),
        ("11:05", "11:45"),
    ]
    result = coder.code(Encounter.model_validate(record))
    assert [(x.code, x.units, x.administrations, x.minutes) for x in result.lines] == [
        ("96374", 1, ["5002"], None),
        ("96361", 2, ["5001"], 110),  # 125 minutes from hanging to stop, less the 15-minute pause
    ]
    for kind in ("hydration-necessity-unstated", "fluid-billed-by-bag"):
        assert [f.administrations for f in result.findings if f.id == kind] == [["5001"]]


def test_dose_with_its_unit_in_one_column(coder: Coder) -> None:
    record = one(HEADER + "E1,A1,Ondansetron,4 mg,,IV Push,,Given,2026-01-15 10:00,,,\n", coder)
    (a,) = record["administrations"]
    assert (a["dose"], a["dose_unit"]) == (4.0, "mg")
    assert record["source_findings"] == []


def test_a_huge_cell_is_a_finding_on_its_row_and_the_rest_is_read(coder: Coder) -> None:
    huge = "x" * 200_000  # over csv's default field limit of 131,072
    records = imported(
        HEADER
        + f"E1,A1,{huge},,,IV,,Given,2026-01-15 10:00,,,\n"
        + "E1,A2,Ondansetron,4,mg,IV Push,,Given,2026-01-15 10:05,,,\n",
        coder,
    )
    (record,) = records
    assert [a["id"] for a in record["administrations"]] == ["A2"]
    (finding,) = record["source_findings"]
    assert finding["id"] == "mar-unreadable-row" and "row 2, column medication" in finding["message"]
    assert len(finding["message"]) < 200


def test_an_overlong_encounter_id_is_an_error_naming_the_row(coder: Coder) -> None:
    records = imported(HEADER + ("E" * 300) + ",A1,Saline,,,IV,,Given,2026-01-15 10:00,,,\n", coder)
    (error,) = records
    assert "row 2: encounter_id is longer than 200" in error["error"]["message"]


def test_an_overlong_administration_id_skips_its_row_without_echoing_it(coder: Coder) -> None:
    record = one(HEADER + "E1," + "A" * 5000 + ",Saline,,,IV,,New Bag,2026-01-15 10:00,,,\n", coder)
    (finding,) = record["source_findings"]
    assert "row 2, column administration_id: longer than 200 characters" in finding["message"]
    assert len(finding["message"]) < 200 and record["administrations"] == []


def test_an_unreadable_row_is_its_error_and_reading_goes_on(coder: Coder, tmp_path: Path) -> None:
    import csv

    limit = csv.field_size_limit()
    csv.field_size_limit(1000)
    try:
        records = imported(
            HEADER
            + "E1,A1,"
            + "y" * 2000
            + ",,,IV,,Given,2026-01-15 10:00,,,\n"
            + "E1,A2,Ondansetron,4,mg,IV Push,,Given,2026-01-15 10:05,,,\n",
            coder,
        )
    finally:
        csv.field_size_limit(limit)
    error, record = records
    assert "row 2: not readable CSV" in error["error"]["message"]
    assert [a["id"] for a in record["administrations"]] == ["A2"]


def test_an_empty_file_is_one_error(coder: Coder) -> None:
    (error,) = imported("", coder)
    assert "no header row" in error["error"]["message"]


def test_an_import_over_its_size_bound_says_so_and_holds_its_encounters(
    coder: Coder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    from infusion_coder.formats import mar

    first = (HEADER + "E1,A1,Saline,,,IV,,New Bag,2026-01-15 10:00,,,\n").encode()
    monkeypatch.setattr(mar, "MAX_MAR_BYTES", len(first) + 10)
    second = gzip.compress((HEADER + "E1,A1,,,,,,Stopped,2026-01-15 11:00,,,\n").encode())
    records = list(
        read(
            [Source("a.csv", data=first), Source("b.csv.gz", data=second)],
            ImportOptions(),
            coder.reference.latest,
        )
    )
    error, record = records
    assert error["error"]["message"].startswith("b.csv.gz: not read: one MAR import holds at most")
    incomplete = [f for f in record["source_findings"] if f["id"] == "mar-import-incomplete"]
    assert (
        len(incomplete) == 1
        and incomplete[0]["severity"] == "error"
        and "b.csv.gz" in incomplete[0]["message"]
    )
    assert coder.code(Encounter.model_validate(record)).readiness == "hold"


def test_a_finding_on_a_bag_charted_thousands_of_times_names_a_few_rows(coder: Coder) -> None:
    rows = "".join(f"E1,A1,,,,IV,,New Bag,2026-01-15 10:{i % 60:02d}:{i // 60:02d},,,\n" for i in range(2000))
    record = one(HEADER + rows + "E1,A1,,,,,,Stopped,2026-01-15 11:00,,,\n", coder)
    (finding,) = record["source_findings"]
    assert finding["id"] == "mar-incomplete-administration"
    assert finding["source"].endswith("and 1,996 more rows") and len(finding["source"]) < 200
    assert "error" not in coder.code_record(record).model_dump()


def test_more_findings_than_an_encounter_may_carry_are_counted_in_one(coder: Coder) -> None:
    rows = "".join(f"E1,A{i},Saline,,,IV,,Held,2026-01-15 10:00,,,\n" for i in range(5100))
    record = one(HEADER + rows + "E1,B1,Saline,,,IV,,New Bag,2026-01-15 10:00,,,\n", coder)
    findings = record["source_findings"]
    assert len(findings) == 5000 and findings[-1]["id"] == "mar-more-findings"
    assert findings[-1]["message"].startswith("102 more findings on this encounter's rows (mar-not-given)")
    result = coder.code_record(record)
    assert "error" not in result.model_dump()
