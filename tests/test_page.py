"""The coder's page in a real browser (Playwright with Debian's chromium) against a real server started
by `infusion-coder serve` on a free localhost port. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
EXAMPLES = sorted(
    path.stem for path in (ROOT / "examples").glob("*.json") if '"administrations"' in path.read_text()
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: install Debian's chromium (apt-get install chromium); CI does",
)

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, expect, sync_playwright


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key != "INFUSION_CODER_API_KEY"}
    process = subprocess.Popen(
        [sys.executable, "-m", "infusion_coder", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server did not start: {process.stderr.read() if process.stderr else ''}"
                )
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    # a 4xx answer the page handles (an encounter that is an error) is logged by chromium; not a page bug
    expected = "the server responded with a status of 4"
    opened.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and expected not in message.text
            else None
        ),
    )
    yield opened
    context.close()
    assert not problems, f"browser errors: {problems}"


def _result(server: str, name: str, policy: str | None = None) -> dict[str, Any]:
    encounter = json.loads((ROOT / "examples" / f"{name}.json").read_text())
    response = httpx.post(f"{server}/v1/code", json=encounter, params={"policy": policy} if policy else None)
    answer: dict[str, Any] = response.json()
    return answer


def _open(page: Page, server: str, name: str) -> None:
    page.goto(f"{server}/?example={name}")
    expect(page.locator("#status")).to_contain_text("Coded", timeout=20_000)


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_shows_every_line_and_finding(page: Page, server: str, name: str) -> None:
    result = _result(server, name)
    _open(page, server, name)
    rows = page.locator("#lines tbody tr[data-line]")
    expect(rows).to_have_count(len(result["lines"]))
    for index, line in enumerate(result["lines"]):
        cells = rows.nth(index).locator("td")
        expect(cells.nth(0)).to_have_text(line["code"])
        expect(cells.nth(1)).to_have_text(str(line["units"]))
        expect(cells.nth(5)).to_have_text(", ".join(line["administrations"]))
    findings = page.locator("li.finding")
    expect(findings).to_have_count(len(result["findings"]))
    shown = [(item.get_attribute("data-finding"), item.get_attribute("class")) for item in findings.all()]
    expected = sorted((f["id"], f"finding {f['severity']}") for f in result["findings"])
    assert sorted(shown) == expected  # type: ignore[arg-type]
    expect(page.locator("#readiness")).to_have_class(f"badge {result['readiness']}")
    timed = [
        a
        for a in json.loads((ROOT / "examples" / f"{name}.json").read_text())["administrations"]
        if a.get("start")
    ]
    expect(page.locator("#timeline .admin")).to_have_count(len(timed))
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("name", EXAMPLES)
def test_hovering_a_line_highlights_its_intervals_and_administrations(
    page: Page, server: str, name: str
) -> None:
    result = _result(server, name)
    _open(page, server, name)
    rows = page.locator("#lines tbody tr[data-line]")
    for index, line in enumerate(result["lines"]):
        rows.nth(index).hover()
        bands = page.locator("#timeline .hl-interval")
        if line["intervals"]:
            expect(bands).to_have_count(len(line["intervals"]))
            starts = sorted(band.get_attribute("data-start") or "" for band in bands.all())
            assert starts == sorted(interval["start"] for interval in line["intervals"])
            assert {band.get_attribute("data-source") for band in bands.all()} == {"line"}
        highlighted = sorted(
            node.get_attribute("data-admin") or "" for node in page.locator("#timeline .admin.hl").all()
        )
        on_timeline = {node.get_attribute("data-admin") for node in page.locator("#timeline .admin").all()}
        assert highlighted == sorted(a for a in line["administrations"] if a in on_timeline)
        if index == 0:
            page.screenshot(path=str(ARTIFACTS / f"{name}-hover-line.png"), full_page=True)
    page.mouse.move(0, 0)
    expect(page.locator("#timeline .hl-interval")).to_have_count(0)


def test_keyboard_focus_on_lines_and_findings_highlights_too(page: Page, server: str) -> None:
    result = _result(server, "ed-visit")
    _open(page, server, "ed-visit")
    page.locator("#lines tbody tr[data-line]").first.focus()
    expect(page.locator("#timeline .hl-interval")).to_have_count(len(result["lines"][0]["intervals"]))
    finding = next(f for f in result["findings"] if f["administrations"])
    page.locator(f'li.finding[data-finding="{finding["id"]}"]').first.focus()
    highlighted = sorted(
        node.get_attribute("data-admin") or "" for node in page.locator("#timeline .admin.hl").all()
    )
    assert highlighted == sorted(finding["administrations"])
    # Tab from the last finding control reaches the next focusable thing without a trap
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement !== null")


def test_switching_policy_shows_what_changes(page: Page, server: str) -> None:
    before = _result(server, "observation-overnight")
    after = _result(server, "observation-overnight", "cpt")
    added = {(line["code"], line["date"]) for line in after["lines"]} - {
        (line["code"], line["date"]) for line in before["lines"]
    }
    assert added, "the example must code differently under cpt for this test to mean anything"
    _open(page, server, "observation-overnight")
    page.select_option("#policy", "cpt")
    expect(page.locator("#changes-section")).to_be_visible(timeout=20_000)
    expect(page.locator("#changes-to")).to_have_text("cpt")
    expect(page.locator("#result-policy")).to_have_text("cpt")
    changed = page.locator("#changes tr.change.added")
    assert {
        (row.locator("td").nth(1).inner_text(), row.locator("td").nth(4).inner_text())
        for row in changed.all()
    } == added
    expect(page.locator("#lines tbody tr[data-line]")).to_have_count(len(after["lines"]))
    page.screenshot(path=str(ARTIFACTS / "observation-overnight-policy-cpt.png"), full_page=True)


def test_a_pasted_encounter_with_an_error_names_the_field(page: Page, server: str) -> None:
    page.goto(server)
    broken = {
        "encounter_id": "P1",
        "claim_type": "institutional",
        "administrations": [{"id": "a", "substance": "x", "route": "intravenous"}],
    }
    page.fill("#source", json.dumps(broken))
    page.click("#code-button")
    expect(page.locator("#error-box")).to_contain_text("administrations[0].start")
    expect(page.locator("#readiness")).to_have_text("error")


def test_an_uploaded_file_is_coded(page: Page, server: str) -> None:
    page.goto(server)
    page.set_input_files("#file", str(ROOT / "examples" / "chemo-day.json"))
    page.click("#code-button")
    expect(page.locator("#encounter-id")).to_have_text("ONC-2002", timeout=20_000)


def test_every_control_has_a_label(page: Page, server: str) -> None:
    for path in ("/", "/batch"):
        page.goto(server + path)
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                .filter((e) => !e.labels.length && !e.getAttribute('aria-label')).map((e) => e.id)"""
        )
        assert unlabeled == [], f"{path}: {unlabeled}"


def test_batch_queue_filters_by_readiness_and_finding(page: Page, server: str) -> None:
    results = {name: _result(server, name) for name in EXAMPLES}
    page.goto(f"{server}/batch")
    page.click("#load-examples")
    expect(page.locator("#batch-status")).to_contain_text("Loaded", timeout=20_000)
    page.click("#batch-button")
    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(len(EXAMPLES), timeout=20_000)
    page.screenshot(path=str(ARTIFACTS / "batch.png"), full_page=True)
    for readiness in ("hold", "ready_with_warnings", "ready"):
        page.select_option("#filter-readiness", readiness)
        expected = sorted(r["encounter_id"] for r in results.values() if r["readiness"] == readiness)
        expect(rows).to_have_count(len(expected))
        assert sorted(row.get_attribute("data-encounter") or "" for row in rows.all()) == expected
    page.select_option("#filter-readiness", "")
    finding = "missing-stop-time"
    page.select_option("#filter-finding", finding)
    expected = sorted(
        r["encounter_id"] for r in results.values() if any(f["id"] == finding for f in r["findings"])
    )
    expect(rows).to_have_count(len(expected))
    page.screenshot(path=str(ARTIFACTS / "batch-filtered.png"), full_page=True)
    rows.first.get_by_role("button").click()
    expect(page.locator("#encounter-id")).to_have_text(expected[0], timeout=20_000)


SOURCE_EXAMPLES = {"ed-visit.hl7": "hl7", "mar-export.csv": "mar"}


@pytest.mark.parametrize(("name", "format"), sorted(SOURCE_EXAMPLES.items()))
def test_a_bundled_source_record_opens_through_its_importer(
    page: Page, server: str, name: str, format: str
) -> None:
    listed = {item["name"]: item for item in httpx.get(f"{server}/v1/examples").json()}
    if name not in listed:
        pytest.skip(f"examples/{name} or the {format} importer is not in this checkout")
    files = [("file", (name, (ROOT / "examples" / name).read_bytes()))]
    if listed[name]["mapping"]:
        mapping = ROOT / "examples" / listed[name]["mapping"]
        files.append(("mapping", (mapping.name, mapping.read_bytes())))
    expected = httpx.post(f"{server}/v1/code/{format}", files=files).json()[0]
    page.goto(f"{server}/?example={name}")
    expect(page.locator("#format")).to_have_value(format)
    expect(page.locator("#status")).to_contain_text("Coded", timeout=20_000)
    expect(page.locator("#encounter-id")).to_have_text(expected["encounter_id"])
    expect(page.locator("#lines tbody tr[data-line]")).to_have_count(len(expected["lines"]))
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
