"""Shorthand for building encounters in tests: times as "09:00" (day 1) or "+1 02:00" (the next day)."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

DAY_ONE = date(2026, 1, 15)


def at(text: str) -> str:
    """'09:00' -> day one at 09:00; '+1 02:00' -> the next day; a full ISO time is kept."""
    if "T" in text:
        return text
    offset = 0
    if text.startswith("+"):
        days, text = text[1:].split(" ", 1)
        offset = int(days)
    return f"{(DAY_ONE + timedelta(days=offset)).isoformat()}T{text}"


def admin(index: int, spec: dict[str, Any]) -> dict[str, Any]:
    record = {"id": f"a{index}", "route": "intravenous", **spec}
    for key in ("start", "end"):
        if key in record and record[key] is not None:
            record[key] = at(record[key])
    if isinstance(record.get("segments"), list):
        record["segments"] = [{k: at(v) for k, v in piece.items()} for piece in record["segments"]]
    return record


def encounter(admins: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"encounter_id": "t", "claim_type": "institutional", **fields}
    body["administrations"] = [admin(i, spec) for i, spec in enumerate(admins, 1)]
    return body


def grouped(lines: list[Any]) -> dict[str, int]:
    """Lines as {"code" or "code-MOD": units}, the way the gold check compares them."""
    totals: Counter[str] = Counter()
    for line in lines:
        mods = sorted(line.modifiers)
        totals["-".join([line.code, *mods])] += line.units
    return dict(totals)


def post_scope(path: str) -> dict[str, Any]:
    """The ASGI scope of a JSON POST from this machine, for tests that drive the app's receive by hand."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


def example(name: str = "ed-visit") -> dict[str, Any]:
    """A bundled example encounter, as contract JSON."""
    loaded: dict[str, Any] = json.loads(
        (Path(__file__).resolve().parents[1] / "examples" / f"{name}.json").read_text()
    )
    return loaded


def is_error_object(body: Any) -> bool:
    """Whether a response body is the contract's error object."""
    return (
        isinstance(body, dict)
        and set(body) == {"encounter_id", "error"}
        and isinstance(body["error"], dict)
        and isinstance(body["error"].get("message"), str)
        and "field" in body["error"]
    )


def equivalence_script() -> ModuleType:
    """scripts/equivalence.py (the output oracle's records and digest), loaded as a module."""
    path = Path(__file__).resolve().parent.parent / "scripts" / "equivalence.py"
    spec = importlib.util.spec_from_file_location("equivalence", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
