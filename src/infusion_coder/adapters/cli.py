"""The command line: `infusion-coder code PATH [--policy NAME]`, `infusion-coder rules`."""

from __future__ import annotations

import shutil
import sys
import traceback
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from ..api import Coder, Result
from ..models import ErrorResult
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
        _process(paths[0], policy, reference, audit=False, timezone=timezone)
        return
    options = ImportOptions(timezone, claim_type, place_of_service, policy, mapping)
    coder = _coder(reference)
    items = (Item(value) for value in _imported(from_, paths, options, coder))
    _emit(coder, Batch(False, items), policy, audit=False, timezone=timezone)


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


def _process(
    path: str, policy: str | None, reference: Path | None, *, audit: bool, timezone: str | None = None
) -> None:
    coder = _coder(reference)
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
        _emit(coder, batch, policy, audit=audit, timezone=timezone)


def _emit(
    coder: Coder, batch: Batch, policy: str | None, *, audit: bool, timezone: str | None = None
) -> None:
    """Code every item of a batch and write one result per item; exit 0, or 1 if any was an error."""
    if policy is not None and policy not in coder.policies:
        typer.echo(f"infusion-coder: unknown policy {policy!r}; known: {', '.join(coder.policies)}", err=True)
        raise typer.Exit(EXIT_UNREADABLE)
    run = coder.audit_record if audit else coder.code_record
    failed = False
    for item in batch.items:
        result: Result
        if item.problem is not None:
            result = ErrorResult.model_validate(
                {"encounter_id": None, "error": {"message": item.problem, "field": None}}
            )
        else:
            try:
                result = run(item.value, policy=policy, timezone=timezone)
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


@app.command()
def batch(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Encounter files: JSON Lines, Parquet or CSV (by extension), or --from's format."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Output folder (new or empty; or the interrupted one with --resume)."),
    ],
    format: Annotated[
        str, typer.Option("--format", help="Output format: parquet, csv or jsonl.")
    ] = "parquet",
    jobs: Annotated[int, typer.Option(help="Worker processes; the output is the same for any number.")] = 1,
    policy: PolicyOption = None,
    timezone: TimezoneOption = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", help="Input format: jsonl, parquet, csv, or an importer's (fhir, hl7, mar, mimic)."
        ),
    ] = None,
    audit_: Annotated[bool, typer.Option("--audit", help="Audit billed_lines instead of coding.")] = False,
    resume: Annotated[
        bool, typer.Option(help="Finish an interrupted run in --out, coding only what is left.")
    ] = False,
    chunk_size: Annotated[
        int, typer.Option(help="Records per chunk (the unit of work and of resume).")
    ] = 1000,
    reference: ReferenceOption = None,
) -> None:
    """Code files of encounters into DIR: results and flat tables (lines, drug_lines, findings,
    differences, errors), in input order, with a summary. Exit 1 if any record was an error, 2 if an input
    could not be read."""
    from .batch import BatchError, Settings, known_total, run_batch

    if format not in ("parquet", "csv", "jsonl") or jobs < 1 or chunk_size < 1:
        typer.echo(
            "infusion-coder: --format is parquet, csv or jsonl; --jobs and --chunk-size are 1 or more",
            err=True,
        )
        raise typer.Exit(EXIT_UNREADABLE)
    settings = Settings(
        format=format,  # type: ignore[arg-type]  # checked above
        chunk_size=chunk_size,
        policy=policy,
        timezone=timezone,
        input_format=from_,
        audit=audit_,
        reference=str(reference.resolve()) if reference else None,
    )
    coder = _coder(reference)
    bar = _progress_bar()
    try:
        with bar or _nothing():
            task = bar.add_task("coding", total=known_total(inputs, from_)) if bar else None
            summary = run_batch(
                inputs,
                out,
                settings,
                jobs=jobs,
                resume=resume,
                coder=coder,
                progress=(lambda n: bar.advance(task, n)) if bar and task is not None else None,
            )
    except BatchError as exc:
        typer.echo(f"infusion-coder: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    except KeyboardInterrupt:
        typer.echo(
            f"infusion-coder: interrupted; finished chunks are kept in {out}: run again with --resume",
            err=True,
        )
        raise typer.Exit(130) from None
    ready = summary.readiness
    typer.echo(
        f"{summary.encounters} encounters: {summary.coded} coded, {summary.errors} errors; "
        f"ready {ready['ready']}, ready with warnings {ready['ready_with_warnings']}, hold {ready['hold']}; "
        f"{summary.seconds:.1f} s, {summary.encounters_per_second:,.0f} encounters/s"
        + (
            f" ({summary.resumed_chunks} of {summary.chunks} chunks from the interrupted run)"
            if resume
            else ""
        )
    )
    typer.echo(f"written to {out}/ ({', '.join(summary.outputs.values())}, summary.json)")
    raise typer.Exit(EXIT_ENCOUNTER_ERROR if summary.errors else EXIT_OK)


def _progress_bar() -> Any:
    """A rich progress bar on a terminal; None when stderr is not one (files, CI, pipes)."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description} {task.completed:,} encounters"),
        BarColumn(),  # a pulse when the total is unknown (JSON Lines, CSV)
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="A folder written by 'batch'.")],
    top: Annotated[int, typer.Option(help="How many encounters to list by error findings.")] = 10,
) -> None:
    """Counts over a batch's output with DuckDB: readiness, lines by code, findings by id, and the
    encounters with the most error findings."""
    from .report import ReportError, report_text

    try:
        typer.echo(report_text(folder, top=top))
    except ReportError as exc:
        typer.echo(f"infusion-coder: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


def main() -> None:
    app()
