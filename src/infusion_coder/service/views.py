"""The page's server side beyond the coder: the work queue (a batch output folder as a paged, sortable,
filterable list; an encounter's result; statuses and notes; CSV and .xlsx exports; uploads that become a
queue), the API explorer (Swagger UI served from the package) and reading billed lines for the page's audit.

Every view is a URL: `/queue/<name>?readiness=hold&sort=-amount&page=2`, `/queue/<name>/<encounter_id>`,
`/queue/<name>.csv?...` exports what the list shows. Registered by `create_app` with `install`.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.params import Depends
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..api import Coder
from ..formats import ImportOptions, Source, reader
from .body import format_available
from .guard import error_body
from .queue import (
    ENCOUNTERS_NAME,
    PAGE_SIZE,
    READINESS_LABEL,
    SORTS,
    STATUSES,
    QueueError,
    QueueHome,
    csv_bytes,
    xlsx_available,
    xlsx_bytes,
)
from .queue import (
    Query as ListQuery,
)

HERE = Path(__file__).resolve().parent
COOKIE = "infusion_coder_key"
MAX_UPLOAD_FILES = 20
log = logging.getLogger("infusion_coder.service")
FORMAT_LABELS = {
    "json": "Contract JSON / JSON Lines",
    "fhir": "FHIR bundle / NDJSON",
    "hl7": "HL7 v2",
    "mar": "MAR CSV",
}


class PageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def install(
    app: FastAPI,
    coder: Coder,
    *,
    api_key: str | None,
    api_dependencies: Sequence[Depends],
    base_context: Any,
    upload_formats: Sequence[str],
    queue: Path | None = None,
) -> None:
    """Add the queue, API-explorer and billed-lines routes to `app`. `base_context(request)` gives the
    templates' common values; `api_dependencies` guard the /v1 route as the app's others;
    `upload_formats` are the source formats this installation reads."""
    templates = Jinja2Templates(directory=HERE / "templates")
    home = QueueHome(coder.reference, queue)
    app.state.queue_home = home
    pages = APIRouter(include_in_schema=False)
    v1 = APIRouter(dependencies=list(api_dependencies))

    def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        response = templates.TemplateResponse(request, template, {**base_context(request), **context})
        response.status_code = status
        return response

    def allowed(request: Request) -> bool:
        if api_key is None:
            return True
        given = request.cookies.get(COOKIE, "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        return secrets.compare_digest(given.encode(), api_key.encode())

    def same_origin(request: Request) -> None:
        # a form posted from another site must not change a queue (the cookie is SameSite=Strict as well)
        origin = request.headers.get("origin")
        if origin and origin != "null" and origin.split("://", 1)[-1] != request.headers.get("host", ""):
            raise PageError(403, "this form must be sent from the queue's own page")

    def key_page(request: Request) -> HTMLResponse:
        return render(request, "key.html", 401, page="queue", next=request.url.path, bad=False)

    def queue_of(name: str) -> Any:
        try:
            return home.get(name)
        except KeyError:
            raise PageError(404, f"no queue named {name[:80]!r}") from None
        except QueueError as exc:
            raise PageError(422, str(exc)) from exc

    def list_query(request: Request, params: Any = None) -> ListQuery:
        params = request.query_params if params is None else params
        try:
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            page = 1
        sort = params.get("sort", "readiness")
        if sort.lstrip("-") not in SORTS:
            sort = "readiness"
        readiness = params.get("readiness", "")
        status = params.get("status", "")
        return ListQuery(
            readiness=readiness if readiness in READINESS_LABEL else "",
            finding=params.get("finding", "")[:80],
            status=status if status in STATUSES else "",
            text=params.get("q", "")[:80],
            sort=sort,
            page=page,
        )

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return render(request, "message.html", exc.status, page="queue", message=exc.message)

    # ------------------------------------------------------------------------------------ API explorer

    @pages.get("/docs", response_class=HTMLResponse)
    async def docs(request: Request) -> Response:
        return render(request, "docs.html", page="docs")

    # ------------------------------------------------------------------------------------------ queues

    @pages.get("/batch")
    async def batch_moved() -> Response:
        return RedirectResponse("/queue", 308)

    @pages.get("/queue", response_class=HTMLResponse)
    async def queues(request: Request) -> Response:
        if not allowed(request):
            return key_page(request)
        found = []
        for name in home.folders():
            try:
                queue = await run_in_threadpool(queue_of, name)
                listing = await run_in_threadpool(queue.listing, ListQuery(), page_size=1)
            except PageError:
                continue
            found.append((name, listing))
        return render(
            request, "queues.html", page="queue", queues=found, **_upload_context(home, upload_formats)
        )

    @pages.post("/queue/key")
    async def enter_key(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=4)
        key = str(form.get("key", ""))
        target = str(form.get("next", "/queue"))
        target = target if target.startswith("/queue") and "//" not in target else "/queue"
        if api_key is None or not secrets.compare_digest(key.encode(), api_key.encode()):
            return render(request, "key.html", 401, page="queue", next=target, bad=True)
        response = RedirectResponse(target, 303)
        response.set_cookie(
            COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response

    @pages.post("/queue")
    async def upload(request: Request) -> Response:
        if not allowed(request):
            return key_page(request)
        same_origin(request)
        try:
            form = await request.form(max_files=MAX_UPLOAD_FILES + 1, max_fields=20)
        except StarletteHTTPException as exc:
            raise PageError(400, f"the upload cannot be read: {exc.detail}") from exc
        field = {key: str(value).strip() for key, value in form.multi_items() if isinstance(value, str)}
        files = [v for k, v in form.multi_items() if k == "file" and isinstance(v, UploadFile) and v.filename]
        mapping_file = form.get("mapping")
        try:
            options, format = _upload_options(field, coder)
            sources = [Source((f.filename or "upload")[:200], data=await f.read()) for f in files]
            if field.get("text"):
                sources.append(Source(f"pasted.{format}", data=field["text"].encode()))
            if not any(s.data for s in sources):
                raise PageError(422, "choose a file or paste records first")
            mapping = None
            if isinstance(mapping_file, UploadFile) and mapping_file.filename:
                suffix = Path(mapping_file.filename).suffix.lower()
                if suffix not in (".toml", ".yaml", ".yml"):
                    raise PageError(422, "the mapping must be a .toml, .yaml or .yml file")
                mapping = (suffix, await mapping_file.read())
            hint = files[0].filename if files else "pasted"
            name = await run_in_threadpool(
                _make_queue, home, coder, format, sources, options, mapping, hint or ""
            )
        except PageError as exc:
            return render(
                request,
                "queues.html",
                exc.status,
                page="queue",
                queues=[],
                error=exc.message,
                form=field,
                **_upload_context(home, upload_formats),
            )
        finally:
            await form.close()
        return RedirectResponse(f"/queue/{name}", 303)

    def export(request: Request, name: str, kind: str) -> Response:
        if not allowed(request):
            return key_page(request)
        queue = queue_of(name)
        query = list_query(request)
        header, rows = queue.export_rows(query)
        filename = f"{name}-{'-'.join(f'{k}-{v}' for k, v in query.params(page='1').items())}".strip("-")
        filename = re.sub(r"[^A-Za-z0-9._-]+", "-", filename)[:120]
        if kind == "csv":
            return Response(
                csv_bytes(header, rows),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
            )
        if not xlsx_available():
            raise PageError(
                501,
                "the .xlsx export needs openpyxl: install the xlsx extra (pip install 'infusion-coder[xlsx]')",
            )
        data = xlsx_bytes(header, rows, name)
        return Response(
            data,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )

    @pages.get("/queue/{name}.csv")
    async def export_csv(request: Request, name: str) -> Response:
        return await run_in_threadpool(export, request, name, "csv")

    @pages.get("/queue/{name}.xlsx")
    async def export_xlsx(request: Request, name: str) -> Response:
        return await run_in_threadpool(export, request, name, "xlsx")

    @pages.get("/queue/{name}", response_class=HTMLResponse)
    async def queue_list(request: Request, name: str) -> Response:
        if not allowed(request):
            return key_page(request)
        queue = await run_in_threadpool(queue_of, name)  # the first open builds the index
        query = list_query(request)
        listing = await run_in_threadpool(queue.listing, query)
        here = _url(f"/queue/{name}", query.params())
        return render(
            request,
            "queue.html",
            page="queue",
            queue=queue,
            name=name,
            query=query,
            listing=listing,
            here=here,
            url=lambda **changes: _url(f"/queue/{name}", query.params(**changes)),
            export=lambda kind: _url(f"/queue/{name}.{kind}", query.params(page="1")),
            statuses=STATUSES,
            readiness_labels=READINESS_LABEL,
            page_size=PAGE_SIZE,
            xlsx=xlsx_available(),
            temporary=home.temporary and queue.folder.parent == home.home,
        )

    @pages.get("/queue/{name}/{encounter_id}", response_class=HTMLResponse)
    async def queue_encounter(
        request: Request,
        name: str,
        encounter_id: str,
        seq: Annotated[int | None, Query(ge=0)] = None,
        back: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> Response:
        if not allowed(request):
            return key_page(request)
        queue = await run_in_threadpool(queue_of, name)  # the first open builds the index
        entry = queue.find("" if encounter_id == "-" else encounter_id, seq)  # "-": a record with no id
        if entry is None:
            raise PageError(404, f"no encounter {encounter_id[:60]!r} in queue {name[:80]!r}")
        result = await run_in_threadpool(queue.result, entry.seq)
        encounter = await run_in_threadpool(queue.encounter, entry.seq, entry.encounter_id)
        back_url = back if back and back.startswith(f"/queue/{name}") else f"/queue/{name}"
        # the list this encounter was opened from: its neighbours there, for "previous" and "next"
        listed = list_query(request, dict(parse_qsl(urlsplit(back_url).query)))
        before, after, position, total = await run_in_threadpool(queue.neighbours, listed, entry.seq)

        def link(other: Any) -> str | None:
            if other is None:
                return None
            path = f"/queue/{name}/{quote(other.encounter_id or '-', safe='')}"
            return _url(path, {"seq": str(other.seq), "back": back_url})

        data = {
            "result": result,
            "encounter": encounter or _synthetic(result),
            "synthetic": encounter is None,
        }
        return render(
            request,
            "encounter.html",
            page="queue",
            name=name,
            entry=entry,
            data=data,
            back=back_url,
            statuses=STATUSES,
            readiness_labels=READINESS_LABEL,
            duplicates=queue.duplicates(entry.encounter_id),
            previous=link(before),
            next=link(after),
            position=position,
            total=total,
        )

    @pages.post("/queue/{name}/{encounter_id}/review")
    async def review(request: Request, name: str, encounter_id: str) -> Response:
        if not allowed(request):
            return key_page(request)
        same_origin(request)
        queue = await run_in_threadpool(queue_of, name)  # the first open builds the index
        form = await request.form(max_files=0, max_fields=8)
        try:
            seq = int(str(form.get("seq", "")))
        except ValueError:
            raise PageError(422, "seq: a whole number is required") from None
        entry = queue.find("" if encounter_id == "-" else encounter_id, seq)
        if entry is None:
            raise PageError(404, f"no encounter {encounter_id[:60]!r} in queue {name[:80]!r}")
        status = str(form.get("status", entry.status))
        note = str(form["note"]) if "note" in form else entry.note
        try:
            await run_in_threadpool(queue.review, seq, status, note)
        except QueueError as exc:
            raise PageError(422, str(exc)) from exc
        back = str(form.get("back", ""))
        target = back if back.startswith(f"/queue/{name}") and "//" not in back else f"/queue/{name}"
        then = str(form.get("then", ""))
        if then.startswith(f"/queue/{name}/") and "//" not in then:  # "Save and next"
            target = then
        return RedirectResponse(target, 303)

    # --------------------------------------------------------------------------- billed lines (audit)

    @v1.post(
        "/v1/billed",
        summary="Read billed lines (an 837I/837P or a CSV) for one encounter, for /v1/audit",
        tags=["coding"],
    )
    async def billed(request: Request, encounter_id: Annotated[str, Query(max_length=80)]) -> JSONResponse:
        """The billed lines of `encounter_id` in an uploaded 837 or CSV (columns code, units, modifiers, date;
        encounter_id optional: without it every row is this encounter's). A file with one claim under
        another id is taken as this encounter's, and the answer says so in `note`."""
        data = b""
        name = "billed.csv"
        if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            form = await request.form(max_files=2, max_fields=2)
            item = form.get("file")
            if isinstance(item, UploadFile):
                data, name = await item.read(), (item.filename or name)[:200]
            await form.close()
        else:
            data = await request.body()
        if not data.strip():
            return JSONResponse(error_body("no billed lines were sent", "file"), 400)
        try:
            return JSONResponse(await run_in_threadpool(_read_billed, data, name, encounter_id))
        except ValueError as exc:
            return JSONResponse(error_body(str(exc)[:300], "file"), 422)

    app.include_router(v1)
    app.include_router(pages)


def _url(path: str, params: dict[str, str]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def _upload_context(home: QueueHome, upload_formats: Sequence[str]) -> dict[str, Any]:
    return {
        "upload_formats": ["json", *upload_formats],
        "format_labels": FORMAT_LABELS,
        "home": home,
    }


def _upload_options(field: dict[str, str], coder: Coder) -> tuple[ImportOptions, str]:
    format = field.get("format") or "json"
    if format != "json" and not format_available(format):
        raise PageError(422, f"format {format[:40]!r} cannot be uploaded here")
    policy = field.get("policy") or None
    if policy is not None and policy not in coder.policies:
        raise PageError(422, f"unknown policy {policy[:40]!r}; known: {', '.join(coder.policies)}")
    claim_type = field.get("claim_type") or "institutional"
    if claim_type not in ("institutional", "professional"):
        raise PageError(422, "claim type must be institutional or professional")
    pos = field.get("place_of_service") or None
    if pos is not None and not re.fullmatch(r"\d{2}", pos):
        raise PageError(422, f"place of service must be two digits, not {pos[:10]!r}")
    timezone = field.get("timezone") or None
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PageError(
                422, f"unknown time zone {timezone[:60]!r}: give an IANA name such as America/Chicago"
            ) from None
    return (
        ImportOptions(
            timezone=timezone,
            claim_type=claim_type,
            place_of_service=pos,
            policy=policy,
            include_inpatient=field.get("include_inpatient") in ("on", "true", "1"),
        ),
        format,
    )


def _make_queue(
    home: QueueHome,
    coder: Coder,
    format: str,
    sources: list[Source],
    options: ImportOptions,
    mapping: tuple[str, bytes] | None,
    hint: str,
) -> str:
    """Import the upload, write its encounters and code them with `batch` into a new queue folder."""
    from ..batch.run import BatchError, Settings, run_batch
    from ..formats.jsonio import UnreadableInput
    from ..formats.jsonio import read as read_json

    name, folder = home.new_folder(hint)
    with tempfile.TemporaryDirectory(prefix="infusion-coder-upload-") as work:
        records: list[Any] = []
        if format == "json":
            for source in sources:
                try:
                    batch = read_json(io.BytesIO(source.read_bytes()))
                except UnreadableInput as exc:
                    raise PageError(422, f"{source.name}: {exc}") from exc
                for item in batch.items:
                    records.append(
                        item.value if item.problem is None else error_body(f"{source.name}: {item.problem}")
                    )
        else:
            if mapping is not None:
                path = Path(work) / f"mapping{mapping[0]}"
                path.write_bytes(mapping[1])
                options = ImportOptions(**{**options.__dict__, "mapping": path})
            try:
                records = list(reader(format)(sources, options, coder.reference.latest))
            except Exception as exc:  # a reader error that is not a record's: the upload as a whole
                log.error("the %s reader raised %s on an upload", format, type(exc).__name__)
                raise PageError(
                    422, f"the {format} reader could not read the upload: {str(exc)[:200]}"
                ) from exc
        if not records:
            raise PageError(422, "the upload holds no record")
        encounters = Path(work) / ENCOUNTERS_NAME
        with encounters.open("w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
        settings = Settings(
            format="parquet", policy=options.policy, timezone=options.timezone, input_format="jsonl"
        )
        try:
            run_batch([encounters], folder, settings, coder=coder)
        except BatchError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise PageError(422, str(exc)) from exc
        shutil.copyfile(encounters, folder / ENCOUNTERS_NAME)
    return name


def _read_billed(data: bytes, name: str, encounter_id: str) -> dict[str, Any]:
    import csv

    from ..claims import ClaimError
    from ..formats.billed import read_billed_csv

    note = None
    try:
        if data.lstrip()[:3] == b"ISA":
            from ..formats.x12 import read_837

            try:
                claims = read_837(data, name)
            except ClaimError:
                raise
            except Exception as exc:  # pyx12 on a damaged interchange: the file, not the server
                raise ValueError(f"{name}: the 837 cannot be read ({type(exc).__name__})") from exc
        else:
            text = data.decode("utf-8-sig", errors="replace")
            header = next(csv.reader(io.StringIO(text)), [])
            if "encounter_id" not in {h.strip().lower() for h in header}:
                # one encounter's lines: every row is this encounter's
                rows = list(csv.reader(io.StringIO(text)))
                out = io.StringIO()
                writer = csv.writer(out)
                writer.writerow(["encounter_id", *rows[0]])
                for row in rows[1:]:
                    if any(cell.strip() for cell in row):
                        writer.writerow([encounter_id, *row])
                data = out.getvalue().encode()
            claims = read_billed_csv(data, name)
    except (ClaimError, csv.Error) as exc:
        raise ValueError(str(exc)) from exc
    lines = claims.lines.get(encounter_id)
    if lines is None and len(claims.lines) == 1:
        ((other, lines),) = claims.lines.items()
        note = f"The file's only claim is {other[:40]!r}; it was compared with this encounter."
    problems = [message for eid, message in claims.problems if eid in (None, encounter_id)]
    return {
        "lines": [line.model_dump(mode="json") for line in lines or []],
        "problems": problems[:20],
        "note": note,
        "claims": len(claims.lines),
    }


def _synthetic(result: dict[str, Any]) -> dict[str, Any]:
    """Administrations rebuilt from what the lines counted, when the queue keeps no encounters."""
    spans: dict[str, list[str]] = {}
    for line in result.get("lines") or []:
        for admin in line.get("administrations") or []:
            for interval in line.get("intervals") or []:
                spans.setdefault(admin, []).extend([interval["start"], interval["end"]])
    administrations = []
    for admin, times in spans.items():
        start, end = min(times), max(times)
        record: dict[str, Any] = {"id": admin, "substance": admin, "route": "intravenous", "start": start}
        if end != start:
            record["end"] = end
        administrations.append(record)
    return {"encounter_id": result.get("encounter_id"), "administrations": administrations, "synthetic": True}
