"""MIMIC-IV import (formats/mimic.py): the hand-written fixture (tests/fixtures/mimic-mini), small folders
written per test in the MIMIC layout (no patient data), and the real demo (../shared/data/mimic-iv-demo)
when present."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infusion_coder.api import Coder
from infusion_coder.cli import app
from infusion_coder.formats import ImportOptions, Source, UnusableInput
from infusion_coder.formats.mimic import accounting, load, read
from infusion_coder.models import Encounter

FIXTURE = Path(__file__).parent / "fixtures" / "mimic-mini"
DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "mimic-iv-demo"
needs_demo = pytest.mark.skipif(not (DEMO / "hosp").is_dir(), reason="MIMIC-IV demo not in ../shared/data")

COLUMNS = {
    "emar": "subject_id,hadm_id,emar_id,emar_seq,poe_id,pharmacy_id,charttime,medication,event_txt",
    "emar_detail": "subject_id,emar_id,emar_seq,parent_field_ordinal,administration_type,pharmacy_id,dose_due,"
    "dose_due_unit,dose_given,dose_given_unit,product_unit,product_description,product_description_other,"
    "infusion_rate,infusion_rate_unit,route",
    "pharmacy": "subject_id,hadm_id,pharmacy_id,poe_id,medication,proc_type,route,infusion_type",
    "prescriptions": "subject_id,hadm_id,pharmacy_id,poe_id,drug_type,drug",
    "transfers": "subject_id,hadm_id,transfer_id,eventtype,careunit,intime,outtime",
    "admissions": "subject_id,hadm_id,admittime,dischtime,admission_type",
    "hcpcsevents": "subject_id,hadm_id,chartdate,hcpcs_cd,seq_num,short_description",
}


def write_folder(root: Path, **tables: list[dict[str, str]]) -> Path:
    """A MIMIC-IV folder holding the given rows (every table is written, empty when not given)."""
    hosp = root / "hosp"
    hosp.mkdir(parents=True, exist_ok=True)
    for name, header in COLUMNS.items():
        with (hosp / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, header.split(","))
            writer.writeheader()
            writer.writerows(tables.get(name, []))
    return root


def orders(medication: str, **by_route: int) -> list[dict[str, str]]:
    """Pharmacy orders of other patients: the folder's own history of how the drug is given."""
    rows = []
    for route, count in by_route.items():
        for i in range(count):
            rows.append(
                {
                    "subject_id": "1",
                    "pharmacy_id": f"{medication[:4]}{route}{i}",
                    "medication": medication,
                    "proc_type": "Unit Dose",
                    "route": route.replace("_", " "),
                }
            )
    return rows


def ed_visit(subject: str = "900", transfer: str = "31", day: str = "2100-01-01") -> dict[str, str]:
    return {
        "subject_id": subject,
        "transfer_id": transfer,
        "eventtype": "ED",
        "careunit": "Emergency Department",
        "intime": f"{day} 08:00:00",
        "outtime": f"{day} 20:00:00",
    }


def event(
    seq: int,
    time: str,
    medication: str,
    text: str = "Administered",
    subject: str = "900",
    hadm: str = "",
    poe: str = "",
    pharmacy: str = "",
    day: str = "2100-01-01",
) -> dict[str, str]:
    return {
        "subject_id": subject,
        "hadm_id": hadm,
        "emar_id": f"{subject}-{seq}",
        "emar_seq": str(seq),
        "poe_id": poe or f"{subject}-p{seq}",
        "pharmacy_id": pharmacy,
        "charttime": f"{day} {time}:00",
        "medication": medication,
        "event_txt": text,
    }


def product(
    subject_seq: str, unit: str, description: str = "", dose: str = "", dose_unit: str = "mg", **extra: str
) -> dict[str, str]:
    subject = subject_seq.split("-")[0]
    return {
        "subject_id": subject,
        "emar_id": subject_seq,
        "parent_field_ordinal": "1.1",
        "product_unit": unit,
        "product_description": description,
        "dose_given": dose,
        "dose_given_unit": dose_unit,
        **extra,
    }


def parent(
    subject_seq: str, admin_type: str = "Standard Maintenance Medication", **extra: str
) -> dict[str, str]:
    return {
        "subject_id": subject_seq.split("-")[0],
        "emar_id": subject_seq,
        "administration_type": admin_type,
        **extra,
    }


def imported(coder: Coder, root: Path, **options: Any) -> dict[str, dict[str, Any]]:
    out = list(read([Source(root.name, path=root)], ImportOptions(**options), coder.reference.latest))
    return {str(r["encounter_id"]): r for r in out}


def by_id(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in record["administrations"]}


def findings(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in record["source_findings"]}


def lines(coder: Coder, record: dict[str, Any]) -> Counter[str]:
    result = coder.code(Encounter.model_validate(record))
    return Counter({line.code: line.units for line in result.lines})


# --- the hand-written fixture --------------------------------------------------------------------------


def fixture_records(coder: Coder, **options: Any) -> dict[str, dict[str, Any]]:
    return imported(coder, FIXTURE, **options)


def test_every_stay_is_written_inpatient_ones_without_administrations(coder: Coder) -> None:
    records = fixture_records(coder)
    assert list(records) == ["900001-ed-30000001", "800002", "800003"]
    inpatient = records["800003"]
    assert inpatient["administrations"] == []
    (stay,) = inpatient["source_findings"]
    assert (stay["id"], stay["severity"]) == ("inpatient-stay", "info")
    assert "EW EMER." in stay["message"] and "1 administration(s)" in stay["message"]
    assert lines(coder, inpatient) == Counter()
    included = fixture_records(coder, include_inpatient=True)["800003"]
    assert [a["substance"] for a in included["administrations"]] == ["Morphine Sulfate"]
    assert findings(included)["inpatient-stay"]["severity"] == "warning"


def test_ed_visit_pairs_started_with_stopped_variant_and_infers_push_from_a_running_bag(coder: Coder) -> None:
    record = fixture_records(coder)["900001-ed-30000001"]
    admins = by_id(record)
    saline = admins["900001-1"]  # Started, Confirmed (a check), Stopped - Unscheduled on one poe_id
    assert (saline["start"], saline["end"], saline["method"]) == (
        "2100-01-01T10:30",
        "2100-01-01T12:00",
        "infusion",
    )
    assert saline["volume_ml"] == 1000.0
    ondansetron = admins["900001-4"]  # a vial at 10:35, no orders of it here, the bag running since 10:30
    assert (ondansetron["route"], ondansetron["method"]) == ("intravenous", "push")
    found = findings(record)
    assert "900001-7" not in admins  # a tablet: oral, summarised, not an administration
    assert found["mimic-route-not-coded"]["source"] == "emar_id 900001-7"
    inferred = found["route-inferred"]
    assert inferred["administrations"] == ["900001-4"]
    assert "was running at 10:35" in inferred["message"]
    assert found["mimic-flush"]["source"] == "emar_id 900001-5"
    assert found["mimic-not-given"]["source"] == "emar_id 900001-6"
    assert "900001-2" not in json.dumps(record)  # Confirmed is not an event
    assert set(lines(coder, record)) == {"96374", "96361"}


def test_observation_stay_one_encounter_and_a_bag_charted_later_is_no_evidence(coder: Coder) -> None:
    record = fixture_records(coder)["800002"]
    admins = by_id(record)
    saline = admins["900002-1"]  # name from prescriptions BASE, route from the same-drug pharmacy order
    assert saline["substance"] == "Sodium Chloride 0.9%"
    assert (saline["start"], saline["end"], saline["rate_ml_per_hour"]) == (
        "2100-02-01T23:00",
        "2100-02-02T03:00",
        125.0,
    )
    cefazolin = admins["900002-3"]  # IV Piggyback order for the same drug: charted, not inferred
    assert (cefazolin["route"], cefazolin["method"], "end" in cefazolin) == ("intravenous", "infusion", False)
    found = findings(record)
    # ondansetron at 21:10 points at a heparin SC order (not used); the saline bag starts at 23:00, after it:
    # imported by its most likely route, and the encounter is held with both candidate codes
    assert admins["900002-4"]["route"] == "intravenous"
    uncertain = found["route-uncertain"]
    assert (uncertain["severity"], uncertain["administrations"]) == ("error", ["900002-4"])
    assert "96374" in uncertain["message"] and "96372" in uncertain["message"]
    assert "route-inferred" not in found
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
    assert coder.code(Encounter.model_validate(record)).readiness == "hold"


def test_cli_import_and_code_mimic_folder() -> None:
    result = CliRunner().invoke(app, ["import", "mimic", str(FIXTURE), "--timezone", "America/New_York"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["encounter_id"] for r in records] == ["900001-ed-30000001", "800002", "800003"]
    assert all(r["timezone"] == "America/New_York" for r in records)
    coded = CliRunner().invoke(app, ["code", "--from", "mimic", str(FIXTURE)])
    assert coded.exit_code == 0, coded.output
    results = {r["encounter_id"]: r for r in map(json.loads, coded.output.splitlines())}
    assert results["800003"]["lines"] == [] and results["800003"]["readiness"] == "ready"


def test_a_first_input_that_is_no_mimic_folder_stops_the_import(coder: Coder, tmp_path: Path) -> None:
    pack = coder.reference.latest
    with pytest.raises(UnusableInput, match="mimic reads a MIMIC-IV folder"):
        list(read([Source("x.csv", path=tmp_path / "x.csv")], ImportOptions(), pack))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnusableInput, match="emar"):
        list(read([Source("empty", path=empty)], ImportOptions(), pack))


def test_a_later_input_that_is_no_mimic_folder_is_an_error_and_the_rest_go_on(
    coder: Coder, tmp_path: Path
) -> None:
    good = small_folder(tmp_path / "good")
    empty = tmp_path / "empty"
    empty.mkdir()
    sources = [Source("good", path=good), Source("empty", path=empty), Source("again", path=good)]
    records = list(read(sources, ImportOptions(), coder.reference.latest))
    errors = [r for r in records if "error" in r]
    assert (
        len(errors) == 1 and errors[0]["error"]["field"] == "path" and "emar" in errors[0]["error"]["message"]
    )
    assert [r["encounter_id"] for r in records if "error" not in r] == ["900-ed-31", "900-ed-31"]


# --- encounter class as the hospital bills it -----------------------------------------------------------


def admission_folder(root: Path, admission_type: str, careunit: str, codes: list[str]) -> Path:
    return write_folder(
        root,
        admissions=[
            {
                "subject_id": "900",
                "hadm_id": "700",
                "admittime": "2100-01-01 10:00:00",
                "dischtime": "2100-01-06 10:00:00",
                "admission_type": admission_type,
            }
        ],
        transfers=[
            {**ed_visit(), "hadm_id": "700", "outtime": "2100-01-01 10:00:00"},
            {
                "subject_id": "900",
                "hadm_id": "700",
                "transfer_id": "32",
                "eventtype": "admit",
                "careunit": careunit,
                "intime": "2100-01-01 10:00:00",
                "outtime": "2100-01-06 10:00:00",
            },
        ],
        hcpcsevents=[{"subject_id": "900", "hadm_id": "700", "hcpcs_cd": code} for code in codes],
        emar=[event(1, "12:00", "Heparin", hadm="700", pharmacy="h1")],
        pharmacy=[
            {
                "subject_id": "900",
                "hadm_id": "700",
                "pharmacy_id": "h1",
                "medication": "Heparin",
                "proc_type": "Unit Dose",
                "route": "SC",
            }
        ],
    )


@pytest.mark.parametrize(
    ("admission_type", "careunit", "codes", "klass"),
    [
        # OBSERVATION ADMIT with no observation HCPCS is billed as an inpatient admission
        ("OBSERVATION ADMIT", "Medicine", [], "inpatient-stay"),
        # ... but with G0378 billed it is observation
        ("OBSERVATION ADMIT", "Medicine", ["G0378"], "mimic-encounter-ed+observation"),
        ("EU OBSERVATION", "Emergency Department Observation", ["G0378"], "mimic-encounter-ed+observation"),
        ("DIRECT OBSERVATION", "Medicine", ["99219"], "mimic-encounter-ed+observation"),
        # ICU care (the CCU included) under an observation class: what to check, held
        ("EU OBSERVATION", "Coronary Care Unit (CCU)", ["G0378"], "setting-unknown"),
        ("OBSERVATION ADMIT", "Coronary Care Unit (CCU)", [], "inpatient-stay"),
        ("EW EMER.", "Trauma SICU (TSICU)", [], "inpatient-stay"),
    ],
)
def test_admission_class_from_the_hospitals_billing(
    coder: Coder, tmp_path: Path, admission_type: str, careunit: str, codes: list[str], klass: str
) -> None:
    record = imported(coder, admission_folder(tmp_path, admission_type, careunit, codes))["700"]
    assert record["source_findings"][0]["id"] == klass
    outpatient = klass.startswith("mimic-encounter")
    assert bool(record["administrations"]) is outpatient
    assert bool(lines(coder, record)) is outpatient
    if klass == "setting-unknown":
        assert record["source_findings"][0]["severity"] == "error"
        assert "Coronary Care Unit (CCU)" in record["source_findings"][0]["message"]


def test_long_charting_outside_every_stay_is_held_short_is_outpatient(coder: Coder, tmp_path: Path) -> None:
    rows = [event(1, "10:00", "Heparin", pharmacy="h1"), event(2, "22:00", "Heparin", pharmacy="h1")]
    rows += [event(3 + i, "10:00", "Heparin", pharmacy="h1", day=f"2100-01-0{2 + i}") for i in range(3)]
    rows += [event(9, "10:00", "Heparin", pharmacy="h1", day="2100-02-01")]
    root = write_folder(
        tmp_path,
        emar=rows,
        pharmacy=[{"subject_id": "900", "pharmacy_id": "h1", "medication": "Heparin", "route": "SC"}],
    )
    records = imported(coder, root)
    assert list(records) == ["900-out-1", "900-out-9"]
    long = records["900-out-1"]
    (unclear,) = long["source_findings"]
    assert (unclear["id"], unclear["severity"]) == ("setting-unknown", "error")
    assert "3 midnights" in unclear["message"] and "5 administration(s)" in unclear["message"]
    assert long["administrations"] == [] and lines(coder, long) == Counter()
    assert lines(coder, records["900-out-9"]) == Counter({"96372": 1})
    included = imported(coder, root, include_inpatient=True)["900-out-1"]
    assert len(included["administrations"]) == 5 and findings(included)["setting-unknown"]


# --- route from evidence --------------------------------------------------------------------------------


def test_injectable_route_settled_by_this_sites_orders(coder: Coder, tmp_path: Path) -> None:
    root = write_folder(
        tmp_path,
        transfers=[ed_visit()],
        emar=[event(1, "09:25", "Morphine Sulfate")],
        emar_detail=[
            parent("900-1"),
            product("900-1", "mL", dose="4"),
        ],  # a dose drawn up, no IV line charted
        pharmacy=orders("Morphine Sulfate", IV=8, IV_DRIP=1),
    )
    record = imported(coder, root)["900-ed-31"]
    (morphine,) = record["administrations"]
    assert (morphine["route"], morphine["method"]) == ("intravenous", "push")
    inferred = findings(record)["route-inferred"]
    assert inferred["severity"] == "warning"
    assert "Morphine Sulfate injectable: IV in 9 of 9 orders here" in inferred["message"]
    assert lines(coder, record) == Counter({"96374": 1})


def test_injectable_route_not_settled_is_imported_and_held(coder: Coder, tmp_path: Path) -> None:
    root = write_folder(
        tmp_path,
        transfers=[ed_visit()],
        # ketorolac pushed at 10:00, a saline bag hung at 10:19: the bag is no evidence for the dose before it
        emar=[
            event(1, "10:00", "Ketorolac"),
            event(2, "10:19", "", "Started", poe="900-bag"),
            event(3, "11:30", "", "Stopped", poe="900-bag"),
        ],
        emar_detail=[
            parent("900-1"),
            product("900-1", "VIAL", "Ketorolac 30 mg/mL Vial", "30"),
            parent("900-2", "Medication Infusion"),
            product("900-2", "mL", "Sodium Chloride 0.9% - Floor Stock Bag", "1000", "mL"),
        ],
        pharmacy=orders("Ketorolac", IV=31, IM=15),
    )
    record = imported(coder, root)["900-ed-31"]
    assert by_id(record)["900-1"]["route"] == "intravenous"
    uncertain = findings(record)["route-uncertain"]
    assert (uncertain["severity"], uncertain["administrations"]) == ("error", ["900-1"])
    assert "IV in 31, IM in 15 of 46 orders here" in uncertain["message"]
    assert "96374" in uncertain["message"] and "96372" in uncertain["message"]
    assert coder.code(Encounter.model_validate(record)).readiness == "hold"


def test_an_infusion_running_at_the_dose_settles_an_iv_majority(coder: Coder, tmp_path: Path) -> None:
    root = write_folder(
        tmp_path,
        transfers=[ed_visit()],
        emar=[
            event(1, "09:00", "", "Started", poe="900-bag"),
            event(2, "10:00", "Ketorolac"),
            event(3, "11:30", "", "Stopped", poe="900-bag"),
        ],
        emar_detail=[
            parent("900-1", "Medication Infusion"),
            product("900-1", "mL", "Sodium Chloride 0.9% - Floor Stock Bag", "1000", "mL"),
            parent("900-2"),
            product("900-2", "VIAL", "Ketorolac 30 mg/mL Vial", "30"),
        ],
        pharmacy=orders("Ketorolac", IV=31, IM=15),
    )
    record = imported(coder, root)["900-ed-31"]
    found = findings(record)
    assert "route-uncertain" not in found
    assert "was running at 10:00" in found["route-inferred"]["message"]
    assert lines(coder, record) == Counter({"96374": 1, "96361": 2})


def test_drops_carry_the_right_reason_and_an_orders_route_holds_for_its_events(
    coder: Coder, tmp_path: Path
) -> None:
    root = write_folder(
        tmp_path,
        transfers=[ed_visit()],
        emar=[
            event(1, "09:00", "Artificial Tears", pharmacy="t1"),  # order route BOTH EYES
            event(2, "09:05", "Hydrocerin", pharmacy="t2"),  # order route TP
            event(3, "09:10", "Albuterol Inhaler"),  # product unit: puffs
            event(4, "09:15", "Fluticasone Propionate NASAL", pharmacy="t3"),  # order route NU
            event(
                5, "09:20", "Nitrofurantoin", poe="900-n"
            ),  # nothing scanned: the order's other event says PO
            event(6, "21:20", "Nitrofurantoin", poe="900-n"),
        ],
        emar_detail=[
            product("900-3", "", "Albuterol Inhaler 8 g Inhaler", "2", "PUFF"),
            parent("900-6", route="PO"),
        ],
        pharmacy=[
            {
                "subject_id": "900",
                "pharmacy_id": "t1",
                "medication": "Artificial Tears",
                "route": "BOTH EYES",
            },
            {"subject_id": "900", "pharmacy_id": "t2", "medication": "Hydrocerin", "route": "TP"},
            {
                "subject_id": "900",
                "pharmacy_id": "t3",
                "medication": "Fluticasone Propionate NASAL",
                "route": "NU",
            },
        ],
    )
    record = imported(coder, root)["900-ed-31"]
    assert record["administrations"] == []
    found = findings(record)
    assert set(found) == {"mimic-encounter-ed-only", "mimic-route-not-coded"}
    assert found["mimic-route-not-coded"]["source"] == "emar_id " + ", ".join(f"900-{i}" for i in range(1, 7))


def test_unnamed_fluid_with_a_rate_is_imported_and_coded(coder: Coder, tmp_path: Path) -> None:
    root = write_folder(
        tmp_path,
        transfers=[ed_visit(day="2100-01-01")],
        emar=[event(1, "08:30", "", "Started", poe="900-f"), event(2, "21:47", "", "Stopped", poe="900-f")],
        emar_detail=[parent("900-1", "IV Infusion", infusion_rate="125", infusion_rate_unit="mL/hr")],
    )
    record = imported(coder, root)["900-ed-31"]
    (fluid,) = record["administrations"]
    assert (fluid["substance"], fluid["route"], fluid["rate_ml_per_hour"]) == (
        "IV fluid (name not charted)",
        "intravenous",
        125.0,
    )
    assert findings(record)["mimic-fluid-unnamed"]["severity"] == "warning"
    assert lines(coder, record) == Counter({"96360": 1, "96361": 12})  # 797 minutes


def test_given_without_event_text_is_flagged_and_self_administered_dropped(
    coder: Coder, tmp_path: Path
) -> None:
    root = write_folder(
        tmp_path,
        transfers=[ed_visit()],
        emar=[
            event(1, "10:00", "Furosemide", ""),  # no event text, a dose scanned
            event(2, "11:00", "Insulin"),  # the patient's own pump
            event(3, "12:00", "Furosemide", ""),  # no event text, nothing scanned
        ],
        emar_detail=[
            parent("900-1"),
            product("900-1", "VIAL", "Furosemide 40 mg/4 mL Vial", "40"),
            parent("900-2", "Insulin SC Pump (Self Administering Medication)"),
            product("900-2", "", "", "0.6", "units"),
        ],
        pharmacy=orders("Furosemide", IV=10),
    )
    record = imported(coder, root)["900-ed-31"]
    assert list(by_id(record)) == ["900-1"]
    found = findings(record)
    assert (
        found["mimic-given-not-charted"]["severity"],
        found["mimic-given-not-charted"]["administrations"],
    ) == (
        "error",
        ["900-1"],
    )
    assert found["mimic-self-administered"]["source"] == "emar_id 900-2"
    assert found["mimic-unknown-event"]["source"] == "emar_id 900-3"
    assert lines(coder, record) == Counter({"96374": 1})


def test_start_and_stop_pair_on_the_order_when_one_event_has_no_pharmacy_id(
    coder: Coder, tmp_path: Path
) -> None:
    root = write_folder(
        tmp_path,
        transfers=[ed_visit()],
        emar=[
            event(1, "09:00", "", "Started", poe="900-lr"),
            event(2, "12:00", "", "Stopped", poe="900-lr", pharmacy="lr1"),
        ],
        emar_detail=[parent("900-1", "IV Infusion", infusion_rate="150", infusion_rate_unit="mL/hr")],
        pharmacy=[
            {
                "subject_id": "900",
                "pharmacy_id": "lr1",
                "poe_id": "900-lr",
                "medication": "",
                "proc_type": "IV Large Volume",
                "route": "IV",
                "infusion_type": "C",
            }
        ],
        prescriptions=[
            {"subject_id": "900", "pharmacy_id": "lr1", "drug_type": "BASE", "drug": "Lactated Ringers"}
        ],
    )
    record = imported(coder, root)["900-ed-31"]
    (fluid,) = record["administrations"]
    assert (fluid["substance"], fluid["start"], fluid["end"]) == (
        "Lactated Ringers",
        "2100-01-01T09:00",
        "2100-01-01T12:00",
    )
    assert "mimic-stop-without-start" not in findings(record)
    assert lines(coder, record) == Counter({"96360": 1, "96361": 2})


def test_a_reordered_drip_pairs_through_its_pharmacy_dispensing(coder: Coder, tmp_path: Path) -> None:
    drip = {
        "subject_id": "900",
        "pharmacy_id": "d1",
        "medication": "Propofol",
        "proc_type": "IV Piggyback",
        "route": "IV DRIP",
    }
    root = write_folder(
        tmp_path,
        transfers=[ed_visit()],
        emar=[
            event(1, "09:00", "Propofol", "Started", poe="900-a", pharmacy="d1"),
            event(2, "11:00", "Propofol", "Stopped", poe="900-b", pharmacy="d1"),  # the dose was re-ordered
            event(
                3, "12:00", "Heparin", "Started", poe="900-c", pharmacy="d1"
            ),  # linked to another drug's order
            event(4, "13:00", "Heparin", "Stopped", poe="900-c"),
        ],
        emar_detail=[parent("900-3", "Heparin IV Infusion")],
        pharmacy=[drip],
    )
    record = imported(coder, root)["900-ed-31"]
    admins = by_id(record)
    assert (admins["900-1"]["start"][-5:], admins["900-1"]["end"][-5:]) == ("09:00", "11:00")
    assert (admins["900-3"]["start"][-5:], admins["900-3"]["end"][-5:]) == ("12:00", "13:00")
    assert not {"mimic-start-without-stop", "mimic-stop-without-start"} & set(findings(record))


def test_a_brand_the_table_does_not_know_takes_the_generic_name_of_the_product(
    coder: Coder, tmp_path: Path
) -> None:
    root = write_folder(
        tmp_path,
        transfers=[ed_visit()],
        emar=[event(1, "19:58", "Lantus")],  # nothing scanned but the product's generic name
        emar_detail=[product("900-1", "", "", "20", "UNIT", product_description_other="Insulin Glargine")],
        pharmacy=orders("Insulin", SC=20, IV=1),
    )
    record = imported(coder, root)["900-ed-31"]
    (lantus,) = record["administrations"]
    assert (lantus["substance"], lantus["route"]) == ("Lantus (Insulin Glargine)", "subcutaneous")
    assert (
        "insulin (any product): SC in 20, IV in 1 of 21 orders here"
        in findings(record)["route-inferred"]["message"]
    )
    assert lines(coder, record) == Counter({"96372": 1})


# --- damaged folders ------------------------------------------------------------------------------------


def small_folder(root: Path) -> Path:
    return write_folder(
        root,
        transfers=[ed_visit()],
        emar=[event(1, "09:25", "Morphine Sulfate"), event(2, "10:25", "Ondansetron")],
        emar_detail=[
            product("900-1", "mL", dose="4"),
            product("900-2", "VIAL", "Ondansetron 2mg/mL-2mL", "4"),
        ],
        pharmacy=orders("Morphine Sulfate", IV=9) + orders("Ondansetron", IV=9),
    )


def test_a_renamed_emar_column_is_one_error_naming_it(coder: Coder, tmp_path: Path) -> None:
    emar = small_folder(tmp_path) / "hosp" / "emar.csv"
    emar.write_text(emar.read_text().replace("charttime", "chart_time", 1))
    with pytest.raises(UnusableInput) as refused:
        list(read([Source("demo", path=tmp_path)], ImportOptions(), coder.reference.latest))
    assert str(refused.value) == (
        "demo: hosp/emar.csv has no column 'charttime' (closest header: 'chart_time'); nothing was imported"
    )


def test_a_damaged_optional_table_degrades_with_a_finding(coder: Coder, tmp_path: Path) -> None:
    hosp = small_folder(tmp_path) / "hosp"
    (hosp / "pharmacy.csv").unlink()
    (hosp / "pharmacy.csv.gz").write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\x00" * 20)
    record = imported(coder, tmp_path)["900-ed-31"]
    unreadable = findings(record)["mimic-table-unreadable"]
    assert unreadable["severity"] == "error"
    assert unreadable["message"].startswith("hosp/pharmacy.csv.gz: ")
    assert "order history" in unreadable["message"]
    assert "zlib" not in unreadable["message"]


def test_damaged_emar_rows_hold_their_encounter_and_the_run_goes_on(coder: Coder, tmp_path: Path) -> None:
    emar = small_folder(tmp_path) / "hosp" / "emar.csv"
    text = emar.read_text().splitlines()
    text[1] = text[1].replace(",1,", ",one,", 1)  # emar_seq that is not an integer: still read
    text.append("900,,900-3,3,900-p3")  # a short row
    text.append('900,,900-4,4,900-p4,,2100-01-01 11:00:00,"' + "x" * 200_000 + '",Administered')
    emar.write_text("\n".join(text) + "\n")
    loaded = load(tmp_path, ImportOptions(), coder.reference.latest)
    (built,) = loaded.encounters
    assert [a["id"] for a in built.record["administrations"]] == ["900-1", "900-2"]
    messages = [e["error"]["message"] for e in loaded.errors]
    assert messages == [
        "hosp/emar.csv line 4: 5 cells where the header has 9; the row was not read and belongs to no "
        "encounter read",
        "hosp/emar.csv line 5: a cell of 200,000 characters (more than the 65,536 a cell may hold); the row was "
        "not read and belongs to no encounter read",
    ]
    counts = accounting(loaded)
    assert sum(counts.values()) == loaded.rows == 4 and counts["damaged"] == 2


def test_a_damaged_row_that_names_its_admission_holds_it(coder: Coder, tmp_path: Path) -> None:
    root = admission_folder(tmp_path, "EU OBSERVATION", "Medicine", ["G0378"])
    emar = root / "hosp" / "emar.csv"
    emar.write_text(emar.read_text() + "900,700,900-2,2,900-p2,h1,2100-01-01 13:00:00\n")
    record = imported(coder, root)["700"]
    damaged = findings(record)["mimic-row-damaged"]
    assert damaged["severity"] == "error"
    assert damaged["message"].startswith("hosp/emar.csv line 3: 7 cells where the header has 9")


# --- the real demo --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(coder: Coder) -> Any:
    return load(DEMO, ImportOptions(), coder.reference.latest)


@needs_demo
def test_demo_every_event_accounted_and_no_inpatient_stay_gives_a_line(coder: Coder, demo: Any) -> None:
    assert demo.errors == []
    counts = accounting(demo)
    assert counts["unaccounted"] == 0
    assert sum(counts.values()) == demo.rows == 35_835
    kinds = Counter(b.stay.klass for b in demo.encounters)
    assert kinds["inpatient"] > 100 and kinds["outpatient"] > 50
    for built in demo.encounters:
        result = coder.code(Encounter.model_validate(built.record))
        if built.stay.inpatient:
            assert result.lines == [], built.stay.id
        in_results = {a for line in result.lines for a in line.administrations}
        in_results |= {a for finding in result.findings for a in finding.administrations}
        for administration in built.record["administrations"]:
            assert administration["id"] in in_results  # in a line, or named by a finding


@needs_demo
def test_demo_classes_follow_the_hospitals_billing(demo: Any) -> None:
    stays = {b.stay.id: b.stay for b in demo.encounters}
    with gzip.open(DEMO / "hosp" / "admissions.csv.gz", "rt") as handle:
        admissions = list(csv.DictReader(handle))
    for admission in admissions:
        stay = stays.get(admission["hadm_id"])
        if stay is None:
            continue
        if (
            admission["admission_type"] == "OBSERVATION ADMIT"
            or "OBSERVATION" not in admission["admission_type"]
        ):
            assert stay.klass == "inpatient", admission["hadm_id"]
        else:
            assert stay.klass == "outpatient", admission["hadm_id"]


@needs_demo
def test_demo_route_evidence_is_named_from_this_sites_orders(demo: Any) -> None:
    messages = [
        f["message"]
        for b in demo.encounters
        for f in b.record["source_findings"]
        if f["id"] == "route-inferred"
    ]
    assert any("Ondansetron injectable: IV in 158 of 158 orders here" in m for m in messages)
    assert any("Morphine Sulfate injectable: IV in 108 of 108 orders here" in m for m in messages)
