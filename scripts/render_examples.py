"""Print the README's table of example results from the bundled examples (run: python scripts/render_examples.py)."""

from __future__ import annotations

import json
from pathlib import Path

from infusion_coder import Coder, Encounter

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def render(coder: Coder) -> str:
    rows = [
        "| example | readiness | lines (code x units, date) | drug lines | findings |",
        "|---|---|---|---|---|",
    ]
    for path in sorted(EXAMPLES.glob("*.json")):
        if '"administrations"' not in path.read_text():  # the claim header beside them is not an encounter
            continue
        result = coder.code(Encounter.model_validate(json.loads(path.read_text())))
        lines = "<br>".join(
            f"{line.code}{'-' + '-'.join(line.modifiers) if line.modifiers else ''} x{line.units} {line.date}"
            for line in result.lines
        )
        drugs = "<br>".join(
            f"{d.hcpcs}{'-' + '-'.join(d.modifiers) if d.modifiers else ''} x{d.units}"
            for d in result.drug_lines
        )
        findings = "<br>".join(f"{f.severity}: {f.id}" for f in result.findings)
        rows.append(f"| `{path.name}` | {result.readiness} | {lines} | {drugs} | {findings} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(render(Coder.default()))
