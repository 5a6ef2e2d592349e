"""The work queue over a batch output folder, through the app (no browser): paging, sorting and filters from
the URL, statuses and notes that outlive the app, exports whose content is what the list shows, uploads that
become a queue with every import option, the page's billed-lines reader, the API explorer, the API key."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about its httpx backend
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from claim_support import claim_for, header
from infusion_coder import Coder, Encounter
from infusion_coder.batch.run import Settings, run_batch
from infusion_coder.formats.x12 import write_837
from infusion_coder.service import create_app
from infusion_coder.service.queue import Query, Queue, QueueHome

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.json") if '"administrations"' in p.read_text())
PACK = ROOT / "src" / "infusion_coder" / "reference" / "data" / "2026-01-01"


def _encounters(count: int) -> list[dict[str, Any]]:
    """`count` encounters: the bundled examples under new ids, and one unreadable record every 17th."""
    base = [json.loads(p.read_text()) for p in EXAMPLES]
    out: list[dict[str, Any]] = []
    for n in range(count):
        if n % 17 == 16:
            out.append({"encounter_id": f"BAD-{n:03}", "administrations": "not a list"})
            continue
        record = json.loads(json.dumps(base[n % len(base)]))
        record["encounter_id"] = f"E-{n:03}"
        out.append(record)
    return out


def _batch(folder: Path, records: list[dict[str, Any]], coder: Coder, *, keep: bool = True) -> Path:
    source = folder.parent / f"{folder.name}-input.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    run_batch([source], folder, Settings(format="parquet", input_format="jsonl"), coder=coder)
    if keep:
        (folder / "encounters.jsonl").write_text(source.read_text())
    return folder


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, coder: Coder) -> Path:
    root = tmp_path_factory.mktemp("queues")
    _batch(root / "big", _encounters(120), coder)
    return root


@pytest.fixture
def client(home: Path, coder: Coder) -> Iterator[TestClient]:
    with TestClient(create_app(coder, queue=home)) as test_client:
        yield test_client


def _rows(html: str) -> list[dict[str, str]]:
    return [
        {"encounter": m.group(2), "readiness": m.group(1), "seq": m.group(3), "status": m.group(4)}
        for m in re.finditer(
            r'<tr data-readiness="([^"]*)" data-encounter="([^"]*)" data-seq="(\d+)" data-status="([^"]*)"',
            html,
        )
    ]


def test_the_list_pages_fifty_rows_and_counts_every_record(client: TestClient) -> None:
    first = client.get("/queue/big")
    assert first.status_code == 200
    assert len(_rows(first.text)) == 50
    assert "Rows 1\u201350 of 120" in first.text
    third = client.get("/queue/big?page=3")
    assert len(_rows(third.text)) == 20
    seen = {r["seq"] for page in (1, 2, 3) for r in _rows(client.get(f"/queue/big?page={page}").text)}
    assert len(seen) == 120  # every record once, none twice
    beyond = client.get("/queue/big?page=99")  # past the end: the last page, not an error
    assert _rows(beyond.text) == _rows(third.text)


def test_default_order_puts_work_first(client: TestClient) -> None:
    order = {"error": 0, "hold": 1, "ready_with_warnings": 2, "ready": 3}
    rows = [r for page in (1, 2, 3) for r in _rows(client.get(f"/queue/big?page={page}").text)]
    ranks = [order[r["readiness"]] for r in rows]
    assert ranks == sorted(ranks)
    assert rows[0]["readiness"] == "error"  # the unreadable records lead


def test_sort_by_money_date_and_finding_both_ways(home: Path, coder: Coder) -> None:
    queue = Queue(home / "big", coder.reference)
    amounts = [e.amount for e in queue.listing(Query(sort="-amount"), page_size=None).entries]
    known = [a for a in amounts if a is not None]
    assert known == sorted(known, reverse=True) and amounts[: len(known)] == known  # unknown last
    dates = [e.date_from for e in queue.listing(Query(sort="date"), page_size=None).entries if e.date_from]
    assert dates == sorted(dates)
    tops = [
        (e.top_finding == "", e.top_finding)
        for e in queue.listing(Query(sort="finding", readiness="hold"), page_size=None).entries
    ]
    assert len(tops) > 1


def test_money_at_stake_is_the_medicare_figure_of_the_lines(home: Path, coder: Coder) -> None:
    """Checked against the bundled OPPS and ASP tables read here, not through the engine."""
    opps = {r["hcpcs"]: r for r in csv.DictReader((PACK / "opps_addendum_b.csv").open())}
    asp = {r["hcpcs"]: float(r["payment_limit"]) for r in csv.DictReader((PACK / "asp_limits.csv").open())}
    queue = Queue(home / "big", coder.reference)
    checked = 0
    for entry in queue.listing(Query(sort="seq"), page_size=None).entries[:8]:
        if entry.readiness == "error":
            continue
        result = queue.result(entry.seq)
        expected = 0.0
        # Q1 is packaged on a date with a status S or T line (Addendum D1), else paid
        procedure_days = {
            line["date"] for line in result["lines"] if opps[line["code"]]["status_indicator"] in ("S", "T")
        }
        for line in result["lines"]:
            row = opps[line["code"]]
            status = row["status_indicator"]
            if status in ("S", "T") or (status == "Q1" and line["date"] not in procedure_days):
                expected += line["units"] * float(row["payment_rate"])
            else:
                assert status in ("N", "Q1"), f"status {status}: extend this check"
        for drug in result["drug_lines"]:
            status = opps.get(drug["hcpcs"], {}).get("status_indicator")
            if status != "N":
                expected += drug["units"] * asp[drug["hcpcs"]]
        assert entry.amount == pytest.approx(expected, abs=0.02), entry.encounter_id
        checked += 1
    assert checked >= 4


def test_filters_combine_and_live_in_the_url(client: TestClient, home: Path, coder: Coder) -> None:
    queue = Queue(home / "big", coder.reference)
    everything = queue.listing(Query(sort="seq"), page_size=None).entries
    held = client.get("/queue/big?readiness=hold&sort=-amount")
    expected = [e for e in everything if e.readiness == "hold"]
    assert {r["encounter"] for r in _rows(held.text)} == {e.encounter_id for e in expected[:50]}
    assert 'aria-sort="descending"' in held.text
    finding = next(f for f in queue.listing(Query()).findings if f[1] == "warning")[0]
    both = _rows(client.get(f"/queue/big?readiness=ready_with_warnings&finding={finding}").text)
    assert both and all(r["readiness"] == "ready_with_warnings" for r in both)
    with_finding = {e.seq for e in queue.listing(Query(finding=finding), page_size=None).entries}
    assert {int(r["seq"]) for r in both} <= with_finding
    text = _rows(client.get("/queue/big?q=e-00").text)
    assert sorted(r["encounter"] for r in text) == [f"E-00{n}" for n in range(10)]
    # the links of the page keep the filters: sorting and paging do not drop them
    assert "readiness=hold" in re.search(r'href="([^"]*sort=date[^"]*)"', held.text).group(1)  # type: ignore[union-attr]


def test_a_status_and_note_outlive_the_app(home: Path, coder: Coder) -> None:
    with TestClient(create_app(coder, queue=home)) as first:
        row = _rows(first.get("/queue/big?readiness=hold").text)[0]
        answer = first.post(
            f"/queue/big/{row['encounter']}/review",
            data={"seq": row["seq"], "status": "query sent", "note": "asked Dr. Q about the stop time"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
    with TestClient(create_app(coder, queue=home)) as second:  # a restart: a new app on the same folder
        page = second.get(f"/queue/big/{row['encounter']}?seq={row['seq']}")
        assert "asked Dr. Q about the stop time" in page.text
        assert '<option value="query sent" selected>' in page.text
        listed = _rows(second.get("/queue/big?status=query+sent").text)
        assert [r["encounter"] for r in listed] == [row["encounter"]]
        # a status change alone keeps the note
        second.post(f"/queue/big/{row['encounter']}/review", data={"seq": row["seq"], "status": "reviewed"})
        entry = Queue(home / "big", coder.reference).find(row["encounter"], int(row["seq"]))
        assert entry is not None and entry.status == "reviewed" and entry.note.startswith("asked")


def test_a_review_is_refused_with_a_reason(client: TestClient) -> None:
    row = _rows(client.get("/queue/big").text)[1]
    bad = client.post(f"/queue/big/{row['encounter']}/review", data={"seq": row["seq"], "status": "done"})
    assert bad.status_code == 422 and "unknown status" in bad.text
    other = client.post(
        f"/queue/big/{row['encounter']}/review",
        data={"seq": row["seq"], "status": "reviewed"},
        headers={"origin": "http://evil.example"},
    )
    assert other.status_code == 403
    assert client.get("/queue/big/NO-SUCH").status_code == 404
    assert client.get("/queue/nope").status_code == 404


def test_csv_export_is_what_the_view_shows_on_every_page(client: TestClient) -> None:
    answer = client.get("/queue/big.csv?readiness=ready_with_warnings&sort=-amount")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    shown = [
        r
        for p in (1, 2, 3)
        for r in _rows(client.get(f"/queue/big?readiness=ready_with_warnings&sort=-amount&page={p}").text)
    ]
    assert [r["encounter_id"] for r in rows] == [r["encounter"] for r in shown][: len(rows)]
    assert len(rows) == len({r["seq"] for r in shown})
    assert {r["readiness"] for r in rows} == {"ready_with_warnings"}
    assert rows[0]["lines"] and re.match(r"^\d{5}(-\w\w)* x\d+", rows[0]["lines"])


def test_xlsx_export_holds_the_same_rows(client: TestClient) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    answer = client.get("/queue/big.xlsx?readiness=hold")
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True)
    values = list(book.active.iter_rows(values_only=True))
    exported = list(
        csv.DictReader(io.StringIO(client.get("/queue/big.csv?readiness=hold").content.decode("utf-8-sig")))
    )
    assert values[0][:3] == ("seq", "encounter_id", "readiness")
    assert [row[1] for row in values[1:]] == [r["encounter_id"] for r in exported]


def test_a_note_cannot_run_as_a_spreadsheet_formula(client: TestClient) -> None:
    row = _rows(client.get("/queue/big?readiness=ready").text)[0]
    client.post(
        f"/queue/big/{row['encounter']}/review",
        data={"seq": row["seq"], "status": "reviewed", "note": "=HYPERLINK(1)"},
    )
    exported = client.get("/queue/big.csv?readiness=ready").content.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in exported


def test_an_upload_becomes_a_queue_with_every_import_option(client: TestClient, home: Path) -> None:
    csv_text = (ROOT / "examples" / "mar-export.csv").read_bytes()
    mapping = (ROOT / "examples" / "mar-mapping.toml").read_bytes()
    answer = client.post(
        "/queue",
        data={
            "format": "mar",
            "claim_type": "professional",
            "place_of_service": "11",
            "timezone": "America/Chicago",
            "policy": "cpt",
        },
        files=[("file", ("mar-export.csv", csv_text)), ("mapping", ("mar-mapping.toml", mapping))],
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:500]
    name = answer.headers["location"].rsplit("/", 1)[1]
    folder = home / name
    encounters = [json.loads(line) for line in (folder / "encounters.jsonl").read_text().splitlines()]
    assert encounters and all(e["claim_type"] == "professional" for e in encounters)
    assert {e.get("place_of_service") for e in encounters} == {"11"}
    assert {e.get("timezone") for e in encounters} == {"America/Chicago"}
    listed = client.get(f"/queue/{name}")
    assert len(_rows(listed.text)) == len(encounters)
    row = _rows(listed.text)[0]
    opened = client.get(f"/queue/{name}/{row['encounter']}?seq={row['seq']}")
    data = json.loads(re.search(r'id="queue-data">(.*?)</script>', opened.text, re.S).group(1))  # type: ignore[union-attr]
    assert data["result"]["policy"] == "cpt" and data["synthetic"] is False
    assert data["encounter"]["administrations"]


def test_an_upload_without_its_mapping_or_with_a_bad_option_says_why(client: TestClient) -> None:
    csv_text = (ROOT / "examples" / "mar-export.csv").read_bytes()
    zone = client.post(
        "/queue", data={"format": "mar", "timezone": "Mars/Olympus"}, files=[("file", ("m.csv", csv_text))]
    )
    assert zone.status_code == 422 and "unknown time zone" in zone.text
    pos = client.post(
        "/queue", data={"format": "mar", "place_of_service": "1"}, files=[("file", ("m.csv", csv_text))]
    )
    assert pos.status_code == 422 and "two digits" in pos.text
    empty = client.post("/queue", data={"format": "json"})
    assert empty.status_code == 422 and "choose a file" in empty.text


def test_contract_json_pasted_into_an_upload_keeps_unreadable_lines(client: TestClient, home: Path) -> None:
    good = json.loads(EXAMPLES[0].read_text())
    text = json.dumps(good) + "\n{not json\n"
    answer = client.post("/queue", data={"format": "json", "text": text}, follow_redirects=False)
    assert answer.status_code == 303
    name = answer.headers["location"].rsplit("/", 1)[1]
    rows = _rows(client.get(f"/queue/{name}").text)
    assert sorted(r["readiness"] for r in rows)[0] == "error" and len(rows) == 2  # N in, N out


def test_a_queue_without_encounters_draws_what_the_lines_counted(tmp_path: Path, coder: Coder) -> None:
    _batch(tmp_path / "bare", _encounters(3), coder, keep=False)
    with TestClient(create_app(coder, queue=tmp_path / "bare")) as client:
        row = _rows(client.get("/queue/bare").text)[0]
        page = client.get(f"/queue/bare/{row['encounter']}?seq={row['seq']}")
        data = json.loads(re.search(r'id="queue-data">(.*?)</script>', page.text, re.S).group(1))  # type: ignore[union-attr]
        assert data["synthetic"] is True
        counted = {a for line in data["result"]["lines"] for a in line["administrations"]}
        assert {a["id"] for a in data["encounter"]["administrations"]} == counted
        # a single batch folder: uploads go to a temporary home, and the page says so
        assert "until the server stops" in client.get("/queue").text


def test_csv_queue_folders_read_like_parquet_ones(tmp_path: Path, coder: Coder) -> None:
    records = _encounters(20)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    run_batch([source], tmp_path / "p", Settings(format="parquet", input_format="jsonl"), coder=coder)
    run_batch([source], tmp_path / "c", Settings(format="csv", input_format="jsonl"), coder=coder)
    run_batch([source], tmp_path / "j", Settings(format="jsonl", input_format="jsonl"), coder=coder)
    listings = [
        [
            (e.encounter_id, e.readiness, e.date_from, e.amount, e.lines, e.findings)
            for e in Queue(tmp_path / kind, coder.reference)
            .listing(Query(sort="seq"), page_size=None)
            .entries
        ]
        for kind in ("p", "c", "j")
    ]
    assert listings[0] == listings[1] == listings[2]
    assert Queue(tmp_path / "c", coder.reference).result(0) == Queue(tmp_path / "p", coder.reference).result(
        0
    )


def test_the_index_follows_a_rewritten_batch(tmp_path: Path, coder: Coder) -> None:
    home = QueueHome(coder.reference, tmp_path)
    _batch(tmp_path / "q", _encounters(5), coder)
    assert home.get("q").listing(Query()).all_rows == 5
    _batch(tmp_path / "other", _encounters(9), coder)
    for child in (tmp_path / "other").iterdir():  # the tables rewritten in place, the reviews kept
        child.replace(tmp_path / "q" / child.name)
    assert home.get("q").listing(Query()).all_rows == 9


def test_billed_lines_are_read_from_csv_and_837_for_the_page(client: TestClient, coder: Coder) -> None:
    one = client.post(
        "/v1/billed?encounter_id=ED-1001",
        files={"file": ("b.csv", b"code,units,modifiers,date\n96365,1,,2026-03-02\n96375,3,59,2026-03-02\n")},
    )
    assert one.status_code == 200
    assert [(line["code"], line["units"], line["modifiers"]) for line in one.json()["lines"]] == [
        ("96365", 1, []),
        ("96375", 3, ["59"]),
    ]
    encounter = Encounter.model_validate(json.loads((ROOT / "examples" / "ed-visit.json").read_text()))
    claim = claim_for(coder, encounter)
    text = write_837([claim], header(), "837i")
    both = client.post(f"/v1/billed?encounter_id={encounter.encounter_id}", content=text.encode())
    assert both.status_code == 200, both.text
    codes = sorted(line["code"] for line in both.json()["lines"])
    result = coder.code(encounter)
    assert codes == sorted([line.code for line in result.lines] + [d.hcpcs for d in result.drug_lines])
    missing = client.post("/v1/billed?encounter_id=X", files={"file": ("b.csv", b"units\n1\n")})
    assert missing.status_code == 422 and "code" in missing.json()["error"]["message"]


def test_the_api_explorer_is_served_from_the_package(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"""(src|href)=["']https?://""", page.text)  # nothing loaded from elsewhere
    for asset in (
        "/static/swagger-ui/swagger-ui-bundle.js",
        "/static/swagger-ui/swagger-ui.css",
        "/static/docs.js",
    ):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/static/swagger-ui/LICENSE").status_code == 200


def test_with_an_api_key_the_queue_asks_for_it(home: Path, coder: Coder) -> None:
    with TestClient(create_app(coder, api_key="k-123", queue=home)) as client:
        asked = client.get("/queue/big")
        assert asked.status_code == 401 and 'name="key"' in asked.text and "E-0" not in asked.text
        assert client.get("/queue/big.csv").status_code == 401
        wrong = client.post("/queue/key", data={"key": "nope", "next": "/queue/big"}, follow_redirects=False)
        assert wrong.status_code == 401
        right = client.post("/queue/key", data={"key": "k-123", "next": "/queue/big"}, follow_redirects=False)
        assert right.status_code == 303 and "httponly" in right.headers["set-cookie"].lower()
        assert len(_rows(client.get("/queue/big").text)) == 50  # the cookie now opens it
        assert client.post("/v1/billed?encounter_id=X", content=b"code\n96365\n").status_code == 401


def test_the_old_batch_page_moved_to_the_queue(client: TestClient) -> None:
    moved = client.get("/batch", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"] == "/queue"


def test_serve_refuses_a_queue_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from infusion_coder.cli import commands as cli

    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: None)
    monkeypatch.delenv("INFUSION_CODER_API_KEY", raising=False)
    file = tmp_path / "results.csv"
    file.write_text("x\n")
    refused = CliRunner().invoke(cli.app, ["serve", "--queue", str(file)])
    assert refused.exit_code == 2 and "is not a folder" in refused.output
    assert "serving on" not in refused.output  # refused before the server says it serves
    made = CliRunner().invoke(cli.app, ["serve", "--queue", str(tmp_path / "new-home")])
    assert made.exit_code == 0 and (tmp_path / "new-home").is_dir()


def test_an_encounter_knows_its_neighbours_in_the_list_it_came_from(client: TestClient) -> None:
    listing = "/queue/big?readiness=ready&sort=-amount"
    shown = client.get(listing).text
    rows = _rows(shown)
    assert len(rows) >= 3
    total = re.search(r"Rows 1\u2013\d+ of (\d+)", shown).group(1)  # type: ignore[union-attr]
    second = rows[1]
    page = client.get(f"/queue/big/{second['encounter']}", params={"seq": second["seq"], "back": listing})
    assert f"2 of {total} in the list" in page.text
    found = re.search(r'id="next-encounter" rel="next" href="|href="([^"]+)" id="next-encounter"', page.text)
    assert found is not None
    target = found.group(1).replace("&amp;", "&")
    assert target.startswith(f"/queue/big/{rows[2]['encounter']}?seq={rows[2]['seq']}")
    assert f"/queue/big/{rows[0]['encounter']}?seq={rows[0]['seq']}" in page.text.replace("&amp;", "&")
    saved = client.post(
        f"/queue/big/{second['encounter']}/review",
        data={"seq": second["seq"], "status": "reviewed", "then": target},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == target  # "Save and next"
    outside = client.post(
        f"/queue/big/{second['encounter']}/review",
        data={"seq": second["seq"], "status": "reviewed", "then": "https://elsewhere.example/"},
        follow_redirects=False,
    )
    assert outside.headers["location"].startswith("/queue/big")  # never sent off the queue
