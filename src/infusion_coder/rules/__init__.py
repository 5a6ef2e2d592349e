"""The rule catalog: one module per coding rule (`icNNN_name.py`), each with its id, reasoning, example,
citation and the logic it owns. A new rule is a new module; the catalog finds it."""

from __future__ import annotations

import importlib
import pkgutil

from .base import Rule


def _discover() -> tuple[Rule, ...]:
    rules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda found: found.name):
        if info.name.startswith("ic"):
            rules.append(importlib.import_module(f"{__name__}.{info.name}").RULE)
    return tuple(rules)


CATALOG: tuple[Rule, ...] = _discover()
BY_ID: dict[str, Rule] = {rule.id: rule for rule in CATALOG}

__all__ = ["BY_ID", "CATALOG", "Rule"]
