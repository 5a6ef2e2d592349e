"""`infusion-coder report DIR`: counts over a batch's output tables with DuckDB (docs/batch.md has more
queries to run yourself)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..formats.tables import EXTENSIONS, WORKBOOK


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

    if not folder.is_dir():
        raise ReportError(f"{folder} is not a folder: give the --out folder of a finished 'batch' run")
    if (folder / WORKBOOK).exists() and not (folder / "results.parquet").exists():
        raise ReportError(
            f"{folder} holds an xlsx workbook, which report does not read: open it in a spreadsheet, or run "
            "batch with --format parquet (or csv, jsonl) for report and SQL"
        )
    con = duckdb.connect()
    for name in ("results", "lines", "drug_lines", "findings", "differences", "errors"):
        path = next(
            (
                folder / f"{name}.{ext}"
                for ext in EXTENSIONS.values()
                if ext != "xlsx" and (folder / f"{name}.{ext}").exists()
            ),
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


def tables(folder: Path, *, top: int = 10) -> list[Any]:
    """The report's sections as rich tables (a caption says when a section is empty)."""
    from rich import box
    from rich.table import Table

    con = connect(folder)
    out = []
    for title, sql in QUERIES:
        cursor = con.execute(sql.format(top=int(top)))
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        table = Table(
            title=title,
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            caption="(none)" if not rows else None,
            caption_justify="left",
        )
        numeric = [
            bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
            for i in range(len(names))
        ]
        for name, right in zip(names, numeric, strict=True):
            table.add_column(name, justify="right" if right else "left")
        for row in rows:
            table.add_row(*("" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in row))
        out.append(table)
    return out


def print_report(folder: Path, *, top: int = 10, console: Any = None) -> None:
    """Print the report on stdout (or `console`)."""
    from rich.console import Console

    console = console or Console(highlight=False)
    for table in tables(folder, top=top):
        console.print(table)
        console.print()


def report_text(folder: Path, *, top: int = 10, width: int = 120) -> str:
    """The report as plain text."""
    from rich.console import Console

    buffer = io.StringIO()
    print_report(
        folder, top=top, console=Console(file=buffer, width=width, highlight=False, color_system=None)
    )
    return buffer.getvalue()
