"""Certifies atomic apply with dead letters: when one update fails for good (the bus refuses
it), every update already applied is restored to its pre-apply content, newest first;
the failed update goes to the dead-letter URL and, with that endpoint down, to the local
spool, so nothing is lost. Without atomicity the run is `partial` and says so per rule.

The permanent failure is real bus behaviour the plan could not foresee: on EventBridge
the bus enforces a stricter depth (2 hops) than the plan's; on triggers the last
destination's update names an empty workflow id, which the org refuses with a 400.
Runs on the fake bus (fault injection).
"""

from __future__ import annotations

import json

import httpx
import pytest

from chainsim.deadletter import DeadLetterSink, read_spool
from chainsim.fakebus.faults import FaultPlan

pytestmark = pytest.mark.chainsim_fake_only

DLQ_URL = "https://dlq.example.test/chainsim/letters"


class DownEndpoint:
    """A dead-letter endpoint that is down: every POST is refused at connect time."""

    def __init__(self) -> None:
        self.attempts: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)


def _failing_plan(chain, dialect, fake_bus):
    """The chain's plan, arranged so that the last update is refused by the bus."""
    if dialect == "eventbridge":
        fake_bus.faults = FaultPlan(max_depth=2)  # the org is stricter than the plan (5)
        return chain.plan()
    settings = dict(chain.settings)
    settings[chain["D"]] = {**settings[chain["D"]], "workflow": ""}
    return chain.plan(rules=settings)


def _content(rule) -> dict:
    wire = rule.to_wire()
    wire.pop("version", None)
    return wire


def test_atomic_rollback_restores_snapshots_and_spools_the_dead_letter(
    chainsim_dialect, fake_bus, chain_factory, orchestrator_factory, tmp_path
):
    """A refused last update rolls every applied rule back; the letter lands in the spool."""
    chain = chain_factory("A->B->C->D")
    snapshots = {r.id: _content(r) for r in chain_factory.bus_rules()}
    plan = _failing_plan(chain, chainsim_dialect, fake_bus)
    endpoint = DownEndpoint()
    spool = tmp_path / "spool.jsonl"
    sink = DeadLetterSink(
        url=DLQ_URL, spool=spool, http=httpx.Client(transport=httpx.MockTransport(endpoint))
    )

    result = orchestrator_factory(dead_letter=sink).apply(plan)

    report = result.to_report()
    assert result.status == "rolled_back", report
    outcomes = {row["id"]: row["outcome"] for row in report["rules"]}
    assert "failed" in outcomes.values()
    assert any(o == "rolled_back" for o in outcomes.values()), outcomes
    assert {r.id: _content(r) for r in chain_factory.bus_rules()} == snapshots
    assert len(endpoint.attempts) == 1
    letters = read_spool(spool)
    assert result.dead_letters == len(letters) == 1
    failed = next(rule_id for rule_id, o in outcomes.items() if o == "failed")
    assert letters[0].rule_id == failed
    assert "chainsim-secret" not in spool.read_text()


def test_no_atomic_leaves_a_partial_result_described_rule_by_rule(
    chainsim_dialect, fake_bus, chain_factory, orchestrator_factory, tmp_path
):
    """With atomic off, what succeeded stays, the failure is reported and spooled."""
    chain = chain_factory("A->B->C->D")
    plan = _failing_plan(chain, chainsim_dialect, fake_bus)
    sink = DeadLetterSink(url=None, spool=tmp_path / "spool.jsonl")

    result = orchestrator_factory(dead_letter=sink, atomic=False).apply(plan)

    report = result.to_report()
    assert result.status == "partial", report
    outcomes = [row["outcome"] for row in report["rules"]]
    assert outcomes.count("failed") == 1
    assert "applied" in outcomes
    assert len(chain.missing_links(chain_factory.bus_rules())) >= 1
    assert json.loads((tmp_path / "spool.jsonl").read_text().splitlines()[0])
