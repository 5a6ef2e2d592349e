"""Compliance-first behaviour (issue 10): what holds a claim, what is refused, what a finding must say."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import encounter, grouped
from infusion_coder import Coder, Encounter
from infusion_coder.models import CodingResult, ErrorResult


def code(coder: Coder, admins: list[dict[str, Any]], **fields: Any) -> CodingResult:
    return coder.code(Encounter.model_validate(encounter(admins, **fields)))


def severities(result: CodingResult, finding: str) -> set[str]:
    return {f.severity for f in result.findings if f.id == finding}


@pytest.mark.parametrize(
    ("name", "meant"),
    [("stop", "end"), ("stop_time", "end"), ("end_time", "end"), ("endtime", "end"), ("start_time", "start")],
)
def test_misnamed_time_field_is_an_error_naming_the_right_field(coder: Coder, name: str, meant: str) -> None:
    spec: dict[str, Any] = {"substance": "vancomycin 1 g", "start": "09:00", "end": "10:00"}
    spec.pop(meant)
    spec[name] = "2026-01-15T10:00"
    result = coder.code_record(encounter([spec]))
    assert isinstance(result, ErrorResult)
    assert result.error.field == f"administrations[0].{name}"
    assert repr(meant) in result.error.message


def test_unresolved_route_holds_the_claim(coder: Coder) -> None:
    result = code(coder, [{"substance": "ceftriaxone 1 g", "route": "per protocol", "start": "09:00"}])
    assert result.lines == []
    assert severities(result, "route-unresolved") == {"error"}
    assert result.readiness == "hold"


def test_unknown_substance_on_an_iv_route_holds_but_by_mouth_does_not(coder: Coder) -> None:
    iv = code(coder, [{"substance": "xyzzy compound", "start": "09:00", "end": "10:00"}])
    assert severities(iv, "unknown-substance") == {"error"} and iv.readiness == "hold"
    oral = code(coder, [{"substance": "xyzzy compound", "route": "oral", "start": "09:00"}])
    assert oral.readiness != "hold"


def test_ivpb_without_a_start_is_an_error_not_a_crash(coder: Coder) -> None:
    result = code(coder, [{"substance": "cefazolin 2 g", "route": "IVPB"}])
    assert result.lines == [] and severities(result, "start-missing") == {"error"}


@pytest.mark.parametrize(
    "text",
    [
        "SODIUM CHLORIDE 0.9 % IV BOLUS",
        "ONDANSETRON HCL (PF) 4 MG/2 ML INJECTION",
        "METOCLOPRAMIDE HYDROCHLORIDE 10 MG/2 ML",
        "morphine sulfate (PF) 4 mg/mL",
        "DEXAMETHASONE SODIUM PHOSPHATE 10 MG/ML",
        "ceftriaxone sodium 1 g",
    ],
)
def test_ehr_substance_strings_find_their_entry(coder: Coder, text: str) -> None:
    assert coder.reference.latest.substances.match(text), text


def test_two_unnamed_concurrent_drugs_keep_96368(coder: Coder) -> None:
    result = code(
        coder,
        [
            {
                "substance": "first drug (unnamed)",
                "category": "therapeutic",
                "start": "09:00",
                "end": "10:30",
            },
            {
                "substance": "second drug (unnamed)",
                "category": "therapeutic",
                "start": "09:15",
                "end": "10:15",
            },
        ],
    )
    assert grouped(result.lines) == {"96365": 1, "96368": 1}


SECOND_ACCESS = [
    {
        "substance": "vancomycin 1 g",
        "start": "09:00",
        "end": "10:10",
        "access": "L forearm",
        "indication": "sepsis",
    },
    {
        "substance": "normal saline",
        "start": "09:00",
        "end": "10:00",
        "access": "R hand",
        "indication": "hypotension",
    },
]


def test_undocumented_second_access_keeps_its_line_and_holds(coder: Coder) -> None:
    result = code(coder, SECOND_ACCESS)
    assert grouped(result.lines) == {"96365": 1, "96360-59": 1}
    assert severities(result, "second-access-undocumented") == {"error"}
    assert result.readiness == "hold"


def test_merge_profile_joins_the_second_access(coder: Coder) -> None:
    result = code(coder, SECOND_ACCESS, policy="cms-merge-access")
    assert "96360-59" not in grouped(result.lines)
    assert result.readiness != "hold"


def test_assumed_push_of_a_drug_never_pushed_holds(coder: Coder) -> None:
    result = code(coder, [{"substance": "vancomycin 1 g", "method": "infusion", "start": "09:00"}])
    assert severities(result, "assumed-push-usually-infused") == {"error"} and result.readiness == "hold"
    other = code(coder, [{"substance": "famotidine 20 mg", "method": "infusion", "start": "09:00"}])
    assert other.readiness != "hold"


def test_split_dose_per_injection_is_a_warning_and_per_dose_an_info(coder: Coder) -> None:
    shots = [
        {"substance": "leuprolide 22.5 mg", "route": "intramuscular", "start": "09:00", "access": "L glute"},
        {"substance": "leuprolide 22.5 mg", "route": "intramuscular", "start": "09:00", "access": "R glute"},
    ]
    assert severities(code(coder, shots), "split-dose-injection") == {"warning"}
    assert severities(code(coder, shots, policy="noridian-ja"), "split-dose-injection") == {"info"}


def test_hydration_reason_calibration(coder: Coder) -> None:
    fluid = {"substance": "normal saline", "start": "09:00", "end": "10:00"}
    unstated = code(coder, [fluid])
    assert severities(unstated, "hydration-necessity-unstated") == {"info"}
    routine = code(coder, [{**fluid, "indication": "post-op maintenance"}])
    assert severities(routine, "hydration-necessity") == {"warning"}
    shown = code(coder, [{**fluid, "indication": "dehydration"}])
    assert not {"hydration-necessity", "hydration-necessity-unstated"} & {f.id for f in shown.findings}
