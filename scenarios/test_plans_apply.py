"""Certifies the EventBridge example plans end to end on the fake bus: seeded with a
plan's inventory, the plan applies, the bus afterwards carries exactly the chain the
simulator predicted (the example event takes the same hops over the bus's own links as
over inventory plus plan), and applying the plan again changes nothing
(`chainsim.certify.apply_twice`, the packaged check).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chainsim.certify import apply_twice, plan_files
from chainsim.model import load_event, load_inventory, load_plan
from chainsim.simulate import simulate

pytestmark = pytest.mark.chainsim_fake_only

PLANS = [
    p
    for p in plan_files(Path(__file__).parent / "plans")
    if '"topicName"' not in p.with_suffix(".inventory.json").read_text()  # rule inventories
]


def _hops(trace) -> list[tuple[str, str, int, dict]]:
    return [(h.source, h.destination, h.depth, h.event) for h in trace.hops]


@pytest.mark.parametrize("plan_path", PLANS, ids=lambda p: p.stem)
def test_example_plan_applies_and_the_bus_carries_the_simulated_chain(
    plan_path: Path, tmp_path: Path
) -> None:
    """Apply, then simulate over the bus's rules alone: the same hops as the plan promised."""
    plan = load_plan(plan_path)
    inventory = load_inventory(plan_path.with_suffix(".inventory.json"))
    event = load_event(plan_path.with_suffix(".event.json"))
    promised = simulate(inventory, plan.links, event, max_depth=plan.max_depth)

    first, second, on_bus = apply_twice(plan_path, tmp_path)

    assert first.status == "applied", first.to_report()
    delivered = simulate(on_bus, [], event, max_depth=plan.max_depth)
    assert _hops(delivered) == _hops(promised)
    for rule_id, settings in plan.rules.items():
        if settings.enabled is not None:
            assert next(r for r in on_bus if r.id == rule_id).enabled == settings.enabled
    assert second.status == "unchanged"
