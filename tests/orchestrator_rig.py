"""Shared set-up for orchestrator tests: a FakeBus on the respx door, a RestBus, an Orchestrator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import respx

from chainsim.apply import Orchestrator
from chainsim.audit import AuditLog
from chainsim.bus.auth import ClientCredentials
from chainsim.bus.rest import RestBus
from chainsim.clock import VirtualClock
from chainsim.deadletter import DeadLetterSink
from chainsim.fakebus import DEFAULT_API_HOST, DEFAULT_LOGIN_HOST, FakeBus
from chainsim.fakebus.faults import FaultPlan
from chainsim.model import ChainLink, ChainPlan, Rule
from chainsim.plan import content

DLQ_URL = "https://dlq.example.com/letters"
CALLBACK_URL = "https://hooks.example.com/chainsim"
ATTRS = ["callerId", "queueId", "agentId"]


def make_rule(rule_id: str, **extra: Any) -> dict[str, Any]:
    """A wire rule whose event type is `type.<id>` carrying ATTRS."""
    wire = {
        "id": rule_id,
        "name": f"Rule {rule_id}",
        "eventType": f"type.{rule_id}",
        "enabled": True,
        "version": 1,
        "description": f"rule {rule_id}",
        "filters": {"attributes": list(ATTRS)},
        "actions": [],
    }
    wire.update(extra)
    return wire


def make_link(source: str, destination: str, **extra: Any) -> ChainLink:
    """A link from `source` with a transform and a preserved attribute."""
    data: dict[str, Any] = {
        "source": source,
        "destination": destination,
        "event_type": f"type.{source}",
        "transform": {"caller": "$.metadata.callerId"},
        "preserve": ["queueId"],
    }
    data.update(extra)
    return ChainLink.model_validate(data)


def plan_of(*pairs: tuple[str, str], **extra: Any) -> ChainPlan:
    """A plan with one link per (source, destination) pair."""
    return ChainPlan(links=[make_link(s, d) for s, d in pairs], **extra)


@dataclass
class Rig:
    """A FakeBus installed on respx with a RestBus client sharing its VirtualClock."""

    fake: FakeBus
    clock: VirtualClock
    http: httpx.Client
    router: respx.MockRouter
    tmp: Path

    def bus(self) -> RestBus:
        """A fresh RestBus (fresh token cache, no observers) on the fake."""
        auth = ClientCredentials(
            "chainsim",
            "chainsim-secret",
            login_host=DEFAULT_LOGIN_HOST,
            http=self.http,
            clock=self.clock,
        )
        return RestBus(self.http, auth, api_host=DEFAULT_API_HOST, clock=self.clock)

    def orchestrator(self, bus: Any = None, **kw: Any) -> Orchestrator:
        """An Orchestrator on the fake with audit, spool and journal under tmp."""
        kw.setdefault("audit", AuditLog(self.tmp / "audit.jsonl", clock=self.clock))
        kw.setdefault(
            "dead_letter",
            DeadLetterSink(url=DLQ_URL, spool=self.tmp / "spool.jsonl", http=self.http),
        )
        kw.setdefault("journal_path", self.tmp / "journal.json")
        return Orchestrator(bus or self.bus(), clock=self.clock, **kw)

    def puts(self) -> int:
        """PUT requests the fake has answered so far."""
        return sum(1 for r in self.fake.requests if r.method == "PUT")

    def contents(self) -> dict[str, dict[str, Any]]:
        """Each rule's content (wire form without version), by id."""
        return {rule.id: content(rule) for rule in self.fake.rules()}


@contextmanager
def rig(
    tmp: Path, rules: list[dict[str, Any]], faults: FaultPlan | None = None, **fake_kw: Any
) -> Iterator[Rig]:
    """Seed a FakeBus with `rules`, install it on respx, and yield the rig (DLQ down by default)."""
    clock = VirtualClock()
    fake = FakeBus(clock=clock, faults=faults, **fake_kw)
    fake.seed_rules(rules)
    with fake.mock() as router, httpx.Client() as http:
        router.post(DLQ_URL).mock(side_effect=httpx.ConnectError("dead-letter endpoint down"))
        yield Rig(fake, clock, http, router, tmp)


def applied_links(rule: Rule) -> set[str]:
    """Destinations a rule invokes."""
    return {a.rule_id for a in rule.links() if a.rule_id}
