"""NCCI edit tables as versioned rows: procedure-to-procedure pairs and medically unlikely edits.

Stored per pack in `edits/ptp_<setting>.csv` and `edits/mue_<setting>.csv`, one normalised layout whatever
CMS shipped; `cms_files.py` turns the official quarterly files into it. Each row knows the dates it is in
force, so a row is asked "are you active on this date of service?". A table read from an extract of the CMS
files (the rows for some codes only) says which codes it covers in `edits/coverage.json`; a pair or a code
outside that coverage is "not evaluated", never passed silently. A table with no coverage entry covers
every code (a whole CMS file).
"""

from __future__ import annotations

import csv
import json
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
SETTINGS = ("outpatient_hospital", "practitioner")
PTP_COLUMNS = ["column_1", "column_2", "effective", "deletion", "modifier_indicator", "rationale", "source"]
MUE_COLUMNS = ["code", "value", "mai", "rationale", "effective", "deletion", "source"]


_CACHED_DATES = 4096  # (setting, date) tables kept; a batch spans far fewer dates than this
_CACHED_CODES = 65536  # (kind, setting, code) coverage answers kept; codes come from records, so bounded


def _active(effective: date | None, deletion: date | None, when: date) -> bool:
    return (effective is None or effective <= when) and (deletion is None or when < deletion)


# Where a row's source stops naming the CMS file and starts naming the public copy it was read from.
_PROVENANCE = re.compile(r",? (?:as packaged in|as generated into|as carried by|via) |; ")


_CITED: dict[str, str] = {}  # source -> cited(source): a pack has a few sources, asked once a pair fires


def cited(source: str) -> str:
    """The CMS file a row's source names, without the copy it was read through, for messages."""
    found = _CITED.get(source)
    if found is None:
        found = _PROVENANCE.split(source, maxsplit=1)[0].strip()
        if len(_CITED) >= _CACHED_CODES:
            _CITED.clear()
        _CITED[source] = found
    return found


@dataclass(frozen=True)
class PtpEdit:
    column_1: str
    column_2: str
    effective: date | None
    deletion: date | None
    modifier_indicator: int  # 0 never bypassed, 1 bypassed by an NCCI-associated modifier, 9 not applicable
    rationale: str = ""
    source: str = ""

    def active_on(self, when: date) -> bool:
        return self.modifier_indicator != 9 and _active(self.effective, self.deletion, when)


@dataclass(frozen=True)
class MueEdit:
    code: str
    value: int
    mai: int  # 1 line edit, 2 date-of-service edit (policy), 3 date-of-service edit (clinical)
    rationale: str = ""
    effective: date | None = None
    deletion: date | None = None
    source: str = ""

    def active_on(self, when: date) -> bool:
        return _active(self.effective, self.deletion, when)


@dataclass(frozen=True)
class EditTables:
    """The rows, and the tables in force on a date built once per (setting, date): the rows never change
    after loading, so the cache is as immutable in effect as they are. Callers must not mutate what
    pairs() and limits() return."""

    ptp: dict[str, tuple[PtpEdit, ...]] = field(default_factory=dict)
    mue: dict[str, tuple[MueEdit, ...]] = field(default_factory=dict)
    # table name (ptp_practitioner, ...) -> the code ranges an extract covers; absent: every code
    coverage: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    coverage_note: str = ""
    # The tables in force are the same on every date between two effective or deletion dates of the rows:
    # kept per (setting, period), the period found by bisection among those dates (_period).
    _bounds: dict[tuple[str, str], tuple[date, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _pairs: dict[tuple[str, int], dict[tuple[str, str], PtpEdit]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _by_first: dict[tuple[str, int], dict[str, dict[str, PtpEdit]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _limits: dict[tuple[str, int], dict[str, MueEdit]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _covered: dict[tuple[str, str, str], bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _settings: dict[str, SettingEdits] = field(default_factory=dict, init=False, repr=False, compare=False)

    def setting(self, setting: str) -> SettingEdits:
        """The tables of one setting, as the engine asks them for each encounter (kept once built)."""
        found = self._settings.get(setting)
        if found is None:
            found = self._settings[setting] = SettingEdits(self, setting)
        return found

    def pairs(self, setting: str, when: date) -> dict[tuple[str, str], PtpEdit]:
        key = (setting, self._period("ptp", setting, when))
        found = self._pairs.get(key)
        if found is None:
            found = {(e.column_1, e.column_2): e for e in self.ptp.get(setting, ()) if e.active_on(when)}
            if len(self._pairs) >= _CACHED_DATES:
                self._pairs.clear()
            self._pairs[key] = found
        return found

    def by_first(self, setting: str, when: date) -> dict[str, dict[str, PtpEdit]]:
        """pairs() keyed column one first: a claim's codes are looked up as rows, so a code that begins no
        pair costs one lookup, not one per code beside it."""
        key = (setting, self._period("ptp", setting, when))
        found = self._by_first.get(key)
        if found is None:
            found = {}
            for (first, second), edit in self.pairs(setting, when).items():
                found.setdefault(first, {})[second] = edit
            if len(self._by_first) >= _CACHED_DATES:
                self._by_first.clear()
            self._by_first[key] = found
        return found

    def covers(self, kind: str, setting: str, code: str) -> bool:
        """Whether the `kind` (ptp | mue) table of `setting` holds the rows for `code` at all."""
        key = (kind, setting, code)
        known = self._covered.get(key)
        if known is None:  # remembered: asked for every code of every date of every encounter
            ranges = self.coverage.get(f"{kind}_{setting}")
            known = ranges is None or any(_within(code, low, high) for low, high in ranges)
            if len(self._covered) >= _CACHED_CODES:
                self._covered.clear()
            self._covered[key] = known
        return known

    def has_mue_rows(self, setting: str, code: str) -> bool:
        """Whether the MUE table has a row for `code` on any date (so a date without one is not evaluated)."""
        return any(edit.code == code for edit in self.mue.get(setting, ()))

    def limits(self, setting: str, when: date) -> dict[str, MueEdit]:
        key = (setting, self._period("mue", setting, when))
        found = self._limits.get(key)
        if found is None:
            found = {e.code: e for e in self.mue.get(setting, ()) if e.active_on(when)}
            if len(self._limits) >= _CACHED_DATES:
                self._limits.clear()
            self._limits[key] = found
        return found

    def _period(self, kind: str, setting: str, when: date) -> int:
        """Which stretch between the rows' effective and deletion dates `when` falls in: on every date of
        one stretch the same rows are in force (a row starts on its effective date, ends before its
        deletion date, and no such date lies inside a stretch)."""
        bounds = self._bounds.get((kind, setting))
        if bounds is None:
            rows: Iterable[PtpEdit | MueEdit] = (
                self.ptp.get(setting, ()) if kind == "ptp" else self.mue.get(setting, ())
            )
            bounds = tuple(sorted({d for e in rows for d in (e.effective, e.deletion) if d is not None}))
            self._bounds[(kind, setting)] = bounds
        return bisect_right(bounds, when)


class SettingEdits:
    """One setting's edit tables, asked per date of service and per code: the answers of EditTables kept
    in dicts keyed by the date or the code alone, so an encounter's lookups are one dict get each."""

    def __init__(self, tables: EditTables, setting: str) -> None:
        self.tables = tables
        self.setting = setting
        self.has_ptp = bool(tables.ptp.get(setting))
        self.has_mue = bool(tables.mue.get(setting))
        # codes with an MUE row on any date (EditTables.has_mue_rows)
        self.mue_codes = frozenset(edit.code for edit in tables.mue.get(setting, ()))
        self._rows: dict[date, dict[str, dict[str, PtpEdit]]] = {}
        self._limits: dict[date, dict[str, MueEdit]] = {}
        self._ptp_covered: dict[str, bool] = {}
        self._mue_covered: dict[str, bool] = {}

    def rows(self, when: date) -> dict[str, dict[str, PtpEdit]]:
        """EditTables.by_first on this setting."""
        found = self._rows.get(when)
        if found is None:
            found = self.tables.by_first(self.setting, when)
            if len(self._rows) >= _CACHED_DATES:
                self._rows.clear()
            self._rows[when] = found
        return found

    def limits(self, when: date) -> dict[str, MueEdit]:
        """EditTables.limits on this setting."""
        found = self._limits.get(when)
        if found is None:
            found = self.tables.limits(self.setting, when)
            if len(self._limits) >= _CACHED_DATES:
                self._limits.clear()
            self._limits[when] = found
        return found

    def covers_ptp(self, code: str) -> bool:
        known = self._ptp_covered.get(code)
        if known is None:
            known = self.tables.covers("ptp", self.setting, code)
            if len(self._ptp_covered) >= _CACHED_CODES:
                self._ptp_covered.clear()
            self._ptp_covered[code] = known
        return known

    def covers_mue(self, code: str) -> bool:
        known = self._mue_covered.get(code)
        if known is None:
            known = self.tables.covers("mue", self.setting, code)
            if len(self._mue_covered) >= _CACHED_CODES:
                self._mue_covered.clear()
            self._mue_covered[code] = known
        return known


def _within(code: str, low: str, high: str) -> bool:
    """`code` in low-high: codes of one shape (five digits, or a letter and four digits) compare as text."""
    code = code.upper()
    shape = (len(code), code[:1].isdigit())
    return shape == (len(low), low[:1].isdigit()) and low <= code <= high


def _read_coverage(path: Path) -> tuple[dict[str, tuple[tuple[str, str], ...]], str]:
    if not path.exists():
        return {}, ""
    raw = json.loads(path.read_text())
    coverage: dict[str, tuple[tuple[str, str], ...]] = {}
    for table, ranges in raw["tables"].items():
        pairs = []
        for item in ranges:
            low, _, high = item.partition("-")
            pairs.append((low.upper(), (high or low).upper()))
        coverage[table] = tuple(pairs)
    return coverage, raw.get("covers", "")


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _text(day: date | None) -> str:
    return day.isoformat() if day else ""


def _read(path: Path, build: Callable[[dict[str, str]], T]) -> tuple[T, ...] | None:
    if not path.exists():
        return None
    with path.open(newline="") as handle:
        return tuple(build(row) for row in csv.DictReader(handle))


def _ptp_row(r: dict[str, str]) -> PtpEdit:
    return PtpEdit(
        r["column_1"],
        r["column_2"],
        _day(r["effective"]),
        _day(r["deletion"]),
        int(r["modifier_indicator"]),
        r["rationale"],
        r["source"],
    )


def _mue_row(r: dict[str, str]) -> MueEdit:
    return MueEdit(
        r["code"],
        int(r["value"]),
        int(r["mai"]),
        r["rationale"],
        _day(r["effective"]),
        _day(r["deletion"]),
        r["source"],
    )


def read_tables(folder: Path) -> EditTables:
    ptp = {s: rows for s in SETTINGS if (rows := _read(folder / f"ptp_{s}.csv", _ptp_row)) is not None}
    mue = {s: caps for s in SETTINGS if (caps := _read(folder / f"mue_{s}.csv", _mue_row)) is not None}
    coverage, note = _read_coverage(folder / "coverage.json")
    return EditTables(ptp, mue, coverage, note)


def _write(path: Path, header: list[str], rows: Iterable[list[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_ptp(path: Path, rows: list[PtpEdit]) -> None:
    _write(
        path,
        PTP_COLUMNS,
        (
            [
                e.column_1,
                e.column_2,
                _text(e.effective),
                _text(e.deletion),
                e.modifier_indicator,
                e.rationale,
                e.source,
            ]
            for e in rows
        ),
    )


def write_mue(path: Path, rows: list[MueEdit]) -> None:
    _write(
        path,
        MUE_COLUMNS,
        (
            [e.code, e.value, e.mai, e.rationale, _text(e.effective), _text(e.deletion), e.source]
            for e in rows
        ),
    )
