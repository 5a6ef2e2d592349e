"""The work queue: a `batch` output folder (results, lines, drug_lines, findings, differences and errors as
Parquet, JSON Lines or CSV) as a server-side work list a coder pages, sorts, filters, annotates and exports.

Beside the tables, the folder gets one SQLite file, `queue.sqlite`:
- `reviews`: each encounter's status (to review, reviewed, query sent) and note, kept across reloads,
  coders and server restarts. Only this table holds anything a person typed.
- `entries` and `entry_findings`: an index of one row per result (readiness, dates of service, money at
  stake, lines and findings in short), rebuilt from the tables when they change. Listing, sorting and
  paging are then one indexed SQLite query whatever the batch's size.

The encounters themselves are optional: `encounters.jsonl` in the folder (one per input record, in input
order, as the page's upload writes it) lets an opened encounter show its administrations on the timeline.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.audit import differences
from ..models import CodingResult
from ..reference import ReferenceLibrary

STATUSES = ("to review", "reviewed", "query sent")
READINESS_ORDER = {"error": 0, "hold": 1, "ready_with_warnings": 2, "ready": 3}
READINESS_LABEL = {
    "error": "unreadable",
    "hold": "hold",
    "ready_with_warnings": "ready with warnings",
    "ready": "ready",
}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
PAGE_SIZE = 50
MAX_NOTE = 2000
DB_NAME = "queue.sqlite"
ENCOUNTERS_NAME = "encounters.jsonl"
TABLE_SUFFIXES = (".parquet", ".jsonl", ".csv")
INDEX_VERSION = 2
QUEUE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")

# sort keys of the list: column (with a tie-break on input order) per name
SORTS = {
    "readiness": "e.readiness_rank",
    "date": "e.date_from",
    "amount": "e.amount",
    "finding": "e.top_finding_rank, e.top_finding",
    "encounter": "e.encounter_id",
    "status": "status_rank",
    "seq": "e.seq",
}


class QueueError(Exception):
    """A folder that is not a queue, or a request the queue cannot answer; the message says why."""


def table_path(folder: Path, name: str) -> Path | None:
    for suffix in TABLE_SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def is_queue_folder(folder: Path) -> bool:
    return folder.is_dir() and table_path(folder, "results") is not None


@dataclass(frozen=True)
class Query:
    """What the list shows: filters, sort and page, as in the URL (`?readiness=hold&sort=-amount&page=2`)."""

    readiness: str = ""
    finding: str = ""
    status: str = ""
    text: str = ""  # encounter id contains
    sort: str = "readiness"
    page: int = 1

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-") if self.sort.lstrip("-") in SORTS else "readiness"

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def params(self, **changes: Any) -> dict[str, str]:
        """URL parameters of this view with some changed; defaults left out so URLs stay short."""
        values = {
            "readiness": self.readiness,
            "finding": self.finding,
            "status": self.status,
            "q": self.text,
            "sort": self.sort,
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        defaults = {"sort": "readiness", "page": "1"}
        return {k: v for k, v in values.items() if v and defaults.get(k) != v}


@dataclass
class Entry:
    seq: int
    encounter_id: str
    readiness: str
    date_from: str | None
    date_to: str | None
    amount: float | None
    amount_unknown: int
    lines: str
    drugs: str
    units: int
    findings: str
    top_finding: str
    errors: int
    warnings: int
    message: str
    status: str
    note: str
    updated: str | None

    @property
    def chips(self) -> list[str]:
        return [part for part in self.lines.split(", ") if part]

    @property
    def finding_list(self) -> tuple[list[str], int]:
        """The first four findings of the row (errors first) and how many more there are."""
        parts = [part for part in self.findings.split(", ") if part]
        return parts[:4], max(0, len(parts) - 4)

    @property
    def readiness_label(self) -> str:
        return READINESS_LABEL.get(self.readiness, self.readiness)


@dataclass
class Listing:
    entries: list[Entry]
    total: int  # rows matching the filters
    all_rows: int  # rows in the queue
    page: int
    pages: int
    tally: dict[str, int] = field(default_factory=dict)  # readiness -> rows (whole queue)
    status_tally: dict[str, int] = field(default_factory=dict)
    findings: list[tuple[str, str, int]] = field(default_factory=list)  # id, severity, encounters


class Queue:
    """One batch output folder and its queue.sqlite."""

    def __init__(self, folder: Path, reference: ReferenceLibrary, *, name: str | None = None) -> None:
        if not is_queue_folder(folder):
            raise QueueError(f"{folder} holds no batch output (results.parquet, .jsonl or .csv)")
        self.folder = folder
        self.name = name or folder.name
        self.reference = reference
        self.db = folder / DB_NAME
        self.kind = "audit" if self._has_differences() else "coding"
        with self._connect() as db:
            self._prepare(db)

    # ------------------------------------------------------------------------------------------ storage

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # one connection per call: requests run in threads, and a second server process may share the file
        with closing(sqlite3.connect(self.db, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            with db:
                yield db

    def _fingerprint(self) -> str:
        parts = [str(INDEX_VERSION)]
        for name in ("results", "lines", "drug_lines", "findings", "differences", "errors"):
            path = table_path(self.folder, name)
            if path is not None:
                stat = path.stat()
                parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
        return "|".join(parts)

    def _prepare(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS reviews (
                seq INTEGER PRIMARY KEY, encounter_id TEXT, status TEXT NOT NULL, note TEXT NOT NULL,
                updated TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            """
        )
        row = db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        fingerprint = self._fingerprint()
        if row is None or row["value"] != fingerprint:
            self._build_index(db)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))

    def _read(self, name: str, columns: str = "*", seq: int | None = None) -> list[dict[str, Any]]:
        import duckdb  # imported here: the rest of the service does not need it

        path = table_path(self.folder, name)
        if path is None:
            return []
        if path.suffix == ".parquet":
            source = "read_parquet(?)"
        elif path.suffix == ".jsonl":
            if path.stat().st_size == 0:
                return []
            source = "read_json_auto(?, format='newline_delimited')"
        else:
            if path.stat().st_size == 0:
                return []
            source = "read_csv_auto(?, header=true, all_varchar=true)"
        with closing(duckdb.connect()) as con:
            try:
                where = "" if seq is None else " WHERE CAST(seq AS BIGINT) = ?"
                args: list[Any] = [str(path)] if seq is None else [str(path), seq]
                relation = con.execute(f"SELECT {columns} FROM {source}{where}", args)
            except duckdb.Error as exc:
                raise QueueError(f"cannot read {path.name}: {str(exc).splitlines()[0][:200]}") from exc
            names = [d[0] for d in relation.description]
            return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]

    def _has_differences(self) -> bool:
        path = table_path(self.folder, "differences")
        if path is None:
            return False
        rows = self._read("differences", "count(*) AS n")
        return bool(rows and rows[0]["n"])

    def _build_index(self, db: sqlite3.Connection) -> None:
        results = self._read("results", "seq, encounter_id, status, readiness, policy, reference_version")
        # only the columns the index needs: the explanations are read when an encounter is opened
        lines_by = _by_seq(self._read("lines", "seq, ordinal, code, units, modifiers, date, rule"))
        drugs_by = _by_seq(self._read("drug_lines", "seq, ordinal, hcpcs, units, modifiers, date, rule"))
        findings_by = _by_seq(self._read("findings", "seq, ordinal, id, severity, rule"))
        diffs_by = _by_seq(self._read("differences", "seq, ordinal, amount"))
        errors = {int(row["seq"]): row for row in self._read("errors")}
        db.executescript(
            """
            DROP TABLE IF EXISTS entries; DROP TABLE IF EXISTS entry_findings;
            CREATE TABLE entries (
                seq INTEGER PRIMARY KEY, encounter_id TEXT NOT NULL, readiness TEXT NOT NULL,
                readiness_rank INTEGER NOT NULL, date_from TEXT, date_to TEXT, amount REAL,
                amount_unknown INTEGER NOT NULL, lines TEXT NOT NULL, drugs TEXT NOT NULL,
                units INTEGER NOT NULL,
                findings TEXT NOT NULL, top_finding TEXT NOT NULL, top_finding_rank INTEGER NOT NULL,
                errors INTEGER NOT NULL, warnings INTEGER NOT NULL, message TEXT NOT NULL);
            CREATE TABLE entry_findings (seq INTEGER, id TEXT, severity TEXT, n INTEGER);
            CREATE INDEX entry_findings_id ON entry_findings (id, seq);
            CREATE INDEX entries_encounter ON entries (encounter_id);
            """
        )
        rows: list[tuple[Any, ...]] = []
        finding_rows: list[tuple[int, str, str, int]] = []
        for result in results:
            seq = int(result["seq"])
            encounter_id = "" if result["encounter_id"] is None else str(result["encounter_id"])
            if result["status"] == "error" or seq in errors:
                error = errors.get(seq, {})
                message = str(error.get("message") or "this record could not be coded")
                rows.append(
                    (seq, encounter_id, "error", 0, None, None, None, 0, "", "", 0, "", "", 9, 0, 0, message)
                )
                continue
            lines, drugs = lines_by.get(seq, []), drugs_by.get(seq, [])
            findings = findings_by.get(seq, [])
            dates = sorted(str(r["date"])[:10] for r in [*lines, *drugs] if r.get("date"))
            amount, unknown = self._money(result, lines, drugs, findings, diffs_by.get(seq))
            counts = Counter((f["severity"], f["id"]) for f in findings)
            ordered = sorted(
                counts.items(), key=lambda kv: (SEVERITY_ORDER.get(kv[0][0], 3), -kv[1], kv[0][1])
            )
            shown = [f"{fid} x{n}" if n > 1 else fid for (sev, fid), n in ordered if sev != "info"]
            top = ordered[0][0] if ordered else ("", "")
            for (severity, fid), n in ordered:
                finding_rows.append((seq, fid, severity, n))
            rows.append(
                (
                    seq,
                    encounter_id,
                    str(result["readiness"] or "ready"),
                    READINESS_ORDER.get(str(result["readiness"]), 3),
                    dates[0] if dates else None,
                    dates[-1] if dates else None,
                    amount,
                    unknown,
                    line_summary(lines),
                    line_summary(drugs),
                    sum(int(r["units"] or 0) for r in lines),
                    ", ".join(shown),
                    top[1],
                    SEVERITY_ORDER.get(top[0], 3),
                    sum(n for (sev, _), n in counts.items() if sev == "error"),
                    sum(n for (sev, _), n in counts.items() if sev == "warning"),
                    "",
                )
            )
        db.executemany(f"INSERT INTO entries VALUES ({', '.join('?' * 17)})", rows)
        db.executemany("INSERT INTO entry_findings VALUES (?, ?, ?, ?)", finding_rows)

    def _money(
        self,
        result: dict[str, Any],
        lines: list[dict[str, Any]],
        drugs: list[dict[str, Any]],
        findings: list[dict[str, Any]],
        diffs: list[dict[str, Any]] | None,
    ) -> tuple[float | None, int]:
        """Money at stake: for an audit, the differences' amounts; for coding, the Medicare figure of the
        lines the record supports (what is lost if the encounter is not billed)."""
        if self.kind == "audit":
            known = [float(d["amount"]) for d in diffs or [] if d.get("amount") is not None]
            unknown = sum(1 for d in diffs or [] if d.get("amount") is None)
            return (round(sum(known), 2) if known or not unknown else None), unknown
        if not lines and not drugs:
            return 0.0, 0
        pack = next(
            (p for p in self.reference.packs if p.version == result.get("reference_version")),
            self.reference.latest,
        )
        # only what the audit's pricing reads (no explanations, no intervals), so that indexing a large
        # batch stays fast
        coded = CodingResult.model_validate(
            {
                "encounter_id": str(result["encounter_id"]),
                "lines": [_priced(r, "code") for r in lines],
                "drug_lines": [_priced(r, "hcpcs") for r in drugs],
                "findings": [
                    {"id": str(f["id"]), "rule": f.get("rule"), "severity": f["severity"], "message": ""}
                    for f in findings
                    if f.get("rule") == "IC701"
                ],
                "policy": result.get("policy") or "cms",
                "reference_version": result.get("reference_version") or pack.version,
            }
        )
        found = differences(coded, [], pack)
        known = [d.amount for d in found if d.amount is not None]
        unknown = sum(1 for d in found if d.amount is None)
        return (round(sum(known), 2) if known or not unknown else None), unknown

    # --------------------------------------------------------------------------------------------- list

    def listing(self, query: Query, *, page_size: int | None = PAGE_SIZE) -> Listing:
        where, args = self._where(query)
        direction = "DESC" if query.descending else "ASC"
        columns = SORTS[query.sort_key].split(", ")
        # missing values (no date, no amount) last whichever the direction
        order = ", ".join(f"{c} IS NULL, {c} {direction}" for c in columns) + ", e.seq ASC"
        with self._connect() as db:
            total = db.execute(f"SELECT count(*) FROM entries e {where}", args).fetchone()[0]
            pages = max(1, -(-total // page_size)) if page_size else 1
            page = min(max(1, query.page), pages)
            limit = f"LIMIT {int(page_size)} OFFSET {(page - 1) * int(page_size)}" if page_size else ""
            rows = db.execute(
                f"""SELECT e.*, coalesce(r.status, 'to review') AS status, coalesce(r.note, '') AS note,
                    r.updated AS updated FROM entries e LEFT JOIN reviews r ON r.seq = e.seq {where}
                    ORDER BY {order} {limit}""".replace("status_rank", _STATUS_RANK),
                args,
            ).fetchall()
            tally = dict(db.execute("SELECT readiness, count(*) FROM entries GROUP BY readiness").fetchall())
            all_rows = sum(tally.values())
            status_tally = dict(
                db.execute(
                    "SELECT coalesce(r.status, 'to review'), count(*) FROM entries e "
                    "LEFT JOIN reviews r ON r.seq = e.seq GROUP BY 1"
                ).fetchall()
            )
            findings = [
                (row[0], row[1], row[2])
                for row in db.execute(
                    "SELECT id, min(severity), count(DISTINCT seq) FROM entry_findings GROUP BY id "
                    "ORDER BY min(CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END), id"
                ).fetchall()
            ]
        return Listing(
            [_entry(row) for row in rows], total, all_rows, page, pages, tally, status_tally, findings
        )

    def neighbours(self, query: Query, seq: int) -> tuple[Entry | None, Entry | None, int, int]:
        """The rows before and after `seq` in the list `query` shows (all pages), its position and the
        list's length; position 0 when the row is not in that list (a filter no longer matches it)."""
        where, args = self._where(query)
        direction = "DESC" if query.descending else "ASC"
        columns = SORTS[query.sort_key].split(", ")
        order = ", ".join(f"{c} IS NULL, {c} {direction}" for c in columns) + ", e.seq ASC"
        with self._connect() as db:
            seqs = [
                int(row[0])
                for row in db.execute(
                    f"SELECT e.seq FROM entries e LEFT JOIN reviews r ON r.seq = e.seq {where} ORDER BY {order}".replace(
                        "status_rank", _STATUS_RANK
                    ),
                    args,
                ).fetchall()
            ]
            ids = {}
            if seq in seqs:
                at = seqs.index(seq)
                wanted = [
                    s
                    for s in (seqs[at - 1] if at else None, seqs[at + 1] if at + 1 < len(seqs) else None)
                    if s is not None
                ]
                for other in wanted:
                    row = db.execute("SELECT encounter_id FROM entries WHERE seq = ?", (other,)).fetchone()
                    ids[other] = row[0]
        if seq not in seqs:
            return None, None, 0, len(seqs)
        at = seqs.index(seq)
        before = self.find(ids[seqs[at - 1]], seqs[at - 1]) if at else None
        after = self.find(ids[seqs[at + 1]], seqs[at + 1]) if at + 1 < len(seqs) else None
        return before, after, at + 1, len(seqs)

    def _where(self, query: Query) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if query.readiness:
            clauses.append("e.readiness = ?")
            args.append(query.readiness)
        if query.finding:
            clauses.append("e.seq IN (SELECT seq FROM entry_findings WHERE id = ?)")
            args.append(query.finding)
        if query.status:
            clauses.append("coalesce((SELECT status FROM reviews WHERE seq = e.seq), 'to review') = ?")
            args.append(query.status)
        if query.text:
            clauses.append("instr(lower(e.encounter_id), ?) > 0")
            args.append(query.text.lower())
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", args

    # ------------------------------------------------------------------------------------- one encounter

    def find(self, encounter_id: str, seq: int | None = None) -> Entry | None:
        with self._connect() as db:
            select = (
                "SELECT e.*, coalesce(r.status, 'to review') AS status, coalesce(r.note, '') AS note, "
                "r.updated AS updated FROM entries e LEFT JOIN reviews r ON r.seq = e.seq "
            )
            if seq is not None:
                row = db.execute(select + "WHERE e.seq = ? AND e.encounter_id = ?", (seq, encounter_id))
            else:
                row = db.execute(select + "WHERE e.encounter_id = ? ORDER BY e.seq LIMIT 1", (encounter_id,))
            found = row.fetchone()
        return _entry(found) if found is not None else None

    def duplicates(self, encounter_id: str) -> list[int]:
        with self._connect() as db:
            rows = db.execute("SELECT seq FROM entries WHERE encounter_id = ? ORDER BY seq", (encounter_id,))
            return [int(r[0]) for r in rows.fetchall()]

    def result(self, seq: int) -> dict[str, Any]:
        """The result of one record as the API answers it, from the tables."""
        head = self._read_one("results", seq)
        if head is None:
            raise QueueError(f"no result with seq {seq}")
        whole = head.get("result")
        if isinstance(whole, str) and whole.startswith("{"):
            try:
                value: dict[str, Any] = json.loads(whole)
                return value
            except ValueError:
                pass
        if head.get("status") == "error":
            error = self._read_one("errors", seq) or {}
            return {
                "encounter_id": head.get("encounter_id"),
                "error": {"message": error.get("message") or "not coded", "field": error.get("field")},
            }
        out: dict[str, Any] = {
            "encounter_id": head.get("encounter_id"),
            "readiness": head.get("readiness"),
            "policy": head.get("policy"),
            "reference_version": head.get("reference_version"),
            "lines": [_plain(r) for r in self._read_seq("lines", seq)],
            "drug_lines": [_plain(r) for r in self._read_seq("drug_lines", seq)],
            "findings": [_plain(r) for r in self._read_seq("findings", seq)],
        }
        diffs = self._read_seq("differences", seq)
        if diffs:
            out["differences"] = [_plain(r) for r in diffs]
        return out

    def _read_one(self, name: str, seq: int) -> dict[str, Any] | None:
        rows = self._read_seq(name, seq)
        return rows[0] if rows else None

    def _read_seq(self, name: str, seq: int) -> list[dict[str, Any]]:
        if table_path(self.folder, name) is None:
            return []
        rows = self._read(name, seq=seq)
        return sorted(rows, key=lambda r: int(r.get("ordinal") or 0))

    def encounter(self, seq: int, encounter_id: str) -> dict[str, Any] | None:
        """The input encounter of a result, when the folder keeps them (encounters.jsonl, input order)."""
        path = self.folder / ENCOUNTERS_NAME
        if not path.is_file():
            return None
        with path.open("rb") as stream:
            for number, line in enumerate(stream):
                if number == seq:
                    try:
                        value = json.loads(line)
                    except ValueError:
                        return None
                    if isinstance(value, dict) and str(value.get("encounter_id")) == encounter_id:
                        return value
                    break
        return None

    # ----------------------------------------------------------------------------------------- reviews

    def review(self, seq: int, status: str, note: str) -> Entry:
        if status not in STATUSES:
            raise QueueError(f"unknown status {status[:40]!r}; known: {', '.join(STATUSES)}")
        with self._connect() as db:
            row = db.execute("SELECT encounter_id FROM entries WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                raise QueueError(f"no result with seq {seq}")
            db.execute(
                "INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?)",
                (seq, row[0], status, note[:MAX_NOTE], dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
            )
        found = self.find(row[0], seq)
        assert found is not None
        return found

    # ----------------------------------------------------------------------------------------- exports

    def export_rows(self, query: Query) -> tuple[list[str], list[list[Any]]]:
        listing = self.listing(query, page_size=None)
        header = [
            "seq",
            "encounter_id",
            "readiness",
            "date_from",
            "date_to",
            "amount_at_stake_usd",
            "amounts_unknown",
            "lines",
            "drug_lines",
            "findings",
            "errors",
            "warnings",
            "status",
            "note",
            "updated",
            "message",
        ]
        rows = [
            [
                e.seq,
                e.encounter_id,
                e.readiness,
                e.date_from,
                e.date_to,
                e.amount,
                e.amount_unknown,
                e.lines,
                e.drugs,
                e.findings,
                e.errors,
                e.warnings,
                e.status,
                e.note,
                e.updated,
                e.message,
            ]
            for e in listing.entries
        ]
        return header, rows


_STATUS_RANK = (
    "CASE coalesce(r.status, 'to review') WHEN 'to review' THEN 0 WHEN 'query sent' THEN 1 ELSE 2 END"
)


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(
        seq=int(row["seq"]),
        encounter_id=row["encounter_id"],
        readiness=row["readiness"],
        date_from=row["date_from"],
        date_to=row["date_to"],
        amount=row["amount"],
        amount_unknown=int(row["amount_unknown"]),
        lines=row["lines"],
        drugs=row["drugs"],
        units=int(row["units"]),
        findings=row["findings"],
        top_finding=row["top_finding"],
        errors=int(row["errors"]),
        warnings=int(row["warnings"]),
        message=row["message"],
        status=row["status"],
        note=row["note"],
        updated=row["updated"],
    )


def _by_seq(rows: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (int(r["seq"]), int(r.get("ordinal") or 0))):
        out[int(row["seq"])].append(row)
    return out


def _priced(row: dict[str, Any], code: str) -> dict[str, Any]:
    """A line or drug line row with only what pricing reads (code, units, modifiers, date, rule)."""
    return {
        code: str(row[code]),
        "units": int(row["units"] or 0),
        "modifiers": _as_list(row.get("modifiers")),
        "date": _day(row.get("date")),
        "administrations": [],
        "explanation": "",
        "rule": str(row.get("rule") or ""),
    }


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A table row as the contract's JSON: no bookkeeping columns, lists from CSV's JSON text, dates as text."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("seq", "ordinal", "encounter_id"):
            continue
        if isinstance(value, str) and value[:1] in "[{" and key in _LIST_COLUMNS:
            with suppress(ValueError):
                value = json.loads(value)
        if key in _LIST_COLUMNS and (value is None or isinstance(value, str)):
            value = _spreadsheet_list(key, value)  # CSV: `;`-joined text, an interval as start/end
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, list):
            value = [v.isoformat() if isinstance(v, dt.date) else v for v in value]
        if key in ("units", "minutes", "billed_units", "supported_units") and isinstance(value, str):
            value = int(value) if value.strip() else None
        if key == "amount" and isinstance(value, str):
            value = float(value) if value.strip() else None
        if value == "" and key in ("ndc", "denial_risk", "rule", "remark", "basis", "date"):
            value = None
        out[key] = value
    return out


def _spreadsheet_list(key: str, value: str | None) -> list[Any]:
    items = [v for v in (value or "").split(";") if v]
    if key == "intervals":
        return [dict(zip(("start", "end"), item.split("/", 1), strict=False)) for item in items]
    return items


_LIST_COLUMNS = frozenset(
    {
        "modifiers",
        "administrations",
        "intervals",
        "billed_modifiers",
        "supported_modifiers",
        "rules",
        "billed_dates",
        "supported_dates",
    }
)


def line_summary(lines: Sequence[dict[str, Any]], drugs: Sequence[dict[str, Any]] = ()) -> str:
    """Lines aggregated by code and modifiers, in first-seen order: '96360 x1, 96361 x10, 96376 x30'."""
    units: dict[str, int] = {}
    for row in [*lines, *drugs]:
        code = row.get("code") or row.get("hcpcs") or "?"
        modifiers = _as_list(row.get("modifiers"))
        key = f"{code}-{'-'.join(modifiers)}" if modifiers else str(code)
        units[key] = units.get(key, 0) + int(row.get("units") or 0)
    return ", ".join(f"{key} x{n}" for key, n in units.items())


def _day(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [v for v in re.split(r"[;,\s]+", value) if v]
        return [str(v) for v in parsed] if isinstance(parsed, list) else [str(parsed)]
    return [str(v) for v in value]


def csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else _safe_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def xlsx_bytes(header: list[str], rows: list[list[Any]], title: str) -> bytes:
    """The rows as an .xlsx workbook; raises ImportError when openpyxl (the `xlsx` extra) is missing."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31] or "queue")
    sheet.append(header)
    for row in rows:
        sheet.append([_safe_cell(v) if isinstance(v, str) else v for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _safe_cell(value: Any) -> Any:
    # a note starting with = + - @ would run as a formula in a spreadsheet (CSV injection)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def xlsx_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("openpyxl") is not None


# ------------------------------------------------------------------------------------------- the home


class QueueHome:
    """Where the server's queues are. `serve --queue DIR`: DIR is one batch output folder (that queue), or a
    folder of them (each a queue, and uploads become new ones there). Without a folder that can hold
    uploads, uploaded queues live in a temporary folder removed when the server stops."""

    def __init__(self, reference: ReferenceLibrary, path: Path | None = None) -> None:
        self.reference = reference
        self.single: Path | None = None
        self.temporary = False
        self._tmp: Any = None
        if path is not None and is_queue_folder(path):
            self.single = path
            self.home = self._temporary_home()
        elif path is not None:
            if path.exists() and not path.is_dir():
                raise QueueError(f"{path} is not a folder")
            path.mkdir(parents=True, exist_ok=True)
            self.home = path
        else:
            self.home = self._temporary_home()
        self._open: dict[str, Queue] = {}

    def _temporary_home(self) -> Path:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="infusion-coder-queues-")
        self.temporary = True
        return Path(self._tmp.name)

    def folders(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        if self.single is not None:
            found[_safe_name(self.single.name)] = self.single
        for child in sorted(self.home.iterdir()) if self.home.is_dir() else []:
            if is_queue_folder(child) and QUEUE_ID.match(child.name):
                found.setdefault(child.name, child)
        return found

    def get(self, name: str) -> Queue:
        folder = self.folders().get(name)
        if folder is None:
            raise KeyError(name)
        queue = self._open.get(name)
        if queue is None or queue.folder != folder:
            queue = Queue(folder, self.reference, name=name)
            self._open[name] = queue
        else:
            with queue._connect() as db:  # the tables may have been rewritten: refresh the index
                queue._prepare(db)
        return queue

    def new_folder(self, hint: str) -> tuple[str, Path]:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        base = _safe_name(f"{Path(hint).stem[:40]}-{stamp}" if hint else stamp)
        name, number = base, 1
        while (self.home / name).exists():
            number += 1
            name = f"{base}-{number}"
        return name, self.home / name


def _safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "queue"
    return name[:80] if QUEUE_ID.match(name[:80]) else f"q-{name}"[:80]
