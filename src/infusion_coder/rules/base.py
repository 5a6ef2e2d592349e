"""What every catalog rule has: an id, a name, a summary, its citations and its reasoning."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    summary: str
    cites: tuple[str, ...]
    doc: str = ""

    @classmethod
    def of(cls, module: ModuleType, id: str, name: str, cites: tuple[str, ...]) -> Rule:
        """Build a rule from its module: the module docstring is the rule's reasoning and example."""
        doc = inspect.cleandoc(module.__doc__ or "")
        return cls(id=id, name=name, summary=doc.splitlines()[0] if doc else name, cites=cites, doc=doc)

    @property
    def citation(self) -> str:
        return "rules.md " + ", ".join(self.cites)
