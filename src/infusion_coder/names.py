"""How explanations quote a name of the record (a drug, route or access): one definition, compiled with the
engine in the compiled build (models.py cannot be), so the engine's calls to it are native."""

from __future__ import annotations

from typing import Final

NAME_LIMIT: Final = 120  # characters of a drug, route or access name an explanation quotes


def shown_name(text: str) -> str:
    """A name of the record as explanations quote it: whole up to NAME_LIMIT characters (real drug names
    with their strength and diluent fit), cut with '...' beyond, so no finding repeats a long text."""
    return text if len(text) <= NAME_LIMIT else text[:NAME_LIMIT] + "..."
