"""FHIR import and export: the official R4 examples, round trips of every gold case through R4 and R5
Bundles and Bulk Data NDJSON, broken resources, statuses, grouping and the command line."""

from __future__ import annotations

import copy
import gzip
import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.bundle import Bundle as BundleR5
from fhir.resources.R4B.bundle import Bundle as BundleR4B
from typer.testing import CliRunner

from infusion_coder import Coder
from infusion_coder.cli import app
from infusion_coder.formats import ImportOptions, Source, fhir, reader
from infusion_coder.models import CodingResult, Encounter

SHARED = Path(__file__).resolve().parents[2] / "shared"
EXAMPLES = SHARED / "data" / "fhir-r4-examples"
GOLD = [json.loads(line) for path in sorted((SHARED / "cases").glob("*.jsonl")) for line in path.open()]
needs_examples = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="no ../shared/data/fhir-r4-examples")
needs_gold = pytest.mark.skipif(not GOLD, reason="no ../shared/cases beside the checkout")
VERSIONS: Sequence[fhir.Version] = ("R4", "R5")


def imported(
    coder: Coder, *payloads: Any, options: ImportOptions | None = None, paths: Sequence[Path] = ()
) -> list[dict[str, Any]]:
    sources = [Source(f"in{i}.json", data=json.dumps(p).encode()) for i, p in enumerate(payloads)]
    sources += [Source(p.name, path=p) for p in paths]
    return list(fhir.read(sources, options or ImportOptions(), coder.reference.latest))


def lines_of(result: CodingResult) -> list[tuple[str, int, tuple[str, ...], str]]:
    return sorted((line.code, line.units, tuple(line.modifiers), str(line.date)) for line in result.lines)


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / f"medicationadministration{name}.json").read_text())
    return loaded


def options_for(encounter: Encounter) -> ImportOptions:
    """What a Bundle does not carry (billing context) is given on the command line."""
    return ImportOptions(claim_type=encounter.claim_type.value, place_of_service=encounter.place_of_service)


# ------------------------------------------------------------------ the official R4 examples


@needs_examples
def test_every_example_validates_and_every_resource_is_accounted_for(coder: Coder) -> None:
    files = sorted(EXAMPLES.glob("*.json"))
    assert len(files) == 14
    records = imported(coder, paths=files)
    assert all("error" not in r for r in records)
    ids = {a["id"].split("/")[0] for r in records for a in r["administrations"]}
    sources = {f["source"] for r in records for f in r["source_findings"]}
    assert not any(f["id"] == "invalid-resource" for r in records for f in r["source_findings"])
    for path in files:
        rid = json.loads(path.read_text())["id"]
        assert rid in ids or f"MedicationAdministration/{rid}" in sources, rid
    # Encounter/f001 from `context`; the rest have none and group by subject and date, said in a finding
    assert [r["encounter_id"] for r in records] == ["f001", "pat1-2015-01-15"]
    assert any(f["id"] == "no-encounter-reference" for f in records[1]["source_findings"])


@needs_examples
def test_iv_push_example(coder: Coder) -> None:
    (record,) = imported(coder, example("0301"))
    (admin,) = record["administrations"]
    assert admin["id"] == "medadmin0301"
    assert admin["substance"].startswith("Vancomycin")
    assert admin["ndc"] == "0069-2587-10"
    assert (admin["route"], admin["method"]) == ("intravenous", "push")
    assert admin["start"] == "2015-01-15T14:30:00+01:00"  # exactly as the source gives it
    assert (admin["dose"], admin["dose_unit"]) == (500, "mg")
    assert admin["administered_by"] == "Patrick Pump"
    assert "indication" not in admin  # "Given as Ordered" is workflow, not a reason for the drug
    result = coder.code(Encounter.model_validate(record))
    assert lines_of(result) == [("96374", 1, (), "2015-01-15")]


@needs_examples
def test_continuous_infusion_with_rate_is_a_mixed_bag(coder: Coder) -> None:
    (record,) = imported(coder, example("0302"))
    admins = record["administrations"]
    assert [a["id"] for a in admins] == ["medadmin0302/1", "medadmin0302/2"]
    assert {a["mix"] for a in admins} == {"medadmin0302"}
    assert [a["rxnorm"] for a in admins] == ["204520", "313002"]
    assert all(a["rate_ml_per_hour"] == 100 and a["method"] == "infusion" for a in admins)
    assert admins[0]["end"] == "2015-01-15T14:30:00+01:00"
    result = coder.code(Encounter.model_validate(record))
    codes = {line.code: line.units for line in result.lines}
    assert codes == {"96365": 1, "96366": 9}  # 04:30-14:30: one initial hour and nine more
    assert all(set(line.administrations) == {"medadmin0302/1", "medadmin0302/2"} for line in result.lines)


@needs_examples
def test_entered_in_error_is_skipped_with_a_finding(coder: Coder) -> None:
    (record,) = imported(coder, example("0303"))
    assert record["administrations"] == []
    (finding,) = record["source_findings"]
    assert finding["id"] == "entered-in-error" and finding["severity"] == "info"
    assert "medadmin0303" in finding["message"] and "entered-in-error" in finding["message"]
    result = coder.code(Encounter.model_validate(record))
    assert result.lines == []
    assert any(f.id == "entered-in-error" and f.rule == "IC505" for f in result.findings)


@needs_examples
@pytest.mark.parametrize(
    ("name", "route"), [("0306", "oral"), ("0310", "oral"), ("0311", "oral"), ("0312", "transdermal")]
)
def test_oral_and_patch_give_no_line(coder: Coder, name: str, route: str) -> None:
    (record,) = imported(coder, example(name))
    (admin,) = record["administrations"]
    assert admin["route"] == route
    result = coder.code(Encounter.model_validate(record))
    assert result.lines == []
    assert any(f.id in ("route-without-code", "unknown-substance") for f in result.findings)


@needs_examples
def test_a_patch_without_route_says_the_route_was_inferred(coder: Coder) -> None:
    (record,) = imported(coder, example("0312"))
    assert [f["id"] for f in record["source_findings"]] == ["route-inferred", "no-encounter-reference"]
    assert "dose unit" in record["source_findings"][0]["message"]


@needs_examples
def test_examples_in_a_bundle_and_as_ndjson_import_the_same(coder: Coder, tmp_path: Path) -> None:
    resources = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
    ndjson = tmp_path / "MedicationAdministration.ndjson"
    ndjson.write_text("\n".join(json.dumps(r) for r in resources) + "\n")
    assert imported(coder, searchset) == imported(coder, paths=[ndjson]) == imported(coder, *resources)


# ------------------------------------------------------------------ round trips of the gold cases


@needs_gold
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", GOLD, ids=[c["id"] for c in GOLD])
def test_gold_case_round_trips_through_a_bundle(
    coder: Coder, case: dict[str, Any], version: fhir.Version
) -> None:
    encounter = Encounter.model_validate(case["encounter"])
    bundle = fhir.write_bundle(encounter, version, pack=coder.reference.latest)
    (BundleR4B if version == "R4" else BundleR5).model_validate(bundle)
    (record,) = imported(coder, bundle, options=options_for(encounter))
    back = Encounter.model_validate(record)
    assert lines_of(coder.code(back)) == lines_of(coder.code(encounter))
    # not only the same coding: the same encounter, every field FHIR (or our extensions) carries
    assert back.model_dump(exclude_defaults=True) == encounter.model_dump(exclude_defaults=True)


@needs_gold
@pytest.mark.parametrize("version", VERSIONS)
def test_gold_cases_as_bulk_ndjson_import_the_same(
    coder: Coder, tmp_path: Path, version: fhir.Version
) -> None:
    encounters = [Encounter.model_validate(c["encounter"]) for c in GOLD]
    paths = fhir.write_ndjson(encounters, tmp_path, version, pack=coder.reference.latest)
    assert sorted(p.name for p in paths) == [
        "Encounter.ndjson",
        "Medication.ndjson",
        "MedicationAdministration.ndjson",
    ]
    # mixed bags refer to Medication resources in their own file, as a Bulk Data export has them
    assert "Medication/" in (tmp_path / "MedicationAdministration.ndjson").read_text()
    records = imported(coder, paths=[tmp_path])  # a folder: every file in it
    assert [r["encounter_id"] for r in records] == [e.encounter_id for e in encounters]
    for encounter, record in zip(encounters, records, strict=True):
        back = Encounter.model_validate({**record, "claim_type": encounter.claim_type.value})
        back = back.model_copy(update={"place_of_service": encounter.place_of_service})
        assert lines_of(coder.code(back)) == lines_of(coder.code(encounter)), encounter.encounter_id


def test_ids_that_are_not_fhir_ids_survive_and_times_keep_the_zone(coder: Coder) -> None:
    encounter = Encounter.model_validate(
        {
            "encounter_id": "ED visit 2026/01/15 #7",
            "claim_type": "institutional",
            "timezone": "America/Chicago",
            "administrations": [
                {
                    "id": "order 1_a",
                    "substance": "ondansetron",
                    "route": "intravenous",
                    "start": "2026-01-15T10:05",
                }
            ],
        }
    )
    bundle = fhir.write_bundle(encounter, "R5", pack=coder.reference.latest)
    BundleR5.model_validate(bundle)
    resource = bundle["entry"][1]["resource"]
    assert resource["occurenceDateTime"] == "2026-01-15T10:05:00-06:00"
    (record,) = imported(coder, bundle)
    assert record["encounter_id"] == "ED visit 2026/01/15 #7"
    assert record["administrations"][0]["id"] == "order 1_a"
    assert record["timezone"] == "America/Chicago"
    assert record["administrations"][0]["start"] == "2026-01-15T10:05:00-06:00"


# ------------------------------------------------------------------ broken input, statuses, grouping


def _bundle(coder: Coder, version: fhir.Version = "R4") -> dict[str, Any]:
    encounter = Encounter.model_validate(
        {
            "encounter_id": "E1",
            "claim_type": "institutional",
            "administrations": [
                {"id": "a1", "substance": "normal saline", "category": "hydration", "route": "intravenous",
                 "start": "2026-01-15T09:00", "end": "2026-01-15T11:00"},
                {"id": "a2", "substance": "ondansetron", "route": "intravenous", "method": "push",
                 "start": "2026-01-15T09:30"},
                {"id": "a3", "substance": "ketorolac", "route": "intravenous", "method": "push",
                 "start": "2026-01-15T10:00"},
            ],
        }
    )  # fmt: skip
    return fhir.write_bundle(encounter, version, pack=coder.reference.latest)


def _resource(bundle: dict[str, Any], admin_id: str) -> dict[str, Any]:
    for entry in bundle["entry"]:
        resource: dict[str, Any] = entry["resource"]
        if any(i["value"] == admin_id for i in resource.get("identifier", [])):
            return resource
    raise KeyError(admin_id)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_broken_resource_is_a_finding_and_the_rest_imports(coder: Coder, version: fhir.Version) -> None:
    bundle = _bundle(coder, version)
    _resource(bundle, "a3")["dosage"]["rateQuantity"] = {"value": "fast", "unit": "mL/h"}
    (record,) = imported(coder, bundle)
    assert [a["id"] for a in record["administrations"]] == ["a1", "a2"]
    (finding,) = record["source_findings"]
    assert finding["id"] == "invalid-resource" and finding["severity"] == "error"
    assert "MedicationAdministration/E1-a3" in finding["message"]
    assert "dosage.rateQuantity.value" in finding["message"] and "'fast'" in finding["message"]
    result = coder.code(Encounter.model_validate(record))
    assert [line.code for line in result.lines] == ["96374", "96361"]
    assert result.readiness == "hold"  # an error finding holds the claim until someone looks


def test_a_broken_resource_with_no_encounter_is_an_error_object(coder: Coder) -> None:
    bundle = _bundle(coder)
    broken = _resource(bundle, "a2")
    del broken["context"], broken["subject"]
    broken["effectiveDateTime"] = "yesterday"
    records = imported(coder, bundle)
    errors = [r for r in records if "error" in r]
    assert len(errors) == 1 and "MedicationAdministration/E1-a2" in errors[0]["error"]["message"]
    assert errors[0]["error"]["field"] == "effectiveDateTime"
    assert "'yesterday'" in errors[0]["error"]["message"]
    (record,) = [r for r in records if "error" not in r]
    assert [a["id"] for a in record["administrations"]] == ["a1", "a3"]


def test_unreadable_lines_and_files_are_error_objects(coder: Coder, tmp_path: Path) -> None:
    good = [e["resource"] for e in _bundle(coder)["entry"]]
    path = tmp_path / "export.ndjson"
    path.write_text(
        "\n".join([json.dumps(good[0]), "{not json", json.dumps({"id": "x"}), *map(json.dumps, good[1:])])
    )
    (junk := tmp_path / "junk.json").write_text("<xml/>")
    records = imported(coder, paths=[path, junk])
    messages = [r["error"]["message"] for r in records if "error" in r]
    assert messages == [
        "export.ndjson line 2 is not valid JSON: Expecting property name enclosed in double quotes at column 2",
        "export.ndjson line 3: not a FHIR resource (no resourceType)",
        "junk.json: not JSON, nor NDJSON (no JSON in its first lines)",
    ]
    (record,) = [r for r in records if "error" not in r]
    assert len(record["administrations"]) == 3


@pytest.mark.parametrize(
    ("status", "kept", "finding", "severity"),
    [
        ("completed", True, None, None),
        ("in-progress", True, None, None),
        ("on-hold", True, None, None),
        ("stopped", True, None, None),
        ("not-done", False, "administration-not-done", "info"),
        ("entered-in-error", False, "entered-in-error", "info"),
        ("unknown", True, "administration-status-unknown", "warning"),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_statuses(
    coder: Coder, version: fhir.Version, status: str, kept: bool, finding: str | None, severity: str | None
) -> None:
    bundle = _bundle(coder, version)
    _resource(bundle, "a2")["status"] = status
    (record,) = imported(coder, bundle)
    assert ("a2" in [a["id"] for a in record["administrations"]]) is kept
    assert [(f["id"], f["severity"]) for f in record["source_findings"]] == (
        [(finding, severity)] if finding else []
    )
    if finding:
        assert "MedicationAdministration/E1-a2" in record["source_findings"][0]["message"]


@pytest.mark.parametrize("version", VERSIONS)
def test_inpatient_encounter_belongs_to_the_inpatient_claim(coder: Coder, version: fhir.Version) -> None:
    bundle = fhir.write_bundle(
        Encounter.model_validate(_encounter_of(coder, version)), version, encounter_class="IMP"
    )
    (record,) = imported(coder, bundle)
    assert record["administrations"] == []
    (finding,) = record["source_findings"]
    assert (finding["id"], finding["severity"], finding["source"]) == (
        "inpatient-stay",
        "info",
        "Encounter/E1",
    )
    assert finding["message"].startswith("Encounter/E1 has class IMP: an inpatient stay")
    assert "3 administration(s) (a1, a2, a3) are left out" in finding["message"]
    assert "--include-inpatient" in finding["message"]
    (asked,) = imported(coder, bundle, options=ImportOptions(include_inpatient=True))
    assert len(asked["administrations"]) == 3
    (warning,) = asked["source_findings"]
    assert (warning["id"], warning["severity"]) == ("inpatient-stay", "warning")
    emergency = fhir.write_bundle(
        Encounter.model_validate(_encounter_of(coder, version)), version, encounter_class="EMER"
    )
    (ed,) = imported(coder, emergency)
    assert len(ed["administrations"]) == 3 and ed["source_findings"] == []


def _encounter_of(coder: Coder, version: fhir.Version) -> dict[str, Any]:
    (record,) = imported(coder, _bundle(coder, version))
    return record


def test_options_set_claim_type_place_of_service_policy_and_zone(coder: Coder) -> None:
    options = ImportOptions(
        timezone="America/New_York", claim_type="professional", place_of_service="22", policy="cpt"
    )
    (record,) = imported(coder, _bundle(coder), options=options)
    assert (record["claim_type"], record["place_of_service"], record["policy"], record["timezone"]) == (
        "professional", "22", "cpt", "America/New_York"
    )  # fmt: skip


def test_references_across_resources_resolve(coder: Coder) -> None:
    """An R5 export: the Medication, the order and the reason are separate resources in the Bundle."""
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"coding": [{"system": fhir.RXNORM, "code": "1740467", "display": "ondansetron 2 MG/ML"}]},
    }
    order = {
        "resourceType": "MedicationRequest",
        "id": "rx1",
        "status": "completed",
        "intent": "order",
        "medication": {"reference": {"reference": "Medication/m1"}},
        "subject": {"reference": "Patient/p1"},
        "requester": {"display": "Dr Order"},
    }
    condition = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                 "code": {"text": "nausea"}}  # fmt: skip
    encounter = {"resourceType": "Encounter", "id": "v9", "status": "completed",
                 "class": [{"coding": [{"system": fhir.ACT_CODE, "code": "EMER"}]}]}  # fmt: skip
    administration = {
        "resourceType": "MedicationAdministration",
        "id": "ma1",
        "status": "completed",
        "medication": {"reference": {"reference": "urn:uuid:7c1d"}},
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "https://ehr.example.org/fhir/Encounter/v9"},
        "occurencePeriod": {"start": "2026-01-15T09:00:00-05:00", "end": "2026-01-15T09:20:00-05:00"},
        "request": {"reference": "MedicationRequest/rx1"},
        "reason": [{"reference": {"reference": "Condition/c1"}}],
        "performer": [{"actor": {"reference": {"display": "RN Given"}}}],
        "dosage": {
            "route": {"text": "IV"},
            "method": {"text": "slow push over 3 minutes"},
            "site": {"text": "L forearm PIV"},
            "dose": {"value": 4, "unit": "mg"},
            "rateRatio": {"numerator": {"value": 1, "unit": "L"}, "denominator": {"value": 2, "unit": "h"}},
        },
    }
    entries = [{"fullUrl": "urn:uuid:7c1d", "resource": medication}] + [
        {"resource": r} for r in (order, condition, encounter, administration)
    ]
    (record,) = imported(coder, {"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert record["encounter_id"] == "v9"
    assert record["administrations"] == [
        {
            "id": "ma1",
            "substance": "ondansetron 2 MG/ML",
            "rxnorm": "1740467",
            "start": "2026-01-15T09:00:00-05:00",
            "end": "2026-01-15T09:20:00-05:00",
            "route": "intravenous",
            "method": "push",
            "access": "L forearm PIV",
            "dose": 4.0,
            "dose_unit": "mg",
            "rate_ml_per_hour": 500.0,
            "administered_by": "RN Given",
            "ordered_by": "Dr Order",
            "indication": "nausea",
        }
    ]


def test_an_unknown_route_passes_through_for_the_engine_to_flag(coder: Coder) -> None:
    bundle = _bundle(coder)
    _resource(bundle, "a2")["dosage"]["route"] = {
        "coding": [{"system": "urn:local", "code": "X9", "display": "Via the moon"}]
    }
    (record,) = imported(coder, bundle)
    assert record["administrations"][1]["route"] == "Via the moon"
    result = coder.code(Encounter.model_validate(record))
    # an unresolvable route holds the claim (issue 10): a billable line may hide behind it
    assert any(f.id == "route-unresolved" and f.administrations == ["a2"] for f in result.findings)
    assert result.readiness == "hold"


def test_registered_as_fhir(coder: Coder) -> None:
    assert reader("fhir").__qualname__.startswith("guarded")  # fhir.read behind the shared guard
    assert list(
        reader("fhir")(
            [Source("x.json", data=b'{"resourceType": "Patient"}')], ImportOptions(), coder.reference.latest
        )
    ) == list(
        fhir.read(
            [Source("x.json", data=b'{"resourceType": "Patient"}')], ImportOptions(), coder.reference.latest
        )
    )


def test_r4_json_is_read_with_r4b_models_and_r5_with_r5() -> None:
    r4 = {"resourceType": "MedicationAdministration", "status": "completed", "effectiveDateTime": "2026-01-15",
          "medicationCodeableConcept": {"text": "x"}, "subject": {"display": "p"}}  # fmt: skip
    r5 = {"resourceType": "MedicationAdministration", "status": "completed", "occurenceDateTime": "2026-01-15",
          "medication": {"concept": {"text": "x"}}, "subject": {"display": "p"}}  # fmt: skip
    assert fhir._validate(r4) == ("R4", None, None)
    assert fhir._validate(r5) == ("R5", None, None)
    mixed = copy.deepcopy(r5) | {"context": {"reference": "Encounter/e"}}
    version, problem, element = fhir._validate(mixed)
    assert version == "R5" and problem is not None and element == "context"


# ------------------------------------------------------------------ command line


def test_cli_import_and_code_from_fhir(coder: Coder, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(_bundle(coder)))
    runner = CliRunner()
    run = runner.invoke(app, ["import", "fhir", str(path), "--timezone", "America/Chicago"])
    assert run.exit_code == 0, run.output
    (record,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert record["encounter_id"] == "E1" and record["timezone"] == "America/Chicago"
    run = runner.invoke(app, ["code", "--from", "fhir", str(path)])
    assert run.exit_code == 0, run.output
    (result,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["code"] for line in result["lines"]] == ["96374", "96361", "96375"]


@needs_examples
def test_cli_codes_the_iv_push_example() -> None:
    run = CliRunner().invoke(
        app, ["code", "--from", "fhir", str(EXAMPLES / "medicationadministration0301.json")]
    )
    assert run.exit_code == 0, run.output
    (result,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(line["code"], line["administrations"]) for line in result["lines"]] == [
        ("96374", ["medadmin0301"])
    ]


def test_a_logical_encounter_reference_groups_by_the_visit_number(coder: Coder) -> None:
    bundle = _bundle(coder)
    for entry in bundle["entry"][1:]:
        entry["resource"]["context"] = {"identifier": {"system": "urn:visit", "value": "V-100"}}
    (record,) = imported(coder, bundle)
    assert record["encounter_id"] == "V-100" and len(record["administrations"]) == 3


@pytest.mark.parametrize("seed", range(4))
def test_mangled_input_never_raises(coder: Coder, seed: int) -> None:
    """Random elements replaced by junk: every run ends in encounters or error objects, never an exception."""
    rng = random.Random(seed)
    junk: list[Any] = [
        None,
        1,
        -3.5,
        "x",
        "",
        [],
        {},
        [1],
        {"a": 1},
        True,
        "2026-13-45T99:00",
        {"reference": "#no"},
    ]
    for _ in range(40):
        document = _bundle(coder, rng.choice(VERSIONS))
        for _ in range(rng.randint(1, 3)):
            paths = list(_paths(document))
            *parents, last = rng.choice(paths)
            target: Any = document
            for step in parents:
                target = target[step]
            target[last] = copy.deepcopy(rng.choice(junk))
        for record in imported(coder, document):
            if "error" in record:
                assert record["error"]["message"]
            else:
                coder.code(Encounter.model_validate(record))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, inner in items:
        yield (*prefix, key)
        yield from _paths(inner, (*prefix, key))


def test_a_folder_reads_only_json_and_ndjson_and_a_foreign_file_is_one_error(
    coder: Coder, tmp_path: Path
) -> None:
    resource = {
        "resourceType": "MedicationAdministration",
        "id": "m1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "ondansetron 4 mg"},
        "effectivePeriod": {"start": "2026-01-15T09:00:00Z", "end": "2026-01-15T09:02:00Z"},
        "dosage": {"route": {"text": "intravenous"}},
    }
    (tmp_path / "admins.ndjson.gz").write_bytes(gzip.compress(json.dumps(resource).encode() + b"\n"))
    (tmp_path / "stays.csv.gz").write_bytes(gzip.compress(b"a,b\n" + b"1,2\n" * 500))  # not FHIR: skipped
    (tmp_path / "notes.ndjson").write_text("id,text\n" + "1,x\n" * 500)  # named NDJSON, holds CSV
    records = imported(coder, paths=[tmp_path])
    errors = [r["error"]["message"] for r in records if "error" in r]
    assert errors == [f"{tmp_path.name}/notes.ndjson: not JSON, nor NDJSON (no JSON in its first lines)"]
    [encounter] = [r for r in records if "error" not in r]
    assert [a["id"] for a in encounter["administrations"]] == ["m1"]
    empty = tmp_path / "csv-only"
    empty.mkdir()
    (empty / "admissions.csv.gz").write_bytes(gzip.compress(b"a\n1\n"))
    [only] = imported(coder, paths=[empty])
    assert only["error"]["message"] == "csv-only: no .json or .ndjson files (gzipped or not) to read"


# ------------------------------------------------------------------ Bundles as scopes (issue 15)


def _reuse_ids(bundle: dict[str, Any], local: bool = False) -> dict[str, Any]:
    """As an interface engine writes one Bundle per encounter: administration ids a1, a2, ... in every
    Bundle (and with `local`, urn:uuid fullUrls and the Encounter always "enc", without our identifier)."""
    bundle = copy.deepcopy(bundle)
    tag = random.Random(json.dumps(bundle, sort_keys=True)).getrandbits(64)
    number = 0
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MedicationAdministration":
            number += 1
            resource["id"] = f"a{number}"
        elif local:
            resource["id"] = "enc"
        if local:
            entry["fullUrl"] = f"urn:uuid:{tag:016x}-{resource['id']}"
            for key in ("context", "encounter"):
                if key in resource:
                    resource[key] = {"reference": f"urn:uuid:{tag:016x}-enc"}
        else:
            entry["fullUrl"] = f"{fhir.BASE_URL}{resource['resourceType']}/{resource['id']}"
    return bundle


@needs_gold
@pytest.mark.parametrize("version", VERSIONS)
def test_a_file_of_bundles_reusing_ids_keeps_every_encounter_apart(
    coder: Coder, tmp_path: Path, version: fhir.Version
) -> None:
    """One Bundle per line, each with administrations a1, a2, ...: every gold case comes back with its own
    administrations and codes as it does alone (before: mixed, then "min() arg is an empty sequence")."""
    by_context: dict[tuple[str, str | None], list[Encounter]] = {}
    for case in GOLD:
        encounter = Encounter.model_validate(case["encounter"])
        by_context.setdefault((encounter.claim_type.value, encounter.place_of_service), []).append(encounter)
    for (claim_type, place), encounters in by_context.items():
        path = tmp_path / f"{claim_type}-{place}.ndjson"
        bundles = [_reuse_ids(fhir.write_bundle(e, version, pack=coder.reference.latest)) for e in encounters]
        path.write_text("".join(json.dumps(b) + "\n" for b in bundles))
        options = ImportOptions(claim_type=claim_type, place_of_service=place)
        records = imported(coder, paths=[path], options=options)
        assert [r["encounter_id"] for r in records] == [e.encounter_id for e in encounters]
        for encounter, record in zip(encounters, records, strict=True):
            assert [a["substance"] for a in record["administrations"]] == [
                a.substance for a in encounter.administrations
            ], encounter.encounter_id
            assert lines_of(coder.code(Encounter.model_validate(record))) == lines_of(coder.code(encounter))


def test_bundles_with_bundle_local_ids_are_separate_encounters(coder: Coder) -> None:
    """urn:uuid fullUrls and the same Encounter id "enc" in every Bundle: the ids are the Bundle's own, so
    each Bundle is its own encounter, and a warning says the id is used for several."""
    first, second = (
        _reuse_ids(
            fhir.write_bundle(Encounter.model_validate(case["encounter"]), pack=coder.reference.latest), True
        )
        for case in (GOLD[0], GOLD[1])
    )
    for bundle in (first, second):
        bundle["entry"][0]["resource"].pop("identifier")
    data = (json.dumps(first) + "\n" + json.dumps(second) + "\n").encode()
    records = list(fhir.read([Source("b.ndjson", data=data)], ImportOptions(), coder.reference.latest))
    assert [r["encounter_id"] for r in records] == ["enc", "enc"]
    assert [len(r["administrations"]) for r in records] == [
        len(GOLD[0]["encounter"]["administrations"]),
        len(GOLD[1]["encounter"]["administrations"]),
    ]
    assert all("encounter-id-reused" in [f["id"] for f in r["source_findings"]] for r in records)


def _one_ma(rid: str = "a1", **more: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "context": {"reference": "Encounter/e1"},
        "medicationCodeableConcept": {"text": "ondansetron 4 mg"},
        "effectiveDateTime": "2026-01-15T09:00:00-05:00",
        "dosage": {"route": {"text": "intravenous"}, "method": {"text": "IV push"}},
    }
    resource.update(more)
    return resource


ENCOUNTER_E1 = {"resourceType": "Encounter", "id": "e1", "status": "finished",
                "class": {"system": fhir.ACT_CODE, "code": "EMER"}}  # fmt: skip


def _bundle_of(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def test_a_duplicate_id_in_one_bundle_is_a_finding_never_a_crash(coder: Coder) -> None:
    same = _bundle_of(ENCOUNTER_E1, _one_ma(), _one_ma())
    (record,) = imported(coder, same)
    assert [a["id"] for a in record["administrations"]] == ["a1"]
    assert [(f["id"], f["severity"]) for f in record["source_findings"]] == [("duplicate-resource", "info")]
    other = _one_ma(medicationCodeableConcept={"text": "ketorolac 15 mg"})
    (record,) = imported(coder, _bundle_of(ENCOUNTER_E1, _one_ma(), other))
    assert [a["substance"] for a in record["administrations"]] == ["ondansetron 4 mg"]
    (finding,) = record["source_findings"]
    assert (finding["id"], finding["severity"]) == ("duplicate-resource", "error")  # held: which is right?
    assert "different content" in finding["message"]
    assert coder.code_record(record).readiness == "hold"  # type: ignore[union-attr]


@pytest.mark.parametrize("contained", [5, "x", {"resourceType": "Encounter"}, [1, None], [{"id": 3}]])
def test_a_duplicate_with_an_odd_contained_is_read_without_a_crash(coder: Coder, contained: Any) -> None:
    """Before: TypeError out of the reader (a duplicate's encounter looked up in `contained`)."""
    odd = _one_ma(contained=contained, context={"reference": "#enc"})
    records = imported(coder, _bundle_of(ENCOUNTER_E1, _one_ma(), odd, _one_ma("a2")))
    assert all(("error" in r) != ("administrations" in r) for r in records)
    assert not any("internal error" in r["error"]["message"] for r in records if "error" in r)
    (record,) = [r for r in records if r.get("encounter_id") == "e1"]
    assert [a["id"] for a in record["administrations"]] == ["a1", "a2"]
    odd_answer = [r for r in records if r is not record] + [
        f for f in record["source_findings"] if "a1" in f["message"]
    ]
    assert odd_answer  # the odd copy is answered for: an error object or a finding


# ------------------------------------------------------------------ the route and the setting (issue 15)


@pytest.mark.parametrize(
    ("method", "named"),
    [({"text": "IV push"}, "96374"), ({"text": "injection"}, "96372"), (None, "96365")],
)
def test_a_record_with_no_route_is_one_held_finding_naming_the_candidates(
    coder: Coder, method: Any, named: str
) -> None:
    resource = _one_ma()
    resource["dosage"] = {"method": method} if method else {}
    (record,) = imported(coder, _bundle_of(ENCOUNTER_E1, resource))
    (admin,) = record["administrations"]
    assert admin["route"] == "unspecified"  # imported, so a coder can set it and code it
    (finding,) = record["source_findings"]
    assert (finding["id"], finding["severity"], finding["administrations"]) == (
        "route-missing",
        "error",
        ["a1"],
    )
    assert "documents no route" in finding["message"] and "a coder must confirm" in finding["message"]
    assert named in finding["message"]
    result = coder.code_record(record)
    assert isinstance(result, CodingResult)
    about = [f for f in result.findings if "a1" in f.administrations]
    assert [f.id for f in about] == ["route-missing"]  # one fact, one finding: no route-unresolved beside it
    assert "routes.csv" not in " ".join(f.message for f in result.findings)
    assert result.readiness == "hold" and result.lines == []


@pytest.mark.parametrize(
    ("code", "kept", "finding"),
    [
        ("AMB", True, None),
        ("EMER", True, None),
        ("OBSENC", True, None),
        ("IMP", False, "inpatient-stay"),
        ("ACUTE", False, "inpatient-stay"),
        ("NONAC", False, "inpatient-stay"),
        ("SS", True, "setting-unknown"),
        (None, True, "setting-unknown"),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_the_setting_comes_from_encounter_class_only(
    coder: Coder, version: fhir.Version, code: str | None, kept: bool, finding: str | None
) -> None:
    bundle = _bundle(coder, version)
    encounter = bundle["entry"][0]["resource"]
    if code is None:
        del encounter["class"]
    elif version == "R4":
        encounter["class"] = {"system": fhir.ACT_CODE, "code": code}
    else:
        encounter["class"] = [{"coding": [{"system": fhir.ACT_CODE, "code": code}]}]
    (record,) = imported(coder, bundle)
    assert (len(record["administrations"]) == 3) is kept and (record["administrations"] == []) is not kept
    found = [(f["id"], f["severity"]) for f in record["source_findings"]]
    expected = {None: [], "inpatient-stay": [("inpatient-stay", "info")],
                "setting-unknown": [("setting-unknown", "error")]}[finding]  # fmt: skip
    assert found == expected
    if finding == "inpatient-stay":
        assert f"class {code}" in record["source_findings"][0]["message"]
        assert "3 administration(s)" in record["source_findings"][0]["message"]
    if finding == "setting-unknown":
        result = coder.code_record(record)
        assert result.readiness == "hold"  # type: ignore[union-attr]
        # a professional claim carries the setting in its place of service: nothing to hold
        (professional,) = imported(coder, bundle, options=ImportOptions(claim_type="professional"))
        assert professional["source_findings"] == []


def test_an_encounter_not_in_the_input_is_held_unless_nothing_could_be_billed(coder: Coder) -> None:
    (record,) = imported(coder, _one_ma())  # Encounter/e1 is only referenced
    (finding,) = record["source_findings"]
    assert (finding["id"], finding["severity"]) == ("setting-unknown", "error")
    assert "'e1' is not in the input" in finding["message"]
    oral = _one_ma(dosage={"route": {"text": "oral"}})
    (record,) = imported(coder, oral)
    assert record["source_findings"] == []  # an oral dose gives no line: no reason to hold


# ------------------------------------------------------------------ hostile files (issue 16)


GOOD = json.dumps(_one_ma("good")) + "\n" + json.dumps(ENCOUNTER_E1) + "\n"


def _read_bytes(coder: Coder, name: str, data: bytes) -> list[dict[str, Any]]:
    return list(reader("fhir")([Source(name, data=data)], ImportOptions(), coder.reference.latest))


def _good_one_survives(records: list[dict[str, Any]]) -> list[str]:
    (encounter,) = [r for r in records if "error" not in r]
    assert [a["id"] for a in encounter["administrations"]] == ["good"]
    return [r["error"]["message"] for r in records if "error" in r]


@pytest.mark.parametrize("depth", [150, 5_000])
def test_deep_nesting_is_an_error_for_that_record_and_the_rest_imports(coder: Coder, depth: int) -> None:
    """Before: RecursionError, and with it the whole import, lost."""
    deep = json.dumps(_one_ma("deep")).replace(
        '"dosage"', '"extension": ' + "[" * depth + "]" * depth + ', "dosage"'
    )
    (message,) = _good_one_survives(_read_bytes(coder, "x.ndjson", (deep + "\n" + GOOD).encode()))
    assert "nested" in message and "x.ndjson line 1" in message


@pytest.mark.parametrize("digits", [400, 5_000])
def test_a_huge_number_is_an_error_for_that_record_and_the_rest_imports(coder: Coder, digits: int) -> None:
    """Before: ValueError (5,000 digits) or OverflowError (400) ended the import."""
    huge = json.dumps(_one_ma("huge")).replace('"status"', '"dose": ' + "9" * digits + ', "status"')
    (message,) = _good_one_survives(_read_bytes(coder, "x.ndjson", (huge + "\n" + GOOD).encode()))
    assert "x.ndjson line 1" in message and "digits" in message


def test_a_corrupt_gzip_file_is_one_error_and_the_folder_goes_on(coder: Coder, tmp_path: Path) -> None:
    data = gzip.compress(GOOD.replace("good", "lost").encode() * 50)
    (tmp_path / "a-broken.ndjson.gz").write_bytes(
        data[:20] + bytes(b ^ 0x5A for b in data[20:60]) + data[60:]
    )
    (tmp_path / "b-good.ndjson").write_text(GOOD)
    records = list(reader("fhir")([Source("export", path=tmp_path)], ImportOptions(), coder.reference.latest))
    (message,) = _good_one_survives(records)
    assert message == "export/a-broken.ndjson.gz: damaged gzip data (not a readable .gz file)"


@pytest.mark.parametrize("kind", ["bundle", "Bundle ", "BUNDLE", "Bundel"])
def test_a_bundle_whose_resource_type_is_not_exactly_bundle_is_an_error(coder: Coder, kind: str) -> None:
    """Before: its administrations were lost with exit 0."""
    bundle = {**_bundle_of(ENCOUNTER_E1, _one_ma("lost")), "resourceType": kind}
    records = _read_bytes(coder, "b.json", json.dumps(bundle).encode())
    (record,) = records
    assert "is not a FHIR resource type" in record["error"]["message"]
    assert record["error"]["message"].startswith("b.json: resourceType")


def test_entries_that_are_not_objects_or_hold_no_resource_are_errors(coder: Coder) -> None:
    bundle = _bundle_of(ENCOUNTER_E1, _one_ma("good"))
    bundle["entry"] += [
        5,
        "text",
        None,
        {"fullUrl": "urn:uuid:x"},
        {"request": {"method": "DELETE", "url": "X/1"}},
    ]
    messages = _good_one_survives(_read_bytes(coder, "b.json", json.dumps(bundle).encode()))
    assert messages == [
        "b.json entry 3: not an entry (5, not an object)",
        "b.json entry 4: not an entry ('text', not an object)",
        "b.json entry 5: not an entry (null, not an object)",
        "b.json entry 6: an entry with no resource",
    ]  # the DELETE request has no resource to read, rightly


def test_ndjson_lines_split_on_line_feeds_only(coder: Coder) -> None:
    """U+2028, U+2029, U+0085 and a lone CR inside a string split nothing (before: U+2028 made 3 lines of 2)."""
    weird = _one_ma("weird", medicationCodeableConcept={"text": "ondansetron\u2028 4 mg\u2029\x85 \r x"})
    data = (json.dumps(weird, ensure_ascii=False) + "\r\n" + GOOD).encode()
    records = _read_bytes(coder, "x.ndjson", data)
    assert all("error" not in r for r in records)
    (record,) = records
    assert [a["substance"] for a in record["administrations"]] == [
        "ondansetron\u2028 4 mg\u2029\x85 \r x",
        "ondansetron 4 mg",
    ]


def test_findings_echo_no_more_than_an_excerpt(coder: Coder) -> None:
    """Before: an invalid contained resource put a whole element's repr in the finding (a planted name 30
    times in 2,396 characters), and a 5,000-character id went into messages whole."""
    name = "PLANTED-PATIENT-NAME"
    bad = _one_ma("a1", contained=[{"resourceType": "Patient", "id": "p", "name": [{"text": name}] * 30,
                                      "gender": 12}])  # fmt: skip
    long_id = "X" * 5_000
    records = imported(coder, _bundle_of(ENCOUNTER_E1, bad, _one_ma(long_id, dosage={})))
    texts = [json.dumps(r) for r in records]
    for text in texts:
        assert text.count(name) <= 1
        assert "X" * 61 not in text.replace(long_id, "")  # only the record's own id field carries it whole
    messages = [f["message"] for r in records for f in r.get("source_findings", [])]
    messages += [r["error"]["message"] for r in records if "error" in r]
    assert messages and all(len(m) < 700 and "X" * 61 not in m for m in messages)
    assert any(f["id"] == "invalid-resource" for r in records for f in r.get("source_findings", []))


def test_python_texts_never_reach_the_user(coder: Coder) -> None:
    latin = '{"resourceType": "MedicationAdministration", "id": "Jos\xe9"}'.encode("latin-1")
    records = _read_bytes(coder, "x.json", latin) + _read_bytes(coder, "y.json", b"\x00\x01\x02")
    messages = [r["error"]["message"] for r in records]
    assert messages[0] == "x.json line 1 is not UTF-8 text (byte 56 is not valid)"
    for message in messages:
        assert not any(
            t in message for t in ("codec", "decode byte", "invalid literal", "Error", "Traceback")
        )


# The gzip bombs (a 1 MB .json.gz took the reader to 2.2 GB) are read in a capped child process by
# tests/test_fuzz_fhir_hl7.py::test_gzip_bombs_are_answered_within_a_gigabyte_and_the_next_file_is_read.


@pytest.mark.parametrize("junk", ["\u2028", " ", "\ud800", "E" * 5_000])
def test_an_encounter_reference_or_id_the_contract_cannot_take_never_costs_the_encounter(
    coder: Coder, junk: str
) -> None:
    """Found by the fuzz suite: a blank, surrogate or 5,000-character encounter id made the encounter an error
    object and its administrations were lost with it."""
    data = json.dumps(_one_ma(context={"reference": f"Encounter/{junk}"})).encode("utf-8", "surrogatepass")
    records = _read_bytes(coder, "x.ndjson", data)
    (record,) = records
    assert "error" not in record
    Encounter.model_validate(record)
    if (
        junk == "\ud800"
    ):  # not valid FHIR (a string must be Unicode): the finding says so, the encounter stands
        assert [f["id"] for f in record["source_findings"]] == ["invalid-resource"]
    else:
        assert [a["id"] for a in record["administrations"]] == ["a1"]


def test_a_bulk_folder_does_not_open_files_of_types_the_reader_does_not_use(
    coder: Coder, tmp_path: Path
) -> None:
    (tmp_path / "MedicationAdministration.ndjson").write_text(GOOD)
    (tmp_path / "Observation.ndjson").write_text("not even JSON\n" * 10)  # the biggest file of an export
    (tmp_path / "Patient.000.ndjson.gz").write_bytes(b"\x1f\x8b damaged")
    (tmp_path / "Encounter.ndjson").write_text("{broken\n" + json.dumps(ENCOUNTER_E1) + "\n")
    records = list(reader("fhir")([Source("bulk", path=tmp_path)], ImportOptions(), coder.reference.latest))
    assert _good_one_survives(records) == ["bulk/Encounter.ndjson line 1 is not valid JSON: Expecting property "
                                           "name enclosed in double quotes at column 2"]  # fmt: skip
