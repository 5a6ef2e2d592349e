"""Per-encounter working state: the policy, the reference pack, and the findings collected so far."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..models import Administration, ClaimType, Encounter, Severity
from ..reference import CodeTable, Policy, ReferencePack, SubstanceTable
from ..rules import Rule
from ..times import TimeFrame
from .output import PlainFinding


class Context:
    __slots__ = (
        "administrations",
        "codes",
        "concurrent_used",
        "encounter",
        "families",
        "fields",
        "findings",
        "frame",
        "institutional",
        "pack",
        "policy",
        "resolved",
        "substances",
        "supplied",
        "wall",
    )

    encounter: Encounter
    # the encounter's field values (its __dict__) and its administrations, read once: each attribute read of
    # a pydantic model passes its __getattr__ hook
    fields: dict[str, Any]
    administrations: list[Administration]
    pack: ReferencePack
    policy: Policy
    findings: list[PlainFinding]
    concurrent_used: set[Any]
    families: dict[str, str]  # administration id -> family, once classified
    # administration id -> (route class iv|ia|sc|im|other, method the record or its route states), once resolved
    resolved: dict[str, tuple[str, str | None]]
    # administration ids whose drug was given and is billed, though no administration code carries them
    # (a repeat push within 30 minutes, a repeat with no code in its setting, a stopless bag added to its drug)
    supplied: set[str]
    # read once: a private attribute of a pydantic model is a slow lookup, and the frame is asked often
    frame: TimeFrame
    institutional: bool  # asked about ten times an encounter
    # the pack's tables, read once (asked ~6 times a record)
    codes: CodeTable
    substances: SubstanceTable
    # whether frame.local() moves a time at all (a zone whose offset changes inside the encounter)
    wall: bool

    def __init__(
        self,
        encounter: Encounter,
        pack: ReferencePack,
        policy: Policy,
        frame: TimeFrame | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """`frame` and `fields` (encounter.time_frame and encounter.__dict__), where the caller read them."""
        self.encounter = encounter
        if fields is None:
            fields = encounter.__dict__
        self.fields = fields
        self.administrations = fields["administrations"]
        self.pack = pack
        self.policy = policy
        self.findings = []
        self.concurrent_used = set()
        self.families = {}
        self.resolved = {}
        self.supplied = set()
        if frame is None:  # the caller may hand the frame it read already (a property of the model)
            frame = encounter.time_frame
        self.frame = frame
        self.institutional = fields["claim_type"] == ClaimType.INSTITUTIONAL
        self.codes = pack.codes
        self.substances = pack.substances
        self.wall = frame.shifts and frame.zone is not None

    def find(
        self,
        rule: Rule,
        id: str,
        severity: Severity,
        ids: list[str] | tuple[str, ...],
        message: str,
        denial_risk: str | None = None,
        remark: str | None = None,
    ) -> None:
        listed = sorted(ids) if len(ids) > 1 else list(ids)
        self.findings.append(PlainFinding(id, severity, listed, message, denial_risk, rule.id, remark))

    def clock(self, moment: datetime | None) -> str:
        """HH:MM on the facility's wall clock (after a daylight-saving change too), for explanations."""
        if moment is None:
            return "no time"
        if self.wall:
            moment = self.frame.local(moment)
        return _HHMM[moment.hour * 60 + moment.minute]

    def stamp(self, moment: datetime) -> str:
        return stamp(self.frame.local(moment))

    def option(self, name: str) -> Any:
        return self.policy.values[name].value  # Policy.__getitem__ without its call: asked ~11 times a record

    def cite_option(self, name: str) -> str:
        value = self.policy[name]
        shown = str(value).lower() if isinstance(value, bool) else value
        return f"policy {self.policy.name}, {name}={shown} [{self.policy.source(name)}]"


# HH:MM of every minute of a day, built once: a list index, not a format, for each time an explanation shows
_HHMM = [f"{hour:02d}:{minute:02d}" for hour in range(24) for minute in range(60)]


def clock(moment: datetime | None) -> str:
    return "no time" if moment is None else _HHMM[moment.hour * 60 + moment.minute]


def stamp(moment: datetime) -> str:
    if moment.year >= 1000 and moment.tzinfo is None:  # what strftime gives, without its cost
        return moment.isoformat(" ", "minutes")
    return moment.strftime("%Y-%m-%d %H:%M")
