"""The reference data packs: loading, version choice, substance matching, policy profiles."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from infusion_coder import Coder
from infusion_coder.reference import DATA_DIR, load_library


def test_substance_matching_is_whole_word_and_longest_first(coder: Coder) -> None:
    table = coder.reference.latest.substances
    assert [s.name for s in table.match("Levoleucovorin 200 mg")] == ["levoleucovorin"]
    assert [s.name for s in table.match("Folinic acid (leucovorin)")] == ["leucovorin"]
    assert [s.name for s in table.match("Zofran 4 mg IVP")] == ["ondansetron"]
    assert [s.name for s in table.match("saline flush 10 mL")] == ["saline flush"]
    assert [s.name for s in table.match("dexmedetomidine drip")] == ["dexmedetomidine"]  # not "dex"
    assert table.match("xylocaine-free gel") == []


def test_every_drug_has_a_family_and_hormonal_drugs_are_chemotherapy(coder: Coder) -> None:
    for entry in coder.reference.latest.substances.entries.values():
        if entry.kind in ("drug", "fluid", "electrolyte"):
            assert entry.category in ("hydration", "therapeutic", "chemotherapy"), entry.name
        if entry.hormonal:
            assert entry.category == "chemotherapy", entry.name


def test_every_profile_sets_every_option_with_a_source(coder: Coder) -> None:
    pack = coder.reference.latest
    assert {"cms", "cpt"} <= set(pack.policies)
    for profile in pack.policies.values():
        assert set(profile.values) == set(pack.options)
        for option, value in profile.values.items():
            assert value.source, (profile.name, option)
            allowed = pack.options[option]["values"]
            if isinstance(allowed, list):
                assert value.value in allowed, (profile.name, option, value.value)


def test_add_on_primaries_name_known_codes(coder: Coder) -> None:
    codes = coder.reference.latest.codes
    for info in codes.codes.values():
        assert (info.kind == "addon") == bool(info.addon_primaries), info.code
        assert set(info.addon_primaries) <= set(codes.codes), info.code


def test_pack_is_chosen_by_date_of_service(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    shutil.copytree(data / "2026-01-01", data / "2027-01-01")
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["packs"][0]["effective_to"] = "2027-01-01"
    manifest["packs"].append(
        dict(
            manifest["packs"][0],
            version="2027.1",
            folder="2027-01-01",
            effective_from="2027-01-01",
            effective_to=None,
        )
    )
    (data / "manifest.json").write_text(json.dumps(manifest))
    library = load_library(data)
    assert library.for_date(date(2026, 6, 1)).version == "2026.1"
    assert library.for_date(date(2027, 3, 1)).version == "2027.1"
    assert library.for_date(date(2020, 1, 1)).version == "2026.1"


def test_a_profile_with_an_unknown_option_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    path = data / "2026-01-01" / "policies.json"
    body = json.loads(path.read_text())
    body["profiles"]["cpt"]["values"]["no_such_option"] = {"value": 1, "source": "x"}
    path.write_text(json.dumps(body))
    with pytest.raises(ValueError, match="no_such_option"):
        load_library(data)
