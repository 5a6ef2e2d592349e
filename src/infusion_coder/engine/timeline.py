"""Code the IV services of one scope (one access, over the encounter or one date).

The order of work: fold boluses into their drips (IC407), gather each drug's bags into per-date buckets
(IC406), sort out repeat pushes (IC404), pick the initial service (IC301/IC302), share overlapping minutes
out once (IC408), then code each drug as initial, sequential or concurrent (IC401/IC402), each push
(IC403/IC404) and the hydration left over (IC204/IC405).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate

from ..rules import (
    ic203_hour_units,
    ic204_hydration_time,
    ic211_midnight_dating,
    ic301_facility_hierarchy,
    ic302_primary_reason,
    ic303_second_access,
    ic401_sequential_infusion,
    ic402_concurrent_infusion,
    ic403_additional_push,
    ic404_repeat_push,
    ic405_hydration_not_concurrent,
    ic406_same_drug_time,
    ic407_bolus_then_infusion,
    ic408_overlap_once,
)
from ..rules.base import Rule
from .context import Context
from .intervals import Interval, intersect, minutes, subtract, union
from .output import PlainFinding
from .services import Scope, Service, Unit

RANK = ic301_facility_hierarchy.RANK
INITIAL_CODE = ic301_facility_hierarchy.INITIAL_CODE
ADDED_HOUR = ic401_sequential_infusion.ADDED_HOUR_CODE


def _point(service: Service) -> list[Interval]:
    """A push's own time: its documented minutes, or the moment it was given."""
    if service.interval is not None:
        return service.spans
    return [(service.start, service.start)] if service.start is not None else []


class Bucket:
    """One drug's runs that started on one date."""

    __slots__ = ("_ids", "_raw", "_raw_minutes", "day", "overlap", "own", "own_minutes", "runs")

    def __init__(self, day: date, runs: list[Service], own: list[Interval] | None = None) -> None:
        self.day = day
        self.runs = runs
        self.own: list[Interval] = [] if own is None else own
        self.own_minutes = 0
        self.overlap: list[Interval] = []
        self._raw: list[Interval] | None = None
        self._raw_minutes: int | None = None
        self._ids: tuple[str, ...] | None = None

    # Computed once, when first asked (a slot, not functools.cached_property, whose descriptor costs more
    # than the union): a bucket's runs and their times are fixed when it is built (prepare has set every
    # stop), and precedence asks for these on every comparison. Callers must not mutate `raw`.
    @property
    def raw(self) -> list[Interval]:
        if self._raw is None:
            self._raw = union(span for r in self.runs for span in r.spans)  # segments: a pause is not counted
        return self._raw

    @property
    def raw_minutes(self) -> int:
        if self._raw_minutes is None:
            self._raw_minutes = minutes(self.raw)
        return self._raw_minutes

    @property
    def ids(self) -> tuple[str, ...]:
        if self._ids is None:  # the runs' ids are settled in prepare, before any bucket is built
            self._ids = tuple(sorted(i for r in self.runs for i in r.ids))
        return self._ids

    def span(self, ctx: Context) -> str:
        return ", ".join(r.span_text(ctx.clock) for r in self.runs)


@dataclass(slots=True)
class Stream:
    drug: str
    family: str
    label: str
    buckets: list[Bucket]
    folded: list[str] = field(default_factory=list)  # ids of boluses coded as part of this drug

    @property
    def start(self) -> datetime:
        return self.buckets[0].runs[0].start or datetime.min

    def precedence(self) -> tuple[int, int, datetime, str]:
        return (RANK[(self.family, "infusion")], -self.buckets[0].raw_minutes, self.start, self.drug)

    def ids(self) -> tuple[str, ...]:
        return tuple(sorted({*self.folded, *(i for b in self.buckets for i in b.ids)}))


@dataclass(slots=True)
class Initial:
    kind: str  # stream | push | hydration
    stream: Stream | None = None
    push: Service | None = None
    start: datetime | None = None  # when the initial service began, for "before" or "after" in explanations
    label: str = ""  # what it is, as charted ("vancomycin infusion from 15:00")


@dataclass(slots=True)
class Repeat:
    """A same-drug push and the reported service of that drug it repeats: before or after it in time."""

    push: Service
    reference: datetime  # the moment the gap is measured from (or to)
    what: str  # "last pushed or infused at 10:05", "its infusion from 15:00"
    after: bool  # the push comes after its reference


def _order(service: Service) -> tuple[datetime, str]:
    return service.order


def code_scope(ctx: Context, scope: Scope) -> list[Unit]:
    findings, used = len(ctx.findings), set(ctx.concurrent_used)
    units = _ScopeCoder(ctx, scope).run()
    orphans = ctx.codes.orphan_addons({u.code for u in units})
    if not orphans or ctx.institutional or ctx.encounter.primary_administration is None:
        return units
    # The named primary cannot carry these services as add-ons: code by the hierarchy instead (IC302).
    del ctx.findings[findings:]
    ctx.concurrent_used = used
    units = _ScopeCoder(ctx, scope, use_primary=False).run()
    ctx.find(
        ic302_primary_reason.RULE,
        "primary-cannot-carry",
        "warning",
        sorted({i for u in units for i in u.ids}),
        f"The primary administration {ctx.encounter.primary_administration} cannot be the initial service here: "
        f"{', '.join(orphans)} would have no primary code to go with. Coded by the facility hierarchy "
        "instead; check which service was the reason for the encounter.",
    )
    return units


class _ScopeCoder:
    def __init__(self, ctx: Context, scope: Scope, *, use_primary: bool = True) -> None:
        self.ctx = ctx
        self.scope = scope
        self.use_primary = use_primary
        self.basis = ""  # why the initial service is initial, for its explanation
        self.added_ids: set[tuple[str, ...]] = set()  # stopless bags added to their drug, not coded
        self.added_findings: list[PlainFinding] = []
        self.folded: dict[str, list[str]] = defaultdict(list)  # drug -> boluses coded with its infusion
        self.units: list[Unit] = []
        pushes: list[Service] = []
        infusions: list[Service] = []
        hydrations: list[Service] = []
        for service in scope.services:  # one pass, each list sorted only when it holds two or more
            if service.technique == "push":
                pushes.append(service)
            elif service.technique == "infusion":
                (hydrations if service.family == "hydration" else infusions).append(service)
        self.pushes = sorted(pushes, key=_order) if len(pushes) > 1 else pushes
        self.infusions = sorted(infusions, key=_order) if len(infusions) > 1 else infusions
        self.hydrations = sorted(hydrations, key=_order) if len(hydrations) > 1 else hydrations

    # --- the steps -------------------------------------------------------------------------------------

    def run(self) -> list[Unit]:
        pushes = self._fold_boluses()
        streams = self._streams()
        for stream in streams:
            stream.folded.extend(self.folded.get(stream.drug, []))
        new_pushes, repeats, within = self._sort_pushes(pushes, streams)
        hydration = self._hydration_buckets(pushes)
        initial = self._choose_initial(streams, new_pushes, hydration)
        if initial is None:
            self._report_uncoded_hydration(hydration)
            return self.units
        ordered = sorted(streams, key=Stream.precedence)
        if initial.kind == "stream" and initial.stream is not None:
            ordered.remove(initial.stream)
            ordered.insert(0, initial.stream)
        self._share_minutes(ordered)
        for stream in ordered:
            self._code_stream(stream, initial)
        for push in new_pushes:
            self._code_new_push(push, initial)
        for repeat in repeats:
            self._code_repeat_push(repeat)
        for entry in within:
            self._report_within(entry)
        self._code_hydration(hydration, initial)
        return self.units

    def _fold_boluses(self) -> list[Service]:
        rule = ic407_bolus_then_infusion.RULE
        window = timedelta(minutes=ic407_bolus_then_infusion.BOLUS_WINDOW_MINUTES)
        kept = []
        # each drug's timed infusions in order, to find the first one in a push's window by bisection
        drips: dict[str, list[Service]] = defaultdict(list)
        starts: dict[str, list[datetime]] = defaultdict(list)
        for infusion in self.infusions:
            if infusion.start is not None:
                drips[infusion.drug].append(infusion)
                starts[infusion.drug].append(infusion.start)
        for push in self.pushes:
            assert push.start is not None
            at = bisect_left(starts[push.drug], push.start)
            fits = at < len(starts[push.drug]) and starts[push.drug][at] <= push.start + window
            drip = drips[push.drug][at] if fits else None
            if drip is None:
                kept.append(push)
                continue
            self.folded[drip.drug].extend(push.ids)
            self.ctx.find(
                rule,
                "bolus-coded-with-infusion",
                "info",
                push.ids + drip.ids,
                f"{push.label} pushed at {self.ctx.clock(push.start)} and infused from {self.ctx.clock(drip.start)}: "
                "a push followed by an infusion of the same drug is coded as the infusion only.",
            )
        return kept

    def _streams(self) -> list[Stream]:
        by_drug: dict[str, list[Service]] = defaultdict(list)
        for infusion in self.infusions:
            by_drug[infusion.drug].append(infusion)
        streams = []
        local = self.ctx.frame.local
        for drug, runs in by_drug.items():
            if len(runs) == 1:  # the common case: one bag, one date
                run = runs[0]
                assert run.start is not None
                streams.append(Stream(drug, run.family, run.label, [Bucket(local(run.start).date(), runs)]))
                continue
            by_day: dict[date, list[Service]] = defaultdict(list)
            for run in runs:
                assert run.start is not None
                by_day[local(run.start).date()].append(run)
            buckets = [Bucket(day, by_day[day]) for day in sorted(by_day)]
            family = max((r.family for r in runs), key=lambda f: f == "chemotherapy")
            streams.append(Stream(drug, family, runs[0].label, buckets))
            if len(runs) > 1:
                self.ctx.find(
                    ic406_same_drug_time.RULE,
                    "same-drug-bags-added",
                    "info",
                    tuple(i for r in runs for i in r.ids),
                    f"{len(runs)} infusions of {runs[0].label} are one drug: their minutes are added per date "
                    "before units are counted.",
                )
        return streams

    def _sort_pushes(
        self, pushes: list[Service], streams: list[Stream]
    ) -> tuple[list[Service], list[Repeat], list[tuple[Service, datetime]]]:
        """New-drug pushes, repeats of a drug already reported, and repeats within 30 minutes (not coded).

        The relation is symmetric in time: a push of a drug that is infused in this scope repeats that drug
        whether it comes before or after the infusion (a drug pushed on day 1 and infused on day 2 of an
        observation stay is 96376, never 96375, whichever service is initial). Only the first push of a
        drug that is never infused is a new drug."""
        if not pushes:  # nothing to sort: the tables below are for pushes to look up
            return [], [], []
        gap = timedelta(minutes=ic404_repeat_push.REPEAT_GAP_MINUTES)
        added = self.ctx.option("stopless_same_drug") == "added"
        runs = {s.drug: [r for b in s.buckets for r in b.runs] for s in streams}
        last_reported: dict[str, datetime] = {}
        new: list[Service] = []
        repeats: list[Repeat] = []
        within: list[tuple[Service, datetime]] = []
        # per drug: timed runs by start and the latest end among the first k, so each push is a bisection
        timed = {d: sorted((r.start, r.end) for r in rs if r.start and r.end) for d, rs in runs.items()}
        run_starts = {d: [start for start, _ in rs] for d, rs in timed.items()}
        latest_end = {d: list(accumulate((end for _, end in rs), max)) for d, rs in timed.items()}
        for push in pushes:
            assert push.start is not None
            starts = run_starts.get(push.drug, [])
            before = bisect_right(starts, push.start)
            references: list[tuple[datetime, str]] = []
            if before:
                ended = min(latest_end[push.drug][before - 1], push.start)
                references.append((ended, f"its infusion ended at {self._at(ended, push.start)}"))
            if push.drug in last_reported:
                last = last_reported[push.drug]
                references.append((last, f"it was last pushed at {self._at(last, push.start)}"))
            if push.assumed_push and added and (references or before < len(starts)):
                # A bag charted with no stop, of a drug already reported here: one more bag of that drug,
                # whose time is unknown; same-drug infusions are added, never recoded as repeat pushes.
                if references:
                    self._stopless_added(push, max(references)[1])
                else:
                    self._stopless_added(push, f"its infusion from {self._at(starts[before], push.start)}")
                continue
            if references:
                reference, what = max(references)
                if push.start - reference > gap:
                    repeats.append(Repeat(push, reference, what, after=True))
                    if self.ctx.institutional and push.family != "chemotherapy":
                        last_reported[push.drug] = push.start
                else:
                    within.append((push, reference))
            elif before < len(starts):
                # Infused later in this scope: the infusion is the drug's reported service, so this push
                # repeats it. A push within 30 minutes before its infusion was folded into it (IC407).
                following = starts[before]
                what = f"its infusion from {self._at(following, push.start)}"
                repeats.append(Repeat(push, following, what, after=False))
                if self.ctx.institutional and push.family != "chemotherapy":
                    last_reported[push.drug] = push.start
            else:
                new.append(push)
                last_reported[push.drug] = push.start
        if self.added_ids:
            # one pass: the missing-stop findings that said these bags would be coded as pushes go
            replaced = {"missing-stop-time", "assumed-push-usually-infused"}
            self.ctx.findings[:] = [
                f
                for f in self.ctx.findings
                if not (f.id in replaced and tuple(f.administrations) in self.added_ids)
            ]
            self.ctx.findings.extend(self.added_findings)
        return new, repeats, within

    def _stopless_added(self, push: Service, reference: str) -> None:
        """Name a stopless bag that adds nothing codable; the finding replaces the missing-stop findings
        that said it would be coded as a push (see the end of _sort_pushes)."""
        ids = tuple(sorted(push.ids))
        self.ctx.supplied.update(ids)
        self.added_ids.add(ids)
        findings = self.ctx.findings
        self.ctx.findings = self.added_findings  # collected apart, added after the one filtering pass
        self.ctx.find(
            ic406_same_drug_time.RULE,
            "stopless-bag-added",
            "warning",
            push.ids,
            f"No stop time for {push.label} started {self.ctx.clock(push.start)}: a drug already reported here "
            f"({reference}), so this is one more bag of it, whose minutes are added to the drug's, never a "
            "repeat push (96376); its minutes are unknown, so it adds nothing and is not coded "
            f"({self.ctx.cite_option('stopless_same_drug')}). Document its stop time to count its minutes.",
            denial_risk="CO-16",
        )
        self.ctx.findings = findings

    def _hydration_buckets(self, pushes: list[Service]) -> list[Bucket]:
        """Hydration minutes left after other infusions and documented pushes, grouped for counting."""
        if not self.hydrations:
            return []
        raw = union(span for h in self.hydrations for span in h.spans)
        taken = [span for s in (*self.infusions, *pushes) for span in s.spans]
        own = subtract(raw, taken)
        alongside = minutes(raw) - minutes(own)
        ids = tuple(i for h in self.hydrations for i in h.ids)
        if alongside:
            self.ctx.find(
                ic405_hydration_not_concurrent.RULE,
                "hydration-overlap-not-counted",
                "info",
                ids,
                f"{alongside} minutes of hydration ran alongside other infusions or pushes on the same access "
                "and are not counted.",
            )
        combine = self.ctx.option("combine_hydration_segments")
        buckets: list[Bucket] = []
        for piece in own:
            if combine and buckets and buckets[-1].day == self.ctx.frame.local(piece[0]).date():
                buckets[-1].own.append(piece)
            else:
                buckets.append(
                    Bucket(self.ctx.frame.local(piece[0]).date(), list(self.hydrations), own=[piece])
                )
        for bucket in buckets:
            bucket.own_minutes = minutes(bucket.own)
        if not buckets:
            self.ctx.find(
                ic405_hydration_not_concurrent.RULE,
                "hydration-not-reported",
                "info",
                ids,
                "All hydration minutes ran alongside other infusions on the same access: not reported.",
            )
        return buckets

    def _choose_initial(
        self, streams: list[Stream], pushes: list[Service], hydration: list[Bucket]
    ) -> Initial | None:
        candidates: list[tuple[tuple[int, int, datetime, str], Initial, tuple[str, ...]]] = []
        for stream in streams:
            candidates.append((stream.precedence(), Initial("stream", stream=stream), stream.ids()))
        for push in pushes:
            assert push.start is not None
            key = (RANK[(push.family, "push")], 0, push.start, push.ids[0])
            candidates.append((key, Initial("push", push=push), push.ids))
        if hydration and ic204_hydration_time.qualifies(hydration[0].own_minutes):
            first = hydration[0]
            key = (RANK[("hydration", "infusion")], -first.own_minutes, first.own[0][0], "")
            candidates.append((key, Initial("hydration"), tuple(i for h in self.hydrations for i in h.ids)))
        if not candidates:
            return None
        candidates.sort(key=lambda c: c[0])
        return self._describe(self._pick(candidates), hydration)

    def _pick(
        self, candidates: list[tuple[tuple[int, int, datetime, str], Initial, tuple[str, ...]]]
    ) -> Initial:
        if not self.scope.main:
            self.basis = f"it ranks highest on this separate access ({ic303_second_access.RULE.id})"
            return candidates[0][1]
        primary = self.ctx.encounter.primary_administration
        if not self.ctx.institutional and primary is not None and self.use_primary:
            chosen = next((c for c in candidates if primary in c[2]), None)
            if chosen is not None:
                self.basis = f"it is the primary reason for the encounter ({ic302_primary_reason.RULE.id})"
                return chosen[1]
        self.basis = (
            f"it ranks highest in the facility hierarchy ({ic301_facility_hierarchy.RULE.id})"
            if self.ctx.institutional
            else f"it ranks highest; no primary reason was given ({ic302_primary_reason.RULE.id})"
        )
        return candidates[0][1]

    def _describe(self, initial: Initial, hydration: list[Bucket]) -> Initial:
        """When the initial service began and what it is, so add-ons can say "before" or "after" it."""
        clock = self.ctx.clock
        if initial.kind == "stream" and initial.stream is not None:
            initial.start = initial.stream.start
            initial.label = f"{initial.stream.label} infusion from {clock(initial.start)}"
        elif initial.kind == "push" and initial.push is not None:
            initial.start = initial.push.start
            initial.label = f"{initial.push.label} pushed at {clock(initial.start)}"
        elif hydration:
            initial.start = hydration[0].own[0][0]
            initial.label = f"hydration from {clock(initial.start)}"
        return initial

    def _relative(self, moment: datetime | None, initial: Initial) -> str:
        """'after the initial service (X from 15:00)', or 'before' as charted."""
        if initial.start is None or moment is None:
            return "after the initial service"
        side = "before" if moment < initial.start else "after"
        label = initial.label
        if self.ctx.frame.local(moment).date() != self.ctx.frame.local(initial.start).date():
            label = label.replace(self.ctx.clock(initial.start), self.ctx.stamp(initial.start))
        return f"{side} the initial service ({label})"

    def _at(self, moment: datetime, beside: datetime | None) -> str:
        """HH:MM, with the date when it differs from the moment it is compared with."""
        local = self.ctx.frame.local
        if beside is not None and local(moment).date() == local(beside).date():
            return self.ctx.clock(moment)
        return self.ctx.stamp(moment)

    def _share_minutes(self, ordered: list[Stream]) -> None:
        covered: list[Interval] = []
        for stream in ordered:
            for bucket in stream.buckets:
                raw = bucket.raw
                bucket.own = subtract(raw, covered)
                bucket.own_minutes = minutes(bucket.own)
                bucket.overlap = intersect(raw, covered)
                covered = union([*covered, *raw])
                if (
                    bucket.overlap
                    and bucket.own_minutes >= ic203_hour_units.FIRST_HOUR_FROM
                    and stream is not ordered[0]
                ):
                    self.ctx.find(
                        ic408_overlap_once.RULE,
                        "overlap-counted-once",
                        "info",
                        bucket.ids,
                        f"{minutes(bucket.overlap)} minutes of {stream.label} overlap a drug counted before it; "
                        f"{bucket.own_minutes} minutes of its own are counted.",
                    )

    # --- coding ----------------------------------------------------------------------------------------

    def _emit(
        self,
        code: str,
        moments: list[datetime | None],
        ids: tuple[str, ...],
        rule: Rule,
        explanation: str,
        minutes_counted: int | None = None,
        initial: bool = False,
        counted: list[Interval] | None = None,
    ) -> None:
        modifiers = (self.scope.modifier,) if initial and self.scope.modifier else ()
        spans = tuple(counted) if counted else ()
        ordered = tuple(sorted(ids)) if len(ids) > 1 else tuple(ids)
        main = initial and self.scope.main
        self.units.extend(
            Unit(
                code,
                moment,
                ordered,
                rule,
                explanation,
                minutes_counted,
                modifiers,
                initial=initial,
                main=main,
                intervals=spans,
            )
            for moment in moments
        )

    def _emit_dated(
        self,
        code: str,
        bucket: Bucket,
        marks: list[int],
        ids: tuple[str, ...],
        rule: Rule,
        explain: Callable[[date | None, list[int]], str],
        minutes_counted: int | None = None,
        initial: bool = False,
    ) -> None:
        """Emit one unit per mark, explained per date: the text of a line names the date its units carry
        and the minutes that earned them (IC211), never only the date the service started."""
        by_day: dict[date | None, tuple[list[datetime | None], list[int]]] = {}
        for moment, mark in zip(self._moments(bucket, marks), marks, strict=True):
            day = self.ctx.frame.local(moment).date() if moment else None
            moments, day_marks = by_day.setdefault(day, ([], []))
            moments.append(moment)
            day_marks.append(mark)
        for day, (moments, day_marks) in by_day.items():
            self._emit(
                code,
                moments,
                ids,
                rule,
                explain(day, day_marks),
                minutes_counted,
                initial,
                counted=bucket.own,
            )

    def _moments(self, bucket: Bucket, marks: list[int]) -> list[datetime | None]:
        if not bucket.own:
            return []
        if self.ctx.option("midnight_unit_dating") == "service_start":
            return [bucket.own[0][0]] * len(marks)
        return [ic211_midnight_dating.moment_of_minute(bucket.own, mark) for mark in marks]

    def _added_hours(
        self, stream_family: str, bucket: Bucket, ids: tuple[str, ...], label: str, after_first: bool
    ) -> None:
        units = (
            ic203_hour_units.added_hours_after_first(bucket.own_minutes)
            if after_first
            else ic203_hour_units.added_hours_only(bucket.own_minutes)
        )
        code = ADDED_HOUR[stream_family]
        if units:
            marks = ic203_hour_units.added_hour_marks(units, after_first=after_first)
            lead = (
                "past its first hour"
                if after_first
                else "continuing a drug whose first hour is already coded"
            )

            def explain(day: date | None, day_marks: list[int]) -> str:
                if day == bucket.day:
                    where = f"on {bucket.day}"
                    earned = ""
                else:
                    where = f"from {bucket.day}"
                    earned = (
                        f"; the {_units(day_marks)} dated {day} {_earned(day_marks)}, which fell on {day}"
                    )
                return (
                    f"Added hours: {label} {bucket.span(self.ctx)} counts {bucket.own_minutes} minutes {where}, "
                    f"{lead}; each added hour needs more than 30 minutes{earned}."
                )

            if not bucket.own:  # what _moments answers for any marks: no time of its own to date units by
                return
            self._emit_dated(code, bucket, marks, ids, ic203_hour_units.RULE, explain, bucket.own_minutes)
        elif not after_first and bucket.own_minutes:
            self.ctx.find(
                ic406_same_drug_time.RULE,
                "added-time-below-hour",
                "info",
                ids,
                f"{label} on {bucket.day} counts {bucket.own_minutes} minutes after its first hour was coded: "
                "under the 31 minutes an added hour needs.",
            )

    def _code_stream(self, stream: Stream, initial: Initial) -> None:
        first, later = stream.buckets[0], stream.buckets[1:]
        ids = tuple(sorted({*first.ids, *stream.folded}))
        is_initial = initial.kind == "stream" and initial.stream is stream
        if is_initial:
            code = INITIAL_CODE[(stream.family, "infusion")]
            self._emit(
                code,
                self._moments(first, [ic203_hour_units.FIRST_HOUR_FROM]),
                ids,
                ic301_facility_hierarchy.RULE if self.ctx.institutional else ic302_primary_reason.RULE,
                f"Initial: {stream.label} infusion {first.span(self.ctx)} is {first.own_minutes} minutes; {self.basis}.",
                first.own_minutes,
                initial=True,
                counted=first.own,
            )
            self._added_hours(stream.family, first, ids, stream.label, after_first=True)
        elif first.own_minutes >= ic203_hour_units.FIRST_HOUR_FROM:
            self._sequential(stream, first, ids, initial)
        elif minutes(first.overlap) >= self.ctx.option("concurrent_min_overlap_minutes"):
            self._concurrent(stream, first, ids)
        else:
            self.ctx.find(
                ic402_concurrent_infusion.RULE,
                "short-overlap",
                "warning",
                ids,
                f"{stream.label} {first.span(self.ctx)} overlaps another drug for {minutes(first.overlap)} minutes, under "
                f"the {self.ctx.option('concurrent_min_overlap_minutes')} needed for concurrent "
                f"({self.ctx.cite_option('concurrent_min_overlap_minutes')}): coded as sequential.",
            )
            self._sequential(stream, first, ids, initial)
        for bucket in later:
            self._added_hours(stream.family, bucket, bucket.ids, stream.label, after_first=False)

    def _sequential(self, stream: Stream, bucket: Bucket, ids: tuple[str, ...], initial: Initial) -> None:
        code = ic401_sequential_infusion.SEQUENTIAL_CODE[stream.family]
        moments = self._moments(bucket, [ic203_hour_units.FIRST_HOUR_FROM]) or [bucket.runs[0].start]
        self._emit(
            code,
            moments,
            ids,
            ic401_sequential_infusion.RULE,
            f"Sequential: {stream.label} {bucket.span(self.ctx)} is a new drug infused "
            f"{self._relative(bucket.runs[0].start, initial)}, {bucket.own_minutes} minutes of its own.",
            bucket.own_minutes,
            counted=bucket.own,
        )
        self._added_hours(stream.family, bucket, ids, stream.label, after_first=True)

    def _concurrent(self, stream: Stream, bucket: Bucket, ids: tuple[str, ...]) -> None:
        per_date = self.ctx.option("concurrent_frequency") == "date"
        key = bucket.day if per_date else "encounter"
        overlap = minutes(bucket.overlap)
        if key in self.ctx.concurrent_used:
            self.ctx.find(
                ic402_concurrent_infusion.RULE,
                "concurrent-already-reported",
                "info",
                ids,
                f"{stream.label} ran concurrently ({overlap} minutes), but 96368 is reported once per "
                f"{'date' if per_date else 'encounter'} and is already on the claim.",
            )
            return
        self.ctx.concurrent_used.add(key)
        self._emit(
            "96368",
            [bucket.overlap[0][0]],
            ids,
            ic402_concurrent_infusion.RULE,
            f"Concurrent: {stream.label} {bucket.span(self.ctx)} ran in its own bag alongside another drug on the same "
            f"access for {overlap} minutes, with {bucket.own_minutes} minutes of its own; reported once per "
            f"{'date' if per_date else 'encounter'}.",
            overlap,
            counted=bucket.overlap,
        )
        concurrent = self.units[-1]
        sequential = ic401_sequential_infusion.SEQUENTIAL_CODE[stream.family]
        primaries = (
            ", ".join(self.ctx.codes["96368"].addon_primaries) if "96368" in self.ctx.codes.codes else ""
        )
        concurrent.instead = Unit(
            sequential,
            bucket.runs[0].start,
            concurrent.ids,
            ic402_concurrent_infusion.RULE,
            f"Sequential: {stream.label} {bucket.span(self.ctx)} ran alongside another drug on the same access "
            f"({overlap} minutes), but the concurrent code 96368 goes only with {primaries}, and none is on this "
            f"claim: as CPT allows, it is coded as an additional infusion of a new drug ({sequential}), "
            f"{bucket.raw_minutes} documented minutes.",
            bucket.raw_minutes,
            intervals=tuple(bucket.raw),
        )

    def _code_new_push(self, push: Service, initial: Initial) -> None:
        assumed = " (no stop time: coded as a push)" if push.assumed_push else ""
        if initial.kind == "push" and initial.push is push:
            self._emit(
                INITIAL_CODE[(push.family, "push")],
                [push.start],
                push.ids,
                ic301_facility_hierarchy.RULE if self.ctx.institutional else ic302_primary_reason.RULE,
                f"Initial: {push.label} pushed at {self.ctx.clock(push.start)}{assumed}; {self.basis}.",
                push.minutes,
                initial=True,
                counted=_point(push),
            )
            return
        self._emit(
            ic403_additional_push.ADDED_PUSH_CODE[push.family],
            [push.start],
            push.ids,
            ic403_additional_push.RULE,
            f"Added push: {push.label} at {self.ctx.clock(push.start)}{assumed} is a new drug pushed "
            f"{self._relative(push.start, initial)}.",
            push.minutes,
            counted=_point(push),
        )

    def _code_repeat_push(self, repeat: Repeat) -> None:
        rule = ic404_repeat_push.RULE
        push = repeat.push
        self.ctx.supplied.update(push.ids)  # the drug was given: billed even where the push has no code
        when = self.ctx.clock(push.start)
        relation = (
            f"more than 30 minutes after {repeat.what}"
            if repeat.after
            else f"more than 30 minutes before {repeat.what}"
        )
        if push.family == "chemotherapy":
            self.ctx.find(
                rule,
                "repeat-chemo-push",
                "info",
                push.ids,
                f"{push.label} at {when} repeats a chemotherapy drug already reported ({relation}): no code.",
            )
            return
        if not self.ctx.institutional:
            self.ctx.find(
                rule,
                "repeat-push-professional",
                "info",
                push.ids,
                f"{push.label} pushed at {when} is the same drug ({relation}): 96376 is for facilities only and "
                "96375 is for new drugs, so a professional claim has no code for it.",
            )
            return
        self._emit(
            "96376",
            [push.start],
            push.ids,
            rule,
            f"Repeat push: {push.label} at {when} is the same drug, pushed {relation} (facility only).",
            counted=_point(push),
        )

    def _report_within(self, entry: tuple[Service, datetime]) -> None:
        push, reference = entry
        assert push.start is not None
        self.ctx.supplied.update(push.ids)
        gap = int((push.start - reference).total_seconds() // 60)
        self.ctx.find(
            ic404_repeat_push.RULE,
            "repeat-push-within-30-minutes",
            "info",
            push.ids,
            f"{push.label} at {self.ctx.clock(push.start)} follows the same drug by {gap} minutes (last at "
            f"{self.ctx.stamp(reference)}): a repeat needs more than 30 minutes, so it is not coded.",
        )

    def _code_hydration(self, buckets: list[Bucket], initial: Initial) -> None:
        if not buckets:
            return
        ids = tuple(sorted(i for h in self.hydrations for i in h.ids))
        rule = ic204_hydration_time.RULE
        rest = buckets
        if initial.kind == "hydration":
            first, rest = buckets[0], buckets[1:]
            self._emit_dated(
                "96360",
                first,
                [ic204_hydration_time.HYDRATION_MIN_MINUTES],
                ids,
                rule,
                lambda day, _marks: (
                    f"Initial: hydration counts {first.own_minutes} minutes "
                    + (
                        f"on {first.day}"
                        if day == first.day
                        else f"from {first.day}, its 31st minute on {day}"
                    )
                    + f" (31 needed); {self.basis}."
                ),
                first.own_minutes,
                initial=True,
            )
            self._added_hours("hydration", first, ids, "hydration", after_first=True)
        secondary = initial.kind != "hydration"
        for bucket in rest:
            if not ic204_hydration_time.qualifies(bucket.own_minutes):
                self.ctx.find(
                    rule,
                    "hydration-below-minimum",
                    "info",
                    ids,
                    f"Hydration on {bucket.day} counts {bucket.own_minutes} minutes of its own: under the 31 "
                    "minutes hydration needs, so it is not reported.",
                )
                continue
            units = ic203_hour_units.added_hours_only(bucket.own_minutes)
            marks = ic203_hour_units.added_hour_marks(units, after_first=False)
            lead = "secondary to the initial service" if secondary else "continuing the initial hydration"
            start_day = self.ctx.frame.local(bucket.own[0][0]).date()

            def explain(
                day: date | None,
                day_marks: list[int],
                bucket: Bucket = bucket,
                lead: str = lead,
                start_day: date = start_day,
            ) -> str:
                earned = (
                    ""
                    if day == start_day
                    else f"; the {_units(day_marks)} dated {day} {_earned(day_marks)}, which fell on {day}"
                )
                return (
                    f"Hydration {lead}: {bucket.own_minutes} minutes from {self.ctx.stamp(bucket.own[0][0])} not "
                    f"overlapping other infusions; 96361 from 31 minutes, a unit per hour past 30 minutes{earned}."
                )

            self._emit_dated("96361", bucket, marks, ids, rule, explain, bucket.own_minutes)

    def _report_uncoded_hydration(self, buckets: list[Bucket]) -> None:
        if not self.hydrations:
            return
        counted = buckets[0].own_minutes if buckets else 0
        ids = tuple(sorted(i for h in self.hydrations for i in h.ids))
        self.ctx.find(
            ic204_hydration_time.RULE,
            "hydration-below-minimum",
            "info",
            ids,
            f"Hydration counts {counted} minutes: under the 31 minutes hydration needs, so it is not reported.",
        )


def _units(marks: list[int]) -> str:
    return "unit" if len(marks) == 1 else f"{len(marks)} units"


def _ordinal(number: int) -> str:
    suffix = "th" if number % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _earned(marks: list[int]) -> str:
    named = [_ordinal(mark) for mark in marks]
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return (
        f"{'is' if len(marks) == 1 else 'are'} earned by its {listed} minute{'s' if len(marks) > 1 else ''}"
    )
