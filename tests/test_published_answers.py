"""Issue 17: coding as published answers and CMS's own edit tables read it. Each test goes through the public
API (Coder.code_record, as `infusion-coder code -` does) and failed before its fix."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import at, encounter, grouped
from infusion_coder import Coder
from infusion_coder.cli import commands as cli_module
from infusion_coder.formats import ImportOptions
from infusion_coder.formats.mimic import load
from infusion_coder.models import CodingResult, ErrorResult
from infusion_coder.reference import DATA_DIR, load_library
from infusion_coder.reference.cms_files import read_mue, read_ptp

MIMIC_DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "mimic-iv-demo"


def code(coder: Coder, record: dict[str, Any], policy: str | None = None) -> CodingResult:
    result = coder.code_record(record, policy=policy)
    assert isinstance(result, CodingResult), result
    return result


def finding_ids(result: CodingResult) -> Counter[str]:
    return Counter(finding.id for finding in result.findings)


# --- engine corners (issue 16) ------------------------------------------------------------------------


def test_a_zone_and_no_times_at_all_codes_the_injection(coder: Coder) -> None:
    record = encounter(
        [{"substance": "ceftriaxone 1 g", "route": "intramuscular"}],
        claim_type="professional",
        timezone="America/Chicago",
    )
    result = code(coder, record)
    assert grouped(result.lines) == {"96372": 1}
    assert "no-date-of-service" in finding_ids(result)


def test_a_stopless_drip_beside_the_same_drug_on_a_pump_joins_the_pump_line(coder: Coder) -> None:
    record = encounter(
        [
            {"substance": "fluorouracil", "start": "09:00", "category": "chemotherapy"},
            {"substance": "fluorouracil", "start": "09:10", "end": "+2 09:00", "pump": "portable"},
        ]
    )
    result = code(coder, record)
    assert grouped(result.lines) == {"96416": 1}
    assert result.lines[0].administrations == ["a1", "a2"]
    assert "drip-without-stop-folded" in finding_ids(result)


def test_an_overlong_zone_name_is_an_error_naming_the_field(coder: Coder) -> None:
    record = encounter([{"substance": "ondansetron", "start": "09:00", "method": "push"}], timezone="A" * 300)
    result = coder.code_record(record)
    assert isinstance(result, ErrorResult)
    assert result.error.field == "timezone"
    assert "not an IANA time zone" in result.error.message
    assert len(result.error.message) < 200


def test_an_overlong_zone_name_on_the_command_line_is_a_usage_error() -> None:
    run = CliRunner().invoke(cli_module.app, ["code", "-", "--timezone", "B" * 300], input="{}")
    assert run.exit_code == 2
    assert "Traceback" not in run.output
    assert "not an IANA time zone" in run.output


# --- item 8: a service split at midnight shows each date's own minutes -------------------------------------


def test_hydration_split_at_midnight_shows_the_minutes_of_each_date(coder: Coder) -> None:
    record = encounter(
        [
            {"substance": "ondansetron", "start": "21:00", "method": "push"},
            {
                "substance": "normal saline 1000 mL",
                "start": "22:45",
                "end": "+1 02:00",
                "category": "hydration",
            },
        ]
    )
    result = code(coder, record)
    hydration = [
        (line.code, line.units, str(line.date), line.minutes) for line in result.lines if line.code == "96361"
    ]
    # 195 minutes in all: 75 on the first date, 120 on the second (each line showed 195 before)
    assert hydration == [("96361", 1, "2026-01-15", 75), ("96361", 2, "2026-01-16", 120)]
    second = next(line for line in result.lines if str(line.date) == "2026-01-16")
    assert [(i.start.isoformat(), i.end.isoformat()) for i in second.intervals] == [
        (at("+1 00:00") + ":00", at("+1 02:00") + ":00")
    ]


def test_a_short_service_across_midnight_on_one_line_keeps_its_minutes(coder: Coder) -> None:
    result = code(coder, encounter([{"substance": "vancomycin", "start": "23:40", "end": "+1 00:30"}]))
    assert [(line.code, line.minutes) for line in result.lines] == [("96365", 50)]


# --- item 1: the repeat relation is symmetric in time -------------------------------------------------------


OBSERVATION_PUSH_THEN_INFUSION = [
    {"substance": "ondansetron 4 mg", "start": "10:00", "method": "push"},
    {"substance": "ondansetron 8 mg in NS 50 mL", "start": "+1 09:00", "end": "+1 09:40"},
]


def test_a_same_drug_push_before_the_initial_infusion_is_a_repeat(coder: Coder) -> None:
    # HCPro APCs Insider, Nov 2013: pushed on day 1 of an observation stay, infused on day 2 -> 96376
    result = code(coder, encounter(OBSERVATION_PUSH_THEN_INFUSION))
    assert grouped(result.lines) == {"96365": 1, "96376": 1}
    repeat = next(line for line in result.lines if line.code == "96376")
    assert str(repeat.date) == "2026-01-15"
    assert "before its infusion from 2026-01-16 09:00" in repeat.explanation


def test_a_same_drug_push_before_the_infusion_has_no_code_on_a_professional_claim(coder: Coder) -> None:
    result = code(coder, encounter(OBSERVATION_PUSH_THEN_INFUSION, claim_type="professional"))
    assert grouped(result.lines) == {"96365": 1}
    assert "repeat-push-professional" in finding_ids(result)


def test_the_first_push_of_a_drug_never_infused_is_still_a_new_drug(coder: Coder) -> None:
    result = code(
        coder,
        encounter(
            [
                {"substance": "vancomycin 1 g", "start": "15:00", "end": "16:10"},
                {"substance": "ondansetron 4 mg", "start": "14:10", "method": "push"},
                {"substance": "ondansetron 4 mg", "start": "16:30", "method": "push"},
            ]
        ),
    )
    assert grouped(result.lines) == {"96365": 1, "96375": 1, "96376": 1}


# --- item 6: explanations say "before" or "after" as charted -------------------------------------------------


def test_explanations_say_before_when_the_add_on_was_charted_before_the_initial_service(coder: Coder) -> None:
    result = code(
        coder,
        encounter(
            [
                {"substance": "ondansetron 4 mg", "start": "14:10", "method": "push"},
                {"substance": "vancomycin 1 g", "start": "15:00", "end": "16:10"},
                {"substance": "cefazolin 1 g", "start": "13:00", "end": "13:40"},
                {"substance": "ketorolac 15 mg", "start": "16:30", "method": "push"},
            ]
        ),
    )
    said = {line.code + ("@" + line.administrations[0]): line.explanation for line in result.lines}
    assert "pushed before the initial service (vancomycin 1 g infusion from 15:00)" in said["96375@a1"]
    assert "infused before the initial service (vancomycin 1 g infusion from 15:00)" in said["96367@a3"]
    assert "pushed after the initial service (vancomycin 1 g infusion from 15:00)" in said["96375@a4"]
    assert not any("after the initial" in said[key] for key in ("96375@a1", "96367@a3"))


# --- item 7: stopless bags of one drug are added, not recoded as repeat pushes -------------------------------

STOPLESS_MAGNESIUM = [
    {"substance": "magnesium sulfate 2 g", "start": "10:03", "method": "infusion", "category": "therapeutic"},
    {"substance": "magnesium sulfate 2 g", "start": "11:10", "method": "infusion", "category": "therapeutic"},
    {
        "substance": "magnesium sulfate 2 g",
        "start": "+1 09:41",
        "method": "infusion",
        "category": "therapeutic",
    },
]


def test_stopless_bags_of_one_drug_give_one_push_equivalent_and_a_finding(coder: Coder) -> None:
    result = code(coder, encounter(STOPLESS_MAGNESIUM))
    assert grouped(result.lines) == {"96374": 1}
    added = [f for f in result.findings if f.id == "stopless-bag-added"]
    assert [f.administrations for f in added] == [["a2"], ["a3"]]
    assert all("stopless_same_drug=added" in f.message and "96376" in f.message for f in added)
    # the missing-stop warning that said "coded as a push" stays only on the bag that is coded
    assert [f.administrations for f in result.findings if f.id == "missing-stop-time"] == [["a1"]]


def test_stopless_bags_under_cpt_give_one_push_equivalent_per_date(coder: Coder) -> None:
    result = code(coder, encounter(STOPLESS_MAGNESIUM), policy="cpt")
    assert grouped(result.lines) == {"96374": 2}
    assert sorted(str(line.date) for line in result.lines) == ["2026-01-15", "2026-01-16"]


def test_the_drug_of_a_stopless_bag_added_to_its_drug_is_still_billed(coder: Coder) -> None:
    bags = [
        {**bag, "substance": "ondansetron 4 mg in NS 50 mL", "dose": 4, "dose_unit": "mg"}
        for bag in STOPLESS_MAGNESIUM[:2]
    ]
    result = code(coder, encounter(bags))
    assert grouped(result.lines) == {"96374": 1}
    assert sum(line.units for line in result.drug_lines if line.hcpcs == "J2405") == 8


def test_each_push_keeps_the_old_reading_when_a_profile_chooses_it(tmp_path: Path) -> None:
    folder = tmp_path / "reference"
    shutil.copytree(DATA_DIR, folder)
    policies = folder / "2026-01-01" / "policies.json"
    body = json.loads(policies.read_text())
    body["profiles"]["each-bag"] = {
        "description": "test profile",
        "extends": "cms",
        "values": {"stopless_same_drug": {"value": "each_push", "source": "test"}},
    }
    policies.write_text(json.dumps(body))
    result = code(Coder(load_library(folder)), encounter(STOPLESS_MAGNESIUM), policy="each-bag")
    assert grouped(result.lines) == {"96374": 1, "96376": 2}


@pytest.mark.skipif(not (MIMIC_DEMO / "hosp").is_dir(), reason="MIMIC-IV demo not in ../shared/data")
def test_no_repeat_push_on_the_mimic_demo_comes_from_a_stopless_bag(coder: Coder) -> None:
    loaded = load(MIMIC_DEMO, ImportOptions(), coder.reference.latest)
    repeats = from_stopless = 0
    for built in loaded.encounters:
        if built.stay.inpatient:
            continue
        result = code(coder, built.record)
        given = {a["id"]: a for a in built.record["administrations"]}
        for line in result.lines:
            if line.code == "96376":
                repeats += line.units
                from_stopless += any(
                    given[i].get("end") is None and given[i].get("method") != "push"
                    for i in line.administrations
                )
    assert repeats >= 10  # the documented repeat pushes of the outpatient encounters stay (15 on the demo)
    assert from_stopless == 0


# --- item 9: only add-ons CPT allows are built ----------------------------------------------------------------


def test_a_concurrent_infusion_beside_a_chemo_push_initial_is_coded_as_cpt_allows(coder: Coder) -> None:
    result = code(
        coder,
        encounter(
            [
                {"substance": "bortezomib", "start": "09:00", "method": "push", "category": "chemotherapy"},
                {"substance": "ondansetron 8 mg", "start": "09:10", "end": "10:10"},
                {"substance": "famotidine 20 mg", "start": "09:20", "end": "09:50"},
            ]
        ),
    )
    # 96368 goes with none of 96409's family: it was built, then removed as an orphan add-on, holding the claim
    assert grouped(result.lines) == {"96409": 1, "96367": 2}
    assert result.readiness != "hold"
    assert "addon-without-primary" not in finding_ids(result)
    assert "concurrent-without-primary" in finding_ids(result)


def test_a_concurrent_infusion_with_its_primary_stays_concurrent(coder: Coder) -> None:
    result = code(
        coder,
        encounter(
            [
                {"substance": "vancomycin 1 g", "start": "09:00", "end": "10:30"},
                {"substance": "famotidine 20 mg", "start": "09:20", "end": "09:50"},
            ]
        ),
    )
    assert grouped(result.lines) == {"96365": 1, "96368": 1}


# --- item 2: G0498, a chemo infusion continued at home on the provider's pump --------------------------------

HOME_PUMP = [
    {
        "substance": "fluorouracil 2400 mg",
        "start": "10:00",
        "end": "+2 08:00",
        "pump": "portable",
        "home_pump": "provider",
    }
]


def test_chemo_continued_at_home_on_the_providers_pump_is_g0498_for_medicare(coder: Coder) -> None:
    # AHA Coding Clinic for HCPCS 2Q 2017: Medicare office, chemotherapy started on the practice's pump
    for claim_type in ("professional", "institutional"):
        result = code(coder, encounter(HOME_PUMP, claim_type=claim_type))
        assert grouped(result.lines) == {"G0498": 1}
        assert "chemo_home_pump=G0498" in result.lines[0].explanation


def test_chemo_continued_at_home_is_96416_under_cpt_and_on_a_suppliers_pump(coder: Coder) -> None:
    assert grouped(code(coder, encounter(HOME_PUMP), policy="cpt").lines) == {"96416": 1}
    supplier = [{**HOME_PUMP[0], "home_pump": "supplier"}]
    assert grouped(code(coder, encounter(supplier)).lines) == {"96416": 1}


def test_a_home_pump_with_no_stop_in_the_clinic_record_is_still_a_prolonged_start(coder: Coder) -> None:
    planned = [{**HOME_PUMP[0], "end": None, "volume_ml": 230, "rate_ml_per_hour": 5}]
    result = code(coder, encounter(planned, claim_type="professional"))
    assert grouped(result.lines) == {"G0498": 1}
    assert "home-pump-planned-time" in finding_ids(result)
    unstated = [{**HOME_PUMP[0], "end": None}]
    result = code(coder, encounter(unstated, claim_type="professional"))
    assert grouped(result.lines) == {"G0498": 1}
    assert "home-pump-time-undocumented" in finding_ids(result)


def test_a_portable_pump_without_home_pump_keeps_96416_and_says_what_g0498_needs(coder: Coder) -> None:
    plain = [{key: value for key, value in HOME_PUMP[0].items() if key != "home_pump"}]
    result = code(coder, encounter(plain, claim_type="professional"))
    assert grouped(result.lines) == {"96416": 1}
    assert "home-pump-not-stated" in finding_ids(result)


def test_home_pump_is_validated_like_any_enumerated_field(coder: Coder) -> None:
    bad = coder.code_record(encounter([{**HOME_PUMP[0], "home_pump": "neighbour"}]))
    assert isinstance(bad, ErrorResult)
    assert bad.error.field == "administrations[0].home_pump"


# --- item 3: on-body injectors ---------------------------------------------------------------------------------


def test_an_on_body_injector_recorded_as_such_is_96377(coder: Coder) -> None:
    # CMS MAC article A54682 (Neulasta Onpro kit / Udenyca Onbody): 96377, not 96372
    record = encounter(
        [
            {
                "substance": "pegfilgrastim 6 mg",
                "start": "10:00",
                "route": "subcutaneous",
                "device": "on_body_injector",
            }
        ],
        claim_type="professional",
    )
    result = code(coder, record)
    assert grouped(result.lines) == {"96377": 1}
    assert "on-body-injector-from-name" not in finding_ids(result)


def test_an_on_body_injector_is_read_from_the_product_name_with_a_finding(coder: Coder) -> None:
    for name in ("Neulasta Onpro kit 6 mg", "UDENYCA ONBODY 6 mg", "pegfilgrastim on-body injector"):
        record = encounter([{"substance": name, "start": "10:00", "route": "subcutaneous"}])
        result = code(coder, record)
        assert grouped(result.lines) == {"96377": 1}, name
        assert "on-body-injector-from-name" in finding_ids(result)


def test_an_on_body_injector_on_another_route_is_coded_by_its_route_with_a_warning(coder: Coder) -> None:
    record = encounter(
        [
            {
                "substance": "pegfilgrastim 6 mg",
                "start": "10:00",
                "method": "push",
                "device": "on_body_injector",
            }
        ]
    )
    result = code(coder, record)
    assert grouped(result.lines) == {"96374": 1}
    assert "on-body-injector-route" in finding_ids(result)


# --- item 4: two injections of different drugs on a professional claim -------------------------------------

TWO_INJECTIONS = [
    {"substance": "ceftriaxone 1 g", "route": "intramuscular", "start": "10:00"},
    {"substance": "ketorolac 30 mg", "route": "intramuscular", "start": "10:05"},
]


def test_two_injections_of_different_drugs_are_never_two_bare_identical_lines(coder: Coder) -> None:
    # CPT Assistant, May 2010: 96372 per injection, 59 on the second (XS under the X profile)
    for policy, modifier in (("cms", "59"), ("cms-x", "XS"), ("cpt", "59")):
        result = code(coder, encounter(TWO_INJECTIONS, claim_type="professional"), policy=policy)
        assert grouped(result.lines) == {"96372": 1, f"96372-{modifier}": 1}, policy
        assert "distinct-injections" in finding_ids(result)


def test_two_injection_codes_an_ncci_pair_joins_take_the_modifier_on_column_two(coder: Coder) -> None:
    record = encounter(
        [
            {"substance": "leuprolide 22.5 mg", "route": "intramuscular", "start": "10:00", "hormonal": True},
            {"substance": "ketorolac 30 mg", "route": "intramuscular", "start": "10:05"},
        ],
        claim_type="professional",
    )
    result = code(coder, record)
    assert grouped(result.lines) == {"96402": 1, "96372-59": 1}
    assert "ncci-ptp" not in finding_ids(result)


def test_one_line_with_units_when_the_profile_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "reference"
    shutil.copytree(DATA_DIR, folder)
    policies = folder / "2026-01-01" / "policies.json"
    body = json.loads(policies.read_text())
    body["profiles"]["units-payer"] = {
        "description": "test profile",
        "extends": "cms",
        "values": {"distinct_injections": {"value": "units", "source": "test"}},
    }
    policies.write_text(json.dumps(body))
    result = code(
        Coder(load_library(folder)), encounter(TWO_INJECTIONS, claim_type="professional"), "units-payer"
    )
    assert [(line.code, line.units, line.modifiers) for line in result.lines] == [("96372", 2, [])]
    assert result.lines[0].administrations == ["a1", "a2"]
    assert "distinct-injections" in finding_ids(result)


# --- items 5 and 10: CMS's NCCI tables for both settings ------------------------------------------------------


def test_the_distinct_modifier_goes_on_the_column_two_code_on_professional_claims(coder: Coder) -> None:
    record = encounter(
        [
            {"substance": "vancomycin 1 g", "start": "09:00", "end": "10:00", "access": "port"},
            {
                "substance": "cisplatin",
                "start": "09:00",
                "end": "10:00",
                "access": "PIV",
                "separate_access_required": True,
            },
        ],
        claim_type="professional",
    )
    result = code(coder, record)
    # practitioner pair 96413/96365: the modifier belongs on 96365 (it was 96413-59 and a bare 96365)
    assert grouped(result.lines) == {"96413": 1, "96365-59": 1}
    assert "distinct-modifier-on-column-two" in finding_ids(result)
    assert "ptp-table-missing" not in finding_ids(result)


def test_practitioner_pairs_differ_from_hospital_pairs(coder: Coder) -> None:
    # 99211 under a drug-administration code: indicator 0 for practitioners, 1 for hospitals
    pairs = coder.reference.latest.edits
    day = date(2026, 1, 15)
    assert pairs.pairs("practitioner", day)[("96372", "99211")].modifier_indicator == 0
    assert pairs.pairs("outpatient_hospital", day)[("96372", "99211")].modifier_indicator == 1
    # ED E/M are column one over the administration codes in the practitioner table only
    assert ("99283", "96374") in pairs.pairs("practitioner", day)
    assert ("99283", "96374") not in pairs.pairs("outpatient_hospital", day)
    active = {s: len(pairs.pairs(s, day)) for s in ("outpatient_hospital", "practitioner")}
    assert active == {"outpatient_hospital": 489, "practitioner": 602}


def test_an_ed_e_m_over_an_administration_code_is_a_warning_on_a_professional_claim(coder: Coder) -> None:
    record = encounter(
        [{"substance": "ondansetron", "start": "09:00", "method": "push"}],
        claim_type="professional",
        evaluation_and_management={"code": "99283"},
    )
    result = code(coder, record)
    warned = [f for f in result.findings if f.id == "ncci-ptp"]
    assert warned and "99283/96374" in warned[0].message and "practitioner table" in warned[0].message


def test_pairs_apply_per_date_of_service(coder: Coder) -> None:
    record = encounter(
        [
            {"substance": "ondansetron", "start": "09:00", "method": "push"},
            {"substance": "ceftriaxone 1 g", "route": "intramuscular", "start": "+1 09:10"},
        ]
    )
    result = code(coder, record)
    assert grouped(result.lines) == {"96374": 1, "96372": 1}
    assert not {"ncci-ptp", "ncci-ptp-bypassed", "distinct-site-modifier"} & set(finding_ids(result))


def test_a_deleted_pair_does_not_fire_after_its_deletion_date(coder: Coder) -> None:
    # 96377/99211 hospital: deleted 2019-12-31, back from 2020-10-01; no edit between
    pairs = coder.reference.latest.edits
    assert ("96377", "99211") not in pairs.pairs("outpatient_hospital", date(2020, 6, 1))
    assert ("96377", "99211") in pairs.pairs("outpatient_hospital", date(2019, 6, 1))
    assert ("96377", "99211") in pairs.pairs("outpatient_hospital", date(2021, 6, 1))


def test_mue_findings_say_per_date_and_whether_a_modifier_bypasses_it(coder: Coder) -> None:
    record = encounter(
        [
            {"substance": "cisplatin", "start": "09:00", "end": "10:00", "access": "port"},
            {
                "substance": "carboplatin",
                "start": "09:00",
                "end": "10:00",
                "access": "PIV",
                "separate_access_required": True,
            },
        ]
    )
    result = code(coder, record)
    over = [f for f in result.findings if f.id == "mue-exceeded"]
    assert len(over) == 1 and over[0].severity == "warning"
    assert "96413 x2" in over[0].message and "MUE of 1" in over[0].message
    assert "per-date limit on clinical grounds (MAI 3)" in over[0].message
    assert "no modifier bypasses it" in over[0].message and "appeal" in over[0].message


def test_codes_no_bundled_table_covers_are_not_evaluated(coder: Coder) -> None:
    record = encounter(
        [
            {"substance": "oxaliplatin", "start": "08:00", "end": "10:00"},
            {**HOME_PUMP[0], "start": "10:00"},
        ],
        claim_type="professional",
    )
    result = code(coder, record)
    assert grouped(result.lines) == {"96413": 1, "96415": 1, "G0498": 1}
    said = {f.id: f.message for f in result.findings}
    assert "G0498" in said["ptp-not-evaluated"] and "not evaluated" in said["ptp-not-evaluated"]
    assert "G0498" in said["mue-not-evaluated"]


def test_the_bundled_tables_name_their_cms_source(coder: Coder) -> None:
    manifest = json.loads((DATA_DIR / "manifest.json").read_text())
    files = manifest["packs"][0]["files"]
    assert (
        "2024-07-01" in files["edits/ptp_practitioner.csv"] and "v30.2" in files["edits/ptp_practitioner.csv"]
    )
    assert "public copies" in files["edits/ptp_outpatient_hospital.csv"]
    assert "Eff_10-01-2026" in files["edits/mue_outpatient_hospital.csv"]
    row = coder.reference.latest.edits.pairs("practitioner", date(2026, 1, 15))[("96413", "96365")]
    assert row.source.startswith("CMS Medicare NCCI PTP edits, Practitioner, 2024-07-01 release")


def test_the_bundled_tables_are_what_the_cms_loader_reads_from_the_public_copies(coder: Coder) -> None:
    copies = Path(__file__).resolve().parents[2] / "shared" / "data" / "cms" / "ncci"
    if not copies.is_dir():
        pytest.skip("the NCCI copies are not in ../shared/data/cms/ncci")
    edits = coder.reference.latest.edits
    assert tuple(read_ptp(copies / "ptp_practitioner.csv")) == edits.ptp["practitioner"]
    assert tuple(read_ptp(copies / "ptp_outpatient_hospital.csv")) == edits.ptp["outpatient_hospital"]
    read = read_mue(copies / "mue_practitioner.csv", effective=date(2024, 7, 1))
    assert tuple(read) == edits.mue["practitioner"]


# --- item 11: CY2026 payment data ------------------------------------------------------------------------------


def test_money_is_cy2026_and_c8957_moved_to_apc_5693(coder: Coder) -> None:
    money = coder.reference.latest.money
    assert money.opps_quarter == "2026Q1"
    assert (money.opps["C8957"].apc, money.opps["C8957"].rate) == ("5693", pytest.approx(217.31))
    assert (money.opps["96413"].apc, money.opps["96413"].rate) == ("5694", pytest.approx(337.46))
    assert "../shared" not in money.opps_source
