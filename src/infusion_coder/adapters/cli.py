"""The command line: `infusion-coder code PATH [--policy NAME]`, `infusion-coder rules`."""

from __future__ import annotations

import shutil
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Annotated, TextIO

import typer

from ..api import Coder, Result
from ..models import ErrorResult
from ..reference import DATA_DIR, read_codes
from ..reference.cms_files import CmsFileError, read_mue, read_ptp
from ..reference.edits import SETTINGS, write_mue, write_ptp
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
ReferenceOption = Annotated[
    Path | None,
    typer.Option(help="Reference data folder (made by 'reference export'), instead of the bundled data."),
]


@app.command()
def code(path: PathArgument, policy: PolicyOption = None, reference: ReferenceOption = None) -> None:
    """Code encounters: one JSON object in gives one out; an array or JSON Lines gives JSON Lines."""
    _process(path, policy, reference, audit=False)


@app.command()
def audit(path: PathArgument, policy: PolicyOption = None, reference: ReferenceOption = None) -> None:
    """Audit billed claims: each encounter with its billed_lines; the answer lists every difference."""
    _process(path, policy, reference, audit=True)


def _coder(reference: Path | None) -> Coder:
    if reference is None:
        return Coder.default()
    try:
        return Coder.default(reference)
    except (OSError, ValueError, KeyError) as exc:
        typer.echo(f"infusion-coder: cannot load reference data from {reference}: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


def _process(path: str, policy: str | None, reference: Path | None, *, audit: bool) -> None:
    coder = _coder(reference)
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


reference_app = typer.Typer(help="Reference data: export the bundled packs to a folder you can update.")
edits_app = typer.Typer(help="NCCI edits: load the official CMS quarterly PTP and MUE files.")
app.add_typer(reference_app, name="reference")
app.add_typer(edits_app, name="edits")


@reference_app.command("export")
def reference_export(
    folder: Annotated[Path, typer.Argument(help="New folder for the reference data.")],
) -> None:
    """Copy the bundled reference data to FOLDER; use it with --reference after loading new files into it."""
    if folder.exists() and any(folder.iterdir()):
        typer.echo(f"infusion-coder: {folder} is not empty", err=True)
        raise typer.Exit(EXIT_UNREADABLE)
    shutil.copytree(DATA_DIR, folder, dirs_exist_ok=True)
    typer.echo(f"reference data copied to {folder}")


@edits_app.command("import")
def edits_import(
    kind: Annotated[str, typer.Argument(help="ptp or mue")],
    files: Annotated[list[Path], typer.Argument(help="CMS files (.txt, .csv or .xlsx) of one setting")],
    pack: Annotated[
        Path, typer.Option(help="Pack folder inside an exported reference folder, e.g. DIR/2026-01-01")
    ],
    setting: Annotated[str, typer.Option(help="outpatient-hospital or practitioner")],
    effective: Annotated[
        str | None, typer.Option(help="MUE effective date (YYYY-MM-DD) if not in the file name")
    ] = None,
    family_only: Annotated[
        bool, typer.Option(help="Keep only rows that involve a code of the code table")
    ] = True,
) -> None:
    """Replace a pack's PTP or MUE table for one setting with the rows of the official CMS files."""
    setting_key = setting.replace("-", "_")
    if kind not in ("ptp", "mue") or setting_key not in SETTINGS:
        typer.echo(
            "infusion-coder: kind is ptp or mue; setting is outpatient-hospital or practitioner", err=True
        )
        raise typer.Exit(EXIT_UNREADABLE)
    codes = set(read_codes(pack).codes) if family_only else None
    try:
        if kind == "ptp":
            rows_ptp = [row for path in files for row in read_ptp(path, codes=codes)]
            write_ptp(pack / "edits" / f"ptp_{setting_key}.csv", rows_ptp)
            count = len(rows_ptp)
        else:
            when = date.fromisoformat(effective) if effective else None
            rows_mue = [row for path in files for row in read_mue(path, effective=when, codes=codes)]
            write_mue(pack / "edits" / f"mue_{setting_key}.csv", rows_mue)
            count = len(rows_mue)
    except (CmsFileError, OSError, ValueError) as exc:
        typer.echo(f"infusion-coder: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    typer.echo(f"{count} {kind.upper()} rows written for {setting} in {pack}")


def main() -> None:
    app()
