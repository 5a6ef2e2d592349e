"""The bundled examples code cleanly and the README shows their current results."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from infusion_coder import Coder, Encounter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from render_examples import render  # noqa: E402


def test_readme_shows_the_current_example_results(coder: Coder) -> None:
    readme = (ROOT / "README.md").read_text()
    assert render(coder) in readme, "README example table is stale: run python scripts/render_examples.py"


def test_examples_cover_the_promised_scenarios(coder: Coder) -> None:
    codes = {}
    for path in (ROOT / "examples").glob("*.json"):
        if '"administrations"' not in path.read_text():  # the claim header beside them is not an encounter
            continue
        result = coder.code(Encounter.model_validate(json.loads(path.read_text())))
        codes[path.stem] = {line.code for line in result.lines}
    assert {"96365", "96375", "96376", "96361"} <= codes["ed-visit"]
    assert {"96413", "96415", "96417", "96367", "96368", "96361", "96375"} <= codes["chemo-day"]
    assert {"96402", "96372"} <= codes["office-injections"]
    assert {"96374", "96361", "96372"} <= codes["observation-overnight"]


def test_readme_shows_the_current_table_view(monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from infusion_coder.cli import app

    monkeypatch.setenv("COLUMNS", "110")
    run = CliRunner().invoke(app, ["code", str(ROOT / "examples" / "ed-visit.json"), "--format", "table"])
    shown = "\n".join(line.rstrip() for line in run.stdout.strip().splitlines())
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- table-view:", 1)[1].split("```\n", 1)[1].split("```", 1)[0].strip()
    assert shown == block, "README's table view is stale: paste `code examples/ed-visit.json --format table`"
