"""The substance table's HCPCS drug codes and billing units agree with the CMS ASP files of the quarter, and
the bundled crosswalk is the CMS one reduced (reads ../shared/data/cms; skipped when it is absent)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from infusion_coder import Coder
from infusion_coder.reference import ndc_candidates

CMS = Path(__file__).resolve().parents[2] / "shared" / "data" / "cms"
LIMITS = CMS / "asp_payment_limit_2026q1_jan.csv"
CROSSWALK = CMS / "asp_ndc_hcpcs_crosswalk_2026q1_jan.csv"
needs_cms = pytest.mark.skipif(not LIMITS.exists(), reason=f"CMS ASP files not found under {CMS}")


def _table(path: Path, first_header: str) -> list[list[str]]:
    rows = list(csv.reader(path.open(encoding="utf-8-sig", errors="replace")))
    start = next(i for i, row in enumerate(rows) if row and row[0].strip() == first_header)
    return [[cell.strip() for cell in row] for row in rows[start + 1 :] if row and row[0].strip()]


def unit_form(text: str) -> str:
    """A billing unit as CMS and the table both write it: "up to 1000 mL" and "1000 CC" meet."""
    text = text.lower().replace(",", "")
    text = re.sub(r"^(up to|per)\s+", "", text.strip())
    text = re.sub(r"\s*\(.*\)$", "", text)  # "300 mcg (1500 iu)"
    text = re.sub(r"\bcc\b", "ml", text)
    text = re.sub(r"\bgm\b", "g", text)
    text = re.sub(r"\bunit\b", "units", text)
    return " ".join(text.split())


@needs_cms
def test_every_hcpcs_code_and_billing_unit_agrees_with_cms(coder: Coder) -> None:
    cms: dict[str, set[str]] = {}
    for row in _table(LIMITS, "HCPCS Code"):
        cms.setdefault(row[0], set()).add(unit_form(row[2]))
    for code, units in coder.reference.latest.crosswalk.codes().items():
        cms.setdefault(code, set()).update(unit_form(u) for u in units)
    problems = []
    for entry in coder.reference.latest.substances.entries.values():
        if entry.hcpcs is None:
            continue
        if entry.hcpcs in cms:
            if unit_form(entry.billing_unit or "") not in cms[entry.hcpcs]:
                problems.append(
                    f"{entry.name}: {entry.hcpcs} per {entry.billing_unit!r}, CMS {sorted(cms[entry.hcpcs])}"
                )
        elif not entry.cms_check.startswith("not in the CMS ASP files"):
            problems.append(
                f"{entry.name}: {entry.hcpcs} is in neither CMS file and cms_check does not say why"
            )
    assert not problems, "\n".join(problems)


@needs_cms
def test_bundled_crosswalk_is_the_cms_crosswalk(coder: Coder) -> None:
    source = {}
    for row in _table(CROSSWALK, "_2026_CODE"):
        forms = ndc_candidates(row[3])
        if len(forms) == 1 and re.fullmatch(r"\d{5}-\d{4}-\d{2}", row[3]):
            source.setdefault(forms[0], set()).add((row[0], row[5]))
    bundled = {
        ndc: {(p.hcpcs, p.billing_unit) for p in products}
        for ndc, products in coder.reference.latest.crosswalk.products.items()
    }
    assert bundled == source


@pytest.mark.parametrize(
    ("written", "eleven"),
    [
        ("0409-4755-03", "00409475503"),  # 4-4-2
        ("00409-4755-03", "00409475503"),  # 5-4-2
        ("12345-678-90", "12345067890"),  # 5-3-2
        ("12345-6789-0", "12345678900"),  # 5-4-1
        ("00409475503", "00409475503"),
    ],
)
def test_ndc_forms_normalise_to_eleven_digits(written: str, eleven: str) -> None:
    assert ndc_candidates(written) == [eleven]


def test_ten_bare_digits_are_resolved_by_the_crosswalk(coder: Coder) -> None:
    products = coder.reference.latest.crosswalk.lookup("0409475503")
    assert {p.hcpcs for p in products} == {"J2405"}
