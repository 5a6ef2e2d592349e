"""The service under hostile requests (issue 16) and its request path (issue 19), at the ASGI level: JSON
Lines framed as the CLI frames them, a record cap counted before coding, uploads measured against a
decompressed limit per format before any reader runs (a gzip bomb is never inflated), coding and importing
off the event loop when they are large, a body-read deadline, every echo an excerpt and every text the
project's own, the key on every /v1 path and the localhost-only rule. The real server (timeouts on the
socket, JSON 400s of the parser, --workers) is tested in test_service_server.py."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about its httpx backend
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
from typer.testing import CliRunner

from helpers import example as _example
from helpers import is_error_object as _is_error_object
from helpers import post_scope
from infusion_coder import Coder
from infusion_coder.api import Result
from infusion_coder.cli import commands as cli
from infusion_coder.formats import FORMATS, ImportOptions, Source, SourceError, error_record, register
from infusion_coder.reference import ReferencePack
from infusion_coder.service import API_KEY_VARIABLE, app_from_environment, create_app
from infusion_coder.service.app import Upload
from infusion_coder.service.guard import json_bytes

ROOT = Path(__file__).resolve().parents[1]
LONG = "Q" * 5000  # a parameter far longer than any excerpt
SHOWN = "Q" * 61  # more than the 60 characters an excerpt may quote


@pytest.fixture(scope="module")
def client(coder: Coder) -> Iterator[TestClient]:
    with TestClient(create_app(coder)) as test_client:
        yield test_client


# --- JSON Lines: the CLI's framing ------------------------------------------------------------------


def test_json_lines_split_on_lf_only_as_the_cli_reads_them(client: TestClient) -> None:
    """U+2028, U+2029, U+0085 and a lone CR inside strings split nothing (str.splitlines split on all of
    them: 2 records gave 3 results); CRLF, a BOM and blank lines of spaces and tabs are the CLI's too."""
    first = _example()
    first["administrations"][0]["indication"] = "chest\u2028pain\u2029and\u0085more\rtext"
    second = _example("chemo-day")
    text = "\ufeff" + json.dumps(first, ensure_ascii=False) + "\r\n \t\r\n" + json.dumps(second) + "\n"
    body = text.encode()
    response = client.post("/v1/code", content=body, headers={"content-type": "application/x-ndjson"})
    assert response.status_code == 200
    results = response.json()
    assert [r.get("encounter_id") for r in results] == ["ED-1001", "ONC-2002"]
    printed = CliRunner().invoke(cli.app, ["code", "-"], input=body)
    assert results == [json.loads(line) for line in printed.stdout.splitlines() if line.strip()]


def test_a_json_lines_line_that_is_not_utf8_is_that_lines_error(client: TestClient) -> None:
    body = json.dumps(_example()).encode() + b'\n{"encounter_id": "\xe9"}\n' + json.dumps(_example()).encode()
    response = client.post("/v1/code", content=body, headers={"content-type": "application/x-ndjson"})
    assert response.status_code == 200  # the whole body was a 400 before
    results = response.json()
    assert len(results) == 3 and "lines" in results[0] and "lines" in results[2]
    assert results[1]["error"]["message"] == "line 2 is not UTF-8 text (byte 19 is not valid)"
    assert "codec" not in response.text


# --- records per request ----------------------------------------------------------------------------


class CountingCoder(Coder):
    """A Coder that counts the records it codes, and holds on a record whose id is "hold"."""

    def __init__(self, base: Coder) -> None:
        super().__init__(base.reference)
        self.coded = 0
        self.release = threading.Event()
        self.holding = threading.Event()

    def code_record(self, value: Any, **options: Any) -> Result:
        self.coded += 1
        if isinstance(value, dict) and value.get("encounter_id") == "hold":
            self.holding.set()
            assert self.release.wait(30), "the test never released the held record"
        return super().code_record(value, **options)


def test_a_zero_filled_5_mib_body_is_refused_before_anything_is_coded(coder: Coder) -> None:
    """`[0,0,...]` of 5 MiB is 2.6 million records: it answered 278 MB after 70 s (server at 4.6 GB)."""
    counting = CountingCoder(coder)
    with TestClient(create_app(counting)) as small:
        count = (5 * 2**20 - 2) // 2  # as many as 5 MiB holds
        body = b"[" + b"0," * (count - 1) + b"0]"
        response = small.post("/v1/code", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413 and _is_error_object(response.json())
        message = response.json()["error"]["message"]
        assert f"{count:,} records" in message and "at most 10,000" in message
        lines = b"0\n" * 20_000
        response = small.post("/v1/code", content=lines, headers={"content-type": "application/x-ndjson"})
        assert response.status_code == 413 and "20,000 records" in response.json()["error"]["message"]
    assert counting.coded == 0


def test_the_record_cap_counts_records_not_lines(coder: Coder) -> None:
    with TestClient(create_app(coder, max_records=3)) as small:
        three = "\n\n".join(json.dumps(_example()) for _ in range(3)) + "\n\n\n"
        ok = small.post("/v1/code", content=three, headers={"content-type": "application/x-ndjson"})
        assert ok.status_code == 200 and len(ok.json()) == 3
        four = small.post("/v1/code", json=[_example()] * 4)
        assert four.status_code == 413 and "at most 3 are coded" in four.json()["error"]["message"]


def test_a_large_list_is_streamed_and_equals_the_small_path(coder: Coder) -> None:
    """Over the inline size a list is parsed and coded in a thread and its answer streamed in chunks:
    the same JSON values, in order, errors in place."""
    records: list[Any] = [_example(), 7, _example("chemo-day"), {"encounter_id": "x"}] * 40
    with (
        TestClient(create_app(coder, inline_body_bytes=2**30)) as inline,
        TestClient(create_app(coder, inline_body_bytes=0)) as large,
    ):
        small_answer = inline.post("/v1/code", json=records)
        streamed = large.post("/v1/code", json=records)
    assert small_answer.status_code == streamed.status_code == 200
    assert "content-length" in small_answer.headers and "content-length" not in streamed.headers
    assert streamed.json() == small_answer.json()
    assert streamed.json() == [coder.code_record(r).model_dump(mode="json") for r in records]


def test_large_coding_and_imports_leave_the_event_loop_free(coder: Coder, lines_format: str) -> None:
    """While a large request codes (or an upload is read) in a worker thread, other requests are answered:
    the held record waits until a health check and a small coding request have come back."""
    counting = CountingCoder(coder)
    app = create_app(counting, inline_body_bytes=1000)
    held_list = [_example(), {**_example(), "encounter_id": "hold"}, *([_example("chemo-day")] * 5)]

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
            big = asyncio.create_task(http.post("/v1/code", json=held_list))
            assert await asyncio.to_thread(counting.holding.wait, 30)
            health = await asyncio.wait_for(http.get("/healthz"), 30)
            small = await asyncio.wait_for(http.post("/v1/code", json={"encounter_id": "s"}), 30)
            assert health.status_code == 200 and small.status_code == 422
            assert not big.done()
            counting.release.set()
            answer = await asyncio.wait_for(big, 30)
            assert answer.status_code == 200 and len(answer.json()) == len(held_list)

            HeldReader.holding.clear()
            upload = asyncio.create_task(http.post(f"/v1/import/{lines_format}", content=b"hold\n"))
            assert await asyncio.to_thread(HeldReader.holding.wait, 30)
            health = await asyncio.wait_for(http.get("/healthz"), 30)
            assert health.status_code == 200 and not upload.done()
            HeldReader.release.set()
            imported = await asyncio.wait_for(upload, 30)
            assert imported.status_code == 200 and imported.json()[0]["encounter_id"] == "held"

    asyncio.run(scenario())


# --- uploads: decompressed limits per format ----------------------------------------------------------


class HeldReader:
    """State of the test format's reader: how often it ran, and a line that holds it."""

    calls = 0
    holding = threading.Event()
    release = threading.Event()


def read(sources: Sequence[Source], options: ImportOptions, pack: ReferencePack) -> Iterator[dict[str, Any]]:
    """A test format: each line of each upload is an encounter id, or `hold` (waits for the test)."""
    HeldReader.calls += 1
    for source in sources:
        for line in source.read_bytes().decode("utf-8", "replace").splitlines():
            if line == "hold":
                HeldReader.holding.set()
                assert HeldReader.release.wait(30), "the test never released the reader"
                yield {"encounter_id": "held", "error": {"message": "held", "field": None}}
            elif line.strip():
                yield error_record(line[:20], "a test line")


@pytest.fixture
def lines_format() -> Iterator[str]:
    register("heldlines", __name__, "test format")
    HeldReader.calls = 0
    yield "heldlines"
    del FORMATS["heldlines"]


def test_a_gzip_bomb_upload_is_refused_before_any_reader_runs(coder: Coder, lines_format: str) -> None:
    """1 MB of .json.gz took the server to 2.2 GB: the upload is measured as a stream against the format's
    limit and refused (413) without being inflated or read."""
    bomb = gzip.compress(b"\0" * (40 * 2**20), compresslevel=9)  # 40 KB that inflate to 40 MiB
    with TestClient(create_app(coder, upload_bytes={lines_format: 2**20})) as small:
        for files in (
            [("file", ("bundle.json.gz", bomb))],
            [("file", ("a.txt", b"x" * 600_000)), ("file", ("b.txt.gz", gzip.compress(b"y" * 600_000)))],
        ):
            response = small.post(f"/v1/import/{lines_format}", files=files)
            assert response.status_code == 413 and _is_error_object(response.json())
            assert "1 MiB once decompressed" in response.json()["error"]["message"]
        raw = small.post(f"/v1/code/{lines_format}", content=bomb)
        assert raw.status_code == 413
        assert HeldReader.calls == 0
        inside = small.post(
            f"/v1/import/{lines_format}", files=[("file", ("ok.gz", gzip.compress(b"E1\nE2\n")))]
        )
        assert inside.status_code == 200 and [r["encounter_id"] for r in inside.json()] == ["E1", "E2"]
        damaged = small.post(
            f"/v1/import/{lines_format}", files=[("file", ("bad.gz", gzip.compress(b"E1\n")[:-9]))]
        )
        assert damaged.status_code == 200 and "bad.gz" in damaged.json()[0]["error"]["message"]
    with TestClient(create_app(coder)) as real:  # the real format and its default limit
        response = real.post("/v1/import/fhir", files=[("file", ("bulk.ndjson.gz", bomb))])
        assert response.status_code == 413 and "16 MiB" in response.json()["error"]["message"]


def test_an_upload_is_read_with_the_service_ceiling_whatever_the_reader_asks() -> None:
    bomb = gzip.compress(b"\0" * (3 * 2**20))
    upload = Upload("big.gz", data=bomb, ceiling=2**20)
    for limit in (None, 2**30):
        with pytest.raises(SourceError, match=r"big\.gz"):
            upload.read_bytes(limit)
    assert len(Upload("x.gz", data=gzip.compress(b"a" * 10), ceiling=2**20).read_bytes()) == 10


def test_an_hl7_upload_over_its_limit_is_refused(client: TestClient) -> None:
    """HL7 v2 is read at about 1.7 MiB/s since its parse is linear in segments: the issue's 120 KB message
    (10,000 NTE segments, 27 s before) is read, and one request may upload 4 MiB of HL7."""
    message = (ROOT / "examples" / "ed-visit.hl7").read_bytes().replace(b"\n", b"\r")
    notes = message.rstrip(b"\r") + b"\r" + b"NTE|1||note x\r" * 10_000  # the 120 KB message
    read = client.post("/v1/import/hl7", files=[("file", ("feed.hl7", notes))])
    assert read.status_code == 200 and read.json()[0]["administrations"]
    over = message.rstrip(b"\r") + b"\r" + b"NTE|1||note x\r" * 330_000  # 4.6 MB
    response = client.post("/v1/import/hl7", files=[("file", ("feed.hl7", over))])
    assert response.status_code == 413 and _is_error_object(response.json())
    assert "hl7 upload holds more than 4 MiB" in response.json()["error"]["message"]
    gzipped = client.post("/v1/code/hl7", content=gzip.compress(over))
    assert gzipped.status_code == 413
    within = client.post("/v1/code/hl7", files=[("file", ("one.hl7", message))])
    assert within.status_code == 200 and "lines" in within.json()[0]


def test_an_uploaded_yaml_mapping_with_aliases_or_of_any_size_is_refused(client: TestClient) -> None:
    """Nested YAML aliases expand exponentially when the MAR reader reads the mapping (361 bytes took it
    4.5 s at depth 6, each level 9 times more): an uploaded mapping may not use them, nor exceed 64 KiB."""
    pytest.importorskip("yaml")
    levels = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    bomb = "\n".join([*levels, "actions: {given: *a8}"]).encode()
    csv = (ROOT / "examples" / "mar-export.csv").read_bytes()
    for name, mapping, status in (
        ("bomb.yaml", bomb, 422),
        ("big.toml", b"# padding\n" * 7000, 413),
    ):
        files = [("file", ("mar.csv", csv)), ("mapping", (name, mapping))]
        response = client.post("/v1/import/mar", files=files)
        assert response.status_code == status and response.json()["error"]["field"] == "mapping", name
    import tomllib

    import yaml

    plain = tomllib.loads((ROOT / "examples" / "mar-mapping.toml").read_text())
    files = [("file", ("mar.csv", csv)), ("mapping", ("site.yaml", yaml.safe_dump(plain).encode()))]
    accepted = client.post("/v1/import/mar", files=files)  # the same mapping in YAML, without aliases
    assert accepted.status_code == 200, accepted.text[:300]
    assert len(accepted.json()) == len(
        client.post(
            "/v1/import/mar",
            files=[
                *files[:1],
                ("mapping", ("site.toml", (ROOT / "examples" / "mar-mapping.toml").read_bytes())),
            ],
        ).json()
    )


def test_a_compressed_request_body_is_refused_with_a_json_error(client: TestClient) -> None:
    body = gzip.compress(json.dumps(_example()).encode())
    response = client.post(
        "/v1/code", content=body, headers={"content-type": "application/json", "content-encoding": "gzip"}
    )
    assert response.status_code == 415 and _is_error_object(response.json())
    assert "Content-Encoding 'gzip'" in response.json()["error"]["message"]


# --- the body deadline --------------------------------------------------------------------------------


def test_a_body_that_stops_arriving_gets_408(coder: Coder) -> None:
    """A client that sends part of its body and then nothing is cut off at the deadline with an error
    object (the app's own deadline; the server's protocol has another, test_service_server.py)."""
    app = create_app(coder, body_timeout=0.2)
    sent: list[dict[str, Any]] = []
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled == 1:
            return {"type": "http.request", "body": b'{"encounter_id": ', "more_body": True}
        await asyncio.Event().wait()  # nothing more ever comes
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = post_scope("/v1/code")
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in [tuple(h) for h in sent[0]["headers"]]
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert _is_error_object(body) and "0.2 s" in body["error"]["message"]


# --- echoes and texts -------------------------------------------------------------------------------


def test_no_parameter_is_echoed_beyond_an_excerpt(client: TestClient) -> None:
    """`?policy=` was echoed whole (5,115 characters); a long zone gave "internal error (OSError)"."""
    encounter = _example()
    answers = {
        "policy": client.post("/v1/code", params={"policy": LONG}, json=encounter),
        "timezone": client.post("/v1/code", params={"timezone": LONG}, json=encounter),
        "import policy": client.post("/v1/import/hl7", params={"policy": LONG}, content=b"x"),
        "import zone": client.post("/v1/code/hl7", params={"timezone": LONG}, content=b"x"),
        "place of service": client.post("/v1/import/hl7", params={"place_of_service": LONG}, content=b"x"),
        "format": client.post(f"/v1/import/{LONG[:300]}", content=b"x"),
        "example": client.get(f"/v1/examples/{LONG[:3000]}"),
        "path": client.get(f"/{LONG[:3000]}"),
        "list zone": client.post("/v1/audit", params={"timezone": LONG}, json=[encounter]),
    }
    for name, response in answers.items():
        assert 400 <= response.status_code < 500, name
        assert _is_error_object(response.json()), name
        assert SHOWN not in response.text and len(response.text) < 600, name
    assert answers["policy"].json()["error"]["field"] == "policy"
    assert answers["timezone"].json()["error"]["field"] == "timezone"
    assert "OSError" not in answers["timezone"].text
    bad_zone = client.post("/v1/code", params={"timezone": "Mars/Olympus"}, json=encounter)
    assert bad_zone.status_code == 422 and bad_zone.json()["error"]["field"] == "timezone"


def test_the_frameworks_own_texts_never_reach_a_client(client: TestClient) -> None:
    """Starlette's "Method Not Allowed", multipart's "Missing boundary in multipart.", pydantic's
    "String should have at most 2 characters" and the codec's "can't decode byte" are replaced."""
    answers = [
        client.put("/v1/code", json={}),
        client.post("/v1/import/hl7", content=b"--x\r\nbad", headers={"content-type": "multipart/form-data"}),
        client.post("/v1/import/hl7", files=[("file", (f"{i}.hl7", b"x")) for i in range(25)]),
        client.post("/v1/import/hl7", params={"place_of_service": "123"}, content=b"x"),
        client.post("/v1/import/hl7", params={"claim_type": "neither"}, content=b"x"),
        client.post("/v1/code", content=b"\xe9{}", headers={"content-type": "application/json"}),
    ]
    texts = [response.json()["error"]["message"] for response in answers]
    assert texts[0] == "method not allowed: PUT '/v1/code'; allowed: POST"
    assert texts[1] == texts[2] and "at most 20 files" in texts[1]
    assert texts[3] == "place_of_service: at most 2 characters"
    assert texts[4] == "claim_type: must be 'institutional' or 'professional'"
    assert texts[5] == "the body is not UTF-8 text (byte 1 is not valid)"
    for text in texts:
        assert not any(word in text for word in ("Method Not Allowed", "Missing", "String should", "codec"))


def test_log_lines_escape_control_characters(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """`%0a` in a path wrote a second, forged line into the log."""
    with caplog.at_level(logging.INFO, logger="infusion_coder.service"):
        client.get("/v1/x%0arequest_id=forged method=GET path=/ status=200")
        client.get("/x%1b[31m%e2%80%a8y")
    lines = [r.getMessage() for r in caplog.records if r.name == "infusion_coder.service"]
    assert len(lines) == 2
    assert all("\n" not in line and "\x1b" not in line and "\u2028" not in line for line in lines)
    assert "path=/v1/x\\nrequest_id=forged" in lines[0]
    assert "path=/x\\x1b[31m\\u2028y" in lines[1]


def test_json_answers_are_the_same_values_as_json_dumps_and_survive_a_lone_surrogate() -> None:
    value = {"a": [1, 2.5, None, True, "é", "x\u2028"], "b": {"c": 1e16}}
    assert json.loads(json_bytes(value)) == value
    assert json.loads(json_bytes({"s": "\ud800"})) == {"s": "\ud800"}


# --- the key on every /v1 path, the localhost-only rule ---------------------------------------------


def test_the_key_covers_every_v1_path_before_routing(coder: Coder) -> None:
    with TestClient(create_app(coder, api_key="k-1")) as keyed:
        for response in (
            keyed.get("/v1/no-such-thing"),
            keyed.post("/v1/code", json=_example()),
            keyed.post("/v1/audit", json=[_example()], headers={"authorization": "Bearer k-2"}),
            keyed.post("/v1/import/hl7", content=b"x", headers={"authorization": "k-1"}),
        ):
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["field"] == "authorization"
        for header in ("Bearer k-1", "bearer k-1", "BEARER  k-1 "):
            assert (
                keyed.post("/v1/code", json=_example(), headers={"authorization": header}).status_code == 200
            )
        assert keyed.get("/healthz").status_code == 200 and keyed.get("/").status_code == 200


def test_local_only_answers_this_machine_and_refuses_others(coder: Coder) -> None:
    app = create_app(coder, local_only=True)
    for host in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        with TestClient(app, client=(host, 5000)) as local:
            assert local.post("/v1/code", json=_example()).status_code == 200, host
    for host in ("10.1.2.3", "192.168.0.7", "2001:db8::1", "testclient"):
        with TestClient(app, client=(host, 5000)) as remote:
            for response in (remote.post("/v1/code", json=_example()), remote.get("/")):
                assert response.status_code == 403 and _is_error_object(response.json()), host
                assert "localhost only" in response.json()["error"]["message"]


def test_the_worker_factory_keeps_the_localhost_only_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """`uvicorn --factory ...:app_from_environment --host 0.0.0.0` without a key answered anyone."""
    monkeypatch.delenv(API_KEY_VARIABLE, raising=False)
    with TestClient(app_from_environment(), client=("203.0.113.5", 4000)) as remote:
        assert remote.post("/v1/code", json=_example()).status_code == 403
    monkeypatch.setenv(API_KEY_VARIABLE, "k-3")
    keyed = app_from_environment()
    with TestClient(keyed, client=("203.0.113.5", 4000)) as remote:
        assert remote.post("/v1/code", json=_example()).status_code == 401
        ok = remote.post("/v1/code", json=_example(), headers={"authorization": "Bearer k-3"})
        assert ok.status_code == 200


def test_the_hot_routes_are_documented_as_before(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/v1/code", "/v1/audit"):
        operation = schema["paths"][path]["post"]
        assert {p["name"] for p in operation["parameters"]} == {"policy", "timezone"}
        assert operation["security"] == [{"HTTPBearer": []}]
        assert {"200", "400", "413", "422"} <= set(operation["responses"])
        assert "application/x-ndjson" in operation["requestBody"]["content"]


def test_the_hot_routes_answer_alike_directly_and_through_the_router(coder: Coder) -> None:
    """The Guard calls /v1/code's app directly; mounted under a root path (uvicorn --root-path puts it
    in front of the path) the same app answers alike, and the key still covers /v1."""
    app = create_app(coder)
    with TestClient(app) as direct, TestClient(app, root_path="/api") as mounted:
        for http, prefix in ((direct, ""), (mounted, "/api")):
            ok = http.post(f"{prefix}/v1/code", json=_example())
            assert ok.status_code == 200 and ok.json() == coder.code_record(_example()).model_dump(
                mode="json"
            )
            bad = http.post(f"{prefix}/v1/audit", params={"policy": "nope"}, json=_example())
            assert bad.status_code == 422 and bad.json()["error"]["field"] == "policy"
            assert http.get(f"{prefix}/v1/code").status_code == 405
    with TestClient(create_app(coder, api_key="k-4"), root_path="/api") as keyed:
        for path in ("/api/v1/code", "/api/v1/rules", "/api/v1/nothing"):
            assert keyed.post(path, json=_example()).status_code == 401, path
        ok = keyed.post("/api/v1/code", json=_example(), headers={"authorization": "Bearer k-4"})
        assert ok.status_code == 200
