"""`code` writes results from the engine's plain objects with orjson (engine/output.py, jsonio.render_coded):
the same bytes as the contract models through pydantic's serialiser, and the same models for the library."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import equivalence_script
from infusion_coder import Coder
from infusion_coder.engine.output import Coded, PlainDrugLine, PlainFinding, PlainLine, Span
from infusion_coder.formats import jsonio

ROOT = Path(__file__).resolve().parent.parent


def test_plain_results_are_the_models_and_their_bytes(coder: Coder) -> None:
    """The oracle's encounters (zones, offsets, daylight-saving changes, malformed records, ...): the plain
    path gives the model code_record gives, and render_coded the bytes render writes for it."""
    written = 0
    for _origin, line, _audit in equivalence_script().records(600, 2026, False):
        item = jsonio.parse(line, "line 1")
        if item.problem is not None:
            continue
        plain = coder.code_record_plain(item.value)
        model = coder.code_record(item.value)
        if not isinstance(plain, Coded):
            assert plain == model  # an error object, as before
            continue
        assert plain.model() == model
        data = jsonio.render_coded(plain)
        assert data is not None
        assert data == jsonio.render(model).encode("utf-8")
        written += 1
    assert written > 400


_TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from(["\ud800", "\x00", "\u2028", '"', "\\"]))
_OFFSETS = st.one_of(
    st.none(),
    st.builds(timedelta, minutes=st.integers(-23 * 60 - 59, 23 * 60 + 59)),
    st.builds(timedelta, seconds=st.integers(-86399, 86399)),
)
_MOMENTS = st.builds(
    lambda moment, offset: moment if offset is None else moment.replace(tzinfo=timezone(offset)),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2299, 12, 31)),
    _OFFSETS,
)


@settings(max_examples=300, deadline=None)
@given(
    encounter_id=st.one_of(st.integers(-(2**70), 2**70), _TEXT),
    text=_TEXT,
    moments=st.lists(st.tuples(_MOMENTS, _MOMENTS), max_size=3),
    minutes=st.one_of(st.none(), st.integers(0, 10**6)),
    day=st.one_of(st.none(), st.dates(min_value=date(1900, 1, 1))),
)
def test_render_coded_writes_the_models_bytes_or_declines(
    encounter_id: int | str,
    text: str,
    moments: list[tuple[datetime, datetime]],
    minutes: int | None,
    day: date | None,
) -> None:
    """Any text, id, offset (seconds too) and fraction of a second: the same bytes as the model, or None
    (then `code` renders the model, as before)."""
    spans = [Span(start, end) for start, end in moments]
    line = PlainLine("96365", 2, ["59", text], day, ["a1", text], text, "IC301", minutes, spans)
    finding = PlainFinding("x-" + text[:5], "warning", [text], text, None, "IC601", text or None)
    drug = PlainDrugLine("J1100", 3, [], day, text or None, ["a1"], text, "IC701")
    coded = Coded(encounter_id, [line], [finding], "cms-default", "2026.1", "ready", [drug])
    data = jsonio.render_coded(coded)
    if data is not None:
        assert data == jsonio.render(coded.model()).encode("utf-8")


def test_code_writes_what_render_writes_for_each_model(tmp_path: Path, coder: Coder) -> None:
    """Through the command: a zone whose offset has seconds (Monrovia, 1960: -00:44:30) falls back to the
    model, the rest go plain; the bytes are render's for every result, error objects included."""
    monrovia = {
        "encounter_id": "lmt",
        "claim_type": "institutional",
        "timezone": "Africa/Monrovia",
        "administrations": [
            {
                "id": "a1",
                "substance": "normal saline",
                "route": "intravenous",
                "start": "1960-05-01T09:00",
                "end": "1960-05-01T11:00",
            }
        ],
    }
    records = [json.dumps(monrovia).encode(), b"{not json"]
    records += [line for _o, line, _a in equivalence_script().records(60, 7, False)]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(records) + b"\n")
    run = subprocess.run(
        [sys.executable, "-m", "infusion_coder", "code", str(source)], capture_output=True, timeout=300
    )
    assert run.returncode == 1  # the malformed record is an error object
    expected = []
    for number, line in enumerate(records, 1):
        item = jsonio.parse(line, f"line {number}")
        if item.problem is not None:
            expected.append(json.dumps({"encounter_id": None, "error": {"message": item.problem}}))
            continue
        expected.append(jsonio.render(coder.code_record(item.value)))
    written = run.stdout.decode("utf-8").splitlines()
    assert len(written) == len(records)
    assert "-00:44" in written[0]
    for number, (mine, theirs) in enumerate(zip(written, expected, strict=True)):
        if number == 1:  # the reader's own error object: its message is the reader's
            assert json.loads(mine)["error"]["message"] == json.loads(theirs)["error"]["message"]
        else:
            assert mine == theirs
