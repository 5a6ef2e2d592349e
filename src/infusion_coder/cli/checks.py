"""What the commands share: exit statuses, one-line errors, "did you mean", and the checks of option values
made once, before any record is read (a bad value is a usage error, never an error on every record).

Nothing heavy is imported here: `--help` and `--version` load this module."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NoReturn

import typer

# Exit statuses (README "Exit status"): 0 every record coded, 1 some record an error object, 2 the input or
# the command line unusable as a whole (nothing coded), 3 an internal failure (a defect: report it).
EXIT_OK, EXIT_RECORD_ERROR, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

CLAIM_TYPES = ("institutional", "professional")  # models.ClaimType; read here without importing pydantic


def say(message: str) -> None:
    """One line on stderr, prefixed like every message of the command."""
    typer.echo(f"infusion-coder: {message}", err=True)


def fail(message: str, status: int = EXIT_USAGE) -> NoReturn:
    say(message)
    raise typer.Exit(status)


def suggest(value: str, choices: Iterable[str]) -> str:
    """' (did you mean 'cms-x'?)' for the closest choice, or '' when none is close."""
    options = list(choices)
    lowered = {c.lower(): c for c in options}
    if value.lower() in lowered and lowered[value.lower()] != value:
        return f" (did you mean {lowered[value.lower()]!r}?)"
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
        close = [lowered[c] for c in close]
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown(what: str, value: str, choices: Sequence[str], *, listed: bool = True) -> NoReturn:
    """Exit 2: `unknown policy 'cms-xx' (did you mean 'cms-x'?); known: ...`."""
    known = f"; known: {', '.join(choices)}" if listed else ""
    fail(f"unknown {what} {value!r}{suggest(value, choices)}{known}")


def choice(option: str, value: str, choices: Sequence[str]) -> str:
    """The value when it is one of `choices` (case-insensitive), else exit 2 naming them."""
    for candidate in choices:
        if value.lower() == candidate.lower():
            return candidate
    fail(f"{option} is one of {', '.join(choices)}, not {value!r}{suggest(value, choices)}")


def claim_type(value: str) -> str:
    return choice("--claim-type", value, CLAIM_TYPES)


POS = re.compile(r"\d{2}")


def place_of_service(value: str | None) -> str | None:
    """CMS places of service are two digits (11 office, 22 hospital outpatient, 23 emergency department)."""
    if value is None or (POS.fullmatch(value) and value != "00"):
        return value
    hint = f" (did you mean '0{value}'?)" if re.fullmatch(r"[1-9]", value) else ""
    fail(
        f"--place-of-service is a CMS place of service of two digits (11 office, 19 or 22 hospital "
        f"outpatient, 23 emergency department), not {value!r}{hint}"
    )


def policy(value: str | None, known: Sequence[str]) -> str | None:
    if value is not None and value not in known:
        unknown("policy", value, known)
    return value


def out_folder(out: Path, *, force: bool, what: str = "--out") -> None:
    """A folder the command may write tables into: new, empty, or with --force. Never a file."""
    if out.exists() and not out.is_dir():
        fail(f"{what} {out} is a file: name a folder (new or empty) for the tables")
    if out.is_dir() and any(out.iterdir()) and not force:
        fail(f"{what} {out} is not empty: give a new or empty folder, or add --force to write into it")


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()
