"""Trigger test mode: does the org agree with chainsim's simulation, hop by hop?

`probe(bus, plan, event)` simulates the chain (`chainsim.simulate`) on the triggers the
bus holds, then posts each hop's simulated event body (the event's `metadata`, which
is what trigger jsonPaths read) to the org's two test endpoints:

- `POST /triggers/{destination}/test` -> `triggerMatches` of the destination trigger;
- `POST /triggers/topics/{topic}/test` -> whether the destination is among the topic's
  `matchedTriggers` (None when the org did not list it either way).

chainsim's own verdict for the hop is the destination trigger *as the plan wants it*
(`desired_trigger`: plan settings plus the preserved `Exists` criteria) evaluated on
the simulated event with chainsim's own match-criteria semantics
(`chainsim.dialects.criteria`, the README's "Match-criteria semantics"), target type
included. A hop agrees when the
org's verdicts equal chainsim's. So a probe before apply shows what the plan would
change; a probe after apply checks that the deployed criteria agree with the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from chainsim.bus.base import BusError
from chainsim.dialects.criteria import CriteriaMatcher
from chainsim.dialects.triggers import desired_trigger, rule_to_trigger
from chainsim.model import ChainPlan, Event, Rule, rules_by_id
from chainsim.retry import RetryPolicy, call_with_retry

if TYPE_CHECKING:
    from chainsim.clock import Clock

T = TypeVar("T")


class TestModeBus(Protocol):
    """What probing needs from a bus: its triggers and the two test endpoints."""

    def list_rules(self) -> Iterable[Rule]:
        """Every trigger as a Rule."""
        ...

    def test_trigger(self, trigger_id: str, event_body: Mapping[str, Any]) -> dict[str, Any]:
        """`TestModeResults` wire JSON."""
        ...

    def test_topic(self, topic_name: str, event_body: Mapping[str, Any]) -> dict[str, Any]:
        """`TestModeEventResults` wire JSON."""
        ...


@dataclass(frozen=True)
class HopProbe:
    """One hop: chainsim's verdict beside the org's two test-mode verdicts."""

    source: str
    destination: str
    depth: int
    event: dict[str, Any]
    simulated: bool
    trigger_matches: bool | None
    topic_matched: bool | None
    failed_criteria: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    error: str | None = None

    @property
    def agree(self) -> bool:
        """True when the org answered and every verdict it gave equals chainsim's."""
        if self.error is not None:
            return False
        verdicts = [v for v in (self.trigger_matches, self.topic_matched) if v is not None]
        return bool(verdicts) and all(v == self.simulated for v in verdicts)

    def to_json(self) -> dict[str, Any]:
        """The hop as JSON for `--format json`."""
        return {
            "source": self.source,
            "destination": self.destination,
            "depth": self.depth,
            "event": self.event,
            "simulated": self.simulated,
            "trigger_matches": self.trigger_matches,
            "topic_matched": self.topic_matched,
            "agree": self.agree,
            "failed_criteria": list(self.failed_criteria),
            "missing": list(self.missing),
            "error": self.error,
        }


@dataclass(frozen=True)
class ProbeReport:
    """Every hop's probe; `ok` when all agree."""

    hops: tuple[HopProbe, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the org agrees with chainsim on every hop."""
        return all(h.agree for h in self.hops)

    def to_json(self) -> dict[str, Any]:
        """`{"ok", "hops": [...], "notes": [...]}`."""
        return {"ok": self.ok, "hops": [h.to_json() for h in self.hops], "notes": list(self.notes)}

    def to_text(self) -> str:
        """One line per hop, then a verdict line."""
        lines = []
        for h in self.hops:
            mark = "agree" if h.agree else "DISAGREE"
            why = f"  failing: {', '.join(h.failed_criteria)}" if h.failed_criteria else ""
            if h.error:
                why += f"  error: {h.error}"
            lines.append(
                f"hop {h.depth}: {h.source} -> {h.destination}  chainsim={_yn(h.simulated)}"
                f"  org trigger={_yn(h.trigger_matches)}  org topic={_yn(h.topic_matched)}"
                f"  {mark}{why}"
            )
        lines.extend(f"note: {n}" for n in self.notes)
        if not self.hops:
            lines.append("no hops: the event starts no planned chain")
        agreeing = sum(h.agree for h in self.hops)
        lines.append(f"{agreeing}/{len(self.hops)} hops agree")
        return "\n".join(lines)


def _yn(value: bool | None) -> str:
    return "-" if value is None else ("match" if value else "no match")


def chainsim_verdict(
    trigger: Mapping[str, Any], body: Mapping[str, Any], matcher: CriteriaMatcher | None = None
) -> tuple[bool, list[str]]:
    """(would `trigger` match `body`, the criteria that fail) with chainsim's semantics."""
    failing = (matcher or CriteriaMatcher()).failing(trigger.get("matchCriteria"), dict(body))
    target = trigger.get("target")
    target_ok = isinstance(target, Mapping) and target.get("type") == "Workflow"
    if not target_ok:
        failing.append("target is not a Workflow")
    return not failing, failing


def topic_verdict(results: Mapping[str, Any], trigger_id: str) -> bool | None:
    """Whether `trigger_id` is among a topic test's matched (True) or unmatched (False) triggers."""
    validation = results.get("triggerMatchValidation") or {}
    for key, verdict in (("matchedTriggers", True), ("unmatchedTriggers", False)):
        if any(t.get("id") == trigger_id for t in validation.get(key) or []):
            return verdict
    return None


def probe(
    bus: TestModeBus,
    plan: ChainPlan,
    event: Event,
    *,
    rules: Iterable[Rule] | None = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
) -> ProbeReport:
    """Simulate `event` through `plan` and ask the org's test endpoints about every hop.

    `rules`: the triggers to simulate on (default: every trigger `bus` lists). The test
    endpoints are always the org's; a hop whose destination the org lacks (404), or
    whose body it refuses (400/422), is a disagreement; other bus errors propagate.
    With a `clock`, each call goes through chainsim's retry layer (429, 5xx, transport).
    """
    from chainsim.simulate import simulate

    def call(fn: Callable[[], T]) -> T:
        if clock is None:
            return fn()
        policy = retry or RetryPolicy()
        return call_with_retry(fn, policy=policy, clock=clock, rng=policy.rng("probe"))

    inventory = list(rules) if rules is not None else call(lambda: list(bus.list_rules()))
    by_id = rules_by_id(inventory)
    matcher = CriteriaMatcher()
    trace = simulate(inventory, plan.links, event, max_depth=plan.max_depth)
    hops: list[HopProbe] = []
    notes: list[str] = []
    for hop in trace.hops:
        body = dict(hop.event.get("metadata") or {})  # what trigger jsonPaths read
        destination = by_id.get(hop.destination)
        if destination is None:
            notes.append(f"{hop.destination}: not among the triggers; skipped")
            continue
        wanted = rule_to_trigger(desired_trigger(destination, plan))
        simulated, failing = chainsim_verdict(wanted, body, matcher)
        trigger_matches: bool | None = None
        topic_matched: bool | None = None
        error: str | None = None
        try:
            org = call(partial(bus.test_trigger, hop.destination, body))
            trigger_matches = _bool(org.get("triggerMatches"))
            topic = call(partial(bus.test_topic, destination.event_type, body))
            topic_matched = topic_verdict(topic, hop.destination)
        except BusError as exc:
            if exc.status not in (400, 404, 422):  # the hop itself is wrong; others abort
                raise
            error = str(exc)
        hops.append(
            HopProbe(
                source=hop.source,
                destination=hop.destination,
                depth=hop.depth,
                event=dict(hop.event),
                simulated=simulated,
                trigger_matches=trigger_matches,
                topic_matched=topic_matched,
                failed_criteria=tuple(failing),
                missing=tuple(hop.missing),
                error=error,
            )
        )
    return ProbeReport(tuple(hops), tuple(notes))


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def load_triggers(path: str | Path) -> list[Rule]:
    """Rules from an inventory (file or directory of pages), its dialect detected from it."""
    from chainsim.dialects.inventory import read_inventory

    return read_inventory(path).rules
