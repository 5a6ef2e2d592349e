"""The HTTP service: the contract over HTTP (`/v1/...`), health and version, OpenAPI, and the coder's page.

Every answer that is not a success is a contract error object `{"encounter_id", "error": {"message",
"field"}}` with a 4xx status; a single encounter that cannot be coded answers 422 with its error object,
a list answers 200 with one result per item (error objects included), as the CLI's JSON Lines do.

Coding is CPU-bound Python, so threads add nothing under the GIL but their hop: a small body (up to
`INLINE_BODY_BYTES`) is coded on the event loop. A larger one, and every upload, is parsed, read and coded
in a worker thread, at most `HEAVY_JOBS` at a time per process; a list's answer is then streamed as it is
coded, `CHUNK_RECORDS` at a time, so the event loop keeps answering small requests in between (the GIL
hands it the CPU every few ms) and memory holds one chunk of results, not the whole answer. Parallelism
comes from worker processes (`serve --workers N`).
"""

from __future__ import annotations

import inspect
import logging
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..api import Coder, Result
from ..formats import FORMATS, MAX_SOURCE_BYTES, ImportOptions, Source, UnusableInput, reader, size_text
from ..models import AuditResult, CodingResult, Encounter, ErrorResult, excerpt
from ..rules import CATALOG
from ..times import TimeError, resolve_zone
from .body import (
    MAX_RECORDS,
    BadBody,
    Records,
    format_available,
    read_records,
    too_many,
    unpacked_size,
    yaml_aliases,
)
from .guard import DEFAULT_BODY_TIMEOUT, BodyTimeout, BodyTooLarge, Guard, error_body, json_bytes

HERE = Path(__file__).resolve().parent
EXAMPLES_DIR = HERE.parent / "examples"
MAX_BODY_BYTES = 5 * 1024 * 1024  # 5 MiB: thousands of encounters, far below what hurts the server
MAX_UPLOAD_FILES = 20
MAX_MAPPING_BYTES = 64 * 1024  # a site's MAR mapping is a few KB
INLINE_BODY_BYTES = 32 * 1024  # coded on the event loop: tens of ms at the very worst, ~1 ms usually
CHUNK_RECORDS = 64  # records coded per step of a streamed answer
HEAVY_JOBS = 2  # large coding requests and uploads in threads at once, per worker process
# Decompressed bytes one request may upload, per format: each reads at its own pace (measured on the
# 2-core build machine: FHIR ~5 MiB/s, MAR CSV ~1.5 MiB/s, HL7 v2 ~1.7 MiB/s now that its parse is linear
# in segments), so each limit is a few seconds of work at most. Larger exports go through
# `infusion-coder import` or `batch`.
UPLOAD_BYTES = {"fhir": 16 * 2**20, "mar": 4 * 2**20, "hl7": 4 * 2**20}
log = logging.getLogger("infusion_coder.service")


T = TypeVar("T")
# FastAPI's built-in OpenTelemetry (recent versions) would record paths, query strings and exception texts,
# which can quote patient data, wherever a collector is configured; it also costs every request.
NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


class JSONAnswer(JSONResponse):
    """JSON answers through orjson: the same values as json.dumps, several times faster."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


@dataclass(frozen=True)
class Upload(Source):
    """An uploaded file: the shared reader guard (`Source.read_bytes`) reads it with the service's ceiling,
    not the CLI's 256 MiB, whatever limit the reader asks for."""

    ceiling: int = MAX_SOURCE_BYTES

    def read_bytes(self, limit: int | None = None) -> bytes:
        return super().read_bytes(self.ceiling if limit is None else min(limit, self.ceiling))


def api_error_answer(exc: ApiError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONAnswer(error_body(exc.message, exc.field), exc.status, headers=headers)


class LeanRoute(APIRoute):
    """A hot endpoint (`POST /v1/code`, `/v1/audit`): FastAPI documents it from the endpoint's signature,
    and a request skips FastAPI's per-request dependency solving and parameter validation (~130 us of a
    ~500 us request, measured): its ASGI app passes the query parameters as the strings they are (they
    must be plain optional strings), answers an ApiError itself, and leaves the API key to the Guard (it
    covers /v1). The Guard calls that app directly (`direct`), past Starlette's middleware and router."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.dependant.dependencies:
            raise TypeError(f"{path}: a LeanRoute runs no dependencies; check in the endpoint instead")
        names = [param.alias for param in self.dependant.query_params]
        call = self.endpoint

        async def lean(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive, send)
            query = request.query_params
            try:
                response: Response = await call(request, **{name: query.get(name) for name in names})
            except ApiError as exc:
                response = api_error_answer(exc)
            await response(scope, receive, send)

        self.app = lean


def _invalid_text(error: Any) -> str:
    """A parameter's validation failure in the project's words (pydantic's own may quote the input)."""
    kind, context = error.get("type", ""), error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "string_too_long":
        return f"at most {context.get('max_length')} characters"
    if kind == "string_too_short":
        return f"at least {context.get('min_length')} characters"
    if kind == "literal_error":
        return f"must be {context.get('expected')}"
    return "not a valid value"


def result_bytes(result: Result) -> bytes:
    return json_bytes(result.model_dump(mode="json"))


class Health(BaseModel):
    status: Literal["ok"]


class VersionInfo(BaseModel):
    package: str
    reference_version: str
    reference_versions: list[str]


class RuleInfo(BaseModel):
    id: str
    name: str
    summary: str
    citation: str


class PolicyOptionValue(BaseModel):
    value: Any
    source: str


class PolicyInfo(BaseModel):
    name: str
    description: str
    default: bool
    values: dict[str, PolicyOptionValue]


class ExampleInfo(BaseModel):
    name: str
    format: str
    mapping: str | None = None


class FormatInfo(BaseModel):
    name: str
    description: str
    available: bool


def package_version() -> str:
    try:
        return version("infusion-coder")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


# Bundled source records open in the importer of their suffix; `<format>-mapping.toml` beside them is
# the site mapping they need (MAR CSV with a site's own column names).
SOURCE_SUFFIXES = {".hl7": "hl7", ".csv": "mar", ".ndjson": "fhir"}
MAPPING_SUFFIXES = frozenset({".toml", ".yaml", ".yml"})


@dataclass(frozen=True)
class Example:
    name: str  # contract JSON by stem (ed-visit), source records by file name (ed-visit.hl7)
    path: Path
    format: str  # "json" for contract encounters, else an importer format
    mapping: str | None = None  # name of the mapping example it needs


def examples(*, with_mappings: bool = False) -> dict[str, Example]:
    found: dict[str, Example] = {}
    for path in sorted(EXAMPLES_DIR.iterdir()) if EXAMPLES_DIR.is_dir() else []:
        if not path.is_file():
            continue
        if path.suffix == ".json":
            if '"administrations"' in path.read_text(encoding="utf-8"):  # not the claim header beside them
                found[path.stem] = Example(path.stem, path, "json")
        elif path.suffix in SOURCE_SUFFIXES:
            format = SOURCE_SUFFIXES[path.suffix]
            mapping = EXAMPLES_DIR / f"{format}-mapping.toml"
            found[path.name] = Example(path.name, path, format, mapping.name if mapping.is_file() else None)
        elif with_mappings and path.suffix in MAPPING_SUFFIXES:
            found[path.name] = Example(path.name, path, "mapping")
    return found


def usable_examples() -> list[Example]:
    """The examples this installation can open: contract JSON, and sources whose importer is present."""
    return [e for e in examples().values() if e.format == "json" or format_available(e.format)]


def _errors(status: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResult}}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResult, "description": "the body is not valid JSON"},
    401: {"model": ErrorResult, "description": "an API key is required"},
    413: {"model": ErrorResult, "description": "the body is larger than the limit"},
    415: {"model": ErrorResult, "description": "the content type is not JSON"},
    422: {"model": ErrorResult, "description": "the encounter or a parameter cannot be used"},
}

ENCOUNTERS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Encounter"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Encounter"}},
                    ]
                }
            },
            "application/x-ndjson": {"schema": {"type": "string", "description": "one encounter a line"}},
        },
    }
}

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["file"],
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

PolicyQuery = Annotated[
    str | None, Query(description="policy profile for every encounter, overriding each encounter's own")
]
TimezoneQuery = Annotated[
    str | None, Query(description="IANA zone of the facility for encounters that name none")
]

FormatParam = Annotated[str, PathParam(description="source format, see GET /v1/formats", max_length=40)]
ClaimTypeQuery = Annotated[Literal["institutional", "professional"], Query()]
PosQuery = Annotated[str | None, Query(max_length=2, description="place of service, two digits")]


def create_app(
    coder: Coder | None = None,
    *,
    api_key: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_records: int = MAX_RECORDS,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    local_only: bool = False,
    inline_body_bytes: int = INLINE_BODY_BYTES,
    upload_bytes: dict[str, int] | None = None,
    queue: Path | None = None,
) -> FastAPI:
    """The service around one Coder. With `api_key`, every /v1 call needs `Authorization: Bearer KEY`;
    with `local_only`, only connections from this machine are answered (what `serve` does without a key).
    Limits: `max_body_bytes` per body, `max_records` per request, `upload_bytes` per format (decompressed),
    the body within `body_timeout` seconds; bodies up to `inline_body_bytes` are coded on the event loop.
    `queue`: a batch output folder, or a folder of them, served as the work queue (views.py)."""
    coder = coder or Coder.default()
    uploads = {**UPLOAD_BYTES, **(upload_bytes or {})}
    app = FastAPI(
        title="infusion-coder",
        version=package_version(),
        description="Coding of drug-administration services (CPT 96360-96549) over HTTP. "
        f"Bodies are limited to {max_body_bytes} bytes and {max_records} records. "
        "Every error is a JSON error object.",
        docs_url=None,  # /docs is views.py's: Swagger UI from the package's own static files, no CDN
        redoc_url=None,
        default_response_class=JSONAnswer,
        **NO_TELEMETRY,
    )
    templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    bearer = HTTPBearer(auto_error=False, description="the key in INFUSION_CODER_API_KEY")
    expected = api_key.encode() if api_key is not None else None

    # async: a plain def would hop to a thread on every call. A default, not Annotated: `bearer` is local
    # and string annotations resolve in module globals.
    async def authorized(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if expected is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not secrets.compare_digest(given.encode(), expected):
            raise ApiError(401, "an API key is required: send Authorization: Bearer <key>", "authorization")

    v1 = [Depends(authorized)]
    limiter: list[anyio.CapacityLimiter] = []  # made on first use: it belongs to the running event loop

    async def heavy(work: Callable[..., T], *args: Any) -> T:
        """Work that may take long, in a thread, at most HEAVY_JOBS at a time in this process."""
        if not limiter:
            limiter.append(anyio.CapacityLimiter(HEAVY_JOBS))
        return await anyio.to_thread.run_sync(work, *args, limiter=limiter[0])

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return api_error_answer(exc)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONAnswer(error_body(str(exc)), 413)

    @app.exception_handler(BodyTimeout)
    async def _too_slow(request: Request, exc: BodyTimeout) -> JSONResponse:
        return JSONAnswer(error_body(str(exc)), 408, headers={"connection": "close"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # the framework's own texts ("Method Not Allowed") are replaced by the project's words
        where = f"{request.method} {excerpt(request.scope.get('path', ''))}"  # as sent: url.path drops LF
        if exc.status_code == 404:
            message = f"no such endpoint: {where}"
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"method not allowed: {where}" + (f"; allowed: {allowed}" if allowed else "")
        else:
            message = f"the request cannot be answered ({exc.status_code})"
        return JSONAnswer(error_body(message), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ())]
        field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
        return JSONAnswer(error_body(f"{field}: {_invalid_text(first)}", field), 422)

    direct: dict[tuple[str, str], Any] = {}  # the hot routes' ASGI apps, filled in as they are declared
    app.add_middleware(
        Guard,
        max_body_bytes=max_body_bytes,
        body_timeout=body_timeout,
        local_only=local_only,
        api_key=api_key,
        direct=direct,
    )

    def check_options(policy: str | None, timezone: str | None) -> None:
        """The query's policy and zone, checked once for the request rather than on every record."""
        if policy is not None and policy not in coder.policies:
            raise ApiError(
                422, f"unknown policy {excerpt(policy)}; known: {', '.join(coder.policies)}", "policy"
            )
        if timezone is not None:
            try:
                resolve_zone(timezone)
            except (TimeError, OSError, ValueError):
                raise ApiError(
                    422,
                    f"unknown time zone {excerpt(timezone)}: give an IANA zone such as America/Chicago",
                    "timezone",
                ) from None

    def parse(body: bytes, content_type: str | None) -> Records:
        try:
            return read_records(body, content_type, max_records)
        except BadBody as exc:
            raise ApiError(exc.status, str(exc)) from None

    def run_all(
        records: Records,
        run: Callable[..., Result],
        policy: str | None,
        timezone: str | None,
        start: int = 0,
        stop: int | None = None,
    ) -> list[Result]:
        results: list[Result] = []
        for index in range(start, len(records.values) if stop is None else stop):
            value = records.values[index]
            if index in records.problems:
                results.append(ErrorResult.model_validate(error_body(records.problems[index])))
                continue
            try:
                results.append(run(value, policy=policy, timezone=timezone))
            except Exception as exc:  # one broken record never ends a batch; the log gets no record text
                log.error("unhandled %s while coding a record", type(exc).__name__)
                encounter_id = value.get("encounter_id") if isinstance(value, dict) else None
                results.append(
                    ErrorResult.model_validate(
                        error_body(
                            f"internal error while coding ({type(exc).__name__})",
                            None,
                            encounter_id if isinstance(encounter_id, str) else None,
                        )
                    )
                )
        return results

    def answer(request: Request, results: Sequence[Result], single: bool) -> Response:
        request.state.records = len(results)
        request.state.errors = sum(isinstance(result, ErrorResult) for result in results)
        if single:
            result = results[0]
            status = 422 if isinstance(result, ErrorResult) else 200
            return Response(result_bytes(result), status, media_type="application/json")
        return Response(
            b"[" + b",".join(result_bytes(result) for result in results) + b"]", media_type="application/json"
        )

    def streamed(
        request: Request,
        records: Records,
        run: Callable[..., Result],
        policy: str | None,
        timezone: str | None,
    ) -> Response:
        """A list's answer, coded and sent CHUNK_RECORDS at a time off the event loop."""
        total = len(records.values)
        request.state.records, request.state.errors = total, 0

        def piece(start: int) -> tuple[bytes, int]:
            results = run_all(records, run, policy, timezone, start, min(start + CHUNK_RECORDS, total))
            text = b",".join(result_bytes(result) for result in results)
            return (b"," + text if start else text), sum(isinstance(r, ErrorResult) for r in results)

        async def chunks() -> AsyncIterator[bytes]:
            yield b"["
            for start in range(0, total, CHUNK_RECORDS):
                text, errors = await heavy(piece, start)
                request.state.errors += errors
                yield text
            yield b"]"

        return StreamingResponse(chunks(), media_type="application/json")

    async def coded(
        request: Request, policy: str | None, timezone: str | None, run: Callable[..., Result]
    ) -> Response:
        check_options(policy, timezone)
        body = await request.body()  # the Guard stops it at the limit and the deadline as it streams in
        content_type = request.headers.get("content-type")
        if len(body) <= inline_body_bytes:
            records = parse(body, content_type)
            return answer(request, run_all(records, run, policy, timezone), records.single)
        records = await heavy(parse, body, content_type)
        del body
        if records.single:
            return answer(request, await heavy(run_all, records, run, policy, timezone), True)
        return streamed(request, records, run, policy, timezone)

    def hot(path: str, **documented: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """POST `path` as a LeanRoute; the key is the Guard's (documented here as the other /v1 routes)."""

        def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            app.router.add_api_route(
                path,
                endpoint,
                methods=["POST"],
                route_class_override=LeanRoute,
                openapi_extra={**ENCOUNTERS_BODY, "security": [{"HTTPBearer": []}]},
                **documented,
            )
            direct[("POST", path)] = app.router.routes[-1].app  # type: ignore[attr-defined]
            return endpoint

        return register

    @hot(
        "/v1/code",
        response_model=CodingResult | list[CodingResult | ErrorResult],
        responses=ERRORS,
        summary="Code one encounter (an object) or many (a list, or JSON Lines)",
        tags=["coding"],
    )
    async def code(request: Request, policy: PolicyQuery = None, timezone: TimezoneQuery = None) -> Response:
        """One encounter answers its result (200) or its error object (422). A list or JSON Lines answers
        200 with one result per item, in order, error objects included."""
        return await coded(request, policy, timezone, coder.code_record)

    @hot(
        "/v1/audit",
        response_model=AuditResult | list[AuditResult | ErrorResult],
        responses=ERRORS,
        summary="Audit billed claims: encounters with billed_lines",
        tags=["coding"],
    )
    async def audit(request: Request, policy: PolicyQuery = None, timezone: TimezoneQuery = None) -> Response:
        """As /v1/code, and each result lists the differences between billed_lines and what is supported."""
        return await coded(request, policy, timezone, coder.audit_record)

    def check_upload(format: str, sources: Sequence[Source]) -> list[Source]:
        """The request's files within the format's decompressed limit, as Uploads the reader reads with
        that ceiling; a gzip bomb is measured, never inflated (413)."""
        limit = uploads.get(format, max_body_bytes)
        used = 0
        for source in sources:
            used += unpacked_size(source.data or b"", limit - used)
            if used > limit:
                raise ApiError(
                    413,
                    f"the {format} upload holds more than {size_text(limit)} once decompressed, the limit "
                    f"for one request: split it, or read it with `infusion-coder import {format}`",
                )
        return [Upload(source.name, data=source.data, ceiling=limit) for source in sources]

    async def uploaded(request: Request, format: str, options: ImportOptions) -> list[dict[str, Any]]:
        if not format_available(format):
            known = ", ".join(name for name in sorted(FORMATS) if format_available(name))
            raise ApiError(
                404, f"no uploadable format {excerpt(format)}; available: {known or 'none'}", "format"
            )
        check_options(options.policy, options.timezone)
        sources: list[Source] = []
        mapping: tuple[str, bytes] | None = None
        if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            try:
                form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=MAX_UPLOAD_FILES)
            except StarletteHTTPException:
                raise ApiError(
                    400,
                    "the multipart body cannot be read: send multipart/form-data with a boundary, "
                    f"at most {MAX_UPLOAD_FILES} files and {MAX_UPLOAD_FILES} fields",
                ) from None
            for key, item in form.multi_items():
                if isinstance(item, str):
                    raise ApiError(422, f"form field {excerpt(key)} must be a file", key[:60])
                if key == "mapping":  # a site's own column names and action words (MAR CSV)
                    suffix = Path(item.filename or "").suffix.lower()
                    if suffix not in MAPPING_SUFFIXES:
                        raise ApiError(422, "the mapping must be a .toml, .yaml or .yml file", "mapping")
                    content = await item.read()
                    if len(content) > MAX_MAPPING_BYTES:
                        raise ApiError(
                            413,
                            f"the mapping is larger than {size_text(MAX_MAPPING_BYTES)}; a site mapping is a "
                            "few KB",
                            "mapping",
                        )
                    if suffix != ".toml" and await heavy(yaml_aliases, content):
                        raise ApiError(
                            422,
                            "the mapping uses YAML anchors or aliases (& or *), which an uploaded mapping may "
                            "not: write each value out",
                            "mapping",
                        )
                    mapping = (suffix, content)
                    continue
                sources.append(Source((item.filename or "upload")[:200], data=await item.read()))
            await form.close()
        else:
            sources.append(Source("upload", data=await request.body()))
        if not any(source.data for source in sources):
            raise ApiError(
                400, "no file was uploaded: send the file as multipart field 'file' or as the body"
            )
        read = reader(format)
        with tempfile.TemporaryDirectory(prefix="infusion-coder-") as folder:
            if mapping is not None:  # readers take the mapping as a file, as the CLI's --mapping
                path = Path(folder) / f"mapping{mapping[0]}"
                path.write_bytes(mapping[1])
                options = replace(options, mapping=path)
            checked = await heavy(check_upload, format, sources)
            try:
                return await heavy(lambda: list(read(checked, options, coder.reference.latest)))
            except UnusableInput as exc:  # a bad mapping, a column the file lacks: the reader's own words
                raise ApiError(422, str(exc)[:500], "mapping" if mapping is not None else None) from exc
            except Exception as exc:  # a reader should not raise; if it does, the client still answers
                log.error("the %s reader raised %s", format, type(exc).__name__)
                raise ApiError(
                    422, f"the {format} reader could not read the upload ({type(exc).__name__})"
                ) from exc

    @app.post(
        "/v1/import/{format}",
        dependencies=v1,
        response_model=list[dict[str, Any]],
        responses={**ERRORS, 404: {"model": ErrorResult, "description": "no such format"}},
        openapi_extra=UPLOAD_BODY,
        summary="Turn uploaded FHIR, HL7 v2 or MAR CSV records into contract encounters",
        tags=["import"],
    )
    async def import_format(
        request: Request,
        format: FormatParam,
        timezone: TimezoneQuery = None,
        claim_type: ClaimTypeQuery = "institutional",
        place_of_service: PosQuery = None,
        policy: PolicyQuery = None,
    ) -> Response:
        """Each record of the upload becomes an encounter, or an error object when it cannot be read."""
        options = ImportOptions(
            timezone=timezone, claim_type=claim_type, place_of_service=place_of_service, policy=policy
        )
        encounters = await uploaded(request, format, options)
        request.state.records = len(encounters)
        request.state.errors = sum("error" in item for item in encounters)
        return Response(await heavy(json_bytes, encounters), media_type="application/json")

    @app.post(
        "/v1/code/{format}",
        dependencies=v1,
        response_model=list[CodingResult | ErrorResult],
        responses={**ERRORS, 404: {"model": ErrorResult, "description": "no such format"}},
        openapi_extra=UPLOAD_BODY,
        summary="Import uploaded records and code every encounter they hold",
        tags=["import"],
    )
    async def code_format(
        request: Request,
        format: FormatParam,
        timezone: TimezoneQuery = None,
        claim_type: ClaimTypeQuery = "institutional",
        place_of_service: PosQuery = None,
        policy: PolicyQuery = None,
    ) -> Response:
        options = ImportOptions(
            timezone=timezone, claim_type=claim_type, place_of_service=place_of_service, policy=policy
        )
        encounters = await uploaded(request, format, options)
        if len(encounters) > max_records:
            raise ApiError(413, str(too_many(len(encounters), max_records)))
        return streamed(
            request, Records(list(encounters), {}, single=False), coder.code_record, policy, timezone
        )

    @app.get("/v1/rules", dependencies=v1, response_model=list[RuleInfo], tags=["reference"])
    async def rules() -> list[RuleInfo]:
        """The rule catalog: every rule's id, name, summary and citation."""
        return [RuleInfo(id=r.id, name=r.name, summary=r.summary, citation=r.citation) for r in CATALOG]

    @app.get("/v1/policies", dependencies=v1, response_model=list[PolicyInfo], tags=["reference"])
    async def policies() -> list[PolicyInfo]:
        """The policy profiles, each option's value and its source."""
        pack = coder.reference.latest
        return [
            PolicyInfo(
                name=name,
                description=profile.description,
                default=name == "cms",
                values={
                    option: PolicyOptionValue(value=item.value, source=item.source)
                    for option, item in sorted(profile.values.items())
                },
            )
            for name, profile in sorted(pack.policies.items())
        ]

    @app.get("/v1/formats", dependencies=v1, response_model=list[FormatInfo], tags=["import"])
    async def formats() -> list[FormatInfo]:
        """The source formats; `available` says whether this installation can read uploads of it."""
        return [
            FormatInfo(name=name, description=description, available=format_available(name))
            for name, (_, description) in sorted(FORMATS.items())
        ]

    @app.get("/v1/examples", dependencies=v1, response_model=list[ExampleInfo], tags=["examples"])
    async def example_names() -> list[ExampleInfo]:
        """The bundled examples (made-up records): contract encounters, and source records in the importer
        formats this installation reads, with the mapping file a source needs."""
        return [ExampleInfo(name=e.name, format=e.format, mapping=e.mapping) for e in usable_examples()]

    @app.get(
        "/v1/examples/{name}",
        dependencies=v1,
        responses=_errors(404),
        tags=["examples"],
        response_model=Encounter,
    )
    async def example(name: Annotated[str, PathParam(max_length=80)]) -> Response:
        found = examples(with_mappings=True).get(name)
        if found is None:
            raise ApiError(404, f"no example {name[:40]!r}; examples: {', '.join(examples())}", "name")
        kind = "application/json" if found.format == "json" else "text/plain; charset=utf-8"
        return Response(found.path.read_bytes(), media_type=kind)

    @app.get("/healthz", response_model=Health, tags=["service"])
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/version", response_model=VersionInfo, tags=["service"])
    async def version_info() -> VersionInfo:
        return VersionInfo(
            package=package_version(),
            reference_version=coder.reference.latest.version,
            reference_versions=[pack.version for pack in coder.reference.packs],
        )

    def page_context(request: Request | None = None) -> dict[str, Any]:
        return {
            "version": package_version(),
            "reference_version": coder.reference.latest.version,
            "policies": coder.policies,
            "examples": usable_examples(),
            "formats": [name for name in sorted(FORMATS) if format_available(name)],
            "api_key_required": api_key is not None,
            "max_body_bytes": max_body_bytes,
        }

    def page(request: Request, template: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, template, {**page_context(), **context})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(
        request: Request, example: Annotated[str | None, Query(max_length=80)] = None
    ) -> Response:
        if example is None:
            return page(request, "index.html", example=None, example_name=None, opened=None)
        found = {e.name: e for e in usable_examples()}.get(example)
        if found is None:
            response = page(
                request, "index.html", example=None, example_name=None, opened=None, missing=example
            )
            response.status_code = 404
            return response
        opened = {"name": found.name, "format": found.format, "mapping": found.mapping}
        return page(
            request, "index.html", example=found.path.read_text(), example_name=found.name, opened=opened
        )

    from .views import install  # the work queue, the API explorer (/docs) and the page's audit

    install(
        app,
        coder,
        api_key=api_key,
        api_dependencies=v1,
        base_context=page_context,
        upload_formats=[name for name in sorted(FORMATS) if format_available(name)],
        queue=queue,
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            # the bodies are parsed by hand (to answer 400/413/422 as error objects), so add their models
            definitions = TypeAdapter(Encounter).json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions.pop("$defs", {}))
            components["Encounter"] = definitions
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
