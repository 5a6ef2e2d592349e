"""MIMIC-IV import (formats/mimic.py): a synthetic fixture in the MIMIC layout for pairing, routes
and encounter grouping, and the real demo (../shared/data/mimic-iv-demo) when present."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infusion_coder.api import Coder
from infusion_coder.cli import app
from infusion_coder.formats import ImportOptions, Source
from infusion_coder.formats.mimic import load, read
from infusion_coder.models import Encounter

FIXTURE = Path(__file__).parent / "fixtures" / "mimic-mini"
DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "mimic-iv-demo"


def records(coder: Coder, **options: Any) -> dict[str, dict[str, Any]]:
    out = read([Source("mimic-mini", path=FIXTURE)], ImportOptions(**options), coder.reference.latest)
    return {r["encounter_id"]: r for r in out}


def by_id(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in record["administrations"]}


def findings(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in record["source_findings"]}


def test_encounters_as_billed_inpatient_only_when_asked(coder: Coder) -> None:
    assert list(records(coder)) == ["900001-ed-30000001", "800002"]
    with_inpatient = records(coder, include_inpatient=True)
    assert list(with_inpatient) == ["900001-ed-30000001", "800002", "800003"]
    assert "mimic-encounter-inpatient" in findings(with_inpatient["800003"])


def test_ed_visit_pairs_started_with_stopped_variant_and_infers_push(coder: Coder) -> None:
    record = records(coder)["900001-ed-30000001"]
    admins = by_id(record)
    saline = admins["900001-1"]  # Started, Confirmed (a check), Stopped - Unscheduled on one poe_id
    assert (saline["start"], saline["end"], saline["method"]) == (
        "2100-01-01T10:30",
        "2100-01-01T12:00",
        "infusion",
    )
    assert saline["volume_ml"] == 1000.0
    ondansetron = admins["900001-4"]  # a vial with no route charted, IV line shown by the bag
    assert (ondansetron["route"], ondansetron["method"]) == ("intravenous", "push")
    found = findings(record)
    assert "900001-7" not in admins  # a tablet: oral, summarised, not an administration
    assert found["mimic-route-not-coded"]["source"] == "emar_id 900001-7"
    assert found["mimic-route-inferred"]["administrations"] == ["900001-4"]
    assert found["mimic-flush"]["source"] == "emar_id 900001-5"
    assert found["mimic-not-given"]["source"] == "emar_id 900001-6"
    assert "900001-2" not in json.dumps(record)  # Confirmed is not an event
    result = coder.code(Encounter.model_validate(record))
    assert {line.code for line in result.lines} == {"96374", "96361"}


def test_observation_stay_one_encounter_across_midnight_and_ward_move(coder: Coder) -> None:
    record = records(coder)["800002"]
    admins = by_id(record)
    saline = admins["900002-1"]  # name from prescriptions BASE, route from the same-drug pharmacy order
    assert saline["substance"] == "Sodium Chloride 0.9%"
    assert (saline["start"], saline["end"], saline["rate_ml_per_hour"]) == (
        "2100-02-01T23:00",
        "2100-02-02T03:00",
        125.0,
    )
    cefazolin = admins["900002-3"]  # IV Piggyback order for the same drug: not inferred
    assert (cefazolin["route"], cefazolin["method"], "end" in cefazolin) == ("intravenous", "infusion", False)
    found = findings(record)
    # the ondansetron row points at a heparin SC order: the order's route is not used
    assert admins["900002-4"]["route"] == "intravenous"
    assert found["mimic-route-inferred"]["administrations"] == ["900002-4"]
    assert found["mimic-stop-without-start"]["source"] == "emar_id 900002-5"
    bolus = admins["900002-10"]  # a bolus charted on the heparin drip order (route IV DRIP): a push
    assert (bolus["route"], bolus["method"], bolus["dose"], bolus["dose_unit"]) == (
        "intravenous",
        "push",
        4000.0,
        "units",
    )
    vancomycin = [a for a in record["administrations"] if a["substance"] == "Vancomycin"]
    # paused at 06:30 and restarted at 06:45: one administration whose segments are what ran (events.fold)
    assert [(a["id"], a["start"][-5:], a["end"][-5:]) for a in vancomycin] == [("900002-6", "06:00", "07:30")]
    assert [(s["start"][-5:], s["end"][-5:]) for s in vancomycin[0]["segments"]] == [
        ("06:00", "06:30"),
        ("06:45", "07:30"),
    ]
    Encounter.model_validate(record)


def test_cli_import_mimic_folder() -> None:
    result = CliRunner().invoke(app, ["import", "mimic", str(FIXTURE), "--timezone", "America/New_York"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [r["encounter_id"] for r in lines] == ["900001-ed-30000001", "800002"]
    assert all(r["timezone"] == "America/New_York" for r in lines)


def test_not_a_folder_is_an_error(coder: Coder, tmp_path: Path) -> None:
    (record,) = read([Source("x.csv", path=tmp_path / "x.csv")], ImportOptions(), coder.reference.latest)
    assert record["error"]["field"] == "path"
    (record,) = read([Source("empty", path=tmp_path)], ImportOptions(), coder.reference.latest)
    assert "emar" in record["error"]["message"]


@pytest.mark.skipif(not (DEMO / "hosp").is_dir(), reason="MIMIC-IV demo not in ../shared/data/mimic-iv-demo")
def test_whole_demo_imports_codes_and_accounts_for_every_given_iv_event(coder: Coder) -> None:
    began = time.perf_counter()
    loaded = load(DEMO, ImportOptions(), coder.reference.latest)
    assert loaded.errors == []
    kinds = {b.stay.kind for b in loaded.encounters}
    assert {"ed-only", "ed+observation", "inpatient"} <= kinds
    given = accounted = 0
    for built in loaded.encounters:
        if built.stay.inpatient:
            continue
        result = coder.code(Encounter.model_validate(built.record))
        in_results = {a for line in result.lines for a in line.administrations}
        in_results |= {a for finding in result.findings for a in finding.administrations}
        named = {token for f in result.findings for token in re.findall(r"\b\d+-\d+\b", f.message)}
        for emar_id, administration in built.given_iv.items():
            given += 1
            accounted += administration in in_results or emar_id in named
    assert given > 500 and accounted == given
    assert time.perf_counter() - began < 60
