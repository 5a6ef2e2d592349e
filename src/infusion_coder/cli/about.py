"""The version line, without typer or the engine: `infusion-coder --version` prints it before the command
line is even built."""

from __future__ import annotations


def version_number() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("infusion-coder")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def version_text() -> str:
    from .. import _compiled

    build = "compiled (mypyc: engine, rules, reference, times)" if _compiled() else "pure Python"
    return f"infusion-coder {version_number()}, {build}"
