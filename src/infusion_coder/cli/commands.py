"""The command line: `infusion-coder code PATH [--policy NAME]`, `infusion-coder rules`."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from pydantic import ValidationError

from .. import compiled
from ..api import Coder, Result, describe, encounter_id_of
from ..claims import Claim, ClaimError, ClaimHeader, build_claim, load_header
from ..engine import first_service_date
from ..formats import FORMATS, ImportOptions, Source, UnusableInput, error_record, read_eagerly
from ..formats.billed import BilledClaims, read_billed
from ..formats.fhir_claim import claim_resource
from ..formats.jsonio import Batch, Item, UnreadableInput, dumps, read, render
from ..formats.x12 import check, write_837
from ..models import AuditResult, ClaimType, Encounter, ErrorDetail, ErrorResult
from ..reference import DATA_DIR, read_codes
from ..reference.cms_files import CmsFileError, read_mue, read_ptp
from ..reference.edits import SETTINGS, write_mue, write_ptp
from ..reference.money import RevenueCodes
from ..rules import CATALOG
from ..times import TimeError, resolve_zone
from .review import ReviewView

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


def _known_zone(name: str | None) -> str | None:
    """A misspelt --timezone is a usage error once, not an error object on every encounter."""
    if name is not None:
        try:
            resolve_zone(name)
        except TimeError as exc:
            raise typer.BadParameter(str(exc)) from None
    return name


TimezoneOption = Annotated[
    str | None,
    typer.Option(
        help="IANA zone of the facility (America/Chicago) for encounters that name none.",
        callback=_known_zone,
    ),
]
ClaimTypeOption = Annotated[str, typer.Option(help="institutional or professional, for imported encounters.")]
PosOption = Annotated[str | None, typer.Option(help="Place of service (two digits) for imported encounters.")]
MappingOption = Annotated[
    Path | None, typer.Option(help="A site's own column names and action words (MAR CSV), TOML or YAML.")
]
OnlyOption = Annotated[
    str | None,
    typer.Option(
        help="Keep only results on hold ('hold') or that need a look ('warnings'); errors always stay."
    ),
]
FindingOption = Annotated[
    list[str] | None, typer.Option("--finding", help="Keep only results with this finding id (repeatable).")
]
OutputFormatOption = Annotated[
    str, typer.Option("--format", help="json (JSON Lines on stdout), or csv / parquet tables in --out DIR.")
]
OutOption = Annotated[
    Path | None,
    typer.Option(help="Folder for --format csv|parquet: results, lines, drug lines, findings, ..."),
]
InpatientOption = Annotated[
    bool,
    typer.Option(help="Also import the administrations of inpatient stays (FHIR, HL7, MIMIC), for review."),
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
    include_inpatient: InpatientOption = False,
    only: OnlyOption = None,
    finding: FindingOption = None,
    output_format: OutputFormatOption = "json",
    out: OutOption = None,
) -> None:
    """Code encounters: one JSON object in gives one out; an array or JSON Lines gives JSON Lines.
    --only/--finding keep a review queue; --format csv|parquet --out DIR writes flat tables."""
    view = _view(only, finding, output_format, out)
    if from_ is None:
        if len(paths) != 1:
            typer.echo(
                "infusion-coder: give one encounter file (or -), or name a format with --from", err=True
            )
            raise typer.Exit(EXIT_UNREADABLE)
        _process(paths[0], policy, reference, audit=False, timezone=timezone, view=view)
        return
    options = ImportOptions(timezone, claim_type, place_of_service, policy, mapping, include_inpatient)
    coder = _coder(reference)
    items = (Item(value) for value in _imported(from_, paths, options, coder))
    _emit(coder, Batch(False, items), policy, audit=False, timezone=timezone, view=view)


def _view(
    only: str | None, finding: list[str] | None, output_format: str, out: Path | None
) -> ReviewView | None:
    try:
        return ReviewView.of(only, finding or [], output_format, out)
    except ValueError as exc:
        typer.echo(f"infusion-coder: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


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
        bool,
        typer.Option(
            help="Also write the administrations of inpatient stays (FHIR, HL7, MIMIC), for review."
        ),
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
    if format not in FORMATS:
        typer.echo(
            f"infusion-coder: unknown format {format!r}; known: {', '.join(sorted(FORMATS))}", err=True
        )
        raise typer.Exit(EXIT_UNREADABLE)
    sources = []
    for path in paths:
        if path == "-":
            sources.append(Source("stdin", data=sys.stdin.buffer.read()))
        elif not Path(path).exists():
            typer.echo(f"infusion-coder: cannot read {path}: no such file or folder", err=True)
            raise typer.Exit(EXIT_UNREADABLE)
        else:
            sources.append(Source(Path(path).name, path=Path(path)))
    try:
        return read_eagerly(format, sources, options, coder.reference.latest)
    except UnusableInput as exc:
        typer.echo(f"infusion-coder: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


@app.command()
def audit(
    path: PathArgument,
    policy: PolicyOption = None,
    reference: ReferenceOption = None,
    billed: Annotated[
        Path | None,
        typer.Option(
            help="Billed claims: an 837I/837P file or a CSV (encounter_id, code, units, modifiers, date), "
            "joined to the encounters by encounter id (CLM01)."
        ),
    ] = None,
    summary: Annotated[
        bool, typer.Option(help="After the results, rank encounters by Medicare amount at stake (on stderr).")
    ] = False,
    only: OnlyOption = None,
    finding: FindingOption = None,
    output_format: OutputFormatOption = "json",
    out: OutOption = None,
) -> None:
    """Audit billed claims: each encounter with its billed_lines (or --billed); every difference, priced.
    --only/--finding keep a review queue; --format csv|parquet --out DIR writes flat tables."""
    view = _view(only, finding, output_format, out)
    ranked: list[tuple[str, float, int, int]] | None = [] if summary else None
    if billed is None:
        _process(path, policy, reference, audit=True, summary=ranked, view=view)
        return
    coder = _coder(reference)
    try:
        claims = read_billed(billed)
    except (OSError, ClaimError) as exc:
        typer.echo(f"infusion-coder: cannot read billed claims {billed}: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    with _batch(path) as batch:
        # with --billed the output is JSON Lines: claims without an encounter add records of their own
        joined = Batch(False, _join_claims(batch.items, claims, billed.name))
        _emit(coder, joined, policy, audit=True, summary=ranked, view=view)


def _join_claims(items: Iterator[Item], claims: BilledClaims, name: str) -> Iterator[Item]:
    """Each encounter with its claim's lines; an encounter without a claim, a claim without an encounter
    and a claim that could not be read each become an error object in the stream, never a silent drop."""
    used: set[str] = set()
    for item in items:
        value = item.value
        raw_id = encounter_id_of(value)
        found = None if raw_id is None else str(raw_id)
        if item.problem is not None or not isinstance(value, dict) or found is None:
            yield item
            continue
        if found in claims.lines:
            used.add(found)
            lines = [line.model_dump(mode="json", exclude_none=True) for line in claims.lines[found]]
            yield Item(dict(value, billed_lines=lines))
        elif value.get("billed_lines") is not None:
            yield item
        else:
            yield Item(error_record(found, f"no claim for encounter {found} in {name}", "billed"))
    for encounter_id, message in claims.problems:
        used.add(encounter_id or "")
        yield Item(error_record(encounter_id, message, "billed"))
    for encounter_id in claims.lines:
        if encounter_id not in used:
            yield Item(
                error_record(
                    encounter_id,
                    f"claim {encounter_id} in {name} has no encounter in the input",
                    "encounter_id",
                )
            )


ClaimFormat = Annotated[
    str, typer.Argument(help="837i, 837p or fhir (FHIR R4B Claim resources, JSON Lines).")
]


@app.command()
def claim(
    format: ClaimFormat,
    path: PathArgument,
    header: Annotated[
        Path, typer.Option(help="Claim header (JSON or TOML): submitter, provider, payer, ...")
    ],
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    revenue_codes: Annotated[
        Path | None,
        typer.Option(
            help="A site's revenue-code CSV (department, match, revenue_code) over the bundled table."
        ),
    ] = None,
    policy: PolicyOption = None,
    reference: ReferenceOption = None,
) -> None:
    """Code encounters and write their claims: one 837I/837P interchange, or one FHIR Claim per encounter."""
    kind = format.lower()
    if kind not in ("837i", "837p", "fhir"):
        typer.echo("infusion-coder: claim format is 837i, 837p or fhir", err=True)
        raise typer.Exit(EXIT_UNREADABLE)
    coder = _coder(reference)
    pack = coder.reference.latest
    try:
        head = load_header(header)
        table = pack.revenue_codes.with_overrides(revenue_codes) if revenue_codes else pack.revenue_codes
    except (ClaimError, OSError, ValueError) as exc:
        typer.echo(f"infusion-coder: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    if policy is not None and policy not in coder.policies:
        typer.echo(f"infusion-coder: unknown policy {policy!r}; known: {', '.join(coder.policies)}", err=True)
        raise typer.Exit(EXIT_UNREADABLE)
    built: list[Claim] = []
    skipped = 0
    with _batch(path) as batch:
        for item in batch.items:
            problem = _claim_of(coder, item, kind, head, table, policy, built)
            if problem is not None:
                skipped += 1
                typer.echo(f"infusion-coder: {problem}", err=True)
    for made in built:
        for note in made.notes:
            typer.echo(f"infusion-coder: encounter {made.encounter_id}: {note}", err=True)
        if made.readiness == "hold":
            typer.echo(
                f"infusion-coder: encounter {made.encounter_id} is on hold (error findings): review it before "
                "sending the claim",
                err=True,
            )
    if not built:
        typer.echo("infusion-coder: no claim written", err=True)
        raise typer.Exit(EXIT_ENCOUNTER_ERROR)
    if kind == "fhir":
        text = "".join(dumps(claim_resource(made)) + "\n" for made in built)
    else:
        text = write_837(built, head, "837i" if kind == "837i" else "837p")
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="ascii" if kind != "fhir" else "utf-8")
        typer.echo(f"{len(built)} claim(s) written to {out}", err=True)
    raise typer.Exit(EXIT_ENCOUNTER_ERROR if skipped else EXIT_OK)


def _claim_of(
    coder: Coder,
    item: Item,
    kind: str,
    head: ClaimHeader,
    table: RevenueCodes,
    policy: str | None,
    built: list[Claim],
) -> str | None:
    """Build one encounter's claim into `built`; the reason it was skipped otherwise."""
    if item.problem is not None:
        return f"skipped: {item.problem}"
    found = encounter_id_of(item.value)
    try:
        encounter = Encounter.model_validate(item.value)
    except ValidationError as exc:
        message, field = describe(exc)
        return (
            f"encounter {found}: skipped: {field}: {message}"
            if field
            else f"encounter {found}: skipped: {message}"
        )
    institutional = encounter.claim_type == ClaimType.INSTITUTIONAL
    if kind != "fhir" and institutional != (kind == "837i"):
        right = "837i" if institutional else "837p"
        return (
            f"encounter {encounter.encounter_id}: skipped: {encounter.claim_type.value} claims go on {right}"
        )
    try:
        result = coder.code(encounter, policy=policy)
        made = build_claim(
            encounter,
            result,
            coder.reference.for_date(first_service_date(encounter)),
            head,
            table,
            institutional=institutional,
        )
        if kind != "fhir":
            check(made, "837i" if institutional else "837p")
    except ClaimError as exc:
        return f"encounter {encounter.encounter_id}: skipped: {exc}"
    except Exception as exc:  # one broken record must not stop a batch
        # the exception text could quote record values: its type only
        return f"encounter {encounter.encounter_id}: skipped: internal error ({type(exc).__name__})"
    built.append(made)
    return None


def _coder(reference: Path | None) -> Coder:
    if reference is None:
        return Coder.default()
    try:
        return Coder.default(reference)
    except (OSError, ValueError, KeyError) as exc:
        typer.echo(f"infusion-coder: cannot load reference data from {reference}: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


@contextmanager
def _batch(path: str) -> Iterator[Batch]:
    """The records of an encounter file (or stdin), read lazily while the block runs."""
    try:
        stream: BinaryIO = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        # a folder is an export (FHIR Bulk, MIMIC, ...), read only through an importer
        hint = (
            "; a folder is read with --from fhir|hl7|mar|mimic" if isinstance(exc, IsADirectoryError) else ""
        )
        typer.echo(f"infusion-coder: cannot read {path}: {exc.strerror}{hint}", err=True)
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
        yield batch


def _process(
    path: str,
    policy: str | None,
    reference: Path | None,
    *,
    audit: bool,
    timezone: str | None = None,
    summary: list[tuple[str, float, int, int]] | None = None,
    view: ReviewView | None = None,
) -> None:
    coder = _coder(reference)
    with _batch(path) as batch:
        _emit(coder, batch, policy, audit=audit, timezone=timezone, summary=summary, view=view)


def _emit(
    coder: Coder,
    batch: Batch,
    policy: str | None,
    *,
    audit: bool,
    timezone: str | None = None,
    summary: list[tuple[str, float, int, int]] | None = None,
    view: ReviewView | None = None,
) -> None:
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
                result = run(item.value, policy=policy, timezone=timezone)
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
        if summary is not None and isinstance(result, AuditResult):
            summary.append(
                (
                    str(result.encounter_id),
                    result.amount_at_stake,
                    len(result.differences),
                    result.amounts_unknown,
                )
            )
        if view is not None and not view.take(result):
            continue
        text = render(result, pretty=batch.single and view is None) + "\n"
        if out is not None:
            out.write(text.encode("utf-8"))
        else:
            sys.stdout.write(text)
    if out is not None:
        out.flush()
    if view is not None:
        typer.echo(f"infusion-coder: {view.close()}", err=True)
    if summary is not None:
        _print_summary(summary)
    raise typer.Exit(EXIT_ENCOUNTER_ERROR if failed else EXIT_OK)


def _print_summary(rows: list[tuple[str, float, int, int]]) -> None:
    """Encounters with a difference, most money at stake first (national unadjusted Medicare amounts)."""
    ranked = sorted((r for r in rows if r[2]), key=lambda r: (-r[1], -r[3], r[0]))
    err = sys.stderr
    err.write(f"audit summary: {len(ranked)} of {len(rows)} encounter(s) differ from their claim\n")
    if ranked:
        err.write(f"{'rank':>4}  {'encounter':<30} {'at stake (USD)':>14}  differences  without amount\n")
    for rank, (encounter_id, amount, count, unknown) in enumerate(ranked, 1):
        err.write(f"{rank:>4}  {encounter_id[:30]:<30} {amount:>14,.2f}  {count:>11}  {unknown:>14}\n")
    total = sum(r[1] for r in ranked)
    err.write(
        f"total at stake: {total:,.2f} USD (national unadjusted Medicare figures; see docs/claims.md)\n"
    )


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
def version() -> None:
    """Print the version and the build in use: pure Python (the default) or compiled (mypyc)."""
    try:
        number = installed("infusion-coder")
    except PackageNotFoundError:  # run from a source tree that was never installed
        number = "unknown"
    build = "compiled (mypyc: engine, rules, reference, times)" if compiled else "pure Python"
    typer.echo(f"infusion-coder {number}, {build}")


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


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but localhost needs an API key.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    reference: ReferenceOption = None,
    queue: Annotated[
        Path | None,
        typer.Option(
            help="Work queue at /queue: a `batch` output folder, or a folder of them where the page's "
            "uploads become new queues. Statuses and notes are kept in DIR/queue.sqlite.",
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (/v1, OpenAPI at /openapi.json) and the coder's page at / (see docs/service.md)."""
    import uvicorn  # imported here: the other commands need no web stack

    from ..service import API_KEY_VARIABLE, MAX_BODY_BYTES, create_app
    from ..service.queue import QueueError

    api_key = os.environ.get(API_KEY_VARIABLE) or None
    if host not in LOOPBACK_HOSTS and api_key is None:
        typer.echo(
            f"infusion-coder: refusing to bind {host}: outside localhost the service needs an API key; "
            f"set {API_KEY_VARIABLE} (clients send 'Authorization: Bearer <key>')",
            err=True,
        )
        raise typer.Exit(EXIT_UNREADABLE)
    coder = _coder(reference)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    if api_key is None:
        typer.echo(f"infusion-coder: serving on {where} (localhost only, no API key)", err=True)
    else:
        typer.echo(
            f"infusion-coder: serving on {where}; /v1 requires 'Authorization: Bearer' with the key "
            f"in {API_KEY_VARIABLE}",
            err=True,
        )
    try:
        app_ = create_app(coder, api_key=api_key, max_body_bytes=MAX_BODY_BYTES, queue=queue)
    except (QueueError, OSError) as exc:  # --queue names a file, or a folder that cannot be made
        typer.echo(f"infusion-coder: --queue: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    # uvicorn's access log prints query strings; the service logs its own line per request instead
    uvicorn.run(app_, host=host, port=port, access_log=False, log_level="info", server_header=False)


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
    from ..batch.run import BatchError, Settings, known_total, run_batch

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
    from ..batch.report import ReportError, report_text

    try:
        typer.echo(report_text(folder, top=top))
    except ReportError as exc:
        typer.echo(f"infusion-coder: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


def main() -> None:
    app()
