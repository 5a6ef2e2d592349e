"""Every finding id the engine and the importers can emit, read from the source code itself, so the list
(`infusion-coder findings`, the "did you mean" of `--finding`) cannot drift from what the code does.

The engine writes a finding through one call, `ctx.find(RULE, "id", severity, ids, message, ...)`; each
call is read with `ast`: its rule, its id, its severity, its denial risk and its message as a template
("…" where the message has a value of the record). Two kinds of id are not one literal:
- an f-string whose part comes from a table or a loop in the code (`f"not-coded-{purpose}"` with the rule's
  `REASONS[purpose]`, `f"{kind}-local-time"` over a loop of literal tuples): expanded to each value;
- an id passed through (`note.id` of the importers' source findings, `time_note.id` of the time notes):
  read where those are made (the importers' finding dicts and helpers, `TimeNote(...)`).
An importer id built from a value the code does not list (`f"mar-{problem.kind}"`) stays a pattern with
`*`, and `--finding` accepts any id it matches. A call this module cannot read is reported in
`unresolved`; a test keeps that list empty, so a new kind of call fails the tests instead of leaving the
listing short.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1]
SEVERITIES = ("error", "warning", "info")
# where the pass-through ids of the engine come from: the attribute the engine loops over -> its maker
PASS_THROUGH = {"time_notes": "times", "source_findings": "formats"}


@dataclass
class FindingKind:
    id: str  # an id, or a pattern with * for a part the importer fills in
    rule: str | None
    rule_name: str | None
    severities: set[str] = field(default_factory=set)
    denial_risks: set[str] = field(default_factory=set)
    meanings: list[str] = field(default_factory=list)
    where: set[str] = field(default_factory=set)  # engine, or the importer that writes it

    @property
    def pattern(self) -> bool:
        return "*" in self.id

    def matches(self, found: str) -> bool:
        return fnmatch.fnmatchcase(found, self.id) if self.pattern else found == self.id

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pattern": self.pattern,
            "rule": self.rule,
            "rule_name": self.rule_name,
            "severities": [s for s in SEVERITIES if s in self.severities],
            "denial_risks": sorted(self.denial_risks),
            "meanings": self.meanings,
            "from": sorted(self.where),
        }


@dataclass
class Index:
    kinds: dict[str, FindingKind]
    unresolved: list[str]  # "file:line what" of every call that could not be read

    def knows(self, found: str) -> bool:
        return any(kind.matches(found) for kind in self.kinds.values())

    def ids(self) -> list[str]:
        return sorted(self.kinds)


# ------------------------------------------------------------------------------------------ reading code


def _template(node: ast.expr | None) -> str:
    """A message as its literal text, with … where a value of the record goes."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) and isinstance(part.value, str) else "…"
            for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _template(node.left) + _template(node.right)
    if isinstance(node, ast.IfExp):
        return _template(node.body)
    return "…" if node is not None else ""


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _placeholders(node: ast.JoinedStr) -> list[str]:
    return [ast.unparse(part.value) for part in node.values if isinstance(part, ast.FormattedValue)]


def _fill(node: ast.JoinedStr, values: dict[str, str]) -> str:
    """The f-string with its placeholders replaced (by * where no value is known)."""
    out = []
    for part in node.values:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            out.append(part.value)
        elif isinstance(part, ast.FormattedValue):
            out.append(values.get(ast.unparse(part.value), "*"))
    return "".join(out)


class _File:
    """One source file: its tree, each node's parents, its import aliases and module-level names."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        self.module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        package = self.module.split(".") if path.name == "__init__.py" else self.module.split(".")[:-1]
        self.aliases: dict[str, str] = {}  # local name -> module it names
        self.top: dict[str, ast.expr] = {}  # module-level NAME = value
        for node in self.tree.body:
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                origin = ".".join([*base, *(node.module.split(".") if node.module else [])])
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{origin}.{alias.name}"
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and node.value is not None:
                        self.top[target.id] = node.value

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(PACKAGE)}:{getattr(node, 'lineno', 0)}"

    def chain(self, node: ast.AST) -> Iterator[ast.AST]:
        while node in self.parent:
            node = self.parent[node]
            yield node

    def function(self, node: ast.AST) -> ast.FunctionDef | None:
        return next((p for p in self.chain(node) if isinstance(p, ast.FunctionDef)), None)

    def rule_module(self, expr: ast.expr, at: ast.AST) -> str | None:
        """The module whose RULE an expression names: `ic203_hour_units.RULE`, `RULE` in a rule module, an
        alias of a rule module, or a name assigned one of these."""
        if isinstance(expr, ast.Attribute) and expr.attr == "RULE" and isinstance(expr.value, ast.Name):
            return self.aliases.get(expr.value.id, f"infusion_coder.rules.{expr.value.id}")
        if not isinstance(expr, ast.Name):
            return None
        if expr.id == "RULE" and self.module.startswith("infusion_coder.rules.ic"):
            return self.module
        assigned = self._assigned(expr.id, at)
        if assigned:
            return self.rule_module(assigned[0], assigned[0])
        if expr.id in self.top and self.top[expr.id] is not expr:
            return self.rule_module(self.top[expr.id], self.top[expr.id])
        return None

    def _assigned(self, name: str, at: ast.AST) -> list[ast.expr]:
        function = self.function(at)
        if function is None:
            return []
        return [
            node.value
            for node in ast.walk(function)
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        ]

    def values(self, expr: ast.expr | None, at: ast.AST, depth: int = 0) -> list[str] | None:
        """Every text an expression can take, when the code spells them out; None when it does not."""
        if expr is None or depth > 4:
            return None
        literal = _literal(expr)
        if literal is not None:
            return [literal]
        if isinstance(expr, ast.IfExp):
            body, other = self.values(expr.body, at, depth + 1), self.values(expr.orelse, at, depth + 1)
            return None if body is None or other is None else [*body, *other]
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
            table = self.top.get(expr.value.id)
            if isinstance(table, ast.Dict):
                found = [_literal(v) for v in table.values]
                return None if any(f is None for f in found) else [f for f in found if f]
        if isinstance(expr, ast.JoinedStr):
            names = _placeholders(expr)
            if len(names) == 1:
                filled = self._loop(names[0], at)
                if filled:
                    return [_fill(expr, {names[0]: row[names[0]]}) for row in filled if names[0] in row]
            return None
        if isinstance(expr, ast.Name):
            rows = self._loop(expr.id, at)
            if rows:
                return [row[expr.id] for row in rows if expr.id in row]
            assigned = self._assigned(expr.id, at)
            if assigned:
                found_all: list[str] = []
                for value in assigned:
                    more = self.values(value, value, depth + 1)
                    if more is None:
                        return None
                    found_all.extend(more)
                return found_all
        return None

    def _loop(self, name: str, at: ast.AST) -> list[dict[str, str]] | None:
        """The values `name` takes in an enclosing `for a, b in ((lit, lit), ...)` loop, or in a loop over a
        list the module fills with `xs.append((lit, ...))`; the other targets' values beside it."""
        for outer in self.chain(at):
            if not isinstance(outer, ast.For):
                continue
            target = outer.target
            names = (
                [ast.unparse(t) for t in target.elts]
                if isinstance(target, ast.Tuple)
                else [ast.unparse(target)]
            )
            if name not in names:
                continue
            if isinstance(outer.iter, ast.Tuple | ast.List):
                elements: list[ast.expr] = list(outer.iter.elts)
            elif isinstance(outer.iter, ast.Name):
                elements = [
                    node.args[0]
                    for node in ast.walk(self.tree)
                    if isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "append"
                    and ast.unparse(node.func.value) == outer.iter.id
                    and node.args
                ]
            else:
                return None
            rows = []
            for element in elements:
                items = element.elts if isinstance(element, ast.Tuple) else [element]
                if len(items) != len(names):
                    return None
                row = {
                    n: t for n, item in zip(names, items, strict=True) if (t := _literal(item)) is not None
                }
                if name not in row:
                    return None
                rows.append(row)
            return rows or None
        return None


def _rule_of(module: str | None) -> tuple[str, str] | None:
    if module is None:
        return None
    try:
        rule = importlib.import_module(module).RULE
    except (ImportError, AttributeError):
        return None
    return rule.id, rule.name


def _table(message: ast.expr | None, placeholder: str, file: _File) -> dict[str, str] | None:
    """A rule's table that the message looks the id's placeholder up in: `ic102_x.REASONS[purpose]`."""
    for node in ast.walk(message) if message is not None else ():
        if (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.slice) == placeholder
            and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
        ):
            owner = file.aliases.get(node.value.value.id, f"infusion_coder.rules.{node.value.value.id}")
            try:
                table = getattr(importlib.import_module(owner), node.value.attr)
            except (ImportError, AttributeError):
                return None
            if isinstance(table, dict):
                return {str(k): str(v) for k, v in table.items()}
    return None


class _Collector:
    def __init__(self) -> None:
        self.kinds: dict[str, FindingKind] = {}
        self.unresolved: list[str] = []
        self.pass_through: list[tuple[str, tuple[str, str]]] = []  # (maker, rule)

    def add(
        self,
        id: str,
        rule: tuple[str, str] | None,
        severities: list[str] | None,
        meaning: str,
        where: str,
        denial_risk: str | None = None,
    ) -> None:
        kind = self.kinds.get(id)
        if kind is None:
            kind = self.kinds[id] = FindingKind(id, *(rule or (None, None)))
        kind.severities.update(s for s in severities or () if s in SEVERITIES)
        if denial_risk:
            kind.denial_risks.add(denial_risk)
        meaning = " ".join(meaning.split())
        if meaning and meaning not in kind.meanings:
            kind.meanings.append(meaning)
        kind.where.add(where)

    def made(
        self,
        file: _File,
        at: ast.AST,
        id_node: ast.expr,
        severity_node: ast.expr | None,
        message: ast.expr | None,
        rule: tuple[str, str] | None,
        where: str,
        risk: str | None = None,
    ) -> None:
        """One place a finding is made: its id (resolved to every value it can take, or a pattern)."""
        severities = file.values(severity_node, at)
        ids = file.values(id_node, at)
        if ids is not None:
            for one in ids:
                self.add(one, rule, severities, _template(message), where, risk)
            return
        if isinstance(id_node, ast.JoinedStr):
            names = _placeholders(id_node)
            table = _table(message, names[0], file) if len(names) == 1 else None
            if table is not None:
                for key, reason in table.items():
                    self.add(_fill(id_node, {names[0]: key}), rule, severities, reason, where, risk)
            else:
                self.add(_fill(id_node, {}), rule, severities, _template(message), where, risk)
            return
        self.unresolved.append(f"{file.where(at)} id {ast.unparse(id_node)}")

    # -- the engine's ctx.find(RULE, id, severity, ids, message, denial_risk=, remark=) calls
    def engine_file(self, file: _File) -> None:
        for node in ast.walk(file.tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "find"
                and len(node.args) >= 3
            ):
                continue
            rule = _rule_of(file.rule_module(node.args[0], node))
            if rule is None:
                self.unresolved.append(f"{file.where(node)} rule {ast.unparse(node.args[0])}")
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            message = keywords.get("message", node.args[4] if len(node.args) > 4 else None)
            id_node = node.args[1]
            if isinstance(id_node, ast.Attribute) and id_node.attr == "id":
                source = self._iterated(file, id_node)
                if source in PASS_THROUGH:
                    self.pass_through.append((PASS_THROUGH[source], rule))
                    continue
            risk = _literal(keywords.get("denial_risk"))
            self.made(file, node, id_node, node.args[2], message, rule, "engine", risk)

    @staticmethod
    def _iterated(file: _File, node: ast.Attribute) -> str | None:
        """`source_findings` for `note.id` inside `for note in encounter.source_findings`."""
        if not isinstance(node.value, ast.Name):
            return None
        for outer in file.chain(node):
            if isinstance(outer, ast.For) and ast.unparse(outer.target) == node.value.id:
                return outer.iter.attr if isinstance(outer.iter, ast.Attribute) else None
        return None

    # -- ids made elsewhere and passed through the engine: TimeNote(id, severity, ids, message)
    def time_notes(self, file: _File, rule: tuple[str, str]) -> None:
        for node in ast.walk(file.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "TimeNote":
                message = node.args[3] if len(node.args) > 3 else None
                self.made(file, node, node.args[0], node.args[1], message, rule, "engine")

    # -- the importers' source findings: dicts {"id", "severity", "message"} and the helpers that make them
    def importer_makers(self, file: _File, rule: tuple[str, str]) -> dict[str, Maker]:
        """The finding dicts written out in a file (recorded), and the helpers of the file that build one
        from their parameters: helper name -> positions of id, severity and message."""
        where = f"{file.path.stem} reader"
        makers: dict[str, Maker] = {}
        for node in ast.walk(file.tree):
            if not isinstance(node, ast.Dict):
                continue
            entries = {_literal(k): v for k, v in zip(node.keys, node.values, strict=True) if k is not None}
            if not {"id", "severity", "message"} <= entries.keys():
                continue
            maker = _as_maker(file, node, entries["id"], entries["severity"], entries["message"])
            if maker is not None:
                makers[maker[0]] = maker[1]
                continue
            self.made(file, node, entries["id"], entries["severity"], entries["message"], rule, where)
        return makers

    def importer_calls(
        self, file: _File, rule: tuple[str, str], makers: dict[str, Maker], record: bool
    ) -> bool:
        """The calls of finding helpers in a file: the file's own (`_finding(...)`), another reader's by
        module (`holds.finding(...)`, `from .holds import finding`) or a module-level alias of one. A helper
        that passes its own parameters on becomes a helper too; True when one was found that way."""
        where = f"{file.path.stem} reader"
        grew = False
        for node in ast.walk(file.tree):
            if not isinstance(node, ast.Call):
                continue
            positions = _maker_of(file, node.func, makers)
            if positions is None or len(node.args) <= positions[0]:
                continue
            id_at, severity_at, message_at = positions

            def arg(at: int | None, call: ast.Call = node) -> ast.expr | None:
                return call.args[at] if at is not None and at < len(call.args) else None

            id_node = node.args[id_at]
            if isinstance(id_node, ast.Subscript) and _literal(id_node.slice) == "id":
                continue  # `found["id"]` of a finding another helper made: listed where that one is made
            passed = _as_maker(file, node, id_node, arg(severity_at), arg(message_at))
            if passed is not None:
                key = f"{file.module}.{passed[0]}"
                grew |= makers.get(key) != passed[1]
                makers[key] = passed[1]
                continue
            if record:
                self.made(file, node, id_node, arg(severity_at), arg(message_at), rule, where)
        return grew


Maker = tuple[int, int | None, int | None]  # a finding helper's positions of id, severity and message


def _as_maker(
    file: _File, at: ast.AST, id_node: ast.expr, severity: ast.expr | None, message: ast.expr | None
) -> tuple[str, Maker] | None:
    """(function name, positions) when the id comes from a parameter of the enclosing function."""
    function = file.function(at)
    if function is None:
        return None
    parameters = [a.arg for a in function.args.args]
    if parameters and parameters[0] == "self":
        parameters = parameters[1:]

    def position(value: ast.expr | None) -> int | None:
        return parameters.index(value.id) if isinstance(value, ast.Name) and value.id in parameters else None

    id_at = position(id_node)
    return None if id_at is None else (function.name, (id_at, position(severity), position(message)))


def _maker_of(file: _File, func: ast.expr, makers: dict[str, Maker]) -> Maker | None:
    """The helper a call names, keyed by module: `name`, `module.name`, or an alias `_f = module.name`."""
    if isinstance(func, ast.Name) and func.id in file.top:
        func = file.top[func.id]
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and func.value.id in file.aliases:  # holds.finding
            return makers.get(f"{file.aliases[func.value.id]}.{func.attr}")
        return makers.get(f"{file.module}.{func.attr}")  # self.finding, encounter.finding
    if isinstance(func, ast.Name):
        return makers.get(file.aliases.get(func.id, f"{file.module}.{func.id}"))
    return None


def _shared_to_users(collector: _Collector, files: list[_File]) -> None:
    """A finding made in a module the readers share (holds.py) is said to come from the readers that use it."""
    for shared in files:
        users = sorted(
            f"{f.path.stem} reader"
            for f in files
            if f is not shared and any(origin == shared.module for origin in f.aliases.values())
        )
        mine = f"{shared.path.stem} reader"
        for kind in collector.kinds.values():
            if users and mine in kind.where:
                kind.where = (kind.where - {mine}) | set(users)


def _read(path: Path, unresolved: list[str]) -> _File | None:
    """A source file, or None (noted) when an installation ships none to read."""
    try:
        return _File(path)
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        unresolved.append(f"{path.name}: not readable ({type(exc).__name__})")
        return None


@cache
def index() -> Index:
    """The finding ids of this installation (read once per process)."""
    collector = _Collector()
    engine_files = [
        *sorted((PACKAGE / "engine").glob("*.py")),
        *sorted((PACKAGE / "rules").glob("*.py")),
        PACKAGE / "api.py",
    ]
    for path in engine_files:
        if (file := _read(path, collector.unresolved)) is not None:
            collector.engine_file(file)
    for maker, rule in dict(collector.pass_through).items():
        if maker == "times":
            if (file := _read(PACKAGE / "times.py", collector.unresolved)) is not None:
                collector.time_notes(file, rule)
            continue
        files = [
            f for p in sorted((PACKAGE / "formats").glob("*.py")) if (f := _read(p, collector.unresolved))
        ]
        makers: dict[str, Maker] = {}  # "module.helper" -> positions
        for file in files:
            makers.update({f"{file.module}.{k}": v for k, v in collector.importer_makers(file, rule).items()})
        while any([collector.importer_calls(file, rule, makers, record=False) for file in files]):
            pass  # helpers that call helpers: found until none is new (each pass can only add)
        for file in files:
            collector.importer_calls(file, rule, makers, record=True)
        _shared_to_users(collector, files)
    kinds = dict(sorted(collector.kinds.items()))
    return Index(kinds, collector.unresolved)
