"""Start-up of the command line (issue 18: `--help` and `--version` under 0.3 s; issue 19: `code` must not
import pyarrow): prints, for each command, the median wall time and CPU time of `--runs` runs, and the
heavy libraries the process imported. Prints figures only (no limit is asserted).

python scripts/startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pydantic", "pyarrow", "numpy", "duckdb", "fastapi", "uvicorn", "hl7apy", "fhir", "openpyxl", "rich")
PROBE = (
    "import sys\nfrom infusion_coder.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
    "sys.stderr.write('\\nMODULES ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
)
COMMANDS = [
    ["--help"],
    ["--version"],
    ["code", "--help"],
    ["code", str(ROOT / "examples" / "ed-visit.json")],
    ["code", str(ROOT / "examples" / "ed-visit.json"), "--format", "table"],
]


def _run(args: list[str], probe: bool = False) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    command = (
        [sys.executable, "-c", PROBE, *args] if probe else [sys.executable, "-m", "infusion_coder", *args]
    )
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {args.runs} runs each, median; load {os.getloadavg()[0]:.2f}")
    print(f"{'command':<48} {'wall s':>7} {'cpu s':>7}  heavy modules imported")
    for command in COMMANDS:
        runs = [_run(command) for _ in range(args.runs)]
        _, _, stderr = _run(command, probe=True)
        modules = set(stderr.rsplit("MODULES ", 1)[-1].split()) if "MODULES " in stderr else set()
        heavy = ", ".join(m for m in HEAVY if m in modules) or "none"
        label = "infusion-coder " + " ".join(Path(a).name if "/" in a else a for a in command)
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"{label:<48} {wall:>7.3f} {cpu:>7.3f}  {heavy}")


if __name__ == "__main__":
    main()
