"""The layout's promise: dependencies point one way (surfaces -> formats -> api -> engine -> rules and
reference). Read from the import statements of the source, so a new import that breaks it fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "infusion_coder"

# what each room may not import: the project's own outer rooms and the outside libraries that belong there
FORBIDDEN = {
    "engine": {"formats", "cli", "service", "batch", "spark", "claims", "api"},
    "rules": {"formats", "cli", "service", "batch", "spark", "claims", "api"},
    "reference": {"formats", "cli", "service", "batch", "spark", "claims", "api", "engine"},
    "formats": {"cli", "service", "batch", "spark"},
    "claims.py": {"formats", "cli", "service", "batch", "spark"},
}
OUTSIDE = {
    "fastapi",
    "starlette",
    "uvicorn",
    "pyspark",
    "pyarrow",
    "duckdb",
    "typer",
    "hl7apy",
    "pyx12",
    "fhir",
}
CORE = ("engine", "rules", "reference")


def _imports(path: Path) -> set[str]:
    """Absolute module names imported by a file, relative imports resolved against the package."""
    package = path.relative_to(PACKAGE.parent).parts[:-1]  # a module's package; an __init__'s own
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.add(".".join((*base, node.module)) if node.module else ".".join(base))
                if not node.module:
                    names.update(".".join((*base, alias.name)) for alias in node.names)
            elif node.module:
                names.add(node.module)
    return names


def _room(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_inwards(path: Path) -> None:
    room = _room(path)
    imported = _imports(path)
    forbidden = FORBIDDEN.get(room, set())
    own = {name.split(".")[1] for name in imported if name.startswith("infusion_coder.") and "." in name}
    assert not own & forbidden, f"{room} imports {sorted(own & forbidden)}"
    if room in CORE:
        outside = {name.split(".")[0] for name in imported} & OUTSIDE
        assert not outside, f"{room} imports {sorted(outside)}"


def test_the_rooms_exist() -> None:
    # a move that empties a room should update this test and the README's picture together
    rooms = {p.name for p in PACKAGE.iterdir() if not p.name.startswith("__")}
    assert {
        "engine",
        "rules",
        "reference",
        "formats",
        "cli",
        "service",
        "batch",
        "spark.py",
        "api.py",
    } <= rooms
