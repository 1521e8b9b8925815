"""Stateful property test: plans, fault plans and concurrent writers interleaved on one fake bus.

Property: after every apply, each rule is in its desired state, or exactly its pre-apply
snapshot (a concurrent writer's description edit aside), or listed as failed in both the
spool and the report; nothing is silently lost, and the audit log verifies.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chainsim.apply import Orchestrator
from chainsim.audit import AuditLog, verify
from chainsim.bus.auth import ClientCredentials
from chainsim.bus.rest import RestBus
from chainsim.clock import VirtualClock
from chainsim.deadletter import DeadLetterSink, read_spool
from chainsim.fakebus import DEFAULT_API_HOST, DEFAULT_LOGIN_HOST, FakeBus
from chainsim.fakebus.faults import FaultPlan
from chainsim.model import ChainLink, ChainPlan, Rule, RuleSettings
from chainsim.plan import EVENTBRIDGE, PlanIndex, content, same_content
from chainsim.retry import RetryPolicy
from tests.orchestrator_rig import ATTRS, DLQ_URL, make_rule

IDS = [f"r{i}" for i in range(6)]
CONCURRENT_EDIT = "edited by concurrent writer"
DEEP = settings.default.max_examples >= 100


@st.composite
def plans(draw: Any) -> ChainPlan:
    """Links only from lower to higher rule index (never a cycle), optional enabled settings."""
    pairs = [(i, j) for i in range(len(IDS)) for j in range(i + 1, len(IDS))]
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=4, unique=True))
    links = []
    for i, j in chosen:
        preserve = draw(st.lists(st.sampled_from(ATTRS), max_size=2, unique=True))
        transform = draw(
            st.dictionaries(
                st.sampled_from(["caller", "agent"]),
                st.sampled_from([f"$.metadata.{a}" for a in ATTRS]),
                max_size=1,
            )
        )
        links.append(
            ChainLink(
                source=IDS[i],
                destination=IDS[j],
                event_type=f"type.{IDS[i]}",
                preserve=preserve,
                transform=transform,
            )
        )
    enabled = draw(
        st.dictionaries(
            st.sampled_from(IDS), st.builds(RuleSettings, enabled=st.booleans()), max_size=2
        )
    )
    return ChainPlan(links=links, rules=enabled, dead_letter={"url": DLQ_URL})


fault_plans = st.builds(
    lambda seed, conflicts, storm, errors, depth, latency: FaultPlan.model_validate(
        {
            "seed": seed,
            "conflicts": {"fraction": conflicts},
            "storms": [{"start": 0, "duration": 5, "fraction": storm, "retry_after": 2}]
            if storm
            else [],
            "server_errors": [{"start": 0, "duration": 5, "fraction": errors, "status": 503}]
            if errors
            else [],
            "max_depth": depth,
            "latency": {"mean_ms": latency, "jitter_ms": latency / 2},
        }
    ),
    st.integers(0, 10_000),
    st.sampled_from([0.0, 0.2, 0.5]),
    st.sampled_from([0.0, 0.5]),
    st.sampled_from([0.0, 0.3, 0.6]),
    st.sampled_from([2, 3, 5]),
    st.sampled_from([0.0, 20.0]),
)


class ApplyMachine(RuleBasedStateMachine):
    """One fake org; steps change its faults, let writers edit it, or apply plans to it."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="chainsim-stateful-"))
        self.clock = VirtualClock()
        self.fake = FakeBus(clock=self.clock)
        self.fake.seed_rules([make_rule(x) for x in IDS])
        self._mock = self.fake.mock()
        router = self._mock.__enter__()
        router.post(DLQ_URL).mock(side_effect=httpx.ConnectError("down"))
        self.http = httpx.Client()
        self.audit = AuditLog(self.tmp / "audit.jsonl", clock=self.clock)
        self.spool = self.tmp / "spool.jsonl"
        self.applies = 0

    def teardown(self) -> None:
        self.http.close()
        self._mock.__exit__(None, None, None)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(faults=fault_plans)
    def change_faults(self, faults: FaultPlan) -> None:
        """Swap the bus's fault plan (storms, 5xx, conflicts, depth limit, latency)."""
        self.fake.faults = faults

    @rule(index=st.integers(0, len(IDS) - 1))
    def concurrent_writer(self, index: int) -> None:
        """Another writer edits a rule's description (bumping its version)."""
        self.fake.state.concurrent_edit_rule(IDS[index])

    @rule(plan=plans(), atomic=st.booleans(), concurrency=st.sampled_from([1, 2]))
    def apply(self, plan: ChainPlan, atomic: bool, concurrency: int) -> None:
        """Apply a plan; check every rule ends desired, restored, or dead-lettered and reported."""
        before = {rule.id: rule for rule in self.fake.rules()}
        spooled_before = len(read_spool(self.spool))
        auth = ClientCredentials(
            "chainsim",
            "chainsim-secret",
            login_host=DEFAULT_LOGIN_HOST,
            http=self.http,
            clock=self.clock,
        )
        bus = RestBus(self.http, auth, api_host=DEFAULT_API_HOST, clock=self.clock)
        orch = Orchestrator(
            bus,
            clock=self.clock,
            retry=RetryPolicy(max_attempts=4, seed=self.applies),
            dead_letter=DeadLetterSink(url=DLQ_URL, spool=self.spool, http=self.http),
            audit=self.audit,
            atomic=atomic,
            concurrency=concurrency,
            journal_path=self.tmp / f"journal-{self.applies}.json",
        )
        result = orch.apply(plan)
        self.applies += 1
        after = {rule.id: rule for rule in self.fake.rules()}
        letters = {letter.rule_id for letter in read_spool(self.spool)[spooled_before:]}
        failed = {row.id for row in result.rules if row.outcome in ("failed", "rollback_failed")}
        index = PlanIndex.of(plan)
        assert result.dead_letters == len(read_spool(self.spool)) - spooled_before
        assert set(after) == set(before)
        for rule_id, final in after.items():
            desired = same_content(EVENTBRIDGE.desired(final, index), final)
            restored = _same_but_writer(before[rule_id], final)
            reported = rule_id in letters and rule_id in failed
            assert desired or restored or reported, (rule_id, result.status, result.to_report())
            if rule_id not in EVENTBRIDGE.targets(index):
                assert restored, rule_id
        if result.status in ("applied", "unchanged"):
            assert all(
                same_content(EVENTBRIDGE.desired(after[i], index), after[i])
                for i in EVENTBRIDGE.targets(index)
            )
        if result.status == "rolled_back":
            assert all(_same_but_writer(before[i], after[i]) for i in after if i not in failed)

    @invariant()
    def audit_log_verifies(self) -> None:
        """The audit log's hash chain is intact after every step."""
        if self.audit.path.exists():
            assert verify(self.audit.path).ok


def _same_but_writer(snapshot: Rule, final: Rule) -> bool:
    """Equal content, ignoring a description a concurrent writer set meanwhile."""
    a, b = content(snapshot), content(final)
    if b.get("description") == CONCURRENT_EDIT:
        a["description"] = b["description"]
    return a == b


ApplyMachine.TestCase.settings = settings(
    max_examples=200 if DEEP else 8,
    stateful_step_count=25 if DEEP else 8,
    deadline=None,
)
TestApplyMachine = ApplyMachine.TestCase
