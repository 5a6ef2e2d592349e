"""`--format table`: a result as a person reads it at a terminal (rich): the readiness first, the lines to
bill with their units, date and modifiers, the drug lines, then the findings grouped by severity and id
(errors first, each id once with its count), and for an audit the differences with their money."""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from ..api import Result

READINESS = {
    "ready": ("ready", "bold green"),
    "ready_with_warnings": ("ready with warnings", "bold yellow"),
    "hold": ("hold", "bold red"),
}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
MAX_INFO = 200  # characters of an info finding's message in the view (errors and warnings are whole)
MAX_IDS = 4  # administration ids shown per row


def console(stream: Any = None) -> Console:
    """A console on stdout: the terminal's width, or 120 columns into a file or pipe (never squeezed)."""
    stream = stream or sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 120
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:MAX_IDS])
    return shown + (f" +{len(ids) - MAX_IDS}" if len(ids) > MAX_IDS else "")


def _short(text: str, limit: int = MAX_INFO) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _code(code: str, modifiers: list[str]) -> str:
    return code + "".join(f"-{m}" for m in modifiers)


def render(result: Result) -> Group | Panel:
    from ..models import AuditResult, ErrorResult

    if isinstance(result, ErrorResult):
        where = f" (field {result.error.field})" if result.error.field else ""
        body = Text.assemble(("not coded: ", "bold red"), result.error.message + where)
        return Panel(body, title=f"encounter {result.encounter_id}", title_align="left", border_style="red")
    label, style = READINESS[result.readiness]
    head = Text.assemble(
        ("encounter ", "bold"),
        (str(result.encounter_id), "bold"),
        "  ",
        (label, style),
        f"  policy {result.policy}, reference {result.reference_version}",
    )
    parts: list[Any] = [head, Text(""), _lines(result)]
    if result.drug_lines:
        parts += [Text(""), _drug_lines(result)]
    if isinstance(result, AuditResult):
        parts += [Text(""), _differences(result)]
    parts += [Text(""), _findings(result), Text("")]
    return Group(*parts)


def _titled(title: str) -> Table:
    """A table as every section of the view draws it: a rule under the header, the title on the left."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=title, title_justify="left")


def _lines(result: Any) -> Table | Text:
    """The lines, those of one code, modifiers and date together (a long stay has dozens of 96376): units
    and minutes added, administrations joined, the count of claim lines in `lines`."""
    if not result.lines:
        return Text("  no lines to bill", style="italic")
    groups: OrderedDict[tuple[str, tuple[str, ...], Any], list[Any]] = OrderedDict()
    for line in result.lines:
        groups.setdefault((line.code, tuple(line.modifiers), line.date), []).append(line)
    units = sum(line.units for line in result.lines)
    table = _titled(f"lines to bill: {len(result.lines)} ({units} units)")
    table.add_column("code", no_wrap=True)
    table.add_column("units", justify="right")
    table.add_column("date", no_wrap=True)
    table.add_column("minutes", justify="right")
    table.add_column("lines", justify="right")
    table.add_column("administrations")
    table.add_column("rule", no_wrap=True)
    for (code, modifiers, day), lines in groups.items():
        minutes = [line.minutes for line in lines if line.minutes is not None]
        table.add_row(
            _code(code, list(modifiers)),
            str(sum(line.units for line in lines)),
            day.isoformat() if day else "no date",
            str(sum(minutes)) if minutes else "",
            str(len(lines)) if len(lines) > 1 else "",
            _ids(list(dict.fromkeys(i for line in lines for i in line.administrations))),
            ", ".join(dict.fromkeys(line.rule for line in lines)),
        )
    return table


def _drug_lines(result: Any) -> Table:
    table = _titled(f"drug lines: {len(result.drug_lines)}")
    table.add_column("drug", no_wrap=True)
    table.add_column("units", justify="right")
    table.add_column("date", no_wrap=True)
    table.add_column("NDC", no_wrap=True)
    table.add_column("administrations")
    for line in result.drug_lines:
        table.add_row(
            _code(line.hcpcs, line.modifiers),
            str(line.units),
            line.date.isoformat() if line.date else "no date",
            line.ndc or "",
            _ids(line.administrations),
        )
    return table


def _differences(result: Any) -> Table | Text:
    if not result.differences:
        return Text("  the billed claim matches the record", style="green")
    table = _titled(f"differences: {result.amount_at_stake:,.2f} USD at stake")
    table.add_column("difference", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("billed", justify="right")
    table.add_column("supported", justify="right")
    table.add_column("USD", justify="right")
    table.add_column("billed is")
    for difference in result.differences:
        table.add_row(
            difference.kind,
            difference.code,
            _code(str(difference.billed_units), difference.billed_modifiers),
            _code(str(difference.supported_units), difference.supported_modifiers),
            "" if difference.amount is None else f"{difference.amount:,.2f}",
            difference.money,
        )
    return table


def _findings(result: Any) -> Table | Text:
    """One row per (severity, id): the count, the administrations, the first message; errors first."""
    if not result.findings:
        return Text("  no findings", style="green")
    groups: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()
    order = {"error": 0, "warning": 1, "info": 2}
    for finding in sorted(result.findings, key=lambda f: order[f.severity]):
        groups.setdefault((finding.severity, finding.id), []).append(finding)
    counts = {s: sum(1 for f in result.findings if f.severity == s) for s in order}
    title = ", ".join(f"{n} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in counts.items() if n)
    table = _titled(f"findings: {title}")
    table.add_column("severity", no_wrap=True)
    table.add_column("finding", no_wrap=True)
    table.add_column("n", justify="right")
    table.add_column("administrations")
    table.add_column("what", ratio=1)
    for (severity, finding_id), found in groups.items():
        ids = sorted({i for f in found for i in f.administrations})
        first = found[0]
        extra = [first.rule or ""]
        if first.denial_risk:
            extra.append(first.denial_risk)
        text = first.message if severity != "info" else _short(first.message)
        message = text + (f" [{' '.join(x for x in extra if x)}]" if any(extra) else "")
        if len(found) > 1:
            message += f" (+{len(found) - 1} more like this)"
        table.add_row(
            Text(severity, style=SEVERITY_STYLE[severity]),
            finding_id,
            str(len(found)),
            _ids(ids),
            message,
        )
    return table
