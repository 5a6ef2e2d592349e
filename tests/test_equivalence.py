"""Output oracle: 2,000 seeded encounters (scripts/equivalence.py) must code to the committed digest: the same
JSON values in the same key order. A failure means the output changed: if that was the purpose, regenerate the
digest as the script's docstring says; if not, a speed-up changed behaviour."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import equivalence_script

ROOT = Path(__file__).resolve().parent.parent
DIGEST = ROOT / "tests" / "equivalence" / "digest-2000.json"


def test_output_identical_to_committed_digest() -> None:
    saved = json.loads(DIGEST.read_text())
    made = equivalence_script().digest(saved["n"], saved["seed"], saved["gold"])
    differing = [
        (i, origin)
        for i, (a, b, origin) in enumerate(
            zip(made["records"], saved["records"], made["origins"], strict=False)
        )
        if a != b
    ]
    assert len(made["records"]) == len(saved["records"])
    assert not differing, f"{len(differing)} record(s) code differently, first: {differing[:5]}"
    assert made["overall"] == saved["overall"]
