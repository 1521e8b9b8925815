"""Certifies apply through a 429 storm: with 80% of requests refused for 30 s (Retry-After
5 s), every link is still applied, each retry waits at least the Retry-After the bus
asked for, and the report counts the 429s. Runs on the fake bus (fault injection).
"""

from __future__ import annotations

import pytest

from chainsim.fakebus.faults import FaultPlan, Storm

pytestmark = pytest.mark.chainsim_fake_only

STORM = Storm(start=0, duration=30, fraction=0.8, retry_after=5)


def test_apply_completes_through_a_429_storm(fake_bus, chain_factory, orchestrator):
    """Every link lands although most requests meet a 429; waits honour Retry-After."""
    chain = chain_factory("A->B->C->D, B->E")
    fake_bus.faults = FaultPlan(seed=7, storms=[STORM])  # the storm starts with the apply
    start = len(fake_bus.requests)

    result = orchestrator.apply(chain.plan())

    assert result.status == "applied", result.to_report()
    log = fake_bus.requests[start:]
    fake_bus.faults = FaultPlan()  # the storm is over: read the bus as it is
    assert chain.missing_links(chain_factory.bus_rules()) == []
    refused = [i for i, r in enumerate(log) if r.status == 429]
    assert refused, "the storm refused nothing"
    assert result.metrics["status_429"] == len(refused)
    for i in refused:
        if i + 1 < len(log):
            assert log[i + 1].at - log[i].at >= STORM.retry_after - 1e-9, (log[i], log[i + 1])


def test_parallel_apply_shares_one_pacer_through_the_storm(
    fake_bus, chain_factory, orchestrator_factory
):
    """With four workers the storm is survived too, and no rule is lost or half-applied."""
    chain = chain_factory("A->B, C->D, E->F, G->H, I->J, K->L")
    fake_bus.faults = FaultPlan(seed=11, storms=[STORM])

    result = orchestrator_factory(concurrency=4).apply(chain.plan())

    assert result.status == "applied", result.to_report()
    assert result.metrics["status_429"] > 0
    fake_bus.faults = FaultPlan()
    assert chain.missing_links(chain_factory.bus_rules()) == []
