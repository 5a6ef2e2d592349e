"""Review queues from the command line: keep only the results a reviewer must look at (`--only`,
`--finding`), and write them as flat tables (`--format csv|parquet --out DIR`) instead of JSON Lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..api import Result
from ..formats.tables import TableSink
from ..models import ErrorResult

Only = Literal["hold", "warnings"]
ONLY: dict[str, str] = {
    "hold": "results on hold (an error finding)",
    "warnings": "results that need a look: on hold or ready with warnings",
}


@dataclass
class ReviewView:
    only: Only | None = None
    findings: frozenset[str] = frozenset()
    sink: TableSink | None = None
    out: Path | None = None
    kept: int = 0
    skipped: int = 0
    _seq: int = field(default=0, repr=False)

    @classmethod
    def of(
        cls, only: str | None, findings: Sequence[str], format: str, out: Path | None
    ) -> ReviewView | None:
        """The view the options ask for, or None for plain JSON output of every result."""
        if only is not None and only not in ONLY:
            raise ValueError(f"--only is one of {', '.join(ONLY)}, not {only!r}")
        if format not in ("json", "csv", "parquet"):
            raise ValueError(f"--format is json, csv or parquet, not {format!r}")
        if format != "json" and out is None:
            raise ValueError(f"--format {format} writes a folder of tables: name it with --out DIR")
        if only is None and not findings and format == "json":
            return None
        sink = TableSink(out, "csv" if format == "csv" else "parquet") if format != "json" and out else None
        return cls(only, frozenset(findings), sink, out)  # type: ignore[arg-type]

    def wanted(self, result: Result) -> bool:
        """Error objects always stay in the queue: a record that could not be coded needs a look too."""
        if isinstance(result, ErrorResult):
            return True
        if self.only == "hold" and result.readiness != "hold":
            return False
        if self.only == "warnings" and result.readiness == "ready":
            return False
        return not self.findings or any(f.id in self.findings for f in result.findings)

    def take(self, result: Result) -> bool:
        """True when the caller should still print the result as JSON."""
        seq, self._seq = self._seq, self._seq + 1
        if not self.wanted(result):
            self.skipped += 1
            return False
        self.kept += 1
        if self.sink is not None:
            self.sink.add(seq, result)
            return False
        return True

    def close(self) -> str:
        """Flush the tables; a one-line account for stderr (counts only, no record contents)."""
        if self.sink is not None:
            self.sink.close()
        where = f" as tables in {self.out}" if self.sink is not None else ""
        return f"{self.kept} result(s) kept{where}, {self.skipped} left out by the filters"
