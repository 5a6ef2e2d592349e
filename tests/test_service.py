"""The HTTP service: the contract over HTTP gives what the CLI gives, every failure is a 4xx error object,
the body limit holds while the body streams in, logs carry no record text, and the API key is enforced."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about its httpx backend
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
from typer.testing import CliRunner

from helpers import example as _example
from helpers import is_error_object as _is_error_object
from helpers import post_scope
from infusion_coder import CATALOG, Coder
from infusion_coder.cli import commands as cli
from infusion_coder.formats import FORMATS, ImportOptions, Source, error_record, register
from infusion_coder.reference import ReferencePack
from infusion_coder.service import create_app

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CASES = sorted((SHARED / "cases").glob("*.jsonl"))
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.json") if '"administrations"' in p.read_text())
KEY = "test-key-5d1f"
PATIENT = "Zebulon Quartermaine-Xyzzy"  # a patient-like string that must never reach a log


def _gold() -> list[dict[str, Any]]:
    return [json.loads(line) for path in CASES for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def client(coder: Coder) -> Iterator[TestClient]:
    with TestClient(create_app(coder, max_body_bytes=5 * 1024 * 1024)) as test_client:
        yield test_client


def _still_serving(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.post("/v1/code", json=_example()).status_code == 200


# --- the same answers as the library and the CLI ---------------------------------------------------


@pytest.mark.skipif(not CASES, reason="no ../shared/cases beside the checkout")
@pytest.mark.parametrize("case", _gold(), ids=lambda case: case["id"])
def test_gold_case_through_the_service_is_what_the_library_gives(
    client: TestClient, coder: Coder, case: dict[str, Any]
) -> None:
    response = client.post("/v1/code", json=case["encounter"])
    expected = coder.code_record(case["encounter"]).model_dump(mode="json")
    assert response.status_code == (422 if "error" in expected else 200)
    assert response.json() == expected


@pytest.mark.skipif(not CASES, reason="no ../shared/cases beside the checkout")
def test_gold_batch_as_list_and_json_lines_is_what_the_cli_prints(client: TestClient) -> None:
    encounters = [case["encounter"] for case in _gold()]
    text = "\n".join(json.dumps(encounter) for encounter in encounters) + "\n"
    printed = CliRunner().invoke(cli.app, ["code", "-"], input=text)
    from_cli = [json.loads(line) for line in printed.stdout.splitlines() if line.strip()]
    as_list = client.post("/v1/code", json=encounters)
    as_lines = client.post("/v1/code", content=text, headers={"content-type": "application/x-ndjson"})
    assert len(from_cli) == len(encounters)
    assert as_list.status_code == as_lines.status_code == 200
    assert as_list.json() == from_cli
    assert as_lines.json() == from_cli


def test_policy_query_overrides_and_matches_the_library(client: TestClient, coder: Coder) -> None:
    encounter = _example("observation-overnight")
    cms = client.post("/v1/code", json=encounter).json()
    cpt = client.post("/v1/code", params={"policy": "cpt"}, json=encounter).json()
    assert cpt == coder.code_record(encounter, policy="cpt").model_dump(mode="json")
    assert cpt["policy"] == "cpt" and cms["policy"] == "cms"
    assert cpt["lines"] != cms["lines"]  # CPT's initial service per calendar date adds a line here


def test_a_list_answers_every_item_in_order_errors_included(client: TestClient) -> None:
    good = _example()
    broken = {**good, "encounter_id": "broken", "claim_type": "neither"}
    response = client.post(
        "/v1/code", json=[good, broken, 7, {"encounter_id": "x", "error": {"message": "m"}}]
    )
    assert response.status_code == 200
    body = response.json()
    assert [item.get("encounter_id") for item in body] == ["ED-1001", "broken", None, "x"]
    assert "lines" in body[0]
    assert all(_is_error_object(item) for item in body[1:])
    assert body[1]["error"]["field"] == "claim_type"


def test_json_lines_with_a_bad_line_answers_that_line_as_an_error(client: TestClient) -> None:
    text = json.dumps(_example()) + "\n{not json\n" + json.dumps(_example("chemo-day")) + "\n"
    body = client.post("/v1/code", content=text, headers={"content-type": "application/x-ndjson"}).json()
    assert [item.get("encounter_id") for item in body] == ["ED-1001", None, "ONC-2002"]
    assert "line 2" in body[1]["error"]["message"]


def test_one_encounter_that_is_an_error_answers_422_with_its_error_object(client: TestClient) -> None:
    importer_error = {"encounter_id": "E9", "error": {"message": "no administrations readable", "field": "x"}}
    response = client.post("/v1/code", json=importer_error)
    assert response.status_code == 422
    assert response.json() == {
        "encounter_id": "E9",
        "error": {"message": "no administrations readable", "field": "x"},
    }
    invalid = {**_example(), "administrations": [{"id": "a", "substance": "x", "route": "intravenous"}]}
    response = client.post("/v1/code", json=invalid)
    assert response.status_code == 422
    assert response.json()["encounter_id"] == "ED-1001"
    assert response.json()["error"]["field"] == "administrations[0].start"


def test_unknown_policy_is_422(client: TestClient) -> None:
    for body in (_example(), [_example()]):
        response = client.post("/v1/code", params={"policy": "no-such-payer"}, json=body)
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "policy"
    own = client.post("/v1/code", json={**_example(), "policy": "no-such-payer"})
    assert own.status_code == 422 and own.json()["error"]["field"] == "policy"


def test_audit_lists_differences_and_needs_billed_lines(client: TestClient, coder: Coder) -> None:
    encounter = {**_example(), "billed_lines": [{"code": "96365", "units": 1}, {"code": "96374", "units": 1}]}
    response = client.post("/v1/audit", json=encounter)
    assert response.status_code == 200
    assert response.json() == coder.audit_record(encounter).model_dump(mode="json")
    assert {d["code"] for d in response.json()["differences"]} >= {"96374"}
    missing = client.post("/v1/audit", json=_example())
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "billed_lines"


# --- hostile and malformed requests ----------------------------------------------------------------

HOSTILE = [
    pytest.param(b"{not json", "application/json", 400, id="invalid-json"),
    pytest.param(b"[" * 200_000 + b"]" * 200_000, "application/json", 400, id="deep-nesting"),
    pytest.param(b'{"encounter_id": "x", "n": ' + b"9" * 5000 + b"}", "application/json", 400, id="huge-int"),
    pytest.param(b'{"encounter_id": "x", "n": 1e999}', "application/json", 400, id="huge-float"),
    pytest.param(b'{"encounter_id": "x", "n": NaN}', "application/json", 400, id="nan"),
    pytest.param(b"\xff\xfe{}", "application/json", 400, id="not-utf8"),
    pytest.param(b"", "application/json", 400, id="empty"),
    pytest.param(b"   \n ", "application/json", 400, id="blank"),
    pytest.param(b'{"a": 1}', "text/plain", 415, id="wrong-content-type"),
    pytest.param(b"a=1&b=2", "application/x-www-form-urlencoded", 415, id="form-body"),
    pytest.param(b"x" * (6 * 1024 * 1024), "application/json", 413, id="6MB-body"),
    pytest.param(b'"just a string"', "application/json", 422, id="scalar"),
    pytest.param(b"null", "application/json", 422, id="null"),
]


@pytest.mark.parametrize(("body", "content_type", "status"), HOSTILE)
@pytest.mark.parametrize("path", ["/v1/code", "/v1/audit"])
def test_hostile_bodies_get_4xx_error_objects_and_the_server_keeps_serving(
    client: TestClient, path: str, body: bytes, content_type: str, status: int
) -> None:
    response = client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert _is_error_object(response.json())
    _still_serving(client)


def test_deep_nesting_inside_an_encounter_is_not_a_server_error(client: TestClient) -> None:
    nested: Any = "leaf"
    for _ in range(900):
        nested = [nested]
    response = client.post("/v1/code", json={**_example(), "extra": nested})
    assert response.status_code < 500
    _still_serving(client)


def test_huge_numbers_in_range_of_json_but_not_of_a_dose_are_refused(client: TestClient) -> None:
    encounter = _example()
    encounter["administrations"][0]["volume_ml"] = 1e300
    response = client.post("/v1/code", json=encounter)
    assert response.status_code == 400
    assert "out of range" in response.json()["error"]["message"]


def test_a_chunked_body_over_the_limit_is_stopped_while_it_is_read(coder: Coder) -> None:
    """No Content-Length: the guard counts bytes as they arrive and stops well before the end."""
    app = create_app(coder, max_body_bytes=1000)
    chunks = [b"[" + b" " * 99] + [b" " * 100] * 99  # 10 000 bytes in 100 chunks
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled > len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = post_scope("/v1/code")
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert pulled <= 11  # 1 000 bytes is 10 chunks; the 11th passes the limit
    assert _is_error_object(json.loads(b"".join(m.get("body", b"") for m in sent[1:])))


def test_a_declared_length_over_the_limit_is_refused_before_reading(client: TestClient) -> None:
    response = client.post(
        "/v1/code", content=b"{}", headers={"content-type": "application/json", "content-length": "99999999"}
    )
    assert response.status_code == 413
    assert _is_error_object(response.json())


def test_unknown_paths_and_methods_answer_json_error_objects(client: TestClient) -> None:
    for response in (client.get("/v1/nothing"), client.get("/v1/code"), client.delete("/healthz")):
        assert response.status_code in (404, 405)
        assert _is_error_object(response.json())
    bad_query = client.post("/v1/import/fhir", params={"claim_type": "neither"}, content=b"x")
    assert bad_query.status_code == 422 and _is_error_object(bad_query.json())


# --- service endpoints ------------------------------------------------------------------------------


def test_health_version_rules_policies(client: TestClient, coder: Coder) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    version = client.get("/version").json()
    assert version["reference_version"] == coder.reference.latest.version
    assert version["package"]
    rules = client.get("/v1/rules").json()
    assert [rule["id"] for rule in rules] == [rule.id for rule in CATALOG]
    policies = {policy["name"]: policy for policy in client.get("/v1/policies").json()}
    assert set(policies) == set(coder.policies)
    assert policies["cms"]["default"] is True
    assert all(item["source"] for item in policies["cpt"]["values"].values())


def test_openapi_names_the_contract_models(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert {"Encounter", "Administration", "CodingResult", "AuditResult", "ErrorResult", "Line"} <= set(
        components
    )
    code = schema["paths"]["/v1/code"]["post"]
    assert "application/json" in code["requestBody"]["content"]
    assert {"200", "400", "413", "422"} <= set(code["responses"])
    assert "/v1/import/{format}" in schema["paths"] and "/v1/code/{format}" in schema["paths"]


def test_examples_are_served_from_the_package(client: TestClient) -> None:
    listed = {item["name"]: item for item in client.get("/v1/examples").json()}
    assert {name for name, item in listed.items() if item["format"] == "json"} == {p.stem for p in EXAMPLES}
    for name, item in listed.items():
        if item["format"] != "json":  # bundled source records, when their importer is installed
            assert _available(item["format"]) and (ROOT / "examples" / name).exists()
            assert client.get(f"/v1/examples/{name}").content == (ROOT / "examples" / name).read_bytes()
    assert client.get("/v1/examples/ed-visit").json() == _example()
    assert client.get("/v1/examples/nope").status_code == 404


def test_page_and_assets_are_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/", params={"example": "ed-visit"})
    assert page.status_code == 200
    assert "ED-1001" in page.text and "http://" not in page.text.replace("http://www.w3.org", "")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in (
        "style.css",
        "common.js",
        "timeline.js",
        "coder.js",
        "result.js",
        "queue.js",
        "encounter.js",
    ):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200, asset
        assert "cdn" not in response.text.lower() and "https://" not in response.text
    assert client.get("/batch").status_code == 200  # moved to the server-side queue at /queue
    assert client.get("/", params={"example": "nope"}).status_code == 404


# --- the API key ----------------------------------------------------------------------------------


def test_api_key_is_required_when_configured(coder: Coder) -> None:
    with TestClient(create_app(coder, api_key=KEY)) as keyed:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {KEY}"}):
            response = keyed.post("/v1/code", json=_example(), headers=headers)
            assert response.status_code == 401
            assert _is_error_object(response.json())
        assert keyed.get("/v1/rules").status_code == 401
        ok = keyed.post("/v1/code", json=_example(), headers={"authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200
        assert keyed.get("/healthz").status_code == 200  # probes need no key


def test_serve_refuses_a_public_address_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: started.append(kwargs))
    monkeypatch.delenv("INFUSION_CODER_API_KEY", raising=False)
    refused = CliRunner().invoke(cli.app, ["serve", "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "INFUSION_CODER_API_KEY" in refused.output
    assert not started
    local = CliRunner().invoke(cli.app, ["serve", "--port", "8123"])
    assert local.exit_code == 0 and "no API key" in local.output
    monkeypatch.setenv("INFUSION_CODER_API_KEY", KEY)
    public = CliRunner().invoke(cli.app, ["serve", "--host", "0.0.0.0"])
    assert public.exit_code == 0 and "requires" in public.output and KEY not in public.output
    assert [call["host"] for call in started] == ["127.0.0.1", "0.0.0.0"]


# --- logging ----------------------------------------------------------------------------------------


def test_logs_hold_ids_counts_and_timings_but_no_record_text(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    encounter = _example()
    encounter["encounter_id"] = f"MRN {PATIENT}"
    encounter["administrations"][0]["substance"] = f"{PATIENT} saline"
    encounter["administrations"][1]["indication"] = PATIENT
    broken = {**encounter, "claim_type": PATIENT}
    with caplog.at_level(logging.DEBUG):
        assert client.post("/v1/code", json=encounter).status_code == 200
        assert client.post("/v1/code", json=[encounter, broken]).status_code == 200
        assert (
            client.post(
                "/v1/code", content=f'{{"x": "{PATIENT}"', headers={"content-type": "application/json"}
            ).status_code
            == 400
        )
        assert client.post("/v1/code", params={"policy": PATIENT}, json=encounter).status_code == 422
    # the test client's own httpx log shows its request URL; everything else is the server side
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert server, "the service logs each request"
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in server)
    assert "Zebulon" not in text and "Xyzzy" not in text
    service_lines = [r.getMessage() for r in caplog.records if r.name == "infusion_coder.service"]
    assert any("records=2 errors=1" in line and "ms=" in line for line in service_lines)


# --- uploads through the format registry ------------------------------------------------------------


def read(sources: Sequence[Source], options: ImportOptions, pack: ReferencePack) -> Iterator[dict[str, Any]]:
    """A test format: each non-blank line of each upload is 'id,substance,start,end' or unreadable."""
    for source in sources:
        for number, line in enumerate(source.read_bytes().decode().splitlines(), 1):
            if not line.strip():
                continue
            if line == "boom":
                raise RuntimeError(f"reader bug with {PATIENT}")
            parts = line.split(",")
            if len(parts) != 4:
                yield error_record(None, f"{source.name} line {number}: expected 4 fields", "line")
                continue
            yield {
                "encounter_id": parts[0],
                "claim_type": options.claim_type,
                **({"policy": options.policy} if options.policy else {}),
                "administrations": [
                    {
                        "id": "a1",
                        "substance": parts[1],
                        "route": "intravenous",
                        "start": parts[2],
                        "end": parts[3],
                    }
                ],
            }


@pytest.fixture
def lines_format() -> Iterator[str]:
    register("testlines", __name__, "test format")
    yield "testlines"
    del FORMATS["testlines"]


def test_multipart_upload_imports_and_codes_through_the_registry(
    client: TestClient, lines_format: str
) -> None:
    files = [
        ("file", ("one.txt", b"E1,ceftriaxone 1 g,2026-01-15T10:00,2026-01-15T10:40\n", "text/plain")),
        (
            "file",
            ("two.txt", b"E2,normal saline,2026-01-15T09:00,2026-01-15T11:00\nbad line\n", "text/plain"),
        ),
    ]
    imported = client.post(f"/v1/import/{lines_format}", files=files)
    assert imported.status_code == 200
    assert [item.get("encounter_id") for item in imported.json()] == ["E1", "E2", None]
    assert "two.txt line 2" in imported.json()[2]["error"]["message"]
    coded = client.post(f"/v1/code/{lines_format}", params={"policy": "cpt"}, files=files)
    assert coded.status_code == 200
    results = coded.json()
    assert results[0]["lines"][0]["code"] == "96365" and results[0]["policy"] == "cpt"
    assert results[1]["lines"][0]["code"] == "96360"
    assert _is_error_object(results[2])


def test_raw_body_upload_and_upload_failures(client: TestClient, lines_format: str) -> None:
    raw = client.post(
        f"/v1/code/{lines_format}",
        content=b"E1,ceftriaxone 1 g,2026-01-15T10:00,2026-01-15T10:40",
        headers={"content-type": "application/octet-stream"},
    )
    assert raw.status_code == 200 and raw.json()[0]["lines"][0]["code"] == "96365"
    crashed = client.post(f"/v1/import/{lines_format}", content=b"boom")
    # a reader's defect is one error object in the answer (the shared reader guard), never a 500
    assert crashed.status_code == 200 and len(crashed.json()) == 1 and _is_error_object(crashed.json()[0])
    assert "RuntimeError" in crashed.text and PATIENT not in crashed.text
    empty = client.post(f"/v1/import/{lines_format}", content=b"")
    assert empty.status_code == 400
    too_many = [("file", (f"{i}.txt", b"x", "text/plain")) for i in range(25)]
    assert client.post(f"/v1/import/{lines_format}", files=too_many).status_code == 400
    text_field = client.post(f"/v1/import/{lines_format}", data={"file": "E1"}, files=[("f", ("a", b"b"))])
    assert text_field.status_code == 422
    for name in ("nope", "mimic"):
        unknown = client.post(f"/v1/import/{name}", content=b"x")
        assert unknown.status_code == 404 and _is_error_object(unknown.json())
    _still_serving(client)


def _available(name: str) -> bool:
    try:
        return importlib.util.find_spec(FORMATS[name][0]) is not None
    except ModuleNotFoundError:
        return False


SAMPLES = {
    "fhir": SHARED / "data" / "fhir-r4-examples" / "medicationadministration0301.json",
    "hl7": ROOT / "examples" / "ed-visit.hl7",
    "mar": ROOT / "examples" / "mar-export.csv",
}
MAPPINGS = {"mar": ROOT / "examples" / "mar-mapping.toml"}


@pytest.mark.parametrize("name", ["fhir", "hl7", "mar"])
def test_real_format_upload_gives_what_the_cli_import_gives(client: TestClient, name: str) -> None:
    if not _available(name):
        pytest.skip(f"the {name} importer is not in this checkout yet")
    sample = SAMPLES[name]
    if not sample.exists():
        pytest.skip(f"no {name} sample file ({sample}) to upload")
    mapping = MAPPINGS.get(name)
    has_mapping = mapping is not None and mapping.exists()
    options = ["--mapping", str(mapping)] if has_mapping and mapping else []
    printed = CliRunner().invoke(
        cli.app, ["import", name, str(sample), "--timezone", "America/Chicago", *options]
    )
    from_cli = [json.loads(line) for line in printed.stdout.splitlines() if line.strip()]
    files = [("file", (sample.name, sample.read_bytes()))]
    if has_mapping and mapping:
        files.append(("mapping", (mapping.name, mapping.read_bytes())))
    query = {"timezone": "America/Chicago"}
    response = client.post(f"/v1/import/{name}", params=query, files=files)
    assert response.status_code == 200
    assert response.json() == from_cli
    assert any("administrations" in item for item in from_cli), "the sample should give an encounter"
    coded = client.post(f"/v1/code/{name}", params=query, files=files)
    assert coded.status_code == 200
    assert coded.json() == [Coder.default().code_record(item).model_dump(mode="json") for item in from_cli]


def test_a_mapping_that_is_not_toml_or_yaml_is_422(client: TestClient, lines_format: str) -> None:
    files = [("file", ("a.txt", b"E1,x,2026-01-15T10:00,2026-01-15T10:40")), ("mapping", ("m.exe", b"x"))]
    response = client.post(f"/v1/import/{lines_format}", files=files)
    assert response.status_code == 422 and response.json()["error"]["field"] == "mapping"


def test_a_mapping_naming_a_missing_column_is_422_naming_it(client: TestClient) -> None:
    mapping = (
        (ROOT / "examples" / "mar-mapping.toml").read_text().replace("MEDICATION_NAME", "MEDICATION_NAM")
    )
    files = [
        ("file", ("mar-export.csv", (ROOT / "examples" / "mar-export.csv").read_bytes())),
        ("mapping", ("site.toml", mapping.encode())),
    ]
    response = client.post("/v1/import/mar", files=files)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "mapping" and "closest header is 'MEDICATION_NAME'" in error["message"]


# --- generated requests against the OpenAPI ---------------------------------------------------------


def test_generated_requests_from_the_openapi_get_no_server_error(coder: Coder) -> None:
    """schemathesis builds requests (valid and invalid) from /openapi.json; none may answer 5xx, and every
    4xx must be an error object. Bounded: eight examples per operation, about 10 s of CPU."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    app = create_app(coder)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    seen: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy()

        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            response = case.call()
            seen.add(case.operation.label)
            if response.status_code >= 500:
                failures.append(f"{case.operation.label}: {response.status_code} {response.text[:200]}")
            if response.status_code >= 400:
                body = response.json()
                assert isinstance(body, dict) and "error" in body, f"{case.operation.label}: {body}"

        run()
    assert len(seen) >= 10
    assert not failures, failures


def test_an_upload_over_the_limit_is_413(coder: Coder, lines_format: str) -> None:
    with TestClient(create_app(coder, max_body_bytes=2000)) as small:
        big = [("file", ("big.txt", b"E1,x,2026-01-15T10:00,2026-01-15T10:40\n" * 100, "text/plain"))]
        response = small.post(f"/v1/import/{lines_format}", files=big)
        assert response.status_code == 413 and _is_error_object(response.json())
        raw = small.post(f"/v1/code/{lines_format}", content=b"x" * 3000)
        assert raw.status_code == 413
        assert small.get("/healthz").status_code == 200
