"""Certifies the example chain plans end to end on the fake bus: seeded with a plan's
inventory, the orchestrator applies the plan, the bus afterwards carries exactly the
chain the simulator predicted (the example event takes the same hops over the bus's own
links as over inventory plus plan), and applying the plan again changes nothing.
The example inventories are EventBridge rules, so this runs in that dialect only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chainsim.model import load_event, load_inventory, load_plan
from chainsim.simulate import simulate
from chainsim.testing import only_dialects

pytestmark = pytest.mark.chainsim_fake_only

PLANS = sorted(
    p
    for p in (Path(__file__).parent / "plans").glob("*.yaml")
    if '"topicName"' not in p.with_suffix(".inventory.json").read_text()  # rule inventories
)


def _hops(trace) -> list[tuple[str, str, int, dict]]:
    return [(h.source, h.destination, h.depth, h.event) for h in trace.hops]


@only_dialects("eventbridge")
@pytest.mark.parametrize("plan_path", PLANS, ids=lambda p: p.stem)
def test_example_plan_applies_and_the_bus_carries_the_simulated_chain(
    plan_path, fake_bus, orchestrator, chain_factory
):
    """Apply, then simulate over the bus's rules alone: the same hops as the plan promised."""
    plan = load_plan(plan_path)
    inventory = load_inventory(plan_path.with_suffix(".inventory.json"))
    event = load_event(plan_path.with_suffix(".event.json"))
    fake_bus.seed_rules(inventory)
    promised = simulate(inventory, plan.links, event, max_depth=plan.max_depth)

    result = orchestrator.apply(plan)

    assert result.status == "applied", result.to_report()
    on_bus = chain_factory.bus_rules()
    delivered = simulate(on_bus, [], event, max_depth=plan.max_depth)
    assert _hops(delivered) == _hops(promised)
    for rule_id, settings in plan.rules.items():
        if settings.enabled is not None:
            assert next(r for r in on_bus if r.id == rule_id).enabled == settings.enabled
    assert orchestrator.apply(plan).status == "unchanged"
