"""Services outside the IV timeline: injections, SC infusions, intra-arterial, pump starts, other routes, port flushes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from ..rules import (
    ic203_hour_units,
    ic205_prolonged_pump,
    ic206_injection,
    ic207_subcutaneous_infusion,
    ic208_intra_arterial,
    ic209_chemo_other_route,
    ic210_port_irrigation,
    ic213_on_body_injector,
)
from ..rules.base import Rule
from .context import Context
from .services import Service, Unit

_ALONE = ("prolonged", "on_body", "route_code")  # techniques coded one service at a time below


def _unit(code: str, service: Service, rule: Rule, explanation: str, when: datetime | None = None) -> Unit:
    counted = service.spans or ([(service.start, service.start)] if service.start else [])
    return Unit(
        code,
        when or service.start,
        service.ids,
        rule,
        explanation,
        service.minutes,
        intervals=tuple(counted),
    )


def code_standalone(ctx: Context, services: list[Service], *, has_other_services: bool) -> list[Unit]:
    units: list[Unit] = []
    injections: list[Service] = []
    sc_infusions: list[Service] = []
    others: list[Service] = []
    flushes = False
    for service in services:  # one pass: most encounters have none of these, or one kind
        technique = service.technique
        if technique == "injection":
            injections.append(service)
        elif technique == "sc_infusion":
            sc_infusions.append(service)
        elif technique == "port_flush":
            flushes = True
        elif technique.startswith("ia_") or technique in _ALONE:
            others.append(service)
    if injections:
        units += _injections(ctx, injections)
    if sc_infusions:
        units += _sc_infusions(ctx, sc_infusions)
    for service in others:
        if service.technique.startswith("ia_"):
            units += _intra_arterial(ctx, service)
        elif service.technique == "prolonged":
            units.append(_prolonged(ctx, service))
        elif service.technique == "on_body":
            units.append(
                _unit(
                    "96377",
                    service,
                    ic213_on_body_injector.RULE,
                    f"On-body injector applied for a timed SC injection: {service.label}"
                    + (f" at {ctx.clock(service.start)}." if service.start else " (no time charted)."),
                )
            )
        elif service.technique == "route_code":
            assert service.fixed_code is not None
            units.append(
                _unit(
                    service.fixed_code,
                    service,
                    ic209_chemo_other_route.RULE,
                    f"Chemotherapy by a route with its own code: {service.label}.",
                )
            )
    if flushes:
        units += _port_flushes(ctx, services, has_other_services or bool(units))
    return units


def _prolonged(ctx: Context, service: Service) -> Unit:
    rule = ic205_prolonged_pump.RULE
    ran = (
        f"runs {service.minutes} minutes, more than 8 hours"
        if service.end
        else "goes on at home (its planned length is not documented)"
    )
    what = (
        f"Prolonged infusion start: {service.label} on a pump from {ctx.clock(service.start)} {ran}; not timed, "
        "so no added hours"
    )
    if service.family != "chemotherapy":
        return _unit("C8957", service, rule, what + ".")
    if service.home_pump == "provider" and ctx.option("chemo_home_pump") == "G0498":
        return _unit(
            "G0498",
            service,
            rule,
            what + "; it continues at home on the pump the provider supplied, which Medicare codes G0498 "
            f"({ctx.cite_option('chemo_home_pump')}).",
        )
    if service.home_pump is None and service.pump == "portable" and ctx.option("chemo_home_pump") == "G0498":
        ctx.find(
            rule,
            "home-pump-not-stated",
            "info",
            service.ids,
            f"{service.label} runs on a portable pump: if it continued at home on a pump the provider supplied, "
            f"Medicare codes it G0498, not 96416 ({ctx.cite_option('chemo_home_pump')}); set home_pump on the "
            "record (provider or supplier) to say whose pump it was.",
        )
    home = {"provider": "on the provider's pump", "supplier": "on a supplier's pump"}.get(
        service.home_pump or ""
    )
    return _unit("96416", service, rule, what + (f"; it continues at home {home}." if home else "."))


_ROUTE_NAME: Final = {"im": "IM", "sc": "SC"}


def _injection_order(
    item: tuple[tuple[str, datetime | None, str], list[Service]],
) -> tuple[datetime, str]:
    key = item[0]
    return (key[1] or datetime.min, key[0])


def _injections(ctx: Context, injections: list[Service]) -> list[Unit]:
    rule = ic206_injection.RULE
    units = []
    together: dict[tuple[str, datetime | None, str], list[Service]] = {}
    for service in injections:
        key = (service.drug, service.start, service.family)
        if key in together:
            together[key].append(service)
        else:
            together[key] = [service]
    grouped = list(together.items())
    if len(grouped) > 1:  # the common case is one injection: nothing to order
        grouped.sort(key=_injection_order)
    for (_drug, start, family), group in grouped:
        hormonal = False
        for member in group:
            if member.hormonal:
                hormonal = True
                break
        code = ic206_injection.injection_code(family, hormonal)
        route = _ROUTE_NAME[group[0].route]
        what = (
            "hormonal antineoplastic"
            if code == "96402"
            else ("chemotherapy/complex drug" if code == "96401" else "drug")
        )
        if len(group) > 1:
            ids = tuple(i for s in group for i in s.ids)
            per_dose = ctx.option("split_dose_injections") == "per_dose"
            ctx.find(
                rule,
                "split-dose-injection",
                "info" if per_dose else "warning",
                ids,
                f"{len(group)} {route} injections of {group[0].label} at {ctx.clock(start)}: "
                + (
                    "one dose, one injection code"
                    if per_dose
                    else f"one code per injection, {len(group)} units where Noridian JE Part A would pay one; "
                    "bill it so only if each injection was needed (the dose's volume or site) and the record "
                    "says so"
                )
                + f" ({ctx.cite_option('split_dose_injections')}).",
            )
            if per_dose:
                group = [group[0].with_ids(tuple(sorted(ids)))]
            else:  # one line with a unit per injection: the injections of one dose are one service
                group = [service.with_ids(tuple(sorted(ids))) for service in group]
        for service in group:
            units.append(
                _unit(
                    code,
                    service,
                    rule,
                    f"{route} injection of a {what}: {group[0].label} "
                    + (f"at {ctx.clock(service.start)}" if service.start else "(no time charted)")
                    + (f", one unit per injection of one dose ({len(group)})." if len(group) > 1 else "."),
                )
            )
    return units


def _sc_infusions(ctx: Context, infusions: list[Service]) -> list[Unit]:
    rule = ic207_subcutaneous_infusion.RULE
    units: list[Unit] = []
    if not infusions:
        return units
    ordered = sorted(infusions, key=lambda s: s.order)
    first = ordered[0]
    minutes = first.minutes or 0
    units.append(
        _unit(
            "96369",
            first,
            rule,
            f"Initial SC infusion: {first.label} {first.span_text(ctx.clock)}, {minutes} minutes.",
        )
    )
    hours = ic203_hour_units.added_hours_after_first(minutes)
    units += [
        _unit("96370", first, ic203_hour_units.RULE, f"Added SC infusion hours: {minutes} minutes in all.")
        for _ in range(hours)
    ]
    for other in ordered[1:]:
        together = (
            other.start is not None
            and first.start is not None
            and other.start - first.start <= timedelta(minutes=ic207_subcutaneous_infusion.ONE_SETUP_MINUTES)
        )
        if together:
            # Sites started together are one pump set-up: 96369 covers the set-up and its site(s).
            ctx.find(
                rule,
                "sc-sites-one-setup",
                "info",
                first.ids + other.ids,
                f"{other.label} at {other.access_label or 'a second site'} started with {first.label} "
                f"({ctx.clock(first.start)}, {ctx.clock(other.start)}): sites established at once are one pump set-up, "
                "included in 96369; 96371 needs an additional set-up at a new site later.",
            )
            continue
        if other.access != first.access:
            units.append(
                _unit(
                    "96371",
                    other,
                    rule,
                    f"Added SC pump set-up at a new site: {other.label} at {other.access_label}.",
                )
            )
        else:
            extra = ic203_hour_units.added_hours_only(other.minutes or 0)
            if not extra:
                ctx.find(
                    rule,
                    "sc-added-time-below-hour",
                    "info",
                    other.ids,
                    f"{other.label} ran {other.minutes or 0} minutes at the same SC site after the initial "
                    "infusion: under the 31 minutes an added hour (96370) needs, so it is not reported.",
                )
            units += [
                _unit(
                    "96370",
                    other,
                    ic203_hour_units.RULE,
                    f"Added SC infusion hours: {other.label}, {other.minutes} minutes at the same site.",
                )
                for _ in range(extra)
            ]
    return units


def _intra_arterial(ctx: Context, service: Service) -> list[Unit]:
    rule = ic208_intra_arterial.RULE
    chemo = service.family == "chemotherapy"
    if service.technique == "ia_push":
        code = "96420" if chemo else "96373"
        return [
            _unit(code, service, rule, f"Intra-arterial push: {service.label} at {ctx.clock(service.start)}.")
        ]
    if service.technique == "ia_prolonged":
        return [
            _unit(
                "96425",
                service,
                ic205_prolonged_pump.RULE,
                f"Intra-arterial prolonged pump start: {service.label}.",
            )
        ]
    minutes = service.minutes or 0
    if not chemo:
        ctx.find(
            rule,
            "unlisted-code",
            "warning",
            service.ids,
            f"{service.label}: a therapeutic intra-arterial infusion has no code of its own; reported with the unlisted 96379, which needs a description.",
        )
        return [
            _unit(
                "96379",
                service,
                rule,
                f"Intra-arterial therapeutic infusion, {minutes} minutes: unlisted code.",
            )
        ]
    units = [
        _unit(
            "96422",
            service,
            rule,
            f"Intra-arterial chemo infusion: {service.label} {service.span_text(ctx.clock)}, {minutes} minutes.",
        )
    ]
    units += [
        _unit(
            "96423", service, ic203_hour_units.RULE, f"Added intra-arterial hours: {minutes} minutes in all."
        )
        for _ in range(ic203_hour_units.added_hours_after_first(minutes))
    ]
    return units


def _port_flushes(ctx: Context, services: list[Service], others: bool) -> list[Unit]:
    rule = ic210_port_irrigation.RULE
    flushes = [s for s in services if s.technique == "port_flush"]
    units = []
    days_with_services = {s.day for s in services if s.technique != "port_flush"}
    for index, flush in enumerate(sorted(flushes, key=lambda s: s.order)):
        alone = not others and flush.day not in days_with_services and index == 0
        if alone:
            units.append(
                _unit(
                    "96523",
                    flush,
                    rule,
                    f"Port irrigation: {flush.label} through {flush.access_label}, the only service that day.",
                )
            )
        else:
            ctx.find(
                rule,
                "port-flush-included",
                "info",
                flush.ids,
                f"{flush.label} through {flush.access_label} is included in the other services that day, not coded alone.",
            )
    return units
