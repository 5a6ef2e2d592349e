"""The command line: `infusion-coder code PATH [--policy NAME]`, `infusion-coder rules`."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from ..api import Coder, Result, encounter_id_of
from ..models import ErrorDetail, ErrorResult
from ..reference import DATA_DIR, read_codes
from ..reference.cms_files import CmsFileError, read_mue, read_ptp
from ..reference.edits import SETTINGS, write_mue, write_ptp
from ..rules import CATALOG
from .formats import FORMATS, ImportOptions, Source, reader
from .jsonio import Batch, Item, UnreadableInput, dumps, read

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


PathsArgument = Annotated[
    list[str],
    typer.Argument(
        help="Encounter file (JSON object, JSON array or JSON Lines) or - for stdin; with --from, "
        "one or more source files in that format."
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option("--from", help="Read the sources in this format and code what they hold (see 'import')."),
]
TimezoneOption = Annotated[
    str | None,
    typer.Option(help="IANA zone of the facility (America/Chicago) for encounters that name none."),
]
ClaimTypeOption = Annotated[str, typer.Option(help="institutional or professional, for imported encounters.")]
PosOption = Annotated[str | None, typer.Option(help="Place of service (two digits) for imported encounters.")]
MappingOption = Annotated[
    Path | None, typer.Option(help="A site's own column names and action words (MAR CSV), TOML or YAML.")
]


@app.command()
def code(
    paths: PathsArgument,
    policy: PolicyOption = None,
    reference: ReferenceOption = None,
    from_: FromOption = None,
    timezone: TimezoneOption = None,
    claim_type: ClaimTypeOption = "institutional",
    place_of_service: PosOption = None,
    mapping: MappingOption = None,
) -> None:
    """Code encounters: one JSON object in gives one out; an array or JSON Lines gives JSON Lines."""
    if from_ is None:
        if len(paths) != 1:
            typer.echo(
                "infusion-coder: give one encounter file (or -), or name a format with --from", err=True
            )
            raise typer.Exit(EXIT_UNREADABLE)
        _process(paths[0], policy, reference, audit=False)
        return
    options = ImportOptions(timezone, claim_type, place_of_service, policy, mapping)
    coder = _coder(reference)
    items = (Item(value) for value in _imported(from_, paths, options, coder))
    _emit(coder, Batch(False, items), policy, audit=False)


@app.command("import")
def import_(
    format: Annotated[str, typer.Argument(help="Source format: " + ", ".join(sorted(FORMATS)) + ".")],
    paths: Annotated[list[str], typer.Argument(help="Source files (or folders, for mimic).")],
    timezone: TimezoneOption = None,
    claim_type: ClaimTypeOption = "institutional",
    place_of_service: PosOption = None,
    policy: PolicyOption = None,
    mapping: MappingOption = None,
    include_inpatient: Annotated[
        bool, typer.Option(help="mimic: also write stays that belong to an inpatient claim.")
    ] = False,
) -> None:
    """Turn FHIR, HL7 v2, MAR CSV or MIMIC-IV records into contract encounters (JSON Lines on stdout)."""
    options = ImportOptions(timezone, claim_type, place_of_service, policy, mapping, include_inpatient)
    failed = False
    for record in _imported(format, paths, options, Coder.default()):
        failed = failed or "error" in record
        sys.stdout.write(dumps(record) + "\n")
    raise typer.Exit(EXIT_ENCOUNTER_ERROR if failed else EXIT_OK)


def _imported(
    format: str, paths: list[str], options: ImportOptions, coder: Coder
) -> Iterator[dict[str, Any]]:
    try:
        read_format = reader(format)
    except KeyError as exc:
        typer.echo(f"infusion-coder: {exc.args[0]}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    sources = []
    for path in paths:
        if path == "-":
            sources.append(Source("stdin", data=sys.stdin.buffer.read()))
        elif not Path(path).exists():
            typer.echo(f"infusion-coder: cannot read {path}: no such file or folder", err=True)
            raise typer.Exit(EXIT_UNREADABLE)
        else:
            sources.append(Source(Path(path).name, path=Path(path)))
    return read_format(sources, options, coder.reference.latest)


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
    try:
        stream: BinaryIO = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        typer.echo(f"infusion-coder: cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    with stream:
        try:
            batch = read(stream)
        except UnreadableInput as exc:
            typer.echo(f"infusion-coder: {exc}", err=True)
            raise typer.Exit(EXIT_UNREADABLE) from exc
        except OSError as exc:
            typer.echo(f"infusion-coder: cannot read {path}: {exc.strerror}", err=True)
            raise typer.Exit(EXIT_UNREADABLE) from exc
        _emit(coder, batch, policy, audit=audit)


def _emit(coder: Coder, batch: Batch, policy: str | None, *, audit: bool) -> None:
    """Code every item of a batch and write one result per item; exit 0, or 1 if any was an error."""
    if policy is not None and policy not in coder.policies:
        typer.echo(f"infusion-coder: unknown policy {policy!r}; known: {', '.join(coder.policies)}", err=True)
        raise typer.Exit(EXIT_UNREADABLE)
    run = coder.audit_record if audit else coder.code_record
    out = getattr(sys.stdout, "buffer", None)
    failed = False
    for number, item in enumerate(_guarded(batch.items), 1):
        result: Result
        if item.problem is not None:
            result = ErrorResult(encounter_id=None, error=ErrorDetail(message=item.problem, field=None))
        else:
            try:
                result = run(item.value, policy=policy)
            except Exception as exc:  # one broken record must not stop a batch (the library should not raise)
                # One line, no record contents: the exception text could quote patient data.
                where = item.where or f"record {number}"
                typer.echo(
                    f"infusion-coder: internal error on {where} (encounter id withheld): "
                    f"{type(exc).__name__}; coded as an error object",
                    err=True,
                )
                message = (
                    f"internal error while coding this encounter ({type(exc).__name__}); it was not coded"
                )
                result = ErrorResult(
                    encounter_id=encounter_id_of(item.value), error=ErrorDetail(message=message, field=None)
                )
        failed = failed or isinstance(result, ErrorResult)
        text = dumps(result.model_dump(mode="json"), pretty=batch.single) + "\n"
        if out is not None:
            out.write(text.encode("utf-8"))
        else:
            sys.stdout.write(text)
    if out is not None:
        out.flush()
    raise typer.Exit(EXIT_ENCOUNTER_ERROR if failed else EXIT_OK)


def _guarded(items: Iterator[Item]) -> Iterator[Item]:
    """The reader's items; should reading itself fail, one last error item says so, and the batch ends."""
    try:
        yield from items
    except Exception as exc:  # I/O failure or a defect in the reader: report it without contents
        typer.echo(f"infusion-coder: the input could not be read further: {type(exc).__name__}", err=True)
        yield Item(problem=f"the input could not be read past this point ({type(exc).__name__})")


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
