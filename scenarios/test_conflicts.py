"""Certifies optimistic locking against conflicting concurrent writers: when another writer
edits a rule between chainsim's read and its PUT (the bus answers 409), chainsim re-reads,
re-merges onto the fresh rule and retries, so every planned link lands and the other
writer's edit (its `description`) survives. Also two chainsim runs writing the same rule
at once: both runs' links end up on it. Runs on the fake bus (fault injection).
"""

from __future__ import annotations

import threading

import pytest

from chainsim.fakebus.faults import Conflicts, FaultPlan, Latency

pytestmark = pytest.mark.chainsim_fake_only

EDITED = "edited by concurrent writer"


def test_injected_409s_keep_the_other_writers_edit(fake_bus, chain_factory, orchestrator):
    """A concurrent writer hits half the PUTs; all links land and its edits are kept."""
    chain = chain_factory("A->B->C->D, A->E, E->F")
    fake_bus.faults = FaultPlan(seed=1, conflicts=Conflicts(fraction=0.5))

    result = orchestrator.apply(chain.plan())

    assert result.status == "applied", result.to_report()
    assert result.metrics["status_409"] > 0
    fake_bus.faults = FaultPlan()  # the other writer stops: read the bus as it is
    rules = chain_factory.bus_rules()
    assert chain.missing_links(rules) == []
    edited = [r.id for r in rules if r.description == EDITED]
    assert edited, "the concurrent writer edited nothing"
    retried = [row for row in result.rules if row.attempts > 1]
    assert retried


def test_two_runs_on_the_same_rules_both_land(
    chainsim_backend, chainsim_dialect, chain_factory, fake_bus, tmp_path
):
    """Two orchestrators apply overlapping plans at once; neither loses the other's links."""
    # Both plans write rule A's links (EventBridge) and rule C's criteria (triggers).
    chain = chain_factory("A->B, A->C, A->D, E->C")
    first, second = chain.links[:2], chain.links[2:]
    fake_bus.faults = FaultPlan(latency=Latency(mean_ms=50))  # both read before either writes
    clock = fake_bus.clock
    results: dict[str, object] = {}
    clock.reserve(2)

    def run(name: str, links) -> None:
        with clock.actor(), chainsim_backend.connect(chainsim_dialect, clock) as bus:
            orch = chainsim_backend.orchestrator(bus, clock, tmp_path / name)
            results[name] = orch.apply(chain.plan(links=[link.model_dump() for link in links]))

    threads = [
        threading.Thread(target=run, args=(n, ls)) for n, ls in (("one", first), ("two", second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert {name: r.status for name, r in results.items()} == {"one": "applied", "two": "applied"}
    assert any(r.status == 409 for r in fake_bus.requests), "the two runs never collided"
    assert chain.missing_links(chain_factory.bus_rules()) == []
