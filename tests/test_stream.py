"""The stream reader's framing contract (docs/robustness.md): one item per record, in order, whatever
one record holds; the whole input is refused (exit 2) only when it is not JSON at all."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import encounter
from infusion_coder import Coder
from infusion_coder.cli import commands as cli
from infusion_coder.formats import jsonio
from infusion_coder.formats.jsonio import Item, UnreadableInput, read
from infusion_coder.models import ErrorDetail, ErrorResult

GOOD = encounter([{"substance": "ondansetron", "start": "09:00", "method": "push"}])


def good(encounter_id: str) -> bytes:
    return json.dumps(dict(GOOD, encounter_id=encounter_id)).encode()


def items(data: bytes) -> list[Item]:
    return list(read(io.BytesIO(data)).items)


# one hostile record of each class, as the bytes of one line (no LF inside)
HOSTILE_LINES = {
    "not json": b"{not json",
    "truncated": good("t")[:40],
    "not utf-8": b'{"encounter_id": "x\xff\xfe"}',
    "deep nesting": b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "long integer": b'{"encounter_id": "x", "n": ' + b"7" * 5000 + b"}",
    "NaN": b'{"encounter_id": "x", "dose": NaN}',
    "Infinity": b'{"encounter_id": "x", "dose": -Infinity}',
    "raw CR inside": b'{"encounter_id": "x\r", "b": 1}',
    "CR between tokens": b'{"encounter_id": "x",\r"b": 1}',
    "U+2028 and U+0085 in strings": '{"encounter_id": "x\u2028y\u2029z\u0085", "b": "\u2028"}'.encode(),
    "vertical tab and form feed": b'{"encounter_id": "x\x0b\x0c"}',
    "lone surrogate escape": b'{"encounter_id": "\\ud800"}',
    "array": b"[1, 2, 3]",
    "string": b'"just a string"',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LINES))
def test_one_hostile_line_gives_one_item_between_good_ones(name: str) -> None:
    data = b"\n".join([good("first"), HOSTILE_LINES[name], good("last")]) + b"\n"
    got = items(data)
    assert len(got) == 3
    assert got[0].value["encounter_id"] == "first"
    assert got[2].value["encounter_id"] == "last"
    assert got[1].where == "line 2"


@pytest.mark.parametrize("name", sorted(HOSTILE_LINES))
def test_a_hostile_first_line_does_not_lose_the_rest(name: str) -> None:
    data = b"\n".join([HOSTILE_LINES[name], good("a"), good("b")]) + b"\n"
    got = items(data)
    assert len(got) == 3
    assert [item.value["encounter_id"] for item in got[1:]] == ["a", "b"]


def test_bom_and_crlf_are_tolerated() -> None:
    got = items(b"\xef\xbb\xbf" + good("a") + b"\r\n" + good("b") + b"\r\n")
    assert [item.value["encounter_id"] for item in got] == ["a", "b"]
    assert all(item.problem is None for item in got)


def test_bom_before_a_single_object() -> None:
    batch = read(io.BytesIO(b"\xef\xbb\xbf" + json.dumps(GOOD, indent=2).encode()))
    assert batch.single
    assert [item.value["encounter_id"] for item in batch.items] == ["t"]


def test_only_lf_splits_records() -> None:
    separators = ["\u2028", "\u2029", "\u0085", "\r", "\x1c", "\x1d", "\x1e"]
    data = b"\n".join(json.dumps({"encounter_id": f"x{s}y"}, ensure_ascii=False).encode() for s in separators)
    assert len(items(data)) == len(separators)
    # and inside a broken first line too (the reader once fell back to str.splitlines there)
    broken = "{broken \u2028 line \r with \u0085 separators".encode()
    assert len(items(broken + b"\n" + data)) == len(separators) + 1


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"{not json", "line 1 is not valid JSON"),
        (b'{"a": "open', "Unterminated string starting at column 7"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": Infinity}', "Infinity is not a JSON number"),
        (b'{"a": ' + b"1" * 5000 + b"}", "too many digits"),
        (b'{"a": ' + b"[" * 50_000, "nested too deeply"),
        (b'{"a": "\xc3\x28"}', "not UTF-8 text (byte 8"),
        (b'{"a": 1} {"b": 2}', "Extra data at column 10"),
    ],
)
def test_problems_are_named_without_quoting_the_record(line: bytes, words: str) -> None:
    data = line + b"\n" + good("next") + b"\n"
    first = items(data)[0]
    assert first.problem is not None and words in first.problem
    assert "at at" not in first.problem
    assert len(first.problem) < 200


def test_blank_lines_are_skipped_and_line_numbers_kept() -> None:
    got = items(b"\n  \n" + good("a") + b"\n\n\t\r\n{bad\n")
    assert got[0].value["encounter_id"] == "a"
    assert got[1].problem is not None and got[1].problem.startswith("line 6 ")


def test_an_over_long_line_is_one_error_and_reading_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonio, "MAX_RECORD_BYTES", 1000)
    data = good("a") + b"\n" + b'{"x": "' + b"y" * 5000 + b'"}\n' + good("b") + b"\n"
    got = items(data)
    assert len(got) == 3
    assert got[1].problem is not None and "longer than 1,000 bytes" in got[1].problem
    assert got[2].value["encounter_id"] == "b"


def test_pretty_printed_object_is_one_record() -> None:
    batch = read(io.BytesIO(json.dumps(GOOD, indent=2).encode()))
    assert batch.single and [i.value for i in batch.items] == [GOOD]


def test_pretty_printed_object_followed_by_more_is_refused() -> None:
    data = json.dumps(GOOD, indent=2).encode() + b"\n" + good("x") + b"\n"
    with pytest.raises(UnreadableInput, match="several lines"):
        read(io.BytesIO(data))


def test_array_elements_each_give_one_item_in_order() -> None:
    data = b"[\n" + good("a") + b",\n {bad},\n 3,\n\n" + good("b") + b",\n " + b"[" * 5000 + b"\n]"
    got = items(data)
    assert len(got) == 5
    assert got[0].value["encounter_id"] == "a" and got[3].value["encounter_id"] == "b"
    assert got[1].problem is not None and got[1].problem.startswith("element 2 is not valid JSON")
    assert got[2].value == 3
    assert got[4].problem is not None and "element 5" in got[4].problem


@pytest.mark.parametrize(
    ("data", "count", "last"),
    [
        (b"[]", 0, None),
        (b"[\n]", 0, None),
        (b"[1,\n2", 2, "cut off"),
        (b'[1,\n"open', 2, "cut off"),
        (b"[1,\n2,]", 3, "empty"),
        (b"[1,\n,2]", 3, None),
        (b"[1,\n2}]", 3, "closes nothing"),
        (b"[1,\n2] [3]", 3, "more after"),
        (b'[{"a": "]}\\"["},\n2]', 2, None),
    ],
)
def test_array_framing(data: bytes, count: int, last: str | None) -> None:
    got = items(data)
    assert len(got) == count
    if last is not None:
        assert got[-1].problem is not None and last in got[-1].problem


class Trickle(io.RawIOBase):
    """A stream that hands out a long array in small chunks and counts what was taken."""

    def __init__(self, data: bytes) -> None:
        self.data, self.taken = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.data[self.taken : self.taken + 4096]
        buffer[: len(chunk)] = chunk
        self.taken += len(chunk)
        return len(chunk)


def test_a_large_array_is_streamed_not_read_whole() -> None:
    body = b"[\n" + b",\n".join(good(f"e{i}") for i in range(20_000)) + b"\n]"
    stream = Trickle(body)
    batch = read(io.BufferedReader(stream, buffer_size=4096))
    first = next(batch.items)
    assert first.value["encounter_id"] == "e0"
    assert stream.taken < len(body) / 10
    assert sum(1 for _ in batch.items) == 19_999


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"\n \r\n", "empty"),
        (b"substance,start,end\nondansetron,09:00,09:05\n", "looks like CSV"),
        (b"MSH|^~\\&|EPIC|X\rPID|1\r", "HL7 v2"),
        (b"\x0bMSH|^~\\&|EPIC|X\r\x1c\r", "HL7 v2"),
        (b'<?xml version="1.0"?><Bundle/>', "XML"),
        ("[]".encode("utf-16"), "UTF-16"),
        (b"ISA*00*          *00*", "X12"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
    ],
)
def test_other_formats_are_refused_with_a_hint(data: bytes, words: str) -> None:
    with pytest.raises(UnreadableInput, match=words):
        read(io.BytesIO(data))


def test_text_streams_are_read_too() -> None:
    assert [i.value["encounter_id"] for i in read(io.StringIO(good("a").decode())).items] == ["a"]


# --- the command line ----------------------------------------------------------------------------------


def run_cli(data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "infusion_coder", "code", "-", *args]
    return subprocess.run(command, input=data, capture_output=True, timeout=120, check=False)


def test_every_hostile_class_through_the_cli_gives_one_line_per_record() -> None:
    names = sorted(HOSTILE_LINES)
    lines = [good("first")]
    for index, name in enumerate(names):
        lines += [HOSTILE_LINES[name], good(f"after-{index}")]
    run = run_cli(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    assert run.returncode == 1, run.stderr
    assert run.stderr == b""
    out = run.stdout.split(b"\n")
    assert out[-1] == b""
    results = [json.loads(line) for line in out[:-1]]
    assert len(results) == len(lines)
    assert results[0]["encounter_id"] == "first" and results[0]["lines"]
    for index in range(len(names)):
        assert "error" in results[1 + 2 * index]
        assert results[2 + 2 * index]["encounter_id"] == f"after-{index}"


def test_ids_come_back_exactly_as_given_even_odd_ones() -> None:
    ids = [" a1 ", "a1", "\u2028", "x\ud800y", "tab\there", 17, -3]
    lines = [json.dumps(dict(GOOD, encounter_id=i)).encode() for i in ids]
    run = run_cli(b"\n".join(lines))
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["encounter_id"] for r in results[:3]] == ids[:3]
    assert results[3]["encounter_id"] is None and "error" in results[3]  # not valid Unicode text
    assert [r["encounter_id"] for r in results[4:]] == ids[4:]
    assert isinstance(results[5]["encounter_id"], int)


def test_a_fhir_bundle_is_pointed_to_the_fhir_reader() -> None:
    run = run_cli(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}).encode())
    assert run.returncode == 1
    assert "--from fhir" in json.loads(run.stdout)["error"]["message"]


def test_a_csv_input_exits_2_with_a_hint() -> None:
    run = run_cli(b"substance,start\nondansetron,2026-01-15T09:00\n")
    assert run.returncode == 2 and run.stdout == b""
    assert b"--from mar" in run.stderr


def test_an_internal_error_is_one_error_object_and_one_stderr_line(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "Jane Doe MRN 12345"

    def breaking(name: str) -> Any:
        real = getattr(Coder, name)

        def broken(self: Coder, record: Any, **options: Any) -> Any:
            if record.get("encounter_id") == "boom":
                raise RecursionError(f"while reading {secret}")
            return real(self, record, **options)

        return broken

    # `code` writing JSON Lines asks code_record_plain; the other views code_record
    for name in ("code_record", "code_record_plain"):
        monkeypatch.setattr(Coder, name, breaking(name))
    body = b"\n".join(
        [good("a"), json.dumps(dict(GOOD, encounter_id="boom", note=secret)).encode(), good("b")]
    )
    result = CliRunner().invoke(cli.app, ["code", "-"], input=body)
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["encounter_id"] for r in out] == ["a", "boom", "b"]  # the result echoes it; stderr does not
    assert "RecursionError" in out[1]["error"]["message"]
    assert secret not in result.output and "boom" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "internal error on line 2 (encounter id withheld): RecursionError" in result.stderr


def test_the_reader_itself_failing_ends_the_batch_with_an_error_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(stream: Any) -> jsonio.Batch:
        def gen() -> Iterator[Item]:
            yield Item(dict(GOOD, encounter_id="a"))
            raise OSError("disk gone")

        return jsonio.Batch(False, gen())

    monkeypatch.setattr(jsonio, "read", failing)
    result = CliRunner().invoke(cli.app, ["code", "-"], input=b"{}")
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert out[0]["encounter_id"] == "a" and "error" in out[1]
    assert result.exit_code == 1


def test_results_are_written_as_compact_json_with_their_values(coder: Coder) -> None:
    result = coder.code_record(dict(GOOD, encounter_id="café 1"))
    text = jsonio.render(result)
    assert text.startswith('{"encounter_id":"café 1","lines":[{"code":"96374","units":1,')  # no spaces
    assert json.loads(text) == result.model_dump(mode="json")
    assert "café" in text  # UTF-8 as it is, not \\u escapes
    # a lone surrogate cannot be UTF-8: written escaped, still compact and the same values
    odd = ErrorResult(encounter_id="\ud800x", error=ErrorDetail(message="é", field=None))
    odd_text = jsonio.render(odd)
    assert odd_text.startswith('{"encounter_id":"\\ud800x","error":{"message":"\\u00e9",')
    assert json.loads(odd_text) == odd.model_dump(mode="json")
    # a single record is shown indented for a person
    assert jsonio.render(result, pretty=True).startswith('{\n  "encounter_id": "caf')
