"""infusion-coder: open, explainable coding of drug-administration services (CPT 96360-96549).

from infusion_coder import Coder, Encounter
coder = Coder.default()
result = coder.code(Encounter.model_validate(record))
"""

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
    "load_library",
]
