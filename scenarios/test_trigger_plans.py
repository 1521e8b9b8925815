"""Certifies the example trigger plans (`plans/*.yaml` whose inventory is trigger JSON)
beyond the packaged checks run by test_plans.py (validate, simulate, apply twice):
events generated from each trigger topic's schema (`topic_events`, never hand-written)
travel the chain within `max_depth`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainsim.certify import chain_links, plan_files, plan_inventory
from chainsim.model import Event, load_plan
from chainsim.simulate import simulate

TRIGGER_PLANS = [
    p
    for p in plan_files(Path(__file__).parent / "plans")
    if plan_inventory(p).dialect.name == "triggers"
]


@pytest.mark.chainsim_live_safe
@pytest.mark.parametrize("plan_path", TRIGGER_PLANS, ids=lambda p: p.stem)
def test_generated_events_travel_the_chain_within_max_depth(plan_path: Path) -> None:
    """Schema-valid events of each trigger's topic: every walk stays within max_depth."""
    from chainsim.strategies import topic_events

    plan = load_plan(plan_path)
    rules = plan_inventory(plan_path).rules
    links = chain_links(plan, rules)
    topics = sorted({rule.event_type for rule in rules})

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def walk(data: st.DataObject) -> None:
        topic = data.draw(st.sampled_from(topics))
        body: dict[str, Any] = data.draw(topic_events(topic))
        trace = simulate(
            rules, links, Event(eventType=topic, metadata=body), max_depth=plan.max_depth
        )
        assert not trace.truncated
        assert all(hop.depth <= plan.max_depth for hop in trace.hops)

    walk()
