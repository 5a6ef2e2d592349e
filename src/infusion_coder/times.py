"""Times as records give them (naive local, or with a UTC offset), read into one frame the engine can count
real minutes in.

The engine works on naive datetimes. For an encounter whose times are all naive and that names no time
zone ("floating"), those are the facility's wall clock as given, and nothing changes. Otherwise every time
is converted to a real instant (a naive time is local to the facility zone) and then written as UTC shifted
by `base`, the local offset at the encounter's first time: minutes between any two times are then real
elapsed minutes, and the wall clock is exact wherever the local offset is still `base`. Where it is not (a
daylight-saving change inside the encounter), `TimeFrame.local` gives the true wall clock for dates of
service and for what the result shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Plausible dates of service. MIMIC-IV's de-identified dates run to about 2210, hence the late upper bound.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2299
# One administration longer than two weeks, or an outpatient encounter longer than 60 days, is a data error
# (a wrong year or month), and would otherwise make the engine count units for every date in between.
MAX_ADMINISTRATION_SPAN = timedelta(days=14)
MAX_ENCOUNTER_SPAN = timedelta(days=60)


@dataclass(frozen=True)
class TimeFrame:
    """How an encounter's times were read: the facility zone (None when floating), the frame's offset,
    and whether the local offset changes inside the encounter."""

    zone: tzinfo | None = None
    base: timedelta = timedelta(0)
    shifts: bool = False

    def local(self, moment: datetime) -> datetime:
        """The facility's wall clock (naive) at an engine time."""
        if not self.shifts or self.zone is None:
            return moment
        return (moment - self.base).replace(tzinfo=UTC).astimezone(self.zone).replace(tzinfo=None)

    def engine(self, wall: datetime) -> datetime:
        """The engine time of a wall-clock time (the inverse of `local`), e.g. for a local midnight."""
        if not self.shifts or self.zone is None:
            return wall
        return wall.replace(tzinfo=self.zone).astimezone(UTC).replace(tzinfo=None) + self.base

    def shown(self, moment: datetime) -> datetime:
        """An engine time as the result shows it: local with its offset, or naive when floating."""
        if self.zone is None:
            return moment
        return (moment - self.base).replace(tzinfo=UTC).astimezone(self.zone)


FLOATING = TimeFrame()


@dataclass(frozen=True)
class TimeNote:
    """Something about the encounter's times a coder should know (becomes a finding)."""

    id: str
    severity: str
    ids: tuple[str, ...]
    message: str


class TimeError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class _Time:
    path: str  # administrations[2].start
    admin_id: str
    value: datetime
    local: datetime | None = None  # aware, in the facility zone or the chosen offset
    notes: list[str] = field(default_factory=list)


def _offset_text(offset: timedelta | None) -> str:
    if offset is None:
        return "no offset"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# The longest IANA zone name is about 30 characters; a longer text is refused before the file system sees it
# (a name over 255 characters made ZoneInfo raise OSError).
MAX_ZONE_NAME = 64


def resolve_zone(name: str) -> ZoneInfo:
    shown = name if len(name) <= 40 else name[:40] + "..."
    refused = TimeError("timezone", f"{shown!r} is not an IANA time zone such as America/Chicago")
    if len(name) > MAX_ZONE_NAME:
        raise refused
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name the file system refuses
        raise refused from exc


def floating_administrations(administrations: Iterable[Any], zone_name: str | None) -> bool:
    """True when read_times would leave every time as it is (no zone, each start, end and segment time
    naive and in the plausible years): the common encounter then needs no conversion pass. Read here, not
    through a generator in models.py: compiled in the compiled build, and no generator frames."""
    if zone_name is not None:
        return False
    for admin in administrations:
        for moment in (admin.start, admin.end):
            if moment is not None and not (
                moment.tzinfo is None and EARLIEST_YEAR <= moment.year <= LATEST_YEAR
            ):
                return False
        for segment in admin.segments or ():
            for moment in (segment.start, segment.end):
                if not (moment.tzinfo is None and EARLIEST_YEAR <= moment.year <= LATEST_YEAR):
                    return False
    return True


def read_times(
    times: list[tuple[str, str, datetime]], zone_name: str | None
) -> tuple[TimeFrame, list[datetime], list[TimeNote]]:
    """Convert (field path, administration id, value) triples into engine times, with the frame and notes.

    Raises TimeError naming the field for a time outside the plausible years or an unknown zone.
    """
    items = [_Time(path, admin_id, value) for path, admin_id, value in times]
    for item in items:
        if not EARLIEST_YEAR <= item.value.year <= LATEST_YEAR:
            raise TimeError(
                item.path,
                f"{item.value.isoformat()} is outside the plausible dates of service "
                f"({EARLIEST_YEAR}-{LATEST_YEAR}); check the year",
            )
    zone: tzinfo | None = resolve_zone(zone_name) if zone_name else None
    aware = [item for item in items if item.value.tzinfo is not None]
    if zone is None and not aware:
        return FLOATING, [item.value for item in items], []
    notes: list[TimeNote] = []
    if zone is None:
        # No facility zone: the local offset is the one the first time carries.
        first = min(aware, key=lambda item: item.value)
        zone = timezone(first.value.utcoffset() or timedelta(0))
        offsets = {item.value.utcoffset() for item in aware}
        naive = [item for item in items if item.value.tzinfo is None]
        if len(offsets) > 1 or naive:
            odd = sorted({item.admin_id for item in items if item.value.utcoffset() != zone.utcoffset(None)})
            shown = ", ".join(sorted(_offset_text(offset) for offset in offsets))
            notes.append(
                TimeNote(
                    "mixed-utc-offsets",
                    "warning",
                    tuple(odd),
                    f"Times carry different UTC offsets ({shown}"
                    + (f", and {len(naive)} with none" if naive else "")
                    + f") and the encounter names no facility timezone: all were converted to "
                    f"{_offset_text(zone.utcoffset(None))}, the offset of the first time, and minutes were "
                    "counted on real elapsed time. Set timezone to the facility's zone to date them exactly.",
                )
            )
    for item in items:
        if item.value.tzinfo is not None:
            item.local = item.value.astimezone(zone)
            continue
        item.local = item.value.replace(tzinfo=zone)
        if isinstance(zone, ZoneInfo):
            back = item.local.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
            if back != item.value:
                item.notes.append("nonexistent")
            elif item.value.replace(fold=1, tzinfo=zone).utcoffset() != item.local.utcoffset():
                item.notes.append("ambiguous")
    locals_ = [item.local for item in items if item.local is not None]
    if not locals_:  # a zone but no times at all (an injection charted without a time): nothing to convert
        return TimeFrame(zone), [], notes
    base = min(locals_).utcoffset() or timedelta(0)
    frame = TimeFrame(zone, base, any(moment.utcoffset() != base for moment in locals_))
    converted = [
        (item.local.astimezone(UTC).replace(tzinfo=None) + base) if item.local is not None else item.value
        for item in items
    ]
    notes.extend(_zone_notes(items, zone))
    return frame, converted, notes


def _zone_notes(items: list[_Time], zone: tzinfo) -> list[TimeNote]:
    notes = []
    for kind, severity, text in (
        (
            "nonexistent",
            "warning",
            "falls in the hour skipped when clocks go forward; read as if standard time had continued",
        ),
        (
            "ambiguous",
            "warning",
            "falls in the hour repeated when clocks go back; read as the first of the two",
        ),
    ):
        hit = [item for item in items if kind in item.notes]
        if hit:
            notes.append(
                TimeNote(
                    f"{kind}-local-time",
                    severity,
                    tuple(sorted({item.admin_id for item in hit})),
                    f"{len(hit)} local time(s) ({', '.join(item.path for item in hit[:3])}) {text} in {zone}; "
                    "check the record's times.",
                )
            )
    by_admin: dict[str, list[_Time]] = {}
    for item in items:
        by_admin.setdefault(item.admin_id, []).append(item)
    crossing = sorted(
        admin_id
        for admin_id, group in by_admin.items()
        if len({item.local.utcoffset() for item in group if item.local is not None}) > 1
    )
    if crossing and isinstance(zone, ZoneInfo):
        notes.append(
            TimeNote(
                "daylight-saving-change",
                "info",
                tuple(crossing),
                f"The clocks changed in {zone} while these ran: their minutes are real elapsed time, not the "
                "difference of the wall-clock times charted.",
            )
        )
    return notes


_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def local_time(value: Any) -> Any:
    """An ISO 8601 date-time, naive (the facility's wall clock) or with a UTC offset, which is kept here and
    converted once the encounter's time zone is known (read_times)."""
    if isinstance(value, datetime) or value is None:
        return value
    if not isinstance(value, str):
        kind = "a number" if isinstance(value, int | float) else f"a {type(value).__name__}"
        raise ValueError(f"expected an ISO 8601 date-time text such as 2026-01-15T10:05, not {kind}")
    text = value.strip()
    if _ISO_START.match(text):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        what = "is not a valid date-time (check the day, hour and offset)"
    else:
        what = "is not an ISO 8601 date-time such as 2026-01-15T10:05"
    shown = text if len(text) <= 40 else text[:40] + "..."
    raise ValueError(f"{shown!r} {what}") from None
