"""Source formats: one module per format, its reader and its writer side by side.

A reader turns outside records into contract encounters (plain dicts, as `Encounter.model_validate`
takes them), one per encounter, in a stable order. A record it cannot read becomes an error object
(`{"encounter_id": ..., "error": {"message": ..., "field": ...}}`) in the stream, never an exception and
never a silent drop; a source record that belongs to an encounter but gives no administration (not given,
entered in error, an unpaired stop) becomes a `source_findings` entry on that encounter.

Every surface (the `import` and `code --from` commands, the service's upload endpoints, batch) reads
through `reader(name)`, so a format is added here once.
"""

from __future__ import annotations

import csv
import importlib
import io
import itertools
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..models import excerpt as models_excerpt
from ..reference import ReferencePack


@dataclass(frozen=True)
class ImportOptions:
    """What the source does not say and the user does (`--timezone`, `--claim-type`, ...)."""

    timezone: str | None = None  # IANA zone of the facility, set on every encounter
    claim_type: str = "institutional"
    place_of_service: str | None = None
    policy: str | None = None
    mapping: Path | None = None  # a site's own column names and action words (MAR CSV)
    include_inpatient: bool = False  # MIMIC: also emit stays that belong to an inpatient claim


@dataclass(frozen=True)
class Source:
    """One input: a file or folder on disk, or bytes uploaded to the service."""

    name: str  # for messages: a file name, never its contents
    path: Path | None = None
    data: bytes | None = None

    def read_bytes(self, limit: int | None = None) -> bytes:
        """The source's bytes, gunzipped when they are gzip, at most `limit` bytes after decompression
        (default MAX_SOURCE_BYTES): a small file that inflates without end is refused, not followed."""
        limit = MAX_SOURCE_BYTES if limit is None else limit
        if self.data is not None:
            raw = self.data
        else:
            assert self.path is not None
            with self.path.open("rb") as handle:
                raw = handle.read(limit + 1)
        if raw[:2] == _GZIP_MAGIC:
            return inflate(raw, limit, self.name)
        if len(raw) > limit:
            raise SourceError(f"{self.name}: larger than the {size_text(limit)} a source file may be")
        return raw

    def open(self, limit: int | None = None) -> BinaryIO:
        """The source as a stream of bytes, gunzipped when it is gzip, for readers that go record by record
        and hold no whole file. The size (after decompression) and a gzip stream's integrity are checked
        before the stream is returned, so a bomb or a damaged file is one SourceError before any record."""
        limit = MAX_SOURCE_BYTES if limit is None else limit
        with self._raw() as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
        if not gzipped:
            size = len(self.data) if self.data is not None else self.path.stat().st_size  # type: ignore[union-attr]
            if size > limit:
                raise SourceError(f"{self.name}: larger than the {size_text(limit)} a source file may be")
            return self._raw()
        with self._raw() as raw:
            for _ in _gunzip(raw, limit, self.name, piece=_COUNTED):
                pass  # a first pass only counts: nothing is held
        return io.BufferedReader(_Chunks(_gunzip(self._raw(), limit, self.name)), _CHUNK)

    def _raw(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return self.path.open("rb")


MAX_SOURCE_BYTES = 256 * 2**20  # one source file, after decompression (docs/robustness.md)
# One CSV cell (MAR, batch and billed-claim CSV): Python's default of 131,072 characters is less than one
# valid encounter's administrations column can hold; this is the JSON Lines reader's record bound.
MAX_CSV_FIELD = 16 * 2**20
csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_FIELD))
_GZIP_MAGIC = b"\x1f\x8b"


def size_text(size: int) -> str:
    """A byte count as a person reads a limit: 5 MiB, 256 KiB, 1,000 bytes (never "0 MiB")."""
    for unit, name in ((2**20, "MiB"), (2**10, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit:,} {name}"
    return f"{size:,} bytes"


class SourceError(ValueError):
    """A source file that cannot be read, in the project's words (the message names the file)."""


class UnusableInput(ValueError):
    """The input as a whole cannot be read with the options given (say, a mapping that names a column the
    file does not have): nothing would be imported, so the command stops before any record (exit 2)."""


def inflate(data: bytes, limit: int, name: str) -> bytes:
    """Gunzip with a ceiling on the output: a gzip bomb stops at `limit` bytes, and a damaged stream is
    a SourceError, never zlib's own text."""
    out = bytearray()
    stream = data
    try:
        while stream:
            inflater = zlib.decompressobj(wbits=31)  # gzip members follow one another
            out += inflater.decompress(stream, limit + 1 - len(out))
            if len(out) > limit:
                raise SourceError(f"{name}: expands to more than the {size_text(limit)} a source file may be")
            if not inflater.eof:
                if inflater.unconsumed_tail:
                    raise SourceError(
                        f"{name}: expands to more than the {size_text(limit)} a source file may be"
                    )
                raise SourceError(f"{name}: the gzip data ends early (a truncated or damaged file)")
            stream = inflater.unused_data.lstrip(b"\0")
    except zlib.error:
        raise SourceError(f"{name}: damaged gzip data (not a readable .gz file)") from None
    return bytes(out)


def _gunzip(raw: BinaryIO, limit: int, name: str, piece: int = 1 << 16) -> Iterator[bytes]:
    """The decompressed chunks of a gzip stream (members one after another, zero padding between them),
    at most `limit` bytes in all; a damaged or truncated stream, or one larger, is a SourceError."""
    too_large = f"{name}: expands to more than the {size_text(limit)} a source file may be"
    total = 0
    inflater = zlib.decompressobj(wbits=31)
    pending = b""
    try:
        with raw:
            while True:
                data = pending or raw.read(_CHUNK)
                pending = b""
                if not data:
                    break
                if inflater.eof:  # the next member, after any zero padding
                    data = data.lstrip(b"\0")
                    if not data:
                        continue
                    inflater = zlib.decompressobj(wbits=31)
                while True:
                    out = inflater.decompress(data, piece)
                    total += len(out)
                    if total > limit:
                        raise SourceError(too_large)
                    if out:
                        yield out
                    if inflater.eof:
                        pending = inflater.unused_data
                        break
                    data = inflater.unconsumed_tail
                    if not data and not out:
                        break  # the member goes on in the next chunk
    except zlib.error:
        raise SourceError(f"{name}: damaged gzip data (not a readable .gz file)") from None
    except OSError as exc:
        raise SourceError(f"{name}: cannot be read ({exc.strerror or 'input/output error'})") from None
    if not inflater.eof:
        raise SourceError(f"{name}: the gzip data ends early (a truncated or damaged file)")


class _Chunks(io.RawIOBase):
    """A read-only raw stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


_CHUNK = 1 << 16
_COUNTED = 1 << 22  # output pieces of the counting pass: larger ones, fewer calls
Reader = Callable[[Sequence[Source], ImportOptions, ReferencePack], Iterator[dict[str, Any]]]

# name -> (module, what it reads); modules import lazily, since some pull in large libraries.
FORMATS: dict[str, tuple[str, str]] = {}


def register(name: str, module: str, description: str) -> None:
    FORMATS[name] = (module, description)


def reader(name: str) -> Reader:
    """The reader of a format, guarded (see `guarded`); KeyError names the known formats."""
    if name not in FORMATS:
        raise KeyError(f"unknown format {name!r}; known: {', '.join(sorted(FORMATS))}")
    module = importlib.import_module(FORMATS[name][0])
    read: Reader = module.read
    return guarded(name, read)


def guarded(name: str, read: Reader) -> Reader:
    """The last line of defence around a reader: whatever escapes it becomes one error record naming the
    source and, for a defect, only the exception's type (its text may quote the file), and the stream ends
    there instead of the run. Readers guard each file and record themselves, so the next file goes on; this
    only makes sure no traceback reaches a user."""

    def read_guarded(
        sources: Sequence[Source], options: ImportOptions, pack: ReferencePack
    ) -> Iterator[dict[str, Any]]:
        where = ", ".join(source.name for source in sources[:3]) + (" ..." if len(sources) > 3 else "")
        started = False
        try:
            for record in read(sources, options, pack):
                started = True
                yield record
        except UnusableInput as exc:
            if not started:  # the whole input is unusable: the caller stops (read_eagerly, exit 2)
                raise
            yield error_record(None, str(exc)[:500])  # found in a later file: that file's error
        except SourceError as exc:
            yield error_record(None, str(exc)[:500])
        except (MemoryError, RecursionError) as exc:
            yield error_record(
                None, f"{where}: too large or too deeply nested to read ({type(exc).__name__})"
            )
        except Exception as exc:
            yield error_record(
                None,
                f"{where}: the {name} reader stopped on an internal error ({type(exc).__name__}); "
                "the records after it were not read",
            )

    return read_guarded


def read_eagerly(
    name: str, sources: Sequence[Source], options: ImportOptions, pack: ReferencePack
) -> Iterator[dict[str, Any]]:
    """The records of `reader(name)`, with the reader started at once: an UnusableInput it finds in its
    first file (a bad mapping, a missing column) is raised here, before a caller has written anything."""
    stream = iter(reader(name)(sources, options, pack))
    first = next(stream, None)
    if first is None:
        return iter(())
    return itertools.chain((first,), stream)


def error_record(encounter_id: str | None, message: str, field: str | None = None) -> dict[str, Any]:
    """An error object in an import stream: the record could not become an encounter."""
    return {"encounter_id": encounter_id, "error": {"message": message, "field": field}}


def unreadable(name: str, exc: OSError) -> str:
    """Why a file cannot be opened, in our words (the system's own text may be in another language)."""
    if isinstance(exc, FileNotFoundError):
        return f"{name}: no such file"
    if isinstance(exc, PermissionError):
        return f"{name}: not allowed to read it"
    if isinstance(exc, IsADirectoryError):
        return f"{name}: a folder, not a file"
    return f"{name}: cannot be read (an input/output error)"


def excerpt(value: object, limit: int = 60) -> str:
    """A short, truncated rendering of a source value for messages: never a whole record."""
    return models_excerpt(str(value), limit)  # always quoted: a source value is text


register("fhir", f"{__name__}.fhir", "FHIR R4/R4B/R5 MedicationAdministration: Bundles (JSON) or NDJSON")
register("hl7", f"{__name__}.hl7v2", "HL7 v2 RAS^O17 / RGV^O15 messages (MLLP-framed or CR/LF separated)")
register("mar", f"{__name__}.mar", "MAR event CSV: one row per charted action (New Bag, Stopped, ...)")
register("mimic", f"{__name__}.mimic", "MIMIC-IV hosp/icu folders (emar, emar_detail, pharmacy, ...)")
