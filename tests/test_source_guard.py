"""The guard every reader shares (formats/__init__.py): gzip read with a ceiling, a damaged stream in the
project's words, and a reader's defect turned into one error record instead of a traceback."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from infusion_coder.formats import ImportOptions, Source, SourceError, UnusableInput, guarded, inflate
from infusion_coder.reference import ReferencePack, load_library


def test_gzip_is_read_through() -> None:
    assert Source("a.json.gz", data=gzip.compress(b'{"a": 1}')).read_bytes() == b'{"a": 1}'


def test_concatenated_gzip_members_are_all_read() -> None:
    data = gzip.compress(b"one\n") + gzip.compress(b"two\n")
    assert Source("x.ndjson.gz", data=data).read_bytes() == b"one\ntwo\n"


def test_a_gzip_bomb_stops_at_the_ceiling() -> None:
    bomb = gzip.compress(b"0" * (8 * 2**20))  # 8 MiB of zeros in about 8 KB
    assert len(bomb) < 20_000
    with pytest.raises(SourceError, match="expands to more than"):
        Source("bomb.json.gz", data=bomb).read_bytes(limit=2**20)


def test_a_bomb_made_of_many_members_stops_too() -> None:
    member = gzip.compress(b"0" * 2**19)
    with pytest.raises(SourceError, match="expands to more than"):
        inflate(member * 8, 2**20, "members.gz")


def test_a_plain_file_over_the_ceiling_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 2048)
    with pytest.raises(SourceError, match="larger than"):
        Source(path.name, path=path).read_bytes(limit=1024)
    assert Source(path.name, path=path).read_bytes(limit=4096) == b" " * 2048


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[: len(d) // 2],  # truncated
        lambda d: d[:12] + bytes(b ^ 0x55 for b in d[12:40]) + d[40:],  # corrupt deflate stream
    ],
    ids=["truncated", "corrupt"],
)
def test_damaged_gzip_is_a_source_error_in_our_words(damage: Any) -> None:
    data = damage(gzip.compress(b'{"resourceType": "Bundle"}' * 200))
    with pytest.raises(SourceError) as caught:
        Source("export.ndjson.gz", data=data).read_bytes()
    assert "export.ndjson.gz" in str(caught.value)
    assert not isinstance(caught.value.__cause__, zlib.error)  # zlib's own text never reaches the user


PACK: ReferencePack = load_library().latest


def _reader(boom: BaseException) -> Any:
    def read(
        sources: Sequence[Source], options: ImportOptions, pack: ReferencePack
    ) -> Iterator[dict[str, Any]]:
        yield {"encounter_id": "E1", "administrations": []}
        raise boom

    return read


def test_a_reader_defect_becomes_one_error_record_naming_the_source() -> None:
    secret = "Jane Q Patient"
    read = guarded("test", _reader(KeyError(secret)))
    out = list(read([Source("feed.csv", data=b"")], ImportOptions(), PACK))
    assert out[0] == {"encounter_id": "E1", "administrations": []}  # what was read before is kept
    assert len(out) == 2 and "error" in out[1]
    message = out[1]["error"]["message"]
    assert "feed.csv" in message and "KeyError" in message and secret not in message


def test_a_source_error_escaping_a_reader_keeps_its_message() -> None:
    read = guarded("test", _reader(SourceError("feed.csv: damaged gzip data (not a readable .gz file)")))
    out = list(read([Source("feed.csv", data=b"")], ImportOptions(), PACK))
    assert out[1]["error"]["message"] == "feed.csv: damaged gzip data (not a readable .gz file)"


def test_recursion_is_reported_as_too_deep() -> None:
    read = guarded("test", _reader(RecursionError("maximum recursion depth exceeded")))
    out = list(read([Source("deep.json", data=b"")], ImportOptions(), PACK))
    assert "too deeply nested" in out[1]["error"]["message"]


def _unusable_after(records: int) -> Any:
    def read(
        sources: Sequence[Source], options: ImportOptions, pack: ReferencePack
    ) -> Iterator[dict[str, Any]]:
        for index in range(records):
            yield {"encounter_id": f"E{index}", "administrations": []}
        raise UnusableInput("mapping.toml names column 'MEDICATION_NAM', which feed.csv does not have")

    return read


def test_unusable_input_before_any_record_stops_the_caller() -> None:
    read = guarded("test", _unusable_after(0))
    with pytest.raises(UnusableInput, match="MEDICATION_NAM"):
        list(read([Source("feed.csv", data=b"")], ImportOptions(), PACK))


def test_unusable_input_after_records_is_that_files_error() -> None:
    out = list(guarded("test", _unusable_after(2))([Source("feed.csv", data=b"")], ImportOptions(), PACK))
    assert [r["encounter_id"] for r in out] == ["E0", "E1", None]
    assert "MEDICATION_NAM" in out[2]["error"]["message"]


# ---- Source.open: the same guard for readers that go record by record


def test_open_streams_gzip_members_and_padding() -> None:
    data = gzip.compress(b"one\n") + b"\0\0\0" + gzip.compress(b"two\n")
    with Source("x.ndjson.gz", data=data).open() as stream:
        assert stream.read() == b"one\ntwo\n"


def test_open_refuses_a_bomb_or_a_damaged_file_before_any_record(tmp_path: Path) -> None:
    bomb = gzip.compress(b"{}\n" * (3 * 2**20))
    with pytest.raises(SourceError, match="expands to more than"):
        Source("bomb.ndjson.gz", data=bomb).open(limit=2**20)
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:-30])
    with pytest.raises(SourceError, match="ends early"):
        Source(path.name, path=path).open()
    path.write_bytes(b" " * 2048)
    with pytest.raises(SourceError, match="larger than"):
        Source(path.name, path=path).open(limit=1024)
