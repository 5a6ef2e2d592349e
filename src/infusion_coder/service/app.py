"""The HTTP service: the contract over HTTP (`/v1/...`), health and version, OpenAPI, and the coder's page.

Every answer that is not a success is a contract error object `{"encounter_id", "error": {"message",
"field"}}` with a 4xx status; a single encounter that cannot be coded answers 422 with its error object,
a list answers 200 with one result per item (error objects included), as the CLI's JSON Lines do.
"""

from __future__ import annotations

import importlib.util
import logging
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, TypeAdapter
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..api import Coder, Result
from ..formats import FORMATS, ImportOptions, Source, reader
from ..models import AuditResult, CodingResult, Encounter, ErrorResult
from ..rules import CATALOG
from .body import BadBody, Records, read_records
from .guard import BodyTooLarge, Guard, error_body

HERE = Path(__file__).resolve().parent
EXAMPLES_DIR = HERE.parent / "examples"
MAX_BODY_BYTES = 5 * 1024 * 1024  # 5 MiB: thousands of encounters, far below what hurts the server
MAX_UPLOAD_FILES = 20
# Formats whose reader needs folders on disk (MIMIC-IV tables): not uploadable.
FOLDER_FORMATS = frozenset({"mimic"})
log = logging.getLogger("infusion_coder.service")


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


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


def format_available(name: str) -> bool:
    if name not in FORMATS or name in FOLDER_FORMATS:
        return False
    try:
        return importlib.util.find_spec(FORMATS[name][0]) is not None
    except ModuleNotFoundError:
        return False


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
    queue: Path | None = None,
) -> FastAPI:
    """The service around one Coder. With `api_key`, every /v1 call needs `Authorization: Bearer KEY`.
    `queue`: a batch output folder, or a folder of them, served as the work queue (views.py)."""
    coder = coder or Coder.default()
    app = FastAPI(
        title="infusion-coder",
        version=package_version(),
        description="Coding of drug-administration services (CPT 96360-96549) over HTTP. "
        f"Bodies are limited to {max_body_bytes} bytes. Every error is a JSON error object.",
        docs_url=None,  # /docs is views.py's: Swagger UI from the package's own static files, no CDN
        redoc_url=None,
    )
    templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    bearer = HTTPBearer(auto_error=False, description="the key in INFUSION_CODER_API_KEY")

    # a default, not Annotated: `bearer` is local and string annotations resolve in module globals
    def authorized(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if api_key is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not secrets.compare_digest(given.encode(), api_key.encode()):
            raise ApiError(401, "an API key is required: send Authorization: Bearer <key>", "authorization")

    v1 = [Depends(authorized)]

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(error_body(exc.message, exc.field), exc.status, headers=headers)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(error_body(str(exc)), 413)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path[:80]}"
        return JSONResponse(error_body(message), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ())]
        field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
        return JSONResponse(error_body(f"{field}: {first.get('msg', 'invalid')}", field), 422)

    app.add_middleware(Guard, max_body_bytes=max_body_bytes)

    def check_policy(policy: str | None) -> None:
        if policy is not None and policy not in coder.policies:
            raise ApiError(422, f"unknown policy {policy!r}; known: {', '.join(coder.policies)}", "policy")

    async def body_of(request: Request) -> bytes:
        return await request.body()  # the Guard stops it at the limit while it streams in

    def run_all(
        records: Records, run: Callable[..., Result], policy: str | None, timezone: str | None
    ) -> list[Result]:
        results: list[Result] = []
        for index, value in enumerate(records.values):
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

    def answer(request: Request, results: Sequence[Result], single: bool) -> JSONResponse:
        request.state.records = len(results)
        request.state.errors = sum(isinstance(result, ErrorResult) for result in results)
        if single:
            result = results[0]
            return JSONResponse(
                result.model_dump(mode="json"), 422 if isinstance(result, ErrorResult) else 200
            )
        return JSONResponse([result.model_dump(mode="json") for result in results])

    async def coded(
        request: Request, policy: str | None, timezone: str | None, run: Callable[..., Result]
    ) -> JSONResponse:
        check_policy(policy)
        try:
            records = read_records(await body_of(request), request.headers.get("content-type"))
        except BadBody as exc:
            raise ApiError(exc.status, str(exc)) from exc
        results = await run_in_threadpool(run_all, records, run, policy, timezone)
        return answer(request, results, records.single)

    @app.post(
        "/v1/code",
        dependencies=v1,
        response_model=CodingResult | list[CodingResult | ErrorResult],
        responses=ERRORS,
        openapi_extra=ENCOUNTERS_BODY,
        summary="Code one encounter (an object) or many (a list, or JSON Lines)",
        tags=["coding"],
    )
    async def code(request: Request, policy: PolicyQuery = None, timezone: TimezoneQuery = None) -> Response:
        """One encounter answers its result (200) or its error object (422). A list or JSON Lines answers
        200 with one result per item, in order, error objects included."""
        return await coded(request, policy, timezone, coder.code_record)

    @app.post(
        "/v1/audit",
        dependencies=v1,
        response_model=AuditResult | list[AuditResult | ErrorResult],
        responses=ERRORS,
        openapi_extra=ENCOUNTERS_BODY,
        summary="Audit billed claims: encounters with billed_lines",
        tags=["coding"],
    )
    async def audit(request: Request, policy: PolicyQuery = None, timezone: TimezoneQuery = None) -> Response:
        """As /v1/code, and each result lists the differences between billed_lines and what is supported."""
        return await coded(request, policy, timezone, coder.audit_record)

    async def uploaded(request: Request, format: str, options: ImportOptions) -> list[dict[str, Any]]:
        if not format_available(format):
            known = ", ".join(name for name in sorted(FORMATS) if format_available(name))
            raise ApiError(
                404, f"no uploadable format {format[:40]!r}; available: {known or 'none'}", "format"
            )
        check_policy(options.policy)
        sources: list[Source] = []
        mapping: tuple[str, bytes] | None = None
        if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            try:
                form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=MAX_UPLOAD_FILES)
            except StarletteHTTPException as exc:
                raise ApiError(400, f"the multipart body cannot be read: {exc.detail}") from exc
            for key, item in form.multi_items():
                if isinstance(item, str):
                    raise ApiError(422, f"form field {key[:40]!r} must be a file", key[:40])
                if key == "mapping":  # a site's own column names and action words (MAR CSV)
                    suffix = Path(item.filename or "").suffix.lower()
                    if suffix not in MAPPING_SUFFIXES:
                        raise ApiError(422, "the mapping must be a .toml, .yaml or .yml file", "mapping")
                    mapping = (suffix, await item.read())
                    continue
                sources.append(Source((item.filename or "upload")[:200], data=await item.read()))
            await form.close()
        else:
            sources.append(Source("upload", data=await body_of(request)))
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
            try:
                return await run_in_threadpool(lambda: list(read(sources, options, coder.reference.latest)))
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
        return JSONResponse(encounters)

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
        records = Records(list(encounters), {}, single=False)
        results = await run_in_threadpool(run_all, records, coder.code_record, policy, timezone)
        return answer(request, results, single=False)

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

    install(app, coder, api_key=api_key, api_dependencies=v1, base_context=page_context, queue=queue)

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
