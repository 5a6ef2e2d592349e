"""The command line (`infusion-coder`): commands in commands.py, review queues in review.py, the table
view in view.py, rules/policies/findings in catalog.py. Imported lazily: `--version` needs none of them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .commands import app


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):  # the fast path: no typer, no engine
        from .about import version_text

        sys.stdout.write(version_text() + "\n")
        return
    from .commands import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from .commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main"]
