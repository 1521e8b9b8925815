"""`chainsim capacity`: workflow invocations through every chain, against the org's limits.

Genesys Cloud caps the workflows that Process Automation triggers may start (Developer
Center, Organization > Limits, https://developer.genesys.cloud/organization/organization/limits;
explained by Genesys in
https://developer.genesys.cloud/forum/t/trying-to-understand-limits-on-triggers-and-workflows/23730):
- `event.orchestration.workflow.invocations.per.minute` = 6,000: every workflow invoked
  by any trigger of the org, per minute (set above 1/60 of the hourly limit for surges);
- `event.orchestration.workflow.invocations.per.hour` = 36,000: the same, per hour;
- `distinct.target.ratio` = 80%: the share of the per-minute limit one target workflow
  may take (4,800 per minute at the defaults).

Model (chainsim's, stated so it can be argued with): rates are steady events per minute
on topics (`--rate TOPIC=N`). Every event on a topic fires every enabled trigger on it —
an upper bound, as chainsim cannot know what share passes a trigger's criteria (give
the rate of matching events when you know it). A trigger firing r times a minute invokes
its workflow r times a minute; each invocation raises one event per `emits` entry of the
workflow (plan `workflows:`), which fires the triggers on that topic, and so on along the
plan's links (`chainsim.workflows.plan_links`: `links:` plus derived links), for at most
`max_depth` hops (deeper hops are validate's `depth` finding). Per hour = 60 x per
minute. A trigger on a loop reachable from a rated topic fires without bound: every
workflow it leads to is reported unbounded (never looped over).

Findings (code `capacity`, error) name the workflow and its heaviest chain: one per
workflow over the per-workflow share, or unbounded; one per org limit (minute, hour)
exceeded by the sum, naming the heaviest workflows (skipped when a loop already makes
the sum unbounded).
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainsim.errors import InputError
from chainsim.graph import cycle_path, is_cyclic_component, strongly_connected_components
from chainsim.model import ChainPlan, Rule
from chainsim.validate import ERROR, Finding
from chainsim.workflows import chain_text, derive_links, derived_index, firing_triggers

PER_MINUTE = 6_000  # event.orchestration.workflow.invocations.per.minute
PER_HOUR = 36_000  # event.orchestration.workflow.invocations.per.hour
TARGET_RATIO = 0.8  # distinct.target.ratio
CHAINS_SHOWN = 3  # chains named in a finding's message (JSON lists every one)
FORMATS = ("text", "json")
TOPIC_PREFIX = "v2."  # every Genesys notification topic starts so


@dataclass(frozen=True, slots=True)
class Limits:
    """The org limits a plan's workflows are checked against (Genesys defaults)."""

    per_minute: int = PER_MINUTE
    per_hour: int = PER_HOUR
    target_ratio: float = TARGET_RATIO

    @property
    def per_target_per_minute(self) -> float:
        """What one workflow may take per minute: `target_ratio` x `per_minute`."""
        return self.target_ratio * self.per_minute

    def to_json(self) -> dict[str, Any]:
        """The limits under their Genesys names."""
        return {
            "event.orchestration.workflow.invocations.per.minute": self.per_minute,
            "event.orchestration.workflow.invocations.per.hour": self.per_hour,
            "distinct.target.ratio": self.target_ratio,
            "per_target_per_minute": _json_number(self.per_target_per_minute),
        }


@dataclass(frozen=True, slots=True)
class Chain:
    """One way a workflow gets invoked: `topic` at a rate -> triggers `ids` -> the workflow."""

    topic: str
    ids: tuple[str, ...]
    per_minute: float
    text: str

    def to_json(self) -> dict[str, Any]:
        """`{"topic", "rule_ids", "per_minute", "chain"}` (per_minute null when unbounded)."""
        return {
            "topic": self.topic,
            "rule_ids": list(self.ids),
            "per_minute": _json_number(self.per_minute),
            "chain": self.text,
        }


@dataclass(frozen=True, slots=True)
class WorkflowLoad:
    """A workflow's invocations per minute (math.inf: unbounded) and the chains behind them."""

    workflow: str
    name: str | None
    per_minute: float
    chains: tuple[Chain, ...] = ()

    @property
    def per_hour(self) -> float:
        """Invocations per hour at the steady per-minute rate."""
        return self.per_minute * 60

    @property
    def unbounded(self) -> bool:
        """True when a loop invokes the workflow without end."""
        return math.isinf(self.per_minute)

    @property
    def label(self) -> str:
        """The workflow's name from the plan, else its id."""
        return self.name or self.workflow

    def to_json(self) -> dict[str, Any]:
        """The load as JSON (rates null when unbounded)."""
        return {
            "workflow": self.workflow,
            "name": self.name,
            "per_minute": _json_number(self.per_minute),
            "per_hour": _json_number(self.per_hour),
            "unbounded": self.unbounded,
            "chains": [chain.to_json() for chain in self.chains],
        }


@dataclass(frozen=True, slots=True)
class CapacityReport:
    """Per-workflow loads (heaviest first), the limits, and the `capacity` findings."""

    limits: Limits
    rates: Mapping[str, float]
    workflows: tuple[WorkflowLoad, ...]
    findings: tuple[Finding, ...] = ()
    idle_topics: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every workflow and the org total stay within the limits."""
        return not self.findings

    @property
    def total_per_minute(self) -> float:
        """All trigger-invoked workflows together, per minute."""
        return sum(load.per_minute for load in self.workflows)

    @property
    def total_per_hour(self) -> float:
        """All trigger-invoked workflows together, per hour."""
        return self.total_per_minute * 60

    def to_json(self) -> dict[str, Any]:
        """`{"ok", "limits", "rates", "total", "workflows", "findings", "idle_topics"}`."""
        return {
            "ok": self.ok,
            "limits": self.limits.to_json(),
            "rates": {topic: _json_number(rate) for topic, rate in self.rates.items()},
            "total": {
                "per_minute": _json_number(self.total_per_minute),
                "per_hour": _json_number(self.total_per_hour),
            },
            "workflows": [load.to_json() for load in self.workflows],
            "findings": [finding.to_json() for finding in self.findings],
            "idle_topics": list(self.idle_topics),
        }


def _json_number(value: float) -> float | int | None:
    if math.isinf(value):
        return None
    return int(value) if float(value).is_integer() else round(value, 3)


def number(value: float) -> str:
    """`6,000`, `12.5` or `unbounded`."""
    if math.isinf(value):
        return "unbounded"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


# --------------------------------------------------------------------------- the model


@dataclass(slots=True)
class _Graph:
    """Firing triggers, the workflow each invokes, and the trigger -> trigger edges."""

    topic: dict[str, str]
    workflow: dict[str, str | None]
    succ: dict[str, list[str]]  # with multiplicity: one entry per event per firing

    def reach(self, starts: Iterable[str]) -> dict[str, str | None]:
        """Breadth-first parents of every trigger reachable from `starts` (starts: None)."""
        parent: dict[str, str | None] = dict.fromkeys(starts)
        queue = deque(parent)
        while queue:
            node = queue.popleft()
            for nxt in self.succ.get(node, ()):
                if nxt not in parent:
                    parent[nxt] = node
                    queue.append(nxt)
        return parent


def _path(parent: Mapping[str, str | None], node: str) -> list[str]:
    out = [node]
    while (up := parent[out[-1]]) is not None:
        out.append(up)
    return out[::-1]


def _graph(plan: ChainPlan, rules: Sequence[Rule]) -> _Graph:
    firing = firing_triggers(plan, rules)
    topic = {rule.id: rule.event_type for rule, _ in firing}
    workflow = {rule.id: wf for rule, wf in firing}
    succ: dict[str, list[str]] = {}
    explicit = {(link.source, link.destination) for link in plan.links}
    for link in plan.links:
        if link.source in topic and link.destination in topic:
            succ.setdefault(link.source, []).append(link.destination)
    for step in derive_links(plan, rules):
        if (step.source, step.destination) not in explicit:
            succ.setdefault(step.source, []).append(step.destination)
    return _Graph(topic, workflow, succ)


_Flow = tuple[float, tuple[str, ...], int]  # rate, heaviest path of trigger ids, paths merged


def _unbounded(graph: _Graph, seeds: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Triggers a loop reachable from `seeds` fires without bound, each with one such chain.

    Loops are the cyclic strongly connected components of what the seeds reach (one
    Tarjan pass, `chainsim.graph`); the chain runs seed -> ... -> the loop -> once round
    it -> ... -> the trigger, each piece a shortest one (breadth first).
    """
    parent = graph.reach(seeds)
    ids = list(parent)  # closed under successors
    index = {t: i for i, t in enumerate(ids)}
    succ = [[index[d] for d in graph.succ.get(t, ())] for t in ids]
    loops: dict[str, list[str]] = {}
    for component in strongly_connected_components(succ):
        if is_cyclic_component(succ, component):
            cycle = [ids[i] for i in cycle_path(succ, component)]
            loops[cycle[0]] = cycle
    onward = graph.reach(sorted(loops, key=index.__getitem__))
    out: dict[str, tuple[str, ...]] = {}
    for reached in onward:
        way = _path(onward, reached)  # a loop's first trigger ... reached
        out[reached] = (*_path(parent, way[0]), *loops[way[0]][1:], *way[1:])
    return out


def _finite(
    graph: _Graph,
    seeds: Mapping[str, float],
    unbounded: Mapping[str, tuple[str, ...]],
    max_depth: int,
) -> list[tuple[str, _Flow]]:
    """Firing rate per (hop, trigger) for hops 0..max_depth, off the unbounded part.

    What is left once the loops' reach is removed is acyclic, so this ends before
    `max_depth` on most plans. Paths meeting at one trigger on one hop are merged (their
    rates add; the heaviest is kept to name), so the work is O(max_depth x edges).
    """
    out: list[tuple[str, _Flow]] = []
    level: dict[str, _Flow] = {t: (r, (t,), 1) for t, r in seeds.items() if t not in unbounded}
    for _hop in range(max_depth + 1):
        nxt: dict[str, _Flow] = {}
        heaviest: dict[str, float] = {}
        for t, (rate, ids, paths) in level.items():
            out.append((t, (rate, ids, paths)))
            for dest, times in Counter(graph.succ.get(t, ())).items():  # times: events per run
                if dest in unbounded:
                    continue
                total, chain, merged = nxt.get(dest, (0.0, (), 0))
                if rate * times > heaviest.get(dest, -1.0):
                    heaviest[dest], chain = rate * times, (*ids, dest)
                nxt[dest] = (total + rate * times, chain, merged + paths)
        level = nxt
    return out


def capacity(
    plan: ChainPlan,
    rules: Iterable[Rule],
    rates: Mapping[str, float],
    limits: Limits | None = None,
) -> CapacityReport:
    """Per workflow, invocations per minute/hour through every chain, against `limits`."""
    limits = limits or Limits()
    rules = list(rules)
    graph = _graph(plan, rules)
    names = {rule.id: rule.name for rule in rules if rule.name}
    derived = derived_index(plan, rules)
    seeds = {t: rates[top] for t, top in graph.topic.items() if rates.get(top, 0) > 0}
    idle = tuple(top for top in rates if top not in set(graph.topic.values()))

    def text(ids: Sequence[str]) -> str:
        head = f"topic {graph.topic[ids[0]]} at {number(rates[graph.topic[ids[0]]])}/min -> "
        wf = graph.workflow.get(ids[-1])
        spec = plan.workflows.get(wf) if wf is not None else None
        tail = f" -> workflow {(spec.name if spec and spec.name else wf)!r}" if wf else ""
        return head + chain_text(ids, derived, names) + tail

    unbounded = _unbounded(graph, seeds)
    contributions = _finite(graph, seeds, unbounded, plan.max_depth)

    loads: dict[str, list[Chain]] = {}
    for t, (r, ids, paths) in contributions:
        wf = graph.workflow.get(t)
        if wf is not None:
            shown = text(ids) + (f" (heaviest of {paths:,} paths)" if paths > 1 else "")
            loads.setdefault(wf, []).append(Chain(graph.topic[ids[0]], ids, r, shown))
    for t, ids in unbounded.items():
        wf = graph.workflow.get(t)
        if wf is not None:
            loop_text = text(ids) + " (the loop repeats without end)"
            loads.setdefault(wf, []).append(Chain(graph.topic[ids[0]], ids, math.inf, loop_text))
    workflows = []
    for wf, chains in loads.items():
        chains.sort(key=lambda c: (-c.per_minute, c.ids))
        spec = plan.workflows.get(wf)
        total = sum(c.per_minute for c in chains)
        workflows.append(WorkflowLoad(wf, spec.name if spec else None, total, tuple(chains)))
    workflows.sort(key=lambda w: (-w.per_minute, w.workflow))
    findings = _findings(workflows, limits)
    return CapacityReport(limits, dict(rates), tuple(workflows), tuple(findings), idle)


def _shown(chains: Sequence[Chain]) -> str:
    more = len(chains) - CHAINS_SHOWN
    text = "; ".join(c.text for c in chains[:CHAINS_SHOWN])
    return text + (f"; and {more} more chain(s)" if more > 0 else "")


def _findings(workflows: Sequence[WorkflowLoad], limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    share = limits.per_target_per_minute
    for load in workflows:
        ids = load.chains[0].ids if load.chains else ()
        if load.unbounded:
            loop = next(c for c in load.chains if math.isinf(c.per_minute))
            out.append(
                Finding(
                    "capacity",
                    ERROR,
                    loop.ids,
                    f"workflow {load.label!r} would be invoked without bound: {loop.text}; "
                    "every org limit is exceeded; break the loop (chainsim validate "
                    "reports it as a cycle)",
                )
            )
        elif load.per_minute > share:
            out.append(
                Finding(
                    "capacity",
                    ERROR,
                    ids,
                    f"workflow {load.label!r} would be invoked {number(load.per_minute)}/min, "
                    f"over distinct.target.ratio {limits.target_ratio:.0%} of "
                    f"event.orchestration.workflow.invocations.per.minute ({number(share)}/min "
                    f"for one workflow): {_shown(load.chains)}; narrow the triggers' criteria "
                    "or spread the work over several workflows",
                )
            )
    if any(load.unbounded for load in workflows):
        return out
    total = sum(load.per_minute for load in workflows)
    for limit, value, per, key in (
        (limits.per_minute, total, "min", "event.orchestration.workflow.invocations.per.minute"),
        (limits.per_hour, total * 60, "hour", "event.orchestration.workflow.invocations.per.hour"),
    ):
        if value <= limit:
            continue
        heavy = [load for load in workflows if load.per_minute > 0][:CHAINS_SHOWN]
        named = "; ".join(
            f"workflow {load.label!r} {number(load.per_minute * (60 if per == 'hour' else 1))}"
            f"/{per} via {load.chains[0].text}"
            for load in heavy
        )
        ids = tuple(dict.fromkeys(i for load in heavy for i in load.chains[0].ids))
        out.append(
            Finding(
                "capacity",
                ERROR,
                ids,
                f"the org's trigger-invoked workflows would run {number(value)}/{per}, over "
                f"{key} {number(limit)}: {named}; lower the rates, narrow the triggers' "
                "criteria, or ask Genesys to raise the limit",
            )
        )
    return out


# --------------------------------------------------------------------------- the runner


def parse_rates(
    items: Sequence[str], rules: Sequence[Rule], plan: ChainPlan | None = None
) -> dict[str, float]:
    """`["TOPIC=N", ...]` (events per minute) as a mapping; bad input raises `InputError`."""
    known = {rule.event_type for rule in rules}
    if plan is not None:
        known.update(emit.topic for spec in plan.workflows.values() for emit in spec.emits)
    if not items:
        raise InputError("--rate", "", "expected at least one --rate TOPIC=N (events per minute)")
    out: dict[str, float] = {}
    for raw in items:
        topic, sep, value = raw.rpartition("=")
        topic = topic.strip()
        try:
            rate = float(value)
        except ValueError:
            rate = math.nan
        if not sep or not topic or not math.isfinite(rate) or rate < 0:
            raise InputError(
                "--rate", raw, "expected TOPIC=N with N events per minute, a number >= 0"
            )
        if topic not in known and not topic.startswith(TOPIC_PREFIX):
            raise InputError(
                "--rate",
                raw,
                f"unknown topic {topic!r}: no trigger of the inventory is on it and it is "
                f"not a Genesys topic name (they start {TOPIC_PREFIX!r})",
            )
        if topic in out:
            raise InputError("--rate", raw, f"topic {topic!r} is given twice")
        out[topic] = rate
    return out


def make_limits(per_minute: int, per_hour: int, target_ratio: float) -> Limits:
    """`Limits` from the command's options; an absurd value raises `InputError`."""
    if per_minute < 1:
        raise InputError("--per-minute", "", f"expected a positive integer, got {per_minute}")
    if per_hour < 1:
        raise InputError("--per-hour", "", f"expected a positive integer, got {per_hour}")
    if not 0 < target_ratio <= 1:
        raise InputError(
            "--target-ratio", "", f"expected a fraction in (0, 1] (0.8 = 80%), got {target_ratio}"
        )
    return Limits(per_minute, per_hour, target_ratio)


def run_capacity(
    plan_path: Path,
    inventory_path: Path,
    rates: list[str],
    per_minute: int = PER_MINUTE,
    per_hour: int = PER_HOUR,
    target_ratio: float = TARGET_RATIO,
    output: str = "text",
) -> int:
    """`chainsim capacity`: 0 within the limits, 1 over (2 via InputError)."""
    from chainsim.model import load_plan
    from chainsim.probe import load_triggers

    if output not in FORMATS:
        raise InputError("--format", "", f"expected one of {', '.join(FORMATS)}, got {output!r}")
    limits = make_limits(per_minute, per_hour, target_ratio)
    plan = load_plan(plan_path)
    rules = load_triggers(inventory_path)
    report = capacity(plan, rules, parse_rates(rates, rules, plan), limits)
    if output == "json":
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        _print(plan_path, report)
    return 0 if report.ok else 1


def _print(plan_path: Path, report: CapacityReport) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = Console(highlight=False, soft_wrap=True, markup=False)
    limits = report.limits
    share = limits.per_target_per_minute
    table = Table(title=f"chainsim capacity — {plan_path}")
    table.add_column("workflow", overflow="fold")
    table.add_column("id", overflow="fold")
    table.add_column("per minute", justify="right")
    table.add_column("per hour", justify="right")
    table.add_column(f"of {number(share)}/min", justify="right")
    for load in report.workflows:
        ratio = "unbounded" if load.unbounded else f"{load.per_minute / share:.0%}"
        style = "red" if load.per_minute > share else "green"
        table.add_row(
            load.name or "-",
            load.workflow,
            number(load.per_minute),
            number(load.per_hour),
            Text(ratio, style=style),
        )
    out.print(table)
    out.print(
        f"total {number(report.total_per_minute)}/min (limit {number(limits.per_minute)}), "
        f"{number(report.total_per_hour)}/hour (limit {number(limits.per_hour)}); "
        f"one workflow at most {number(share)}/min ({limits.target_ratio:.0%})"
    )
    for load in report.workflows:
        for chain in load.chains[:CHAINS_SHOWN]:
            out.print(f"chain {number(chain.per_minute)}/min: {chain.text}")
        if len(load.chains) > CHAINS_SHOWN:
            out.print(f"... {load.label}: {len(load.chains) - CHAINS_SHOWN} more chain(s)")
    for topic in report.idle_topics:
        out.print(f"note: no enabled trigger is on {topic}; its rate invokes nothing")
    for finding in report.findings:
        out.print(Text(f"capacity: {finding.message}", style="red"))
    verdict = "OK  within the limits" if report.ok else f"FAILED  {len(report.findings)} finding(s)"
    out.print(verdict)
