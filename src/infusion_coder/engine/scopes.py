"""Which IV services share an initial service: split by vascular access (IC303) and by date (IC304)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from ..rules import ic301_facility_hierarchy, ic303_second_access, ic304_initial_scope
from .context import Context
from .services import Scope, Service


def build_scopes(ctx: Context, services: list[Service]) -> list[Scope]:
    # the timeline's techniques, push and infusion: two string tests, not a tuple's
    iv = [s for s in services if s.route == "iv" and (s.technique == "push" or s.technique == "infusion")]
    if not iv:
        return []
    groups = _access_groups(ctx, iv)
    by_date = ctx.option("initial_scope") == "date"
    scopes: list[Scope] = []
    for index, group in enumerate(groups):
        modifier = None if index == 0 else ctx.option("distinct_modifier")
        if by_date:
            by_day: dict[date | None, list[Service]] = defaultdict(list)
            for service in group:
                by_day[service.day].append(service)
            for day in sorted(by_day, key=lambda d: d or date.min):
                scopes.append(Scope(by_day[day], modifier=modifier, main=index == 0, label=str(day)))
        else:
            scopes.append(Scope(group, modifier=modifier, main=index == 0))
    return scopes


def _rank(group: list[Service]) -> tuple[int, datetime]:
    ranks = [ic301_facility_hierarchy.RANK.get((s.family, s.technique), 9) for s in group]
    return (min(ranks), min(s.start or datetime.max for s in group))


def _access_groups(ctx: Context, services: list[Service]) -> list[list[Service]]:
    """The main access first (it holds the encounter's initial service), then each separate access."""
    access = services[0].access
    if all(service.access == access for service in services):  # the common case: one access
        return [services]
    rule = ic303_second_access.RULE
    by_access: dict[str | None, list[Service]] = defaultdict(list)
    for service in services:
        by_access[service.access].append(service)
    if len(by_access) == 1:
        return [services]
    required = {k: any(s.access_required is True for s in g) for k, g in by_access.items()}
    not_required = {k: all(s.access_required is False for s in g) for k, g in by_access.items()}
    # The main access: one not documented as a second access, holding the highest-ranked service.
    candidates = [k for k in by_access if not required[k] and not not_required[k]] or list(by_access)
    main_key = min(candidates, key=lambda k: (_rank(by_access[k]), str(k)))
    main = list(by_access[main_key])
    separate: list[list[Service]] = []
    for key, group in sorted(by_access.items(), key=lambda kv: (_rank(kv[1]), str(kv[0]))):
        if key == main_key:
            continue
        ids = tuple(i for s in group for i in s.ids)
        name = f"Access {group[0].access_label!r}" if key else "The unnamed access"
        if required[key]:
            separate.append(group)
            ctx.find(
                rule,
                "second-access-documented",
                "info",
                ids,
                f"{name} is a second vascular access documented as required: it has its own initial service "
                f"with modifier {ctx.option('distinct_modifier')} ({ctx.cite_option('distinct_modifier')}).",
            )
        elif not_required[key] or key is None:
            main.extend(group)
            if key is not None:
                ctx.find(
                    rule,
                    "second-access-not-required",
                    "info",
                    ids,
                    f"{name} is documented as not required (a restart or change of site): its services continue "
                    "the first access and get no second initial service.",
                )
        elif ctx.institutional and ctx.option("second_access_undocumented") == "separate":
            separate.append(group)
            ctx.find(
                rule,
                "second-access-undocumented",
                "error",
                ids,
                f"{name} is a second vascular access with its own initial service and modifier "
                f"{ctx.option('distinct_modifier')} ({ctx.cite_option('second_access_undocumented')}), but the "
                "record does not show why a separate access was required: held until it does. Document the "
                "reason a second site was needed (a protocol requiring two sites, incompatible drugs, a line "
                "that could not be used; separate_access_required=true), or record it as not required (a restart "
                "after infiltration) to code it with the first access.",
                denial_risk="CO-97",
            )
        else:
            main.extend(group)
            ctx.find(
                rule,
                "second-access-undocumented",
                "info",
                ids,
                f"{name} is a second vascular access whose need is not documented: its services are coded with the "
                "first access. Documenting why a second access was required would support a second initial "
                f"service with modifier {ctx.option('distinct_modifier')}.",
            )
    return [main, *separate]


_ = ic304_initial_scope
