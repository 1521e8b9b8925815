"""Certifies the example trigger plans: every `plans/*.yaml` whose inventory is trigger JSON.

Each validates with no error (chain findings and trigger lint against the topic
catalogue), events generated from each trigger topic's schema (`topic_events`, never
hand-written) travel the chain within `max_depth`, and on the fake org seeded with the
inventory the plan applies and applying it again changes nothing. Plans whose inventory
is EventBridge rules are certified by test_plans.py / test_plans_apply.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainsim.dialects.inventory import read_inventory
from chainsim.model import ChainLink, ChainPlan, Event, Rule, load_plan
from chainsim.simulate import simulate
from chainsim.strategies import topic_events
from chainsim.validate import ValidationReport, validate_plan

PLANS = Path(__file__).parent / "plans"


def _inventory(plan_path: Path) -> Path:
    return plan_path.with_suffix(".inventory.json")


def _is_trigger_plan(plan_path: Path) -> bool:
    inventory = _inventory(plan_path)
    return inventory.exists() and read_inventory(inventory).dialect_name == "triggers"


TRIGGER_PLANS = [p for p in sorted(PLANS.glob("*.yaml")) if _is_trigger_plan(p)]


def chain_links(plan: ChainPlan, rules: list[Rule]) -> list[ChainLink]:
    """The plan's links plus, once `chainsim.workflows` exists, those its workflows derive."""
    links = list(plan.links)
    try:
        from chainsim import workflows  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return links
    derive = getattr(workflows, "plan_links", None)
    if callable(derive):
        links += [link for link in derive(plan, rules) if link not in links]
    return links


def trigger_report(plan_path: Path) -> ValidationReport:
    """Chain findings plus trigger lint for the plan and its trigger inventory."""
    plan = load_plan(plan_path)
    inventory = read_inventory(_inventory(plan_path), "triggers")
    dialect, rules = inventory.dialect, inventory.rules
    chain = validate_plan(
        plan,
        rules,
        dialect="triggers",
        declared_attributes=dialect.declared_attributes(plan, rules),
    )
    return ValidationReport(chain.findings + tuple(dialect.lint(inventory.wire)))


@pytest.mark.chainsim_live_safe
@pytest.mark.parametrize("plan_path", TRIGGER_PLANS, ids=lambda p: p.stem)
def test_trigger_plan_validates(plan_path: Path) -> None:
    """No error finding: the chain holds and every trigger can fire on its topic."""
    report = trigger_report(plan_path)
    assert report.ok, report.to_json()


@pytest.mark.chainsim_live_safe
@pytest.mark.parametrize("plan_path", TRIGGER_PLANS, ids=lambda p: p.stem)
def test_generated_events_travel_the_chain_within_max_depth(plan_path: Path) -> None:
    """Schema-valid events of each trigger's topic: every walk stays within max_depth."""
    plan = load_plan(plan_path)
    rules = read_inventory(_inventory(plan_path), "triggers").rules
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


@pytest.mark.chainsim_fake_only
@pytest.mark.parametrize("plan_path", TRIGGER_PLANS, ids=lambda p: p.stem)
def test_trigger_plan_applies_on_the_fake_and_again_changes_nothing(
    plan_path: Path, tmp_path: Path
) -> None:
    """Seeded from the inventory, the fake org takes the plan; a second apply is unchanged."""
    from chainsim.audit import AuditLog
    from chainsim.session import Target, open_session

    plan = load_plan(plan_path)
    target = Target(bus="fake", dialect="triggers", inventory=_inventory(plan_path))
    with open_session(target) as session:
        orchestrator = session.orchestrator(
            audit=AuditLog(tmp_path / "audit.jsonl", clock=session.clock),
            journal_path=tmp_path / "journal.json",
        )
        first = orchestrator.apply(plan)
        assert first.status in ("applied", "unchanged"), first.to_report()
        assert orchestrator.apply(plan).status == "unchanged"
