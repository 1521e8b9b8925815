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

Every check is defined once, in the table `CHECKS`, and runs on every plan, big or
small: a check is one function over the plan's columns (`_Run`), which finds its
failing links with C-level `map`/`compress` passes and builds findings for those only,
so a clean 100,000-link plan builds no per-link object. Planned links enter the graph in
plan order, so ties (equally short cycles, the order of fan-out names) follow the plan.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, compress, count, pairwise, repeat
from operator import add, attrgetter, eq, is_, itemgetter, ne, not_
from typing import Any, Literal

from chainsim.graph import Analysis, Graph, adjacency, analyse, deepest_planned_paths
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


def _lookup(index: dict[str, int], ids: list[str]) -> tuple[list[int | None], bool]:
    """`ids` as node ints (None where not in the inventory), and whether all were found."""
    try:
        return list(map(index.__getitem__, ids)), True
    except KeyError:
        return list(map(index.get, ids)), False


class _Run:
    """One validation run: the inventory and the plan as plain columns, read by every check.

    Built once per call, before any check runs: rule ids as dense ints, the links' fields
    as lists in plan order, the planned graph, and per planned source the targets the
    graph cannot hold (unknown ids, itself) that still count towards its fan-out. It holds
    no reference to itself, so it is freed by reference counting as soon as the run ends.
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
        self.rules, self.ids, self.index = rules, ids, index
        self.max_depth, self.max_fanout = max_depth, max_fanout
        self.triggers = dialect == "triggers"
        self.declared = {k: list(v) for k, v in (declared_attributes or {}).items()}
        self.compiler = PathCompiler()
        self.keys = _Keys(self.compiler)
        # pydantic keeps a model's field values in its instance `__dict__`: taking that
        # dict once per link and reading fields with itemgetter costs about 30% less on a
        # big plan than attrgetter per field (each attribute read looks in the class first)
        self.fields: list[dict[str, Any]] = list(map(attrgetter("__dict__"), links))
        self.sources: list[str] = list(map(itemgetter("source"), self.fields))
        self.dests: list[str] = list(map(itemgetter("destination"), self.fields))
        self.us, self.known_sources = _lookup(index, self.sources)
        self.vs, self.known_dests = _lookup(index, self.dests)
        self.new, self.distinct, self.extra = self.planned_edges()
        self.with_actions = list(compress(range(len(rules)), map(attrgetter("actions"), rules)))
        self.dangling = self.dangling_actions()
        for u, target in self.dangling:
            self.extra.setdefault(u, {})[target] = None
        self.graph = Graph.from_adjacency(ids, self.new, self.existing_edges())

    def planned_edges(self) -> tuple[list[list[int]], bool, dict[int, dict[str, None]]]:
        """The planned successor lists (each distinct edge once, in plan order), whether
        no link repeats another, and per known source the planned targets the graph
        cannot hold (an unknown id, the source itself)."""
        n, us, vs = len(self.rules), self.us, self.vs
        pairs = zip(self.sources, self.dests, strict=True)
        if self.known_sources and self.known_dests:
            new = adjacency(n, us, vs)  # type: ignore[arg-type]
            # a repeated link repeats a destination in its source's successor list
            distinct = sum(map(len, map(set, filter(None, new)))) == len(us)
            if distinct and not any(map(eq, us, vs)):
                return new, True, {}
        else:
            distinct = len(set(pairs)) == len(us)
            pairs = zip(self.sources, self.dests, strict=True)
        seen: set[tuple[str, str]] = set()
        heads: list[int] = []
        tails: list[int] = []
        extra: dict[int, dict[str, None]] = {}
        for pair, u, v in zip(pairs, us, vs, strict=True):
            if u is None or pair in seen:
                continue
            seen.add(pair)
            if v is None or u == v:
                extra.setdefault(u, {})[pair[1]] = None
            else:
                heads.append(u)
                tails.append(v)
        return adjacency(n, heads, tails), distinct, extra

    def existing_edges(self) -> list[tuple[int, int]]:
        """Links already on the bus between known rules, as int edges."""
        index, rules = self.index, self.rules
        edges = []
        for u in self.with_actions:
            for action in rules[u].actions:
                if action.type == INVOKE_RULE and action.rule_id is not None:
                    v = index.get(action.rule_id)
                    if v is not None:
                        edges.append((u, v))
        return edges

    def dangling_actions(self) -> list[tuple[int, str]]:
        """`(u, id)` per bus action of a rule the plan writes that names a rule not in the
        inventory: the bus refuses the next write of that rule."""
        index, rules, new, extra = self.index, self.rules, self.new, self.extra
        return [
            (u, action.rule_id or "")
            for u in self.with_actions
            if new[u] or u in extra
            for action in rules[u].actions
            if action.is_link and action.rule_id not in index
        ]

    def of_sources(self, values: list[Any]) -> Iterable[Any]:
        """`values[u]` per link, u its source's node (None where the source is unknown)."""
        if self.known_sources:
            return map(values.__getitem__, self.us)  # type: ignore[arg-type]
        return [None if u is None else values[u] for u in self.us]

    @cached_property
    def carried(self) -> list[frozenset[str]]:
        """Per rule: the attributes its events carry (its `filters.attributes`; in the
        triggers dialect also its criteria paths without `$.` and the plan's declared
        attributes). Most rules share one list: each distinct list becomes one set."""
        lists = list(map(tuple, map(attrgetter("filters.attributes"), self.rules)))
        if self.triggers:
            declared = self.declared
            lists = [
                _trigger_attributes(attrs, declared.get(rule_id, ()))
                for attrs, rule_id in zip(lists, self.ids, strict=True)
            ]
        sets = {attrs: frozenset(attrs) for attrs in set(lists)}
        return list(map(sets.__getitem__, lists))

    @cached_property
    def analysis(self) -> Analysis:
        """Cycles and longest paths of the combined graph."""
        return analyse(self.graph)


# --------------------------------------------------------------------- the checks
#
# Each check is one function over a `_Run`, yielding `(position, finding)`: `position`
# is the link's index for a per-link finding, `len(links)` for a finding on the whole
# graph. The run sorts every check's output by position (a stable sort), so findings
# come per link in plan order, each link's in table order, then the graph's.


def _unknown_rule(run: _Run) -> Iterator[tuple[int, Finding]]:
    """`unknown_rule`: a link's source or destination is not in the inventory."""
    fix = "is not in the inventory; create it first or fix the id"
    if not run.known_sources:
        for i in compress(count(), map(is_, run.us, repeat(None))):
            s = run.sources[i]
            message = f"links[{i}].source: rule {s!r} {fix}"
            yield i, Finding("unknown_rule", ERROR, (s,), message)
    if not run.known_dests:
        for i in compress(count(), map(is_, run.vs, repeat(None))):
            d = run.dests[i]
            if d != run.sources[i]:  # a missing rule linked to itself is named once
                message = f"links[{i}].destination: rule {d!r} {fix}"
                yield i, Finding("unknown_rule", ERROR, (d,), message)


def _self_link(run: _Run) -> Iterator[tuple[int, Finding]]:
    """`self_link`: a rule that would invoke itself."""
    # known ids compare as node ints, faster than strings
    known = run.known_sources and run.known_dests
    ends = (run.us, run.vs) if known else (run.sources, run.dests)
    for i in compress(count(), map(eq, *ends)):
        s = run.sources[i]
        message = f"links[{i}]: rule {s!r} would invoke itself; remove this link"
        yield i, Finding("self_link", ERROR, (s,), message)


def _duplicate_link(run: _Run) -> Iterator[tuple[int, Finding]]:
    """`duplicate_link`: the same source -> destination again, naming the first."""
    if run.distinct:
        return
    first: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(zip(run.sources, run.dests, strict=True)):
        earlier = first.setdefault(pair, i)
        if earlier != i:
            s, d = pair
            message = (
                f"links[{i}]: link {s} -> {d} repeats links[{earlier}]; merge them into one link"
            )
            yield i, Finding("duplicate_link", ERROR, pair, message)


def _event_type(run: _Run) -> Iterator[tuple[int, Finding]]:
    """`event_type`: a link's event type is not the one its source rule emits."""
    types = list(map(attrgetter("event_type"), run.rules))
    emitted = run.of_sources(types)
    link_types = map(itemgetter("event_type"), run.fields)
    for i in compress(count(), map(ne, link_types, emitted)):
        u = run.us[i]
        if u is None:  # an unknown source: `unknown_rule` says so
            continue
        s, d, expected = run.sources[i], run.dests[i], types[u]
        message = (
            f"links[{i}].event_type: {run.fields[i]['event_type']!r} but source rule {s!r} "
            f"emits {expected!r}; set event_type to {expected!r}"
        )
        yield i, Finding("event_type", ERROR, (s, d), message)


def _carried_attributes(run: _Run) -> Iterator[tuple[int, Finding]]:
    """`attribute`, `transform`, `unverified_attribute`: what a link preserves or reads
    with a transform must parse and be carried by its source's events.

    First a shortcut on the plan's few distinct names: when every path reads some
    `$.metadata.<key>` and every source rule's `filters.attributes` holds every
    attribute any link preserves or reads, no link can fail (in the triggers dialect a
    rule proves at least its `filters.attributes`). Otherwise each link is tested
    against what its own source carries.
    """
    fields, us = run.fields, run.us
    key_of = run.keys.__getitem__
    texts = set(chain.from_iterable(map(dict.values, map(itemgetter("transform"), fields))))
    read = set(map(key_of, texts))
    needed = read.union(chain.from_iterable(map(itemgetter("preserve"), fields)))
    if not needed:
        return
    if None not in read:
        sources = map(run.rules.__getitem__, set(us).difference((None,)))  # type: ignore[arg-type]
        lists = set(map(tuple, map(attrgetter("filters.attributes"), sources)))
        if all(needed.issubset(attrs) for attrs in lists):
            return
    carried = run.carried
    preserves = map(itemgetter("preserve"), fields)
    transforms = map(itemgetter("transform"), fields)
    for i, u, preserve, transform in zip(count(), us, preserves, transforms):
        if u is None or not (preserve or transform):
            continue  # an unknown source: `unknown_rule` says so
        have = carried[u]
        if have.issuperset(preserve) and have.issuperset(map(key_of, transform.values())):
            continue
        yield from _link_attributes(run, i, have)


def _link_attributes(run: _Run, i: int, have: frozenset[str]) -> Iterator[tuple[int, Finding]]:
    """The attribute and transform findings of link `i`, whose source carries `have`."""
    s, d, fields = run.sources[i], run.dests[i], run.fields[i]
    where = f"links[{i}]"
    for name in fields["preserve"]:
        if name not in have:
            yield i, _missing(run.triggers, "attribute", f"{where}.preserve", s, d, name, "")
    for key, text in fields["transform"].items():
        kind, problem = run.compiler.path_problem(text, have)
        place = f"{where}.transform.{key}"
        if kind == "syntax":
            message = f"{place}: {problem}; read a carried attribute, e.g. $.metadata.<attribute>"
            yield i, Finding("transform", ERROR, (s, d), message)
        elif kind == "attribute":
            name = run.keys[text] or ""
            subject = f"JSONPath {text!r} reads "
            yield i, _missing(run.triggers, "transform", place, s, d, name, subject)


def _missing(
    triggers: bool, code: str, place: str, s: str, d: str, name: str, subject: str
) -> Finding:
    """An attribute the source does not carry: an error, or for triggers a warning."""
    if triggers:
        return Finding(
            "unverified_attribute",
            WARNING,
            (s, d),
            f"{place}: {subject}attribute {name!r}, which is not proven for trigger "
            f"{s!r} (no criteria reads it, the plan does not declare it); if its topic "
            f"carries it, declare it under rules.{s}.attributes in the plan",
        )
    fix = "stop preserving it" if code == "attribute" else "read another attribute"
    return Finding(
        code,
        ERROR,
        (s, d),
        f"{place}: {subject}attribute {name!r}, which source rule {s!r} does not carry; "
        f"add it to the source's filters.attributes or {fix}",
    )


def _disabled_rule(run: _Run) -> Iterator[tuple[int, Finding]]:
    """`disabled_rule` (warning): a link touches a disabled rule, so it will not fire."""
    enabled = list(map(attrgetter("enabled"), run.rules))
    if all(enabled):
        return
    disabled = set(compress(count(), map(not_, enabled)))
    for role, nodes in (("source", run.us), ("destination", run.vs)):
        for i in compress(count(), map(disabled.__contains__, nodes)):
            rule_id = run.ids[nodes[i]]  # type: ignore[index]
            message = (
                f"links[{i}]: {role} rule {rule_id!r} is disabled, so this link will not "
                f"fire; enable it (rules.{rule_id}.enabled: true in the plan)"
            )
            yield i, Finding("disabled_rule", WARNING, (run.sources[i], run.dests[i]), message)


def _dangling_action(run: _Run) -> Iterator[tuple[int, Finding]]:
    """`unknown_rule`: a rule the plan writes already invokes a rule that is gone."""
    after = len(run.fields)
    for u, target in run.dangling:
        message = (
            f"rule {run.ids[u]!r} already invokes {target!r}, which is not in the inventory; "
            "the bus will refuse the update until that action is removed"
        )
        yield after, Finding("unknown_rule", ERROR, (target,), message)


def _fanout(run: _Run) -> Iterator[tuple[int, Finding]]:
    """`fanout`: a rule the plan writes would invoke more than `max_fanout` rules
    (bus actions and planned links merged, unknown targets included)."""
    after, limit, extra = len(run.fields), run.max_fanout, run.extra
    old, new, ids = run.graph.old, run.graph.new, run.ids
    counts: Iterable[int] = (
        map(add, map(len, old), map(len, new)) if run.with_actions else map(len, new)
    )
    if extra:
        counts = list(counts)
        for u, targets in extra.items():
            counts[u] += len(targets)
    for u in compress(count(), map(limit.__lt__, counts)):
        if not (new[u] or u in extra):
            continue  # the plan does not write this rule
        names = [ids[v] for v in (*old[u], *new[u])]
        names.extend(extra.get(u, ()))
        message = (
            f"rule {ids[u]!r} would invoke {len(names)} rules, more than "
            f"max_fanout {limit}: {', '.join(names)}; "
            "route some of them through an intermediate rule"
        )
        yield after, Finding("fanout", ERROR, (ids[u], *names), message)


def _cycle(run: _Run) -> Iterator[tuple[int, Finding]]:
    """`cycle`: one per strongly connected component, by the cycle's first rule."""
    after, graph = len(run.fields), run.graph
    for path in run.analysis.cycles:
        ids = graph.path_ids(path)
        on_bus = [
            f"{graph.ids[u]} -> {graph.ids[v]}" for u, v in pairwise(path) if v not in graph.new[u]
        ]
        origin = f" (closed by existing bus link {', '.join(on_bus[:3])})" if on_bus else ""
        message = (
            f"cycle {show_path(ids)}{origin}: these rules would invoke each other "
            "forever; remove one of the links"
        )
        yield after, Finding("cycle", ERROR, tuple(ids), message)


def _depth(run: _Run) -> Iterator[tuple[int, Finding]]:
    """`depth`: one per weakly connected component, naming its longest planned path."""
    after, graph, limit = len(run.fields), run.graph, run.max_depth
    for path in deepest_planned_paths(graph, run.analysis, longer_than=limit):
        ids = graph.path_ids(path)
        message = (
            f"path {show_path(ids)} has {len(ids) - 1} hops, more than max_depth "
            f"{limit}; shorten the chain or raise max_depth"
        )
        yield after, Finding("depth", ERROR, tuple(ids), message)


@dataclass(frozen=True, slots=True)
class _Check:
    """One check of the table: the codes it reports and the function that finds them."""

    codes: tuple[str, ...]
    find: Callable[[_Run], Iterator[tuple[int, Finding]]]


# The one table of checks, in report order: per link first (each link's findings in
# this order), then those on the whole graph. Every check runs on every plan, big or
# small; there is no second pass that could miss one.
CHECKS: tuple[_Check, ...] = (
    _Check(("unknown_rule",), _unknown_rule),
    _Check(("self_link",), _self_link),
    _Check(("duplicate_link",), _duplicate_link),
    _Check(("event_type",), _event_type),
    _Check(("attribute", "transform", "unverified_attribute"), _carried_attributes),
    _Check(("disabled_rule",), _disabled_rule),
    _Check(("unknown_rule",), _dangling_action),
    _Check(("fanout",), _fanout),
    _Check(("cycle",), _cycle),
    _Check(("depth",), _depth),
)


def _run_checks(run: _Run) -> ValidationReport:
    """Every check of `CHECKS` on one run, merged into the documented order."""
    hits = [hit for check in CHECKS for hit in check.find(run)]
    hits.sort(key=itemgetter(0))  # stable: table order within one link, and for the graph
    return ValidationReport(tuple(map(itemgetter(1), hits)))


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
        run = _Run(
            list(rules),
            list(links),
            max_depth=max_depth,
            max_fanout=max_fanout,
            dialect=dialect,
            declared_attributes=declared_attributes,
        )
        report = _run_checks(run)
        # free the run's containers while the collector is still paused: alive at
        # `gc.enable()`, they would all be walked by the first collection after it
        del run
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
