"""Issue 17: coding as published answers and CMS's own edit tables read it. Each test goes through the public
API (Coder.code_record, as `infusion-coder code -` does) and failed before its fix."""

from __future__ import annotations

from collections import Counter
from typing import Any

from typer.testing import CliRunner

from helpers import at, encounter, grouped
from infusion_coder import Coder
from infusion_coder.cli import commands as cli_module
from infusion_coder.models import CodingResult, ErrorResult


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
