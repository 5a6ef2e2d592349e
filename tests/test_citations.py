"""User-facing text names sources a user has (a CMS manual section, a MAC article, CPT Assistant, a URL), never
a path of this repository or a key of its research notes ("rules.md R2.7", "peers.md 2.4", "../shared/...").
Scanned: the rule catalog, the policy profiles, the money sources an audit quotes, the `rules` and
`policies` commands, and every result of the gold cases and the shipped examples (issue 17)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infusion_coder import CATALOG, Coder
from infusion_coder.cli import commands as cli_module
from infusion_coder.rules.sources import SOURCES

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT.parent / "shared" / "cases" / "dev.jsonl"
EXAMPLES = ROOT / "src" / "infusion_coder" / "examples"

# A repository path or a key of the project's research notes, as it could leak into a message.
FORBIDDEN = re.compile(
    r"\.\./|\bshared/|\b[\w-]+\.md\b|\b(?:src|tests|scripts|docs)/|\bS\d{1,2}\b|\bR\d\.\d+\b|\b[CUT]\d{1,2}\b"
)


def leaks(text: str) -> list[str]:
    return FORBIDDEN.findall(text)


def test_the_pattern_catches_what_it_must() -> None:
    for text in ("rules.md R2.7", "peers.md 2.4", "../shared/data/cms", "see (C7, S11)", "scripts/x.py"):
        assert leaks(text), text
    for text in ("C8957 and G0498", "96376 x2", "IOM 100-04 Ch.4 s230.2(B)", "https://www.cms.gov/a/b.html"):
        assert not leaks(text), text


def test_every_rule_cites_primary_sources_a_user_can_look_up() -> None:
    for rule in CATALOG:
        assert rule.cites and all(key in SOURCES for key in rule.cites), rule.id
        for text in (rule.citation, rule.summary, rule.doc, rule.name):
            assert not leaks(text), (rule.id, leaks(text))


def test_every_policy_text_names_its_source_without_repository_paths(coder: Coder) -> None:
    pack = coder.reference.latest
    for name, profile in pack.policies.items():
        assert not leaks(profile.description), name
        for option, value in profile.values.items():
            assert value.source and not leaks(value.source), (name, option, leaks(value.source))
    for option, body in pack.options.items():
        assert not leaks(json.dumps(body)), option


def test_money_sources_quoted_by_an_audit_name_no_repository_path(coder: Coder) -> None:
    money = coder.reference.latest.money
    for text in (money.opps_source, money.asp_source, money.statement):
        assert not leaks(text), leaks(text)


def test_the_rules_and_policies_commands_print_no_repository_path() -> None:
    for command in ("rules", "policies"):
        run = CliRunner().invoke(cli_module.app, [command])
        assert run.exit_code == 0
        assert not leaks(run.output), (command, sorted(set(leaks(run.output))))


def _records() -> list[Any]:
    records = [json.loads(path.read_text()) for path in sorted(EXAMPLES.glob("*.json"))]
    if GOLD.exists():
        records += [json.loads(line)["encounter"] for line in GOLD.read_text().splitlines() if line.strip()]
    return records


@pytest.mark.parametrize("policy", [None, "cms-x", "cpt", "noridian-ja", "cms-derive"])
def test_results_of_the_gold_cases_and_examples_name_no_repository_path(
    coder: Coder, policy: str | None
) -> None:
    records = _records()
    assert len(records) >= 4
    for record in records:
        for result in (
            coder.code_record(record, policy=policy),
            coder.audit_record({**record, "billed_lines": []}),
        ):
            texts = [line.explanation for line in getattr(result, "lines", [])]
            texts += [f.message for f in getattr(result, "findings", [])]
            texts += [line.explanation for line in getattr(result, "drug_lines", [])]
            texts += [d.message + " " + (d.basis or "") for d in getattr(result, "differences", [])]
            for text in texts:
                assert not leaks(text), (record.get("encounter_id"), leaks(text), text[:200])
