"""The Hypothesis strategies draw what they promise."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsim import strategies as cs
from chainsim.dialects.catalogue import from_available_topics, load_catalogue
from chainsim.fakebus.faults import FaultPlan
from chainsim.validate import validate_chain


def assert_links_well_formed(chain: cs.Chain) -> None:
    by_id = {rule.id: rule for rule in chain.rules}
    for link in chain.links:
        source = by_id[link.source]
        assert link.event_type == source.event_type
        assert set(link.preserve) <= set(source.attributes)
        assert {p.removeprefix("$.metadata.") for p in link.transform.values()} <= set(
            source.attributes
        )
    assert len(chain.links) + len(chain.existing) == len(chain.edges)
    on_bus = {(r.id, a.rule_id) for r in chain.rules for a in r.links()}
    assert on_bus == {(chain.ids[u], chain.ids[v]) for u, v in chain.existing}


@given(cs.dag_chains())
def test_dag_chains_go_forward_and_respect_fanout(chain: cs.Chain) -> None:
    """DAG chains have edges only from lower to higher index and at most 5 out of a rule."""
    assert all(u < v for u, v in chain.edges)
    assert all(sum(1 for u, _ in chain.edges if u == s) <= 5 for s in range(len(chain.rules)))
    assert len(set(chain.ids)) == len(chain.ids)
    assert_links_well_formed(chain)


@given(cs.cyclic_chains())
def test_cyclic_chains_plant_a_real_cycle(chain: cs.Chain) -> None:
    """The planted cycle is closed and each of its steps is an edge of the chain."""
    edges = set(chain.id_edges())
    assert chain.cycle[0] == chain.cycle[-1] and len(chain.cycle) >= 3
    assert all(step in edges for step in itertools.pairwise(chain.cycle))
    assert_links_well_formed(chain)


@given(st.integers(1, 20).flatmap(lambda n: st.tuples(st.just(n), cs.deep_chains(n))))
def test_deep_chains_have_the_requested_hops(case: tuple[int, cs.Chain]) -> None:
    """deep_chains(n) is one straight path of n links."""
    hops, chain = case
    assert chain.edges == [(i, i + 1) for i in range(hops)]
    assert_links_well_formed(chain)


@given(cs.diamonds())
def test_diamonds_fan_out_and_meet(chain: cs.Chain) -> None:
    """A diamond is valid: source to every middle rule, every middle rule to the sink."""
    width = len(chain.rules) - 2
    assert sorted(chain.edges) == sorted(
        [(0, i) for i in range(1, width + 1)] + [(i, width + 1) for i in range(1, width + 1)]
    )
    assert validate_chain(chain.rules, chain.links).ok


@given(st.data())
def test_events_for_match_the_first_rule(data: st.DataObject) -> None:
    """An event for a chain has its first rule's type and every attribute it carries."""
    chain = data.draw(cs.dag_chains())
    event = data.draw(cs.events_for(chain))
    assert event.event_type == chain.rules[0].event_type
    assert set(event.metadata) == set(chain.rules[0].attributes)


@given(cs.fault_plans())
def test_fault_plans_are_valid(plan: FaultPlan) -> None:
    """Drawn fault plans validate and keep fractions bounded."""
    assert FaultPlan.model_validate(plan.model_dump()) == plan
    assert plan.conflicts.fraction <= 0.5
    assert all(storm.fraction <= 0.5 for storm in plan.storms)


TOPIC_NAMES = load_catalogue().names()


@pytest.mark.parametrize("topic", TOPIC_NAMES)
def test_topic_events_pass_validate_event(topic: str) -> None:
    """Property: every event topic_events draws is valid against the topic's schema."""
    catalogue = load_catalogue()

    @settings(max_examples=15, deadline=None)
    @given(cs.topic_events(topic))
    def check(event: dict) -> None:
        assert catalogue.validate_event(topic, event) == []
        assert set(event) <= set(catalogue.schema(topic)["properties"])  # type: ignore[index]

    check()


@pytest.mark.parametrize("topic", TOPIC_NAMES)
def test_example_event_is_valid_and_deterministic(topic: str) -> None:
    """example_event gives the same schema-valid body every time, with every field set."""
    catalogue = load_catalogue()
    event = cs.example_event(topic)
    assert catalogue.validate_event(topic, event) == []
    assert event == cs.example_event(topic)
    assert set(event) == set(catalogue.schema(topic)["properties"])  # type: ignore[index]


def test_example_event_uses_the_first_allowed_value() -> None:
    """Enum fields take their first allowed value (mediaType UNKNOWN on customer.end)."""
    event = cs.example_event("v2.detail.events.conversation.{id}.customer.end")
    assert event["mediaType"] == "UNKNOWN"


def test_topic_events_reject_an_unknown_topic() -> None:
    """An unknown topic is a one-line ValueError suggesting the nearest."""
    with pytest.raises(ValueError, match=re.escape("did you mean 'v2.users.{id}.activity'")):
        cs.topic_events("v2.users.{id}.activty")
    with pytest.raises(ValueError, match="unknown topic"):
        cs.example_event("nope")


def test_topic_events_from_a_live_catalogue() -> None:
    """Strategies read an injected catalogue, e.g. one built from availabletopics."""
    live = from_available_topics(
        {
            "entities": [
                {
                    "id": "v2.x",
                    "schema": {
                        "type": "object",
                        "properties": {"n": {"type": "integer", "minimum": 3}},
                        "required": ["n"],
                    },
                }
            ]
        }
    )
    example = cs.example_event("v2.x", live)
    assert live.validate_event("v2.x", example) == []
    assert example == cs.example_event("v2.x", live)
    assert example["n"] >= 3

    @settings(max_examples=20, deadline=None)
    @given(cs.topic_events("v2.x", live))
    def check(event: dict) -> None:
        assert live.validate_event("v2.x", event) == []

    check()


def test_importing_strategies_stays_cheap() -> None:
    """Importing chainsim.strategies loads neither hypothesis-jsonschema nor jsonschema."""
    import subprocess
    import sys

    code = (
        "import sys, chainsim.strategies; "
        "heavy = ('hypothesis_jsonschema', 'jsonschema', 'PureCloudPlatformClientV2'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
