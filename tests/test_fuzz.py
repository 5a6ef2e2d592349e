"""Fuzzing: hostile encounters and hostile streams (docs/robustness.md, "Fuzz profiles").

Properties: the library returns (never raises) on any value, within a second, with a short message; the
stream reader gives exactly one item per LF-separated record, in order, ids matching where readable.

Profiles: "ci" (the default: small, the whole file well within a minute) and "long" for local runs:
    HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_fuzz.py
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infusion_coder import Coder, ErrorResult
from infusion_coder.formats.jsonio import UnreadableInput, read

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False
)
settings.register_profile("long", max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
FUZZ = settings(settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci")))

SEPARATORS = ["\u2028", "\u2029", "\u0085", "\r", "\x0b", "\x0c", "\x1c", "\x00"]

# --- hostile values -------------------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(SEPARATORS).map(lambda s: f"x{s}y"),
    st.integers(1, 50_000).map(lambda n: "z" * n),
    st.sampled_from(["2026-01-15T09:00", "0001-01-01T00:00", "9999-12-31T23:59", "2026-01-15T09:00+14:00"]),
    st.sampled_from([" a1 ", "a1", "", "   ", "IV", "Infusion", "\ud800"]),
)
hostile_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 1e-300, 2**63, -(2**63), 10**4000]),
    st.integers(),
)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


leaf = st.one_of(st.none(), st.booleans(), hostile_number, hostile_text)
hostile_value = st.one_of(
    leaf,
    st.recursive(
        leaf,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    ),
    st.sampled_from([50, 500, 5000]).map(nested),
)

ADMIN_FIELDS = [
    "id", "substance", "category", "hormonal", "route", "method", "start", "end", "access",
    "separate_access_required", "mix", "pump", "purpose", "volume_ml", "rate_ml_per_hour", "indication",
    "dose", "dose_unit", "ndc", "single_dose_container", "wasted", "rxnorm", "hcpcs",
]  # fmt: skip
ENCOUNTER_FIELDS = [
    "encounter_id", "claim_type", "place_of_service", "policy", "primary_administration",
    "evaluation_and_management", "administrations", "billed_lines", "timezone", "source_findings",
]  # fmt: skip


def base_encounter(count: int) -> dict[str, Any]:
    admins = []
    for i in range(count):
        admins.append(
            {
                "id": f"a{i}",
                "substance": ["vancomycin", "normal saline", "ondansetron", "cisplatin"][i % 4],
                "route": "intravenous",
                "start": f"2026-01-15T{8 + i % 10:02d}:00",
                "end": f"2026-01-15T{8 + i % 10:02d}:45",
                "volume_ml": 250,
                "rate_ml_per_hour": 125,
                "dose": 1,
            }
        )
    return {"encounter_id": "fz", "claim_type": "institutional", "administrations": admins}


@st.composite
def hostile_encounters(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(hostile_value)  # not even an object
    body = base_encounter(draw(st.integers(0, 4)))
    for _ in range(draw(st.integers(1, 4))):
        admins = body.get("administrations")
        if isinstance(admins, list) and admins and isinstance(admins[0], dict) and draw(st.booleans()):
            target = admins[draw(st.integers(0, len(admins) - 1))]
            field = draw(st.sampled_from(ADMIN_FIELDS))
        else:
            target, field = body, draw(st.sampled_from(ENCOUNTER_FIELDS))
        if not isinstance(target, dict):
            continue
        if draw(st.integers(0, 4)) == 0:
            target.pop(field, None)  # a missing field
        else:
            target[field] = draw(hostile_value)
    return body


@FUZZ
@given(
    record=hostile_encounters(),
    audit=st.booleans(),
    policy=st.sampled_from([None, "cms-derive", "cpt", "zz"]),
)
def test_the_library_returns_on_any_value_within_a_second(
    coder: Coder, record: Any, audit: bool, policy: str | None
) -> None:
    run = coder.audit_record if audit else coder.code_record
    began = time.process_time()
    result = run(record, policy=policy)
    assert time.process_time() - began < 1.0
    if isinstance(result, ErrorResult):
        assert len(result.error.message) < 1000
    result.model_dump_json()  # the result itself always serialises


# --- hostile streams ------------------------------------------------------------------------------------


def good_line(encounter_id: str, text: str = "") -> bytes:
    body = base_encounter(1)
    body["encounter_id"] = encounter_id
    body["administrations"][0]["indication"] = text  # may hold U+2028, CR, ... raw inside a string
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


junk_line = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from(
        [
            b"{not json",
            b'{"encounter_id": "j", "claim_type": "institutional"',
            b'{"a": "\xff"}',
            b'{"dose": NaN}',
            b'{"dose": Infinity}',
            b'{"a": ' + b"[" * 3000,
            b'{"n": ' + b"9" * 5000 + b"}",
            b'{"x": "a\rb"}',
            '{"x": "a\u2028b\u0085c"}'.encode(),
            b"\xef\xbb\xbf{}",
            b"   ",
        ]
    ),
    st.integers(1, 200).map(lambda n: good_line("cut")[: n % 150]),
)


@st.composite
def hostile_streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A JSON Lines input whose first record is readable, then good and hostile lines mixed; with the
    encounter id expected of each record (None for a line that cannot be read, or is blank)."""
    lines: list[bytes] = [good_line("first", draw(st.sampled_from(SEPARATORS)))]
    for index in range(draw(st.integers(0, 12))):
        if draw(st.booleans()):
            lines.append(good_line(f"g{index}", draw(st.text(max_size=10) | st.sampled_from(SEPARATORS))))
        else:
            lines.append(draw(junk_line))
    endings = [draw(st.sampled_from([b"\n", b"\r\n"])) for _ in lines]
    data = b"".join(line + end for line, end in zip(lines, endings, strict=True))
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.booleans()):
        data = data[: -len(endings[-1])]  # no LF after the last record
    return data, [line.decode("utf-8", "replace") for line in lines]


def is_blank(line: str) -> bool:
    return not line.strip(" \t\r")


@FUZZ
@given(stream=hostile_streams())
def test_one_item_per_record_in_order(stream: tuple[bytes, list[str]]) -> None:
    data, lines = stream
    got = list(read(io.BytesIO(data)).items)
    records = [line for line in lines if not is_blank(line)]
    assert len(got) == len(records)
    for item, line in zip(got, records, strict=True):
        assert item.problem is None or item.value is None
        if line.startswith('{"encounter_id": "') and line.endswith("}") and item.problem is None:
            expected = json.loads(line)["encounter_id"]
            assert item.value["encounter_id"] == expected
    assert got[0].value["encounter_id"] == "first"


@FUZZ
@given(data=st.binary(max_size=400) | st.lists(junk_line, max_size=8).map(b"\n".join))
def test_any_bytes_are_read_or_refused_never_raised(data: bytes) -> None:
    try:
        batch = read(io.BytesIO(data))
    except UnreadableInput as exc:
        assert len(str(exc)) < 300
        return
    for item in batch.items:
        assert item.problem is None or len(item.problem) < 300


@FUZZ
@given(stream=hostile_streams())
def test_coding_a_hostile_stream_gives_one_result_per_record(
    coder: Coder, stream: tuple[bytes, list[str]]
) -> None:
    data, lines = stream
    results = [
        coder.code_record(item.value) if item.problem is None else None
        for item in read(io.BytesIO(data)).items
    ]
    assert len(results) == sum(not is_blank(line) for line in lines)


# --- under a memory cap, in a child process -------------------------------------------------------------

CAPPED = textwrap.dedent(
    """
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))
    from infusion_coder import Coder
    coder = Coder.default()
    worst = 0.0
    for line in sys.stdin:
        began = time.process_time()
        coder.code_record(json.loads(line))
        worst = max(worst, time.process_time() - began)
    print(worst)
    """
)


def capped_run(records: list[Any], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    data = "".join(json.dumps(r) + "\n" for r in records)
    return subprocess.run(
        [sys.executable, "-c", CAPPED],
        input=data,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def admin(**fields: Any) -> dict[str, Any]:
    return {
        "id": "a1",
        "substance": "vancomycin",
        "route": "intravenous",
        "start": "2026-01-15T09:00",
        **fields,
    }


def hostile_set() -> list[Any]:
    body = base_encounter(1)
    return [
        {**body, "administrations": [admin(dose=1e308, wasted=1e308, volume_ml=1e308)]},
        {**body, "administrations": [admin(volume_ml=100_000, rate_ml_per_hour=5e-324)]},
        {
            **body,
            "policy": "cms-derive",
            "administrations": [admin(volume_ml=100_000, rate_ml_per_hour=1e-300)],
        },
        {**body, "administrations": [admin(substance="x" * 200_000)]},
        {**body, "administrations": [admin(id=f"a{i}") for i in range(6000)]},
        {**body, "administrations": [admin(), admin(id=" a1 "), admin(id="a1 ")]},
        {**body, "claim_type": body},
        {**body, "extra": nested(900)},
        {**body, **{f"k{i}": i for i in range(10_000)}},
        {**body, "administrations": [admin(start=1700000000, end=1700003600)]},
    ]


def test_hostile_values_each_within_a_second_under_2gb() -> None:
    run = capped_run(hostile_set())
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout) < 1.0


def test_far_dates_each_within_a_second_under_2gb() -> None:
    body = base_encounter(1)
    far = [
        {**body, "administrations": [admin(start="0001-01-01T00:00", end="9999-12-31T23:59")]},
        {**body, "administrations": [admin(start="2026-01-15T09:00", end="9999-12-31T23:59")]},
        {**body, "administrations": [admin(start="9999-12-31T23:50", volume_ml=1000, rate_ml_per_hour=1)]},
    ]
    run = capped_run(far, timeout=20)
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout) < 1.0


def test_a_finite_json_number_that_overflows_is_refused(coder: Coder) -> None:
    value = json.loads('{"dose": 1e400}')["dose"]
    assert math.isinf(value)  # json turns it into infinity: the model must refuse it
    result = coder.code_record({**base_encounter(0), "administrations": [admin(dose=value)]})
    assert isinstance(result, ErrorResult) and result.error.field == "administrations[0].dose"
