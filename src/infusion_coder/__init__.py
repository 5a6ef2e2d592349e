"""infusion-coder: open, explainable coding of drug-administration services (CPT 96360-96549).

from infusion_coder import Coder, Encounter
coder = Coder.default()
result = coder.code(Encounter.model_validate(record))
"""

from importlib.machinery import EXTENSION_SUFFIXES as _EXTENSION_SUFFIXES

from .api import Coder, Result
from .engine import UnknownPolicyError, code_encounter
from .engine import timeline as _timeline
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

# True when the engine in use is the optional mypyc build (INFUSION_CODER_COMPILE=1 pip install .): its
# modules are C extensions beside the .py files. False for the default pure-Python install.
compiled: bool = (_timeline.__file__ or "").endswith(tuple(_EXTENSION_SUFFIXES))

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
