"""Certifies apply through 5xx bursts: with half the requests answered 503 for 10 s, versioned
PUTs are retried safely, every link is applied exactly once (no duplicate actions), and
the report counts the 5xx answers. Runs on the fake bus (fault injection).
"""

from __future__ import annotations

import pytest

from chainsim.fakebus.faults import FaultPlan, ServerErrors

pytestmark = pytest.mark.chainsim_fake_only


@pytest.mark.parametrize("status", [500, 503])
def test_apply_survives_a_5xx_burst(status, fake_bus, chain_factory, orchestrator):
    """A burst of server errors delays the apply but does not change its outcome."""
    chain = chain_factory("A->B->C, A->D, D->E")
    fake_bus.faults = FaultPlan(
        seed=3, server_errors=[ServerErrors(start=0, duration=10, fraction=0.5, status=status)]
    )

    result = orchestrator.apply(chain.plan())

    assert result.status == "applied", result.to_report()
    assert result.metrics["status_5xx"] > 0
    fake_bus.faults = FaultPlan()  # the burst is over: read the bus as it is
    rules = chain_factory.bus_rules()
    assert chain.missing_links(rules) == []
    for rule in rules:  # a retried PUT must not duplicate a link
        targets = [a.rule_id for a in rule.links()]
        assert len(targets) == len(set(targets)), rule.id


def test_reapply_after_the_burst_is_a_no_op(fake_bus, chain_factory, orchestrator):
    """Once applied through a burst, applying the same plan again changes nothing."""
    chain = chain_factory("A->B->C")
    fake_bus.faults = FaultPlan(seed=5, server_errors=[ServerErrors(duration=5, fraction=0.6)])
    assert orchestrator.apply(chain.plan()).status == "applied"
    puts = sum(1 for r in fake_bus.requests if r.method == "PUT")

    again = orchestrator.apply(chain.plan())

    assert again.status == "unchanged"
    assert sum(1 for r in fake_bus.requests if r.method == "PUT") == puts
