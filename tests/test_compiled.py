"""The optional compiled build (mypyc; setup.py, `make compiled`). Under it, every module the build compiles
must really run as an extension (or the identical-output checks below prove nothing about it), and what
compiling changes at run time must not show. `make compiled-test` runs this file with tests/test_equivalence.py
(the committed output digest), the rule fixtures and the gold cases against `.venv-compiled`; under the default
pure-Python install the compiled-only tests skip, saying so."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import infusion_coder
from infusion_coder.rules import BY_ID

SOURCE = Path(__file__).resolve().parent.parent / "src" / "infusion_coder"
# setup.py COMPILED
COMPILED_PACKAGES = ("infusion_coder.engine", "infusion_coder.rules", "infusion_coder.reference")
COMPILED_MODULES = ("infusion_coder.times", "infusion_coder.fast_input", "infusion_coder.names")

compiled_only = pytest.mark.skipif(
    not infusion_coder.compiled,
    reason="the pure-Python build is installed; `make compiled-test` runs this against .venv-compiled",
)


def _compiled_names() -> list[str]:
    names = list(COMPILED_MODULES)
    for package in COMPILED_PACKAGES:
        names.append(package)
        names += [
            f"{package}.{info.name}"
            for info in pkgutil.iter_modules(importlib.import_module(package).__path__)
        ]
    return names


@compiled_only
def test_every_module_of_the_build_runs_compiled() -> None:
    names = _compiled_names()
    interpreted = [
        name
        for name in names
        if not str(importlib.import_module(name).__file__).endswith(tuple(EXTENSION_SUFFIXES))
    ]
    assert len(names) > 50
    assert not interpreted, f"not compiled: {interpreted}"


@compiled_only
def test_the_rest_stays_interpreted() -> None:
    # Outside the build: models.py (pydantic), the formats and surfaces, whose error texts are Python's own, and api.py,
    # whose Coder callers may subclass.
    for name in ("infusion_coder.models", "infusion_coder.api", "infusion_coder.formats.jsonio"):
        assert str(importlib.import_module(name).__file__).endswith(".py"), name


def test_rule_reasoning_is_the_module_docstring() -> None:
    """A compiled module has no docstring at run time; the catalog must still carry each rule's reasoning,
    word for word as its source (`infusion-coder rules` and the service's rule pages show it)."""
    checked = 0
    for path in sorted((SOURCE / "rules").glob("ic*.py")):
        module = importlib.import_module(f"infusion_coder.rules.{path.stem}")
        written = inspect.cleandoc(ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "")
        rule = BY_ID[module.RULE.id]
        assert written and rule.doc == written, path.name
        assert rule.summary == written.splitlines()[0], path.name
        checked += 1
    assert checked == len(BY_ID)
