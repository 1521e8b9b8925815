"""simulate: breadth-first hops, depth bound, missing attributes, exact JSON."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chainsim import strategies as cs
from chainsim.model import ChainLink, Event, Rule
from chainsim.simulate import simulate


def rule(
    rule_id: str, *, to: tuple[str, ...] = (), attrs: tuple[str, ...] = ("a", "b"), **kw: Any
) -> Rule:
    return Rule.model_validate(
        {
            "id": rule_id,
            "eventType": f"evt.{rule_id}",
            "filters": {"attributes": list(attrs)},
            "actions": [
                {"type": "invokeRule", "ruleId": t, "preservedAttributes": ["a"]} for t in to
            ],
            **kw,
        }
    )


def link(source: str, destination: str, **kw: Any) -> ChainLink:
    return ChainLink(source=source, destination=destination, event_type=f"evt.{source}", **kw)


EVENT = Event(eventType="evt.r0", metadata={"a": 1, "b": {"x": [1, 2]}})


def test_hops_are_breadth_first_with_depths() -> None:
    """A diamond r0 -> (r1, r2) -> r3 delivers r3 twice, at depth 2, after both depth-1 hops."""
    rules = [rule("r0"), rule("r1"), rule("r2"), rule("r3")]
    links = [link("r0", "r1", preserve=["a"]), link("r0", "r2", preserve=["a"]),
             link("r1", "r3", preserve=["a"]), link("r2", "r3", preserve=["a"])]  # fmt: skip
    trace = simulate(rules, links, EVENT)
    assert [(h.source, h.destination, h.depth) for h in trace.hops] == [
        ("r0", "r1", 1), ("r0", "r2", 1), ("r1", "r3", 2), ("r2", "r3", 2),
    ]  # fmt: skip
    assert trace.hops[0].event == {"eventType": "evt.r1", "metadata": {"a": 1}}
    assert trace.starts == ["r0"] and trace.missing == []


def test_every_rule_matching_the_event_starts_a_walk() -> None:
    """Two rules with the event's type both start walks, in inventory order."""
    rules = [
        rule("r0"),
        rule("x", eventType="evt.r0"),
        rule("r1"),
        rule("r2"),
        rule("other", eventType="evt.other"),
    ]
    links = [link("r0", "r1", preserve=["a"]), link("x", "r2")]
    trace = simulate(rules, links, EVENT)
    assert trace.starts == ["r0", "x"]
    assert [(h.source, h.destination, h.depth) for h in trace.hops] == [
        ("r0", "r1", 1), ("x", "r2", 1),
    ]  # fmt: skip


def test_existing_bus_links_are_followed_and_planned_ones_override() -> None:
    """Bus actions are part of the chain; a planned link for the same pair replaces it."""
    rules = [rule("r0", to=("r1",)), rule("r1", to=("r2",)), rule("r2")]
    trace = simulate(rules, [link("r1", "r2", transform={"c": "$.metadata.a"})], EVENT)
    assert [h.event for h in trace.hops] == [
        {"eventType": "evt.r1", "metadata": {"a": 1}},
        {"eventType": "evt.r2", "metadata": {"c": 1}},
    ]


def test_cycles_stop_at_max_depth() -> None:
    """A loop is followed until max_depth hops, then stops."""
    rules = [rule("r0"), rule("r1")]
    trace = simulate(rules, [link("r0", "r1"), link("r1", "r0")], EVENT, max_depth=4)
    assert [h.depth for h in trace.hops] == [1, 2, 3, 4]
    assert trace.max_depth_reached == 4


def test_missing_attributes_are_reported_not_raised() -> None:
    """A preserved attribute or path the event lacks is listed on the hop and the trace."""
    rules = [rule("r0"), rule("r1")]
    trace = simulate(
        rules, [link("r0", "r1", preserve=["zz"], transform={"k": "$.metadata.q"})], EVENT
    )
    (hop,) = trace.hops
    assert hop.missing == ("zz", "k <- $.metadata.q")
    assert hop.event == {"eventType": "evt.r1", "metadata": {}}
    assert [(m.source, m.destination, m.depth, m.attribute) for m in trace.missing] == [
        ("r0", "r1", 1, "zz"), ("r0", "r1", 1, "k <- $.metadata.q"),
    ]  # fmt: skip


def test_unknown_destination_is_skipped_and_no_start_means_no_hops() -> None:
    """A link to a rule not in the inventory is skipped; an unmatched event fires nothing."""
    rules = [rule("r0")]
    trace = simulate(rules, [link("r0", "ghost")], EVENT)
    assert trace.hops == [] and trace.skipped == [("r0", "ghost")]
    other = simulate(rules, [], Event(eventType="nobody", metadata={}))
    assert other.starts == [] and other.hops == []


def test_max_hops_truncates() -> None:
    """A bounded trace says it was truncated."""
    rules = [rule("r0"), rule("r1")]
    trace = simulate(rules, [link("r0", "r1"), link("r1", "r0")], EVENT, max_depth=50, max_hops=10)
    assert len(trace.hops) == 10 and trace.truncated


def test_to_json_has_exactly_the_documented_keys() -> None:
    """`{"hops": [{"source", "destination", "depth", "event"}]}`."""
    trace = simulate([rule("r0"), rule("r1")], [link("r0", "r1", preserve=["a"])], EVENT)
    assert trace.to_json() == {
        "hops": [
            {"source": "r0", "destination": "r1", "depth": 1,
             "event": {"eventType": "evt.r1", "metadata": {"a": 1}}}
        ]
    }  # fmt: skip


def test_ten_thousand_hops() -> None:
    """A 10,000-hop chain is simulated end to end without recursion."""
    n = 10_000
    rules = [rule(f"r{i}") for i in range(n + 1)]
    links = [link(f"r{i}", f"r{i + 1}", preserve=["a"]) for i in range(n)]
    trace = simulate(rules, links, EVENT, max_depth=n)
    assert len(trace.hops) == n and trace.hops[-1].event["metadata"] == {"a": 1}


@given(st.data())
def test_preserved_attributes_reach_the_last_hop_unchanged(data: st.DataObject) -> None:
    """Property: preserving everything, the last hop carries the first event's values."""
    chain = data.draw(
        cs.deep_chains(min_hops=1, max_hops=8, existing_fraction=0.4,
                       attributes=["conversationId", "queueId", "callerId"], preserve_all=True)
    )  # fmt: skip
    event = data.draw(cs.events_for(chain))
    hops = len(chain.edges)
    trace = simulate(chain.rules, chain.links, event, max_depth=hops)
    last = [h for h in trace.hops if h.destination == chain.ids[-1]]
    assert last and last[-1].depth == hops
    for name, value in event.metadata.items():
        assert last[-1].event["metadata"][name] == value
    assert trace.missing == []


@given(cs.diamonds())
def test_diamonds_deliver_once_per_path(chain: cs.Chain) -> None:
    """Property: the sink of a diamond of width w receives w deliveries at depth 2."""
    event = Event(eventType=chain.rules[0].event_type, metadata={})
    trace = simulate(chain.rules, chain.links, event)
    sink = chain.ids[-1]
    width = len(chain.rules) - 2
    from_source = [h for h in trace.hops if h.source == chain.ids[0]]
    assert len(from_source) >= width
    assert sum(1 for h in trace.hops if h.destination == sink and h.depth == 2) >= width


# ------------------------------------------------- mutation testing (issue 13)


def test_the_default_depth_bound_is_five_hops() -> None:
    """Without `max_depth`, a loop is followed for 5 hops (DESIGN's default `max_depth`)."""
    trace = simulate([rule("r0"), rule("r1")], [link("r0", "r1"), link("r1", "r0")], EVENT)
    assert [h.depth for h in trace.hops] == [1, 2, 3, 4, 5]
    assert not trace.truncated


def test_a_trace_without_hops() -> None:
    """No hop taken: depth reached 0, empty JSON, nothing missing, not truncated."""
    trace = simulate([rule("r0")], [], EVENT)
    assert trace.max_depth_reached == 0 and trace.to_json() == {"hops": []}
    assert trace.missing == [] and trace.truncated is False and trace.starts == ["r0"]


def test_exactly_max_hops_hops_is_not_truncated() -> None:
    """A chain that ends at exactly `max_hops` hops is complete, not truncated."""
    rules = [rule("r0"), rule("r1"), rule("r2")]
    trace = simulate(rules, [link("r0", "r1"), link("r1", "r2")], EVENT, max_hops=2)
    assert len(trace.hops) == 2 and not trace.truncated


def test_simulate_plan_uses_the_plan_depth_and_the_hop_bound() -> None:
    """`simulate_plan` walks the plan's links with its `max_depth`, bounded by `max_hops`."""
    from chainsim.model import ChainPlan
    from chainsim.simulate import simulate_plan

    rules = [rule("r0"), rule("r1")]
    plan = ChainPlan(max_depth=3, links=[link("r0", "r1"), link("r1", "r0")])
    assert [h.depth for h in simulate_plan(plan, rules, EVENT).hops] == [1, 2, 3]
    bounded = simulate_plan(plan, rules, EVENT, max_hops=2)
    assert len(bounded.hops) == 2 and bounded.truncated


def test_a_bus_link_carries_its_transform_and_preserved_attributes() -> None:
    """An existing bus action's transformation and preserved attributes shape its hop."""
    source = Rule.model_validate(
        {
            "id": "r0",
            "eventType": "evt.r0",
            "filters": {"attributes": ["a", "b"]},
            "actions": [
                {
                    "type": "invokeRule",
                    "ruleId": "r1",
                    "preservedAttributes": ["b"],
                    "payloadTransformation": {"c": "$.metadata.a"},
                }
            ],
        }
    )
    (hop,) = simulate([source, rule("r1")], [], EVENT).hops
    assert hop.event == {"eventType": "evt.r1", "metadata": {"b": {"x": [1, 2]}, "c": 1}}
    assert hop.missing == ()


def test_a_plain_mapping_is_a_wire_event() -> None:
    """An event given as `{"eventType", "metadata"}` is walked like an `Event`."""
    rules = [rule("r0"), rule("r1")]
    wire = {"eventType": "evt.r0", "metadata": {"a": 1}}
    trace = simulate(rules, [link("r0", "r1", preserve=["a"])], wire)
    assert trace.event == wire and trace.event is not wire
    assert [h.event for h in trace.hops] == [{"eventType": "evt.r1", "metadata": {"a": 1}}]


def test_simulate_plan_walks_links_derived_through_workflows() -> None:
    """A trigger whose workflow emits another trigger's topic hands the event on to it."""
    from chainsim.bus.genesys import trigger_to_rule
    from chainsim.model import ChainPlan
    from chainsim.simulate import simulate_plan

    def trigger(tid: str, topic: str, workflow: str | None) -> Rule:
        wire: dict[str, Any] = {"id": tid, "name": tid, "topicName": topic, "enabled": True}
        if workflow is not None:
            wire["target"] = {"type": "Workflow", "id": workflow}
        return trigger_to_rule(wire)

    end = "v2.detail.events.conversation.{id}.customer.end"
    attrs = "v2.detail.events.conversation.{id}.attributes"
    rules = [trigger("x", end, "wf"), trigger("y", attrs, None)]
    plan = ChainPlan.model_validate({"workflows": {"wf": {"emits": [{"topic": attrs}]}}})
    trace = simulate_plan(plan, rules, {"eventType": end, "metadata": {}})
    assert [(h.source, h.destination, h.depth) for h in trace.hops] == [("x", "y", 1)]


def test_a_link_to_an_unknown_rule_does_not_stop_its_siblings() -> None:
    """After skipping a link to a rule not in the inventory, the source's next link is walked."""
    rules = [rule("r0"), rule("r1")]
    trace = simulate(rules, [link("r0", "ghost"), link("r0", "r1")], EVENT)
    assert trace.skipped == [("r0", "ghost")]
    assert [(h.source, h.destination) for h in trace.hops] == [("r0", "r1")]
