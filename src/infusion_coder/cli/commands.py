"""The command line: `infusion-coder code PATH [--policy NAME]`, `infusion-coder rules`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer

from . import checks
from .checks import EXIT_INTERNAL, EXIT_OK, EXIT_RECORD_ERROR, fail, say
from .review import ONLY, OUTPUT_FORMATS, ReviewView, ViewError

if TYPE_CHECKING:  # imported where used: `--help` and `--version` load none of these
    from ..api import Coder, Result
    from ..claims import BilledClaims, Claim, ClaimHeader
    from ..formats import ImportOptions
    from ..formats.jsonio import Batch, Item
    from ..reference.money import RevenueCodes

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Code drug-administration services (96360-96549). Exit status: 0 every record coded, 1 some "
    "record an error object, 2 unusable input or options, 3 an internal failure.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,  # main() turns an internal failure into one line and exit 3
)


def _version_text() -> str:
    from .about import version_text

    return version_text()


def _show_version(value: bool) -> None:
    if value:
        typer.echo(_version_text())
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", is_eager=True, callback=_show_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Code drug-administration services (96360-96549). Exit status: 0 every record coded, 1 some record
    an error object, 2 unusable input or options (nothing coded), 3 an internal failure."""


PathArgument = Annotated[
    str,
    typer.Argument(
        help="Encounter file (JSON object, JSON array or JSON Lines; .csv or .parquet in the batch layout), "
        "or - for stdin."
    ),
]
PolicyOption = Annotated[
    str | None,
    typer.Option(
        help="Policy profile for every encounter, overriding each encounter's own (see 'policies')."
    ),
]
ReferenceOption = Annotated[
    Path | None,
    typer.Option(help="Reference data folder (made by 'reference export'), instead of the bundled data."),
]
PathsArgument = Annotated[
    list[str],
    typer.Argument(
        help="Encounter files (JSON object, JSON array or JSON Lines; .csv or .parquet in the batch layout) "
        "or - for stdin; with --from, source files in that format."
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from", help="Read the sources in this format (fhir, hl7, mar, mimic) and code what they hold."
    ),
]


def _known_zone(name: str | None) -> str | None:
    """A misspelt --timezone is a usage error once, not an error object on every encounter."""
    if name is not None:
        from ..times import TimeError, resolve_zone

        try:
            resolve_zone(name)
        except TimeError as exc:
            raise typer.BadParameter(str(exc)) from None
    return name


def _known_claim_type(value: str) -> str:
    return checks.claim_type(value)


def _known_pos(value: str | None) -> str | None:
    return checks.place_of_service(value)


TimezoneOption = Annotated[
    str | None,
    typer.Option(
        help="IANA zone of the facility (America/Chicago) for encounters that name none.",
        callback=_known_zone,
    ),
]
ClaimTypeOption = Annotated[
    str,
    typer.Option(help="institutional or professional, for imported encounters.", callback=_known_claim_type),
]
PosOption = Annotated[
    str | None,
    typer.Option(
        help="Place of service (two digits: 11, 22, 23, ...) for imported encounters.", callback=_known_pos
    ),
]
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
    list[str] | None,
    typer.Option(
        "--finding",
        help="Keep only results with this finding id (repeatable; see 'findings'; 'mar-*' works).",
    ),
]
OutputFormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help="json (on stdout), table (a readable view on stdout), or csv, parquet, xlsx (tables in --out DIR).",
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(help="Folder for --format csv|parquet|xlsx: results, lines, drug lines, findings, ..."),
]
ForceOption = Annotated[bool, typer.Option("--force", help="Write into --out even when it is not empty.")]
InpatientOption = Annotated[
    bool,
    typer.Option(help="Also code the administrations of inpatient stays (FHIR, HL7, MIMIC), for review."),
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
    force: ForceOption = False,
) -> None:
    """Code encounters: JSON out, a readable table (--format table), or flat tables in a folder.

    One JSON object in gives one out; an array or JSON Lines gives JSON Lines. --format table shows the
    results for a person; --only/--finding keep a review queue; --format csv|parquet|xlsx --out DIR writes
    flat tables."""
    view = _view(only, finding, output_format, out, force)
    if from_ is None:
        if len(paths) > 1 and "-" in paths:
            fail("stdin (-) is read alone: give it as the only input")
        _process(paths, policy, reference, audit=False, timezone=timezone, view=view)
        return
    from ..formats import ImportOptions

    coder = _coder(reference)
    checks.policy(policy, coder.policies)
    options = ImportOptions(timezone, claim_type, place_of_service, policy, mapping, include_inpatient)
    from ..formats.jsonio import Batch, Item

    items = (Item(value) for value in _imported(from_, paths, options, coder))
    _emit(coder, Batch(False, items), policy, audit=False, timezone=timezone, view=view)


def _view(
    only: str | None, finding: list[str] | None, output_format: str, out: Path | None, force: bool
) -> ReviewView:
    """The output the options ask for, every value checked before anything is read or written."""
    if only is not None:
        only = checks.choice("--only", only, list(ONLY))
    output_format = checks.choice("--format", output_format, OUTPUT_FORMATS)
    for wanted in finding or ():
        if "*" not in wanted:
            _known_finding(wanted)
    try:
        view = ReviewView.of(only, finding or [], output_format, out)
    except ViewError as exc:
        fail(str(exc))
    if out is not None:
        checks.out_folder(out, force=force)
    if output_format == "xlsx":
        _need_openpyxl()
    return view


def _known_finding(wanted: str) -> None:
    """A --finding id this code emits; a misspelt one (close to a known id) is exit 2 with "did you mean";
    one close to none is kept with a note, since a source finding written by another tool may carry it."""
    from .finding_ids import index

    found = index()
    if found.knows(wanted):
        return
    hint = checks.suggest(wanted, found.ids())
    if hint:
        fail(f"unknown finding id {wanted!r}{hint}; 'infusion-coder findings' lists them")
    say(
        f"--finding {wanted!r} is no finding id this version writes ('infusion-coder findings' lists them); "
        "kept as given, for source findings written by another tool"
    )


def _need_openpyxl() -> None:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        fail("--format xlsx needs openpyxl: pip install 'infusion-coder[xlsx]' (or pip install openpyxl)")


@app.command("import")
def import_(
    format: Annotated[str, typer.Argument(help="Source format: fhir, hl7, mar or mimic.")],
    paths: Annotated[list[str], typer.Argument(help="Source files (or folders, for fhir and mimic).")],
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
    from ..formats import ImportOptions
    from ..formats.jsonio import dumps

    coder = _coder(None)
    checks.policy(policy, coder.policies)
    options = ImportOptions(timezone, claim_type, place_of_service, policy, mapping, include_inpatient)
    failed = False
    for record in _imported(format, paths, options, coder):
        failed = failed or "error" in record
        sys.stdout.write(dumps(record) + "\n")
    raise typer.Exit(EXIT_RECORD_ERROR if failed else EXIT_OK)


def _imported(
    format: str, paths: list[str], options: ImportOptions, coder: Coder
) -> Iterator[dict[str, Any]]:
    from ..formats import FORMATS, Source, UnusableInput, read_eagerly

    if format not in FORMATS:
        checks.unknown("format", format, sorted(FORMATS))
    if options.mapping is not None and not options.mapping.is_file():
        fail(f"cannot read the mapping {options.mapping}: no such file")
    sources = []
    for path in paths:
        if path == "-":
            sources.append(Source("stdin", data=sys.stdin.buffer.read()))
        elif not Path(path).exists():
            fail(f"cannot read {path}: no such file or folder")
        else:
            sources.append(Source(Path(path).name, path=Path(path)))
    try:
        return read_eagerly(format, sources, options, coder.reference.latest)
    except UnusableInput as exc:
        fail(str(exc))


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
    force: ForceOption = False,
) -> None:
    """Audit billed claims against the record: every difference, priced.

    Each encounter with its billed_lines, or joined to --billed claims. --format table shows the results
    for a person; --only/--finding keep a review queue; --format csv|parquet|xlsx --out DIR writes flat
    tables."""
    view = _view(only, finding, output_format, out, force)
    ranked: list[tuple[str, float, int, int]] | None = [] if summary else None
    if billed is None:
        _process([path], policy, reference, audit=True, summary=ranked, view=view)
        return
    from ..claims import ClaimError
    from ..formats.billed import read_billed
    from ..formats.jsonio import Batch

    coder = _coder(reference)
    try:
        claims = read_billed(billed)
    except (OSError, ClaimError) as exc:
        fail(f"cannot read billed claims {billed}: {exc}")
    with _batch(path) as batch:
        # with --billed the output is JSON Lines: claims without an encounter add records of their own
        joined = Batch(False, _join_claims(batch.items, claims, billed.name))
        _emit(coder, joined, policy, audit=True, summary=ranked, view=view)


def _join_claims(items: Iterator[Item], claims: BilledClaims, name: str) -> Iterator[Item]:
    """Each encounter with its claim's lines; an encounter without a claim, a claim without an encounter
    and a claim that could not be read each become an error object in the stream, never a silent drop."""
    from ..api import encounter_id_of
    from ..formats import error_record
    from ..formats.jsonio import Item

    used: set[str] = set()
    unread = {encounter_id for encounter_id, _ in claims.problems if encounter_id}
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
        elif found not in unread:  # an unreadable claim's own error below is this encounter's one answer
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
    kind = checks.choice("claim format", format, ("837i", "837p", "fhir"))
    if out is not None and out.is_dir():
        fail(f"--out {out} is a folder: name the file to write")
    from ..claims import ClaimError, load_header
    from ..formats.fhir_claim import claim_resource
    from ..formats.jsonio import dumps
    from ..formats.x12 import write_837

    coder = _coder(reference)
    pack = coder.reference.latest
    try:
        head = load_header(header)
        table = pack.revenue_codes.with_overrides(revenue_codes) if revenue_codes else pack.revenue_codes
    except (ClaimError, OSError, ValueError) as exc:
        fail(str(exc))
    checks.policy(policy, coder.policies)
    built: list[Claim] = []
    skipped = 0
    with _batch(path) as batch:
        for item in batch.items:
            problem = _claim_of(coder, item, kind, head, table, policy, built)
            if problem is not None:
                skipped += 1
                say(problem)
    for made in built:
        for note in made.notes:
            say(f"encounter {made.encounter_id}: {note}")
        if made.readiness == "hold":
            say(
                f"encounter {made.encounter_id} is on hold (error findings): review it before sending the claim"
            )
    if not built:
        fail("no claim written", EXIT_RECORD_ERROR)
    if kind == "fhir":
        text = "".join(dumps(claim_resource(made)) + "\n" for made in built)
    else:
        text = write_837(built, head, "837i" if kind == "837i" else "837p")
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            out.write_text(text, encoding="ascii" if kind != "fhir" else "utf-8")
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror}")
        say(f"{len(built)} claim(s) written to {out}")
    raise typer.Exit(EXIT_RECORD_ERROR if skipped else EXIT_OK)


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
    from pydantic import ValidationError

    from ..api import describe, encounter_id_of
    from ..claims import ClaimError, build_claim
    from ..engine import first_service_date
    from ..formats.x12 import check
    from ..models import ClaimType, Encounter

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
    from ..api import Coder

    if reference is None:
        return Coder.default()
    if not reference.is_dir():
        fail(
            f"cannot load reference data from {reference}: not a folder (make one with "
            "'infusion-coder reference export DIR')"
        )
    try:
        return Coder.default(reference)
    except (OSError, ValueError, KeyError) as exc:
        fail(f"cannot load reference data from {reference}: {exc}")


def _layout_of(path: str) -> str | None:
    """'csv' or 'parquet' for a file in the batch layouts (by extension), as `batch` reads it; else None."""
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return None


@contextmanager
def _batch(path: str) -> Iterator[Batch]:
    """The records of an encounter file (or stdin), read lazily while the block runs. A .csv or .parquet
    file is read in the batch layout, exactly as `batch` reads it."""
    from ..formats.jsonio import UnreadableInput, read

    if path != "-" and _layout_of(path) is not None and Path(path).is_file():
        yield _tabular(Path(path))
        return
    try:
        stream: BinaryIO = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        # a folder is an export (FHIR Bulk, MIMIC, ...), read only through an importer
        hint = (
            "; a folder is read with --from fhir|hl7|mar|mimic" if isinstance(exc, IsADirectoryError) else ""
        )
        fail(f"cannot read {path}: {exc.strerror}{hint}")
    with stream:
        try:
            batch: Batch = read(stream)
        except UnreadableInput as exc:
            fail(str(exc) if path == "-" else f"{path}: {exc}")
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror}")
        yield batch


def _tabular(path: Path) -> Batch:
    from ..batch.run import BatchError, check_input, read_records
    from ..formats import ImportOptions
    from ..formats.jsonio import Batch, Item

    try:
        check_input(path, None)
    except BatchError as exc:
        fail(str(exc))

    def items() -> Iterator[Item]:
        try:
            for record in read_records([path], None, ImportOptions(), None):  # type: ignore[arg-type]
                value = record.value
                if record.problem is not None and record.encounter_id is not None:
                    value = {"encounter_id": record.encounter_id}
                yield Item(value, record.problem)
        except BatchError as exc:
            fail(str(exc))

    return Batch(False, items())


def _process(
    paths: list[str],
    policy: str | None,
    reference: Path | None,
    *,
    audit: bool,
    timezone: str | None = None,
    summary: list[tuple[str, float, int, int]] | None = None,
    view: ReviewView,
) -> None:
    """Code the records of one or more encounter files; every file is opened and checked first, so an
    unusable one stops the command (exit 2) before any result is written."""
    from contextlib import ExitStack

    from ..formats.jsonio import Batch

    coder = _coder(reference)
    checks.policy(policy, coder.policies)
    with ExitStack() as stack:
        batches = [stack.enter_context(_batch(path)) for path in paths]
        if len(batches) == 1:
            _emit(coder, batches[0], policy, audit=audit, timezone=timezone, summary=summary, view=view)
        chained = Batch(False, (item for batch in batches for item in batch.items))
        _emit(coder, chained, policy, audit=audit, timezone=timezone, summary=summary, view=view)


def _emit(
    coder: Coder,
    batch: Batch,
    policy: str | None,
    *,
    audit: bool,
    timezone: str | None = None,
    summary: list[tuple[str, float, int, int]] | None = None,
    view: ReviewView,
) -> None:
    """Code every item of a batch and write one result per item; exit 0, or 1 if any was an error."""
    from ..api import encounter_id_of
    from ..engine.output import Coded
    from ..formats.jsonio import render, render_coded
    from ..models import AuditResult, ErrorDetail, ErrorResult

    checks.policy(policy, coder.policies)
    run = coder.audit_record if audit else coder.code_record
    out = getattr(sys.stdout, "buffer", None)
    table = None
    if view.format == "table":
        from .view import console
        from .view import render as show

        table = console()
    view.open()
    # JSON Lines of every result as it comes: written from the engine's plain objects, no models built
    plain = not audit and table is None and view.sink is None and not view.filtering and not batch.single
    failed = False
    for number, item in enumerate(_guarded(batch.items), 1):
        result: Result
        data: bytes | None = None
        if item.problem is not None:
            result = ErrorResult(
                encounter_id=encounter_id_of(item.value), error=ErrorDetail(message=item.problem, field=None)
            )
        else:
            try:
                if plain:
                    outcome = coder.code_record_plain(item.value, policy=policy, timezone=timezone)
                    if isinstance(outcome, Coded):
                        data = render_coded(outcome)
                        outcome = outcome.model() if data is None else outcome
                    result = outcome  # type: ignore[assignment]  # a model unless data holds its bytes
                else:
                    result = run(item.value, policy=policy, timezone=timezone)
            except Exception as exc:  # one broken record must not stop a batch (the library should not raise)
                # One line, no record contents: the exception text could quote patient data.
                where = item.where or f"record {number}"
                say(
                    f"internal error on {where} (encounter id withheld): "
                    f"{type(exc).__name__}; coded as an error object"
                )
                message = (
                    f"internal error while coding this encounter ({type(exc).__name__}); it was not coded"
                )
                result = ErrorResult(
                    encounter_id=encounter_id_of(item.value), error=ErrorDetail(message=message, field=None)
                )
        if data is not None:
            view.count()
            if out is not None:
                out.write(data + b"\n")
            else:
                sys.stdout.write(data.decode("utf-8") + "\n")
            continue
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
        if not view.take(result):
            continue
        if table is not None:
            table.print(show(result))
            continue
        text = render(result, pretty=batch.single and not view.filtering) + "\n"
        if out is not None:
            out.write(text.encode("utf-8"))
        else:
            sys.stdout.write(text)
    if out is not None:
        out.flush()
    account = view.close()
    if account is not None:
        say(account)
    if summary is not None:
        _print_summary(summary)
    raise typer.Exit(EXIT_RECORD_ERROR if failed else EXIT_OK)


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
    from ..formats.jsonio import Item

    try:
        yield from items
    except typer.Exit:
        raise
    except Exception as exc:  # I/O failure or a defect in the reader: report it without contents
        say(f"the input could not be read further: {type(exc).__name__}")
        yield Item(problem=f"the input could not be read past this point ({type(exc).__name__})")


JsonOption = Annotated[bool, typer.Option("--json", help="JSON for programs instead of text.")]


@app.command()
def rules(
    rule_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="One rule (IC203 or its name) with its reasoning.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The rule catalog, or one rule's reasoning, example and findings.

    Without ID: id, name, summary and citation of every rule."""
    from .catalog import rules as show

    show(rule_id, as_json)


@app.command()
def policies(
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="One profile: every option, value and source.")
    ] = None,
    as_json: JsonOption = False,
    reference: ReferenceOption = None,
) -> None:
    """The policy profiles: what each changes from cms (the default), with sources.

    With NAME: every option of that profile, its meaning and source."""
    from .catalog import policies as show

    show(_coder(reference).reference.latest, name, as_json)


@app.command()
def findings(
    finding_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="One finding id: its rule, severities and messages.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every finding id the engine and the importers can write: rule, severity, meaning.

    Read from the code itself. With ID: one finding in full."""
    from .catalog import findings as show

    show(finding_id, as_json)


@app.command()
def version() -> None:
    """Print the version and the build in use: pure Python (the default) or compiled (mypyc)."""
    typer.echo(_version_text())


reference_app = typer.Typer(
    help="Reference data: export the bundled packs to a folder you can update.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
edits_app = typer.Typer(
    help="NCCI edits: load the official CMS quarterly PTP and MUE files.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(reference_app, name="reference")
app.add_typer(edits_app, name="edits")


@reference_app.command("export")
def reference_export(
    folder: Annotated[Path, typer.Argument(help="New folder for the reference data.")],
) -> None:
    """Copy the bundled reference data to FOLDER; use it with --reference after loading new files into it."""
    import shutil

    from ..reference import DATA_DIR

    if folder.exists() and not folder.is_dir():
        fail(f"{folder} is a file: name a new folder")
    if folder.exists() and any(folder.iterdir()):
        fail(f"{folder} is not empty: name a new or empty folder")
    try:
        shutil.copytree(DATA_DIR, folder, dirs_exist_ok=True)
    except OSError as exc:
        fail(f"cannot write {folder}: {exc.strerror}")
    typer.echo(f"reference data copied to {folder}")


def _pack_folder(pack: Path) -> Path:
    """A pack folder of an exported reference folder (it holds codes.json); exit 2 saying which to use."""
    if (pack / "codes.json").is_file():
        return pack
    if (pack / "manifest.json").is_file():
        inner = sorted(p.name for p in pack.iterdir() if (p / "codes.json").is_file())
        hint = f"; its packs: {', '.join(str(pack / p) for p in inner)}" if inner else ""
        fail(f"--pack {pack} is a reference folder, not a pack: name one of its dated folders{hint}")
    if not pack.exists():
        fail(f"--pack {pack}: no such folder (export one with 'infusion-coder reference export DIR')")
    fail(f"--pack {pack} holds no codes.json: is it a pack folder of 'infusion-coder reference export'?")


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
    from datetime import date

    from ..reference import read_codes
    from ..reference.cms_files import CmsFileError, read_mue, read_ptp
    from ..reference.edits import SETTINGS, write_mue, write_ptp

    kind = checks.choice("kind", kind, ("ptp", "mue"))
    settings = [s.replace("_", "-") for s in SETTINGS]
    setting_key = checks.choice("--setting", setting, settings).replace("-", "_")
    pack = _pack_folder(pack)
    for path in files:
        if not path.is_file():
            fail(f"cannot read {path}: no such file")
    try:
        when = date.fromisoformat(effective) if effective else None
    except ValueError:
        fail(f"--effective is a date (YYYY-MM-DD), not {effective!r}")
    codes = set(read_codes(pack).codes) if family_only else None
    try:
        if kind == "ptp":
            rows_ptp = [row for path in files for row in read_ptp(path, codes=codes)]
            write_ptp(pack / "edits" / f"ptp_{setting_key}.csv", rows_ptp)
            count = len(rows_ptp)
        else:
            rows_mue = [row for path in files for row in read_mue(path, effective=when, codes=codes)]
            write_mue(pack / "edits" / f"mue_{setting_key}.csv", rows_mue)
            count = len(rows_mue)
    except (CmsFileError, OSError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"{count} {kind.upper()} rows written for {setting} in {pack}")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _serve_logging() -> dict[str, Any]:
    """uvicorn's logging config plus the service's per-request line, for the server and every worker."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["service"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    config["handlers"]["service"] = {
        "class": "logging.StreamHandler",
        "formatter": "service",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["infusion_coder"] = {"handlers": ["service"], "level": "INFO", "propagate": False}
    return config


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but localhost needs an API key.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port (1-65535).", min=1, max=65535)] = 8000,
    reference: ReferenceOption = None,
    workers: Annotated[
        int, typer.Option(help="Worker processes (each codes on one core); the key and limits hold in each.")
    ] = 1,
    header_timeout: Annotated[
        float, typer.Option(help="Seconds a client has to send its request line and headers.")
    ] = 10.0,
    body_timeout: Annotated[
        float, typer.Option(help="Seconds a client has to send the request body once the headers are in.")
    ] = 60.0,
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
    import importlib.util
    import inspect

    import uvicorn  # imported here: the other commands need no web stack

    from ..service import (
        API_KEY_VARIABLE,
        BODY_TIMEOUT_VARIABLE,
        QUEUE_VARIABLE,
        REFERENCE_VARIABLE,
        create_app,
    )
    from ..service.queue import QueueError
    from ..service.server import HEADER_TIMEOUT_VARIABLE, GuardedProtocol

    if workers < 1 or header_timeout <= 0 or body_timeout <= 0:
        fail("--workers is 1 or more; the timeouts are more than 0 seconds")
    api_key = os.environ.get(API_KEY_VARIABLE) or None
    if host not in LOOPBACK_HOSTS and api_key is None:
        fail(
            f"refusing to bind {host}: outside localhost the service needs an API key; "
            f"set {API_KEY_VARIABLE} (clients send 'Authorization: Bearer <key>')"
        )
    coder = _coder(reference)  # a bad folder stops here, once, before any worker starts
    # worker processes take their settings from the environment (service.app_from_environment)
    os.environ[HEADER_TIMEOUT_VARIABLE] = repr(header_timeout)
    os.environ[BODY_TIMEOUT_VARIABLE] = repr(body_timeout)
    for variable, folder in ((REFERENCE_VARIABLE, reference), (QUEUE_VARIABLE, queue)):
        if folder is not None:
            os.environ[variable] = str(folder.resolve())
        else:
            os.environ.pop(variable, None)
    try:  # made here once even with workers: a --queue that names a file stops before any worker starts
        app_ = create_app(
            coder, api_key=api_key, local_only=api_key is None, body_timeout=body_timeout, queue=queue
        )
    except (QueueError, OSError) as exc:  # --queue names a file, or a folder that cannot be made
        fail(f"--queue: {exc}")
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    processes = f"{workers} worker processes" if workers > 1 else "1 worker process"
    if api_key is None:
        say(f"serving on {where} (localhost only, no API key; {processes})")
    else:
        say(
            f"serving on {where}; /v1 requires 'Authorization: Bearer' with the key "
            f"in {API_KEY_VARIABLE} ({processes})"
        )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        # uvicorn's access log prints query strings; the service logs its own line per request instead.
        # The logging config is applied in every worker process (basicConfig here would reach none).
        "access_log": False,
        "log_level": "info",
        "log_config": _serve_logging(),
        "server_header": False,
        "http": GuardedProtocol,  # httptools, with read deadlines and JSON errors (service/server.py)
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
    }
    if workers > 1 and "timeout_worker_healthcheck" in inspect.signature(uvicorn.run).parameters:
        # uvicorn kills a worker that does not answer its supervisor's ping within this; loading the
        # reference data, or a busy shared machine, can take longer than its default 5 s
        options["timeout_worker_healthcheck"] = 60
    if workers == 1:
        uvicorn.run(app_, **options)
    else:
        del coder, app_  # each worker loads its own
        uvicorn.run("infusion_coder.service:app_from_environment", factory=True, workers=workers, **options)


BATCH_FORMATS = ("parquet", "csv", "jsonl", "xlsx")


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
        str, typer.Option("--format", help="Output format: parquet, csv, jsonl or xlsx.")
    ] = "parquet",
    jobs: Annotated[
        int, typer.Option(help="Worker processes; the output is the same for any number.", min=1)
    ] = 1,
    policy: PolicyOption = None,
    timezone: TimezoneOption = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", help="Input format: jsonl, parquet, csv, or an importer's (fhir, hl7, mar, mimic)."
        ),
    ] = None,
    mapping: MappingOption = None,
    claim_type: ClaimTypeOption = "institutional",
    place_of_service: PosOption = None,
    include_inpatient: InpatientOption = False,
    audit_: Annotated[bool, typer.Option("--audit", help="Audit billed_lines instead of coding.")] = False,
    resume: Annotated[
        bool, typer.Option(help="Finish an interrupted run in --out, coding only what is left.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Write into a non-empty --out (an earlier run's tables there are replaced)."
        ),
    ] = False,
    chunk_size: Annotated[
        int, typer.Option(help="Records per chunk (the unit of work and of resume).", min=1)
    ] = 1000,
    reference: ReferenceOption = None,
) -> None:
    """Code files of encounters into a folder of tables: parallel, resumable.

    Results and flat tables (lines, drug_lines, findings, differences, errors), in input order, with a
    summary. Takes every option `code --from` takes. Exit 1 if any record was an error, 2 if an input or
    an option is unusable (nothing is written then)."""
    from ..batch.run import INPUT_FORMATS, BatchError, Settings, known_total, run_batch
    from ..formats import FORMATS as IMPORT_FORMATS

    format = checks.choice("--format", format, BATCH_FORMATS)
    if format == "xlsx":
        _need_openpyxl()
    if from_ is not None and from_ not in INPUT_FORMATS and from_ not in IMPORT_FORMATS:
        checks.unknown("input format", from_, [*INPUT_FORMATS, *sorted(IMPORT_FORMATS)])
    if mapping is not None and from_ != "mar":
        fail("--mapping is for MAR CSV exports: add --from mar")
    if mapping is not None and not mapping.is_file():
        fail(f"cannot read the mapping {mapping}: no such file")
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file: name a folder (new or empty) for the tables")
    coder = _coder(reference)
    checks.policy(policy, coder.policies)
    settings = Settings(
        format=format,  # type: ignore[arg-type]  # checked above
        chunk_size=chunk_size,
        policy=policy,
        timezone=timezone,
        input_format=from_,
        audit=audit_,
        reference=str(reference.resolve()) if reference else None,
        mapping=str(mapping.resolve()) if mapping else None,
        claim_type=claim_type,
        place_of_service=place_of_service,
        include_inpatient=include_inpatient,
    )
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
                force=force,
                coder=coder,
                progress=(lambda n: bar.advance(task, n)) if bar and task is not None else None,
            )
    except BatchError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted; finished chunks are kept in {out}: run again with --resume", 130)
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
    files = sorted(set(summary.outputs.values()), key=list(summary.outputs.values()).index)
    typer.echo(f"written to {out}/ ({', '.join(files)}, summary.json)")
    raise typer.Exit(EXIT_RECORD_ERROR if summary.errors else EXIT_OK)


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
    top: Annotated[int, typer.Option(help="How many encounters to list by error findings.", min=1)] = 10,
) -> None:
    """Counts over a batch's output folder (DuckDB).

    Readiness, lines by code, findings by id, the encounters with the most error findings."""
    from ..batch.report import ReportError, print_report

    try:
        print_report(folder, top=top)
    except ReportError as exc:
        fail(str(exc))


def main() -> None:
    """The `infusion-coder` command. A user's mistake ends in one line and exit 2 (click's usage errors
    too); anything else unexpected is an internal failure: one line naming its type, exit 3, and the
    traceback only with INFUSION_CODER_DEBUG=1 (its text could quote a record)."""
    try:
        app(prog_name="infusion-coder")
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
    except BrokenPipeError:  # `infusion-coder code ... | head`: the reader left; nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except Exception as exc:
        if os.environ.get("INFUSION_CODER_DEBUG"):
            import traceback

            traceback.print_exc()
        say(
            f"internal error ({type(exc).__name__}); nothing of the input is shown here. This is a defect: "
            "run again with INFUSION_CODER_DEBUG=1 for the traceback and report it."
        )
        sys.exit(EXIT_INTERNAL)
