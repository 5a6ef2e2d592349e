"""`infusion-coder report DIR`: counts over a batch's output tables with DuckDB (docs/batch.md has more
queries to run yourself)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..formats.tables import EXTENSIONS


class ReportError(Exception):
    pass


QUERIES: list[tuple[str, str]] = [
    (
        "Results by status and readiness",
        "SELECT status, coalesce(readiness, '-') AS readiness, count(*) AS encounters "
        "FROM results GROUP BY ALL ORDER BY encounters DESC, status, readiness",
    ),
    (
        "Lines by code",
        "SELECT code, count(*) AS lines, sum(units) AS units, count(DISTINCT seq) AS encounters "
        "FROM lines GROUP BY code ORDER BY lines DESC, code",
    ),
    (
        "Findings by id",
        "SELECT id, severity, count(*) AS findings, count(DISTINCT seq) AS encounters "
        "FROM findings GROUP BY ALL ORDER BY findings DESC, id",
    ),
    (
        "Encounters with the most error findings",
        "SELECT encounter_id, seq, error_findings, findings, lines FROM results "
        "WHERE error_findings > 0 ORDER BY error_findings DESC, seq LIMIT {top}",
    ),
    (
        "Records that could not be coded, by message",
        "SELECT left(message, 80) AS message, count(*) AS records FROM errors "
        "GROUP BY ALL ORDER BY records DESC, message LIMIT {top}",
    ),
]


def connect(folder: Path) -> Any:
    """A DuckDB connection with one view per table of the batch output in `folder`."""
    import duckdb

    con = duckdb.connect()
    for name in ("results", "lines", "drug_lines", "findings", "differences", "errors"):
        path = next(
            (folder / f"{name}.{ext}" for ext in EXTENSIONS.values() if (folder / f"{name}.{ext}").exists()),
            None,
        )
        if path is None:
            raise ReportError(f"{folder} has no {name} table: is it a finished 'batch' output?")
        text = str(path).replace("'", "''")
        if path.suffix == ".parquet":
            source = f"read_parquet('{text}')"
        elif path.suffix == ".csv":
            source = f"read_csv('{text}', header=true, all_varchar=false, sample_size=-1)"
        else:
            # the nested result object stays JSON: its full type would be slow to infer and of no use here
            depth = ", maximum_depth=1" if name == "results" else ""
            source = f"read_json('{text}', format='newline_delimited', sample_size=-1{depth})"
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM {source}")
    return con


def report_text(folder: Path, *, top: int = 10) -> str:
    con = connect(folder)
    sections = []
    for title, sql in QUERIES:
        cursor = con.execute(sql.format(top=int(top)))
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        sections.append(f"## {title}\n" + _table(names, rows))
    return "\n\n".join(sections)


def _table(names: list[str], rows: list[tuple[Any, ...]]) -> str:
    if not rows:
        return "(none)"
    cells = [names, *[[("" if v is None else str(v)) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(names))]
    lines = [
        "  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    return text.replace(".", "", 1).isdigit()
