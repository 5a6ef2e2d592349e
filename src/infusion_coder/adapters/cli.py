"""The command line: `infusion-coder code PATH [--policy NAME]`, `infusion-coder rules`."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, TextIO

import typer

from ..api import Coder, Result
from ..models import ErrorResult
from ..rules import CATALOG
from .jsonio import UnreadableInput, dumps, read

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Code drug-administration services (96360-96549)."
)

EXIT_OK, EXIT_ENCOUNTER_ERROR, EXIT_UNREADABLE = 0, 1, 2


PathArgument = Annotated[
    str, typer.Argument(help="Encounter file (JSON object, JSON array or JSON Lines), or - for stdin.")
]
PolicyOption = Annotated[
    str | None, typer.Option(help="Policy profile for every encounter, overriding each encounter's own.")
]


@app.command()
def code(path: PathArgument, policy: PolicyOption = None) -> None:
    """Code encounters: one JSON object in gives one out; an array or JSON Lines gives JSON Lines."""
    _process(path, policy, audit=False)


@app.command()
def audit(path: PathArgument, policy: PolicyOption = None) -> None:
    """Audit billed claims: each encounter with its billed_lines; the answer lists every difference."""
    _process(path, policy, audit=True)


def _process(path: str, policy: str | None, *, audit: bool) -> None:
    coder = Coder.default()
    if policy is not None and policy not in coder.policies:
        typer.echo(f"infusion-coder: unknown policy {policy!r}; known: {', '.join(coder.policies)}", err=True)
        raise typer.Exit(EXIT_UNREADABLE)
    run = coder.audit_record if audit else coder.code_record
    try:
        stream: TextIO = sys.stdin if path == "-" else Path(path).open(encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as exc:
        typer.echo(f"infusion-coder: cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    with stream:
        try:
            batch = read(stream)
        except (UnreadableInput, UnicodeDecodeError) as exc:
            typer.echo(f"infusion-coder: {exc}", err=True)
            raise typer.Exit(EXIT_UNREADABLE) from exc
        failed = False
        for item in batch.items:
            result: Result
            if item.problem is not None:
                result = ErrorResult.model_validate(
                    {"encounter_id": None, "error": {"message": item.problem, "field": None}}
                )
            else:
                try:
                    result = run(item.value, policy=policy)
                except Exception as exc:  # one broken record must not stop a batch
                    traceback.print_exc(file=sys.stderr)
                    result = ErrorResult.model_validate(
                        {
                            "encounter_id": _id_of(item.value),
                            "error": {"message": f"internal error while coding: {exc!r}", "field": None},
                        }
                    )
            failed = failed or isinstance(result, ErrorResult)
            sys.stdout.write(dumps(result.model_dump(mode="json"), pretty=batch.single) + "\n")
    raise typer.Exit(EXIT_ENCOUNTER_ERROR if failed else EXIT_OK)


def _id_of(value: object) -> str | None:
    found = value.get("encounter_id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


@app.command()
def rules() -> None:
    """List the rule catalog: id, name, summary and citation of every coding rule."""
    for rule in CATALOG:
        typer.echo(f"{rule.id}  {rule.name}\n    {rule.summary}\n    cites {rule.citation}")


@app.command()
def policies() -> None:
    """List the policy profiles and the value and source of every option."""
    pack = Coder.default().reference.latest
    for name, profile in sorted(pack.policies.items()):
        typer.echo(f"{name}: {profile.description}")
        for option, value in sorted(profile.values.items()):
            typer.echo(f"    {option} = {value.value}  ({value.source})")


def main() -> None:
    app()
