"""The engine's working units: a service is one administration (or one mixed bag) ready to be coded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from ..rules import Rule
from .intervals import Interval, minutes, span_minutes


class Service:
    __slots__ = (
        "access",
        "access_label",
        "access_required",
        "assumed_push",
        "drug",
        "end",
        "family",
        "fixed_code",
        "home_pump",
        "hormonal",
        "ids",
        "label",
        "pump",
        "route",
        "segments",
        "start",
        "technique",
    )

    ids: tuple[str, ...]
    label: str  # the substance as documented, for explanations
    drug: str  # identity key: two services with the same key are the same drug
    family: str  # hydration | therapeutic | chemotherapy
    technique: str  # push | infusion | prolonged | injection | sc_infusion | ia_push | ia_infusion | ...
    route: str  # iv | ia | sc | im | other
    start: datetime | None
    end: datetime | None
    access: str | None  # comparison key (case and spacing folded)
    access_required: bool | None
    hormonal: bool
    assumed_push: bool  # an infusion coded as a push for want of a stop time
    fixed_code: str | None  # a route that maps straight to one code
    access_label: str | None  # the access as documented
    home_pump: str | None  # whose pump carries the infusion on at home: provider | supplier
    pump: str | None  # portable | implantable, as recorded
    segments: tuple[Interval, ...]  # the stretches it ran, when paused and restarted (else empty)

    def __init__(
        self,
        ids: tuple[str, ...],
        label: str,
        drug: str,
        family: str,
        technique: str,
        route: str,
        start: datetime | None,
        end: datetime | None,
        access: str | None,
        access_required: bool | None,
        hormonal: bool = False,
        assumed_push: bool = False,
        fixed_code: str | None = None,
        access_label: str | None = None,
        home_pump: str | None = None,
        pump: str | None = None,
        segments: tuple[Interval, ...] = (),
    ) -> None:
        self.ids = ids
        self.label = label
        self.drug = drug
        self.family = family
        self.technique = technique
        self.route = route
        self.start = start
        self.end = end
        self.access = access
        self.access_required = access_required
        self.hormonal = hormonal
        self.assumed_push = assumed_push
        self.fixed_code = fixed_code
        self.access_label = access_label
        self.home_pump = home_pump
        self.pump = pump
        self.segments = segments

    def with_ids(self, ids: tuple[str, ...]) -> Service:
        """This service standing for other administrations (dataclasses.replace, for a plain class)."""
        return Service(
            ids,
            self.label,
            self.drug,
            self.family,
            self.technique,
            self.route,
            self.start,
            self.end,
            self.access,
            self.access_required,
            self.hormonal,
            self.assumed_push,
            self.fixed_code,
            self.access_label,
            self.home_pump,
            self.pump,
            self.segments,
        )

    @property
    def minutes(self) -> int | None:
        start = self.start
        end = self.end
        if start is None or end is None:
            return None
        if self.segments:
            return minutes(self.segments)  # a pause is not infusion time
        return span_minutes(start, end)

    @property
    def interval(self) -> tuple[datetime, datetime] | None:
        """From start to end, pauses included: for ordering and references, never for counting."""
        if self.start is None or self.end is None:
            return None
        return (self.start, self.end)

    @property
    def spans(self) -> list[Interval]:
        """The time it ran, to be counted: its segments, else start to end, else nothing."""
        if self.segments:
            return list(self.segments)
        start = self.start
        end = self.end
        return [(start, end)] if start is not None and end is not None else []

    def span_text(self, clock: Callable[[datetime | None], str]) -> str:
        """09:40-10:50, 11:05-11:45 for a paused administration; 09:40-11:45 otherwise."""
        if not self.segments:  # the common case: one piece, no join
            return f"{clock(self.start)}-{clock(self.end)}"
        return ", ".join(f"{clock(start)}-{clock(end)}" for start, end in self.segments)

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.start or datetime.min, self.ids[0])

    @property
    def day(self) -> date | None:
        return self.start.date() if self.start else None


class Unit:
    """One billable unit before lines are grouped."""

    __slots__ = (
        "code",
        "explanation",
        "ids",
        "initial",
        "instead",
        "intervals",
        "main",
        "minutes",
        "modifiers",
        "rule",
        "when",
    )

    code: str
    when: datetime | None
    ids: tuple[str, ...]
    rule: Rule
    explanation: str
    minutes: int | None
    modifiers: tuple[str, ...]
    initial: bool
    main: bool  # the encounter's first initial service
    intervals: tuple[tuple[datetime, datetime], ...]  # the time this unit counted, for a timeline
    # The unit CPT allows in this add-on's place when none of its primaries is on the claim (a concurrent
    # infusion beside a chemo push initial is a sequential infusion): built with it, never removed later.
    instead: Unit | None

    def __init__(
        self,
        code: str,
        when: datetime | None,
        ids: tuple[str, ...],
        rule: Rule,
        explanation: str,
        minutes: int | None = None,
        modifiers: tuple[str, ...] = (),
        initial: bool = False,
        main: bool = False,
        intervals: tuple[tuple[datetime, datetime], ...] = (),
        instead: Unit | None = None,
    ) -> None:
        self.code = code
        self.when = when
        self.ids = ids
        self.rule = rule
        self.explanation = explanation
        self.minutes = minutes
        self.modifiers = modifiers
        self.initial = initial
        self.main = main
        self.intervals = intervals
        self.instead = instead


class Scope:
    """Services that share one initial service: one access, over the encounter or one date."""

    __slots__ = ("extra_ids", "label", "main", "modifier", "services")

    services: list[Service]
    modifier: str | None  # distinct modifier for a second access's initial
    main: bool
    label: str
    extra_ids: dict[str, list[str]]

    def __init__(
        self,
        services: list[Service],
        modifier: str | None = None,
        main: bool = True,
        label: str = "",
        extra_ids: dict[str, list[str]] | None = None,
    ) -> None:
        self.services = services
        self.modifier = modifier
        self.main = main
        self.label = label
        self.extra_ids = {} if extra_ids is None else extra_ids
