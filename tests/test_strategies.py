"""The Hypothesis strategies draw what they promise."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from chainsim import strategies as cs
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
