"""Optional compiled build (mypyc) of the engine; everything else about the package is in pyproject.toml.

By default this adds nothing: `pip install .` builds the pure-Python package and needs no compiler.
With INFUSION_CODER_COMPILE=1, `pip install .` (not editable) compiles the engine, the rules, the
reference tables and infusion_coder.times with mypyc into C extensions that sit beside
the .py files; the output is the same byte for byte (docs/performance.md, "Compiled build (optional)").
Needs a C compiler and Python headers.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools import setup

# The modules compiled: the engine's pure core and what it calls per encounter (rules, reference tables,
# times). models.py (pydantic), the formats and the surfaces stay interpreted: mypyc cannot build models.py, and jsonio
# and api.py gained nothing measurable; api.py also holds Coder, which callers may subclass (a compiled
# class cannot be subclassed from Python). See docs/performance.md.
COMPILED = [
    "src/infusion_coder/engine",
    "src/infusion_coder/rules",
    "src/infusion_coder/reference",
    "src/infusion_coder/times.py",
    "src/infusion_coder/fast_input.py",
    "src/infusion_coder/names.py",
]
# What the build itself needs when compiling: mypyc, and pydantic so mypy can type the models the engine
# reads. Asked for through setup_requires, so a default build never installs them (PEP 517 build requires
# are static; setuptools adds these to them only when this script asks).
BUILD_REQUIRES = ["mypy[mypyc]>=2.4,<3", "pydantic>=2.7,<3"]
BUILD = "build/compiled"


def _compile() -> bool:
    return os.environ.get("INFUSION_CODER_COMPILE", "").strip().lower() in {"1", "true", "yes", "on"}


def _paths() -> list[str]:
    found: list[str] = []
    for entry in COMPILED:
        path = Path(entry)
        found += sorted(str(p) for p in path.glob("*.py")) if path.is_dir() else [entry]
    return found


def _options() -> dict[str, object]:
    if not _compile():
        return {}
    if "editable_wheel" in sys.argv:
        # An editable install would build the extensions into src/, where they would shadow the .py files
        # for every user of the checkout (and go stale on the next edit).
        sys.exit("INFUSION_CODER_COMPILE=1: the compiled build is not editable; use `pip install .`")
    try:
        from mypyc.build import mypycify
    except ImportError:
        # First pass (get_requires_for_build_wheel): ask for the build requirements; setuptools stops here.
        return {"setup_requires": BUILD_REQUIRES}
    if not {"bdist_wheel", "build", "build_ext", "install"} & set(sys.argv[1:]):
        return {"setup_requires": BUILD_REQUIRES}  # metadata only: no need to type-check and translate
    # A folder of its own, emptied first: setuptools packs whatever its build/lib holds, so extensions left
    # by an earlier build would slip into this wheel (a stale module of another build breaks the import)
    # or into a later pure-Python one.
    shutil.rmtree(BUILD, ignore_errors=True)
    return {
        "setup_requires": BUILD_REQUIRES,
        "ext_modules": mypycify(_paths(), opt_level="3", target_dir=f"{BUILD}/mypyc"),
        "options": {"build": {"build_base": BUILD}},
    }


setup(**_options())
