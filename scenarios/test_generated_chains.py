"""Certifies apply over generated chains (Hypothesis): for any valid chain shape — fan-out,
fan-in, diamonds, up to max_depth hops — with per-request latency, sequential or with
four workers, the apply lands every link, a second apply changes nothing, and each
apply's duration (virtual and wall) is gathered into the certification report's
apply-latency distribution. Each example runs on its own fresh fake bus (against a
sandbox org: its own prefixed rules, deleted after the example).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsim.fakebus.faults import FaultPlan, Latency

pytestmark = pytest.mark.chainsim_live_safe

MAX_DEPTH, MAX_FANOUT = 5, 5


@st.composite
def chain_specs(draw: st.DrawFn, max_rules: int = 8) -> str:
    """A chain spec like `N0->N1, N0->N2, N1->N3`: a DAG within the depth and fan-out limits."""
    n = draw(st.integers(2, max_rules))
    depth, fanout = [0] * n, [0] * n
    edges: list[tuple[int, int]] = []
    for j in range(1, n):
        sources = draw(
            st.lists(st.integers(0, j - 1), unique=True, min_size=int(j == 1), max_size=3)
        )
        for i in sources:
            if fanout[i] < MAX_FANOUT and depth[i] < MAX_DEPTH:
                edges.append((i, j))
                fanout[i] += 1
                depth[j] = max(depth[j], depth[i] + 1)
    linked = {k for edge in edges for k in edge}
    parts = [f"N{i}->N{j}" for i, j in edges] + [f"N{k}" for k in range(n) if k not in linked]
    return ", ".join(parts)


@given(
    spec=chain_specs(),
    concurrency=st.sampled_from([1, 4]),
    seed=st.integers(0, 2**16),
)
def test_generated_chains_apply_then_reapply_as_no_op(
    spec, concurrency, seed, chainsim_backend, chainsim_dialect, chainsim_recorder
):
    """Any valid generated chain applies completely; the same plan again is `unchanged`."""
    faults = FaultPlan(seed=seed, latency=Latency(mean_ms=80, jitter_ms=20))
    with chainsim_backend.session(chainsim_dialect, faults=faults, recorder=chainsim_recorder) as s:
        chain = s.chains(spec)
        plan = chain.plan()

        result = s.orchestrator(concurrency=concurrency).apply(plan)

        assert result.status == "applied", result.to_report()
        assert chain.missing_links(s.chains.bus_rules()) == []
        again = s.orchestrator(record=False).apply(plan)
        assert again.status == "unchanged", again.to_report()
