"""Code the IV services of one scope (one access, over the encounter or one date).

The order of work: fold boluses into their drips (IC407), gather each drug's bags into per-date buckets
(IC406), sort out repeat pushes (IC404), pick the initial service (IC301/IC302), share overlapping minutes
out once (IC408), then code each drug as initial, sequential or concurrent (IC401/IC402), each push
(IC403/IC404) and the hydration left over (IC204/IC405).

Times are read once, when a scope's coding starts: each service's start, stop and segments become integers,
microseconds from the scope's epoch (the local midnight before its first start), and the interval algebra,
the ordering, the dates and the clock texts work on those. Datetimes are made again only where a unit is
written (its date and the stretches it counted), from the very times the record gave wherever it can.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, datetime, time, timedelta
from typing import Final

from ..rules import (
    ic203_hour_units,
    ic204_hydration_time,
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
from ..rules.ic211_midnight_dating import moment_of_minute
from .context import Context
from .intervals import MINUTE_US, Interval, Span, common, cut, merge, total_minutes
from .output import PlainFinding
from .services import Scope, Service, Unit

# Final: static in the compiled build, not a module-dict lookup at each use
RANK: Final = ic301_facility_hierarchy.RANK
INITIAL_CODE: Final = ic301_facility_hierarchy.INITIAL_CODE
ADDED_HOUR: Final = ic401_sequential_infusion.ADDED_HOUR_CODE
# the same tables by family alone, for one technique: a str key hashes once, a new tuple at each lookup
_INFUSION_RANK: Final = {family: rank for (family, how), rank in RANK.items() if how == "infusion"}
_PUSH_RANK: Final = {family: rank for (family, how), rank in RANK.items() if how == "push"}
_INFUSION_CODE: Final = {family: code for (family, how), code in INITIAL_CODE.items() if how == "infusion"}
_PUSH_CODE: Final = {family: code for (family, how), code in INITIAL_CODE.items() if how == "push"}
_SEQUENTIAL: Final = ic401_sequential_infusion.SEQUENTIAL_CODE
_ADDED_PUSH: Final = ic403_additional_push.ADDED_PUSH_CODE

_US: Final = timedelta(microseconds=1)
_DAY_US: Final = 1440 * MINUTE_US
_NO_START: Final = -(1 << 60)  # before any time: where datetime.min put a service with no start in the order
_ANY_EPOCH: Final = datetime(2000, 1, 1)  # for a scope with no time at all (nothing is counted then)
_FIRST_HOUR_FROM: Final = ic203_hour_units.FIRST_HOUR_FROM
# HH:MM of each minute of a day, made once: Context.clock's text without formatting per call
_CLOCK: Final = tuple(f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(1440))
# each whole minute of the first days from the epoch as a timedelta, made once: a datetime is made again
# from an integer time by one addition, not a timedelta product (times are mostly whole minutes)
_MINUTES: Final = tuple(timedelta(minutes=minute) for minute in range(4 * 1440))
_MINUTES_KEPT: Final = 4 * 1440
_MIDNIGHT: Final = time()
_COMBINE: Final = datetime.combine  # bound once: a call with positional arguments, no class lookup
_FROM_ORDINAL: Final = date.fromordinal
# per date, across encounters: its local midnight and its text (str(date) formats each time); cleared when
# large, so a long-running service holds a bounded number
_EPOCHS: Final[dict[date, datetime]] = {}
_DAY_TEXTS: Final[dict[date, str]] = {}
_KEPT_DATES: Final = 4096


def _point(service: Service) -> list[Interval]:
    """A push's own time: its documented minutes, or the moment it was given."""
    if service.interval is not None:
        return service.spans
    return [(service.start, service.start)] if service.start is not None else []


class Run:
    """One service with its times as integers (microseconds from the scope's epoch)."""

    __slots__ = ("end", "key", "service", "spans", "start", "text")

    def __init__(self, service: Service, start: int | None, end: int | None, spans: list[Span]) -> None:
        self.service = service
        self.start = start
        self.end = end
        self.spans = spans  # the stretches it ran: its segments, else start to end, else none
        self.key = (_NO_START if start is None else start, service.ids[0])  # Service.order, in integers
        self.text = ""  # "09:40-10:50", made when first asked


def _key(run: Run) -> tuple[int, str]:
    return run.key


class Bucket:
    """One drug's runs that started on one date."""

    __slots__ = (
        "_ids",
        "counted",
        "day",
        "overlap",
        "overlap_minutes",
        "own",
        "own_minutes",
        "raw",
        "raw_minutes",
        "runs",
        "text",
    )

    def __init__(self, day: date, runs: list[Run], raw: list[Span], own: list[Span] | None = None) -> None:
        self.day = day
        self.runs = runs
        self.raw = raw  # merged: what its runs cover, a pause not counted
        self.raw_minutes = total_minutes(raw)
        self.own: list[Span] = [] if own is None else own
        self.own_minutes = 0
        self.overlap: list[Span] = []
        self.overlap_minutes = 0
        self.counted: tuple[Interval, ...] | None = None  # `own` as datetimes, once a unit is written
        self.text = ""  # the runs' times as charted, made when first asked
        self._ids: tuple[str, ...] | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        if self._ids is None:  # the runs' ids are settled in prepare, before any bucket is built
            runs = self.runs
            ids = runs[0].service.ids
            if len(runs) > 1 or len(ids) > 1:
                ids = tuple(sorted([i for r in runs for i in r.service.ids]))
            self._ids = ids
        return self._ids


class Stream:
    """One drug's infusions in this scope, by date, and the boluses coded with it."""

    __slots__ = ("buckets", "drug", "family", "folded", "label", "precedence", "start")

    def __init__(self, drug: str, family: str, label: str, buckets: list[Bucket]) -> None:
        self.drug = drug
        self.family = family
        self.label = label
        self.buckets = buckets
        self.folded: list[str] = []  # ids of boluses coded as part of this drug
        first = buckets[0].runs[0].start
        self.start = _NO_START if first is None else first
        rank = _INFUSION_RANK.get(family)
        if rank is None:
            rank = RANK[(family, "infusion")]  # a family with no rank: RANK's own KeyError
        self.precedence = (rank, -buckets[0].raw_minutes, self.start, drug)

    def ids(self) -> tuple[str, ...]:
        return tuple(sorted({*self.folded, *(i for b in self.buckets for i in b.ids)}))


def _precedence(stream: Stream) -> tuple[int, int, int, str]:
    return stream.precedence


class Initial:
    __slots__ = ("kind", "label", "push", "start", "stream")

    kind: str  # stream | push | hydration
    stream: Stream | None
    push: Run | None
    start: int | None  # when the initial service began, for "before" or "after" in explanations
    label: str  # what it is, as charted ("vancomycin infusion from 15:00")

    def __init__(
        self,
        kind: str,
        stream: Stream | None = None,
        push: Run | None = None,
        start: int | None = None,
        label: str = "",
    ) -> None:
        self.kind = kind
        self.stream = stream
        self.push = push
        self.start = start
        self.label = label


class Repeat:
    """A same-drug push and the reported service of that drug it repeats: before or after it in time."""

    __slots__ = ("after", "push", "reference", "what")

    push: Run
    reference: int  # the moment the gap is measured from (or to)
    what: str  # "last pushed or infused at 10:05", "its infusion from 15:00"
    after: bool  # the push comes after its reference

    def __init__(self, push: Run, reference: int, what: str, after: bool) -> None:
        self.push = push
        self.reference = reference
        self.what = what
        self.after = after


def _first(candidate: tuple[tuple[int, int, int, str], Stream | Run | None]) -> tuple[int, int, int, str]:
    return candidate[0]


def _least(candidates: list[tuple[tuple[int, int, int, str], Stream | Run | None]]) -> Stream | Run | None:
    """min(candidates, key=_first)[1]: the first of the lowest keys, without min's keyword call."""
    best = candidates[0]
    if len(candidates) == 1:  # the common case: one candidate
        return best[1]
    for index in range(1, len(candidates)):
        candidate = candidates[index]
        if candidate[0] < best[0]:
            best = candidate
    return best[1]


# why the initial service is initial, made once
_BASIS_SEPARATE: Final = f"it ranks highest on this separate access ({ic303_second_access.RULE.id})"
_BASIS_PRIMARY: Final = f"it is the primary reason for the encounter ({ic302_primary_reason.RULE.id})"
_BASIS_FACILITY: Final = f"it ranks highest in the facility hierarchy ({ic301_facility_hierarchy.RULE.id})"
_BASIS_NO_PRIMARY: Final = f"it ranks highest; no primary reason was given ({ic302_primary_reason.RULE.id})"


def _initial(chosen: Stream | Run | None) -> Initial:
    """The initial service a candidate stands for: a drug's infusions, a push, or the hydration (None)."""
    if isinstance(chosen, Stream):
        return Initial("stream", stream=chosen)
    if chosen is not None:
        return Initial("push", push=chosen)
    return Initial("hydration")


def code_scope(ctx: Context, scope: Scope) -> list[Unit]:
    retry = not ctx.institutional and ctx.encounter.primary_administration is not None
    findings = len(ctx.findings)
    used = set(ctx.concurrent_used) if retry else ctx.concurrent_used
    units = _ScopeCoder(ctx, scope).run()
    if not retry:
        return units
    orphans = ctx.codes.orphan_addons({u.code for u in units})
    if not orphans:
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
        self.folded: dict[str, list[str]] = {}  # drug -> boluses coded with its infusion
        self.units: list[Unit] = []
        self.shifts = ctx.wall  # else the engine's time is the wall clock
        first: datetime | None = None
        for service in scope.services:
            if service.start is not None:
                first = service.start
                break
        # local midnight (the engine's time is the wall clock where it does not shift), so that a day is
        # the integer quotient of a time when the clocks do not change
        if first is None:
            self.epoch = _ANY_EPOCH
            self.epoch_day = _ANY_EPOCH.date()
        else:
            day = self.epoch_day = first.date()
            epoch = _EPOCHS.get(day)
            if epoch is None:
                if len(_EPOCHS) >= _KEPT_DATES:
                    _EPOCHS.clear()
                epoch = _EPOCHS[day] = _COMBINE(day, _MIDNIGHT)  # naive, as datetime(year, month, day)
            self.epoch = epoch
        self.epoch_ordinal = self.epoch_day.toordinal()
        self.times: dict[int, datetime] = {}  # each integer time read, and the datetime it came from
        self.days: dict[int, date] = {}
        self.service_start_dating = ctx.option("midnight_unit_dating") == "service_start"
        pushes: list[Run] = []
        infusions: list[Run] = []
        hydrations: list[Run] = []
        for service in scope.services:  # one pass, each list sorted only when it holds two or more
            if service.technique == "push":
                pushes.append(self._run(service))
            elif service.technique == "infusion":
                (hydrations if service.family == "hydration" else infusions).append(self._run(service))
        if len(pushes) > 1:
            pushes.sort(key=_key)
        if len(infusions) > 1:
            infusions.sort(key=_key)
        if len(hydrations) > 1:
            hydrations.sort(key=_key)
        self.pushes = pushes
        self.infusions = infusions
        self.hydrations = hydrations

    # --- time: integers in, texts and datetimes out ------------------------------------------------------

    def _int(self, moment: datetime) -> int:
        # (moment - epoch) // 1 microsecond, from the timedelta's fields: integer arithmetic, where the
        # floor division of two timedeltas goes through Python integers
        delta = moment - self.epoch
        value: int = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        self.times[value] = moment
        return value

    def _run(self, service: Service) -> Run:
        start: int | None = None
        end: int | None = None
        begun = service.start
        if begun is not None:
            start = self._int(begun)
        ended = service.end
        if ended is not None:
            end = self._int(ended)
        if service.segments:
            spans = [(self._int(a), self._int(b)) for a, b in service.segments]
        elif start is not None and end is not None:
            spans = [(start, end)]
        else:
            spans = []
        return Run(service, start, end, spans)

    def _moment(self, value: int) -> datetime:
        """The datetime of an integer time: the record's own where it gave it, else made from the epoch."""
        known = self.times.get(value)
        return known if known is not None else self._made(value)

    def _made(self, value: int) -> datetime:
        minute = value // MINUTE_US
        if minute * MINUTE_US == value and 0 <= minute < _MINUTES_KEPT:
            return self.epoch + _MINUTES[minute]
        return self.epoch + _US * value

    def _counted(self, spans: list[Span]) -> tuple[Interval, ...]:
        return tuple([(self._moment(start), self._moment(end)) for start, end in spans])

    def _bucket_counted(self, bucket: Bucket) -> tuple[Interval, ...]:
        if bucket.counted is None:
            bucket.counted = self._counted(bucket.own)
        return bucket.counted

    def _day(self, value: int) -> date:
        """The facility's date at an integer time."""
        if self.shifts:
            return self.ctx.frame.local(self._moment(value)).date()
        index = value // _DAY_US
        if index == 0:  # the common case: the epoch's own date
            return self.epoch_day
        day = self.days.get(index)
        if day is None:
            day = _FROM_ORDINAL(self.epoch_ordinal + index)
            self.days[index] = day
        return day

    def _iso(self, day: date) -> str:
        """str(day), made once a date."""
        text = _DAY_TEXTS.get(day)
        if text is None:
            if len(_DAY_TEXTS) >= _KEPT_DATES:
                _DAY_TEXTS.clear()
            text = _DAY_TEXTS[day] = str(day)
        return text

    def _same_day(self, one: int, other: int) -> bool:
        if self.shifts:
            return self._day(one) == self._day(other)
        return one // _DAY_US == other // _DAY_US

    def _clock(self, value: int | None) -> str:
        """HH:MM on the facility's wall clock: Context.clock on an integer time."""
        if value is None:
            return "no time"
        if self.shifts:
            return self.ctx.clock(self._moment(value))
        return _CLOCK[value % _DAY_US // MINUTE_US]

    def _stamp(self, value: int) -> str:
        return self.ctx.stamp(self._moment(value))

    def _text(self, run: Run) -> str:
        """09:40-10:50, 11:05-11:45 for a paused administration; 09:40-11:45 otherwise (Service.span_text)."""
        if not run.text:
            service = run.service
            if not service.segments:
                run.text = f"{self._clock(run.start)}-{self._clock(run.end)}"
            else:
                run.text = ", ".join(f"{self._clock(a)}-{self._clock(b)}" for a, b in run.spans)
        return run.text

    def _span(self, bucket: Bucket) -> str:
        if not bucket.text:
            runs = bucket.runs
            bucket.text = self._text(runs[0]) if len(runs) == 1 else ", ".join(self._text(r) for r in runs)
        return bucket.text

    # --- the steps -------------------------------------------------------------------------------------

    def run(self) -> list[Unit]:
        pushes = self._fold_boluses()
        streams = self._streams()
        if self.folded:
            for stream in streams:
                stream.folded.extend(self.folded.get(stream.drug, []))
        new_pushes, repeats, within = self._sort_pushes(pushes, streams)
        hydration = self._hydration_buckets(pushes)
        initial = self._choose_initial(streams, new_pushes, hydration)
        if initial is None:
            self._report_uncoded_hydration(hydration)
            return self.units
        ordered = sorted(streams, key=_precedence) if len(streams) > 1 else streams
        if initial.kind == "stream" and initial.stream is not None and ordered[0] is not initial.stream:
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

    def _fold_boluses(self) -> list[Run]:
        if not self.pushes or not self.infusions:
            return self.pushes
        rule = ic407_bolus_then_infusion.RULE
        window = ic407_bolus_then_infusion.BOLUS_WINDOW_MINUTES * MINUTE_US
        kept = []
        # each drug's timed infusions in order, to find the first one in a push's window by bisection
        drips: dict[str, list[Run]] = {}
        starts: dict[str, list[int]] = {}
        for infusion in self.infusions:
            if infusion.start is not None:
                drug = infusion.service.drug
                if drug in drips:
                    drips[drug].append(infusion)
                    starts[drug].append(infusion.start)
                else:
                    drips[drug] = [infusion]
                    starts[drug] = [infusion.start]
        for push in self.pushes:
            service = push.service
            at_times = starts.get(service.drug)
            assert push.start is not None
            if at_times is None:
                kept.append(push)
                continue
            at = bisect_left(at_times, push.start)
            if not (at < len(at_times) and at_times[at] <= push.start + window):
                kept.append(push)
                continue
            drip = drips[service.drug][at]
            self.folded.setdefault(drip.service.drug, []).extend(service.ids)
            self.ctx.find(
                rule,
                "bolus-coded-with-infusion",
                "info",
                service.ids + drip.service.ids,
                f"{service.label} pushed at {self._clock(push.start)} and infused from {self._clock(drip.start)}: "
                "a push followed by an infusion of the same drug is coded as the infusion only.",
            )
        return kept

    def _new_bucket(self, day: date, runs: list[Run]) -> Bucket:
        if len(runs) == 1:
            spans = runs[0].spans
            raw = [spans[0]] if len(spans) == 1 and spans[0][1] > spans[0][0] else merge(spans)
        else:
            raw = merge([span for r in runs for span in r.spans])  # segments: a pause is not counted
        return Bucket(day, runs, raw)

    def _streams(self) -> list[Stream]:
        by_drug: dict[str, list[Run]] = {}
        for infusion in self.infusions:
            drug = infusion.service.drug
            if drug in by_drug:
                by_drug[drug].append(infusion)
            else:
                by_drug[drug] = [infusion]
        streams = []
        for drug, runs in by_drug.items():
            first = runs[0].service
            if len(runs) == 1:  # the common case: one bag, one date
                start = runs[0].start
                assert start is not None
                streams.append(
                    Stream(drug, first.family, first.label, [self._new_bucket(self._day(start), runs)])
                )
                continue
            by_day: dict[date, list[Run]] = {}
            for run in runs:
                assert run.start is not None
                day = self._day(run.start)
                if day in by_day:
                    by_day[day].append(run)
                else:
                    by_day[day] = [run]
            buckets = [self._new_bucket(day, by_day[day]) for day in sorted(by_day)]
            # the drug's family: chemotherapy when any bag is, else its first bag's
            chemo = any(r.service.family == "chemotherapy" for r in runs)
            family = "chemotherapy" if chemo else first.family
            streams.append(Stream(drug, family, first.label, buckets))
            self.ctx.find(
                ic406_same_drug_time.RULE,
                "same-drug-bags-added",
                "info",
                tuple(i for r in runs for i in r.service.ids),
                f"{len(runs)} infusions of {first.label} are one drug: their minutes are added per date "
                "before units are counted.",
            )
        return streams

    def _sort_pushes(
        self, pushes: list[Run], streams: list[Stream]
    ) -> tuple[list[Run], list[Repeat], list[tuple[Run, int]]]:
        """New-drug pushes, repeats of a drug already reported, and repeats within 30 minutes (not coded).

        The relation is symmetric in time: a push of a drug that is infused in this scope repeats that drug
        whether it comes before or after the infusion (a drug pushed on day 1 and infused on day 2 of an
        observation stay is 96376, never 96375, whichever service is initial). Only the first push of a
        drug that is never infused is a new drug."""
        if not pushes:  # nothing to sort: the tables below are for pushes to look up
            return [], [], []
        gap = ic404_repeat_push.REPEAT_GAP_MINUTES * MINUTE_US
        added = self.ctx.option("stopless_same_drug") == "added"
        institutional = self.ctx.institutional
        last_reported: dict[str, int] = {}
        new: list[Run] = []
        repeats: list[Repeat] = []
        within: list[tuple[Run, int]] = []
        # per drug: timed runs by start and the latest end among the first k, so each push is a bisection
        run_starts: dict[str, list[int]] = {}
        latest_end: dict[str, list[int]] = {}
        pushed = {push.service.drug for push in pushes}
        for stream in streams:
            if stream.drug not in pushed:  # no push of this drug to look its runs up for
                continue
            timed = sorted(
                [
                    (r.start, r.end)
                    for b in stream.buckets
                    for r in b.runs
                    if r.start is not None and r.end is not None
                ]
            )
            run_starts[stream.drug] = [start for start, _ in timed]
            latest: list[int] = []
            for _, end in timed:
                latest.append(end if not latest or end > latest[-1] else latest[-1])
            latest_end[stream.drug] = latest
        if not run_starts and len(pushed) == len(pushes):
            return list(pushes), [], []  # each push a drug of its own, never infused here: all new
        no_starts: list[int] = []
        for push in pushes:
            service = push.service
            at = push.start
            assert at is not None
            drug = service.drug
            starts = run_starts.get(drug, no_starts)
            before = bisect_right(starts, at)
            references: list[tuple[int, str]] = []
            if before:
                ended = min(latest_end[drug][before - 1], at)
                references.append((ended, f"its infusion ended at {self._at(ended, at)}"))
            if drug in last_reported:
                last = last_reported[drug]
                references.append((last, f"it was last pushed at {self._at(last, at)}"))
            if service.assumed_push and added and (references or before < len(starts)):
                # A bag charted with no stop, of a drug already reported here: one more bag of that drug,
                # whose time is unknown; same-drug infusions are added, never recoded as repeat pushes.
                if references:
                    self._stopless_added(push, max(references)[1])
                else:
                    self._stopless_added(push, f"its infusion from {self._at(starts[before], at)}")
                continue
            if references:
                reference, what = max(references)
                if at - reference > gap:
                    repeats.append(Repeat(push, reference, what, after=True))
                    if institutional and service.family != "chemotherapy":
                        last_reported[drug] = at
                else:
                    within.append((push, reference))
            elif before < len(starts):
                # Infused later in this scope: the infusion is the drug's reported service, so this push
                # repeats it. A push within 30 minutes before its infusion was folded into it (IC407).
                following = starts[before]
                what = f"its infusion from {self._at(following, at)}"
                repeats.append(Repeat(push, following, what, after=False))
                if institutional and service.family != "chemotherapy":
                    last_reported[drug] = at
            else:
                new.append(push)
                last_reported[drug] = at
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

    def _stopless_added(self, push: Run, reference: str) -> None:
        """Name a stopless bag that adds nothing codable; the finding replaces the missing-stop findings
        that said it would be coded as a push (see the end of _sort_pushes)."""
        service = push.service
        ids = tuple(sorted(service.ids))
        self.ctx.supplied.update(ids)
        self.added_ids.add(ids)
        findings = self.ctx.findings
        self.ctx.findings = self.added_findings  # collected apart, added after the one filtering pass
        self.ctx.find(
            ic406_same_drug_time.RULE,
            "stopless-bag-added",
            "warning",
            service.ids,
            f"No stop time for {service.label} started {self._clock(push.start)}: a drug already reported here "
            f"({reference}), so this is one more bag of it, whose minutes are added to the drug's, never a "
            "repeat push (96376); its minutes are unknown, so it adds nothing and is not coded "
            f"({self.ctx.cite_option('stopless_same_drug')}). Document its stop time to count its minutes.",
            denial_risk="CO-16",
        )
        self.ctx.findings = findings

    def _hydration_buckets(self, pushes: list[Run]) -> list[Bucket]:
        """Hydration minutes left after other infusions and documented pushes, grouped for counting."""
        if not self.hydrations:
            return []
        raw = merge([span for h in self.hydrations for span in h.spans])
        taken = merge([span for runs in (self.infusions, pushes) for s in runs for span in s.spans])
        own = cut(raw, taken)
        alongside = total_minutes(raw) - total_minutes(own)
        ids = tuple([i for h in self.hydrations for i in h.service.ids])
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
        no_raw: list[Span] = []
        for piece in own:
            day = self._day(piece[0])
            if combine and buckets and buckets[-1].day == day:
                buckets[-1].own.append(piece)
            else:
                buckets.append(Bucket(day, self.hydrations, no_raw, own=[piece]))
        for bucket in buckets:
            bucket.own_minutes = total_minutes(bucket.own)
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
        self, streams: list[Stream], pushes: list[Run], hydration: list[Bucket]
    ) -> Initial | None:
        candidates: list[tuple[tuple[int, int, int, str], Stream | Run | None]] = []
        for stream in streams:
            candidates.append((stream.precedence, stream))
        for push in pushes:
            assert push.start is not None
            service = push.service
            rank = _PUSH_RANK.get(service.family)
            if rank is None:
                rank = RANK[(service.family, "push")]  # RANK's own KeyError
            key = (rank, 0, push.start, service.ids[0])
            candidates.append((key, push))
        if hydration and ic204_hydration_time.qualifies(hydration[0].own_minutes):
            first = hydration[0]
            key = (_INFUSION_RANK["hydration"], -first.own_minutes, first.own[0][0], "")
            candidates.append((key, None))
        if not candidates:
            return None
        return self._describe(self._pick(candidates), hydration)

    def _holds(self, candidate: Stream | Run | None, administration: str) -> bool:
        """Whether an administration is one the candidate initial service stands for."""
        if isinstance(candidate, Stream):
            return administration in candidate.ids()
        if candidate is not None:
            return administration in candidate.service.ids
        return any(administration in h.service.ids for h in self.hydrations)

    def _pick(self, candidates: list[tuple[tuple[int, int, int, str], Stream | Run | None]]) -> Initial:
        if not self.scope.main:
            self.basis = _BASIS_SEPARATE
            return _initial(_least(candidates))
        primary = self.ctx.encounter.primary_administration if not self.ctx.institutional else None
        if primary is not None and self.use_primary:
            chosen = next((c for c in sorted(candidates, key=_first) if self._holds(c[1], primary)), None)
            if chosen is not None:
                self.basis = _BASIS_PRIMARY
                return _initial(chosen[1])
        self.basis = _BASIS_FACILITY if self.ctx.institutional else _BASIS_NO_PRIMARY
        return _initial(_least(candidates))

    def _describe(self, initial: Initial, hydration: list[Bucket]) -> Initial:
        """When the initial service began and what it is, so add-ons can say "before" or "after" it."""
        if initial.kind == "stream" and initial.stream is not None:
            initial.start = initial.stream.start
            initial.label = f"{initial.stream.label} infusion from {self._clock(initial.start)}"
        elif initial.kind == "push" and initial.push is not None:
            initial.start = initial.push.start
            initial.label = f"{initial.push.service.label} pushed at {self._clock(initial.start)}"
        elif hydration:
            initial.start = hydration[0].own[0][0]
            initial.label = f"hydration from {self._clock(initial.start)}"
        return initial

    def _relative(self, moment: int | None, initial: Initial) -> str:
        """'after the initial service (X from 15:00)', or 'before' as charted."""
        if initial.start is None or moment is None:
            return "after the initial service"
        side = "before" if moment < initial.start else "after"
        label = initial.label
        if not self._same_day(moment, initial.start):
            label = label.replace(self._clock(initial.start), self._stamp(initial.start))
        return f"{side} the initial service ({label})"

    def _at(self, moment: int, beside: int) -> str:
        """HH:MM, with the date when it differs from the moment it is compared with."""
        if self._same_day(moment, beside):
            return self._clock(moment)
        return self._stamp(moment)

    def _share_minutes(self, ordered: list[Stream]) -> None:
        if not ordered:
            return
        covered: list[Span] = []
        lead = ordered[0]
        for stream in ordered:
            for bucket in stream.buckets:
                raw = bucket.raw
                if not covered:  # the first stream of a scope: nothing covered yet, nothing overlaps
                    bucket.own = raw
                    bucket.own_minutes = bucket.raw_minutes
                    covered = raw
                    continue
                bucket.own = cut(raw, covered)
                bucket.own_minutes = total_minutes(bucket.own)
                bucket.overlap = common(raw, covered)
                bucket.overlap_minutes = total_minutes(bucket.overlap)
                covered = merge(covered + raw)
                if bucket.overlap and bucket.own_minutes >= _FIRST_HOUR_FROM and stream is not lead:
                    self.ctx.find(
                        ic408_overlap_once.RULE,
                        "overlap-counted-once",
                        "info",
                        bucket.ids,
                        f"{bucket.overlap_minutes} minutes of {stream.label} overlap a drug counted before it; "
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
        minutes_counted: int | None,
        initial: bool,
        counted: tuple[Interval, ...],
    ) -> None:
        modifiers: tuple[str, ...] = (self.scope.modifier,) if initial and self.scope.modifier else ()
        ordered = tuple(sorted(ids)) if len(ids) > 1 else ids
        main = initial and self.scope.main
        for moment in moments:
            self.units.append(
                Unit(
                    code,
                    moment,
                    ordered,
                    rule,
                    explanation,
                    minutes_counted,
                    modifiers,
                    initial,
                    main,
                    counted,
                )
            )

    def _moments(self, bucket: Bucket, marks: list[int]) -> list[int]:
        """When each mark's minute (the 16th, 91st, ...) of the bucket's own time fell (IC211), or its
        start for every mark where the policy dates units by the service start."""
        own = bucket.own
        if not own:
            return []
        if self.service_start_dating:
            return [own[0][0]] * len(marks)
        return [moment_of_minute(own, mark, MINUTE_US) for mark in marks]

    def _first_hour(self, bucket: Bucket) -> list[datetime | None]:
        """_moments(bucket, [16]) as datetimes: when the first hour's unit was earned (IC211)."""
        own = bucket.own
        if not own:
            return []
        if self.service_start_dating:
            return [self._moment(own[0][0])]
        return [self._moment(moment_of_minute(own, _FIRST_HOUR_FROM, MINUTE_US))]

    def _dated(self, bucket: Bucket, marks: list[int]) -> list[tuple[date, list[datetime | None], list[int]]]:
        """The marks and their moments grouped by the date each fell on, in order (IC211): the text of a
        line names the date its units carry and the minutes that earned them, never only the start date."""
        moments = self._moments(bucket, marks)
        if moments and len(moments) == len(marks) and not self.shifts:
            # the common case, all on one date: the moments ascend, and so do their dates where the clocks
            # do not change
            first = moments[0]
            if len(moments) == 1 or moments[-1] // _DAY_US == first // _DAY_US:
                return [(self._day(first), [self._moment(moment) for moment in moments], marks)]
        groups: list[tuple[date, list[datetime | None], list[int]]] = []
        for moment, mark in zip(moments, marks, strict=True):
            day = self._day(moment)
            for group in groups:
                if group[0] == day:
                    group[1].append(self._moment(moment))
                    group[2].append(mark)
                    break
            else:
                groups.append((day, [self._moment(moment)], [mark]))
        return groups

    def _added_hours(
        self, stream_family: str, bucket: Bucket, ids: tuple[str, ...], label: str, after_first: bool
    ) -> None:
        own_minutes = bucket.own_minutes
        units = (
            ic203_hour_units.added_hours_after_first(own_minutes)
            if after_first
            else ic203_hour_units.added_hours_only(own_minutes)
        )
        if units:
            if not bucket.own:  # no time of its own to date units by
                return
            code = ADDED_HOUR[stream_family]
            marks = ic203_hour_units.added_hour_marks(units, after_first=after_first)
            lead = (
                "past its first hour"
                if after_first
                else "continuing a drug whose first hour is already coded"
            )
            counted = self._bucket_counted(bucket)
            for day, moments, day_marks in self._dated(bucket, marks):
                if day == bucket.day:
                    where = f"on {self._iso(bucket.day)}"
                    earned = ""
                else:
                    where = f"from {self._iso(bucket.day)}"
                    earned = _later_date(self._iso(day), day_marks)
                self._emit(
                    code,
                    moments,
                    ids,
                    ic203_hour_units.RULE,
                    f"Added hours: {label} {self._span(bucket)} counts {own_minutes} minutes {where}, "
                    f"{lead}; each added hour needs more than 30 minutes{earned}.",
                    own_minutes,
                    False,
                    counted,
                )
        elif not after_first and own_minutes:
            self.ctx.find(
                ic406_same_drug_time.RULE,
                "added-time-below-hour",
                "info",
                ids,
                f"{label} on {self._iso(bucket.day)} counts {own_minutes} minutes after its first hour was coded: "
                "under the 31 minutes an added hour needs.",
            )

    def _code_stream(self, stream: Stream, initial: Initial) -> None:
        buckets = stream.buckets
        first = buckets[0]
        first_ids = first.ids
        ids = (
            first_ids
            if len(first_ids) == 1 and not stream.folded
            else tuple(sorted({*first_ids, *stream.folded}))
        )
        if initial.stream is stream:
            code = _INFUSION_CODE.get(stream.family) or INITIAL_CODE[(stream.family, "infusion")]
            self._emit(
                code,
                self._first_hour(first),
                ids,
                ic301_facility_hierarchy.RULE if self.ctx.institutional else ic302_primary_reason.RULE,
                f"Initial: {stream.label} infusion {self._span(first)} is {first.own_minutes} minutes; {self.basis}.",
                first.own_minutes,
                True,
                self._bucket_counted(first),
            )
            self._added_hours(stream.family, first, ids, stream.label, after_first=True)
        elif first.own_minutes >= _FIRST_HOUR_FROM:
            self._sequential(stream, first, ids, initial)
        elif first.overlap_minutes >= self.ctx.option("concurrent_min_overlap_minutes"):
            self._concurrent(stream, first, ids)
        else:
            self.ctx.find(
                ic402_concurrent_infusion.RULE,
                "short-overlap",
                "warning",
                ids,
                f"{stream.label} {self._span(first)} overlaps another drug for {first.overlap_minutes} minutes, under "
                f"the {self.ctx.option('concurrent_min_overlap_minutes')} needed for concurrent "
                f"({self.ctx.cite_option('concurrent_min_overlap_minutes')}): coded as sequential.",
            )
            self._sequential(stream, first, ids, initial)
        for index in range(1, len(buckets)):
            bucket = buckets[index]
            self._added_hours(stream.family, bucket, bucket.ids, stream.label, after_first=False)

    def _sequential(self, stream: Stream, bucket: Bucket, ids: tuple[str, ...], initial: Initial) -> None:
        code = _SEQUENTIAL[stream.family]
        run = bucket.runs[0]
        moments = self._first_hour(bucket) or [run.service.start]
        self._emit(
            code,
            moments,
            ids,
            ic401_sequential_infusion.RULE,
            f"Sequential: {stream.label} {self._span(bucket)} is a new drug infused "
            f"{self._relative(run.start, initial)}, {bucket.own_minutes} minutes of its own.",
            bucket.own_minutes,
            False,
            self._bucket_counted(bucket),
        )
        self._added_hours(stream.family, bucket, ids, stream.label, after_first=True)

    def _concurrent(self, stream: Stream, bucket: Bucket, ids: tuple[str, ...]) -> None:
        per_date = self.ctx.option("concurrent_frequency") == "date"
        key = bucket.day if per_date else "encounter"
        overlap = bucket.overlap_minutes
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
            [self._moment(bucket.overlap[0][0])],
            ids,
            ic402_concurrent_infusion.RULE,
            f"Concurrent: {stream.label} {self._span(bucket)} ran in its own bag alongside another drug on the same "
            f"access for {overlap} minutes, with {bucket.own_minutes} minutes of its own; reported once per "
            f"{'date' if per_date else 'encounter'}.",
            overlap,
            False,
            self._counted(bucket.overlap),
        )
        concurrent = self.units[-1]
        sequential = _SEQUENTIAL[stream.family]
        primaries = (
            ", ".join(self.ctx.codes["96368"].addon_primaries) if "96368" in self.ctx.codes.codes else ""
        )
        concurrent.instead = Unit(
            sequential,
            bucket.runs[0].service.start,
            concurrent.ids,
            ic402_concurrent_infusion.RULE,
            f"Sequential: {stream.label} {self._span(bucket)} ran alongside another drug on the same access "
            f"({overlap} minutes), but the concurrent code 96368 goes only with {primaries}, and none is on this "
            f"claim: as CPT allows, it is coded as an additional infusion of a new drug ({sequential}), "
            f"{bucket.raw_minutes} documented minutes.",
            bucket.raw_minutes,
            intervals=self._counted(bucket.raw),
        )

    def _code_new_push(self, push: Run, initial: Initial) -> None:
        service = push.service
        assumed = " (no stop time: coded as a push)" if service.assumed_push else ""
        if initial.push is push:
            self._emit(
                _PUSH_CODE.get(service.family) or INITIAL_CODE[(service.family, "push")],
                [service.start],
                service.ids,
                ic301_facility_hierarchy.RULE if self.ctx.institutional else ic302_primary_reason.RULE,
                f"Initial: {service.label} pushed at {self._clock(push.start)}{assumed}; {self.basis}.",
                service.minutes,
                True,
                tuple(_point(service)),
            )
            return
        self._emit(
            _ADDED_PUSH[service.family],
            [service.start],
            service.ids,
            ic403_additional_push.RULE,
            f"Added push: {service.label} at {self._clock(push.start)}{assumed} is a new drug pushed "
            f"{self._relative(push.start, initial)}.",
            service.minutes,
            False,
            tuple(_point(service)),
        )

    def _code_repeat_push(self, repeat: Repeat) -> None:
        rule = ic404_repeat_push.RULE
        push = repeat.push
        service = push.service
        self.ctx.supplied.update(service.ids)  # the drug was given: billed even where the push has no code
        when = self._clock(push.start)
        relation = (
            f"more than 30 minutes after {repeat.what}"
            if repeat.after
            else f"more than 30 minutes before {repeat.what}"
        )
        if service.family == "chemotherapy":
            self.ctx.find(
                rule,
                "repeat-chemo-push",
                "info",
                service.ids,
                f"{service.label} at {when} repeats a chemotherapy drug already reported ({relation}): no code.",
            )
            return
        if not self.ctx.institutional:
            self.ctx.find(
                rule,
                "repeat-push-professional",
                "info",
                service.ids,
                f"{service.label} pushed at {when} is the same drug ({relation}): 96376 is for facilities only and "
                "96375 is for new drugs, so a professional claim has no code for it.",
            )
            return
        self._emit(
            "96376",
            [service.start],
            service.ids,
            rule,
            f"Repeat push: {service.label} at {when} is the same drug, pushed {relation} (facility only).",
            None,
            False,
            tuple(_point(service)),
        )

    def _report_within(self, entry: tuple[Run, int]) -> None:
        push, reference = entry
        service = push.service
        assert push.start is not None
        self.ctx.supplied.update(service.ids)
        gap = (push.start - reference) // MINUTE_US
        self.ctx.find(
            ic404_repeat_push.RULE,
            "repeat-push-within-30-minutes",
            "info",
            service.ids,
            f"{service.label} at {self._clock(push.start)} follows the same drug by {gap} minutes (last at "
            f"{self._stamp(reference)}): a repeat needs more than 30 minutes, so it is not coded.",
        )

    def _code_hydration(self, buckets: list[Bucket], initial: Initial) -> None:
        if not buckets:
            return
        ids = tuple(sorted([i for h in self.hydrations for i in h.service.ids]))
        rule = ic204_hydration_time.RULE
        rest = buckets
        if initial.kind == "hydration":
            first, rest = buckets[0], buckets[1:]
            counted = self._bucket_counted(first)
            for day, moments, _marks in self._dated(first, [ic204_hydration_time.HYDRATION_MIN_MINUTES]):
                self._emit(
                    "96360",
                    moments,
                    ids,
                    rule,
                    f"Initial: hydration counts {first.own_minutes} minutes "
                    + (
                        f"on {self._iso(first.day)}"
                        if day == first.day
                        else f"from {self._iso(first.day)}, its 31st minute on {self._iso(day)}"
                    )
                    + f" (31 needed); {self.basis}.",
                    first.own_minutes,
                    True,
                    counted,
                )
            self._added_hours("hydration", first, ids, "hydration", after_first=True)
        secondary = initial.kind != "hydration"
        lead = "secondary to the initial service" if secondary else "continuing the initial hydration"
        for bucket in rest:
            if not ic204_hydration_time.qualifies(bucket.own_minutes):
                self.ctx.find(
                    rule,
                    "hydration-below-minimum",
                    "info",
                    ids,
                    f"Hydration on {self._iso(bucket.day)} counts {bucket.own_minutes} minutes of its own: under the 31 "
                    "minutes hydration needs, so it is not reported.",
                )
                continue
            units = ic203_hour_units.added_hours_only(bucket.own_minutes)
            marks = ic203_hour_units.added_hour_marks(units, after_first=False)
            began = bucket.own[0][0]
            start_day = self._day(began)
            counted = self._bucket_counted(bucket)
            for day, moments, day_marks in self._dated(bucket, marks):
                earned = "" if day == start_day else _later_date(self._iso(day), day_marks)
                self._emit(
                    "96361",
                    moments,
                    ids,
                    rule,
                    f"Hydration {lead}: {bucket.own_minutes} minutes from {self._stamp(began)} not "
                    f"overlapping other infusions; 96361 from 31 minutes, a unit per hour past 30 minutes{earned}.",
                    bucket.own_minutes,
                    False,
                    counted,
                )

    def _report_uncoded_hydration(self, buckets: list[Bucket]) -> None:
        if not self.hydrations:
            return
        counted = buckets[0].own_minutes if buckets else 0
        ids = tuple(sorted([i for h in self.hydrations for i in h.service.ids]))
        self.ctx.find(
            ic204_hydration_time.RULE,
            "hydration-below-minimum",
            "info",
            ids,
            f"Hydration counts {counted} minutes: under the 31 minutes hydration needs, so it is not reported.",
        )


def _later_date(day: str, marks: list[int]) -> str:
    return f"; the {_units(marks)} dated {day} {_earned(marks)}, which fell on {day}"


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
