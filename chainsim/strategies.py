"""Hypothesis strategies for chainsim: rules, chain graphs and the events that drive them.

Every graph strategy draws a `Chain`: an inventory of rules (with the links already on
the bus as `invokeRule` actions) plus planned `ChainLink`s, and the edge list by node
index so tests can compare with an oracle. Unless asked otherwise, what they draw is
*valid* apart from its graph shape: each link's `event_type` is its source's, every
preserved attribute and transform path reads an attribute the source carries, rules are
enabled, and no rule invokes more than `max_fanout` others. Shapes:

- `dag_chains`: edges only from a lower to a higher index (acyclic by construction);
- `cyclic_chains`: a DAG plus one planted cycle (`Chain.cycle` lists it);
- `deep_chains`: one straight path of a chosen number of hops;
- `diamonds`: a source fanning out to `width` rules that all meet again in a sink;
- `events_for(chain)`: an event matching the chain's first rule, all attributes set;
- `fault_plans`: seeded fault plans for the fake bus (DESIGN §5);
- `topic_events(topic)`: Genesys trigger-topic event bodies valid against the topic's
  schema in the topic catalogue (hypothesis-jsonschema, imported lazily), and
  `example_event(topic)`: one deterministic valid body.

Building blocks (`rule_ids`, `attribute_names`, `event_types`, `rules`, `chain_from_edges`)
compose into other shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from chainsim.fakebus.faults import FaultPlan
from chainsim.model import INVOKE_RULE, ChainLink, Event, Filters, Rule

if TYPE_CHECKING:
    from chainsim.dialects.catalogue import TopicCatalogue

EVENT_TYPES = (
    "v2.routing.queues.{id}.members",
    "v2.detail.events.conversation.{id}.acw",
    "v2.detail.events.conversation.{id}.customer.start",
    "v2.detail.events.conversation.{id}.user.end",
    "v2.detail.events.conversation.{id}.outbound",
    "v2.users.{id}.presence",
    "v2.quality.surveys.{id}",
    "v2.conversations.{id}.transcription",
    "routing.queue.member.added",
    "conversation.callback.offered",
    "conversation.wrapup.completed",
    "messaging.conversation.escalated",
)
ATTRIBUTES = (
    "conversationId",
    "queueId",
    "callerId",
    "mediaType",
    "agentId",
    "wrapupCode",
    "surveyId",
    "divisionId",
    "ani",
    "dnis",
)


def rule_ids() -> st.SearchStrategy[str]:
    """UUID-like rule ids (what Genesys uses)."""
    return st.uuids().map(str)


def attribute_names() -> st.SearchStrategy[str]:
    """Genesys-style metadata keys."""
    return st.sampled_from(ATTRIBUTES)


def event_types() -> st.SearchStrategy[str]:
    """Genesys topic-like event types."""
    return st.sampled_from(EVENT_TYPES)


def attribute_values() -> st.SearchStrategy[Any]:
    """JSON values an event attribute may hold."""
    scalars = st.one_of(
        st.uuids().map(str),
        st.text(max_size=12),
        st.integers(-(2**31), 2**31),
        st.booleans(),
        st.none(),
    )
    return st.one_of(scalars, st.lists(scalars, max_size=3))


@st.composite
def rules(
    draw: st.DrawFn,
    *,
    rule_id: str | None = None,
    event_type: str | None = None,
    attributes: Sequence[str] | None = None,
    enabled: bool | None = True,
) -> Rule:
    """One rule without actions; any field left None is drawn."""
    return Rule(
        id=rule_id if rule_id is not None else draw(rule_ids()),
        name=f"chainsim-{draw(st.integers(0, 9999)):04d}",
        event_type=event_type if event_type is not None else draw(event_types()),
        enabled=enabled if enabled is not None else draw(st.booleans()),
        filters=Filters(attributes=list(attributes if attributes is not None else _attrs(draw))),
    )


def _attrs(draw: st.DrawFn) -> list[str]:
    return draw(st.lists(attribute_names(), min_size=1, max_size=4, unique=True))


@dataclass(frozen=True)
class Chain:
    """A drawn chain: the inventory, the planned links, and its edges by index.

    `edges` holds every edge (bus and planned) as `(source_index, destination_index)`;
    `existing` the subset already on the bus. `cycle` is the planted cycle's rule ids,
    closed (`[a, b, a]`), when there is one.
    """

    rules: list[Rule]
    links: list[ChainLink]
    edges: list[tuple[int, int]]
    existing: list[tuple[int, int]] = field(default_factory=list)
    cycle: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        """Rule ids by node index."""
        return [rule.id for rule in self.rules]

    def id_edges(self) -> list[tuple[str, str]]:
        """Every edge as `(source_id, destination_id)`."""
        ids = self.ids
        return [(ids[u], ids[v]) for u, v in self.edges]


@st.composite
def chain_from_edges(
    draw: st.DrawFn,
    n: int,
    edges: Sequence[tuple[int, int]],
    *,
    existing_fraction: float = 0.3,
    attributes: Sequence[str] | None = None,
    preserve_all: bool = False,
) -> Chain:
    """A chain of `n` rules whose links are `edges` (index pairs).

    Each edge is already on the bus with probability about `existing_fraction` (as an
    action on its source), else planned. Every rule carries `attributes` if given (else
    drawn); links preserve all of the source's attributes when `preserve_all`, else a
    drawn subset, and transform a drawn subset into `in_<attr>` keys.
    """
    ids = draw(st.lists(rule_ids(), min_size=n, max_size=n, unique=True))
    inventory = [draw(rules(rule_id=ids[i], attributes=attributes)) for i in range(n)]
    existing: list[tuple[int, int]] = []
    links: list[ChainLink] = []
    actions: dict[int, list[dict[str, Any]]] = {}
    for u, v in edges:
        carried = inventory[u].attributes
        preserve = list(carried) if preserve_all else draw(_subset(carried))
        transform = {f"in_{name}": f"$.metadata.{name}" for name in draw(_subset(carried))}
        on_bus = existing_fraction > 0 and draw(st.floats(0, 1)) < existing_fraction
        if on_bus:
            existing.append((u, v))
            actions.setdefault(u, []).append(
                {
                    "type": INVOKE_RULE,
                    "ruleId": ids[v],
                    "payloadTransformation": transform,
                    "preservedAttributes": preserve,
                }
            )
        else:
            links.append(
                ChainLink(
                    source=ids[u],
                    destination=ids[v],
                    event_type=inventory[u].event_type,
                    transform=transform,
                    preserve=preserve,
                )
            )
    for u, acts in actions.items():
        inventory[u] = Rule.model_validate({**inventory[u].to_wire(), "actions": acts})
    return Chain(inventory, links, list(edges), existing)


def _subset(items: Sequence[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(list(items)), unique=True) if items else st.just([])


def _capped(edges: list[tuple[int, int]], max_fanout: int) -> list[tuple[int, int]]:
    out: dict[int, int] = {}
    kept = []
    for u, v in dict.fromkeys(edges):
        if out.get(u, 0) < max_fanout:
            out[u] = out.get(u, 0) + 1
            kept.append((u, v))
    return kept


@st.composite
def dag_edges(
    draw: st.DrawFn, n: int, *, max_links: int = 30, max_fanout: int = 5
) -> list[tuple[int, int]]:
    """Distinct edges i -> j with i < j over `n` nodes, at most `max_fanout` out of any node."""
    if n < 2:
        return []
    pairs = st.tuples(st.integers(0, n - 2), st.integers(1, n - 1)).filter(lambda p: p[0] < p[1])
    return _capped(draw(st.lists(pairs, max_size=max_links)), max_fanout)


@st.composite
def dag_chains(
    draw: st.DrawFn,
    *,
    min_rules: int = 2,
    max_rules: int = 12,
    max_links: int = 30,
    max_fanout: int = 5,
    existing_fraction: float = 0.3,
) -> Chain:
    """An acyclic chain: edges only from a lower to a higher index."""
    n = draw(st.integers(min_rules, max_rules))
    edges = draw(dag_edges(n, max_links=max_links, max_fanout=max_fanout))
    return draw(chain_from_edges(n, edges, existing_fraction=existing_fraction))


@st.composite
def cyclic_chains(
    draw: st.DrawFn,
    *,
    min_rules: int = 2,
    max_rules: int = 12,
    max_links: int = 20,
    existing_fraction: float = 0.3,
) -> Chain:
    """A DAG chain plus one planted cycle through 2 or more of its rules."""
    n = draw(st.integers(max(2, min_rules), max(2, max_rules)))
    members = sorted(draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=n, unique=True)))
    ring = [*pairwise(members), (members[-1], members[0])]
    base = draw(dag_edges(n, max_links=max_links, max_fanout=3))
    edges = _capped([*ring, *base], 5)
    chain = draw(chain_from_edges(n, edges, existing_fraction=existing_fraction))
    ids = chain.ids
    cycle = [ids[i] for i in members] + [ids[members[0]]]
    return Chain(chain.rules, chain.links, chain.edges, chain.existing, cycle)


@st.composite
def deep_chains(
    draw: st.DrawFn,
    hops: int | None = None,
    *,
    min_hops: int = 1,
    max_hops: int = 12,
    existing_fraction: float = 0.0,
    attributes: Sequence[str] | None = None,
    preserve_all: bool = False,
) -> Chain:
    """One straight path r0 -> r1 -> ... of `hops` links (drawn if None)."""
    n = (hops if hops is not None else draw(st.integers(min_hops, max_hops))) + 1
    edges = [(i, i + 1) for i in range(n - 1)]
    return draw(
        chain_from_edges(
            n,
            edges,
            existing_fraction=existing_fraction,
            attributes=attributes,
            preserve_all=preserve_all,
        )
    )


@st.composite
def diamonds(
    draw: st.DrawFn, *, min_width: int = 2, max_width: int = 4, existing_fraction: float = 0.3
) -> Chain:
    """Source 0 fans out to `width` rules, which all invoke the sink (the last index)."""
    width = draw(st.integers(min_width, max_width))
    sink = width + 1
    edges = [(0, i) for i in range(1, width + 1)] + [(i, sink) for i in range(1, width + 1)]
    return draw(chain_from_edges(width + 2, edges, existing_fraction=existing_fraction))


@st.composite
def events_for(draw: st.DrawFn, chain: Chain, start: int = 0) -> Event:
    """An event that starts at the chain's rule `start`, carrying all its attributes."""
    rule = chain.rules[start]
    metadata = {name: draw(attribute_values()) for name in rule.attributes}
    return Event(eventType=rule.event_type, metadata=metadata)


@st.composite
def fault_plans(draw: st.DrawFn, *, max_fraction: float = 0.5) -> FaultPlan:
    """A seeded `FaultPlan` (DESIGN §5): storms, conflicts, 5xx bursts and latency.

    Fractions stay at or below `max_fraction` so a bounded retry policy can still finish.
    """
    window = st.fixed_dictionaries(
        {
            "start": st.floats(0, 120, allow_nan=False),
            "duration": st.floats(0, 60, allow_nan=False),
            "fraction": st.floats(0, max_fraction, allow_nan=False),
        }
    )
    storms = st.lists(
        window.flatmap(lambda w: st.integers(0, 10).map(lambda r: {**w, "retry_after": r})),
        max_size=2,
    )
    bursts = st.lists(
        window.flatmap(
            lambda w: st.sampled_from([500, 502, 503, 504]).map(lambda s: {**w, "status": s})
        ),
        max_size=2,
    )
    return FaultPlan.model_validate(
        {
            "seed": draw(st.integers(0, 2**31)),
            "rate_limit": {"requests": draw(st.integers(20, 300)), "per_seconds": 60},
            "storms": draw(storms),
            "conflicts": {"fraction": draw(st.floats(0, max_fraction, allow_nan=False))},
            "server_errors": draw(bursts),
            "latency": draw(
                st.floats(0, 200, allow_nan=False).flatmap(
                    lambda mean: st.floats(0, mean, allow_nan=False).map(
                        lambda jitter: {"mean_ms": mean, "jitter_ms": jitter}
                    )
                )
            ),
        }
    )


def _topic_schema(topic: str, catalogue: TopicCatalogue | None) -> dict[str, Any]:
    """The topic's schema from `catalogue` (default: the offline one); ValueError if unknown."""
    from chainsim.dialects.catalogue import load_catalogue  # lazy: keeps this import cheap

    catalogue = catalogue or load_catalogue()
    schema = catalogue.schema(topic)
    if schema is None:
        near = catalogue.nearest(topic)
        hint = f"; did you mean {near!r}?" if near else ""
        raise ValueError(f"unknown topic {topic!r}{hint}")
    return schema


def _json_scalars() -> st.SearchStrategy[Any]:
    """Any JSON scalar, for fields the SDK types as `object`."""
    return st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))


def _schema_strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against `schema`: objects composed here, leaves by hypothesis-jsonschema.

    hypothesis-jsonschema 0.23.1 builds objects with a Hypothesis internal
    (`cu.many(...).more()`) that Hypothesis 6.170 no longer has, so objects, arrays and maps
    are composed with Hypothesis's own strategies and only leaf schemas (enums, formats,
    numbers) go to `from_schema`. Drawn objects carry only the schema's known fields.
    """
    from hypothesis_jsonschema import from_schema  # lazy: costly to import

    if "enum" in schema:
        return from_schema(schema)
    kind = schema.get("type")
    if "properties" in schema:
        required = set(schema.get("required", ()))
        fields = {name: _schema_strategy(sub) for name, sub in schema["properties"].items()}
        return st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k in required},
            optional={k: v for k, v in fields.items() if k not in required},
        )
    if kind == "array":
        return st.lists(_schema_strategy(schema.get("items", {})), max_size=3)
    if kind == "object" or kind is None:
        values = schema.get("additionalProperties")
        inner = _schema_strategy(values) if isinstance(values, dict) else _json_scalars()
        if kind is None and not isinstance(values, dict):
            return inner
        return st.dictionaries(st.text(min_size=1, max_size=12), inner, max_size=3)
    return from_schema(schema)


def topic_events(
    topic: str, catalogue: TopicCatalogue | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Event bodies of `topic`, each valid against its catalogue schema (only known fields)."""
    return _schema_strategy(_topic_schema(topic, catalogue))


_EXAMPLE_STRINGS = {"date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01"}


def _example(schema: dict[str, Any]) -> Any:
    """One deterministic value valid against `schema` (first enum value, zero, ...)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: _example(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema.get("items", {}))]
    if kind == "string":
        return _EXAMPLE_STRINGS.get(schema.get("format", ""), "example")
    return {"integer": 0, "number": 0.0, "boolean": False}.get(kind or "", {})


def example_event(topic: str, catalogue: TopicCatalogue | None = None) -> dict[str, Any]:
    """One deterministic event body of `topic` that its schema accepts (every field set).

    Built from the schema (first enum value, zero, "example", ...); when a live schema's
    constraints reject that, the shrunk minimal draw of `topic_events` (derandomized).
    """
    from chainsim.dialects.catalogue import load_catalogue

    catalogue = catalogue or load_catalogue()
    event: dict[str, Any] = _example(_topic_schema(topic, catalogue))
    if catalogue.validate_event(topic, event):
        from hypothesis import find, settings

        event = find(
            topic_events(topic, catalogue),
            lambda _event: True,
            settings=settings(database=None, derandomize=True),
        )
    return event
