"""The CMS edit loader on files in the official layouts, and the edits firing by date of service."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import encounter
from infusion_coder import Coder, Encounter
from infusion_coder.reference.cms_files import CmsFileError, read_mue, read_ptp
from infusion_coder.reference.edits import EditTables, MueEdit, PtpEdit

NOTICE = "CPT codes, descriptions and other data only are copyright American Medical Association."
PTP_HEADER = [
    "Column 1",
    "Column 2",
    "*=in existence prior to 1996",
    "Effective Date",
    "Deletion Date *=no data",
    "Modifier 0=not allowed 1=allowed 9=not applicable",
    "PTP Edit Rationale",
]
PTP_ROWS = [
    ["96374", "96372", "", "20090101", "*", "1", "Misuse of column two code with column one code"],
    ["96365", "96360", "", "20090101", "*", "1", "Standards of medical / surgical practice"],
    ["96413", "96523", "", "20100101", "*", "0", "Misuse of column two code with column one code"],
    ["96374", "96376", "", "20090101", "20250101", "1", "deleted before the test dates"],
    ["96374", "96375", "", "20270101", "*", "0", "not yet in force on the test dates"],
    ["99999", "11111", "", "20090101", "*", "1", "outside the family"],
]
MUE_HEADER = [
    "HCPCS/CPT Code",
    "Outpatient Hospital Services MUE Values",
    "MUE Adjudication Indicator",
    "MUE Rationale",
]
MUE_ROWS = [
    ["96413", "1", "2 Date of Service Edit: Policy", "Code Descriptor / CPT Instruction"],
    ["96375", "1", "3 Date of Service Edit: Clinical", "Clinical: Data"],
    ["96372", "1", "1 Line Edit", "Nature of Service/Procedure"],
]


def write_delimited(path: Path, header: list[str], rows: list[list[str]], delimiter: str) -> Path:
    lines = [NOTICE, delimiter.join(header), delimiter.join(["", "", "", "", "", "", ""][: len(header)])]
    lines += [delimiter.join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([NOTICE])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


@pytest.mark.parametrize("shape", ["txt", "csv", "xlsx"])
def test_ptp_files_in_the_official_layout(tmp_path: Path, shape: str) -> None:
    if shape == "xlsx":
        path = write_xlsx(tmp_path / "ccioph-v321r0-f1.xlsx", PTP_HEADER, PTP_ROWS)
    else:
        path = write_delimited(
            tmp_path / f"ccioph-v321r0-f1.{shape}", PTP_HEADER, PTP_ROWS, "\t" if shape == "txt" else ","
        )
    edits = read_ptp(path, codes={"96374", "96372", "96365", "96360", "96413", "96523", "96376", "96375"})
    assert [(e.column_1, e.column_2, e.modifier_indicator) for e in edits][:3] == [
        ("96374", "96372", 1),
        ("96365", "96360", 1),
        ("96413", "96523", 0),
    ]
    assert len(edits) == 5  # the pair outside the family is left out
    assert edits[0].effective == date(2009, 1, 1) and edits[0].deletion is None
    assert not edits[3].active_on(date(2026, 3, 1)) and edits[3].active_on(date(2024, 3, 1))
    assert not edits[4].active_on(date(2026, 3, 1))


def test_mue_file_takes_its_date_from_the_name(tmp_path: Path) -> None:
    path = write_delimited(
        tmp_path / "MCR_MUE_OutpatientHospitalServices_Eff_01-01-2026.csv", MUE_HEADER, MUE_ROWS, ","
    )
    edits = read_mue(path)
    assert [(e.code, e.value, e.mai) for e in edits] == [("96413", 1, 2), ("96375", 1, 3), ("96372", 1, 1)]
    assert edits[0].effective == date(2026, 1, 1)


def test_wrong_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("nothing to see\n")
    with pytest.raises(CmsFileError, match="no header row"):
        read_ptp(path)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Coder:
    """A reference folder exported and loaded through the command line, as a user would do it."""
    root = tmp_path_factory.mktemp("edits")
    data = root / "reference"
    ptp = write_delimited(root / "ccioph-v321r0-f1.txt", PTP_HEADER, PTP_ROWS, "\t")
    mue = write_delimited(
        root / "MCR_MUE_OutpatientHospitalServices_Eff_01-01-2026.csv", MUE_HEADER, MUE_ROWS, ","
    )
    cli = [sys.executable, "-m", "infusion_coder"]
    pack = data / "2026-01-01"
    for args in (
        ["reference", "export", str(data)],
        ["edits", "import", "ptp", str(ptp), "--pack", str(pack), "--setting", "outpatient-hospital"],
        ["edits", "import", "mue", str(mue), "--pack", str(pack), "--setting", "outpatient-hospital"],
    ):
        run = subprocess.run([*cli, *args], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    return Coder.default(data)


def findings(coder: Coder, admins: list[dict[str, Any]]) -> dict[str, list[str]]:
    result = coder.code(Encounter.model_validate(encounter(admins)))
    out: dict[str, list[str]] = {}
    for finding in result.findings:
        out.setdefault(finding.id, []).append(finding.message)
    return out


def test_indicator_one_pair_with_an_injection_takes_the_distinct_modifier(loaded: Coder) -> None:
    # An IM injection is at a site of its own: the column-two code carries 59 and the pair is bypassed.
    found = findings(
        loaded,
        [
            {"substance": "ondansetron", "start": "09:00", "method": "push"},
            {"substance": "ceftriaxone 1 g", "route": "intramuscular", "start": "09:10"},
        ],
    )
    assert any("96374/96372" in m for m in found["distinct-site-modifier"])
    assert any("96374/96372" in m for m in found["ncci-ptp-bypassed"])
    assert "ncci-ptp" not in found
    assert "mue-table-missing" not in found


def test_deleted_and_future_pairs_do_not_fire(loaded: Coder) -> None:
    found = findings(
        loaded,
        [
            {"substance": "ondansetron", "start": "09:00", "method": "push"},
            {"substance": "famotidine", "start": "09:10", "method": "push"},
            {"substance": "ondansetron", "start": "10:00", "method": "push"},
        ],
    )
    assert "ncci-ptp" not in found  # 96374/96376 deleted 2025-01-01, 96374/96375 starts 2027-01-01


def test_mue_per_date_adds_lines(loaded: Coder) -> None:
    found = findings(
        loaded,
        [
            {"substance": "cisplatin", "start": "09:00", "end": "10:00", "access": "port"},
            {
                "substance": "carboplatin",
                "start": "09:00",
                "end": "10:00",
                "access": "PIV",
                "separate_access_required": True,
            },
        ],
    )
    assert any("96413 x2" in m and "MUE of 1" in m for m in found["mue-exceeded"])


def test_mue_within_limit_is_silent(loaded: Coder) -> None:
    found = findings(loaded, [{"substance": "cisplatin", "start": "09:00", "end": "10:00"}])
    assert "mue-exceeded" not in found


def test_export_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep")
    run = subprocess.run(
        [sys.executable, "-m", "infusion_coder", "reference", "export", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "not empty" in run.stderr


def test_code_with_reference_folder(loaded: Coder, tmp_path: Path) -> None:
    body = encounter([{"substance": "cisplatin", "start": "09:00", "end": "10:00"}])
    path = tmp_path / "e.json"
    path.write_text(json.dumps(body))
    run = subprocess.run(
        [sys.executable, "-m", "infusion_coder", "code", str(path), "--reference", "/no/such/dir"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "cannot load reference data" in run.stderr


def test_three_accesses_keep_one_plain_initial_service(coder: Coder) -> None:
    # Two chemo pushes on two further accesses beside hydration: the first access's code can take the
    # distinct modifier for one of them (column two), the other keeps its own (found by a property).
    body = {
        "encounter_id": "p",
        "claim_type": "institutional",
        "administrations": [
            {
                "id": "a1",
                "substance": "cisplatin",
                "category": "chemotherapy",
                "route": "intravenous",
                "start": "2026-01-15T08:00",
                "separate_access_required": True,
            },
            {
                "id": "a2",
                "substance": "cisplatin",
                "category": "chemotherapy",
                "route": "intravenous",
                "start": "2026-01-15T08:00",
                "access": "line B",
                "separate_access_required": True,
            },
            {
                "id": "a3",
                "substance": "normal saline",
                "category": "hydration",
                "route": "intravenous",
                "start": "2026-01-15T08:00",
                "end": "2026-01-15T08:31",
                "access": "line A",
            },
        ],
    }
    result = coder.code_record(body)
    initial = sorted((line.code, tuple(line.modifiers)) for line in result.lines)
    assert initial == [("96360", ("59",)), ("96409", ()), ("96409", ("59",))]


# --- the tables in force on a date are kept per stretch between the rows' dates ---------------------------

_DAYS = st.dates(date(2025, 1, 1), date(2025, 1, 20))
_PTP_ROWS = st.lists(
    st.builds(
        PtpEdit,
        st.sampled_from(["96365", "96374", "96372"]),
        st.sampled_from(["96375", "96367", "J7050"]),
        st.none() | _DAYS,
        st.none() | _DAYS,
        st.sampled_from([0, 1, 9]),
    ),
    max_size=8,
)
_MUE_ROWS = st.lists(
    st.builds(
        MueEdit,
        st.sampled_from(["96365", "96374", "96372"]),
        st.integers(0, 4),
        st.sampled_from([1, 2, 3]),
        effective=st.none() | _DAYS,
        deletion=st.none() | _DAYS,
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(ptp=_PTP_ROWS, mue=_MUE_ROWS, asked=st.lists(_DAYS, min_size=1, max_size=12))
def test_tables_in_force_are_those_of_the_date(
    ptp: list[PtpEdit], mue: list[MueEdit], asked: list[date]
) -> None:
    """Whatever dates are asked and in whatever order, pairs(), by_first() and limits() give the rows in
    force on that very date (the later row of a key wins, as a dict built in row order does)."""
    tables = EditTables(ptp={"practitioner": tuple(ptp)}, mue={"practitioner": tuple(mue)})
    for day in asked:
        pairs = {(e.column_1, e.column_2): e for e in ptp if e.active_on(day)}
        assert tables.pairs("practitioner", day) == pairs
        rows: dict[str, dict[str, PtpEdit]] = {}
        for (first, second), edit in pairs.items():
            rows.setdefault(first, {})[second] = edit
        assert tables.by_first("practitioner", day) == rows
        assert tables.limits("practitioner", day) == {e.code: e for e in mue if e.active_on(day)}
