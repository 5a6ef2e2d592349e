"""Review queues from the command line: keep only the results a reviewer must look at (`--only`,
`--finding`), and show them as JSON, as a readable table at a terminal (`--format table`), or write them
as flat tables (`--format csv|parquet|xlsx --out DIR`)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..api import Result
    from ..formats.tables import TableSink

Only = Literal["hold", "warnings"]
ONLY: dict[str, str] = {
    "hold": "results on hold (an error finding)",
    "warnings": "results that need a look: on hold or ready with warnings",
}
STREAM_FORMATS = ("json", "table")  # on stdout
FOLDER_FORMATS = ("csv", "parquet", "xlsx")  # tables in --out DIR
OUTPUT_FORMATS = (*STREAM_FORMATS, *FOLDER_FORMATS)


class ViewError(ValueError):
    """A combination of options that cannot work; the command exits 2 with this message."""


@dataclass
class ReviewView:
    only: Only | None = None
    findings: frozenset[str] = frozenset()
    format: str = "json"
    sink: TableSink | None = None
    out: Path | None = None
    kept: int = 0
    skipped: int = 0
    _seq: int = field(default=0, repr=False)

    @classmethod
    def of(cls, only: str | None, findings: Sequence[str], format: str, out: Path | None) -> ReviewView:
        """The view the options ask for. Values are checked by the command (with "did you mean")."""
        if format in FOLDER_FORMATS and out is None:
            raise ViewError(f"--format {format} writes a folder of tables: name it with --out DIR")
        if format in STREAM_FORMATS and out is not None:
            raise ViewError(
                f"--out DIR writes tables: add --format {', '.join(FOLDER_FORMATS[:-1])} or "
                f"{FOLDER_FORMATS[-1]} (--format {format} writes to the terminal)"
            )
        return cls(only, frozenset(findings), format, None, out)  # type: ignore[arg-type]

    @property
    def filtering(self) -> bool:
        return self.only is not None or bool(self.findings)

    def open(self) -> None:
        """Make the folder's tables (after the checks, so a usage error writes nothing)."""
        if self.format in FOLDER_FORMATS and self.out is not None:
            from ..formats.tables import TableSink

            self.sink = TableSink(self.out, self.format)  # type: ignore[arg-type]

    def _has_finding(self, ids: set[str]) -> bool:
        """An id asked for, or one matching an asked pattern (`--finding 'mar-*'`)."""
        if ids & self.findings:
            return True
        patterns = [wanted for wanted in self.findings if "*" in wanted]
        return any(fnmatch.fnmatchcase(found, wanted) for wanted in patterns for found in ids)

    def wanted(self, result: Result) -> bool:
        """Error objects always stay in the queue: a record that could not be coded needs a look too."""
        from ..models import ErrorResult

        if isinstance(result, ErrorResult):
            return True
        if self.only == "hold" and result.readiness != "hold":
            return False
        if self.only == "warnings" and result.readiness == "ready":
            return False
        return not self.findings or self._has_finding({f.id for f in result.findings})

    def take(self, result: Result) -> bool:
        """True when the caller should still print the result (as JSON or as a table)."""
        seq, self._seq = self._seq, self._seq + 1
        if not self.wanted(result):
            self.skipped += 1
            return False
        self.kept += 1
        if self.sink is not None:
            self.sink.add(seq, result)
            return False
        return True

    def count(self) -> None:
        """A result written as it came, without take(): only when nothing is filtered and no folder written."""
        self._seq += 1
        self.kept += 1

    def close(self) -> str | None:
        """Flush the tables; a one-line account for stderr (counts only, no record contents), or None when
        nothing was filtered or written."""
        if self.sink is not None:
            self.sink.close()
        if self.sink is None and not self.filtering:
            return None
        if not self.filtering:
            return f"{self.kept} result(s) written as {self.format} tables to {self.out}"
        where = f" as {self.format} tables in {self.out}" if self.sink is not None else ""
        return f"{self.kept} result(s) kept{where}, {self.skipped} left out by the filters"
