"""HL7 v2 import (RAS^O17, RAS^O01, RGV^O15) and the RAS^O17 writer, on real samples and gold cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from infusion_coder import Coder
from infusion_coder.cli import app
from infusion_coder.formats import ImportOptions, Source
from infusion_coder.formats.hl7v2 import hl7_time, read, split_messages, write_ras
from infusion_coder.models import CodingResult, Encounter

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "data" / "hl7v2-samples"
GOLD = SHARED / "cases" / "dev.jsonl"

# Gold cases whose coding depends on what an RAS message has no place for (listed in docs/import-hl7.md).
NOT_EXPRESSIBLE: dict[str, str] = {}


def imported(text: str | bytes, coder: Coder, **options: Any) -> list[dict[str, Any]]:
    data = text.encode() if isinstance(text, str) else text
    records = list(read([Source("feed.hl7", data=data)], ImportOptions(**options), coder.reference.latest))
    for record in records:
        if "error" not in record:
            Encounter.model_validate(record)  # every encounter the reader makes is a valid contract encounter
    return records


def message(
    control: str,
    *body: str,
    visit: str = "V1",
    patient_class: str = "E",
    kind: str = "RAS^O17^RAS_O17",
    version: str = "2.5.1",
) -> str:
    head = [
        f"MSH|^~\\&|EHR|HOSP|||20260115120000||{kind}|{control}|P|{version}",
        "PID|||MRN1^^^HOSP^MR",
        f"PV1||{patient_class}|ED^1^1||||||||||||||||{visit}",
    ]
    return "\r".join([*head, *body])


def rxa(start: str, end: str, code: str, amount: str, units: str, **more: str) -> str:
    """An RXA segment: RXA-3..7 given, other fields by number (f12="H1", f20="NA", ...)."""
    fields = {1: "0", 2: "1", 3: start, 4: end, 5: code, 6: amount, 7: units}
    fields.update({int(key[1:]): value for key, value in more.items()})
    return "|".join(["RXA", *(fields.get(n, "") for n in range(1, max(fields) + 1))])


PUSH = (
    "ORC|RE|ORD1",
    "RXA|0|1|20260115100500-0500|20260115100500-0500|00409-4755-01^ondansetron 4 mg/2 mL^NDC^312086^^RXNORM|4|mg"
    "|||^Nurse^Nina||||||||||CP|A",
    "RXR|IV^Intravenous^HL70162|LA^Left Arm^HL70163||IVP^IV push^HL70165",
)
INFUSION = (
    "ORC|RE|ORD2||||||||||^Doctor^Dan",
    rxa(
        "202601151010",
        "202601151105",
        "^vancomycin 1 g in NS 250 mL",
        "1",
        "g",
        f19="^sepsis",
        f20="CP",
        f21="A",
    ),
    "RXR|IV^Intravenous^HL70162|RA||IVPB^IV piggyback^HL70165",
)


def by_id(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {admin["id"]: admin for admin in record["administrations"]}


def finding_ids(record: dict[str, Any]) -> list[str]:
    return [finding["id"] for finding in record["source_findings"]]


# --- mapping -----------------------------------------------------------------------------------------


def test_rxa_rxr_orc_fields_map_to_the_contract(coder: Coder) -> None:
    [record] = imported(message("C1", *PUSH, *INFUSION), coder, timezone="America/Chicago")
    assert record["encounter_id"] == "V1"
    assert record["timezone"] == "America/Chicago"
    admins = by_id(record)
    push, drip = admins["ORD1"], admins["ORD2"]
    # a start equal to the end is one charted time, with the sender's offset kept
    assert push["start"] == "2026-01-15T10:05:00-05:00" and "end" not in push
    assert (push["ndc"], push["rxnorm"], push["substance"]) == (
        "00409-4755-01",
        "312086",
        "ondansetron 4 mg/2 mL",
    )
    assert (push["dose"], push["dose_unit"]) == (4.0, "mg")
    assert (push["route"], push["method"], push["access"]) == ("intravenous", "push", "Left Arm")
    assert push["administered_by"] == "Nina Nurse"
    # site code without text is spelled out from table 0163
    assert (drip["access"], drip["method"], drip["end"]) == ("Right Arm", "infusion", "2026-01-15T11:05")
    assert drip["ordered_by"] == "Dan Doctor" and drip["indication"] == "sepsis"
    result = coder.code_record(record)
    assert isinstance(result, CodingResult)
    assert {line.code for line in result.lines} >= {"96365"}


def test_not_given_refused_and_deleted_are_findings_not_administrations(coder: Coder) -> None:
    text = message(
        "C1",
        "ORC|RE|A",
        rxa("202601151000", "202601151000", "^morphine", "2", "mg", f20="NA"),
        "RXR|IV",
        "ORC|RE|B",
        rxa("202601151000", "202601151000", "^ketorolac", "15", "mg", f20="RE"),
        "RXR|IV",
        "ORC|RE|C",
        rxa("202601151000", "202601151000", "^famotidine", "20", "mg", f20="PA"),
        "RXR|IV",
    )
    delete = message(
        "C2",
        "ORC|RE|C",
        rxa("202601151000", "202601151000", "^famotidine", "20", "mg", f20="CP", f21="D"),
        "RXR|IV",
    )
    [first] = imported(text, coder)
    assert list(by_id(first)) == ["C"]
    assert finding_ids(first) == ["not-given", "not-given", "partially-given"]
    [after] = imported(text + "\r" + delete, coder)
    assert after["administrations"] == []
    assert finding_ids(after)[-1] == "hl7-deleted"


def test_a_resent_administration_replaces_the_earlier_one(coder: Coder) -> None:
    first = message("C1", "ORC|RE|X", rxa("202601151000", "202601151010", "^heparin", "1000", "U"), "RXR|IV")
    update = message(
        "C2",
        "ORC|RE|X",
        rxa("202601151000", "202601151040", "^heparin", "1000", "U", f20="CP", f21="U"),
        "RXR|IV",
    )
    [record] = imported(first + "\n" + update, coder)
    assert [(a["id"], a["end"]) for a in record["administrations"]] == [("X", "2026-01-15T10:40")]
    assert "hl7-sent-again" in finding_ids(record)


def test_ids_carry_the_order_number_and_sub_ids(coder: Coder) -> None:
    text = message(
        "C1",
        "ORC|RE|^^|FILL9",
        rxa("202601151000", "202601151100", "^NS 1000 mL", "1000", "mL"),
        "RXR|IV",
        rxa("202601151100", "202601151200", "^NS 1000 mL", "1000", "mL", f2="2"),
        "RXR|IV",
    )
    [record] = imported(text, coder)
    assert list(by_id(record)) == ["FILL9", "FILL9/0/2"]
    assert by_id(record)["FILL9"]["volume_ml"] == 1000.0


def test_rxas_sharing_one_rxr_are_one_mix(coder: Coder) -> None:
    text = message(
        "C1",
        "ORC|RE|M1",
        rxa("202601151000", "202601151030", "^magnesium sulfate 2 g", "2", "g"),
        rxa("202601151000", "202601151030", "^NS 100 mL", "100", "mL", f2="2"),
        "RXR|IV",
    )
    [record] = imported(text, coder)
    mixes = {a["mix"] for a in record["administrations"]}
    assert len(record["administrations"]) == 2 and mixes == {"M1/1"}


def test_rate_from_administered_per_time_unit_or_rate_units(coder: Coder) -> None:
    text = message(
        "C1",
        "ORC|RE|R1",
        rxa("202601151000", "202601151200", "^NS", "125", "mL", f12="H1"),
        "RXR|IV",
        "ORC|RE|R2",
        rxa("202601151000", "202601151200", "^LR", "250", "mL/h"),
        "RXR|IV",
        "ORC|RE|R3",
        rxa("202601151000", "202601151200", "^D5W", "30", "mL", f12="M30"),
        "RXR|IV",
    )
    [record] = imported(text, coder)
    rates = {a["id"]: a.get("rate_ml_per_hour") for a in record["administrations"]}
    assert rates == {"R1": 125.0, "R2": 250.0, "R3": 60.0}
    assert "dose" not in by_id(record)["R1"]


def test_inpatient_class_and_missing_visit_number_are_marked(coder: Coder) -> None:
    [inpatient] = imported(message("C1", *PUSH, patient_class="I"), coder)
    # an inpatient visit's administrations wait for --include-inpatient, and one finding says so
    assert inpatient["administrations"] == []
    [finding] = inpatient["source_findings"]
    assert (finding["id"], finding["severity"]) == ("inpatient-stay", "info")
    assert finding["message"].startswith("PV1-2 patient class I: an inpatient stay")
    assert "1 administration(s) (ORD1) are left out" in finding["message"]
    [asked] = imported(message("C1", *PUSH, patient_class="I"), coder, include_inpatient=True)
    assert len(asked["administrations"]) == 1
    assert [(f["id"], f["severity"]) for f in asked["source_findings"]] == [("inpatient-stay", "warning")]
    [no_visit] = imported(message("C2", *PUSH, visit=""), coder)
    assert no_visit["encounter_id"] == "MRN1-2026-01-15"
    assert "hl7-no-visit-number" in finding_ids(no_visit)


def test_iv_administration_without_a_time_of_day_is_a_finding(coder: Coder) -> None:
    [record] = imported(
        message("C1", "ORC|RE|D1", rxa("20260115", "20260115", "^cefazolin", "1", "g"), "RXR|IV"), coder
    )
    assert record["administrations"] == [] and finding_ids(record) == ["hl7-no-time"]


def test_rgv_give_components_make_a_mix_with_planned_times(coder: Coder) -> None:
    text = message(
        "G1",
        "ORC|RE|P7",
        "RXG|1||||||||||||||||",
        "TQ1|||||||202601150900|202601151000",
        "RXR|IV^Intravenous^HL70162",
        "RXC|B|^sodium chloride 0.9% 100 mL|100|mL",
        "RXC|A|^cefazolin|1|g",
        "OBX|1|ST|x^note^L||planned",
        kind="RGV^O15^RGV_O15",
    )
    [record] = imported(text, coder)
    admins = record["administrations"]
    assert [a["id"] for a in admins] == ["P7/1/1/1", "P7/1/1/2"]
    assert {a["mix"] for a in admins} == {"P7/1/1"}
    assert admins[1]["substance"] == "cefazolin" and admins[1]["start"] == "2026-01-15T09:00"
    assert "hl7-give-not-administration" in finding_ids(record)


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("20260115100500-0500", "2026-01-15T10:05:00-05:00"),
        ("202601151005", "2026-01-15T10:05"),
        ("2026011510", "2026-01-15T10:00"),
        ("20260115100501.25+0100", "2026-01-15T10:05:01.25+01:00"),
        ("20260115", None),
        ("not a time", None),
    ],
)
def test_hl7_times(value: str, iso: str | None) -> None:
    assert hl7_time(value)[0] == iso


def test_versions_23_and_28_read_fields_by_position(coder: Coder) -> None:
    old = message("C1", *PUSH, kind="RAS^O01", version="2.3")
    # v2.8 has withdrawn RXA-11: its RXA-20 must still be read as RXA-20 (NA: not given)
    new = message(
        "C2",
        "ORC|RE|N1",
        rxa("202601151000", "202601151000", "^morphine", "2", "mg", f20="NA"),
        "RXR|IV",
        visit="V2",
        version="2.8",
    )
    first, second = imported(old + "\r" + new, coder)
    assert list(by_id(first)) == ["ORD1"] and by_id(first)["ORD1"]["method"] == "push"
    assert second["administrations"] == [] and finding_ids(second) == ["not-given"]


# --- files: framing, separators, bad messages ----------------------------------------------------------


def test_mllp_frames_and_line_endings(coder: Coder) -> None:
    one, two, three = (message(f"C{n}", *PUSH, visit=f"V{n}") for n in (1, 2, 3))
    framed = b"".join(b"\x0b" + m.encode() + b"\x1c\r" for m in (one, two, three))
    crlf = "\r\n".join([one, two, three]).replace("\r", "\r\n").replace("\r\n\n", "\r\n")
    lf = "\n\n".join(m.replace("\r", "\n") for m in (one, two, three))
    for data in (framed, crlf.encode(), lf.encode()):
        assert [r["encounter_id"] for r in imported(data, coder)] == ["V1", "V2", "V3"]
    assert len(split_messages(framed.decode())) == 3


def test_messages_of_one_visit_make_one_encounter(coder: Coder) -> None:
    text = message("C1", *PUSH) + "\r" + message("C2", *INFUSION)
    [record] = imported(text, coder)
    assert list(by_id(record)) == ["ORD1", "ORD2"]


def test_a_garbage_message_between_good_ones_is_an_error_and_the_rest_import(coder: Coder) -> None:
    good1, good2 = message("C1", *PUSH, visit="V1"), message("C3", *PUSH, visit="V3")
    garbage = "MSH|^~\\&|X|Y|||20260115||ZZZ|C2-SECRET-PATIENT-TEXT-THAT-IS-LONG|P|2.5.1\rthis is not hl7"
    data = (
        b"\x0b" + good1.encode() + b"\x1c\r\x0bnot a message at all\x1c\r\x0b" + garbage.encode() + b"\x1c\r"
    )
    data += b"\x0b" + good2.encode() + b"\x1c\r"
    records = imported(data, coder)
    assert [r.get("encounter_id") for r in records] == ["V1", None, None, "V3"]
    no_msh, wrong_type = records[1]["error"], records[2]["error"]
    assert "message 2" in no_msh["message"] and "MSH" in no_msh["message"]
    assert "message 3" in wrong_type["message"] and "C2-SECRET" in wrong_type["message"]
    assert wrong_type["field"] == "MSH-9"
    assert "PATIENT-TEXT-THAT-IS-LONG" not in wrong_type["message"]  # only a short excerpt of the id


def test_a_line_that_is_no_segment_is_left_out_with_a_finding(coder: Coder) -> None:
    text = message("C1", PUSH[0], "@@ garbage @@", *PUSH[1:])
    [record] = imported(text, coder)
    assert list(by_id(record)) == ["ORD1"]
    assert "hl7-segment-unreadable" in finding_ids(record)


# --- the two real samples (RDE^O01 pharmacy orders, oral drugs) --------------------------------------


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/data/hl7v2-samples is not present")
def test_rde_samples_are_reported_as_orders_not_administrations(coder: Coder) -> None:
    sources = [Source(path.name, path=path) for path in sorted(SAMPLES.glob("*.hl7"))]
    records = list(read(sources, ImportOptions(), coder.reference.latest))
    assert [r["encounter_id"] for r in records] == ["10012589", "101105-2016-04-05"]
    cerner, epic = records
    assert cerner["administrations"] == [] and epic["administrations"] == []
    assert finding_ids(cerner) == ["hl7-not-administration", "inpatient-stay"]
    assert finding_ids(epic) == ["hl7-no-visit-number", "hl7-not-administration"]
    assert "31320845" in cerner["source_findings"][0]["message"]
    for record in records:
        result = coder.code_record(record)
        assert isinstance(result, CodingResult) and result.lines == []
        assert "hl7-not-administration" in {f.id for f in result.findings}


# --- writer: round trip on the gold cases --------------------------------------------------------------


def gold_cases() -> list[dict[str, Any]]:
    if not GOLD.is_file():
        return []
    return [json.loads(line) for line in GOLD.read_text().splitlines() if line.strip()]


def coding(result: Any) -> list[tuple[str, int, tuple[str, ...], str]]:
    assert isinstance(result, CodingResult), result
    return sorted((ln.code, ln.units, tuple(sorted(ln.modifiers)), str(ln.date)) for ln in result.lines)


@pytest.mark.skipif(not GOLD.is_file(), reason="../shared/cases/dev.jsonl is not present")
@pytest.mark.parametrize("version", ["2.5.1", "2.3"])  # 2.3: no ADMINISTRATION group, RAS^O01
def test_round_trip_gives_the_same_coding_on_every_gold_case(coder: Coder, version: str) -> None:
    compared = 0
    for case in gold_cases():
        if case["id"] in NOT_EXPRESSIBLE:
            continue
        source = case["encounter"]
        encounter = Encounter.model_validate(source)
        er7 = write_ras(encounter, version, coder.reference.latest)
        assert er7.startswith("MSH|") and "\rRXA|" in er7
        options = {"claim_type": source["claim_type"], "place_of_service": source.get("place_of_service")}
        [record] = imported(er7, coder, **options)
        assert record["encounter_id"] == encounter.encounter_id
        assert record["source_findings"] == [], case["id"]
        assert coding(coder.code_record(record)) == coding(coder.code(encounter)), case["id"]
        compared += 1
    assert compared == len(gold_cases()) - len(NOT_EXPRESSIBLE) > 40


def test_writer_refuses_versions_it_would_write_wrong(coder: Coder) -> None:
    encounter = Encounter.model_validate(
        {"encounter_id": "E", "claim_type": "institutional", "administrations": []}
    )
    with pytest.raises(ValueError, match=r"2\.8"):
        write_ras(encounter, "2.8", coder.reference.latest)


def test_writer_escapes_delimiters_in_text(coder: Coder) -> None:
    encounter = Encounter.model_validate(
        {
            "encounter_id": "E|1",
            "claim_type": "institutional",
            "administrations": [
                {
                    "id": "a^1",
                    "substance": "drug A & B | 50/50 ~ mix",
                    "route": "intravenous",
                    "start": "2026-01-15T10:00",
                    "access": "Left Arm",
                    "purpose": "flush",
                    "rate_ml_per_hour": 50,
                    "dose": 5,
                    "dose_unit": "mg",
                    "volume_ml": 100,
                }
            ],
        }
    )
    er7 = write_ras(encounter, pack=coder.reference.latest)
    assert "LA^Left Arm^HL70163" in er7
    [record] = imported(er7, coder)
    [admin] = record["administrations"]
    assert record["encounter_id"] == "E|1"
    assert (admin["id"], admin["substance"]) == ("a^1", "drug A & B | 50/50 ~ mix")
    assert (admin["purpose"], admin["rate_ml_per_hour"], admin["volume_ml"], admin["dose"]) == (
        "flush",
        50.0,
        100.0,
        5.0,
    )


# --- command line --------------------------------------------------------------------------------------


def test_cli_import_and_code_from_hl7(tmp_path: Path) -> None:
    feed = tmp_path / "feed.hl7"
    bad = "MSH|^~\\&|X|Y|||20260115||ADT^A01|BAD1|P|2.5.1\rPID|||1"
    feed.write_bytes(
        b"\x0b" + message("C1", *PUSH, *INFUSION).encode() + b"\x1c\r\x0b" + bad.encode() + b"\x1c\r"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["import", "hl7", str(feed), "--timezone", "America/New_York"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1  # one message was an error object
    assert lines[0]["encounter_id"] == "V1" and lines[0]["timezone"] == "America/New_York"
    assert "ADT^A01" in lines[1]["error"]["message"]
    coded = runner.invoke(app, ["code", "--from", "hl7", str(feed)])
    results = [json.loads(line) for line in coded.stdout.splitlines()]
    assert coded.exit_code == 1
    assert results[0]["encounter_id"] == "V1" and {line["code"] for line in results[0]["lines"]} >= {"96365"}
    assert "error" in results[1]
    good = tmp_path / "good.hl7"
    good.write_text(message("C1", *PUSH).replace("\r", "\n"))
    assert runner.invoke(app, ["code", "--from", "hl7", str(good)]).exit_code == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    noise=st.lists(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(["MSH|", "\x0b", "\x1c\r", "\r", "\n", "RXA|", "|", "^", "\\", "PV1||I"]),
        ),
        max_size=12,
    )
)
def test_any_input_gives_records_never_an_exception(coder: Coder, noise: list[str]) -> None:
    good = message("C1", *PUSH)
    records = imported("".join(noise) + "\r" + good + "\r" + "".join(noise), coder)
    for record in records:
        assert ("error" in record) != ("administrations" in record)
    assert any(record.get("encounter_id") == "V1" for record in records)


def test_route_from_text_unknown_route_and_missing_rxr(coder: Coder) -> None:
    text = message(
        "C1",
        "ORC|RE|T1",
        rxa("202601151000", "202601151000", "^enoxaparin", "40", "mg"),
        "RXR|^Subcutaneous",
        "ORC|RE|T2",
        rxa("202601151000", "202601151000", "^mystery", "1", "mg"),
        "RXR|ZZ^by strange way",
        "ORC|RE|T3",
        rxa("202601151000", "202601151000", "^no route", "1", "mg"),
    )
    [record] = imported(text, coder)
    admins = by_id(record)
    assert admins["T1"]["route"] == "subcutaneous"
    assert admins["T2"]["route"] == "by strange way"  # the engine says it is not in the route table
    assert admins["T3"]["route"] == "unspecified"  # imported and held: a coder confirms the route
    assert finding_ids(record) == ["route-missing"]
    [missing] = record["source_findings"]
    assert missing["severity"] == "error" and missing["administrations"] == ["T3"]
    result = coder.code_record(record)
    assert isinstance(result, CodingResult)
    assert [f.id for f in result.findings if "T3" in f.administrations] == ["route-missing"]
    assert [f.id for f in result.findings if "T2" in f.administrations] == ["route-unresolved"]


# --- orders without administrations, administrations without orders (issue 16) --------------------------


def test_an_order_with_no_rxa_is_a_finding(coder: Coder) -> None:
    """Before: the ORC group disappeared without a word."""
    [record] = imported(message("C1", "ORC|RE|EMPTY1", "RXE|^heparin", *PUSH), coder)
    assert list(by_id(record)) == ["ORD1"]
    [finding] = record["source_findings"]
    assert (finding["id"], finding["severity"]) == ("hl7-order-without-administration", "warning")
    assert "EMPTY1" in finding["message"]


def test_an_rxa_before_any_orc_takes_its_id_from_the_control_id_and_the_next_orc_is_read(
    coder: Coder,
) -> None:
    """Before: its id was made from the file name ("feed.hl7 message 1 (MSH-10 C1) order")."""
    orphan = rxa("202601151000", "202601151000", "^ketorolac 15 mg", "15", "mg")
    [record] = imported(message("C1", orphan, "RXR|IV", *PUSH), coder)
    assert list(by_id(record)) == ["C1", "ORD1"]
    assert finding_ids(record) == ["hl7-no-order"]
    assert "feed.hl7" not in json.dumps(record["administrations"])


# --- the setting from PV1-2 (issue 15) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("patient_class", "kept", "finding"),
    [("E", True, None), ("O", True, None), ("I", False, "inpatient-stay"), ("R", True, "setting-unknown"),
     ("B", True, "setting-unknown"), ("", True, "setting-unknown")],
)  # fmt: skip
def test_the_setting_comes_from_the_patient_class(
    coder: Coder, patient_class: str, kept: bool, finding: str | None
) -> None:
    [record] = imported(message("C1", *PUSH, patient_class=patient_class), coder)
    assert bool(record["administrations"]) is kept
    assert finding_ids(record) == ([finding] if finding else [])
    if finding == "setting-unknown":
        assert record["source_findings"][0]["severity"] == "error"
        assert coder.code_record(record).readiness == "hold"  # type: ignore[union-attr]
        [professional] = imported(
            message("C1", *PUSH, patient_class=patient_class), coder, claim_type="professional"
        )
        assert professional["source_findings"] == []  # the place of service carries the setting there


def test_an_admission_from_the_emergency_department_is_an_inpatient_stay(coder: Coder) -> None:
    ed = message("C1", *PUSH, patient_class="E")
    admitted = message("C2", *INFUSION, patient_class="I")
    [record] = imported(ed + "\r" + admitted, coder)
    assert record["administrations"] == []
    [finding] = record["source_findings"]
    assert finding["id"] == "inpatient-stay" and "2 administration(s) (ORD1, ORD2)" in finding["message"]


# --- hostile files (issue 16) -------------------------------------------------------------------------


def test_segments_per_message_are_bounded_and_the_next_message_is_read(coder: Coder) -> None:
    from infusion_coder.formats import hl7v2

    big = message("BIG", *PUSH, *(f"NTE|{n}||note" for n in range(hl7v2.MAX_SEGMENTS)), visit="V1")
    records = imported(big + "\r" + message("C2", *PUSH, visit="V2"), coder)
    assert [r.get("encounter_id") for r in records] == [None, "V2"]
    assert "more than 50,000 segments" in records[0]["error"]["message"]
    assert "'BIG'" in records[0]["error"]["message"]


def test_the_structure_check_sees_a_run_of_segments_as_two(
    coder: Coder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hl7apy's group finding is quadratic in a run of one segment (10,000 NTE took 27 s): it is given the
    names with runs folded to two, so its work does not grow with the message."""
    from infusion_coder.formats import hl7v2

    seen: list[int] = []
    real = hl7v2.parse_message

    def counting(er7: str, **kwargs: Any) -> Any:
        seen.append(er7.count("\r") + 1)
        return real(er7, **kwargs)

    monkeypatch.setattr(hl7v2, "parse_message", counting)
    hl7v2._MODES.clear()
    for notes in (10, 1_000, 20_000):
        [record] = imported(message(f"N{notes}", *PUSH[:2], *(["NTE|||x"] * notes), PUSH[2]), coder)
        assert list(by_id(record)) == ["ORD1"]
    assert seen and max(seen) <= 8  # MSH PID PV1 ORC RXA NTE NTE RXR, whatever the number of notes


def test_reading_grows_linearly_with_segments(coder: Coder) -> None:
    """Growth ratio, not a time: 16 times the segments may cost at most 40 times the CPU (quadratic: 256)."""
    import time

    def cost(notes: int) -> float:
        text = message("C1", *PUSH[:2], *(f"NTE|{n}||note {n}" for n in range(notes)), PUSH[2])
        best = float("inf")
        for _ in range(3):
            began = time.process_time()
            imported(text, coder)
            best = min(best, time.process_time() - began)
        return best

    assert cost(16_000) < 40 * max(cost(1_000), 1e-3)


def test_a_message_sent_twice_byte_for_byte_is_read_once(coder: Coder) -> None:
    one = message("C1", *PUSH)
    [record] = imported("\r".join([one, one, one]), coder)
    assert list(by_id(record)) == ["ORD1"]
    assert finding_ids(record) == ["hl7-duplicate-message", "hl7-duplicate-message"]


def test_long_values_are_cut_to_an_excerpt_and_ids_stay_valid(coder: Coder) -> None:
    long_order = "O" * 5_000
    text = message("C" * 5_000, f"ORC|RE|{long_order}", *PUSH[1:], "ORC|RE|" + "E" * 5_000, visit="V" * 5_000)
    records = imported(text, coder)
    for record in records:
        messages = [f["message"] + (f["source"] or "") for f in record.get("source_findings", [])]
        messages += [record["error"]["message"]] if "error" in record else []
        assert all("O" * 61 not in m and "E" * 61 not in m and "C" * 61 not in m for m in messages)
    [record] = records
    assert len(record["encounter_id"]) <= 200 and len(record["administrations"][0]["id"]) <= 200


def test_no_exception_text_reaches_the_user(coder: Coder) -> None:
    bad = [
        "MSH|^~\\&|X|Y|||20260115||RAS^O17|C1|P|2.x\rPID|||1",
        "MSH|^~\\&|X|Y|||20260115||RAS^O17|C2|P|2.5.1\rPID|||1\rPV1||E"
        + "|" * 17
        + "V1\rORC|RE|1\rRXA|\x00\x01",
        "MSH",
        "MSH|",
        "MSH|^~\\&|" + "|" * 9 + "\xe9",
    ]
    for record in imported("\r".join(bad).encode("latin-1"), coder):
        text = json.dumps(record)
        assert not any(
            t in text for t in ("Traceback", "invalid literal", "codec", "object has no", "Error:")
        )


def test_a_bad_extra_value_costs_that_value_not_the_encounter(coder: Coder) -> None:
    """Found by the fuzz suite: an OBX category "-1" made the whole encounter an error object."""
    bad = message("C1", *PUSH, "OBX|1|ST|category^category^99IC||-1||||||F", *INFUSION)
    [record] = imported(bad, coder)
    assert list(by_id(record)) == ["ORD1", "ORD2"] and "category" not in by_id(record)["ORD1"]
    assert finding_ids(record) == ["hl7-extra-unreadable"]
