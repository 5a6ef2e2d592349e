"""Print the README's table of example results from the bundled examples (run: python scripts/render_examples.py)."""

from __future__ import annotations

import json
from pathlib import Path

from infusion_coder import Coder, Encounter

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def render(coder: Coder) -> str:
    rows = ["| example | lines (code x units, date) | findings |", "|---|---|---|"]
    for path in sorted(EXAMPLES.glob("*.json")):
        result = coder.code(Encounter.model_validate(json.loads(path.read_text())))
        lines = "<br>".join(
            f"{line.code}{'-' + '-'.join(line.modifiers) if line.modifiers else ''} x{line.units} {line.date}"
            for line in result.lines
        )
        findings = "<br>".join(f"{f.severity}: {f.id}" for f in result.findings)
        rows.append(f"| `{path.name}` | {lines} | {findings} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(render(Coder.default()))
