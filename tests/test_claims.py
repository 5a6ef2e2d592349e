"""Billed claims in and money on every difference: gold cases audited against 837 claims written from
their expected lines, deliberately altered claims caught with direction and amount, amounts that match
the CMS files in ../shared/data, the audit command's join, summary and FHIR Claim output."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from claim_support import CMS, EXAMPLES, GOLD, ROOT, asp_limit, claim_for, expected_result, header, opps_rate
from helpers import encounter as make_encounter
from infusion_coder import Coder, Encounter
from infusion_coder.claims import Claim
from infusion_coder.formats.billed import read_billed
from infusion_coder.formats.fhir_claim import CPT, HCPCS, NDC, claim_resource
from infusion_coder.formats.x12 import read_837, write_837
from infusion_coder.models import AuditResult, BilledLine

needs_gold = pytest.mark.skipif(not GOLD, reason="no shared/ folder beside the checkout")
needs_cms = pytest.mark.skipif(not CMS.exists(), reason="no ../shared/data/cms folder beside the checkout")


def _audit(coder: Coder, record: dict[str, Any], billed: list[BilledLine]) -> AuditResult:
    lines = [line.model_dump(mode="json", exclude_none=True) for line in billed]
    return coder.audit(Encounter.model_validate(dict(record, billed_lines=lines)))


def _through_837(claims: list[Claim]) -> dict[str, list[BilledLine]]:
    billed: dict[str, list[BilledLine]] = {}
    for variant in ("837i", "837p"):
        chosen = [c for c in claims if (c.claim_type == "institutional") == (variant == "837i")]
        if chosen:
            back = read_837(write_837(chosen, header(), variant).encode(), variant)  # type: ignore[arg-type]
            assert back.problems == []
            billed.update(back.lines)
    return billed


@needs_gold
def test_gold_cases_against_claims_of_their_expected_lines(coder: Coder) -> None:
    cases, claims = {}, []
    for case in GOLD:
        encounter, result = expected_result(coder, case)
        if result.lines:
            cases[encounter.encounter_id] = case
            claims.append(claim_for(coder, encounter, result))
    billed = _through_837(claims)
    assert set(billed) == set(cases)
    for eid, case in cases.items():
        found = _audit(coder, case["encounter"], billed[eid]).differences
        if case["scope"] == "partial":
            listed = {line["code"] for line in case["expected"]["lines"]}
            assert [d for d in found if d.code in listed] == [], eid
        else:
            assert found == [], (eid, [d.message for d in found])


def _priced(code: str, units: int) -> float:
    status, rate = opps_rate(code)
    return 0.0 if status == "N" else round(units * (rate or 0.0), 2)


@needs_gold
@needs_cms
def test_altered_claims_are_caught_with_direction_and_amount(coder: Coder) -> None:
    chosen = [c for c in GOLD if c["scope"] == "complete" and c["encounter"]["claim_type"] == "institutional"]
    claims: list[Claim] = []
    expect: dict[str, tuple[str, str, str, float]] = {}
    records: dict[str, dict[str, Any]] = {}
    for case in chosen:
        encounter, result = expected_result(coder, case)
        if not result.lines or result.lines[0].date is None:
            continue
        claim = claim_for(coder, encounter, result)
        first = claim.lines[0]
        if opps_rate(first.code)[0] == "Q1":
            continue  # conditional packaging depends on the other lines; tested on its own below
        rest = list(claim.lines[1:])
        # dropping a line leaves fewer units when another line has the same code, and the added modifier
        # must be one the code's lines do not carry already (modifiers compare as sets per code)
        same = [line for line in rest if line.code == first.code]
        used = {m for line in claim.lines if line.code == first.code for m in line.modifiers}
        extra_mod = next(m for m in ("59", "XU", "XS") if m not in used)
        week_late = dataclasses.replace(first, date=first.date + dt.timedelta(days=7))
        altered = {
            "drop": (
                [*rest],
                "wrong-units" if same else "under-coded",
                "less than supported",
                _priced(first.code, first.units),
            ),
            "units": (
                [dataclasses.replace(first, units=first.units + 1), *rest],
                "wrong-units",
                "more than supported",
                _priced(first.code, 1),
            ),
            "mod": (
                [dataclasses.replace(first, modifiers=(*first.modifiers, extra_mod)), *rest],
                "wrong-modifiers",
                "more than supported",
                _priced(first.code, first.units),
            ),
            "date": (
                [week_late, *rest],
                "wrong-date",
                "more than supported",
                _priced(first.code, first.units),
            ),
        }
        for tag, (lines, kind, money, amount) in altered.items():
            if not lines:
                continue
            eid = f"{encounter.encounter_id}-{tag}"
            claims.append(dataclasses.replace(claim, encounter_id=eid, lines=tuple(lines)))
            expect[eid] = (first.code, kind, money, amount)
            records[eid] = dict(case["encounter"], encounter_id=eid)
    assert len(expect) >= 60
    billed = _through_837(claims)
    for eid, (code, kind, money, amount) in expect.items():
        found = _audit(coder, records[eid], billed[eid]).differences
        hits = [d for d in found if d.code == code and d.kind == kind]
        assert len(hits) == 1, (eid, [d.message for d in found])
        assert hits[0].money == money, eid
        assert hits[0].amount == pytest.approx(amount), (eid, hits[0].basis)
        assert hits[0].basis and "Addendum B 2026Q1" in hits[0].basis


def _drug_record(**extra: Any) -> dict[str, Any]:
    return make_encounter(
        [
            {
                "substance": "infliximab",
                "start": "09:00",
                "end": "11:00",
                "dose": 500,
                "dose_unit": "mg",
                **extra,
            }
        ],
        encounter_id="DRUG-1",
    )


@needs_cms
def test_a_wrong_drug_unit_is_priced_at_the_asp_limit(coder: Coder) -> None:
    record = _drug_record()
    claim = claim_for(coder, Encounter.model_validate(record))
    right = _through_837([claim])["DRUG-1"]
    assert [(b.code, b.units) for b in right if b.code == "J1745"] == [("J1745", 50)]
    assert _audit(coder, record, right).differences == []  # J1745 x50 billed as supported
    wrong = [b.model_copy(update={"units": 53}) if b.code == "J1745" else b for b in right]
    found = _audit(coder, record, wrong).differences
    assert [(d.kind, d.code, d.line, d.money) for d in found] == [
        ("wrong-units", "J1745", "drug", "more than supported")
    ]
    assert found[0].amount == pytest.approx(round(3 * asp_limit("J1745"), 2))
    assert "ASP payment limit per 10 MG" in (found[0].basis or "")


@needs_cms
def test_amounts_match_addendum_b(coder: Coder) -> None:
    singles = {
        "96365": [{"substance": "vancomycin", "start": "09:00", "end": "09:50"}],
        "96374": [{"substance": "ondansetron", "start": "09:00", "method": "push"}],
        "96413": [
            {"substance": "cisplatin", "start": "09:00", "end": "09:55", "dose": 100, "dose_unit": "mg"}
        ],
    }
    for code, admins in singles.items():
        result = _audit(coder, make_encounter(admins), [])
        hit = next(d for d in result.differences if d.code == code)
        status, rate = opps_rate(code)
        assert (hit.kind, hit.money, status) == ("under-coded", "less than supported", "S")
        assert hit.amount == pytest.approx(rate)
        assert result.amount_at_stake >= hit.amount
    # a packaged add-on: billed without support, worth nothing separately under OPPS
    pushes = make_encounter([{"substance": "ondansetron", "start": "09:00", "method": "push"}])
    found = _audit(coder, pushes, [BilledLine(code="96374"), BilledLine(code="96376")]).differences
    assert opps_rate("96376")[0] == "N"
    assert [(d.kind, d.code, d.amount) for d in found] == [("over-coded", "96376", 0.0)]
    assert "status N" in (found[0].basis or "")


def test_professional_lines_have_no_amount_but_drugs_do(coder: Coder) -> None:
    record = _drug_record()
    record.update(claim_type="professional", place_of_service="11")
    found = _audit(coder, record, []).differences
    admin = next(d for d in found if d.code == "96413")
    assert admin.amount is None and "physician fee schedule" in (admin.basis or "")
    drug = next(d for d in found if d.code == "J1745")
    assert drug.amount is not None and drug.amount > 0


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infusion_coder", *args], capture_output=True, text=True)


def test_audit_command_joins_claims_and_reports_the_unmatched(tmp_path: Path, coder: Coder) -> None:
    one = _drug_record()
    two = dict(
        make_encounter([{"substance": "ondansetron", "start": "09:00", "method": "push"}]),
        encounter_id="PUSH-2",
    )
    three = dict(two, encounter_id="NO-CLAIM-3")
    encounters = tmp_path / "encounters.jsonl"
    encounters.write_text("".join(json.dumps(e) + "\n" for e in (one, two, three)))
    claims = [claim_for(coder, Encounter.model_validate(e)) for e in (one, two)]
    orphan = dataclasses.replace(claims[1], encounter_id="ORPHAN-9")
    # DRUG-1 billed with 5 extra J1745 units, PUSH-2 with an extra push
    claims[0] = dataclasses.replace(
        claims[0],
        lines=tuple(dataclasses.replace(x, units=55) if x.code == "J1745" else x for x in claims[0].lines),
    )
    claims[1] = dataclasses.replace(
        claims[1], lines=(*claims[1].lines, dataclasses.replace(claims[1].lines[0], code="96375"))
    )
    billed = tmp_path / "claims.837"
    billed.write_text(write_837([*claims, orphan], header(), "837i"))
    run = _run("audit", str(encounters), "--billed", str(billed), "--summary")
    assert run.returncode == 1  # unmatched claims and encounters are errors in the stream
    out = [json.loads(line) for line in run.stdout.splitlines()]
    by_id = {r["encounter_id"]: r for r in out}
    assert set(by_id) == {"DRUG-1", "PUSH-2", "NO-CLAIM-3", "ORPHAN-9"}
    assert by_id["NO-CLAIM-3"]["error"]["field"] == "billed"
    assert "has no encounter" in by_id["ORPHAN-9"]["error"]["message"]
    assert [(d["kind"], d["code"]) for d in by_id["DRUG-1"]["differences"]] == [("wrong-units", "J1745")]
    assert [(d["kind"], d["code"]) for d in by_id["PUSH-2"]["differences"]] == [("over-coded", "96375")]
    # the summary ranks by amount: 5 J1745 units outweigh one 96375
    ranked = [line.split()[1] for line in run.stderr.splitlines() if line.strip()[:1].isdigit()]
    assert ranked == ["DRUG-1", "PUSH-2"]
    assert by_id["DRUG-1"]["amount_at_stake"] > by_id["PUSH-2"]["amount_at_stake"] > 0


def test_audit_command_reads_a_billed_csv(tmp_path: Path) -> None:
    record = make_encounter(
        [{"substance": "vancomycin", "start": "09:00", "end": "10:40"}], encounter_id="E1"
    )
    source = tmp_path / "e.json"
    source.write_text(json.dumps(record))
    csv_file = tmp_path / "billed.csv"
    csv_file.write_text(
        "encounter_id,code,units,modifiers,date\nE1,96365,1,,2026-01-15\nE1,96366,1,,2026-01-22\n"
    )
    run = _run("audit", str(source), "--billed", str(csv_file))
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert [(d["kind"], d["code"], d["billed_dates"]) for d in result["differences"]] == [
        ("wrong-date", "96366", ["2026-01-22"])
    ]
    assert read_billed(csv_file).lines["E1"][1].date == dt.date(2026, 1, 22)


def test_an_encounter_whose_only_claim_row_is_unreadable_gets_one_answer(tmp_path: Path) -> None:
    records = [
        make_encounter([{"substance": "vancomycin", "start": "09:00", "end": "10:40"}], encounter_id=e)
        for e in ("E1", "E2")
    ]
    source = tmp_path / "e.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    csv_file = tmp_path / "billed.csv"
    csv_file.write_text("encounter_id,code,units,modifiers,date\nE1,96365,1,,2026-01-15\nE2,96365,many,,\n")
    run = _run("audit", str(source), "--billed", str(csv_file))
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.returncode == 1
    assert [a["encounter_id"] for a in answers] == ["E1", "E2"]  # one answer each, none lost
    assert "differences" in answers[0] and "row 3" in answers[1]["error"]["message"]


def test_fhir_claims_validate_and_carry_the_same_lines(tmp_path: Path, coder: Coder) -> None:
    from fhir.resources.R4B.claim import Claim as FhirClaim

    ndc = _drug_record(ndc="57894-0030-01")
    source = tmp_path / "encounters.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in [*EXAMPLES, ndc]))
    run = _run("claim", "fhir", str(source), "--header", str(ROOT / "examples" / "claim-header.json"))
    assert run.returncode == 0, run.stderr
    resources = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(resources) == len(EXAMPLES) + 1
    for body in resources:
        FhirClaim.model_validate(body)  # raises on an invalid resource
        record = next(e for e in [*EXAMPLES, ndc] if e["encounter_id"] == body["identifier"][0]["value"])
        claim = claim_for(coder, Encounter.model_validate(record))
        got = [
            (
                i["productOrService"]["coding"][0]["code"],
                i["quantity"]["value"],
                [m["coding"][0]["code"] for m in i.get("modifier", [])],
                i["servicedDate"],
                i.get("revenue", {}).get("coding", [{}])[0].get("code"),
            )
            for i in body["item"]
        ]
        want = [(x.code, x.units, list(x.modifiers), x.date.isoformat(), x.revenue_code) for x in claim.lines]
        assert got == want
        for item in body["item"]:
            code = item["productOrService"]["coding"][0]
            assert code["system"] == (CPT if code["code"][0].isdigit() else HCPCS)
    drug = next(i for i in resources[-1]["item"] if i["productOrService"]["coding"][0]["code"] == "J1745")
    assert drug["detail"][0]["productOrService"]["coding"][0] == {"system": NDC, "code": "57894003001"}
    assert drug["detail"][0]["quantity"]["value"] == 500
    assert (
        claim_resource(claim_for(coder, Encounter.model_validate(ndc)))["type"]["coding"][0]["code"]
        == "institutional"
    )


@needs_cms
def test_conditionally_packaged_injection(coder: Coder) -> None:
    status, rate = opps_rate("96372")
    assert status == "Q1"
    alone = make_encounter([{"substance": "ceftriaxone", "route": "intramuscular", "start": "09:00"}])
    hit = next(d for d in _audit(coder, alone, []).differences if d.code == "96372")
    assert hit.amount == pytest.approx(rate)  # paid when no S, T or V service is on the claim that day
    beside = make_encounter(
        [
            {"substance": "ondansetron", "start": "09:00", "method": "push"},
            {"substance": "ceftriaxone", "route": "intramuscular", "start": "09:30"},
        ]
    )
    found = _audit(coder, beside, [BilledLine(code="96374", date=dt.date(2026, 1, 15))]).differences
    hit = next(d for d in found if d.code == "96372")
    assert hit.amount == 0.0 and "packaged when a status S, T or V" in (hit.basis or "")


def test_an_unreadable_claims_file_is_named(tmp_path: Path) -> None:
    source = tmp_path / "e.json"
    source.write_text(
        json.dumps(make_encounter([{"substance": "ondansetron", "start": "09:00", "method": "push"}]))
    )
    broken = tmp_path / "broken.837"
    broken.write_text("ISA*too short~")
    run = _run("audit", str(source), "--billed", str(broken))
    assert run.returncode == 2 and "broken.837: not a readable X12 file" in run.stderr
    no_code = tmp_path / "billed.csv"
    no_code.write_text("encounter_id,units\nt,1\n")
    run = _run("audit", str(source), "--billed", str(no_code))
    assert run.returncode == 2 and "missing column(s) code" in run.stderr


@needs_cms
def test_bundled_money_tables_match_the_cms_files(coder: Coder) -> None:
    import csv

    money = coder.reference.latest.money
    with (CMS / "opps_addendum_b_2025q4_oct_codes.csv").open(newline="") as handle:
        cms = {row["hcpcs"]: row for row in csv.DictReader(handle)}
    # CY2026: status and APC of the codes that changed or were missing, and the drug-administration APC rates
    with (CMS / "opps_2026q1_jan_si_changes.csv").open(newline="") as handle:
        for change in csv.DictReader(handle):
            cms[change["hcpcs"]] = {**change, "payment_rate": ""}
    with (CMS / "opps_2026q1_jan_apc_rates.csv").open(newline="") as handle:
        rates_2026 = {row["apc"]: row["payment_rate"] for row in csv.DictReader(handle)}
    assert set(coder.reference.latest.codes.codes) <= set(money.opps)
    for code, row in money.opps.items():
        source = cms[code]
        rate = (
            rates_2026.get(source["apc"]) or source["payment_rate"].replace("$", "").replace(",", "").strip()
        )
        assert (row.status, row.apc or "") == (source["status_indicator"], source["apc"]), code
        assert row.rate == (pytest.approx(float(rate)) if rate not in ("", ".") else None), code
    # C8957 moved from APC 5694 to 5693 on 2026-01-01 (I/OCE v27.0)
    assert (money.opps["C8957"].apc, money.opps["C8957"].rate) == ("5693", pytest.approx(217.31))
    assert len(money.asp) > 800
    for code in ("J1745", "J9271", "J2405", "J9181"):
        assert money.asp[code].limit == pytest.approx(asp_limit(code))
    assert money.opps_quarter == "2026Q1" and "January 2026" in money.opps_source
    assert "national unadjusted" in money.statement.lower() or "NATIONAL UNADJUSTED" in money.statement
