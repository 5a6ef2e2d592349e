"""Generated encounters for the batch, table and Spark tests: varied (1-6 administrations, pushes,
infusions, injections, drug doses, E/M, professional claims, billed lines) and reproducible."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

SUBSTANCES = [
    ("normal saline", None),
    ("ondansetron", (4, "mg")),
    ("ceftriaxone", (1, "g")),
    ("vancomycin", (1000, "mg")),
    ("cisplatin", (50, "mg")),
    ("dexamethasone", (10, "mg")),
    ("ketorolac", (30, "mg")),
    ("magnesium sulfate", None),
]


def generated(index: int, rng: random.Random) -> dict[str, Any]:
    start = datetime(2026, 1, 15, 8, 0) + timedelta(days=rng.randint(0, 30))
    admins: list[dict[str, Any]] = []
    for number in range(rng.randint(1, 6)):
        begin = start + timedelta(minutes=rng.randint(0, 600))
        substance, dose = rng.choice(SUBSTANCES)
        record: dict[str, Any] = {"id": f"a{number}", "substance": substance, "route": "intravenous"}
        if rng.random() < 0.1:
            record["route"] = rng.choice(["intramuscular", "subcutaneous"])
        record["start"] = begin.isoformat(timespec="minutes")
        if record["route"] == "intravenous":
            if rng.random() < 0.75:
                end = begin + timedelta(minutes=rng.randint(1, 240))
                record["end"] = end.isoformat(timespec="minutes")
            else:
                record["method"] = "push"
        if dose and rng.random() < 0.6:
            record["dose"], record["dose_unit"] = dose
        admins.append(record)
    body: dict[str, Any] = {
        "encounter_id": f"E{index:07d}",
        "claim_type": "professional" if rng.random() < 0.2 else "institutional",
        "administrations": admins,
    }
    if rng.random() < 0.1:
        body["evaluation_and_management"] = {"code": "99284", "separately_identifiable": True}
    if rng.random() < 0.2:
        body["billed_lines"] = [{"code": "96365", "units": 1}, {"code": "96375", "units": rng.randint(1, 3)}]
    if rng.random() < 0.1:
        body["policy"] = "cpt"
    return body


def encounters(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [generated(i, rng) for i in range(count)]
