"""Certifies OAuth token handling mid-run: with tokens that live 2 s and 500 ms per request,
the bearer token expires several times during one apply; chainsim fetches a new one
when its copy runs out, or after a 401 (a token that expired in transit) fetches one and
repeats that request once; the apply completes with every link. The Genesys
SDK never refreshes a client-credentials token itself, so this matters most for the
triggers dialect. Runs on the fake bus (fault injection).
"""

from __future__ import annotations

import pytest

from chainsim.fakebus.faults import FaultPlan, Latency

pytestmark = pytest.mark.chainsim_fake_only


@pytest.fixture
def chainsim_faults():
    """Every token this fake issues lives 2 s; every request takes 500 ms."""
    return FaultPlan(token_ttl_seconds=2, latency=Latency(mean_ms=500))


def test_apply_outlives_its_tokens(fake_bus, chain_factory, orchestrator):
    """Tokens expire during the apply; new ones are fetched and nothing fails for it."""
    chain = chain_factory("A->B, C->D, E->F, G->H, I->J, K->L, M->N, O->P")
    start = len(fake_bus.requests)

    result = orchestrator.apply(chain.plan())

    assert result.status == "applied", result.to_report()
    log = fake_bus.requests[start:]
    tokens = [r for r in log if r.path == "/oauth/token" and r.status == 200]
    assert log[-1].at - log[0].at > 3, "the run did not outlive a token"
    assert len(tokens) >= 2
    for i, answer in enumerate(log):  # a 401: one new token, then the same request again
        if answer.status == 401:
            renewal, retry = log[i + 1], log[i + 2]
            assert (renewal.path, renewal.status) == ("/oauth/token", 200), log[i : i + 3]
            assert (retry.path, retry.status < 300) == (answer.path, True), log[i : i + 3]
    assert chain.missing_links(chain_factory.bus_rules()) == []
