"""infusion-coder: open, explainable coding of drug-administration services (CPT 96360-96549).

from infusion_coder import Coder, Encounter
coder = Coder.default()
result = coder.code(Encounter.model_validate(record))

The names below are imported on first use (PEP 562), so `import infusion_coder.cli` for `--help` or
`--version` does not load pydantic, the engine or the reference data.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Coder, Result
    from .engine import UnknownPolicyError, code_encounter
    from .models import (
        Administration,
        CodingResult,
        Encounter,
        ErrorDetail,
        ErrorResult,
        EvaluationAndManagement,
        Finding,
        Line,
    )
    from .reference import ReferenceLibrary, load_library
    from .rules import CATALOG, Rule

    compiled: bool

# name -> module that defines it
_LAZY = {
    "Coder": ".api",
    "Result": ".api",
    "UnknownPolicyError": ".engine",
    "code_encounter": ".engine",
    "Administration": ".models",
    "CodingResult": ".models",
    "Encounter": ".models",
    "ErrorDetail": ".models",
    "ErrorResult": ".models",
    "EvaluationAndManagement": ".models",
    "Finding": ".models",
    "Line": ".models",
    "ReferenceLibrary": ".reference",
    "load_library": ".reference",
    "CATALOG": ".rules",
    "Rule": ".rules",
}


def _compiled() -> bool:
    """True when the engine in use is the optional mypyc build (INFUSION_CODER_COMPILE=1 pip install .): its
    modules are C extensions beside the .py files. False for the default pure-Python install. Told from
    the files, without importing the engine (Python imports an extension module before a .py of the same
    name), so `--version` stays fast."""
    from importlib.machinery import EXTENSION_SUFFIXES
    from pathlib import Path

    engine = Path(__file__).resolve().parent / "engine"
    return any((engine / f"timeline{suffix}").is_file() for suffix in EXTENSION_SUFFIXES)


def __getattr__(name: str) -> Any:
    if name == "compiled":
        value: Any = _compiled()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY, "compiled"])


__all__ = [
    "CATALOG",
    "Administration",
    "Coder",
    "CodingResult",
    "Encounter",
    "ErrorDetail",
    "ErrorResult",
    "EvaluationAndManagement",
    "Finding",
    "Line",
    "ReferenceLibrary",
    "Result",
    "Rule",
    "UnknownPolicyError",
    "code_encounter",
    "compiled",
    "load_library",
]
