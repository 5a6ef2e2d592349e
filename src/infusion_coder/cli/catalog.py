"""`rules`, `policies` and `findings`: what the engine knows, as text for a person or JSON for a program.
Everything is read from the catalog, the reference pack and the code (finding_ids.py), never a copy."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from .checks import unknown

if TYPE_CHECKING:
    from ..reference import Policy, ReferencePack
    from ..rules import Rule
    from .finding_ids import FindingKind

BASELINE = "cms"  # the profile the others are told against (the default policy)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


# ------------------------------------------------------------------------------------------------ rules


def _findings_by_rule() -> dict[str, list[str]]:
    from .finding_ids import index

    out: dict[str, list[str]] = {}
    for kind in index().kinds.values():
        if kind.rule:
            out.setdefault(kind.rule, []).append(kind.id)
    return out


def _rule_json(rule: Rule, findings: list[str]) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "summary": rule.summary,
        "citation": rule.citation,
        "cites": list(rule.cites),
        "findings": findings,
        "doc": rule.doc,
    }


def find_rule(wanted: str) -> Rule:
    """A rule by id (IC203, ic203, 203) or by name (hour-units); exit 2 with "did you mean" otherwise."""
    from ..rules import CATALOG

    key = wanted.strip().lower()
    for rule in CATALOG:
        if key in (rule.id.lower(), rule.name.lower(), rule.id.lower().removeprefix("ic")):
            return rule
    unknown("rule", wanted, [r.id for r in CATALOG] + [r.name for r in CATALOG], listed=False)


def rules(rule_id: str | None, as_json: bool) -> None:
    from ..rules import CATALOG

    by_rule = _findings_by_rule()
    if rule_id is not None:
        rule = find_rule(rule_id)
        findings = by_rule.get(rule.id, [])
        if as_json:
            _echo_json(_rule_json(rule, findings))
            return
        typer.echo(f"{rule.id}  {rule.name}\ncites {rule.citation}\n")
        typer.echo(rule.doc)
        if findings:
            typer.echo(f"\nfindings: {', '.join(findings)}  (infusion-coder findings ID explains one)")
        return
    if as_json:
        _echo_json([_rule_json(rule, by_rule.get(rule.id, [])) for rule in CATALOG])
        return
    for rule in CATALOG:
        typer.echo(f"{rule.id}  {rule.name}\n    {rule.summary}\n    cites {rule.citation}")
    typer.echo(f"\n{len(CATALOG)} rules; 'infusion-coder rules ID' shows one rule's reasoning and example.")


# ------------------------------------------------------------------------------------------------ policies


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _policy_json(profile: Policy, base: Policy, pack: ReferencePack) -> dict[str, Any]:
    return {
        "name": profile.name,
        "description": profile.description,
        "reference_version": pack.version,
        "differs_from": base.name,
        "options": {
            option: {
                "value": value.value,
                "source": value.source,
                "differs": option not in base.values or base.values[option].value != value.value,
                "meaning": pack.options.get(option, {}).get("meaning"),
                "settles": pack.options.get(option, {}).get("settles"),
            }
            for option, value in sorted(profile.values.items())
        },
    }


def policies(pack: ReferencePack, name: str | None, as_json: bool) -> None:
    """Without NAME: every profile with only what it changes from cms. With NAME: every option of it."""
    profiles = pack.policies
    base = profiles.get(BASELINE) or profiles[sorted(profiles)[0]]  # a site's pack may rename the default
    if name is not None and name not in profiles:
        unknown("policy", name, sorted(profiles))
    if as_json:
        chosen = [profiles[name]] if name else [profiles[n] for n in sorted(profiles)]
        data = [_policy_json(p, base, pack) for p in chosen]
        _echo_json(data[0] if name else data)
        return
    if name is not None:
        profile = profiles[name]
        typer.echo(f"{profile.name}: {profile.description}\n")
        for option, value in sorted(profile.values.items()):
            before = base.values.get(option)
            differs = name != base.name and before is not None and before.value != value.value
            mark = f"  ({base.name}: {_shown(before.value)})" if differs and before is not None else ""
            typer.echo(f"  {option} = {_shown(value.value)}{mark}")
            meaning = pack.options.get(option, {}).get("meaning")
            if meaning:
                typer.echo(f"      {meaning}")
            typer.echo(f"      source: {value.source}")
        return
    typer.echo(
        f"{base.name} (the default): {base.description}\n"
        f"    {len(base.values)} options; 'infusion-coder policies {base.name}' lists them with their sources\n"
    )
    for profile_name in sorted(profiles):
        if profile_name == base.name:
            continue
        profile = profiles[profile_name]
        typer.echo(f"{profile_name}: {profile.description}")
        changed = [
            (option, value, base.values.get(option))
            for option, value in sorted(profile.values.items())
            if option not in base.values or base.values[option].value != value.value
        ]
        for option, value, before in changed:
            was = _shown(before.value) if before is not None else "not an option"
            typer.echo(f"    {option} = {_shown(value.value)}  ({base.name}: {was})  [{value.source}]")
        if not changed:
            typer.echo(f"    the same values as {base.name} (it names the payer's own sources)")
        typer.echo("")
    typer.echo("'infusion-coder policies NAME' lists every option of a profile; --json for programs.")


# ------------------------------------------------------------------------------------------------ findings


def _meaning(kind: FindingKind) -> str:
    return kind.meanings[0] if kind.meanings else ""


def find_finding(wanted: str) -> FindingKind:
    from .finding_ids import index

    found = index()
    if wanted in found.kinds:
        return found.kinds[wanted]
    for kind in found.kinds.values():
        if kind.matches(wanted):
            return kind
    unknown("finding id", wanted, found.ids(), listed=False)


def findings(finding_id: str | None, as_json: bool) -> None:
    from ..rules import BY_ID
    from .finding_ids import index

    found = index()
    if finding_id is not None:
        kind = find_finding(finding_id)
        if as_json:
            _echo_json(kind.as_json())
            return
        rule = BY_ID.get(kind.rule or "")
        typer.echo(
            f"{kind.id}  ({', '.join(s for s in ('error', 'warning', 'info') if s in kind.severities)})"
        )
        if rule is not None:
            typer.echo(f"rule {rule.id} {rule.name}: {rule.summary}")
        typer.echo(f"from: {', '.join(sorted(kind.where))}")
        if kind.denial_risks:
            typer.echo(f"denial risk: {', '.join(sorted(kind.denial_risks))}")
        typer.echo("what it says (… stands for the record's values):")
        for meaning in kind.meanings:
            typer.echo(f"  - {meaning}")
        return
    if as_json:
        _echo_json([kind.as_json() for kind in found.kinds.values()])
        return
    from rich import box
    from rich.table import Table

    from .view import console

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("finding", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("what it says (… stands for the record's values)", ratio=1)
    for kind in found.kinds.values():
        severities = "/".join(s for s in ("error", "warning", "info") if s in kind.severities)
        meaning = _meaning(kind)
        if len(meaning) > 160:
            meaning = meaning[:159].rstrip() + "…"
        table.add_row(kind.id, severities, kind.rule or "", meaning)
    out = console()
    out.print(table)
    out.print(
        f"{len(found.kinds)} finding ids (* is filled in by the importer); 'infusion-coder findings ID' "
        "explains one; --json for programs."
    )
