"""Certifies the example chain plans: each validates clean against its inventory, and an
example event travels every planned link with no attribute lost on the way. The broken
variants under plans/invalid/ fail with exactly the findings they were written to show.
Offline (no bus is touched), so safe to run anywhere, including against a sandbox org.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chainsim.model import load_event, load_plan
from chainsim.probe import load_triggers as load_inventory  # rules or triggers wire JSON
from chainsim.simulate import simulate
from chainsim.validate import validate_plan

pytestmark = pytest.mark.chainsim_live_safe

PLANS = Path(__file__).parent / "plans"
PLAN_FILES = sorted(PLANS.glob("*.yaml"))
INVALID = {
    "callback_loop.yaml": ("inbound_callback", ["attribute", "transform", "cycle"]),
}


def test_there_are_example_plans() -> None:
    """The scenario set is not empty: at least two example chains ship with chainsim."""
    assert len(PLAN_FILES) >= 2


@pytest.mark.parametrize("plan_path", PLAN_FILES, ids=lambda p: p.stem)
def test_plan_validates_clean(plan_path: Path) -> None:
    """The plan has no finding at all against its inventory (not even a warning)."""
    plan = load_plan(plan_path)
    rules = load_inventory(plan_path.with_suffix(".inventory.json"))
    report = validate_plan(plan, rules)
    assert report.findings == (), report.to_json()


@pytest.mark.parametrize("plan_path", PLAN_FILES, ids=lambda p: p.stem)
def test_plan_simulates_every_link(plan_path: Path) -> None:
    """The example event crosses every planned link within max_depth, nothing missing."""
    plan = load_plan(plan_path)
    rules = load_inventory(plan_path.with_suffix(".inventory.json"))
    event = load_event(plan_path.with_suffix(".event.json"))
    trace = simulate(rules, plan.links, event, max_depth=plan.max_depth)
    crossed = {(hop.source, hop.destination) for hop in trace.hops}
    assert {(link.source, link.destination) for link in plan.links} <= crossed
    assert trace.missing == [] and trace.skipped == [] and not trace.truncated
    assert all(hop.depth <= plan.max_depth for hop in trace.hops)
    by_id = {rule.id: rule for rule in rules}
    for hop in trace.hops:
        assert hop.event["eventType"] == by_id[hop.destination].event_type
        assert set(hop.event["metadata"]) <= set(by_id[hop.destination].attributes)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_plan_fails_as_documented(name: str) -> None:
    """A broken variant fails validation with exactly the findings it demonstrates."""
    stem, codes = INVALID[name]
    plan = load_plan(PLANS / "invalid" / name)
    rules = load_inventory(PLANS / f"{stem}.inventory.json")
    report = validate_plan(plan, rules)
    assert not report.ok and report.codes() == codes
