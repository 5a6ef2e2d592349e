"""837I and 837P out and back: every claim written from the gold cases and the examples passes pyx12's
validator with no error, and reading the file back gives the same lines."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from claim_support import EXAMPLES, GOLD, ROOT, claim_for, expected_result, header, x12_errors
from infusion_coder import Coder, Encounter
from infusion_coder.claims import Claim, ClaimError, build_claim, ndc11
from infusion_coder.formats.billed import read_billed_csv
from infusion_coder.formats.x12 import read_837, write_837

needs_gold = pytest.mark.skipif(not GOLD, reason="no shared/ folder beside the checkout")
RECORDS = [(c["id"], c["encounter"]) for c in GOLD] + [(e["encounter_id"], e) for e in EXAMPLES]


def _variant(claim: Claim) -> str:
    return "837i" if claim.claim_type == "institutional" else "837p"


def _lines(claim: Claim) -> list[tuple[str, int, list[str], str]]:
    return sorted(
        (line.code, line.units, list(line.modifiers), line.date.isoformat()) for line in claim.lines
    )


def _write_all(claims: list[Claim]) -> dict[str, str]:
    """One interchange per variant holding every claim of it, as a billing system would send a batch."""
    texts = {}
    for variant in ("837i", "837p"):
        chosen = [claim for claim in claims if _variant(claim) == variant]
        if chosen:
            texts[variant] = write_837(chosen, header(), variant)  # type: ignore[arg-type]
    return texts


def _check_round_trip(claims: list[Claim]) -> None:
    texts = _write_all(claims)
    assert set(texts) == {"837i", "837p"}
    back: dict[str, list[tuple[str, int, list[str], str]]] = {}
    for variant, text in texts.items():
        assert x12_errors(text) == [], variant
        billed = read_837(text.encode(), f"claims.{variant}")
        assert billed.problems == []
        for eid, lines in billed.lines.items():
            back[eid] = sorted(
                (line.code, line.units, line.modifiers, line.date.isoformat() if line.date else "")
                for line in lines
            )
    assert back == {claim.encounter_id: _lines(claim) for claim in claims}


def test_engine_claims_validate_and_read_back(coder: Coder) -> None:
    claims = []
    for _, record in RECORDS:
        encounter = Encounter.model_validate(record)
        try:
            claims.append(claim_for(coder, encounter))
        except ClaimError as exc:
            # only a professional claim at a facility place of service has no line: the facility bills it
            assert encounter.claim_type.value == "professional" and not coder.code(encounter).lines
            assert "no billable line" in str(exc)
    assert len(claims) >= len(RECORDS) - 1
    _check_round_trip(claims)


@needs_gold
def test_expected_lines_claims_validate_and_read_back(coder: Coder) -> None:
    claims = []
    for case in GOLD:
        encounter, result = expected_result(coder, case)
        if result.lines:
            claims.append(claim_for(coder, encounter, result))
    assert len(claims) >= len(GOLD) - 1
    _check_round_trip(claims)


def test_the_validator_catches_a_broken_line(coder: Coder) -> None:
    encounter = Encounter.model_validate(EXAMPLES[0])
    text = write_837([claim_for(coder, encounter)], header(), "837i")
    assert x12_errors(text) == []
    broken = text.replace("*UN*", "*XX*", 1)
    assert x12_errors(broken), "SV204 XX must be rejected"


def _drug_encounter(**extra: object) -> Encounter:
    return Encounter.model_validate(
        {
            "encounter_id": "NDC-1",
            "claim_type": "institutional",
            "administrations": [
                {
                    "id": "a1",
                    "substance": "infliximab",
                    "route": "intravenous",
                    "start": "2026-02-10T09:00",
                    "end": "2026-02-10T11:05",
                    "dose": 500,
                    "dose_unit": "mg",
                    "ndc": "57894-0030-01",
                    "single_dose_container": True,
                    "wasted": 0,
                    **extra,
                }
            ],
        }
    )


@pytest.mark.parametrize("variant", ["837i", "837p"])
def test_patient_loop_ndc_and_several_diagnoses(coder: Coder, variant: str) -> None:
    encounter = _drug_encounter()
    if variant == "837p":
        encounter = Encounter.model_validate(
            dict(encounter.model_dump(mode="json"), claim_type="professional", place_of_service="11")
        )
    result = coder.code(encounter)
    base = header().model_dump(mode="json")
    base["patient"] = dict(
        base["subscriber"], first_name="Tom", birth_date="2010-06-01", sex="M", relationship="19"
    )
    for key in ("member_id", "payer_responsibility", "claim_filing"):
        base["patient"].pop(key)
    base["claim"]["diagnosis"] = ["K50.90", "Z79.899"]
    from infusion_coder.claims import ClaimHeader

    head = ClaimHeader.model_validate(base)
    pack = coder.reference.latest
    claim = build_claim(encounter, result, pack, head, pack.revenue_codes, institutional=variant == "837i")
    text = write_837([claim], head, variant)  # type: ignore[arg-type]
    assert x12_errors(text) == []
    assert "HL*3*2*23*0~" in text and "PAT*19~" in text
    assert "LIN**N4*57894003001~" in text and "CTP****500*ME~" in text
    billed = read_837(text.encode(), "x").lines["NDC-1"]
    drug = [line for line in billed if line.code == "J1745"]
    assert [(d.units, d.modifiers, d.ndc) for d in drug] == [(50, ["JZ"], "57894003001")]
    if variant == "837i":
        assert drug[0].revenue_code == "0636"  # J1745 is status K: separately payable


def test_an_id_clm01_cannot_hold_is_refused(coder: Coder) -> None:
    encounter = Encounter.model_validate(dict(EXAMPLES[0], encounter_id="x" * 39))
    with pytest.raises(ClaimError, match="at most 38 characters"):
        write_837([claim_for(coder, encounter)], header(), "837i")


def test_ndc_forms() -> None:
    assert ndc11("0006-3026-02") == "00006302602"
    assert ndc11("57894-030-01") == "57894003001"
    assert ndc11("12345-6789-1") == "12345678901"
    assert ndc11("00006302602") == "00006302602"
    assert ndc11("0006302602") is None  # ten digits without hyphens are ambiguous


def test_reader_reports_a_file_without_claims() -> None:
    billed = read_837(
        b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *260101*1200*^*00501*000000001*0*T*:~IEA*0*000000001~",
        "empty.837",
    )
    assert billed.lines == {}
    assert billed.problems and "no 837 claim" in billed.problems[0][1]


def test_billed_csv_modifiers_and_bad_rows() -> None:
    text = (
        "encounter_id,code,units,modifiers,date\n"
        "E1,96365,1,,2026-01-15\n"
        "E1,96375,2,59|XS,2026-01-15\n"
        "E1,J1745,50,JZ JW,2026-01-15\n"
        "E2,96374,zero,,2026-01-15\n"
        ",96374,1,,\n"
    )
    billed = read_billed_csv(text.encode(), "billed.csv")
    assert [(line.code, line.units, line.modifiers) for line in billed.lines["E1"]] == [
        ("96365", 1, []),
        ("96375", 2, ["59", "XS"]),
        ("J1745", 50, ["JZ", "JW"]),
    ]
    assert [(eid, msg.split(":")[0]) for eid, msg in billed.problems] == [
        ("E2", "billed.csv row 5"),
        (None, "billed.csv row 6"),
    ]


def test_claim_command_writes_valid_files(tmp_path: Path) -> None:
    source = tmp_path / "encounters.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    toml_header = tmp_path / "header.toml"
    toml_header.write_text(_as_toml(json.loads((ROOT / "examples" / "claim-header.json").read_text())))
    for variant, head in (("837i", ROOT / "examples" / "claim-header.json"), ("837p", toml_header)):
        out = tmp_path / f"claims.{variant}"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "infusion_coder",
                "claim",
                variant,
                str(source),
                "--header",
                str(head),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
        )
        written = read_837(out.read_bytes(), out.name)
        kinds = {e["encounter_id"]: e["claim_type"] for e in EXAMPLES}
        wanted = {eid for eid, kind in kinds.items() if (kind == "institutional") == (variant == "837i")}
        assert set(written.lines) == wanted
        assert x12_errors(out.read_text()) == []
        # the others are skipped with a message naming them, and the exit code says so
        assert run.returncode == (1 if wanted != set(kinds) else 0)
        for eid in set(kinds) - wanted:
            assert f"encounter {eid}: skipped" in run.stderr


def test_site_revenue_codes_override(tmp_path: Path, coder: Coder) -> None:
    table = tmp_path / "revenue.csv"
    table.write_text("department,match,revenue_code\n*,therapeutic,0940\n*,hydration,0940\n")
    source = tmp_path / "ed.json"
    source.write_text(json.dumps([e for e in EXAMPLES if e["encounter_id"] == "OBS-4004"]))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "infusion_coder",
            "claim",
            "837i",
            str(source),
            "--header",
            str(ROOT / "examples" / "claim-header.json"),
            "--revenue-codes",
            str(table),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "SV2*0940*HC:96374" in run.stdout and "SV2*0260" not in run.stdout


def _as_toml(value: dict[str, object], prefix: str = "") -> str:
    """A small TOML writer for the test's header (tomllib reads, it does not write)."""
    simple, tables = [], []
    for key, item in value.items():
        if isinstance(item, dict):
            tables.append(_as_toml(item, f"{prefix}{key}."))
        elif item is not None:
            simple.append(f"{json.dumps(key)} = {json.dumps(item)}")
    head = f"[{prefix[:-1]}]\n" if prefix else ""
    return head + "\n".join(simple) + "\n\n" + "".join(tables)


# --- damaged billed-claim files (issue 16): a problem naming the file and claim, never a traceback ---------


@pytest.fixture(scope="module")
def three_claims() -> str:
    coder = Coder.default()
    claims = []
    for index, record in enumerate(EXAMPLES[:3]):
        encounter = Encounter.model_validate(
            dict(record, encounter_id=f"C{index}", claim_type="institutional")
        )
        claims.append(claim_for(coder, encounter))
    return write_837(claims, header(), "837i")


def _segments(text: str) -> list[str]:
    return text.split("~")


def test_a_claim_whose_clm_is_damaged_is_a_problem_and_the_others_are_read(three_claims: str) -> None:
    pieces = _segments(three_claims)
    clm = next(i for i, s in enumerate(pieces) if s.lstrip().startswith("CLM*C1*"))
    pieces[clm] = pieces[clm].replace("CLM*C1*", "HI*ABK:R11*", 1)  # pyx12: EngineError on CLM01
    billed = read_837("~".join(pieces).encode(), "damaged.837")
    assert set(billed.lines) == {"C0", "C2"}  # C1's lines cannot be placed without its CLM
    (problem,) = billed.problems
    assert re.match(r"damaged\.837: \d+ segment\(s\) are not where an 837 allows them", problem[1])
    assert re.search(r"segment \d+ HI, segment \d+ DTP", problem[1]) and "ABK" not in problem[1]  # ids only


def test_a_damaged_trailer_keeps_the_claims_read_before_it(three_claims: str) -> None:
    damaged = three_claims.replace("GE*1*1~", "GE*1*1~\nGE*1*1~")  # pyx12: IndexError on the second GE
    billed = read_837(damaged.encode(), "trailer.837")
    assert set(billed.lines) == {"C0", "C1", "C2"}
    assert billed.problems == [
        (
            None,
            "trailer.837: the file cannot be read after claim 'C2': a damaged segment or envelope "
            "(IndexError); any claims after it were not read",
        )
    ]


def test_a_file_cut_short_says_its_last_claims_were_not_read(three_claims: str) -> None:
    at = three_claims.index("CLM*C2*")
    billed = read_837(three_claims[: at + 200].encode(), "cut.837")  # inside C2's lines
    assert set(billed.lines) == {"C0", "C1"}
    assert billed.problems == [
        ("C2", "cut.837: claim 'C2' was not read: the 837's structure is damaged before or in it"),
        (
            None,
            "cut.837: the file does not end with its IEA trailer (cut short?): the claims after claim 'C1' "
            "were not read",
        ),
    ]


def test_a_claim_pyx12_passes_over_without_a_word_is_named(three_claims: str) -> None:
    pieces = _segments(three_claims)
    clm = next(i for i, s in enumerate(pieces) if s.lstrip().startswith("CLM*C1*"))
    pieces[clm] = ""  # an empty segment ("~~"): pyx12 stops giving claims there and says nothing
    billed = read_837("~".join(pieces).encode(), "quiet.837")
    assert set(billed.lines) == {"C0"}  # C1 has no CLM left; pyx12 gave nothing after it
    assert billed.problems == [
        ("C2", "quiet.837: claim 'C2' was not read: the 837's structure is damaged before or in it")
    ]


def test_a_file_pyx12_cannot_start_on_is_a_claim_error(three_claims: str) -> None:
    damaged = three_claims.replace("005010X223A2", "00501OX223A2")  # GS08: no map (EngineError)
    with pytest.raises(ClaimError, match=r"damaged\.837: not a readable X12 file: the GS/ST version"):
        read_837(damaged.encode(), "damaged.837")


def test_a_bad_service_line_names_the_claim_and_line(three_claims: str) -> None:
    damaged = three_claims.replace("*UN*1", "*UN*99999999999", 1)
    billed = read_837(damaged.encode(), "units.837")
    (problem,) = billed.problems
    assert problem[0] == "C0" and "units.837: claim C0: service line 1 (SV2)" in problem[1]
    assert "1-99,999" in problem[1]
    assert set(billed.lines) == {"C1", "C2"}


def test_billed_csv_row_longer_than_its_header_and_bad_units() -> None:
    text = "encounter_id,code,units\nE1,96365,1\nE1,96375,1,extra,more\nE2,96374,zero\nE3,96374,2\n"
    billed = read_billed_csv(text.encode(), "billed.csv")
    assert [line.code for line in billed.lines["E1"]] == ["96365"]
    assert [line.units for line in billed.lines["E3"]] == [2]
    assert billed.problems == [
        ("E1", "billed.csv row 3: more fields than the header"),
        ("E2", "billed.csv row 4: units 'zero' is not a whole number"),
    ]


def test_audit_billed_with_a_damaged_claim_file_gives_error_objects(
    tmp_path: Path, three_claims: str
) -> None:
    encounters = tmp_path / "e.jsonl"
    encounters.write_text(
        "".join(
            json.dumps(dict(record, encounter_id=f"C{i}", claim_type="institutional")) + "\n"
            for i, record in enumerate(EXAMPLES[:3])
        )
    )
    pieces = _segments(three_claims)
    clm = next(i for i, s in enumerate(pieces) if s.lstrip().startswith("CLM*C1*"))
    pieces[clm] = "NM1*ZZ"
    billed = tmp_path / "claims.837"
    billed.write_text("~".join(pieces))
    run = subprocess.run(
        [sys.executable, "-m", "infusion_coder", "audit", str(encounters), "--billed", str(billed)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert {r["encounter_id"] for r in records if "differences" in r} == {"C0", "C2"}
    errors = [r["error"]["message"] for r in records if "error" in r]
    assert errors and all("claims.837" in m for m in errors)
    assert any("not where an 837 allows them" in m for m in errors)  # C1's lines: said, not dropped
