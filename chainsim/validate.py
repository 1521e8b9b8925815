"""`validate_chain`: every problem of a planned chain, before anything touches a bus.

The graph checked is the bus's existing `invokeRule` links plus the planned ones. All
findings are collected (never stopping at the first) in a deterministic order:

1. per planned link, in plan order: `unknown_rule`, `self_link`, `duplicate_link`,
   `event_type`, `attribute`, `transform`, `unverified_attribute`, `disabled_rule`;
2. existing bus actions on a planned source that the bus would refuse on the next
   write (`unknown_rule`: an action naming a rule that is gone), in inventory order;
3. `fanout` per planned source rule, in inventory order;
4. `cycle`, one per strongly connected component, by the cycle's first rule;
5. `depth`, one per weakly connected component, in plan order of its first link.

The bus checks the same constraints on write (DESIGN §4); `validate_chain` predicts it:
a 422 for `unknown_rule`, `self_link`, `cycle`, `depth`, `fanout`; a 400 for
`attribute` and `transform`. `event_type` and `duplicate_link` are plan-only checks.
Fan-out counts the distinct destinations a written rule would invoke (existing
actions and planned links merged), so it is checked on the rules the plan writes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, compress, count, pairwise
from operator import add, attrgetter, eq, itemgetter, ne
from typing import Any, Literal

from chainsim.graph import Graph, adjacency, analyse, deepest_planned_paths
from chainsim.model import INVOKE_RULE, ChainLink, ChainPlan, Rule
from chainsim.transform import PathCompiler, PathError

Severity = Literal["error", "warning"]
Dialect = Literal["eventbridge", "triggers"]

ERROR: Severity = "error"
WARNING: Severity = "warning"

CODES = (
    "unknown_rule",
    "self_link",
    "duplicate_link",
    "cycle",
    "depth",
    "fanout",
    "event_type",
    "attribute",
    "transform",
    "disabled_rule",
    "unverified_attribute",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: its code, severity, the rule ids involved (path order) and what to do."""

    code: str
    severity: Severity
    rule_ids: tuple[str, ...]
    message: str

    def to_json(self) -> dict[str, Any]:
        """`{"code", "severity", "rule_ids", "message"}`."""
        return {
            "code": self.code,
            "severity": self.severity,
            "rule_ids": list(self.rule_ids),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """All findings of one validation; `ok` when none is an error."""

    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True when no finding has error severity (warnings alone are fine)."""
        return not any(f.severity == ERROR for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        """The error-severity findings, in report order."""
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """The warning-severity findings, in report order."""
        return [f for f in self.findings if f.severity == WARNING]

    def codes(self) -> list[str]:
        """The finding codes, in report order."""
        return [f.code for f in self.findings]

    def to_json(self) -> dict[str, Any]:
        """`{"ok": bool, "findings": [{"code", "severity", "rule_ids", "message"}]}`."""
        return {"ok": self.ok, "findings": [f.to_json() for f in self.findings]}


def show_path(ids: Sequence[str], limit: int = 8) -> str:
    """`a -> b -> c`, eliding the middle of a long path (rule_ids keeps it whole)."""
    if len(ids) <= limit:
        return " -> ".join(ids)
    half = limit // 2
    hidden = len(ids) - 2 * half
    return " -> ".join([*ids[:half], f"... ({hidden} more)", *ids[-half:]])


def _trigger_attributes(paths: tuple[str, ...], declared: Iterable[str]) -> tuple[str, ...]:
    """What a trigger proves it carries: its criteria's jsonPaths, with or without a leading
    `$.` (Genesys writes them relative to the event body), plus the plan's declared ones."""
    bare = tuple(p[2:] for p in paths if p.startswith("$."))
    return (*paths, *bare, *declared)


class _Keys(dict[str, "str | None"]):
    """JSONPath text -> the metadata key it reads (None if it parses to none)."""

    def __init__(self, compiler: PathCompiler) -> None:
        super().__init__()
        self.compiler = compiler

    def __missing__(self, text: str) -> str | None:
        try:
            key = self.compiler.compile(text).key
        except PathError:
            key = None
        self[text] = key
        return key


class _Carried(dict[str, frozenset[str]]):
    """Rule id -> frozenset of the attributes its events carry (empty for unknown ids).

    It holds the checker's parts, not the checker: no reference cycle, so a run's
    structures are freed as soon as it ends, without waiting for the cyclic collector.
    """

    def __init__(
        self,
        rules: list[Rule],
        index: dict[str, int],
        triggers: bool,
        declared: dict[str, list[str]],
    ) -> None:
        super().__init__()
        self.rules, self.index, self.triggers, self.declared = rules, index, triggers, declared
        self.by_content: dict[tuple[str, ...], frozenset[str]] = {}

    def __missing__(self, rule_id: str) -> frozenset[str]:
        u = self.index.get(rule_id)
        rule = None if u is None else self.rules[u]
        attrs: tuple[str, ...] = ()
        if rule is not None:
            attrs = tuple(rule.filters.attributes)
            if self.triggers:
                attrs = _trigger_attributes(attrs, self.declared.get(rule_id, ()))
        found = self.by_content.get(attrs)
        if found is None:
            found = self.by_content[attrs] = frozenset(attrs)
        self[rule_id] = found
        return found


class _Checker:
    """One validation run: per-link checks, then the graph checks.

    Per-link checks run in bulk first (C-level `map`/`zip` over plain lists) to flag
    the links that need a closer look; only those go through `check_link`, which does
    every check in the documented order. On a big plan that is all clean, no link
    takes the slow path.
    """

    def __init__(
        self,
        rules: list[Rule],
        links: list[ChainLink],
        *,
        max_depth: int,
        max_fanout: int,
        dialect: Dialect,
        declared_attributes: Mapping[str, Iterable[str]] | None,
    ) -> None:
        ids = list(map(attrgetter("id"), rules))
        index = dict(zip(ids, range(len(ids)), strict=True))
        if len(index) != len(rules):  # repeated ids: the last one wins, as in a dict
            rules = list({rule.id: rule for rule in rules}.values())
            ids = list(map(attrgetter("id"), rules))
            index = dict(zip(ids, range(len(ids)), strict=True))
        self.rules = rules
        self.index = index
        self.ids = ids
        self.with_actions: list[int] = []
        self.links = links
        self.max_depth = max_depth
        self.max_fanout = max_fanout
        self.triggers = dialect == "triggers"
        self.declared = {k: list(v) for k, v in (declared_attributes or {}).items()}
        self.findings: list[Finding] = []
        self.compiler = PathCompiler()
        self.keys = _Keys(self.compiler)
        self.carried = _Carried(self.rules, self.index, self.triggers, self.declared)
        self.first: dict[tuple[str, str], int] = {}
        # planned edges: as int pairs (only when some link needs a closer look), and as
        # successor lists (each distinct edge once, in plan order), what the graph is built of
        self.planned: list[tuple[int, int]] = []
        self.new: list[list[int]] = []
        # planned destinations the graph does not hold (unknown ids, self links), per source
        self.extra_targets: dict[int, dict[str, None]] = {}

    def add(self, code: str, severity: Severity, rule_ids: Iterable[str], message: str) -> None:
        self.findings.append(Finding(code, severity, tuple(rule_ids), message))

    def run(self) -> ValidationReport:
        self.check_links()
        graph = Graph.from_adjacency(self.ids, self.new, self.existing_edges())
        self.check_existing_actions()
        self.check_fanout(graph)
        self.check_graph(graph)
        return ValidationReport(tuple(self.findings))

    # ------------------------------------------------------------------ per link

    def check_links(self) -> None:
        """Per-link checks: in bulk over the whole plan, then link by link where flagged.

        The bulk pass builds no per-link objects and keeps few lists alive: reading a
        field of 100,000 models, and later freeing a list of them, touches every one.
        """
        links, rules, index = self.links, self.rules, self.index
        n = len(links)
        # pydantic keeps a model's field values in its instance `__dict__`: taking that
        # dict once per link and reading fields with itemgetter costs about 30% less on a
        # big plan than attrgetter per field (each attribute read looks in the class first)
        fields = list(map(attrgetter("__dict__"), links))
        flagged: set[int] = set()
        new: list[list[int]] = []
        try:
            us = list(map(index.__getitem__, map(itemgetter("source"), fields)))
            vs = list(map(index.__getitem__, map(itemgetter("destination"), fields)))
        except KeyError:
            # unknown ids: look at every link the slow way (small plans, or broken ones)
            flagged.update(range(n))
        else:
            if any(map(eq, us, vs)):
                flagged.update(i for i in range(n) if us[i] == vs[i])
            new = adjacency(len(rules), us, vs)
            # a repeated link repeats a destination in its source's successor list
            if sum(map(len, map(set, filter(None, new)))) != n:
                seen: set[tuple[int, int]] = set()
                for i, edge in enumerate(zip(us, vs, strict=True)):
                    if edge in seen:
                        flagged.add(i)
                    seen.add(edge)
            types = list(map(attrgetter("event_type"), rules))
            link_types = map(itemgetter("event_type"), fields)
            if any(map(ne, link_types, map(types.__getitem__, us))):
                flagged.update(i for i in range(n) if links[i].event_type != types[us[i]])
            if not all(map(attrgetter("enabled"), rules)):
                disabled = {i for i, rule in enumerate(rules) if not rule.enabled}
                if not (disabled.isdisjoint(us) and disabled.isdisjoint(vs)):
                    flagged.update(i for i in range(n) if us[i] in disabled or vs[i] in disabled)
            flagged.update(self.attribute_suspects(us, fields))
        if not flagged:
            self.new = new
            return
        sources = list(map(attrgetter("source"), links))
        dests = list(map(attrgetter("destination"), links))
        self.planned = [
            (u, v)
            for i, (u, v) in enumerate(
                zip(map(index.get, sources), map(index.get, dests), strict=True)
            )
            if i not in flagged and u is not None and v is not None
        ]
        pairs = list(zip(sources, dests, strict=True))
        # the first index of each pair: with reversed input, the earliest index wins
        self.first = dict(zip(reversed(pairs), range(n - 1, -1, -1), strict=True))
        for i in sorted(flagged):
            self.check_link(i, links[i])
        planned = self.planned
        self.new = adjacency(len(rules), map(itemgetter(0), planned), map(itemgetter(1), planned))

    def attribute_suspects(self, us: list[int], fields: list[dict[str, Any]]) -> list[int]:
        """Links whose preserved attributes or transform keys may not be carried.

        First a test on the plan's few distinct names: when every path parses and every
        source rule carries every attribute that any link preserves or reads, no link is
        suspect. Otherwise each link is tested against its own source's attributes.
        In the triggers dialect a rule proves at least its `filters.attributes`, so the
        first test holds there too. `fields` are the links' field dicts.
        """
        key_of = self.keys.__getitem__
        transforms = map(itemgetter("transform"), fields)
        read = set(map(key_of, set(chain.from_iterable(map(dict.values, transforms)))))
        if None not in read:
            needed = read.union(chain.from_iterable(map(itemgetter("preserve"), fields)))
            if not needed:
                return []
            # the distinct attribute lists of the source rules: usually one or a few
            sources = map(self.rules.__getitem__, set(us))
            lists = set(map(tuple, map(attrgetter("filters.attributes"), sources)))
            if all(needed.issubset(attrs) for attrs in lists):
                return []
        # Rules are read once, in order, into a few distinct attribute sets (most rules
        # share one), so the per-link test touches only small, plain structures.
        keys = list(map(tuple, map(attrgetter("filters.attributes"), self.rules)))
        if self.triggers:
            declared = self.declared
            keys = [
                _trigger_attributes(k, declared.get(rid, ()))
                for k, rid in zip(keys, self.ids, strict=True)
            ]
        distinct = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        of_rule = list(map(distinct.__getitem__, keys))
        sets = [frozenset(k) for k in distinct]
        carried_sets = map(sets.__getitem__, map(of_rule.__getitem__, us))
        preserves = map(itemgetter("preserve"), fields)
        transforms = map(itemgetter("transform"), fields)
        return [
            i
            for i, c, p, x in zip(count(), carried_sets, preserves, transforms)
            if (p or x) and not (c.issuperset(p) and c.issuperset(map(key_of, x.values())))
        ]

    def check_link(self, i: int, link: ChainLink) -> None:
        """Every per-link check, in the documented order."""
        s, d = link.source, link.destination
        u, v = self.index.get(s), self.index.get(d)
        src = None if u is None else self.rules[u]
        dst = None if v is None else self.rules[v]
        where = f"links[{i}]"
        if src is None:
            self.add(
                "unknown_rule",
                ERROR,
                [s],
                f"{where}.source: rule {s!r} is not in the inventory; "
                "create it first or fix the id",
            )
        if dst is None and d != s:
            self.add(
                "unknown_rule",
                ERROR,
                [d],
                f"{where}.destination: rule {d!r} is not in the inventory; "
                "create it first or fix the id",
            )
        if s == d:
            self.add(
                "self_link",
                ERROR,
                [s],
                f"{where}: rule {s!r} would invoke itself; remove this link",
            )
        earlier = self.first[(s, d)]
        if earlier != i:
            self.add(
                "duplicate_link",
                ERROR,
                [s, d],
                f"{where}: link {s} -> {d} repeats links[{earlier}]; merge them into one link",
            )
        else:
            if src is not None:
                u = self.index[s]
                if dst is not None and s != d:
                    self.planned.append((u, self.index[d]))
                else:
                    self.extra_targets.setdefault(u, {})[d] = None
        if src is not None:
            self.check_source(where, link, self.index[s])
        self.check_disabled(where, s, src, d, dst)

    def check_source(self, where: str, link: ChainLink, u: int) -> None:
        s, d = link.source, link.destination
        src = self.rules[u]
        if link.event_type != src.event_type:
            self.add(
                "event_type",
                ERROR,
                [s, d],
                f"{where}.event_type: {link.event_type!r} but source rule {s!r} emits "
                f"{src.event_type!r}; set event_type to {src.event_type!r}",
            )
        if not link.preserve and not link.transform:
            return
        carried = self.carried[s]
        for name in link.preserve:
            if name not in carried:
                self.missing_attribute("attribute", f"{where}.preserve", s, d, name, "")
        for key, text in link.transform.items():
            kind, problem = self.compiler.path_problem(text, carried)
            if kind == "syntax":
                self.add(
                    "transform",
                    ERROR,
                    [s, d],
                    f"{where}.transform.{key}: {problem}; "
                    "read a carried attribute, e.g. $.metadata.<attribute>",
                )
            elif kind == "attribute":
                name = self.keys[text] or ""
                self.missing_attribute(
                    "transform", f"{where}.transform.{key}", s, d, name, f"JSONPath {text!r} reads "
                )

    def missing_attribute(
        self, code: str, place: str, s: str, d: str, name: str, subject: str
    ) -> None:
        """An attribute the source does not carry: an error, or for triggers a warning."""
        if self.triggers:
            self.add(
                "unverified_attribute",
                WARNING,
                [s, d],
                f"{place}: {subject}attribute {name!r}, which is not proven for trigger "
                f"{s!r} (no criteria reads it, the plan does not declare it); if its topic "
                f"carries it, declare it under rules.{s}.attributes in the plan",
            )
            return
        fix = "stop preserving it" if code == "attribute" else "read another attribute"
        self.add(
            code,
            ERROR,
            [s, d],
            f"{place}: {subject}attribute {name!r}, which source rule {s!r} does not carry; "
            f"add it to the source's filters.attributes or {fix}",
        )

    def check_disabled(
        self, where: str, s: str, src: Rule | None, d: str, dst: Rule | None
    ) -> None:
        for role, rule in (("source", src), ("destination", dst)):
            if rule is not None and not rule.enabled:
                self.add(
                    "disabled_rule",
                    WARNING,
                    [s, d],
                    f"{where}: {role} rule {rule.id!r} is disabled, so this link will not "
                    f"fire; enable it (rules.{rule.id}.enabled: true in the plan)",
                )

    # ------------------------------------------------------------- bus actions

    def planned_sources(self) -> set[int]:
        """Known sources of planned links: the rules the plan writes."""
        sources = set(compress(range(len(self.new)), self.new))
        sources.update(self.extra_targets)
        return sources

    def existing_edges(self) -> list[tuple[int, int]]:
        """Links already on the bus between known rules, as int edges."""
        index, rules = self.index, self.rules
        self.with_actions = list(compress(range(len(rules)), map(attrgetter("actions"), rules)))
        edges = []
        for u in self.with_actions:
            for action in rules[u].actions:
                if action.type == INVOKE_RULE and action.rule_id is not None:
                    v = index.get(action.rule_id)
                    if v is not None:
                        edges.append((u, v))
        return edges

    def check_existing_actions(self) -> None:
        """Actions already on a written rule that name a rule not in the inventory."""
        if not self.with_actions:
            return
        index, rules = self.index, self.rules
        sources = self.planned_sources()
        for u in [u for u in self.with_actions if u in sources]:
            rule = rules[u]
            for action in rule.actions:
                if action.is_link and action.rule_id not in index:
                    self.extra_targets.setdefault(u, {})[action.rule_id or ""] = None
                    self.add(
                        "unknown_rule",
                        ERROR,
                        [action.rule_id or ""],
                        f"rule {rule.id!r} already invokes {action.rule_id!r}, which is not "
                        "in the inventory; the bus will refuse the update until that action "
                        "is removed",
                    )

    def check_fanout(self, graph: Graph) -> None:
        """Written rules that would invoke more than max_fanout rules."""
        limit, old, new, ids = self.max_fanout, graph.old, graph.new, graph.ids
        extra = self.extra_targets
        if self.with_actions:
            widest = max(map(add, map(len, old), map(len, new)), default=0)
        else:
            widest = max(map(len, new), default=0)
        if widest <= limit and not extra:
            return
        sources = self.planned_sources()
        over = [u for u in sources if len(new[u]) + len(old[u]) > limit or u in extra]
        for u in sorted(over):
            names = [ids[v] for v in (*old[u], *new[u])]
            names.extend(extra.get(u, ()))
            if len(names) <= limit:
                continue
            self.add(
                "fanout",
                ERROR,
                [ids[u], *names],
                f"rule {ids[u]!r} would invoke {len(names)} rules, more than "
                f"max_fanout {limit}: {', '.join(names)}; "
                "route some of them through an intermediate rule",
            )

    # ------------------------------------------------------------------- graph

    def check_graph(self, graph: Graph) -> None:
        analysis = analyse(graph)
        for path in analysis.cycles:
            ids = graph.path_ids(path)
            on_bus = [
                f"{graph.ids[u]} -> {graph.ids[v]}"
                for u, v in pairwise(path)
                if v not in graph.new[u]
            ]
            origin = f" (closed by existing bus link {', '.join(on_bus[:3])})" if on_bus else ""
            self.add(
                "cycle",
                ERROR,
                ids,
                f"cycle {show_path(ids)}{origin}: these rules would invoke each other "
                "forever; remove one of the links",
            )
        for path in deepest_planned_paths(graph, analysis, longer_than=self.max_depth):
            ids = graph.path_ids(path)
            self.add(
                "depth",
                ERROR,
                ids,
                f"path {show_path(ids)} has {len(ids) - 1} hops, more than max_depth "
                f"{self.max_depth}; shorten the chain or raise max_depth",
            )


def validate_chain(
    rules: Iterable[Rule],
    links: Iterable[ChainLink],
    *,
    max_depth: int = 5,
    max_fanout: int = 5,
    dialect: Dialect = "eventbridge",
    declared_attributes: Mapping[str, Iterable[str]] | None = None,
) -> ValidationReport:
    """Check planned `links` against the inventory `rules`; every finding, deterministic order.

    `dialect="triggers"` turns attribute and transform problems that stem only from an
    attribute not being proven (neither read by the trigger's criteria, i.e.
    `filters.attributes`, nor declared in `declared_attributes[rule_id]`) into
    `unverified_attribute` warnings.
    """
    with _gc_paused():
        checker = _Checker(
            list(rules),
            list(links),
            max_depth=max_depth,
            max_fanout=max_fanout,
            dialect=dialect,
            declared_attributes=declared_attributes,
        )
        report = checker.run()
        # free the run's containers while the collector is still paused: alive at
        # `gc.enable()`, they would all be walked by the first collection after it
        del checker
    return report


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while validating, then restore it.

    Validation allocates hundreds of thousands of small lists and tuples but no
    reference cycles (everything is freed by reference counting). With a big inventory
    alive, each allocation burst would otherwise trigger full collections that walk every
    live object, which costs more than the validation itself on 100,000 rules.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def plan_rules(plan: ChainPlan, rules: Iterable[Rule]) -> list[Rule]:
    """The inventory as the plan wants it: `rules.<id>.enabled` applied to copies."""
    wanted = {rid: s.enabled for rid, s in plan.rules.items() if s.enabled is not None}
    if not wanted:
        return list(rules)
    return [
        rule.model_copy(update={"enabled": wanted[rule.id]}) if rule.id in wanted else rule
        for rule in rules
    ]


def validate_plan(
    plan: ChainPlan,
    rules: Iterable[Rule],
    *,
    dialect: Dialect = "eventbridge",
    max_fanout: int = 5,
    declared_attributes: Mapping[str, Iterable[str]] | None = None,
) -> ValidationReport:
    """`validate_chain` for a whole plan: its links, its `max_depth`, its rule settings.

    The plan's `rules.<id>.enabled` applies before the `disabled_rule` check, in the
    triggers dialect `rules.<id>.attributes` count as declared attributes, and a
    `rules.<id>` naming a rule not in the inventory is an `unknown_rule` (listed last).
    Links derived through the plan's `workflows:` are checked with `links:`, and their
    findings name the workflows (`chainsim.workflows`).
    """
    from chainsim.workflows import explain, plan_links

    rules = plan_rules(plan, rules)
    report = validate_chain(
        rules,
        plan_links(plan, rules),  # `links:` plus the links derived through `workflows:`
        max_depth=plan.max_depth,
        max_fanout=max_fanout,
        dialect=dialect,
        declared_attributes=(
            declared_attributes
            if declared_attributes is not None
            else {rid: s.attributes for rid, s in plan.rules.items()}
        ),
    )
    report = explain(report, plan, rules)
    known = {rule.id for rule in rules}
    unknown = [
        Finding(
            "unknown_rule",
            ERROR,
            (rid,),
            f"rules.{rid}: rule {rid!r} is not in the inventory; create it first or fix the id",
        )
        for rid in plan.rules
        if rid not in known
    ]
    return ValidationReport(report.findings + tuple(unknown)) if unknown else report
