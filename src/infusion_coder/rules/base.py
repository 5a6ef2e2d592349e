"""What every catalog rule has: an id, a name, a summary, its citations and its reasoning."""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .sources import SOURCES


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    summary: str
    cites: tuple[str, ...]  # keys of sources.SOURCES
    doc: str = ""

    @classmethod
    def of(cls, module: ModuleType, id: str, name: str, cites: tuple[str, ...]) -> Rule:
        """Build a rule from its module: the module docstring is the rule's reasoning and example."""
        doc = inspect.cleandoc(_docstring(module))
        return cls(id=id, name=name, summary=doc.splitlines()[0] if doc else name, cites=cites, doc=doc)

    @property
    def citation(self) -> str:
        """The rule's sources as a user can look them up: titles and addresses, never a repository path."""
        return "; ".join(SOURCES[key] for key in self.cites)


def _docstring(module: ModuleType) -> str:
    """The module's docstring. A module compiled by mypyc (the optional compiled build) has none at run time,
    so it is read from the module's source, which the build installs beside the extension."""
    if module.__doc__ or not module.__file__ or module.__file__.endswith(".py"):
        return module.__doc__ or ""
    source = Path(module.__file__).with_name(module.__name__.rpartition(".")[2] + ".py")
    if not source.is_file():
        return ""
    return ast.get_docstring(ast.parse(source.read_text(encoding="utf-8")), clean=False) or ""
