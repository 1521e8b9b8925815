"""`simulate`: push one event through a chain, hop by hop, breadth first (DESIGN §7).

The chain is the bus's existing `invokeRule` links plus the planned ones; a planned
link replaces an existing action with the same source and destination (apply merges it
that way). Every rule whose `eventType` matches the event starts a walk. Each hop builds
the destination event per DESIGN §2 and is recorded with its depth (1 for the first
hop). Walks stop at `max_depth` hops, so cycles terminate; a hop past `max_depth` is not
taken. Paths, not rules, are followed: an event reaching a rule by two ways is delivered
twice, as a bus would. `max_hops` bounds the trace on wide graphs (`Trace.truncated`).

Nothing is raised for a source event that lacks an attribute: the destination key is
left out and the miss is listed on the hop (`Hop.missing`) and in `Trace.missing`.
A link to a rule that is not in the inventory is skipped and listed in `Trace.skipped`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chainsim.model import ChainLink, ChainPlan, Event, Rule
from chainsim.transform import PathCompiler, destination_event


@dataclass(frozen=True, slots=True)
class Hop:
    """One delivery: `source` rule -> `destination` rule at `depth`, carrying `event`."""

    source: str
    destination: str
    depth: int
    event: dict[str, Any]
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """`{"source", "destination", "depth", "event"}`."""
        return {
            "source": self.source,
            "destination": self.destination,
            "depth": self.depth,
            "event": self.event,
        }


@dataclass(frozen=True, slots=True)
class Missing:
    """An attribute (or a transform entry `key <- path`) a hop's source event lacked."""

    source: str
    destination: str
    depth: int
    attribute: str


@dataclass(slots=True)
class Trace:
    """The hops of one simulation, in breadth-first order, and what went missing."""

    event: dict[str, Any]
    starts: list[str] = field(default_factory=list)
    hops: list[Hop] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    truncated: bool = False

    @property
    def missing(self) -> list[Missing]:
        """Every missing attribute, hop by hop."""
        return [
            Missing(hop.source, hop.destination, hop.depth, name)
            for hop in self.hops
            for name in hop.missing
        ]

    @property
    def max_depth_reached(self) -> int:
        """The deepest hop taken (0 when no hop was taken)."""
        return max((hop.depth for hop in self.hops), default=0)

    def to_json(self) -> dict[str, Any]:
        """`{"hops": [{"source", "destination", "depth", "event"}]}` (DESIGN §9)."""
        return {"hops": [hop.to_json() for hop in self.hops]}


@dataclass(frozen=True, slots=True)
class _Edge:
    destination: str
    transform: Mapping[str, str]
    preserve: tuple[str, ...]


def chain_edges(rules: Iterable[Rule], links: Iterable[ChainLink]) -> dict[str, list[_Edge]]:
    """Outgoing links per source: the bus's actions, with planned links merged over them."""
    out: dict[str, dict[str, _Edge]] = {}
    for rule in rules:
        for action in rule.links():
            dest = action.rule_id or ""
            out.setdefault(rule.id, {})[dest] = _Edge(
                dest, dict(action.payload_transformation), tuple(action.preserved_attributes)
            )
    for link in links:
        out.setdefault(link.source, {})[link.destination] = _Edge(
            link.destination, dict(link.transform), tuple(link.preserve)
        )
    return {source: list(edges.values()) for source, edges in out.items()}


def simulate(
    rules: Iterable[Rule],
    links: Iterable[ChainLink],
    event: Event | Mapping[str, Any],
    *,
    max_depth: int = 5,
    max_hops: int = 100_000,
) -> Trace:
    """Follow `event` from every rule whose `eventType` matches, breadth first.

    Raises `chainsim.transform.PathError` only for a JSONPath that does not parse.
    """
    rules = list(rules)
    by_id = {rule.id: rule for rule in rules}
    wire = event.to_wire() if isinstance(event, Event) else dict(event)
    edges = chain_edges(rules, links)
    compiler = PathCompiler()
    trace = Trace(event=wire)
    trace.starts = [rule.id for rule in rules if rule.event_type == wire.get("eventType")]
    queue: deque[tuple[str, dict[str, Any], int]] = deque((s, wire, 0) for s in trace.starts)
    while queue:
        source, current, depth = queue.popleft()
        if depth >= max_depth:
            continue
        for edge in edges.get(source, ()):
            dest_rule = by_id.get(edge.destination)
            if dest_rule is None:
                trace.skipped.append((source, edge.destination))
                continue
            if len(trace.hops) >= max_hops:
                trace.truncated = True
                return trace
            delivered, missing = destination_event(
                current, dest_rule.event_type, edge.transform, edge.preserve, compiler=compiler
            )
            trace.hops.append(Hop(source, edge.destination, depth + 1, delivered, tuple(missing)))
            queue.append((edge.destination, delivered, depth + 1))
    return trace


def simulate_plan(
    plan: ChainPlan,
    rules: Iterable[Rule],
    event: Event | Mapping[str, Any],
    *,
    max_hops: int = 100_000,
) -> Trace:
    """`simulate` over a whole plan: its `links:` and the links derived through `workflows:`."""
    from chainsim.workflows import plan_links

    rules = list(rules)
    return simulate(
        rules, plan_links(plan, rules), event, max_depth=plan.max_depth, max_hops=max_hops
    )
